//go:build singlewriter_static && !singlewriter_dev

package singlewriter

// With -tags singlewriter_static: the installed static library
// (singlewriter-static.pc), so the program needs no libsinglewriter.so at run time.

// #cgo pkg-config: singlewriter-static
import "C"
