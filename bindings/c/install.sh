#!/usr/bin/env bash
# Install singlewriter for C (and C++) users into PREFIX:
#   PREFIX/include/singlewriter.h             the C header (include/singlewriter.h)
#   PREFIX/include/singlewriter.hpp           the header-only C++17 binding (bindings/cpp)
#   PREFIX/lib/libsinglewriter.so             shared library
#   PREFIX/lib/libsinglewriter.a              static library
#   PREFIX/lib/pkgconfig/singlewriter.pc      from singlewriter.pc.in, with this PREFIX
# Builds the library first (cargo build --release) when it is missing or older than its sources.
#
# Usage: bindings/c/install.sh PREFIX
# Then:  export PKG_CONFIG_PATH=PREFIX/lib/pkgconfig
#        cc app.c $(pkg-config --cflags --libs singlewriter)        (run with PREFIX/lib on the
#                                                                     loader path, e.g. LD_LIBRARY_PATH)
#        cc app.c $(pkg-config --cflags singlewriter) $(pkg-config --variable=staticlib singlewriter) -lm -ldl -lpthread
# Environment: SW_ROOT (repository), SW_LIB_DIR (built libraries), SW_INCLUDE_DIR (header);
# derived from this script's location when unset. SW_INSTALL_REBUILD=0 builds only when a library
# is missing (not when sources are newer).
set -euo pipefail

if [ $# -ne 1 ] || [ -z "$1" ]; then
    echo "usage: $0 PREFIX" >&2
    exit 2
fi

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SW_ROOT="${SW_ROOT:-$(cd "$here/../.." && pwd)}"
SW_LIB_DIR="${SW_LIB_DIR:-$SW_ROOT/target/release}"
SW_INCLUDE_DIR="${SW_INCLUDE_DIR:-$SW_ROOT/include}"

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
    if [ -n "$(find "$SW_ROOT/src" "$SW_ROOT/Cargo.toml" -newer "$oldest" -print -quit 2>/dev/null)" ]; then
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

install -d "$prefix/include" "$prefix/lib/pkgconfig"
install -m 644 "$SW_INCLUDE_DIR/singlewriter.h" "$prefix/include/singlewriter.h"
if [ -f "$SW_ROOT/bindings/cpp/singlewriter.hpp" ]; then
    install -m 644 "$SW_ROOT/bindings/cpp/singlewriter.hpp" "$prefix/include/singlewriter.hpp"
fi
install -m 755 "$SW_LIB_DIR/libsinglewriter.so" "$prefix/lib/libsinglewriter.so"
install -m 644 "$SW_LIB_DIR/libsinglewriter.a" "$prefix/lib/libsinglewriter.a"

pc="$prefix/lib/pkgconfig/singlewriter.pc"
: >"$pc.tmp"
while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in \#*) continue ;; esac # the template's own comments
    line="${line//@PREFIX@/$prefix}"
    line="${line//@VERSION@/$version}"
    printf '%s\n' "$line" >>"$pc.tmp"
done <"$here/singlewriter.pc.in"
mv "$pc.tmp" "$pc"
chmod 644 "$pc"

echo "installed singlewriter $version into $prefix"
echo "  export PKG_CONFIG_PATH=$prefix/lib/pkgconfig"
