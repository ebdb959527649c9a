#!/usr/bin/env bash
# The .NET package as a user gets it: build it (pack.sh), check its contents (nuspec metadata,
# the stripped native library under runtimes/linux-x64/native/, the assembly under lib/), then,
# in a directory outside the repository, unzip it, compile package-test/Consumer.cs with Mono's
# mcs against the package's assembly, copy the assembly and the native library beside it and run
# it with no LD_LIBRARY_PATH: once normally, once as a child that starts writes and returns from
# Main without awaiting or disposing (the binding's exit handler must commit them all).
# Prints "dotnet-package: N passed, N failed" last.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SW_ROOT="${SW_ROOT:-$(cd "$here/../.." && pwd)}"

# shellcheck source=../../tests/lib.sh
source "$here/../../tests/lib.sh"

sw_need mcs mono-mcs
sw_need mono mono-runtime
sw_need python3 python3
sw_install_needed

work="$(mktemp -d "${TMPDIR:-/tmp}/sw-nupkg.XXXXXX")"
trap 'rm -rf "$work"' EXIT
unset LD_LIBRARY_PATH

sw_check "pack.sh builds the .nupkg" env SW_INSTALL_REBUILD=0 bash "$here/pack.sh" "$work/out"
nupkg="$(ls "$work"/out/*.nupkg 2>/dev/null | head -n1)"
pkgdir="$work/packages/singlewriter.sqlite"
sw_check "the .nupkg is a zip" sh -c "mkdir -p '$pkgdir' && python3 -m zipfile -e '$nupkg' '$pkgdir'"
nuspec_ok() {
    local n="$pkgdir/SingleWriter.Sqlite.nuspec"
    python3 - "$n" <<'PY'
import sys, xml.etree.ElementTree as ET
ns = {"n": "http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd"}
m = ET.parse(sys.argv[1]).getroot().find("n:metadata", ns)
get = lambda tag: (m.find("n:" + tag, ns).text or "").strip()
assert get("id") == "SingleWriter.Sqlite", get("id")
assert get("version"), "version"
assert get("license") == "MIT"
assert get("readme") == "README.md"
assert m.find("n:repository", ns).get("url").startswith("https://")
assert "SQLite" in get("description")
print("id", get("id"), "version", get("version"))
PY
}
sw_check "nuspec: id SingleWriter.Sqlite, version, MIT, readme, repository" nuspec_ok
native="$pkgdir/runtimes/linux-x64/native/libsinglewriter.so"
native_ok() {
    [ -f "$native" ] && [ -f "$pkgdir/lib/net472/SingleWriter.dll" ] && [ -f "$pkgdir/README.md" ] &&
        [ -f "$pkgdir/_rels/.rels" ] && [ -f "$pkgdir/[Content_Types].xml" ] &&
        ! readelf -S "$native" | grep -qE '\.debug_info|\.symtab' &&
        readelf -d "$native" | grep -q 'Library soname: \[libsinglewriter.so.'
}
sw_check "runtimes/linux-x64/native/libsinglewriter.so (stripped, SONAME), lib/net472/SingleWriter.dll, README, OPC parts" native_ok

app="$work/app"
mkdir -p "$app"
cp "$here/package-test/Consumer.cs" "$app/"
build() {
    cd "$app" &&
        mcs -nologo -r:"$pkgdir/lib/net472/SingleWriter.dll" -r:System.Core.dll -r:System.Data.dll -out:Consumer.exe Consumer.cs &&
        cp "$pkgdir/lib/net472/SingleWriter.dll" "$native" .
}
sw_check "Consumer.cs compiles against the package's assembly (outside the repository)" build
ran() { local out; out="$(cd "$app" && mono Consumer.exe "$app/basic.db" basic)" || return 1; echo "$out"; grep -q "users: 3" <<<"$out"; }
sw_check "Consumer.exe runs with the package's native library beside it (no LD_LIBRARY_PATH)" ran
exit_ok() {
    local got
    (cd "$app" && timeout -k 5 120 mono Consumer.exe "$app/exit.db" exit 5000) || return 1
    got="$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM t").fetchone()[0])' "$app/exit.db")"
    echo "$got of 5000 rows"
    [ "$got" = 5000 ]
}
sw_check "a child starts 5000 writes and returns from Main: all committed at exit" exit_ok

sw_finish dotnet-package
