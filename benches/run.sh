#!/usr/bin/env bash
# The peer benchmark suite in one command: singlewriter against the peers users would pick
# instead, in Rust, Go and .NET (Mono), with Markdown tables and SVG charts.
#
#   bash benches/run.sh            # full run (under 20 minutes on 2 cores once built)
#   bash benches/run.sh --quick    # about a minute: fewer points, short windows
#   bash benches/run.sh --smoke    # --quick as a test (tests/run-all.sh): fails if a contender
#                                  # errors, a row count is wrong or a result is missing;
#                                  # judges no timing; ends "bench-smoke: N passed, N failed"
#   bash benches/run.sh --only rust,go,dotnet   # a subset
#
# Installs what a fresh Debian machine lacks (gcc, python3, Go, Mono, Mono.Data.Sqlite via
# apt-get; benchstat via go install), builds the library if it is missing, the Rust contender
# crates (benches/peers/*, each with its own lockfile, into target/peers) and the .NET bench,
# then runs benches/suite.py, which writes benches/results/<UTC date-time>/.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
smoke=0
for a in "$@"; do [ "$a" = "--smoke" ] && smoke=1; done

fail() {
    echo "run.sh: $*" >&2
    [ "$smoke" = 1 ] && echo "bench-smoke: 0 passed, 1 failed"
    exit 1
}
step() { echo "== $*"; }

need_apt=()
command -v gcc >/dev/null 2>&1 || need_apt+=(gcc libc6-dev)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
if ! command -v go >/dev/null 2>&1; then
    if [ -x /usr/local/go/bin/go ]; then export PATH="$PATH:/usr/local/go/bin"; else need_apt+=(golang-go); fi
fi
if [ ${#need_apt[@]} -gt 0 ]; then
    step "installing ${need_apt[*]}"
    (export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && apt-get install -y -qq "${need_apt[@]}" >/dev/null) || fail "apt-get install ${need_apt[*]} failed"
fi

if [ ! -f target/release/libsinglewriter.so ]; then
    step "building the library (cargo build --release)"
    nice -n 10 cargo build --release || fail "cargo build --release failed"
fi

# The smoke test judges no timing: it builds the contenders with less optimization (SQLite's C
# at -O1 too) into their own directory: cold, the three crates and mattn built in about 4 minutes
# here against 12.7 for the optimized builds that measurements use (target/peers).
if [ "$smoke" = 1 ]; then
    export CARGO_TARGET_DIR="$ROOT/target/peers-smoke" CARGO_PROFILE_RELEASE_OPT_LEVEL=1 CARGO_PROFILE_RELEASE_DEBUG=false
    export CGO_CFLAGS="-O1"
else
    export CARGO_TARGET_DIR="$ROOT/target/peers"
fi
export SW_PEERS_DIR="$CARGO_TARGET_DIR/release"
step "building the Rust contenders (benches/peers/{native,tokio-ffi,sqlx} into ${CARGO_TARGET_DIR#$ROOT/})"
for crate in native tokio-ffi sqlx; do
    (cd "benches/peers/$crate" && nice -n 10 cargo build --release --locked --quiet) || fail "building benches/peers/$crate failed"
done
unset CARGO_TARGET_DIR CARGO_PROFILE_RELEASE_OPT_LEVEL CARGO_PROFILE_RELEASE_DEBUG

step "preparing Go (benches/go) and benchstat"
# CGO_CFLAGS is left alone for measurements: setting it replaces Go's default "-O2 -g" (mattn's
# SQLite would compile unoptimized). The tag singlewriter_dev points the binding's #cgo lines at
# this checkout's include/ and target/release (by default it asks pkg-config for an installed
# library, which a checkout does not have).
export GOTOOLCHAIN=local GOFLAGS="${GOFLAGS:-} -buildvcs=false -tags=singlewriter_dev" CGO_ENABLED=1
(cd benches/go && nice -n 10 go test -c -o /dev/null .) || fail "compiling benches/go failed"
gobin="$(go env GOPATH)/bin"
if [ ! -x "$gobin/benchstat" ] && ! command -v benchstat >/dev/null 2>&1; then
    go install golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da || echo "run.sh: benchstat could not be installed; Go tables are still written" >&2
fi
export PATH="$PATH:$gobin"

step "building the .NET bench (Mono)"
bash benches/dotnet/build.sh || fail "building benches/dotnet failed"

step "running benches/suite.py $*"
exec python3 benches/suite.py "$@"
