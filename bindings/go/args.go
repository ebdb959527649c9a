package singlewriter

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"database/sql"
	"database/sql/driver"
	"fmt"
	"math"
	"reflect"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// NamedArg binds a value to a named SQL parameter. Make one with [Named].
type NamedArg struct {
	Name  string
	Value any
}

// Named binds value to the SQL parameter called name. The name may carry the
// SQL's prefix ("@id", ":id", "$id") or not ("id"); it binds to whichever
// prefix the SQL uses. database/sql's sql.Named values are accepted as well.
func Named(name string, value any) NamedArg { return NamedArg{Name: name, Value: value} }

// Statement is one statement of a [Writer.Batch].
type Statement struct {
	SQL  string
	Args []any
}

// Stmt is shorthand for Statement{SQL: sql, Args: args}.
func Stmt(sql string, args ...any) Statement { return Statement{SQL: sql, Args: args} }

// frame holds what one call hands to C: a byte buffer with every string the
// call needs (NUL-terminated where C expects it), pointer-free descriptors that
// refer to offsets in it, and a buffer for a flattened result set. Frames are
// pooled so a call allocates nothing for them.
type frame struct {
	buf   []byte
	args  []C.gosw_arg
	stmts []C.gosw_stmt
	keys  []C.size_t
	res   C.sw_write_result
	out   []byte // result buffer; its length is what C may fill
}

// outSize is the result buffer a frame starts with; a result that does not
// fit costs a second cgo call with a buffer of the exact size.
const outSize = 4 << 10

var framePool = sync.Pool{New: func() any {
	return &frame{buf: make([]byte, 0, 512), args: make([]C.gosw_arg, 0, 8), out: make([]byte, outSize)}
}}

func getFrame() *frame {
	f := framePool.Get().(*frame)
	f.buf = f.buf[:0]
	f.args = f.args[:0]
	f.stmts = f.stmts[:0]
	f.keys = f.keys[:0]
	f.res = C.sw_write_result{}
	return f
}

func putFrame(f *frame) {
	if cap(f.buf) > 64<<10 || cap(f.args) > 1024 || len(f.out) > 64<<10 {
		return // let oversized frames go
	}
	framePool.Put(f)
}

// cstr appends s and a NUL, and returns its offset. A NUL inside s would
// silently cut the string short in C, so it is refused.
func (f *frame) cstr(s, what, op string) (C.size_t, error) {
	if strings.IndexByte(s, 0) >= 0 {
		return 0, bindingError(StatusInvalidArgument, op, what+" contains a NUL byte")
	}
	off := len(f.buf)
	f.buf = append(f.buf, s...)
	f.buf = append(f.buf, 0)
	return C.size_t(off), nil
}

// base is the address of the buffer; take it only after the last append.
func (f *frame) base() *C.char {
	if len(f.buf) == 0 {
		f.buf = append(f.buf, 0)
	}
	return (*C.char)(unsafe.Pointer(&f.buf[0]))
}

func (f *frame) argPtr(first int) *C.gosw_arg {
	if first >= len(f.args) {
		return nil
	}
	return &f.args[first]
}

// outPtr is the address and size of the result buffer.
func (f *frame) outPtr() (*C.char, C.size_t) {
	return (*C.char)(unsafe.Pointer(&f.out[0])), C.size_t(len(f.out))
}

// callErr converts the outcome of a C call into an error (nil when OK) and frees
// the copied message.
func callErr(r C.gosw_ret, op string) error {
	if r.status == C.SW_STATUS_OK {
		return nil
	}
	e := &Error{Status: Status(r.status), SQLiteCode: int(r.sqlite_code), Op: op}
	if r.message != nil {
		e.Message = C.GoString(r.message)
		C.free(unsafe.Pointer(r.message))
	}
	return e
}

// bind appends args as parameter descriptors.
func (f *frame) bind(args []any, op string) error {
	for i, a := range args {
		name := ""
		v := a
		switch n := a.(type) {
		case NamedArg:
			name, v = n.Name, n.Value
		case sql.NamedArg:
			name, v = n.Name, n.Value
		}
		var ga C.gosw_arg
		if name != "" {
			off, err := f.cstr(name, "parameter name", op)
			if err != nil {
				return err
			}
			ga.has_name = 1
			ga.name_off = off
		}
		if err := f.value(&ga, v, 0); err != nil {
			if name != "" {
				return bindingError(StatusInvalidArgument, op, fmt.Sprintf("parameter %q: %v", name, err))
			}
			return bindingError(StatusInvalidArgument, op, fmt.Sprintf("parameter %d: %v", i+1, err))
		}
		f.args = append(f.args, ga)
	}
	return nil
}

// sqliteTime is how time.Time values are stored: text that SQLite's date and
// time functions understand.
const sqliteTime = "2006-01-02 15:04:05.999999999-07:00"

func (f *frame) text(ga *C.gosw_arg, s string) {
	ga._type = C.SW_TYPE_TEXT
	ga.data_off = C.size_t(len(f.buf))
	ga.len = C.size_t(len(s))
	f.buf = append(f.buf, s...)
}

func (f *frame) blob(ga *C.gosw_arg, b []byte) {
	ga._type = C.SW_TYPE_BLOB
	ga.data_off = C.size_t(len(f.buf))
	ga.len = C.size_t(len(b))
	f.buf = append(f.buf, b...)
}

func setInt(ga *C.gosw_arg, i int64) {
	ga._type = C.SW_TYPE_INTEGER
	ga.integer = C.int64_t(i)
}

func setFloat(ga *C.gosw_arg, x float64) {
	ga._type = C.SW_TYPE_FLOAT
	ga.real = C.double(x)
}

// value maps a Go value onto an sw_value: integers and bools → INTEGER, floats →
// FLOAT, strings → TEXT, []byte → BLOB, nil → NULL, time.Time → TEXT,
// driver.Valuer → its value; named types and pointers by their underlying kind.
func (f *frame) value(ga *C.gosw_arg, v any, depth int) error {
	switch x := v.(type) {
	case nil:
		ga._type = C.SW_TYPE_NULL
	case int64:
		setInt(ga, x)
	case int:
		setInt(ga, int64(x))
	case int32:
		setInt(ga, int64(x))
	case string:
		f.text(ga, x)
	case []byte:
		if x == nil {
			ga._type = C.SW_TYPE_NULL
		} else {
			f.blob(ga, x)
		}
	case float64:
		setFloat(ga, x)
	case bool:
		if x {
			setInt(ga, 1)
		} else {
			setInt(ga, 0)
		}
	case time.Time:
		f.text(ga, x.Format(sqliteTime))
	case driver.Valuer:
		if depth > 4 {
			return fmt.Errorf("driver.Valuer nesting too deep")
		}
		dv, err := x.Value()
		if err != nil {
			return err
		}
		return f.value(ga, dv, depth+1)
	default:
		return f.reflectValue(ga, v, depth)
	}
	return nil
}

func (f *frame) reflectValue(ga *C.gosw_arg, v any, depth int) error {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		setInt(ga, rv.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		u := rv.Uint()
		if u > math.MaxInt64 {
			return fmt.Errorf("unsigned value %d does not fit SQLite's 64-bit signed INTEGER", u)
		}
		setInt(ga, int64(u))
	case reflect.Float32, reflect.Float64:
		setFloat(ga, rv.Float())
	case reflect.Bool:
		if rv.Bool() {
			setInt(ga, 1)
		} else {
			setInt(ga, 0)
		}
	case reflect.String:
		f.text(ga, rv.String())
	case reflect.Slice:
		if rv.Type().Elem().Kind() != reflect.Uint8 {
			return fmt.Errorf("unsupported type %T", v)
		}
		if rv.IsNil() {
			ga._type = C.SW_TYPE_NULL
		} else {
			f.blob(ga, rv.Bytes())
		}
	case reflect.Pointer:
		if rv.IsNil() {
			ga._type = C.SW_TYPE_NULL
			return nil
		}
		if depth > 4 {
			return fmt.Errorf("pointer nesting too deep")
		}
		return f.value(ga, rv.Elem().Interface(), depth+1)
	default:
		return fmt.Errorf("unsupported type %T", v)
	}
	return nil
}
