//go:build !singlewriter_dev && !singlewriter_static

package cbaseline

// The installed library, found by pkg-config (singlewriter.pc, from
// bindings/c/install.sh PREFIX: set PKG_CONFIG_PATH=PREFIX/lib/pkgconfig unless
// PREFIX is a system prefix). Programs record libsinglewriter.so.N; at run time
// the loader finds it through ldconfig, an rpath (CGO_LDFLAGS=-Wl,-rpath,PREFIX/lib)
// or LD_LIBRARY_PATH.

// #cgo pkg-config: singlewriter
import "C"
