package singlewriter

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"time"
)

// ErrNoRows is returned by [Row.Scan] when the query returned no row. It is
// database/sql's sql.ErrNoRows, so errors.Is(err, sql.ErrNoRows) works too.
var ErrNoRows = sql.ErrNoRows

// Row is the first row of a query, from [Writer.QueryRow], [Writer.ReadRow]
// or [Tx.QueryRow]. Its error, if any, is reported by Scan.
type Row struct {
	rows *Rows
	err  error
}

// Scan copies the row's columns into dest (see [ScanValue]). It returns the
// query's error, or [ErrNoRows] when there was no row.
func (r *Row) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	if !r.rows.Next() {
		return ErrNoRows
	}
	return r.rows.Scan(dest...)
}

// Err returns the query's error, without ErrNoRows.
func (r *Row) Err() error { return r.err }

// QueryRow is [Writer.Query] for a query expected to return at most one row:
//
//	var name string
//	var email sql.NullString
//	err := w.QueryRow(ctx, "SELECT name, email FROM users WHERE id = ?", id).Scan(&name, &email)
//	if errors.Is(err, singlewriter.ErrNoRows) { ... }
func (w *Writer) QueryRow(ctx context.Context, sql string, args ...any) *Row {
	rows, err := w.Query(ctx, sql, args...)
	return &Row{rows: rows, err: err}
}

// ReadRow is [Writer.Read] (the cache) for a query expected to return at most
// one row.
func (w *Writer) ReadRow(ctx context.Context, key, sql string, args ...any) *Row {
	rows, err := w.Read(ctx, key, sql, args...)
	return &Row{rows: rows, err: err}
}

// QueryRow is [Tx.Query] for a query expected to return at most one row.
func (tx *Tx) QueryRow(sql string, args ...any) *Row {
	rows, err := tx.Query(sql, args...)
	return &Row{rows: rows, err: err}
}

// ScanValue stores a result value (int64, float64, string, []byte or nil, as
// in [Rows]) into dest, converting as database/sql does:
//
//   - a sql.Scanner (sql.NullString, sql.NullInt64, sql.Null[T], your own
//     types) receives the value, NULL included;
//   - *any receives it as it is;
//   - a pointer to a pointer (**string, **int64, ...) is set to nil for NULL,
//     else to a new value converted as below;
//   - *string, *[]byte, *bool, signed and unsigned integers, floats (named
//     types too), converting between numbers and text where the value allows
//     (range-checked), and *time.Time from TEXT in the format the binding
//     writes or RFC 3339 / "2006-01-02 15:04:05" / "2006-01-02", or from an
//     INTEGER of Unix seconds.
//
// NULL into any other destination is an error naming it, never a silent zero.
func ScanValue(dest, src any) error {
	switch d := dest.(type) {
	case *any:
		*d = src
		return nil
	case sql.Scanner:
		return d.Scan(src)
	}
	if src == nil {
		rv := reflect.ValueOf(dest)
		if rv.Kind() == reflect.Pointer && !rv.IsNil() && rv.Elem().Kind() == reflect.Pointer {
			rv.Elem().Set(reflect.Zero(rv.Elem().Type()))
			return nil
		}
		return fmt.Errorf("cannot store NULL in %T (use a pointer to a pointer, sql.Null*, or *any)", dest)
	}
	switch d := dest.(type) {
	case *string:
		switch s := src.(type) {
		case string:
			*d = s
		case []byte:
			*d = string(s)
		case int64:
			*d = strconv.FormatInt(s, 10)
		case float64:
			*d = strconv.FormatFloat(s, 'g', -1, 64)
		}
		return nil
	case *[]byte:
		switch s := src.(type) {
		case []byte:
			*d = append([]byte(nil), s...)
		case string:
			*d = []byte(s)
		default:
			return fmt.Errorf("cannot store %T in *[]byte", src)
		}
		return nil
	case *int64:
		i, err := asInt(src)
		if err == nil {
			*d = i
		}
		return err
	case *int:
		i, err := asInt(src)
		if err == nil {
			*d = int(i)
		}
		return err
	case *float64:
		x, err := asFloat(src)
		if err == nil {
			*d = x
		}
		return err
	case *bool:
		return assignBool(d, src)
	case *time.Time:
		t, err := asTime(src)
		if err == nil {
			*d = t
		}
		return err
	}
	return reflectAssign(dest, src)
}

// reflectAssign handles pointers to pointers, other integer and float widths,
// and named types.
func reflectAssign(dest, src any) error {
	rv := reflect.ValueOf(dest)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("destination %T is not a non-nil pointer", dest)
	}
	e := rv.Elem()
	switch e.Kind() {
	case reflect.Pointer:
		v := reflect.New(e.Type().Elem())
		if err := ScanValue(v.Interface(), src); err != nil {
			return err
		}
		e.Set(v)
		return nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i, err := asInt(src)
		if err != nil {
			return err
		}
		if e.OverflowInt(i) {
			return fmt.Errorf("value %d overflows %s", i, e.Type())
		}
		e.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		i, err := asInt(src)
		if err != nil {
			return err
		}
		if i < 0 || e.OverflowUint(uint64(i)) {
			return fmt.Errorf("value %d does not fit %s", i, e.Type())
		}
		e.SetUint(uint64(i))
	case reflect.Float32, reflect.Float64:
		x, err := asFloat(src)
		if err != nil {
			return err
		}
		if e.Kind() == reflect.Float32 && math.Abs(x) > math.MaxFloat32 && !math.IsInf(x, 0) {
			return fmt.Errorf("value %v overflows float32", x)
		}
		e.SetFloat(x)
	case reflect.String:
		var s string
		if err := ScanValue(&s, src); err != nil {
			return err
		}
		e.SetString(s)
	case reflect.Bool:
		var b bool
		if err := assignBool(&b, src); err != nil {
			return err
		}
		e.SetBool(b)
	default:
		return fmt.Errorf("unsupported destination %T", dest)
	}
	return nil
}

func asInt(src any) (int64, error) {
	switch s := src.(type) {
	case int64:
		return s, nil
	case float64:
		if s != math.Trunc(s) || s < math.MinInt64 || s >= math.MaxInt64 {
			return 0, fmt.Errorf("float %v is not an integer", s)
		}
		return int64(s), nil
	case string:
		return strconv.ParseInt(s, 10, 64)
	case []byte:
		return strconv.ParseInt(string(s), 10, 64)
	}
	return 0, fmt.Errorf("cannot convert %T to an integer", src)
}

func asFloat(src any) (float64, error) {
	switch s := src.(type) {
	case float64:
		return s, nil
	case int64:
		return float64(s), nil
	case string:
		return strconv.ParseFloat(s, 64)
	case []byte:
		return strconv.ParseFloat(string(s), 64)
	}
	return 0, fmt.Errorf("cannot convert %T to a float", src)
}

func assignBool(d *bool, src any) error {
	switch s := src.(type) {
	case string:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return err
		}
		*d = b
		return nil
	case float64:
		*d = s != 0
		return nil
	}
	i, err := asInt(src)
	if err == nil {
		*d = i != 0
	}
	return err
}

// timeFormats are the TEXT forms *time.Time accepts, the binding's own first.
var timeFormats = []string{sqliteTime, time.RFC3339Nano, "2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999", "2006-01-02"}

func asTime(src any) (time.Time, error) {
	switch s := src.(type) {
	case int64:
		return time.Unix(s, 0).UTC(), nil
	case []byte:
		return asTime(string(s))
	case string:
		for _, f := range timeFormats {
			if t, err := time.Parse(f, s); err == nil {
				return t, nil
			}
		}
		return time.Time{}, fmt.Errorf("cannot parse %q as a time", s)
	}
	return time.Time{}, errors.New("cannot convert " + fmt.Sprintf("%T", src) + " to time.Time")
}
