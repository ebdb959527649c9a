#!/usr/bin/env bash
# Builds the .NET binding, its tests and the example with Mono (mcs) and runs them against the
# native library. Called by tests/run-all.sh from the repository root with SW_ROOT, SW_LIB_DIR
# and SW_INCLUDE_DIR set; also runnable on its own (it then derives them from its location).
# Ends with "dotnet: N passed, N failed"; exits non-zero when anything failed.
# Usage: bash bindings/dotnet/test.sh [test-name-filter]
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SW_ROOT="${SW_ROOT:-$(cd "$here/../.." && pwd)}"
SW_LIB_DIR="${SW_LIB_DIR:-$SW_ROOT/target/release}"

# shellcheck source=../../tests/lib.sh
source "$here/../../tests/lib.sh"

sw_need mcs mono-mcs
sw_need mono mono-runtime
sw_install_needed

# The ADO.NET provider (SingleWriterConnection, ...) needs System.Data.
if [ ! -f /usr/lib/mono/4.5/System.Data.dll ] && ! ls /usr/lib/mono/gac/System.Data/*/System.Data.dll >/dev/null 2>&1; then
    sw_apt_install libmono-system-data4.0-cil
fi

if [ ! -f "$SW_LIB_DIR/libsinglewriter.so" ]; then
    echo "dotnet: $SW_LIB_DIR/libsinglewriter.so not found; building it" >&2
    (cd "$SW_ROOT" && cargo build --release >&2)
fi

out="$here/bin/mono"
mkdir -p "$out"
# C# 7.2 (mcs's newest) so the sources also compile with older toolchains; -warnaserror keeps
# the library clean.
MCS=(mcs -nologo -langversion:7.2 -unsafe -debug -optimize+ -r:System.dll -r:System.Core.dll)
MCS+=(-r:System.Data.dll)

"${MCS[@]}" -warnaserror -target:library -doc:"$out/SingleWriter.xml" -out:"$out/SingleWriter.dll" "$here"/src/*.cs
"${MCS[@]}" -target:exe -r:"$out/SingleWriter.dll" -out:"$out/SingleWriter.Tests.exe" "$here"/tests/*.cs
"${MCS[@]}" -target:exe -r:"$out/SingleWriter.dll" -out:"$out/SingleWriter.Example.exe" "$here"/example/*.cs
"${MCS[@]}" -optimize+ -target:exe -r:"$out/SingleWriter.dll" -out:"$out/SingleWriter.Overhead.exe" "$here"/bench/*.cs

export LD_LIBRARY_PATH="$SW_LIB_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export MONO_ENV_OPTIONS="${MONO_ENV_OPTIONS:---debug}"

# The test runner also runs the example (test Example.QuickStart_RunsToCompletion) and prints
# the final "dotnet: N passed, N failed" line; its exit status is ours.
export SW_INCLUDE_DIR="${SW_INCLUDE_DIR:-$SW_ROOT/include}"
exec mono "$out/SingleWriter.Tests.exe" "$@"
