/*
 * shim.h — the C side of the Go binding (declarations only; definitions in shim.c).
 *
 * Why a shim:
 * - The library reports errors through thread-local state (sw_last_error_message /
 *   sw_last_error_sqlite_code). A goroutine may move to another OS thread between two
 *   cgo calls, so every fallible call is wrapped here and its error is copied out
 *   inside the same cgo call, returned by value (gosw_ret).
 * - Parameters cross from Go as pointer-free descriptors (gosw_arg) referring to byte
 *   offsets in one Go buffer; the shim turns them into sw_param on its own stack (or the
 *   C heap when there are many). Go never hands C memory that contains Go pointers, and
 *   results come back by value, so cgo has no pointers to check.
 * - Result sets are flattened into a pointer-free Go buffer (gosw_cell headers, then the
 *   bytes of names, text and blobs) and freed in the same call; only a result larger than
 *   the buffer needs a second call.
 *
 * This header must contain declarations only: it is included by Go files that use //export.
 */
#ifndef GOSW_SHIM_H
#define GOSW_SHIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "singlewriter.h"

/* The outcome of a call: its status and, when not OK, its error copied out on the
 * thread that made the call. */
typedef struct gosw_ret {
    sw_status status;
    int32_t sqlite_code; /* sw_last_error_sqlite_code() */
    char *message;       /* strdup of sw_last_error_message(), or NULL; free with free() */
} gosw_ret;

/* The outcome of a call returning rows. When OK and `rows` is NULL, the result was
 * written to the caller's buffer (`need` bytes) and is already freed. When OK and `rows`
 * is not NULL, it needs `need` bytes: call gosw_rows_fill_free with a buffer that big. */
typedef struct gosw_rows_ret {
    gosw_ret r;
    const sw_rows *rows;
    uint64_t nrows;
    uint64_t ncols;
    uint64_t need;
} gosw_rows_ret;

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

/* A flattened result: ncols name cells (TEXT), then nrows * ncols value cells, row-major,
 * then the bytes they refer to. Offsets are from the start of the buffer. */
typedef struct gosw_cell {
    uint32_t type; /* SW_TYPE_* */
    uint32_t reserved;
    int64_t integer;
    double real;
    uint64_t off; /* TEXT/BLOB bytes at buf + off */
    uint64_t len;
} gosw_cell;

int gosw_in_callback(void);

gosw_ret gosw_open(const char *conn, const sw_writer **out);
gosw_ret gosw_close(const sw_writer *w);

gosw_ret gosw_execute(const sw_writer *w, const char *buf, size_t sql_off,
                      const gosw_arg *args, size_t n_args, sw_write_result *out);
gosw_ret gosw_execute_and_invalidate(const sw_writer *w, const char *buf, size_t sql_off,
                                     const gosw_arg *args, size_t n_args,
                                     const size_t *key_offs, size_t n_keys, sw_write_result *out);
gosw_ret gosw_enqueue(const sw_writer *w, const char *buf, size_t sql_off,
                      const gosw_arg *args, size_t n_args, uintptr_t handle);
gosw_ret gosw_batch(const sw_writer *w, const char *buf, const gosw_stmt *stmts, size_t n_stmts,
                    const gosw_arg *args, size_t n_args, bool transactional, sw_write_result *out);
gosw_ret gosw_transaction(const sw_writer *w, uintptr_t handle);
gosw_ret gosw_txn_execute(sw_txn *txn, const char *buf, size_t sql_off,
                          const gosw_arg *args, size_t n_args, sw_write_result *out);
gosw_ret gosw_flush(const sw_writer *w, uint32_t timeout_ms);
gosw_ret gosw_invalidate(const sw_writer *w, const char *key);
gosw_ret gosw_raise(const sw_writer *w, const char *signal);

gosw_rows_ret gosw_txn_query(sw_txn *txn, const char *buf, size_t sql_off,
                             const gosw_arg *args, size_t n_args, char *out, size_t out_cap);
gosw_rows_ret gosw_query(const sw_writer *w, const char *buf, size_t sql_off,
                         const gosw_arg *args, size_t n_args, char *out, size_t out_cap);
gosw_rows_ret gosw_read(const sw_writer *w, const char *buf, size_t key_off, size_t sql_off,
                        const gosw_arg *args, size_t n_args, char *out, size_t out_cap);
/* Flattens rows into out (which must hold the `need` reported before) and frees them. */
void gosw_rows_fill_free(const sw_rows *rows, char *out, size_t out_cap);

gosw_ret gosw_stats(const sw_writer *w, sw_stats *out);
gosw_ret gosw_cache_stats(const sw_writer *w, sw_cache_stats *out);

/* A polled set of signals with an array of pointers to them, for Go to copy. */
typedef struct gosw_signals_ret {
    gosw_ret r;
    const sw_signals *signals;
    const sw_signal **items; /* count entries; valid until gosw_signals_free */
    size_t count;
    uint64_t missed;
} gosw_signals_ret;

gosw_signals_ret gosw_poll_signals(const sw_writer *w, const char *pattern, uint64_t after);
void gosw_signals_free(const sw_signals *signals, const sw_signal **items);
gosw_ret gosw_subscribe(const sw_writer *w, const char *pattern, uintptr_t handle, uint64_t *out);
gosw_ret gosw_unsubscribe(const sw_writer *w, uint64_t id);

/* Text results (JSON, metrics): `text` is the library's string; free with sw_string_free. */
typedef struct gosw_text_ret {
    gosw_ret r;
    char *text;
} gosw_text_ret;

gosw_text_ret gosw_operations_json(const sw_writer *w);
gosw_text_ret gosw_metrics_text(const sw_writer *w);

#endif
