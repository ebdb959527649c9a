package singlewriter

/*
#include <stdio.h>
#include "singlewriter.h"

// sw_flush_all and, on failure, its message, in one call (the last error is per OS thread).
static uint32_t gosw_flush_all(uint32_t timeout_ms, char *msg, size_t cap) {
    uint32_t st = sw_flush_all(timeout_ms);
    if (st != SW_STATUS_OK) snprintf(msg, cap, "%s", sw_last_error_message());
    return st;
}
*/
import "C"

import (
	"time"
	"unsafe"
)

// FlushAll waits until every write accepted so far by every open writer in the
// process — every [Writer], [Writer.Enqueue] included, and writers opened by C
// code in the same process — has been acknowledged, or until timeout passes
// (0: no limit; then the error is [ErrTimeout]).
//
// Go ends a process without running C exit handlers: returning from main,
// os.Exit and log.Fatal skip the C library's exit drain, and writes still queued
// are lost. Close every Writer before main returns (defer w.Close()), or call
// FlushAll before os.Exit; see the README's "Exit" section.
func FlushAll(timeout time.Duration) error {
	ms := uint32(0)
	if timeout > 0 {
		ms = uint32(min((timeout+time.Millisecond-1)/time.Millisecond, 1<<32-1))
	}
	var msg [512]C.char
	st := C.gosw_flush_all(C.uint32_t(ms), &msg[0], C.size_t(len(msg)))
	if st != C.SW_STATUS_OK {
		return bindingError(Status(st), "FlushAll", C.GoString((*C.char)(unsafe.Pointer(&msg[0]))))
	}
	return nil
}
