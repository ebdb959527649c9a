//go:build singlewriter_dev

package cbaseline

// With -tags singlewriter_dev: the header and library of this checkout
// (include/, target/release), for working on the binding inside the repository.
// Binaries built this way record the checkout's path as their rpath: never ship them.

// #cgo CFLAGS: -I${SRCDIR}/../../../../include
// #cgo LDFLAGS: -L${SRCDIR}/../../../../target/release -Wl,-rpath,${SRCDIR}/../../../../target/release -lsinglewriter
import "C"
