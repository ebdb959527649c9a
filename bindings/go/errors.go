package singlewriter

/*
#include "singlewriter.h"
*/
import "C"

import (
	"errors"
	"fmt"
)

// Status is a libsinglewriter status code (sw_status). The numbers are those of
// the C header and are never reused.
type Status uint32

// The status values of the C ABI, taken from the header (singlewriter.h).
const (
	StatusOK              Status = C.SW_STATUS_OK
	StatusError           Status = C.SW_STATUS_ERROR // SQL error: syntax, no such table, ...
	StatusConstraint      Status = C.SW_STATUS_CONSTRAINT
	StatusBusy            Status = C.SW_STATUS_BUSY // another process holds the lock beyond the busy policy
	StatusQueueFull       Status = C.SW_STATUS_QUEUE_FULL
	StatusTimeout         Status = C.SW_STATUS_TIMEOUT
	StatusClosed          Status = C.SW_STATUS_CLOSED
	StatusInvalidArgument Status = C.SW_STATUS_INVALID_ARGUMENT
	StatusInvalidUTF8     Status = C.SW_STATUS_INVALID_UTF8
	StatusMisuse          Status = C.SW_STATUS_MISUSE // e.g. a blocking call from inside a callback
	StatusRollback        Status = C.SW_STATUS_ROLLBACK
	StatusReadOnly        Status = C.SW_STATUS_READONLY // a write attempted through a read path
	StatusIO              Status = C.SW_STATUS_IO
	StatusCorrupt         Status = C.SW_STATUS_CORRUPT
	StatusPanic           Status = C.SW_STATUS_PANIC // a panic inside the library, caught at its boundary
	StatusNoMem           Status = C.SW_STATUS_NOMEM // memory for the operation could not be allocated
)

var statusNames = [...]string{
	StatusOK:              "ok",
	StatusError:           "sql error",
	StatusConstraint:      "constraint violation",
	StatusBusy:            "database busy",
	StatusQueueFull:       "write queue full",
	StatusTimeout:         "timeout",
	StatusClosed:          "writer closed",
	StatusInvalidArgument: "invalid argument",
	StatusInvalidUTF8:     "invalid UTF-8",
	StatusMisuse:          "misuse",
	StatusRollback:        "rolled back",
	StatusReadOnly:        "read-only",
	StatusIO:              "I/O error",
	StatusCorrupt:         "database corrupt",
	StatusPanic:           "internal panic",
	StatusNoMem:           "out of memory",
}

// String returns a short description of the status.
func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return fmt.Sprintf("status %d", uint32(s))
}

// Error is the error returned by every failed call into libsinglewriter. It
// carries the status, SQLite's extended result code (0 when SQLite was not
// involved) and the library's message, all captured on the thread that made
// the call.
//
// Compare with errors.Is against the Err* values, which match on Status:
//
//	if errors.Is(err, singlewriter.ErrConstraint) { ... }
//
// and use errors.As to reach the details.
type Error struct {
	Status     Status
	SQLiteCode int    // extended result code, e.g. 2067 for SQLITE_CONSTRAINT_UNIQUE
	Message    string // the library's description; may be empty
	Op         string // the binding method that failed, e.g. "exec"
}

func (e *Error) Error() string {
	s := "singlewriter: "
	if e.Op != "" {
		s += e.Op + ": "
	}
	s += e.Status.String()
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.SQLiteCode != 0 {
		s += fmt.Sprintf(" (sqlite code %d)", e.SQLiteCode)
	}
	return s
}

// Is reports whether target is an *Error with the same Status, so that
// errors.Is(err, ErrBusy) works for every busy error whatever its message.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Status == e.Status
}

// Sentinels for errors.Is; each matches every *Error with its status.
var (
	ErrSQL             error = &Error{Status: StatusError}
	ErrConstraint      error = &Error{Status: StatusConstraint}
	ErrBusy            error = &Error{Status: StatusBusy}
	ErrQueueFull       error = &Error{Status: StatusQueueFull}
	ErrTimeout         error = &Error{Status: StatusTimeout}
	ErrClosed          error = &Error{Status: StatusClosed}
	ErrInvalidArgument error = &Error{Status: StatusInvalidArgument}
	ErrInvalidUTF8     error = &Error{Status: StatusInvalidUTF8}
	ErrMisuse          error = &Error{Status: StatusMisuse}
	ErrRollback        error = &Error{Status: StatusRollback}
	ErrReadOnly        error = &Error{Status: StatusReadOnly}
	ErrIO              error = &Error{Status: StatusIO}
	ErrCorrupt         error = &Error{Status: StatusCorrupt}
	ErrPanic           error = &Error{Status: StatusPanic}
	ErrNoMem           error = &Error{Status: StatusNoMem}
)

// ErrABIMismatch is returned (wrapped) by Open when the loaded library speaks
// another C ABI version than this binding.
var ErrABIMismatch = errors.New("singlewriter: C ABI version mismatch")

func bindingError(st Status, op, msg string) error {
	return &Error{Status: st, Op: op, Message: msg}
}
