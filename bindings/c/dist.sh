#!/usr/bin/env bash
# Release bundle for this platform: the install.sh prefix as a tarball, relocatable (the .pc
# files use ${pcfiledir}, the CMake package computes its prefix), its debug info in a second
# tarball that unpacks over the first, and SHA256SUMS.
#
# Usage: bash bindings/c/dist.sh [OUTDIR]        (OUTDIR defaults to target/dist)
# Makes: OUTDIR/singlewriter-VERSION-ARCH-linux-gnu.tar.gz        include/, lib/ (see install.sh)
#        OUTDIR/singlewriter-VERSION-ARCH-linux-gnu-debug.tar.gz  lib/.debug/libsinglewriter.so.*.debug
#        OUTDIR/SHA256SUMS
# Builds the library first when needed (cargo build --release). Environment as for install.sh.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SW_ROOT="${SW_ROOT:-$(cd "$here/../.." && pwd)}"
out="${1:-$SW_ROOT/target/dist}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

version="$(sed -n 's/^version[[:space:]]*=[[:space:]]*"\(.*\)".*/\1/p' "$SW_ROOT/Cargo.toml" | head -n1)"
name="singlewriter-$version-$(uname -m)-linux-gnu"
stage="$(mktemp -d "${TMPDIR:-/tmp}/sw-dist.XXXXXX")"
trap 'rm -rf "$stage"' EXIT

SW_RELOCATABLE=1 SW_ROOT="$SW_ROOT" bash "$here/install.sh" "$stage/$name" >&2
install -m 644 "$here/README.md" "$stage/$name/README.md"
mkdir -p "$stage/debug/$name/lib"
mv "$stage/$name/lib/.debug" "$stage/debug/$name/lib/.debug"

# Reproducible archives: sorted names, no owners, the time of the last commit (or now).
epoch="${SOURCE_DATE_EPOCH:-$(git -C "$SW_ROOT" log -1 --format=%ct 2>/dev/null || date +%s)}"
tar_flags=(--sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch")
tar -C "$stage" "${tar_flags[@]}" -cf - "$name" | gzip -n9 >"$out/$name.tar.gz"
tar -C "$stage/debug" "${tar_flags[@]}" -cf - "$name" | gzip -n9 >"$out/$name-debug.tar.gz"
(cd "$out" && sha256sum "$name.tar.gz" "$name-debug.tar.gz" >SHA256SUMS)

for f in "$name.tar.gz" "$name-debug.tar.gz"; do
    printf '%s  %s bytes\n' "$out/$f" "$(stat -c %s "$out/$f")"
done
