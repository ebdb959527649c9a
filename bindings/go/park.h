/*
 * park.h — writes that park goroutines instead of OS threads (declarations; park.c).
 *
 * A write is submitted with sw_writer_enqueue and returns at once. Its completion callback runs
 * on the library's thread and only links a preallocated node onto a list (no allocation, no
 * call into Go) and, when the Go drainer is waiting, makes an eventfd readable. The Go drainer
 * waits on that eventfd through Go's network poller (a parked goroutine, not a blocked thread),
 * takes every completion that arrived in one cgo call, and wakes the goroutines that wait for
 * them through channels.
 * Declarations only: included by Go files.
 */
#ifndef GOSW_PARK_H
#define GOSW_PARK_H

#include <stdint.h>

#include "shim.h"

/* One delivered completion, copied into Go memory by gosw_park_wait. */
typedef struct gosw_done {
    uint64_t token; /* the Go side's id of the waiting call */
    uint32_t status;
    uint32_t reserved;
    int64_t rows_affected;
    int64_t last_insert_rowid;
    char *message; /* NULL, or a malloc'd copy of the error message: free with free() */
} gosw_done;

/* Defined in shim.c: sw_writer_enqueue with a C callback. */
gosw_ret gosw_enqueue_cb(const sw_writer *w, const char *buf, size_t sql_off,
                         const gosw_arg *args, size_t n_args, sw_write_callback cb,
                         void *userdata);

/* sw_writer_enqueue of one write whose completion is delivered through gosw_park_wait under
 * `token`. On a non-OK return nothing will be delivered. */
gosw_ret gosw_park_execute(const sw_writer *w, const char *buf, size_t sql_off,
                           const gosw_arg *args, size_t n_args, uint64_t token);

/* The eventfd that becomes readable when completions arrive while the Go drainer waits
 * (created at the first call; -1 if it could not be). */
int gosw_park_init(void);

/* Moves up to `cap` delivered completions into `out` and returns how many, never blocking.
 * When it returns 0 the next delivery makes the eventfd readable. */
size_t gosw_park_take(gosw_done *out, size_t cap);

#endif
