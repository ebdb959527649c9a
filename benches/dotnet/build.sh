#!/usr/bin/env bash
# Builds the .NET binding and benches/dotnet/PeerBench.cs with Mono's mcs into benches/dotnet/bin/
# (installs mono-mcs, mono-runtime and libmono-sqlite4.0-cil when missing).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
need=()
command -v mcs >/dev/null 2>&1 || need+=(mono-mcs)
command -v mono >/dev/null 2>&1 || need+=(mono-runtime)
[ -f /usr/lib/mono/4.5/Mono.Data.Sqlite.dll ] || need+=(libmono-sqlite4.0-cil libsqlite3-0)
if [ ${#need[@]} -gt 0 ]; then
    echo "dotnet: installing ${need[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 && apt-get install -y -qq "${need[@]}" >&2
fi
out="$here/bin"
mkdir -p "$out"
MCS=(mcs -nologo -langversion:7.2 -unsafe -optimize+ -r:System.dll -r:System.Core.dll -r:System.Data.dll)
"${MCS[@]}" -target:library -out:"$out/SingleWriter.dll" "$root"/bindings/dotnet/src/*.cs
"${MCS[@]}" -warnaserror -target:exe -r:"$out/SingleWriter.dll" -r:Mono.Data.Sqlite.dll -out:"$out/SingleWriter.PeerBench.exe" "$here/PeerBench.cs"
echo "dotnet: built $out/SingleWriter.PeerBench.exe"
