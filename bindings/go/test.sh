#!/usr/bin/env bash
# Go binding tests: go vet, go test -race (real temp-dir databases, real threads),
# the runnable example, and one pass of each benchmark.
# Prints "go: N passed, N failed" last; exits non-zero when anything failed.
# Environment (set by tests/run-all.sh; derived from this file's location otherwise):
#   SW_ROOT, SW_LIB_DIR (libsinglewriter.so), SW_INCLUDE_DIR (singlewriter.h)
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SW_ROOT="${SW_ROOT:-$(cd "$here/../.." && pwd)}"
SW_LIB_DIR="${SW_LIB_DIR:-$SW_ROOT/target/release}"
SW_INCLUDE_DIR="${SW_INCLUDE_DIR:-$SW_ROOT/include}"

# shellcheck source=../../tests/lib.sh
source "$here/../../tests/lib.sh"

# --- prerequisites: a Go toolchain and a C compiler for cgo ---
if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then export PATH="$PATH:/usr/local/go/bin"; fi
sw_need go golang-go
sw_need cc gcc libc6-dev
sw_install_needed
if ! command -v go >/dev/null 2>&1; then
    sw_abort go "no Go toolchain available"
fi
if [ ! -f "$SW_LIB_DIR/libsinglewriter.so" ]; then
    echo "go: $SW_LIB_DIR/libsinglewriter.so missing; building it" >&2
    (cd "$SW_ROOT" && cargo build --release) >&2 || true
fi
if [ ! -f "$SW_LIB_DIR/libsinglewriter.so" ] || [ ! -f "$SW_INCLUDE_DIR/singlewriter.h" ]; then
    sw_abort go "libsinglewriter.so or singlewriter.h not found (SW_LIB_DIR=$SW_LIB_DIR, SW_INCLUDE_DIR=$SW_INCLUDE_DIR)"
fi

# In the checkout: -tags singlewriter_dev (link_dev.go) points the #cgo directives at
# ../../target/release and ../../include; these flags come first on the command line, so
# SW_LIB_DIR / SW_INCLUDE_DIR win. test-module.sh builds a copy against an installed prefix.
export CGO_ENABLED=1
# Go uses -O2 -g only when CGO_CFLAGS is unset: keep them when adding the include path.
export CGO_CFLAGS="${CGO_CFLAGS:--O2 -g} -I$SW_INCLUDE_DIR"
export CGO_LDFLAGS="${CGO_LDFLAGS:--O2 -g} -L$SW_LIB_DIR -Wl,-rpath,$SW_LIB_DIR"
export GOFLAGS="${GOFLAGS:-} -buildvcs=false -tags=singlewriter_dev"
export GOTOOLCHAIN=local
cd "$here"

sw_check_live "go vet ./..." go vet ./...

# go test -race, counted per test from the JSON stream.
json="$(mktemp)"
trap 'rm -f "$json" "$json.bench"' EXIT
go test -race -count=1 -timeout 150s -json ./... >"$json" 2>&1
rc=$?
# Show the human-readable output (and failures' logs).
grep '"Action":"output"' "$json" | sed -e 's/.*"Output":"//' -e 's/"}$//' -e 's/\\n$//' -e 's/\\t/\t/g' -e 's/\\"/"/g' |
    grep -Ev '^=== (RUN|PAUSE|CONT)' || true
tp=$(grep -E '"Action":"pass"' "$json" | grep -c '"Test":')
tf=$(grep -E '"Action":"fail"' "$json" | grep -c '"Test":')
sw_add_counts "$tp" "$tf"
if [ "$rc" -ne 0 ] && [ "$tf" -eq 0 ]; then
    # build failure, panic outside a test, or timeout
    grep -v '"Action"' "$json" >&2 || true
    sw_fail "go test -race (exit $rc)"
fi

# The database/sql driver through sqlx, as an application uses it (a module of its own, so the
# binding needs nothing beyond the standard library).
sw_check_live "sqlx over the database/sql driver (internal/sqlxtest, -race)" sh -c "cd internal/sqlxtest && go vet . && go test -race -count=1 -timeout 120s ."

tmpdb="$(mktemp -d)"
sw_check_live "example (go run ./example)" sh -c "go build -o '$tmpdb/example' ./example && timeout 60 '$tmpdb/example' '$tmpdb/example.db' >'$tmpdb/out' 2>&1 && grep -q 'flushed 3 enqueued writes' '$tmpdb/out' || { cat '$tmpdb/out'; false; }"
rm -rf "$tmpdb"
sw_check_live "benchmarks (1 iteration each)" sh -c "go test -count=1 -timeout 60s -run '^\$' -bench . -benchtime=1x . >'$json.bench' 2>&1 || { tail -50 '$json.bench'; false; }"

sw_finish go
