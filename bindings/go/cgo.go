package singlewriter

// Where the header and library come from: link_pkgconfig.go (the default: the
// installed library, through pkg-config), link_static.go (tag singlewriter_static)
// or link_dev.go (tag singlewriter_dev: this checkout's target/release).

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"sync"
)

// ABIVersion is the version of the C ABI this binding was written for. [Open]
// fails with [ErrABIMismatch] when the loaded library reports another one.
const ABIVersion = 1

// The header this package was compiled against must agree too.
const _ = uint(C.SW_ABI_VERSION-ABIVersion) + uint(ABIVersion-C.SW_ABI_VERSION) // compile error on mismatch

// abiCheck runs once, at the first Open.
var abiCheck = sync.OnceValue(func() error {
	return checkABI(uint32(C.sw_abi_version()), C.GoString(C.sw_version()))
})

func checkABI(got uint32, libVersion string) error {
	if got != ABIVersion {
		return fmt.Errorf("%w: the loaded libsinglewriter (version %s) speaks ABI version %d, this Go binding was written for ABI version %d; build the library and the binding from the same checkout",
			ErrABIMismatch, libVersion, got, ABIVersion)
	}
	return nil
}

// LibraryVersion returns the version string of the loaded libsinglewriter.
func LibraryVersion() string { return C.GoString(C.sw_version()) }

// LibraryABIVersion returns the ABI version the loaded libsinglewriter reports.
func LibraryABIVersion() uint32 { return uint32(C.sw_abi_version()) }
