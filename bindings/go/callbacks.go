package singlewriter

/*
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"os"
	"runtime/cgo"
	"runtime/debug"
	"sync/atomic"
)

// PanicHandler receives a panic recovered from a callback that runs on a
// library thread (an Enqueue completion or a signal subscriber), with the
// stack of the panicking goroutine.
type PanicHandler func(recovered any, stack []byte)

var panicHandler atomic.Pointer[PanicHandler]

// SetPanicHandler sets the handler for panics recovered in callbacks run by
// library threads; nil restores the default, which prints them to stderr.
// Such panics never unwind into C: the callback's work is abandoned, the
// library carries on.
func SetPanicHandler(h PanicHandler) {
	if h == nil {
		panicHandler.Store(nil)
		return
	}
	panicHandler.Store(&h)
}

func reportPanic(where string, r any) {
	stack := debug.Stack()
	if h := panicHandler.Load(); h != nil {
		func() {
			defer func() { _ = recover() }() // a panicking handler must not reach C either
			(*h)(r, stack)
		}()
		return
	}
	fmt.Fprintf(os.Stderr, "singlewriter: recovered panic in %s: %v\n%s", where, r, stack)
}

//export goswWriteDone
func goswWriteDone(h C.uintptr_t, status C.uint32_t, rows, rowid C.int64_t, msg *C.char) {
	defer func() {
		if r := recover(); r != nil {
			reportPanic("Enqueue callback", r)
		}
	}()
	hd := cgo.Handle(h)
	p := hd.Value().(*pendingWrite)
	hd.Delete()
	if Status(status) != StatusOK {
		e := &Error{Status: Status(status), Op: "enqueue"}
		if msg != nil {
			e.Message = C.GoString(msg)
		}
		p.done(Result{}, e)
		return
	}
	p.done(Result{RowsAffected: int64(rows), LastInsertID: int64(rowid)}, nil)
}

//export goswSignal
func goswSignal(h C.uintptr_t, s *C.sw_signal) {
	defer func() {
		if r := recover(); r != nil {
			reportPanic("signal subscriber", r)
		}
	}()
	sub := cgo.Handle(h).Value().(*subscriber)
	sub.fn(signalOf(s))
}

//export goswSignalFree
func goswSignalFree(h C.uintptr_t) {
	defer func() {
		if r := recover(); r != nil {
			reportPanic("subscription release", r)
		}
	}()
	cgo.Handle(h).Delete()
}
