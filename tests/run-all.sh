#!/usr/bin/env bash
# Runs every test of singlewriter: the Rust suite (including the header check), the C ABI suite
# (plain, ASan+UBSan, valgrind), crash rounds (SIGKILL mid-write), a short fuzzing run, the C, C++,
# Go and .NET bindings, singlewriter under the real Litestream and LiteFS (tests/replicas/run.sh),
# the quick start, and the peer benchmark suite in its quick mode as a smoke test
# (benches/run.sh --smoke).
# Installs what a fresh machine lacks (Debian packages via apt-get). Ends with "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
export SW_ROOT="$PWD"
export SW_LIB_DIR="$SW_ROOT/target/release"
export SW_INCLUDE_DIR="$SW_ROOT/include"

need_apt=()
command -v gcc >/dev/null || need_apt+=(gcc)
command -v g++ >/dev/null || need_apt+=(g++)
command -v pkg-config >/dev/null || need_apt+=(pkg-config)
command -v python3 >/dev/null || need_apt+=(python3)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "== installing: ${need_apt[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

total_pass=0
total_fail=0
failed_parts=()
timings=()
log_dir=$(mktemp -d)

# Run one part; add its "N passed, N failed" (or cargo's "test result:") counts to the totals.
run_part() {
  local name=$1; shift
  echo "== $name: $*"
  local log="$log_dir/$name.log"
  local started=$SECONDS
  "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  local p f
  if grep -q '^test result:' "$log"; then
    p=$(grep '^test result:' "$log" | sed -E 's/.* ([0-9]+) passed.*/\1/' | paste -sd+ | bc)
    f=$(grep '^test result:' "$log" | sed -E 's/.* ([0-9]+) failed.*/\1/' | paste -sd+ | bc)
  else
    local line
    line=$(grep -E '^([A-Za-z0-9_.+-]+: )?[0-9]+ passed, [0-9]+ failed' "$log" | tail -n1)
    p=$(echo "$line" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+' || echo 0)
    f=$(echo "$line" | grep -oE '[0-9]+ failed' | grep -oE '[0-9]+' || echo 0)
    [ -n "$p" ] || p=0
    [ -n "$f" ] || f=0
  fi
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  total_pass=$((total_pass + p))
  total_fail=$((total_fail + f))
  if [ "$rc" -ne 0 ]; then failed_parts+=("$name"); fi
  echo "== $name: exit $rc ($p passed, $f failed) in $((SECONDS - started)) s"
  timings+=("$name $((SECONDS - started))s")
}

command -v bc >/dev/null || { apt-get update -qq && apt-get install -y -qq bc >/dev/null; }

run_part fmt bash -c 'cargo fmt --all --check && echo "fmt: 1 passed, 0 failed"'
run_part clippy bash -c 'cargo clippy --release --all-targets -- -D warnings && echo "clippy: 1 passed, 0 failed"'
run_part build cargo build --release --all-targets
run_part rust cargo test --release -- --test-threads=2
run_part rust-package bash tests/rust-package.sh
run_part c bash tests/c/run.sh
# 20 SIGKILL rounds under Synchronous=NORMAL and 20 under FULL, every job kind mixed (~20 s).
run_part crash-rounds bash tests/crash/run.sh 20
# Every fuzz target for 90 s in all (two at a time: ~45 s), from the committed corpora (builds
# the cargo-fuzz targets and the C-ABI libFuzzer harness first; installs clang and cargo-fuzz
# when missing).
run_part fuzz bash fuzz/run.sh 90
run_part c-binding bash bindings/c/test.sh
run_part host-sqlite bash bindings/c/test-host-sqlite.sh
run_part cpp bash bindings/cpp/test.sh
run_part go bash bindings/go/test.sh
run_part go-module bash bindings/go/test-module.sh
run_part dotnet bash bindings/dotnet/test.sh
run_part dotnet-package bash bindings/dotnet/test-package.sh
run_part replicas bash tests/replicas/run.sh
run_part quickstart cargo run --release --example quickstart
# The peer benchmark suite's quick mode as a smoke test: every contender runs, no timing judged.
run_part bench-smoke bash benches/run.sh --smoke

echo
echo "time per part: ${timings[*]}"
if [ ${#failed_parts[@]} -gt 0 ]; then
  echo "failed parts: ${failed_parts[*]}"
fi
echo "${total_pass} passed, ${total_fail} failed"
[ ${#failed_parts[@]} -eq 0 ] && [ "$total_fail" -eq 0 ]
