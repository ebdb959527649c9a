#!/usr/bin/env bash
# The Go module as a user gets it, outside the repository: install the C library into a temp
# prefix (bindings/c/install.sh), copy the module directory elsewhere and run every command of
# bindings/go/README.md there (go build -race and go vet against the installed prefix through
# pkg-config; the static build); check the binaries (libsinglewriter.so.N needed, the rpath given,
# no path of this checkout); check that go.mod names the oldest Go the code needs (one minor
# version lower fails go vet's version checks); and run child processes that enqueue writes and
# end (defer Close, FlushAll + os.Exit) and count what was committed.
# Prints "go-module: N passed, N failed" last.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SW_ROOT="${SW_ROOT:-$(cd "$here/../.." && pwd)}"

# shellcheck source=../../tests/lib.sh
source "$here/../../tests/lib.sh"

if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then export PATH="$PATH:/usr/local/go/bin"; fi
sw_need go golang-go
sw_need pkg-config pkg-config
sw_need python3 python3
sw_install_needed
command -v go >/dev/null 2>&1 || { sw_fail "a Go toolchain"; sw_finish go-module; }

export GOTOOLCHAIN=local CGO_ENABLED=1
unset GOFLAGS CGO_CFLAGS CGO_LDFLAGS
work="$(mktemp -d "${TMPDIR:-/tmp}/sw-go-module.XXXXXX")"
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
prefix="$work/prefix"

sw_check "install.sh PREFIX" env SW_INSTALL_REBUILD=0 bash "$SW_ROOT/bindings/c/install.sh" "$prefix"

# 1. The README's commands, in an application directory outside the checkout.
app="$work/app"
mkdir -p "$app"
cp "$here/example/main.go" "$app/main.go"
sw_check "bindings/go/README.md: every command (bindings/c/tests/run-readme.sh)" \
    env PREFIX="$prefix" SW_CHECKOUT="$SW_ROOT" bash "$SW_ROOT/bindings/c/tests/run-readme.sh" "$here/README.md" "$app"
abi="$(sed -n 's/^#define SW_ABI_VERSION \([0-9][0-9]*\).*/\1/p' "$prefix/include/singlewriter.h")"
binary_ok() {
    readelf -d "$app/app" | grep -F "Shared library: [libsinglewriter.so.$abi]" &&
        [ "$(readelf -d "$app/app" | sed -n 's/.*Library runpath: \[\(.*\)\]/\1/p')" = "$prefix/lib" ] &&
        ! grep -qaF "$SW_ROOT" "$app/app"
}
sw_check "app needs libsinglewriter.so.$abi, its runpath is PREFIX/lib, no checkout path in it" binary_ok
example_ran() { "$app/app" "$app/again.db" | grep -F "flushed 3 enqueued writes"; }
sw_check "app runs without LD_LIBRARY_PATH (-race build)" example_ran
static_ok() { ! readelf -d "$app/app-static" | grep -q libsinglewriter && ! grep -qaF "$SW_ROOT" "$app/app-static"; }
sw_check "app-static (-tags singlewriter_static) needs no libsinglewriter.so, no checkout path in it" static_ok

# 2. The module copy builds and vets alone; go.mod's version is the oldest that passes.
mod="$app/third_party/singlewriter-go"
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig" CGO_LDFLAGS="-O2 -g -Wl,-rpath,$prefix/lib"
sw_check "go vet ./... in the copied module (pkg-config, no checkout)" sh -c "cd '$mod' && go vet ./..."
declared="$(sed -n 's/^go \(1\.[0-9]*\).*/\1/p' "$mod/go.mod")"
older="1.$(( ${declared#1.} - 1 ))"
too_old() {
    local copy="$work/older"
    cp -r "$mod" "$copy" && sed -i "s/^go .*/go $older/" "$copy/go.mod"
    if (cd "$copy" && go vet ./... 2>&1); then echo "go vet passed with go $older"; return 1; fi
    return 0
}
sw_check "go.mod says go $declared: with go $older, go vet's version checks fail" too_old

# 3. Exit behaviour: children that enqueue and end.
sw_check "build internal/exitchild (-race) in the copied module" sh -c "cd '$mod' && go build -race -o '$work/exitchild' ./internal/exitchild"
rows() { python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM t").fetchone()[0])' "$1"; }
committed() { # mode n
    local db="$work/exit-$1.db" got
    timeout -k 5 120 "$work/exitchild" "$db" "$2" "$1" >/dev/null || return 1
    got="$(rows "$db")"
    echo "$1: $got of $2 rows"
    [ "$got" = "$2" ]
}
sw_check "enqueue 20000, defer w.Close(), return: all committed" committed close 20000
sw_check "enqueue 20000, FlushAll, os.Exit(0): all committed" committed flushall 20000
sw_check "enqueue 2000, return with the writer open: exits cleanly (Go skips C exit handlers)" \
    timeout -k 5 60 "$work/exitchild" "$work/exit-return.db" 2000 return

sw_finish go-module
