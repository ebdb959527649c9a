#!/usr/bin/env bash
# C packaging tests: install.sh into a temp prefix and check what it installed (SONAME chain,
# stripped library + .debug file, a static archive exporting only sw_*, pkg-config and CMake
# files); build the example the way a C user does, with pkg-config against the installed header
# and libsinglewriter.so, and statically against the installed libsinglewriter.a, and run both
# (plus the dynamic one under ASan+UBSan and valgrind); a program linking libsinglewriter.a and
# the system libsqlite3; child processes that enqueue writes and exit without closing; and every
# command of bindings/c/README.md (tests/run-readme.sh), out of tree against the prefix.
# Compiled with -Wall -Wextra -Werror -Wpedantic.
# Prints "c: N passed, N failed" last; exits non-zero when anything failed.
# Environment (set by tests/run-all.sh; derived from this file's location otherwise):
#   SW_ROOT, SW_LIB_DIR, SW_INCLUDE_DIR
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SW_ROOT="${SW_ROOT:-$(cd "$here/../.." && pwd)}"
SW_LIB_DIR="${SW_LIB_DIR:-$SW_ROOT/target/release}"
SW_INCLUDE_DIR="${SW_INCLUDE_DIR:-$SW_ROOT/include}"
export SW_ROOT SW_LIB_DIR SW_INCLUDE_DIR

# shellcheck source=../../tests/lib.sh
source "$here/../../tests/lib.sh"
SW_CHECK_TAIL=40 # a failed check shows the last 40 lines of its output

# --- prerequisites ---
sw_need cc gcc libc6-dev
sw_need pkg-config pkg-config
sw_need cmake cmake make
sw_need gdb gdb
sw_need python3 python3
sw_need readelf binutils
sw_need /usr/include/sqlite3.h libsqlite3-dev
sw_install_needed
if ! command -v cc >/dev/null 2>&1 || ! command -v pkg-config >/dev/null 2>&1; then
    sw_abort c "cc or pkg-config unavailable"
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/sw-c.XXXXXX")"
trap 'rm -rf "$work"' EXIT
prefix="$work/prefix"
version="$(sed -n 's/^version[[:space:]]*=[[:space:]]*"\(.*\)".*/\1/p' "$SW_ROOT/Cargo.toml" | head -n1)"

# 1. install (builds only if the libraries are missing; tests/run-all.sh has just built them)
sw_check "install.sh PREFIX" env SW_INSTALL_REBUILD=0 bash "$here/install.sh" "$prefix"
abi="$(sed -n 's/^#define SW_ABI_VERSION \([0-9][0-9]*\).*/\1/p' "$SW_INCLUDE_DIR/singlewriter.h")"
real="libsinglewriter.so.$abi.$version"
sw_check "installed files" test -f "$prefix/include/singlewriter.h" -a -f "$prefix/include/singlewriter.hpp" \
    -a -f "$prefix/lib/$real" -a -f "$prefix/lib/libsinglewriter.a" -a -f "$prefix/lib/.debug/$real.debug" \
    -a -f "$prefix/lib/pkgconfig/singlewriter.pc" -a -f "$prefix/lib/pkgconfig/singlewriter-static.pc" \
    -a -f "$prefix/lib/cmake/singlewriter/singlewriterConfig.cmake" \
    -a -f "$prefix/lib/cmake/singlewriter/singlewriterConfigVersion.cmake"
chain_ok() {
    [ "$(readlink "$prefix/lib/libsinglewriter.so")" = "libsinglewriter.so.$abi" ] &&
        [ "$(readlink "$prefix/lib/libsinglewriter.so.$abi")" = "$real" ] &&
        readelf -d "$prefix/lib/$real" | grep -F "Library soname: [libsinglewriter.so.$abi]"
}
sw_check "SONAME libsinglewriter.so.$abi; chain .so -> .so.$abi -> $real" chain_ok
stripped_ok() {
    ! readelf -S "$prefix/lib/$real" | grep -qE '\.debug_(info|line)|\.symtab' &&
        readelf -S "$prefix/lib/$real" | grep -q '\.gnu_debuglink' &&
        readelf -S "$prefix/lib/.debug/$real.debug" | grep -q '\.debug_info' &&
        ! readelf -S "$prefix/lib/libsinglewriter.a" | grep -qE '\.debug_info|\.llvmbc'
}
sw_check "installed libraries stripped; the .so's debug info in lib/.debug, linked by .gnu_debuglink" stripped_ok
# The C API's functions, from the header.
grep -oE '\bsw_[a-z0-9_]+\(' "$SW_INCLUDE_DIR/singlewriter.h" | tr -d '(' | sort -u >"$work/api.txt"
# Global symbols the toolchain puts in the archive besides the API: none today. A symbol that
# must stay global (and cannot be made local) is added here, with the reason.
allowed_extra=()
static_exports_ok() {
    local defined
    defined="$(nm -g --defined-only "$prefix/lib/libsinglewriter.a" | awk 'NF == 3 { print $3 }' | sort -u)" || return 1
    printf '%s\n' "$defined" >"$work/a-exports.txt"
    for s in "${allowed_extra[@]}"; do printf '%s\n' "$s"; done | cat "$work/api.txt" - | grep -v '^$' | sort -u >"$work/a-allowed.txt"
    echo "archive exports $(wc -l <"$work/a-exports.txt") symbols; the header declares $(wc -l <"$work/api.txt") functions"
    diff "$work/a-allowed.txt" "$work/a-exports.txt"
}
sw_check "libsinglewriter.a: global symbols are exactly the header's sw_* functions" static_exports_ok
shared_exports_ok() {
    nm -D --defined-only "$prefix/lib/$real" | awk '{ print $3 }' | sort -u | diff "$work/api.txt" -
}
sw_check "libsinglewriter.so: exported symbols are exactly the header's sw_* functions" shared_exports_ok
sw_check "installed header is the committed one" cmp "$SW_INCLUDE_DIR/singlewriter.h" "$prefix/include/singlewriter.h"

export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
pc_ok() {
    [ "$(pkg-config --modversion singlewriter)" = "$version" ] &&
        [ "$(pkg-config --variable=prefix singlewriter)" = "$prefix" ] &&
        [ "$(pkg-config --cflags singlewriter | xargs)" = "-I$prefix/include" ] &&
        [ "$(pkg-config --libs singlewriter | xargs)" = "-L$prefix/lib -lsinglewriter" ] &&
        [ "$(pkg-config --static --libs singlewriter | xargs)" = "-L$prefix/lib -lsinglewriter -lm -ldl -lpthread" ] &&
        [ "$(pkg-config --variable=staticlib singlewriter)" = "$prefix/lib/libsinglewriter.a" ] &&
        [ "$(pkg-config --libs singlewriter-static | xargs)" = "$prefix/lib/libsinglewriter.a -lm -ldl -lpthread" ] &&
        pkg-config --validate singlewriter && pkg-config --validate singlewriter-static
}
sw_check "pkg-config: version $version, prefix, cflags, libs, Libs.private, singlewriter-static" pc_ok

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
sw_check "cc example.c \$(pkg-config --cflags --libs singlewriter)" \
    cc "${CFLAGS[@]}" "$here/example.c" $(pkg-config --cflags --libs singlewriter) -o "$work/example"
dyn_resolves() { LD_LIBRARY_PATH="$prefix/lib" ldd "$work/example" | grep -F "libsinglewriter.so.$abi => $prefix/lib/libsinglewriter.so.$abi"; }
sw_check "dynamic example loads the installed libsinglewriter.so" dyn_resolves
sw_check "dynamic example runs (LD_LIBRARY_PATH=PREFIX/lib)" example_ok "$work/dyn.db" env LD_LIBRARY_PATH="$prefix/lib" "$work/example"

# 3. static: the installed .a plus Libs.private, no libsinglewriter.so needed at run time
static_build() {
    local private
    private="$(pkg-config --static --libs-only-l singlewriter | sed -e 's/-lsinglewriter//')"
    # shellcheck disable=SC2046,SC2086
    cc "${CFLAGS[@]}" "$here/example.c" $(pkg-config --cflags singlewriter) \
        "$(pkg-config --variable=staticlib singlewriter)" $private -o "$work/example-static"
}
sw_check "cc example.c \$(pkg-config --variable=staticlib singlewriter) + Libs.private" static_build
no_needed() { ! readelf -d "$work/example-static" | grep -q 'libsinglewriter'; }
sw_check "static example does not need libsinglewriter.so" no_needed
sw_check "static example runs (no LD_LIBRARY_PATH)" example_ok "$work/static.db" env -u LD_LIBRARY_PATH "$work/example-static"

# 4. the dynamic example under ASan+UBSan (leak checking on) and valgrind memcheck
# shellcheck disable=SC2046
sw_check "example builds with -fsanitize=address,undefined" \
    cc "${CFLAGS[@]}" -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined \
    "$here/example.c" $(pkg-config --cflags --libs singlewriter) -o "$work/example-asan"
sw_check "example runs clean under ASan/UBSan" example_ok "$work/asan.db" \
    env LD_LIBRARY_PATH="$prefix/lib" ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    "$work/example-asan"
if command -v valgrind >/dev/null 2>&1; then
    sw_check "static example runs clean under valgrind" example_ok "$work/vg.db" \
        valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite "$work/example-static"
else
    echo "c: valgrind not available; skipped" >&2
fi

# 5. libsinglewriter.a and the system libsqlite3 in one program
# shellcheck disable=SC2046
sw_check "two_sqlites.c links libsinglewriter.a and the system libsqlite3" \
    cc -std=c11 -O1 -Wall -Wextra -Werror "$here/tests/two_sqlites.c" $(pkg-config --cflags --libs singlewriter-static) \
    -lsqlite3 -o "$work/two_sqlites"
sw_check "sqlite3_libversion() is the system's, singlewriter writes; two SQLite copies: the program's lock is lost (the README's hazard)" \
    "$work/two_sqlites" "$work/two.db" lost

# 6. writes queued at exit: children enqueue and end without sw_writer_close
# shellcheck disable=SC2046
sw_check "exit_child.c, shared (rpath)" cc -std=c11 -O1 -Wall -Wextra -Werror -pthread "$here/tests/exit_child.c" \
    $(pkg-config --cflags --libs singlewriter) -Wl,-rpath,"$prefix/lib" -o "$work/exit_child"
# shellcheck disable=SC2046
sw_check "exit_child.c, static" cc -std=c11 -O1 -Wall -Wextra -Werror -pthread "$here/tests/exit_child.c" \
    $(pkg-config --cflags --libs singlewriter-static) -o "$work/exit_child_static"
rows() { python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM t").fetchone()[0])' "$1"; }
drained() { # binary mode n [runner...]
    local bin="$1" mode="$2" n="$3" db
    shift 3
    db="$(mktemp "$work/exit-XXXXXX.db")" && rm -f "$db"
    timeout -k 5 120 "$@" "$bin" "$db" "$n" "$mode" >/dev/null || return 1
    local got
    got="$(rows "$db")"
    echo "$mode: $got of $n rows"
    [ "$got" = "$n" ]
}
sw_check "shared: enqueue 20000, return from main: all committed at exit" drained "$work/exit_child" return 20000
sw_check "shared: enqueue 20000, exit() from another thread: all committed" drained "$work/exit_child" exit 20000
sw_check "static: enqueue 20000, return from main: all committed at exit" drained "$work/exit_child_static" return 20000
sw_check "static: enqueue 20000, exit() from another thread: all committed" drained "$work/exit_child_static" exit 20000
# sw_ calls from atexit handlers and C++ static destructors run after the C runtime destroyed the
# thread's Rust thread-locals: the library reaches its thread-locals with try_with.
sw_check "shared: sw_writer_close from the program's atexit handler" \
    drained "$work/exit_child" atexit 1000
if command -v valgrind >/dev/null 2>&1; then
    sw_check "static: enqueue 300 and return, under valgrind: all committed, no errors" \
        drained "$work/exit_child_static" return 300 valgrind -q --error-exitcode=99
fi
bounded() {
    local db="$work/bounded.db" ready="$work/bounded.ready" lpid rc got
    python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute("PRAGMA journal_mode=WAL"); c.execute("CREATE TABLE t(i INTEGER)"); c.commit()' "$db"
    # Another process holds the write lock for 60 s.
    python3 -c 'import sqlite3,sys,time
c = sqlite3.connect(sys.argv[1], isolation_level=None); c.execute("BEGIN IMMEDIATE")
open(sys.argv[2], "w").close(); time.sleep(60)' "$db" "$ready" &
    lpid=$!
    for _ in $(seq 200); do [ -e "$ready" ] && break; sleep 0.05; done
    timeout -k 5 30 "$work/exit_child" "$db" 10 bounded >/dev/null
    rc=$?
    kill "$lpid" 2>/dev/null
    wait "$lpid" 2>/dev/null
    got="$(rows "$db")"
    echo "exit status $rc (124: still waiting after 30 s), $got rows"
    [ "$rc" = 0 ] && [ "$got" = 0 ]
}
sw_check "exit drain is bounded: 300 ms while another process holds the lock (Busy Timeout 60 s)" bounded

# 7. every command of bindings/c/README.md, out of tree
mkdir -p "$work/app"
cp "$here/example.c" "$work/app/app.c"
sw_check "bindings/c/README.md: every command (tests/run-readme.sh)" \
    env PREFIX="$work/readme-prefix" SW_CHECKOUT="$SW_ROOT" bash "$here/tests/run-readme.sh" "$here/README.md" "$work/app"
mkdir -p "$work/app-main"
sw_check "README.md (the repository's): its C snippet compiles with -Werror and runs, checking every status" \
    env PREFIX="$prefix" SW_CHECKOUT="$SW_ROOT" SW_README_SNIPPETS_ONLY=1 bash "$here/tests/run-readme.sh" "$SW_ROOT/README.md" "$work/app-main"
mkdir -p "$work/app-cpp"
cp "$SW_ROOT/bindings/cpp/example.cpp" "$work/app-cpp/app.cpp"
sw_check "bindings/cpp/README.md: every command and snippet" \
    env PREFIX="$work/readme-prefix-cpp" SW_CHECKOUT="$SW_ROOT" bash "$here/tests/run-readme.sh" "$SW_ROOT/bindings/cpp/README.md" "$work/app-cpp"
cpp_exit_ok() { local n; n="$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM log").fetchone()[0])' "$work/app-cpp/exit-demo.db")"; echo "$n rows"; [ "$n" = 1000 ]; }
sw_check "the C++ README's exit snippet committed its 1000 queued inserts" cpp_exit_ok

sw_finish c
