// Package cbaseline runs the C API directly, in C loops, so benchmarks can
// report the Go binding's overhead as the difference from plain C measured in
// the same process. It is for benchmarks only. It links like the parent package
// (link_*.go: pkg-config by default, tag singlewriter_dev for the checkout).
package cbaseline

/*
#include <stdlib.h>
#include "singlewriter.h"

// n blocking INSERTs with an integer and a text parameter; returns failures.
static long long cb_exec_loop(const sw_writer *w, long long n) {
    long long failed = 0;
    sw_param p[2];
    p[0].name = NULL; p[0].value.type = SW_TYPE_INTEGER; p[0].value.real = 0; p[0].value.data = NULL; p[0].value.len = 0;
    p[1].name = NULL; p[1].value.type = SW_TYPE_TEXT; p[1].value.integer = 0; p[1].value.real = 0;
    p[1].value.data = (const uint8_t *)"value"; p[1].value.len = 5;
    for (long long i = 0; i < n; i++) {
        sw_write_result res;
        p[0].value.integer = i;
        if (sw_writer_execute(w, "INSERT INTO T (g, v) VALUES (?, ?)", p, 2, &res) != SW_STATUS_OK) failed++;
    }
    return failed;
}

// n cached reads of key: read, take one cell, free; returns failures.
static long long cb_read_loop(const sw_writer *w, const char *key, const char *sql, long long n) {
    long long failed = 0;
    volatile int64_t sink = 0;
    for (long long i = 0; i < n; i++) {
        const sw_rows *rows = NULL;
        if (sw_writer_read(w, key, sql, NULL, 0, &rows) != SW_STATUS_OK) { failed++; continue; }
        sink += sw_rows_int64(rows, 0, 0);
        sw_rows_free(rows);
    }
    (void)sink;
    return failed;
}
*/
import "C"

import (
	"errors"
	"unsafe"
)

// Writer is a raw C writer handle.
type Writer struct{ p *C.sw_writer }

// Open opens a handle with sw_writer_open.
func Open(conn string) (*Writer, error) {
	cs := C.CString(conn)
	defer C.free(unsafe.Pointer(cs))
	var p *C.sw_writer
	if st := C.sw_writer_open(cs, &p); st != C.SW_STATUS_OK {
		return nil, errors.New(C.GoString(C.sw_last_error_message()))
	}
	return &Writer{p: p}, nil
}

// Close closes the handle.
func (w *Writer) Close() { C.sw_writer_close(w.p) }

// ExecLoop runs n INSERT INTO T (g, v) VALUES (?, ?) from C; returns failures.
func (w *Writer) ExecLoop(n int) int { return int(C.cb_exec_loop(w.p, C.longlong(n))) }

// ReadLoop runs n cached reads from C; returns failures.
func (w *Writer) ReadLoop(key, sql string, n int) int {
	k, s := C.CString(key), C.CString(sql)
	defer C.free(unsafe.Pointer(k))
	defer C.free(unsafe.Pointer(s))
	return int(C.cb_read_loop(w.p, k, s, C.longlong(n)))
}
