package singlewriter

/*
#include <stdlib.h>
#include "park.h"
*/
import "C"

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"unsafe"
)

// Parked writes: how Exec waits without holding an OS thread.
//
// A write that finds another write of this handle in flight is submitted with
// sw_writer_enqueue and returns to Go at once; the goroutine then waits on a
// channel. The library's completion callback (C, in park.c) only links a node
// onto a list and, if the drainer is idle, makes an eventfd readable. One
// goroutine per process, the completion drainer, waits on that eventfd
// through Go's network poller (parked like a goroutine reading a socket, no
// thread blocked in C) and takes every completion that arrived in one cgo
// call, so a committed group of N writes costs one crossing and N channel
// sends, and N waiting goroutines cost no OS thread at all. (Waiting in C on a
// condition variable instead cost a blocked thread and, measured in the
// service benchmark, 0.6 more context switches per request at 4 connections.)
//
// A write with nothing else in flight on its handle (the lone writer), and any
// write while few are (see mayBlock), calls the blocking sw_writer_execute
// instead: it may lead its own group on its own thread, which is the fastest
// path when there is little to group.

// How many Exec calls of one handle may use the blocking C call at once. A
// parked write's completion takes two thread hand-offs (the library's
// completion thread, then the Go poller) where a blocking one takes one (the
// leader wakes it), which costs latency when few write at once: measured in
// the service benchmark at 4 connections, parking every second writer cost
// 15 % of the requests per second. So while the recent peak of concurrent
// writes is at most lowConcurrency, every writer blocks (at most that many
// threads); above it only the lone writer does, and the rest park.
const (
	lowConcurrency = 4
	peakWindow     = 1024 // Exec calls after which the recent peak starts over
)

// mayBlock counts an Exec in (the caller must call h.writers.Add(-1) when it
// is done) and says whether it should use the blocking call.
func (h *handle) mayBlock() bool {
	n := h.writers.Add(1)
	if h.execs.Add(1)%peakWindow == 0 {
		h.peak.Store(n)
	} else if p := h.peak.Load(); n > p {
		h.peak.CompareAndSwap(p, n)
	}
	if h.peak.Load() <= lowConcurrency {
		return true
	}
	return n == 1
}

// readersOf is the read pool size a connection string asks for ("Readers=N"),
// or the library's default of 4. Query calls beyond it would wait in C for a
// free read connection, each on an OS thread; they wait parked in Go instead.
// (A handle joining a running writer without naming Readers assumes 4.)
func readersOf(connectionString string) int {
	n := 4
	if strings.HasPrefix(strings.ToLower(connectionString), "file:") {
		return n
	}
	for _, part := range strings.Split(connectionString, ";") {
		k, v, ok := strings.Cut(part, "=")
		if !ok || strings.ToLower(strings.ReplaceAll(k, " ", "")) != "readers" {
			continue
		}
		if r, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && r > 0 {
			n = r
		}
	}
	return n
}

// parkedCall is one submitted write waiting for its completion.
type parkedCall struct {
	done chan struct{} // receives once the result is set
	res  Result
	err  error
}

var parkedPool = sync.Pool{New: func() any { return &parkedCall{done: make(chan struct{}, 1)} }}

// parking maps tokens (the C side's userdata) to waiting calls.
var parking struct {
	start sync.Once
	mu    sync.Mutex
	calls map[uint64]*parkedCall
	next  uint64
}

// park registers a call and returns its token.
func park() (uint64, *parkedCall) {
	parking.start.Do(func() {
		parking.calls = make(map[uint64]*parkedCall)
		go drainCompletions()
	})
	c := parkedPool.Get().(*parkedCall)
	parking.mu.Lock()
	parking.next++
	t := parking.next
	parking.calls[t] = c
	parking.mu.Unlock()
	return t, c
}

// unpark forgets a call whose submission failed (nothing will be delivered).
func unpark(t uint64, c *parkedCall) {
	parking.mu.Lock()
	delete(parking.calls, t)
	parking.mu.Unlock()
	parkedPool.Put(c)
}

// completionBatch is how many completions one cgo call may take.
const completionBatch = 512

// drainCompletions runs for the life of the process. It waits for
// completions on an eventfd through the network poller (parked, like a
// goroutine reading a socket) and takes every completion that arrived in one
// cgo call.
func drainCompletions() {
	fd := int(C.gosw_park_init())
	if fd < 0 {
		panic("singlewriter: cannot create the completion eventfd")
	}
	wake := os.NewFile(uintptr(fd), "singlewriter-completions")
	var tick [8]byte
	buf := make([]C.gosw_done, completionBatch)
	ready := make([]*parkedCall, 0, completionBatch)
	for {
		n := int(C.gosw_park_take(&buf[0], C.size_t(len(buf))))
		if n == 0 {
			if _, err := wake.Read(tick[:]); err != nil {
				panic("singlewriter: reading the completion eventfd: " + err.Error())
			}
			continue
		}
		parking.mu.Lock()
		for i := range n {
			d := &buf[i]
			c := parking.calls[uint64(d.token)]
			delete(parking.calls, uint64(d.token))
			if c == nil { // cannot happen: every submitted token is registered first
				if d.message != nil {
					C.free(unsafe.Pointer(d.message))
				}
				continue
			}
			c.res, c.err = Result{}, nil
			if st := Status(d.status); st != StatusOK {
				e := &Error{Status: st, Op: "exec"}
				if d.message != nil {
					e.Message = C.GoString(d.message)
				}
				c.err = e
			} else {
				c.res = Result{RowsAffected: int64(d.rows_affected), LastInsertID: int64(d.last_insert_rowid)}
			}
			if d.message != nil {
				C.free(unsafe.Pointer(d.message))
				d.message = nil
			}
			ready = append(ready, c)
		}
		parking.mu.Unlock()
		for _, c := range ready {
			c.done <- struct{}{}
		}
		clear(ready)
		ready = ready[:0]
	}
}

// execParked submits the write described by f without blocking in C and waits
// for its completion on a channel. The caller holds w.h (acquire); it is
// released once the write is queued. f is returned to its pool before waiting.
func (w *Writer) execParked(f *frame, sqlOff C.size_t) (Result, error) {
	t, c := park()
	ret := C.gosw_park_execute(w.h.ptr, f.base(), sqlOff, f.argPtr(0), C.size_t(len(f.args)), C.uint64_t(t))
	runtime.KeepAlive(w)
	w.h.release()
	putFrame(f)
	if err := callErr(ret, "exec"); err != nil {
		unpark(t, c)
		return Result{}, err
	}
	<-c.done
	res, err := c.res, c.err
	c.res, c.err = Result{}, nil
	parkedPool.Put(c)
	return res, err
}

// gate bounds how many goroutines of one handle may wait inside a blocking C
// call (Tx, Batch) at once; the others wait here, parked, and may give up
// when their ctx is done — nothing has been submitted for them yet.
type gate chan struct{}

func (g gate) enter(ctx context.Context) error {
	if ctx == nil {
		g <- struct{}{}
		return nil
	}
	select {
	case g <- struct{}{}:
		return nil
	default:
	}
	select {
	case g <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g gate) leave() { <-g }
