#!/usr/bin/env bash
# C packaging tests: install.sh into a temp prefix, then build the example the way a C user does,
# with pkg-config (PKG_CONFIG_PATH = the temp prefix) against the installed header and
# libsinglewriter.so, and statically against the installed libsinglewriter.a, and run both
# (plus the dynamic one under ASan+UBSan and valgrind). Compiled with -Wall -Wextra -Werror -Wpedantic.
# Prints "c: N passed, N failed" last; exits non-zero when anything failed.
# Environment (set by tests/run-all.sh; derived from this file's location otherwise):
#   SW_ROOT, SW_LIB_DIR, SW_INCLUDE_DIR
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SW_ROOT="${SW_ROOT:-$(cd "$here/../.." && pwd)}"
SW_LIB_DIR="${SW_LIB_DIR:-$SW_ROOT/target/release}"
SW_INCLUDE_DIR="${SW_INCLUDE_DIR:-$SW_ROOT/include}"
export SW_ROOT SW_LIB_DIR SW_INCLUDE_DIR

passed=0
failed=0
finish() {
    echo "c: $passed passed, $failed failed"
    [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
    exit $?
}
ok() { passed=$((passed + 1)); echo "ok   $1"; }
bad() { failed=$((failed + 1)); echo "FAIL $1"; }
check() { # name, command... (output shown on failure)
    local name="$1"
    shift
    local out
    if out="$("$@" 2>&1)"; then
        ok "$name"
    else
        bad "$name"
        printf '%s\n' "$out" | tail -40
    fi
}

# --- prerequisites ---
missing=()
command -v cc >/dev/null 2>&1 || missing+=(gcc libc6-dev)
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
if [ ${#missing[@]} -gt 0 ]; then
    echo "c: installing ${missing[*]}" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}") >&2 || true
fi
if ! command -v cc >/dev/null 2>&1 || ! command -v pkg-config >/dev/null 2>&1; then
    echo "c: cc or pkg-config unavailable" >&2
    failed=1
    finish
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/sw-c.XXXXXX")"
trap 'rm -rf "$work"' EXIT
prefix="$work/prefix"
version="$(sed -n 's/^version[[:space:]]*=[[:space:]]*"\(.*\)".*/\1/p' "$SW_ROOT/Cargo.toml" | head -n1)"

# 1. install (builds only if the libraries are missing; tests/run-all.sh has just built them)
check "install.sh PREFIX" env SW_INSTALL_REBUILD=0 bash "$here/install.sh" "$prefix"
check "installed files" test -f "$prefix/include/singlewriter.h" -a -f "$prefix/include/singlewriter.hpp" \
    -a -f "$prefix/lib/libsinglewriter.so" -a -f "$prefix/lib/libsinglewriter.a" \
    -a -f "$prefix/lib/pkgconfig/singlewriter.pc"
check "installed header is the committed one" cmp "$SW_INCLUDE_DIR/singlewriter.h" "$prefix/include/singlewriter.h"

export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
pc_ok() {
    [ "$(pkg-config --modversion singlewriter)" = "$version" ] &&
        [ "$(pkg-config --variable=prefix singlewriter)" = "$prefix" ] &&
        [ "$(pkg-config --cflags singlewriter | xargs)" = "-I$prefix/include" ] &&
        [ "$(pkg-config --libs singlewriter | xargs)" = "-L$prefix/lib -lsinglewriter" ] &&
        [ "$(pkg-config --static --libs singlewriter | xargs)" = "-L$prefix/lib -lsinglewriter -lm -ldl -lpthread" ] &&
        [ "$(pkg-config --variable=staticlib singlewriter)" = "$prefix/lib/libsinglewriter.a" ] &&
        pkg-config --validate singlewriter
}
check "pkg-config: version $version, prefix, cflags, libs, Libs.private" pc_ok

CFLAGS=(-std=c99 -O2 -Wall -Wextra -Werror -Wpedantic)

# Run an example binary and check what it printed.
example_ok() { # db path, command... (the db path is appended to the command)
    local db="$1"
    shift
    local out
    out="$(timeout -k 10 120 "$@" "$db" 2>&1)" || { printf '%s\n' "$out"; return 1; }
    for want in "inserted Alice as rowid 1" "transaction committed; 2 users inside it" "batch inserted 2 rows" \
        "second read: users:count = 4" "cache: 1 hit(s), 1 miss(es)" "after Eve:   users:count = 5" "flushed" \
        "  6 Frank" "signal #" "cache.hit:users:count" "closed"; do
        grep -qF -- "$want" <<<"$out" || { printf 'missing "%s" in:\n%s\n' "$want" "$out"; return 1; }
    done
}

# 2. dynamic: cc example.c $(pkg-config --cflags --libs singlewriter)
# shellcheck disable=SC2046
check "cc example.c \$(pkg-config --cflags --libs singlewriter)" \
    cc "${CFLAGS[@]}" "$here/example.c" $(pkg-config --cflags --libs singlewriter) -o "$work/example"
dyn_resolves() { LD_LIBRARY_PATH="$prefix/lib" ldd "$work/example" | grep -F "libsinglewriter.so => $prefix/lib/libsinglewriter.so"; }
check "dynamic example loads the installed libsinglewriter.so" dyn_resolves
check "dynamic example runs (LD_LIBRARY_PATH=PREFIX/lib)" example_ok "$work/dyn.db" env LD_LIBRARY_PATH="$prefix/lib" "$work/example"

# 3. static: the installed .a plus Libs.private, no libsinglewriter.so needed at run time
static_build() {
    local private
    private="$(pkg-config --static --libs-only-l singlewriter | sed -e 's/-lsinglewriter//')"
    # shellcheck disable=SC2046,SC2086
    cc "${CFLAGS[@]}" "$here/example.c" $(pkg-config --cflags singlewriter) \
        "$(pkg-config --variable=staticlib singlewriter)" $private -o "$work/example-static"
}
check "cc example.c \$(pkg-config --variable=staticlib singlewriter) + Libs.private" static_build
no_needed() { ! readelf -d "$work/example-static" | grep -q 'libsinglewriter'; }
check "static example does not need libsinglewriter.so" no_needed
check "static example runs (no LD_LIBRARY_PATH)" example_ok "$work/static.db" env -u LD_LIBRARY_PATH "$work/example-static"

# 4. the dynamic example under ASan+UBSan (leak checking on) and valgrind memcheck
# shellcheck disable=SC2046
check "example builds with -fsanitize=address,undefined" \
    cc "${CFLAGS[@]}" -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined \
    "$here/example.c" $(pkg-config --cflags --libs singlewriter) -o "$work/example-asan"
check "example runs clean under ASan/UBSan" example_ok "$work/asan.db" \
    env LD_LIBRARY_PATH="$prefix/lib" ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    "$work/example-asan"
if command -v valgrind >/dev/null 2>&1; then
    check "static example runs clean under valgrind" example_ok "$work/vg.db" \
        valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite "$work/example-static"
else
    echo "c: valgrind not available; skipped" >&2
fi

finish
