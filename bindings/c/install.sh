#!/usr/bin/env bash
# Install singlewriter for C and C++ users into PREFIX (the usual lib/include layout):
#   PREFIX/include/singlewriter.h                   the C header (include/singlewriter.h)
#   PREFIX/include/singlewriter.hpp                 the header-only C++17 binding (bindings/cpp)
#   PREFIX/lib/libsinglewriter.so.N.V               the shared library, stripped; N = SW_ABI_VERSION,
#                                                   V = the crate version (e.g. .so.1.0.1.0)
#   PREFIX/lib/libsinglewriter.so.N -> .so.N.V      its SONAME (what programs record and load)
#   PREFIX/lib/libsinglewriter.so   -> .so.N        the development link (what -lsinglewriter finds)
#   PREFIX/lib/.debug/libsinglewriter.so.N.V.debug  its debug info (gdb finds it by .gnu_debuglink)
#   PREFIX/lib/libsinglewriter.a                    the static library: one object whose only global
#                                                   symbols are the sw_* functions (SQLite, Rust std
#                                                   and every other symbol made local), no debug info
#   PREFIX/lib/pkgconfig/singlewriter.pc            shared; `--static` gives the static link's flags
#   PREFIX/lib/pkgconfig/singlewriter-static.pc     libsinglewriter.a (static singlewriter, shared libc)
#   PREFIX/lib/cmake/singlewriter/                  CMake package: find_package(singlewriter CONFIG)
#                                                   → singlewriter::singlewriter, ::static, ::cpp
# Builds the library first (cargo build --release) when it is missing or older than its sources.
#
# Usage: bindings/c/install.sh PREFIX
# Then:  export PKG_CONFIG_PATH=PREFIX/lib/pkgconfig
#        cc app.c $(pkg-config --cflags --libs singlewriter)            (shared)
#        cc app.c $(pkg-config --cflags --libs singlewriter-static)     (static libsinglewriter)
#        cc -static app.c $(pkg-config --cflags --libs --static singlewriter)   (fully static)
#        cmake -DCMAKE_PREFIX_PATH=PREFIX ...  with find_package(singlewriter CONFIG REQUIRED)
# See bindings/c/README.md.
#
# Environment: SW_ROOT (repository), SW_LIB_DIR (built libraries), SW_INCLUDE_DIR (header);
# derived from this script's location when unset. SW_INSTALL_REBUILD=0 builds only when a library
# is missing (not when sources are newer). SW_RELOCATABLE=1 writes the .pc files relative to
# their own location (${pcfiledir}) instead of PREFIX (for release bundles).
# The library built without the `bundled` feature (host SQLite) is recognised by its DT_NEEDED
# libsqlite3 and installed with `sqlite3` as a pkg-config / CMake dependency.
set -euo pipefail

if [ $# -ne 1 ] || [ -z "$1" ]; then
    echo "usage: $0 PREFIX" >&2
    exit 2
fi

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SW_ROOT="${SW_ROOT:-$(cd "$here/../.." && pwd)}"
SW_LIB_DIR="${SW_LIB_DIR:-$SW_ROOT/target/release}"
SW_INCLUDE_DIR="${SW_INCLUDE_DIR:-$SW_ROOT/include}"

for tool in ld objcopy ar readelf; do
    command -v "$tool" >/dev/null 2>&1 || { echo "install.sh: $tool (binutils) is required" >&2; exit 1; }
done

mkdir -p "$1"
prefix="$(cd "$1" && pwd)"
case "$prefix" in
*[[:space:]]*) echo "install.sh: warning: pkg-config does not handle spaces in '$prefix'" >&2 ;;
esac

# Build when needed: a library missing, or any source newer than the older of the two.
needs_build=0
for lib in libsinglewriter.so libsinglewriter.a; do
    [ -f "$SW_LIB_DIR/$lib" ] || needs_build=1
done
if [ "$needs_build" -eq 0 ] && [ "${SW_INSTALL_REBUILD:-1}" != 0 ] && [ -d "$SW_ROOT/src" ]; then
    oldest="$SW_LIB_DIR/libsinglewriter.so"
    [ "$SW_LIB_DIR/libsinglewriter.a" -ot "$oldest" ] && oldest="$SW_LIB_DIR/libsinglewriter.a"
    if [ -n "$(find "$SW_ROOT/src" "$SW_ROOT/Cargo.toml" "$SW_ROOT/build.rs" -newer "$oldest" -print -quit 2>/dev/null)" ]; then
        needs_build=1
    fi
fi
if [ "$needs_build" -eq 1 ]; then
    echo "install.sh: cargo build --release" >&2
    (cd "$SW_ROOT" && cargo build --release)
fi
for f in "$SW_LIB_DIR/libsinglewriter.so" "$SW_LIB_DIR/libsinglewriter.a" "$SW_INCLUDE_DIR/singlewriter.h"; do
    [ -f "$f" ] || { echo "install.sh: missing $f" >&2; exit 1; }
done

version="$(sed -n 's/^version[[:space:]]*=[[:space:]]*"\(.*\)".*/\1/p' "$SW_ROOT/Cargo.toml" | head -n1)"
[ -n "$version" ] || version="0.0.0"
abi="$(sed -n 's/^#define SW_ABI_VERSION \([0-9][0-9]*\).*/\1/p' "$SW_INCLUDE_DIR/singlewriter.h")"
[ -n "$abi" ] || { echo "install.sh: no SW_ABI_VERSION in $SW_INCLUDE_DIR/singlewriter.h" >&2; exit 1; }
soname="libsinglewriter.so.$abi"
realname="$soname.$version"
built_soname="$(readelf -d "$SW_LIB_DIR/libsinglewriter.so" | sed -n 's/.*Library soname: \[\(.*\)\].*/\1/p')"
if [ "$built_soname" != "$soname" ]; then
    echo "install.sh: $SW_LIB_DIR/libsinglewriter.so has SONAME '$built_soname', expected $soname (rebuild with cargo build --release)" >&2
    exit 1
fi
# Host SQLite build (cargo build --no-default-features)?
system_sqlite=0
if readelf -d "$SW_LIB_DIR/libsinglewriter.so" | grep -q 'NEEDED.*\[libsqlite3\.so'; then
    system_sqlite=1
fi

stage="$(mktemp -d "${TMPDIR:-/tmp}/sw-install.XXXXXX")"
trap 'rm -rf "$stage"' EXIT

# --- the shared library: debug info into a .debug file, the library stripped and linked to it ---
objcopy --only-keep-debug "$SW_LIB_DIR/libsinglewriter.so" "$stage/$realname.debug"
objcopy --strip-unneeded --remove-section=.comment "$SW_LIB_DIR/libsinglewriter.so" "$stage/$realname"
(cd "$stage" && objcopy --add-gnu-debuglink="$realname.debug" "$realname")

# --- the static library: one partially linked object exporting only sw_* ---
# ld -r pulls in what the sw_* functions need (and drops unreachable sections); objcopy makes
# every other global symbol local, drops debug info and LLVM's embedded bitcode (which GNU nm's
# LLVM plugin cannot read once several objects are merged).
nm_out="$(nm -g --defined-only "$SW_LIB_DIR/libsinglewriter.a" 2>/dev/null || true)"
awk '$2 ~ /^[TDBR]$/ && $3 ~ /^sw_/ { print $3 }' <<<"$nm_out" | sort -u >"$stage/exports.txt"
[ -s "$stage/exports.txt" ] || { echo "install.sh: no sw_* symbols in $SW_LIB_DIR/libsinglewriter.a" >&2; exit 1; }
mapfile -t undefined_args < <(sed 's/^/-u/' "$stage/exports.txt")
ld -r --gc-sections "${undefined_args[@]}" -o "$stage/merged.o" "$SW_LIB_DIR/libsinglewriter.a"
objcopy --keep-global-symbols="$stage/exports.txt" --strip-debug --strip-unneeded \
    --remove-section=.llvmbc --remove-section=.llvmcmd --remove-section=.comment \
    "$stage/merged.o" "$stage/singlewriter.o"
(cd "$stage" && ar rcsD libsinglewriter.a singlewriter.o)

# --- install ---
install -d "$prefix/include" "$prefix/lib/.debug" "$prefix/lib/pkgconfig" "$prefix/lib/cmake/singlewriter"
install -m 644 "$SW_INCLUDE_DIR/singlewriter.h" "$prefix/include/singlewriter.h"
if [ -f "$SW_ROOT/bindings/cpp/singlewriter.hpp" ]; then
    install -m 644 "$SW_ROOT/bindings/cpp/singlewriter.hpp" "$prefix/include/singlewriter.hpp"
fi
install -m 755 "$stage/$realname" "$prefix/lib/$realname"
install -m 644 "$stage/$realname.debug" "$prefix/lib/.debug/$realname.debug"
ln -sfn "$realname" "$prefix/lib/$soname"
ln -sfn "$soname" "$prefix/lib/libsinglewriter.so"
install -m 644 "$stage/libsinglewriter.a" "$prefix/lib/libsinglewriter.a"

# pkg-config and CMake files from their templates (# lines of the .pc templates are dropped).
if [ "${SW_RELOCATABLE:-0}" = 1 ]; then
    pc_prefix='${pcfiledir}/../..'
else
    pc_prefix="$prefix"
fi
if [ "$system_sqlite" = 1 ]; then
    requires_private="Requires.private: sqlite3"
    requires="Requires: sqlite3"
    cmake_sqlite="ON"
else
    requires_private=""
    requires=""
    cmake_sqlite="OFF"
fi
fill() { # template, output
    : >"$2.tmp"
    while IFS= read -r line || [ -n "$line" ]; do
        case "$2:$line" in *.pc:\#*) continue ;; esac
        line="${line//@PREFIX@/$pc_prefix}"
        line="${line//@VERSION@/$version}"
        line="${line//@ABI@/$abi}"
        line="${line//@REALNAME@/$realname}"
        line="${line//@SONAME@/$soname}"
        line="${line//@REQUIRES_PRIVATE@/$requires_private}"
        line="${line//@REQUIRES@/$requires}"
        line="${line//@SYSTEM_SQLITE@/$cmake_sqlite}"
        printf '%s\n' "$line" >>"$2.tmp"
    done <"$1"
    mv "$2.tmp" "$2"
    chmod 644 "$2"
}
fill "$here/singlewriter.pc.in" "$prefix/lib/pkgconfig/singlewriter.pc"
fill "$here/singlewriter-static.pc.in" "$prefix/lib/pkgconfig/singlewriter-static.pc"
fill "$here/cmake/singlewriterConfig.cmake.in" "$prefix/lib/cmake/singlewriter/singlewriterConfig.cmake"
fill "$here/cmake/singlewriterConfigVersion.cmake.in" "$prefix/lib/cmake/singlewriter/singlewriterConfigVersion.cmake"

echo "installed singlewriter $version (ABI $abi$([ "$system_sqlite" = 1 ] && echo ", host SQLite")) into $prefix"
echo "  export PKG_CONFIG_PATH=$prefix/lib/pkgconfig    # pkg-config"
echo "  cmake -DCMAKE_PREFIX_PATH=$prefix ...           # find_package(singlewriter CONFIG REQUIRED)"
