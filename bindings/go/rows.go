package singlewriter

/*
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"iter"
	"unsafe"
)

// Rows is a result set copied into Go memory: it stays valid after the call,
// needs no Close, and may be read from any goroutine (the Next/Scan cursor
// excepted). Values are int64, float64, string, []byte or nil (SQL NULL).
type Rows struct {
	cols []string
	vals []any // row-major, len(cols) per row
	n    int
	cur  int // Next/Scan cursor: index of the current row, -1 before the first
}

// copyRows turns the outcome of a rows call into Rows. Usually C already
// flattened the result into f.out and freed it; a result that did not fit is
// flattened now into a buffer of the size it needs (and freed).
func copyRows(f *frame, ret *C.gosw_rows_ret) *Rows {
	buf := f.out
	if ret.rows != nil {
		need := int(ret.need)
		if need <= 64<<10 {
			f.out = make([]byte, need) // keep the bigger buffer in the pooled frame
			buf = f.out
		} else {
			buf = make([]byte, need)
		}
		C.gosw_rows_fill_free(ret.rows, (*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf)))
	}
	return decodeRows(buf[:ret.need], int(ret.nrows), int(ret.ncols))
}

// decodeRows reads a flattened result (see gosw_cell in shim.h): ncols name
// cells, then the value cells row by row, then the bytes they refer to. All
// names and text values share one string allocation; blobs get their own
// slices unless there is no text besides them.
func decodeRows(buf []byte, nrows, ncols int) *Rows {
	r := &Rows{n: nrows, cur: -1, cols: make([]string, ncols)}
	if ncols == 0 {
		return r
	}
	ncells := ncols + nrows*ncols
	hdr := ncells * int(unsafe.Sizeof(C.gosw_cell{}))
	cells := unsafe.Slice((*C.gosw_cell)(unsafe.Pointer(&buf[0])), ncells)
	blobBytes := 0
	for i := ncols; i < ncells; i++ {
		if cells[i]._type == C.SW_TYPE_BLOB {
			blobBytes += int(cells[i].len)
		}
	}
	var text string
	textOf := func(c *C.gosw_cell) string {
		if blobBytes > 0 { // do not keep blob bytes alive inside a shared string
			return string(buf[c.off : c.off+c.len])
		}
		if text == "" && len(buf) > hdr {
			text = string(buf[hdr:])
		}
		o := int(c.off) - hdr
		return text[o : o+int(c.len)]
	}
	for i := range ncols {
		r.cols[i] = textOf(&cells[i])
	}
	if nrows == 0 {
		return r
	}
	r.vals = make([]any, nrows*ncols)
	for i := range r.vals {
		c := &cells[ncols+i]
		switch c._type {
		case C.SW_TYPE_INTEGER:
			r.vals[i] = int64(c.integer)
		case C.SW_TYPE_FLOAT:
			r.vals[i] = float64(c.real)
		case C.SW_TYPE_TEXT:
			r.vals[i] = textOf(c)
		case C.SW_TYPE_BLOB:
			r.vals[i] = append(make([]byte, 0, int(c.len)), buf[c.off:c.off+c.len]...)
		default:
			r.vals[i] = nil
		}
	}
	return r
}

// Columns returns the column names.
func (r *Rows) Columns() []string { return r.cols }

// Len returns the number of rows.
func (r *Rows) Len() int { return r.n }

// Row returns the values of row i (0-based). The slice aliases the Rows;
// copy it before modifying.
func (r *Rows) Row(i int) []any {
	w := len(r.cols)
	return r.vals[i*w : (i+1)*w : (i+1)*w]
}

// Value returns the value at row, column (0-based).
func (r *Rows) Value(row, col int) any { return r.vals[row*len(r.cols)+col] }

// All iterates over the rows: for i, row := range rows.All() { ... }.
func (r *Rows) All() iter.Seq2[int, []any] {
	return func(yield func(int, []any) bool) {
		for i := 0; i < r.n; i++ {
			if !yield(i, r.Row(i)) {
				return
			}
		}
	}
}

// Maps returns every row as a map from column name to value.
func (r *Rows) Maps() []map[string]any {
	out := make([]map[string]any, r.n)
	for i := range out {
		m := make(map[string]any, len(r.cols))
		for c, name := range r.cols {
			m[name] = r.vals[i*len(r.cols)+c]
		}
		out[i] = m
	}
	return out
}

// Next advances the cursor to the next row, reporting whether there is one.
// Use it with Scan, in the manner of database/sql.
func (r *Rows) Next() bool {
	if r.cur+1 >= r.n {
		r.cur = r.n
		return false
	}
	r.cur++
	return true
}

// Scan copies the current row's columns into dest, one pointer per column (see
// [ScanValue] for the destinations and conversions; NULL needs a destination
// that can hold it: *any, a pointer to a pointer, sql.Null*, or a
// sql.Scanner).
func (r *Rows) Scan(dest ...any) error {
	if r.cur < 0 || r.cur >= r.n {
		return fmt.Errorf("singlewriter: Scan called without a successful Next")
	}
	if len(dest) != len(r.cols) {
		return fmt.Errorf("singlewriter: Scan expected %d destinations, got %d", len(r.cols), len(dest))
	}
	row := r.Row(r.cur)
	for i, d := range dest {
		if err := ScanValue(d, row[i]); err != nil {
			return fmt.Errorf("singlewriter: Scan column %d (%s): %w", i, r.cols[i], err)
		}
	}
	return nil
}
