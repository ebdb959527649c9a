#!/usr/bin/env bash
# Builds the NuGet package of the .NET binding without the .NET SDK: a .nupkg is a zip holding a
# .nuspec and the package files. This one holds
#   SingleWriter.Sqlite.nuspec                   id, version, description, license, repository, readme
#   lib/net472/SingleWriter.dll (+ .xml docs)    the managed assembly, compiled by Mono's mcs
#   runtimes/linux-x64/native/libsinglewriter.so the native library, stripped (bindings/c/install.sh)
#   README.md                                    bindings/dotnet/README.md
#   [Content_Types].xml, _rels/.rels, package/services/metadata/core-properties/*.psmdcp (OPC parts)
# The assembly is built against Mono's class libraries (mcs has no .NET Standard reference
# assemblies here), so it is for Mono 6.x; a .NET (Core) package comes from `dotnet pack`
# of src/SingleWriter.csproj, which packs the same native file.
#
# Usage: bash bindings/dotnet/pack.sh [OUTDIR]     (default target/dist)
# Makes OUTDIR/SingleWriter.Sqlite.VERSION.nupkg and prints its path and size.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SW_ROOT="${SW_ROOT:-$(cd "$here/../.." && pwd)}"
out="${1:-$SW_ROOT/target/dist}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

if ! command -v mcs >/dev/null 2>&1; then
    echo "pack.sh: installing mono-mcs" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mono-mcs) >&2
fi

id="SingleWriter.Sqlite"
version="$(sed -n 's/^version[[:space:]]*=[[:space:]]*"\(.*\)".*/\1/p' "$SW_ROOT/Cargo.toml" | head -n1)"
stage="$(mktemp -d "${TMPDIR:-/tmp}/sw-pack.XXXXXX")"
trap 'rm -rf "$stage"' EXIT
pkg="$stage/pkg"
mkdir -p "$pkg/lib/net472" "$pkg/runtimes/linux-x64/native" "$pkg/_rels" "$pkg/package/services/metadata/core-properties"

# The native library, as installed: stripped, SONAME libsinglewriter.so.N.
SW_ROOT="$SW_ROOT" bash "$SW_ROOT/bindings/c/install.sh" "$stage/prefix" >&2
install -m 755 "$(readlink -f "$stage/prefix/lib/libsinglewriter.so")" "$pkg/runtimes/linux-x64/native/libsinglewriter.so"

# The ADO.NET provider (SingleWriterConnection, ...) needs System.Data.
if [ ! -f /usr/lib/mono/4.5/System.Data.dll ] && ! ls /usr/lib/mono/gac/System.Data/*/System.Data.dll >/dev/null 2>&1; then
    echo "pack.sh: installing libmono-system-data4.0-cil" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libmono-system-data4.0-cil) >&2
fi

# The managed assembly (the same sources and options as test.sh, release settings).
mcs -nologo -langversion:7.2 -unsafe -optimize+ -warnaserror -r:System.dll -r:System.Core.dll -r:System.Data.dll \
    -target:library -doc:"$pkg/lib/net472/SingleWriter.xml" -out:"$pkg/lib/net472/SingleWriter.dll" "$here"/src/*.cs
install -m 644 "$here/README.md" "$pkg/README.md"

cat >"$pkg/$id.nuspec" <<NUSPEC
<?xml version="1.0" encoding="utf-8"?>
<package xmlns="http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd">
  <metadata>
    <id>$id</id>
    <version>$version</version>
    <title>singlewriter for .NET: one group-committing writer per SQLite database</title>
    <authors>singlewriter contributors</authors>
    <description>One coordinated, group-committing writer per SQLite database, with a self-invalidating read cache and named signals: a P/Invoke binding of the native singlewriter library (included for linux-x64, SQLite compiled in). Its API mirrors Mostlylucid.Ephemeral.Sqlite.SingleWriter (SqliteSingleWriter.GetOrCreate, WriteAsync, ReadAsync, ...). This package's assembly is built with Mono's mcs and runs on Mono 6.x.</description>
    <license type="expression">MIT</license>
    <projectUrl>https://github.com/singlewriter/singlewriter</projectUrl>
    <repository type="git" url="https://github.com/singlewriter/singlewriter" />
    <readme>README.md</readme>
    <tags>sqlite database group-commit cache single-writer</tags>
    <requireLicenseAcceptance>false</requireLicenseAcceptance>
    <dependencies>
      <group targetFramework=".NETFramework4.7.2" />
    </dependencies>
    <frameworkAssemblies>
      <frameworkAssembly assemblyName="System.Data" targetFramework=".NETFramework4.7.2" />
    </frameworkAssemblies>
  </metadata>
</package>
NUSPEC

psmdcp="$(printf '%s' "$id.$version" | sha1sum | cut -c1-32).psmdcp"
cat >"$pkg/[Content_Types].xml" <<'XML'
<?xml version="1.0" encoding="utf-8"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
  <Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml" />
  <Default Extension="nuspec" ContentType="application/octet" />
  <Default Extension="psmdcp" ContentType="application/vnd.openxmlformats-package.core-properties+xml" />
  <Default Extension="dll" ContentType="application/octet" />
  <Default Extension="xml" ContentType="application/octet" />
  <Default Extension="so" ContentType="application/octet" />
  <Default Extension="md" ContentType="application/octet" />
</Types>
XML
cat >"$pkg/_rels/.rels" <<RELS
<?xml version="1.0" encoding="utf-8"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
  <Relationship Type="http://schemas.microsoft.com/packaging/2010/07/manifest" Target="/$id.nuspec" Id="R1" />
  <Relationship Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" Target="/package/services/metadata/core-properties/$psmdcp" Id="R2" />
</Relationships>
RELS
cat >"$pkg/package/services/metadata/core-properties/$psmdcp" <<PSMDCP
<?xml version="1.0" encoding="utf-8"?>
<coreProperties xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns="http://schemas.openxmlformats.org/package/2006/metadata/core-properties">
  <dc:creator>singlewriter contributors</dc:creator>
  <dc:description>One coordinated, group-committing writer per SQLite database.</dc:description>
  <dc:identifier>$id</dc:identifier>
  <version>$version</version>
  <keywords>sqlite database group-commit cache single-writer</keywords>
  <lastModifiedBy>bindings/dotnet/pack.sh</lastModifiedBy>
</coreProperties>
PSMDCP

nupkg="$out/$id.$version.nupkg"
rm -f "$nupkg"
python3 - "$pkg" "$nupkg" <<'PY'
import os, sys, zipfile
root, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as z:
    for dirpath, _, files in sorted(os.walk(root)):
        for name in sorted(files):
            path = os.path.join(dirpath, name)
            info = zipfile.ZipInfo(os.path.relpath(path, root), date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (os.stat(path).st_mode & 0xFFFF) << 16
            with open(path, "rb") as f:
                z.writestr(info, f.read())
PY
printf '%s  %s bytes\n' "$nupkg" "$(stat -c %s "$nupkg")"
