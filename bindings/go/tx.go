package singlewriter

/*
#include "shim.h"
*/
import "C"

import (
	"context"
	"runtime"
	"runtime/cgo"
)

// Tx is a transaction on the write connection, valid only inside the function
// passed to [Writer.Tx] and only on that function's goroutine. Its reads see
// its own uncommitted writes.
type Tx struct {
	txn *C.sw_txn // nil once the function returned
}

// txCall is what a Tx's cgo.Handle holds.
type txCall struct {
	fn       func(*Tx) error
	err      error
	panicked bool
	panicVal any
}

// Tx runs fn inside a transaction on the writer lane, on the calling goroutine,
// once every write queued before it has been handled. If fn returns nil the
// transaction commits and Tx returns once it has; if fn returns an error the
// transaction rolls back and Tx returns that error. If fn panics, the
// transaction rolls back and the panic is re-raised from Tx after the C frames
// have returned (it never unwinds through C).
//
// While fn runs it holds the writer: other writes wait, so keep it short.
// Inside fn use tx for writes; blocking Writer methods (Exec, Batch, Tx,
// Flush) return [ErrMisuse]. Writer.Query and Writer.Read may be used but run
// on read connections and do not see the transaction's uncommitted changes.
//
// ctx is checked before submitting, and while waiting behind another Tx of
// this handle (parked, not holding an OS thread); once fn's transaction is
// submitted it cannot be withdrawn.
func (w *Writer) Tx(ctx context.Context, fn func(tx *Tx) error) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	// One Tx of this handle at a time waits in C (transactions run alone on the
	// lane anyway); the others park here, and may give up while they do.
	if err := w.enterGate(ctx, w.h.txGate, "tx"); err != nil {
		return err
	}
	defer w.h.txGate.leave()
	c := &txCall{fn: fn}
	h := cgo.NewHandle(c)
	defer h.Delete()
	if err := w.h.acquire("tx"); err != nil {
		return err
	}
	defer w.h.release()
	err := callErr(C.gosw_transaction(w.h.ptr, C.uintptr_t(h)), "tx")
	runtime.KeepAlive(w)
	if c.panicked {
		panic(c.panicVal)
	}
	if c.err != nil {
		return c.err // the function's own error, not the ROLLBACK it caused
	}
	return err
}

// TxValue is [Writer.Tx] for a function that returns a value, like the
// original's ExecuteInTransactionAsync<T>: the value is returned only when the
// transaction committed.
func TxValue[T any](ctx context.Context, w *Writer, fn func(tx *Tx) (T, error)) (T, error) {
	var v T
	err := w.Tx(ctx, func(tx *Tx) error {
		var err error
		v, err = fn(tx)
		return err
	})
	if err != nil {
		var zero T
		return zero, err
	}
	return v, nil
}

//export goswTxnRun
func goswTxnRun(h C.uintptr_t, txn *C.sw_txn) (st C.uint32_t) {
	c := cgo.Handle(h).Value().(*txCall)
	tx := &Tx{txn: txn}
	defer func() {
		tx.txn = nil
		if r := recover(); r != nil {
			c.panicked, c.panicVal = true, r
			st = C.SW_STATUS_ROLLBACK
		}
	}()
	if err := c.fn(tx); err != nil {
		c.err = err
		return C.SW_STATUS_ROLLBACK
	}
	return C.SW_STATUS_OK
}

func (tx *Tx) check(op string) error {
	if tx == nil || tx.txn == nil {
		return &Error{Status: StatusMisuse, Op: op, Message: "Tx used after its function returned"}
	}
	return nil
}

// Exec runs a write statement inside the transaction.
func (tx *Tx) Exec(sql string, args ...any) (Result, error) {
	const op = "tx exec"
	if err := tx.check(op); err != nil {
		return Result{}, err
	}
	f := getFrame()
	defer putFrame(f)
	sqlOff, err := f.cstr(sql, "sql", op)
	if err != nil {
		return Result{}, err
	}
	if err := f.bind(args, op); err != nil {
		return Result{}, err
	}
	if err := callErr(C.gosw_txn_execute(tx.txn, f.base(), sqlOff, f.argPtr(0), C.size_t(len(f.args)), &f.res), op); err != nil {
		return Result{}, err
	}
	return resultOf(&f.res), nil
}

// Query runs a statement inside the transaction and returns its rows; it sees
// the transaction's own writes.
func (tx *Tx) Query(sql string, args ...any) (*Rows, error) {
	const op = "tx query"
	if err := tx.check(op); err != nil {
		return nil, err
	}
	f := getFrame()
	defer putFrame(f)
	sqlOff, err := f.cstr(sql, "sql", op)
	if err != nil {
		return nil, err
	}
	if err := f.bind(args, op); err != nil {
		return nil, err
	}
	out, outCap := f.outPtr()
	ret := C.gosw_txn_query(tx.txn, f.base(), sqlOff, f.argPtr(0), C.size_t(len(f.args)), out, outCap)
	if err := callErr(ret.r, op); err != nil {
		return nil, err
	}
	return copyRows(f, &ret), nil
}
