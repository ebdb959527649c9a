#!/usr/bin/env bash
# The crate as Rust users get it: `cargo doc` without warnings (and without the C ABI module in
# the API docs), the metadata crates.io needs, `cargo package` (the file list), and the packaged
# crate checked on its own, unpacked outside the repository (what `cargo package`'s verification
# step does; sharing this repository's target directory keeps it to the crate itself).
# The doc examples run with `cargo test` (the rust part). Last line: "rust-package: N passed, N failed".
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$PWD"

# shellcheck source=lib.sh
source tests/lib.sh

work="$(mktemp -d "${TMPDIR:-/tmp}/sw-crate.XXXXXX")"
trap 'rm -rf "$work"' EXIT

sw_check "cargo doc --no-deps with RUSTDOCFLAGS=-D warnings" env RUSTDOCFLAGS="-D warnings" nice -n 10 cargo doc --no-deps --lib
no_ffi_docs() {
    [ -f target/doc/singlewriter/struct.Writer.html ] && [ ! -e target/doc/singlewriter/ffi ] &&
        ! grep -q 'sw_writer_open' target/doc/singlewriter/index.html
}
sw_check "the API docs have Writer and no ffi module (sw_* functions hidden)" no_ffi_docs
metadata_ok() {
    cargo metadata --no-deps --format-version 1 | python3 -c '
import json, sys
p = json.load(sys.stdin)["packages"][0]
missing = [k for k in ("description", "license", "repository", "documentation", "readme", "rust_version") if not p.get(k)]
missing += [k for k in ("keywords", "categories") if not p.get(k)]
assert not missing, missing
assert p["features"].get("default") == ["bundled"], p["features"]
print(p["name"], p["version"], p["license"], p["repository"])'
}
sw_check "Cargo.toml: description, license, repository, documentation, readme, rust-version, keywords, categories; default = [bundled]" metadata_ok
sw_check "cargo package --no-verify" nice -n 10 cargo package --no-verify --allow-dirty --target-dir "$work/package"
crate="$(ls "$work"/package/package/singlewriter-*.crate 2>/dev/null | head -n1)"
contents_ok() {
    local list
    list="$(tar -tzf "$crate")" || return 1
    for f in build.rs Cargo.toml README.md include/singlewriter.h src/lib.rs src/ffi/exit.rs src/ffi/status.rs \
        examples/quickstart.rs tests/writer.rs; do
        grep -q "/$f\$" <<<"$list" || { echo "missing $f"; return 1; }
    done
    echo "$(wc -l <<<"$list") files"
}
sw_check "the .crate holds the sources, build.rs, the header, examples and tests" contents_ok
unpacked_check() {
    tar -xzf "$crate" -C "$work" && cd "$work"/singlewriter-* &&
        CARGO_TARGET_DIR="$root/target" nice -n 10 cargo check --lib --locked
}
sw_check "the unpacked crate builds on its own (cargo check --lib --locked)" unpacked_check

sw_finish rust-package
