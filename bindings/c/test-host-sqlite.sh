#!/usr/bin/env bash
# The host-SQLite build (cargo build --no-default-features: link the host's shared libsqlite3
# instead of bundling SQLite), tested:
#  1. against Debian's libsqlite3-dev (3.40.1 on bookworm): the build is refused with a message
#     naming the version it needs (3.44.0: sqlite3_set_clientdata) and found;
#  2. against a host SQLite new enough — built here as a shared libsqlite3.so.0 with a
#     sqlite3.pc from the SQLite amalgamation that libsqlite3-sys ships — the library builds,
#     needs libsqlite3.so.0 and defines no sqlite3_* symbol; install.sh records the dependency
#     (pkg-config Requires.private, CMake SQLite::SQLite3); the example runs; a program that
#     uses SQLite itself and singlewriter shares one SQLite: its read lock survives singlewriter
#     closing the same file (with the bundled build it is lost: bindings/c/test.sh shows that).
# Build output goes to target/host-sqlite (kept between runs). Last line: "host-sqlite: N passed, N failed".
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SW_ROOT="${SW_ROOT:-$(cd "$here/../.." && pwd)}"
target="$SW_ROOT/target/host-sqlite"

# shellcheck source=../../tests/lib.sh
source "$here/../../tests/lib.sh"

sw_need /usr/include/sqlite3.h libsqlite3-dev
sw_need pkg-config pkg-config
sw_need python3 python3
sw_install_needed

work="$(mktemp -d "${TMPDIR:-/tmp}/sw-host-sqlite.XXXXXX")"
trap 'rm -rf "$work"' EXIT
cd "$SW_ROOT"

# 1. Debian's system SQLite
debian_version="$(PKG_CONFIG_PATH= pkg-config --modversion sqlite3 2>/dev/null || echo none)"
refused() {
    local out
    out="$(env -u SQLITE3_LIB_DIR PKG_CONFIG_PATH= CARGO_TARGET_DIR="$target/debian" \
        nice -n 10 cargo build --release --no-default-features --lib 2>&1)" && { echo "the build succeeded"; return 1; }
    grep -F "must be SQLite 3.44.0 or newer" <<<"$out" | grep -F "pkg-config reports SQLite $debian_version" ||
        { printf '%s\n' "$out" | tail -20; return 1; }
}
case "$debian_version" in
3.4[0-3].*|3.[0-3][0-9].*)
    sw_check "host-SQLite build refused against Debian's SQLite $debian_version, naming both versions" refused ;;
*)
    echo "host-sqlite: the system SQLite is $debian_version (new enough): building against it" >&2
    sw_check "host-SQLite build against the system SQLite $debian_version" \
        env PKG_CONFIG_PATH= CARGO_TARGET_DIR="$target/debian" nice -n 10 cargo build --release --no-default-features --lib ;;
esac

# 2. A new enough host SQLite, as a distribution would install it.
host="$target/sqlite"
amalgamation="$(cargo metadata --format-version 1 2>/dev/null | python3 -c '
import json, os, sys
m = json.load(sys.stdin)
print(next(os.path.dirname(p["manifest_path"]) for p in m["packages"] if p["name"] == "libsqlite3-sys") + "/sqlite3")')"
build_host_sqlite() {
    [ -f "$amalgamation/sqlite3.c" ] || { echo "no $amalgamation/sqlite3.c"; return 1; }
    mkdir -p "$host/lib/pkgconfig" "$host/include"
    if [ ! -f "$host/lib/libsqlite3.so.0" ] || [ "$amalgamation/sqlite3.c" -nt "$host/lib/libsqlite3.so.0" ]; then
        nice -n 10 cc -O1 -fPIC -shared -DSQLITE_THREADSAFE=1 -Wl,-soname,libsqlite3.so.0 \
            "$amalgamation/sqlite3.c" -o "$host/lib/libsqlite3.so.0" -lm -lpthread -ldl || return 1
    fi
    ln -sfn libsqlite3.so.0 "$host/lib/libsqlite3.so"
    cp "$amalgamation/sqlite3.h" "$host/include/sqlite3.h"
    local v
    v="$(sed -n 's/^#define SQLITE_VERSION *"\(.*\)"/\1/p' "$host/include/sqlite3.h")"
    printf 'prefix=%s\nlibdir=${prefix}/lib\nincludedir=${prefix}/include\n\nName: SQLite\nDescription: SQL database engine\nVersion: %s\nLibs: -L${libdir} -lsqlite3\nLibs.private: -lm -ldl -lpthread\nCflags: -I${includedir}\n' \
        "$host" "$v" >"$host/lib/pkgconfig/sqlite3.pc"
}
sw_check "a host libsqlite3.so.0 (SQLite amalgamation from libsqlite3-sys) with sqlite3.pc" build_host_sqlite
export PKG_CONFIG_PATH="$host/lib/pkgconfig"
export LD_LIBRARY_PATH="$host/lib" # where the host's loader would find its libsqlite3
host_version="$(pkg-config --modversion sqlite3)"

sw_check "cargo build --release --no-default-features (host SQLite $host_version)" \
    env CARGO_TARGET_DIR="$target" nice -n 10 cargo build --release --no-default-features
lib="$target/release"
needs_host() { readelf -d "$lib/libsinglewriter.so" | grep -F '[libsqlite3.so.0]'; }
sw_check "libsinglewriter.so needs libsqlite3.so.0" needs_host

prefix="$work/prefix"
sw_check "install.sh PREFIX (host-SQLite build)" env SW_LIB_DIR="$lib" SW_INSTALL_REBUILD=0 bash "$here/install.sh" "$prefix"
no_sqlite_defs() {
    local so a
    so="$(nm -D --defined-only "$prefix/lib/libsinglewriter.so" | awk '{print $3}' | grep -c '^sqlite3_')"
    a="$(nm --defined-only "$prefix/lib/libsinglewriter.a" | awk '{print $3}' | grep -c '^sqlite3_')"
    echo "sqlite3_* defined: .so $so, .a $a"
    [ "$so" -eq 0 ] && [ "$a" -eq 0 ]
}
sw_check "neither installed library defines a sqlite3_* symbol" no_sqlite_defs
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig:$host/lib/pkgconfig"
pc_deps() {
    grep -qx 'Requires.private: sqlite3' "$prefix/lib/pkgconfig/singlewriter.pc" &&
        grep -qx 'Requires: sqlite3' "$prefix/lib/pkgconfig/singlewriter-static.pc" &&
        pkg-config --static --libs singlewriter | grep -q -- '-lsqlite3' &&
        grep -q 'set(singlewriter_SYSTEM_SQLITE ON)' "$prefix/lib/cmake/singlewriter/singlewriterConfig.cmake"
}
sw_check "pkg-config and CMake name the sqlite3 dependency" pc_deps

CFLAGS=(-std=c11 -O1 -Wall -Wextra -Werror)
# shellcheck disable=SC2046
sw_check "example.c, shared" cc "${CFLAGS[@]}" "$here/example.c" $(pkg-config --cflags --libs singlewriter) \
    -Wl,-rpath,"$prefix/lib" -o "$work/example"
sw_check "example runs on the host SQLite" sh -c "'$work/example' '$work/example.db' | grep -q closed"
# shellcheck disable=SC2046
sw_check "example.c, static libsinglewriter.a + host libsqlite3" \
    cc "${CFLAGS[@]}" "$here/example.c" $(pkg-config --cflags --libs singlewriter-static) -o "$work/example-static"
sw_check "static example runs" sh -c "'$work/example-static' '$work/example-static.db' | grep -q closed"
# shellcheck disable=SC2046
sw_check "two_sqlites.c (the program's own SQLite + singlewriter, shared)" \
    cc "${CFLAGS[@]}" "$here/tests/two_sqlites.c" $(pkg-config --cflags --libs singlewriter sqlite3) \
    -Wl,-rpath,"$prefix/lib" -o "$work/two_sqlites"
sw_check "one SQLite in the process: the program's read lock is kept when singlewriter closes the file" \
    "$work/two_sqlites" "$work/two.db" kept

sw_finish host-sqlite
