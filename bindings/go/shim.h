/*
 * shim.h — the C side of the Go binding (declarations only; definitions in shim.c).
 *
 * Why a shim: the library reports errors through thread-local state
 * (sw_last_error_message / sw_last_error_sqlite_code). A goroutine may move to
 * another OS thread between two cgo calls, so every fallible call is wrapped here
 * and the error is copied out inside the same cgo call.
 *
 * Parameters cross from Go as pointer-free descriptors (gosw_arg) that refer to
 * byte offsets in one Go buffer; the shim turns them into sw_param on its own
 * stack (or the C heap when there are many). That keeps the cgo pointer rules:
 * Go never hands C memory that contains Go pointers.
 *
 * This header must contain declarations only: it is included by a Go file that
 * uses //export.
 */
#ifndef GOSW_SHIM_H
#define GOSW_SHIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "singlewriter.h"

/* The error of a failed call, copied out on the thread that made it. */
typedef struct gosw_err {
    int32_t sqlite_code; /* sw_last_error_sqlite_code() */
    char *message;       /* strdup of sw_last_error_message(), or NULL; free with free() */
} gosw_err;

/* One parameter; text and names are byte offsets into the call's buffer. */
typedef struct gosw_arg {
    uint32_t type;     /* SW_TYPE_* */
    uint32_t has_name; /* 0: positional */
    size_t name_off;   /* NUL-terminated name at buf + name_off */
    int64_t integer;
    double real;
    size_t data_off; /* text/blob bytes at buf + data_off */
    size_t len;
} gosw_arg;

/* One statement of a batch: its SQL and its slice of the argument array. */
typedef struct gosw_stmt {
    size_t sql_off;
    size_t first_arg;
    size_t n_args;
} gosw_stmt;

/* One cell of a result, read with the sw_rows accessors in a single pass. */
typedef struct gosw_cell {
    uint32_t type;
    int64_t integer;
    double real;
    const void *data; /* borrowed from the sw_rows; valid until gosw_table_free */
    size_t len;
} gosw_cell;

/* A result set flattened for Go: names[ncols], cells[nrows * ncols] row-major. */
typedef struct gosw_table {
    const sw_rows *rows;
    size_t nrows;
    size_t ncols;
    const char **names;
    gosw_cell *cells;
} gosw_table;

/* A polled set of signals with an array of pointers to them, for Go to copy. */
typedef struct gosw_signals {
    const sw_signals *signals;
    const sw_signal **items; /* count entries; valid until gosw_signals_free */
    size_t count;
    uint64_t missed;
} gosw_signals;

sw_status gosw_open(const char *conn, const sw_writer **out, gosw_err *err);
sw_status gosw_close(const sw_writer *w, gosw_err *err);
int gosw_in_callback(void);

sw_status gosw_execute(const sw_writer *w, const char *buf, size_t sql_off,
                       const gosw_arg *args, size_t n_args,
                       sw_write_result *out, gosw_err *err);
sw_status gosw_execute_and_invalidate(const sw_writer *w, const char *buf, size_t sql_off,
                                      const gosw_arg *args, size_t n_args,
                                      const size_t *key_offs, size_t n_keys,
                                      sw_write_result *out, gosw_err *err);
sw_status gosw_enqueue(const sw_writer *w, const char *buf, size_t sql_off,
                       const gosw_arg *args, size_t n_args,
                       uintptr_t handle, gosw_err *err);
sw_status gosw_batch(const sw_writer *w, const char *buf,
                     const gosw_stmt *stmts, size_t n_stmts,
                     const gosw_arg *args, size_t n_args,
                     bool transactional, sw_write_result *out, gosw_err *err);
sw_status gosw_transaction(const sw_writer *w, uintptr_t handle, gosw_err *err);
sw_status gosw_txn_execute(sw_txn *txn, const char *buf, size_t sql_off,
                           const gosw_arg *args, size_t n_args,
                           sw_write_result *out, gosw_err *err);
sw_status gosw_txn_query(sw_txn *txn, const char *buf, size_t sql_off,
                         const gosw_arg *args, size_t n_args,
                         gosw_table *out, gosw_err *err);
sw_status gosw_flush(const sw_writer *w, uint32_t timeout_ms, gosw_err *err);

sw_status gosw_query(const sw_writer *w, const char *buf, size_t sql_off,
                     const gosw_arg *args, size_t n_args,
                     gosw_table *out, gosw_err *err);
sw_status gosw_read(const sw_writer *w, const char *buf, size_t key_off, size_t sql_off,
                    const gosw_arg *args, size_t n_args,
                    gosw_table *out, gosw_err *err);
void gosw_table_free(gosw_table *t);
sw_status gosw_invalidate(const sw_writer *w, const char *key, gosw_err *err);

sw_status gosw_stats(const sw_writer *w, sw_stats *out, gosw_err *err);
sw_status gosw_cache_stats(const sw_writer *w, sw_cache_stats *out, gosw_err *err);
sw_status gosw_poll_signals(const sw_writer *w, const char *pattern, uint64_t after,
                            gosw_signals *out, gosw_err *err);
void gosw_signals_free(gosw_signals *s);
sw_status gosw_subscribe(const sw_writer *w, const char *pattern, uintptr_t handle,
                         uint64_t *out, gosw_err *err);
sw_status gosw_unsubscribe(const sw_writer *w, uint64_t id, gosw_err *err);
sw_status gosw_raise(const sw_writer *w, const char *signal, gosw_err *err);
sw_status gosw_operations_json(const sw_writer *w, char **out, gosw_err *err);
sw_status gosw_metrics_text(const sw_writer *w, char **out, gosw_err *err);

#endif
