package singlewriter

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"context"
	"math"
	"runtime"
	"runtime/cgo"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// Writer is a handle on the one coordinated writer of a SQLite database. All
// methods are safe for concurrent use. Writes from every goroutine (and every
// other handle on the same file in this process) go through a single queue and
// are committed in groups; reads run concurrently on read-only connections and
// through a self-invalidating cache.
//
// Close the Writer when done. A cleanup closes a forgotten, unreachable Writer
// as a backstop, but relying on it delays the final commit and checkpoint.
type Writer struct {
	h       *handle
	cleanup runtime.Cleanup
}

// handle owns the C writer pointer. Calls count themselves in and out so that
// Close never releases the C handle while a call is using it.
type handle struct {
	ptr     *C.sw_writer
	state   atomic.Int64 // in-flight calls, plus closedBit once closing began
	drained chan struct{}
	once    sync.Once
	err     error

	writers   atomic.Int64 // Exec calls of this handle in flight (see park.go)
	peak      atomic.Int64 // recent peak of writers
	execs     atomic.Int64 // Exec calls so far, for the peak's window
	txGate    gate         // one Tx at a time waits in C; the others park in Go
	batchGate gate         // a few Batches at a time wait in C
	readGate  gate         // no more Query calls in C than read connections
}

const closedBit = 1 << 62

func (h *handle) acquire(op string) error {
	if h.state.Add(1)&closedBit != 0 {
		h.release()
		return &Error{Status: StatusClosed, Op: op, Message: "the Writer is closed"}
	}
	return nil
}

func (h *handle) release() {
	if h.state.Add(-1) == closedBit {
		select {
		case h.drained <- struct{}{}:
		default:
		}
	}
}

// close stops new calls, waits for in-flight ones, then closes the C handle,
// which commits (or fails) every accepted write first.
func (h *handle) close() error {
	h.once.Do(func() {
		for {
			old := h.state.Load()
			if h.state.CompareAndSwap(old, old|closedBit) {
				break
			}
		}
		for h.state.Load() != closedBit {
			<-h.drained
		}
		h.err = callErr(C.gosw_close(h.ptr), "close")
		h.ptr = nil
	})
	return h.err
}

// Result is the outcome of a write.
type Result struct {
	RowsAffected int64
	LastInsertID int64 // rowid of the last INSERT, as sqlite3_last_insert_rowid
}

func resultOf(r *C.sw_write_result) Result {
	return Result{RowsAffected: int64(r.rows_affected), LastInsertID: int64(r.last_insert_rowid)}
}

// Open gets or creates the writer for a database and returns a new handle on
// it. connectionString is a path, ":memory:", a "file:" URI, or "Key=Value;"
// pairs such as "Data Source=app.db;Cache Size=100" (keywords as in the C
// header). Two strings naming the same file share one writer; each handle must
// be closed.
//
// The first Open checks that the loaded library speaks ABI version
// [ABIVersion] and fails with [ErrABIMismatch] otherwise.
func Open(connectionString string) (*Writer, error) {
	if err := abiCheck(); err != nil {
		return nil, err
	}
	f := getFrame()
	defer putFrame(f)
	off, err := f.cstr(connectionString, "connection string", "open")
	if err != nil {
		return nil, err
	}
	var ptr *C.sw_writer
	ret := C.gosw_open((*C.char)(unsafe.Add(unsafe.Pointer(f.base()), off)), &ptr)
	if err := callErr(ret, "open"); err != nil {
		return nil, err
	}
	h := &handle{ptr: ptr, drained: make(chan struct{}, 1), txGate: make(gate, 1), batchGate: make(gate, batchWaiters),
		readGate: make(gate, readersOf(connectionString))}
	w := &Writer{h: h}
	w.cleanup = runtime.AddCleanup(w, func(h *handle) { _ = h.close() }, h)
	return w, nil
}

// Close releases this handle. When the last handle on a database closes, every
// write accepted before is committed (or reported failed) and pending Enqueue
// callbacks fire before Close returns. Calls made after Close return
// [ErrClosed]; Close waits for calls already in progress. Closing twice is
// safe: the second call returns the first one's result.
//
// Close from inside a Tx function or a callback returns [ErrMisuse] and closes
// nothing (it would wait for itself).
func (w *Writer) Close() error {
	if C.gosw_in_callback() != 0 {
		return &Error{Status: StatusMisuse, Op: "close", Message: "Close called from inside a transaction or callback"}
	}
	w.cleanup.Stop()
	err := w.h.close()
	runtime.KeepAlive(w)
	return err
}

func ctxErr(ctx context.Context) error {
	if ctx == nil {
		return nil
	}
	return ctx.Err()
}

// Exec runs one write statement and returns once the transaction holding it
// has committed.
//
// With other writes of this handle in flight, the write is queued and the
// goroutine waits parked, holding no OS thread; a lone write leads its own
// group on its own thread (see "Waiting without OS threads" in the package
// documentation).
//
// ctx is checked before the write is submitted: a done ctx returns ctx.Err()
// and nothing is written. Once submitted, a write cannot be withdrawn, so
// Exec then waits for its outcome whatever happens to ctx.
func (w *Writer) Exec(ctx context.Context, sql string, args ...any) (Result, error) {
	if err := ctxErr(ctx); err != nil {
		return Result{}, err
	}
	f := getFrame()
	sqlOff, err := f.cstr(sql, "sql", "exec")
	if err == nil {
		err = f.bind(args, "exec")
	}
	if err != nil {
		putFrame(f)
		return Result{}, err
	}
	if err := w.h.acquire("exec"); err != nil {
		putFrame(f)
		return Result{}, err
	}
	// A lone writer (or one of a few) blocks in C and may lead its group on
	// this thread; with many writes of this handle in flight, the write is
	// queued and this goroutine parks (see mayBlock).
	defer w.h.writers.Add(-1)
	if !w.h.mayBlock() {
		return w.execParked(f, sqlOff)
	}
	defer putFrame(f)
	defer w.h.release()
	ret := C.gosw_execute(w.h.ptr, f.base(), sqlOff, f.argPtr(0), C.size_t(len(f.args)), &f.res)
	runtime.KeepAlive(w)
	if err := callErr(ret, "exec"); err != nil {
		return Result{}, err
	}
	return resultOf(&f.res), nil
}

// ExecAndInvalidate is Exec followed, once the write has committed, by
// invalidation of the given cache keys (globs allowed). No read that began
// before the commit can put an old value back.
func (w *Writer) ExecAndInvalidate(ctx context.Context, keys []string, sql string, args ...any) (Result, error) {
	const op = "exec and invalidate"
	if err := ctxErr(ctx); err != nil {
		return Result{}, err
	}
	f := getFrame()
	defer putFrame(f)
	sqlOff, err := f.cstr(sql, "sql", op)
	if err != nil {
		return Result{}, err
	}
	for _, k := range keys {
		off, err := f.cstr(k, "cache key", op)
		if err != nil {
			return Result{}, err
		}
		f.keys = append(f.keys, off)
	}
	if err := f.bind(args, op); err != nil {
		return Result{}, err
	}
	var keyPtr *C.size_t
	if len(f.keys) > 0 {
		keyPtr = &f.keys[0]
	}
	if err := w.h.acquire(op); err != nil {
		return Result{}, err
	}
	defer w.h.release()
	ret := C.gosw_execute_and_invalidate(w.h.ptr, f.base(), sqlOff, f.argPtr(0), C.size_t(len(f.args)),
		keyPtr, C.size_t(len(f.keys)), &f.res)
	runtime.KeepAlive(w)
	if err := callErr(ret, op); err != nil {
		return Result{}, err
	}
	return resultOf(&f.res), nil
}

// pendingWrite is what an Enqueue's cgo.Handle holds.
type pendingWrite struct {
	done func(Result, error)
}

// Enqueue submits a write without waiting for it. It returns as soon as the
// write is queued (a full queue blocks up to the writer's Enqueue Timeout, then
// fails with [ErrQueueFull]). done, if not nil, is called exactly once with the
// outcome: on a library thread, after the write committed or failed, or with
// [ErrClosed] when the writer closes first. When Enqueue itself returns an
// error, done is not called.
//
// done runs on the writer's completion path: keep it short, and do not call
// blocking Writer methods (Exec, Batch, Tx, Flush, Close) from it — they
// return [ErrMisuse]. Start a goroutine for heavier work. A panic in done is
// recovered and reported to the handler set with [SetPanicHandler].
//
// ctx is checked before submitting only; a queued write cannot be withdrawn.
func (w *Writer) Enqueue(ctx context.Context, sql string, args []any, done func(Result, error)) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	f := getFrame()
	defer putFrame(f)
	sqlOff, err := f.cstr(sql, "sql", "enqueue")
	if err != nil {
		return err
	}
	if err := f.bind(args, "enqueue"); err != nil {
		return err
	}
	var h cgo.Handle
	if done != nil {
		h = cgo.NewHandle(&pendingWrite{done: done})
	}
	if err := w.h.acquire("enqueue"); err != nil {
		if h != 0 {
			h.Delete()
		}
		return err
	}
	defer w.h.release()
	ret := C.gosw_enqueue(w.h.ptr, f.base(), sqlOff, f.argPtr(0), C.size_t(len(f.args)), C.uintptr_t(h))
	runtime.KeepAlive(w)
	if err := callErr(ret, "enqueue"); err != nil {
		if h != 0 {
			h.Delete() // when enqueue fails the library never calls the callback
		}
		return err
	}
	return nil
}

// Batch runs several statements as one queued write. A transactional batch is
// all-or-nothing; a non-transactional one keeps the statements that succeeded
// before the first failure and reports that failure. The Result sums the rows
// affected.
//
// A few Batch calls of a handle wait in C at once (each on an OS thread, and
// they may share a commit); the others wait parked and give up with ctx.Err()
// if ctx is done before theirs is submitted. Once submitted, a batch cannot be
// withdrawn. A transactional batch of one statement is an [Writer.Exec].
func (w *Writer) Batch(ctx context.Context, stmts []Statement, transactional bool) (Result, error) {
	if err := ctxErr(ctx); err != nil {
		return Result{}, err
	}
	if transactional && len(stmts) == 1 {
		return w.Exec(ctx, stmts[0].SQL, stmts[0].Args...) // the same job, and it may park
	}
	if err := w.enterGate(ctx, w.h.batchGate, "batch"); err != nil {
		return Result{}, err
	}
	defer w.h.batchGate.leave()
	f := getFrame()
	defer putFrame(f)
	for _, s := range stmts {
		off, err := f.cstr(s.SQL, "sql", "batch")
		if err != nil {
			return Result{}, err
		}
		first := len(f.args)
		if err := f.bind(s.Args, "batch"); err != nil {
			return Result{}, err
		}
		f.stmts = append(f.stmts, C.gosw_stmt{sql_off: off, first_arg: C.size_t(first), n_args: C.size_t(len(f.args) - first)})
	}
	var stmtPtr *C.gosw_stmt
	if len(f.stmts) > 0 {
		stmtPtr = &f.stmts[0]
	}
	if err := w.h.acquire("batch"); err != nil {
		return Result{}, err
	}
	defer w.h.release()
	ret := C.gosw_batch(w.h.ptr, f.base(), stmtPtr, C.size_t(len(f.stmts)), f.argPtr(0), C.size_t(len(f.args)),
		C.bool(transactional), &f.res)
	runtime.KeepAlive(w)
	if err := callErr(ret, "batch"); err != nil {
		return Result{}, err
	}
	return resultOf(&f.res), nil
}

// batchWaiters is how many Batch calls of one handle may wait in C at once
// (each holds an OS thread there; they may share a commit group).
const batchWaiters = 4

// enterGate passes g, or fails with MISUSE from inside a Tx function or a
// callback (the call would wait for the lane that its own thread holds).
func (w *Writer) enterGate(ctx context.Context, g gate, op string) error {
	if C.gosw_in_callback() != 0 {
		return &Error{Status: StatusMisuse, Op: op, Message: "a blocking writer call from inside a transaction or callback would deadlock"}
	}
	return g.enter(ctx)
}

// Query runs a read-only statement on a read connection, uncached. It sees
// every write acknowledged before it started. A write statement is refused
// with [ErrReadOnly].
func (w *Writer) Query(ctx context.Context, sql string, args ...any) (*Rows, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	f := getFrame()
	defer putFrame(f)
	sqlOff, err := f.cstr(sql, "sql", "query")
	if err != nil {
		return nil, err
	}
	if err := f.bind(args, "query"); err != nil {
		return nil, err
	}
	if err := w.h.readGate.enter(ctx); err != nil {
		return nil, err
	}
	defer w.h.readGate.leave()
	if err := w.h.acquire("query"); err != nil {
		return nil, err
	}
	defer w.h.release()
	out, outCap := f.outPtr()
	ret := C.gosw_query(w.h.ptr, f.base(), sqlOff, f.argPtr(0), C.size_t(len(f.args)), out, outCap)
	runtime.KeepAlive(w)
	if err := callErr(ret.r, "query"); err != nil {
		return nil, err
	}
	return copyRows(f, &ret), nil
}

// Read is a cached Query: it serves the result stored under key while it is
// fresh, and otherwise runs the query and caches the result. An entry goes
// stale when its key is invalidated ([Writer.Invalidate],
// [Writer.ExecAndInvalidate], a "cache.invalidate:<key>" signal) and, without
// any key being named, when a later committed write changes a table the query
// read.
func (w *Writer) Read(ctx context.Context, key, sql string, args ...any) (*Rows, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	f := getFrame()
	defer putFrame(f)
	keyOff, err := f.cstr(key, "cache key", "read")
	if err != nil {
		return nil, err
	}
	sqlOff, err := f.cstr(sql, "sql", "read")
	if err != nil {
		return nil, err
	}
	if err := f.bind(args, "read"); err != nil {
		return nil, err
	}
	if err := w.h.acquire("read"); err != nil {
		return nil, err
	}
	defer w.h.release()
	out, outCap := f.outPtr()
	ret := C.gosw_read(w.h.ptr, f.base(), keyOff, sqlOff, f.argPtr(0), C.size_t(len(f.args)), out, outCap)
	runtime.KeepAlive(w)
	if err := callErr(ret.r, "read"); err != nil {
		return nil, err
	}
	return copyRows(f, &ret), nil
}

// Invalidate drops the cache entries whose key matches keyOrGlob ("*" any
// run, "?" one character).
func (w *Writer) Invalidate(keyOrGlob string) error {
	return w.stringCall("invalidate", "cache key", keyOrGlob, func(f *frame) C.gosw_ret {
		return C.gosw_invalidate(w.h.ptr, f.base())
	})
}

// Raise emits a signal in the form "name" or "name:key". Raising
// "cache.invalidate:<key or glob>" invalidates those keys in the cache of every
// writer of the database, in this process and in others.
func (w *Writer) Raise(signal string) error {
	return w.stringCall("raise", "signal", signal, func(f *frame) C.gosw_ret {
		return C.gosw_raise(w.h.ptr, f.base())
	})
}

// stringCall runs a call whose only input is one string, at f.base().
func (w *Writer) stringCall(op, what, s string, call func(f *frame) C.gosw_ret) error {
	f := getFrame()
	defer putFrame(f)
	if _, err := f.cstr(s, what, op); err != nil {
		return err
	}
	if err := w.h.acquire(op); err != nil {
		return err
	}
	defer w.h.release()
	ret := call(f)
	runtime.KeepAlive(w)
	return callErr(ret, op)
}

// Flush returns once every write submitted before it (by any goroutine) has
// been acknowledged. With a ctx deadline, Flush gives up at the deadline with
// [ErrTimeout]; the writes themselves go on.
func (w *Writer) Flush(ctx context.Context) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	timeout := uint32(0)
	if ctx != nil {
		if d, ok := ctx.Deadline(); ok {
			ms := time.Until(d).Milliseconds()
			switch {
			case ms < 1:
				ms = 1
			case ms > math.MaxUint32:
				ms = math.MaxUint32
			}
			timeout = uint32(ms)
		}
	}
	if err := w.h.acquire("flush"); err != nil {
		return err
	}
	defer w.h.release()
	f := getFrame()
	defer putFrame(f)
	ret := C.gosw_flush(w.h.ptr, C.uint32_t(timeout))
	runtime.KeepAlive(w)
	if err := callErr(ret, "flush"); err != nil {
		return err
	}
	return nil
}

// Stats are the writer's counters since it opened.
type Stats struct {
	Queued       uint64 // submitted, not yet acknowledged (the queue plus the group committing)
	Committed    uint64 // writes acknowledged OK
	Failed       uint64 // writes acknowledged with an error
	Transactions uint64 // commits; Committed/Transactions is the mean group size
	BusyRetries  uint64 // waits for another process's lock
	LatencyP50   time.Duration
	LatencyP99   time.Duration // submit to acknowledgement, over recent writes
}

// Stats returns the writer's counters.
func (w *Writer) Stats() (Stats, error) {
	if err := w.h.acquire("stats"); err != nil {
		return Stats{}, err
	}
	defer w.h.release()
	f := getFrame()
	defer putFrame(f)
	var s C.sw_stats
	ret := C.gosw_stats(w.h.ptr, &s)
	runtime.KeepAlive(w)
	if err := callErr(ret, "stats"); err != nil {
		return Stats{}, err
	}
	return Stats{
		Queued:       uint64(s.queued),
		Committed:    uint64(s.committed),
		Failed:       uint64(s.failed),
		Transactions: uint64(s.transactions),
		BusyRetries:  uint64(s.busy_retries),
		LatencyP50:   time.Duration(s.latency_p50_us) * time.Microsecond,
		LatencyP99:   time.Duration(s.latency_p99_us) * time.Microsecond,
	}, nil
}

// CacheStats are the read cache's counters.
type CacheStats struct {
	Entries, HotEntries, ExpiredEntries, MaxEntries uint64
	Hits, Misses, Evictions, Invalidations          uint64
}

// CacheStats returns the read cache's counters.
func (w *Writer) CacheStats() (CacheStats, error) {
	if err := w.h.acquire("cache stats"); err != nil {
		return CacheStats{}, err
	}
	defer w.h.release()
	f := getFrame()
	defer putFrame(f)
	var s C.sw_cache_stats
	ret := C.gosw_cache_stats(w.h.ptr, &s)
	runtime.KeepAlive(w)
	if err := callErr(ret, "cache stats"); err != nil {
		return CacheStats{}, err
	}
	return CacheStats{
		Entries: uint64(s.entries), HotEntries: uint64(s.hot_entries),
		ExpiredEntries: uint64(s.expired_entries), MaxEntries: uint64(s.max_entries),
		Hits: uint64(s.hits), Misses: uint64(s.misses),
		Evictions: uint64(s.evictions), Invalidations: uint64(s.invalidations),
	}, nil
}

// OperationsJSON returns recent write operations (state, timings, SQL preview,
// error) as a JSON array.
func (w *Writer) OperationsJSON() (string, error) {
	return w.textCall("operations", func() C.gosw_text_ret { return C.gosw_operations_json(w.h.ptr) })
}

// MetricsText returns the writer's metrics in the Prometheus text exposition
// format.
func (w *Writer) MetricsText() (string, error) {
	return w.textCall("metrics", func() C.gosw_text_ret { return C.gosw_metrics_text(w.h.ptr) })
}

func (w *Writer) textCall(op string, call func() C.gosw_text_ret) (string, error) {
	if err := w.h.acquire(op); err != nil {
		return "", err
	}
	defer w.h.release()
	ret := call()
	runtime.KeepAlive(w)
	if err := callErr(ret.r, op); err != nil {
		return "", err
	}
	s := C.GoString(ret.text)
	C.sw_string_free(ret.text)
	return s, nil
}
