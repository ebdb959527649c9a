package singlewriter

/*
#include "shim.h"
*/
import "C"

import (
	"runtime"
	"runtime/cgo"
	"sync"
	"time"
	"unsafe"
)

// Signal is one observability event of a writer, e.g. "write.done",
// "cache.miss" with Key "items:count", "write.flush.start".
type Signal struct {
	Seq      uint64 // increasing per writer, never reused
	Time     time.Time
	Name     string
	Key      string        // subject (cache key, table, pragma, ...); "" if none
	Status   Status        // for *.error and *.done signals
	Duration time.Duration // negative when not timed
	Rows     int64         // rows affected or returned; -1 if none
}

// String returns the signal's full form, "name" or "name:key", which is what
// patterns match.
func (s Signal) String() string {
	if s.Key == "" {
		return s.Name
	}
	return s.Name + ":" + s.Key
}

func signalOf(s *C.sw_signal) Signal {
	d := time.Duration(-1)
	if s.duration_us >= 0 {
		d = time.Duration(s.duration_us) * time.Microsecond
	}
	return Signal{
		Seq:      uint64(s.seq),
		Time:     time.UnixMicro(int64(s.timestamp_us)),
		Name:     C.GoString(s.name),
		Key:      C.GoString(s.key),
		Status:   Status(s.status),
		Duration: d,
		Rows:     int64(s.rows),
	}
}

// SignalPoll is the answer of [Writer.PollSignals].
type SignalPoll struct {
	Signals []Signal
	// Missed counts signals after the requested seq that the ring overwrote
	// before this poll.
	Missed uint64
}

// Signals returns the signals still held in the writer's ring whose full form
// matches pattern (a glob: "*" any run, "?" one character, anchored; "" means
// all) and whose Seq is greater than after, oldest first. Poll incrementally
// by passing the last Seq seen.
func (w *Writer) Signals(pattern string, after uint64) ([]Signal, error) {
	p, err := w.PollSignals(pattern, after)
	return p.Signals, err
}

// PollSignals is Signals that also reports how many signals were missed.
func (w *Writer) PollSignals(pattern string, after uint64) (SignalPoll, error) {
	const op = "signals"
	f := getFrame()
	defer putFrame(f)
	var pat *C.char
	if pattern != "" {
		if _, err := f.cstr(pattern, "pattern", op); err != nil {
			return SignalPoll{}, err
		}
		pat = f.base()
	}
	if err := w.h.acquire(op); err != nil {
		return SignalPoll{}, err
	}
	defer w.h.release()
	out := C.gosw_poll_signals(w.h.ptr, pat, C.uint64_t(after))
	runtime.KeepAlive(w)
	if err := callErr(out.r, op); err != nil {
		return SignalPoll{}, err
	}
	defer C.gosw_signals_free(out.signals, out.items)
	res := SignalPoll{Missed: uint64(out.missed), Signals: make([]Signal, int(out.count))}
	if out.count > 0 {
		for i, s := range unsafe.Slice(out.items, int(out.count)) {
			res.Signals[i] = signalOf(s)
		}
	}
	return res, nil
}

// subscriber is what a subscription's cgo.Handle holds.
type subscriber struct {
	fn func(Signal)
}

// Subscription is a live signal subscription; end it with Unsubscribe.
type Subscription struct {
	h    *handle
	id   uint64
	once sync.Once
	err  error
}

// Subscribe calls fn for every signal whose full form matches pattern ("" for
// all). fn runs on a library thread dedicated to dispatch, never on the writer
// lane, so a slow subscriber cannot stall writes (a subscriber that falls too
// far behind has signals dropped). Do not call blocking Writer methods from
// fn. A panic in fn is recovered and reported to the [SetPanicHandler]
// handler.
func (w *Writer) Subscribe(pattern string, fn func(Signal)) (*Subscription, error) {
	const op = "subscribe"
	f := getFrame()
	defer putFrame(f)
	var pat *C.char
	if pattern != "" {
		if _, err := f.cstr(pattern, "pattern", op); err != nil {
			return nil, err
		}
		pat = f.base()
	}
	if err := w.h.acquire(op); err != nil {
		return nil, err
	}
	defer w.h.release()
	h := cgo.NewHandle(&subscriber{fn: fn})
	var id C.uint64_t
	ret := C.gosw_subscribe(w.h.ptr, pat, C.uintptr_t(h), &id)
	runtime.KeepAlive(w)
	if err := callErr(ret, op); err != nil {
		h.Delete() // on failure the library does not call userdata_free
		return nil, err
	}
	return &Subscription{h: w.h, id: uint64(id)}, nil
}

// Unsubscribe ends the subscription. Calling it twice, or after the Writer
// closed (which ends every subscription), is a no-op.
func (s *Subscription) Unsubscribe() error {
	s.once.Do(func() {
		if err := s.h.acquire("unsubscribe"); err != nil {
			return // writer closed: its subscriptions are gone already
		}
		defer s.h.release()
		s.err = callErr(C.gosw_unsubscribe(s.h.ptr, C.uint64_t(s.id)), "unsubscribe")
	})
	return s.err
}
