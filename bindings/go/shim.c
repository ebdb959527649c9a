/*
 * shim.c — wrappers that call one sw_ function and copy its thread-local error out
 * before returning to Go, plus the C trampolines that the library calls back.
 * See shim.h for why.
 */
#include <stdlib.h>
#include <string.h>

#include "shim.h"
#include "_cgo_export.h"

/* Depth of Go callbacks running on this thread (transaction fn, write completion,
 * signal subscriber). Writer.Close consults it to refuse closing from a callback
 * instead of waiting for a call that is waiting for it. */
static __thread int gosw_callback_depth;
/* The transaction whose callback runs on this thread, so a Tx used from another
 * goroutine (another thread) or after its callback returned is refused. */
static __thread sw_txn *gosw_current_txn;

int gosw_in_callback(void) { return gosw_callback_depth > 0; }

static sw_status gosw_fail(sw_status st, gosw_err *err) {
    if (st != SW_STATUS_OK && err != NULL) {
        const char *m = sw_last_error_message();
        err->sqlite_code = (int32_t)sw_last_error_sqlite_code();
        err->message = (m != NULL && m[0] != '\0') ? strdup(m) : NULL;
    }
    return st;
}

static sw_status gosw_local_error(sw_status st, const char *message, gosw_err *err) {
    if (err != NULL) {
        err->sqlite_code = 0;
        err->message = strdup(message);
    }
    return st;
}

#define GOSW_STACK_PARAMS 16

/* Turns descriptors into sw_param. Uses `stack` when it fits, else the heap;
 * returns NULL only when allocation failed. */
static sw_param *gosw_params(const char *buf, const gosw_arg *args, size_t n, sw_param *stack) {
    sw_param *p = stack;
    if (n > GOSW_STACK_PARAMS) {
        p = (sw_param *)malloc(n * sizeof(sw_param));
        if (p == NULL) return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        const gosw_arg *a = &args[i];
        p[i].name = a->has_name ? buf + a->name_off : NULL;
        p[i].value.type = a->type;
        p[i].value.integer = a->integer;
        p[i].value.real = a->real;
        p[i].value.data = (a->type == SW_TYPE_TEXT || a->type == SW_TYPE_BLOB)
                              ? (const uint8_t *)(buf + a->data_off)
                              : NULL;
        p[i].value.len = a->len;
    }
    return p;
}

static void gosw_params_free(sw_param *p, sw_param *stack) {
    if (p != stack) free(p);
}

sw_status gosw_open(const char *conn, const sw_writer **out, gosw_err *err) {
    return gosw_fail(sw_writer_open(conn, out), err);
}

sw_status gosw_close(const sw_writer *w, gosw_err *err) {
    return gosw_fail(sw_writer_close(w), err);
}

sw_status gosw_execute(const sw_writer *w, const char *buf, size_t sql_off,
                       const gosw_arg *args, size_t n_args,
                       sw_write_result *out, gosw_err *err) {
    sw_param stack[GOSW_STACK_PARAMS];
    sw_param *p = gosw_params(buf, args, n_args, stack);
    if (p == NULL) return gosw_local_error(SW_STATUS_ERROR, "out of memory", err);
    sw_status st = sw_writer_execute(w, buf + sql_off, n_args ? p : NULL, n_args, out);
    st = gosw_fail(st, err);
    gosw_params_free(p, stack);
    return st;
}

sw_status gosw_execute_and_invalidate(const sw_writer *w, const char *buf, size_t sql_off,
                                      const gosw_arg *args, size_t n_args,
                                      const size_t *key_offs, size_t n_keys,
                                      sw_write_result *out, gosw_err *err) {
    sw_param stack[GOSW_STACK_PARAMS];
    const char *kstack[GOSW_STACK_PARAMS];
    const char **keys = kstack;
    if (n_keys > GOSW_STACK_PARAMS) {
        keys = (const char **)malloc(n_keys * sizeof(char *));
        if (keys == NULL) return gosw_local_error(SW_STATUS_ERROR, "out of memory", err);
    }
    for (size_t i = 0; i < n_keys; i++) keys[i] = buf + key_offs[i];
    sw_param *p = gosw_params(buf, args, n_args, stack);
    if (p == NULL) {
        if (keys != kstack) free(keys);
        return gosw_local_error(SW_STATUS_ERROR, "out of memory", err);
    }
    sw_status st = sw_writer_execute_and_invalidate(w, buf + sql_off, n_args ? p : NULL, n_args,
                                                    n_keys ? keys : NULL, n_keys, out);
    st = gosw_fail(st, err);
    gosw_params_free(p, stack);
    if (keys != kstack) free(keys);
    return st;
}

static void gosw_write_trampoline(void *userdata, sw_status status,
                                  const sw_write_result *result, const char *message) {
    gosw_callback_depth++;
    goswWriteDone((uintptr_t)userdata, status,
                  result ? result->rows_affected : 0,
                  result ? result->last_insert_rowid : 0,
                  (char *)message);
    gosw_callback_depth--;
}

sw_status gosw_enqueue(const sw_writer *w, const char *buf, size_t sql_off,
                       const gosw_arg *args, size_t n_args,
                       uintptr_t handle, gosw_err *err) {
    sw_param stack[GOSW_STACK_PARAMS];
    sw_param *p = gosw_params(buf, args, n_args, stack);
    if (p == NULL) return gosw_local_error(SW_STATUS_ERROR, "out of memory", err);
    sw_status st = sw_writer_enqueue(w, buf + sql_off, n_args ? p : NULL, n_args,
                                     handle ? gosw_write_trampoline : NULL,
                                     (void *)handle);
    st = gosw_fail(st, err);
    gosw_params_free(p, stack);
    return st;
}

sw_status gosw_batch(const sw_writer *w, const char *buf,
                     const gosw_stmt *stmts, size_t n_stmts,
                     const gosw_arg *args, size_t n_args,
                     bool transactional, sw_write_result *out, gosw_err *err) {
    sw_param stack[GOSW_STACK_PARAMS];
    sw_statement *s = (sw_statement *)malloc((n_stmts ? n_stmts : 1) * sizeof(sw_statement));
    if (s == NULL) return gosw_local_error(SW_STATUS_ERROR, "out of memory", err);
    sw_param *p = gosw_params(buf, args, n_args, stack);
    if (p == NULL) {
        free(s);
        return gosw_local_error(SW_STATUS_ERROR, "out of memory", err);
    }
    for (size_t i = 0; i < n_stmts; i++) {
        s[i].sql = buf + stmts[i].sql_off;
        s[i].params = stmts[i].n_args ? p + stmts[i].first_arg : NULL;
        s[i].n_params = stmts[i].n_args;
    }
    sw_status st = sw_writer_batch(w, n_stmts ? s : NULL, n_stmts, transactional, out);
    st = gosw_fail(st, err);
    gosw_params_free(p, stack);
    free(s);
    return st;
}

static sw_status gosw_txn_trampoline(void *userdata, sw_txn *txn) {
    sw_txn *outer = gosw_current_txn;
    gosw_current_txn = txn;
    gosw_callback_depth++;
    sw_status st = goswTxnRun((uintptr_t)userdata, txn);
    gosw_callback_depth--;
    gosw_current_txn = outer;
    return st;
}

sw_status gosw_transaction(const sw_writer *w, uintptr_t handle, gosw_err *err) {
    return gosw_fail(sw_writer_transaction(w, gosw_txn_trampoline, (void *)handle), err);
}

static sw_status gosw_check_txn(sw_txn *txn, gosw_err *err) {
    if (txn == NULL || txn != gosw_current_txn)
        return gosw_local_error(SW_STATUS_MISUSE,
                                "Tx used outside its callback (after it returned, or from another goroutine)",
                                err);
    return SW_STATUS_OK;
}

sw_status gosw_txn_execute(sw_txn *txn, const char *buf, size_t sql_off,
                           const gosw_arg *args, size_t n_args,
                           sw_write_result *out, gosw_err *err) {
    sw_status st = gosw_check_txn(txn, err);
    if (st != SW_STATUS_OK) return st;
    sw_param stack[GOSW_STACK_PARAMS];
    sw_param *p = gosw_params(buf, args, n_args, stack);
    if (p == NULL) return gosw_local_error(SW_STATUS_ERROR, "out of memory", err);
    st = gosw_fail(sw_txn_execute(txn, buf + sql_off, n_args ? p : NULL, n_args, out), err);
    gosw_params_free(p, stack);
    return st;
}

/* Flattens rows into a gosw_table (one malloc for names and cells). Takes
 * ownership of rows: on failure they are freed. */
static sw_status gosw_collect(const sw_rows *rows, gosw_table *out, gosw_err *err) {
    size_t nrows = sw_rows_row_count(rows);
    size_t ncols = sw_rows_column_count(rows);
    size_t ncells = nrows * ncols;
    if (ncols != 0 && ncells / ncols != nrows) {
        sw_rows_free(rows);
        return gosw_local_error(SW_STATUS_ERROR, "result too large", err);
    }
    size_t size = ncols * sizeof(char *) + ncells * sizeof(gosw_cell);
    /* cells first: they have the strictest alignment */
    char *block = (char *)malloc(size ? size : 1);
    if (block == NULL) {
        sw_rows_free(rows);
        return gosw_local_error(SW_STATUS_ERROR, "out of memory", err);
    }
    gosw_cell *cells = (gosw_cell *)block;
    const char **names = (const char **)(block + ncells * sizeof(gosw_cell));
    for (size_t c = 0; c < ncols; c++) {
        const char *n = sw_rows_column_name(rows, c);
        names[c] = n ? n : "";
    }
    for (size_t r = 0; r < nrows; r++) {
        for (size_t c = 0; c < ncols; c++) {
            gosw_cell *cell = &cells[r * ncols + c];
            cell->type = sw_rows_type(rows, r, c);
            cell->integer = 0;
            cell->real = 0;
            cell->data = NULL;
            cell->len = 0;
            switch (cell->type) {
            case SW_TYPE_INTEGER: cell->integer = sw_rows_int64(rows, r, c); break;
            case SW_TYPE_FLOAT: cell->real = sw_rows_double(rows, r, c); break;
            case SW_TYPE_TEXT: cell->data = sw_rows_text(rows, r, c, &cell->len); break;
            case SW_TYPE_BLOB: cell->data = sw_rows_blob(rows, r, c, &cell->len); break;
            default: break;
            }
        }
    }
    out->rows = rows;
    out->nrows = nrows;
    out->ncols = ncols;
    out->names = names;
    out->cells = cells;
    return SW_STATUS_OK;
}

void gosw_table_free(gosw_table *t) {
    if (t == NULL) return;
    free(t->cells); /* the block starts with the cells */
    sw_rows_free(t->rows);
    t->rows = NULL;
    t->cells = NULL;
    t->names = NULL;
}

sw_status gosw_txn_query(sw_txn *txn, const char *buf, size_t sql_off,
                         const gosw_arg *args, size_t n_args,
                         gosw_table *out, gosw_err *err) {
    sw_status st = gosw_check_txn(txn, err);
    if (st != SW_STATUS_OK) return st;
    sw_param stack[GOSW_STACK_PARAMS];
    sw_param *p = gosw_params(buf, args, n_args, stack);
    if (p == NULL) return gosw_local_error(SW_STATUS_ERROR, "out of memory", err);
    const sw_rows *rows = NULL;
    st = gosw_fail(sw_txn_query(txn, buf + sql_off, n_args ? p : NULL, n_args, &rows), err);
    gosw_params_free(p, stack);
    if (st != SW_STATUS_OK) return st;
    return gosw_collect(rows, out, err);
}

sw_status gosw_flush(const sw_writer *w, uint32_t timeout_ms, gosw_err *err) {
    return gosw_fail(sw_writer_flush(w, timeout_ms), err);
}

sw_status gosw_query(const sw_writer *w, const char *buf, size_t sql_off,
                     const gosw_arg *args, size_t n_args,
                     gosw_table *out, gosw_err *err) {
    sw_param stack[GOSW_STACK_PARAMS];
    sw_param *p = gosw_params(buf, args, n_args, stack);
    if (p == NULL) return gosw_local_error(SW_STATUS_ERROR, "out of memory", err);
    const sw_rows *rows = NULL;
    sw_status st = gosw_fail(sw_writer_query(w, buf + sql_off, n_args ? p : NULL, n_args, &rows), err);
    gosw_params_free(p, stack);
    if (st != SW_STATUS_OK) return st;
    return gosw_collect(rows, out, err);
}

sw_status gosw_read(const sw_writer *w, const char *buf, size_t key_off, size_t sql_off,
                    const gosw_arg *args, size_t n_args,
                    gosw_table *out, gosw_err *err) {
    sw_param stack[GOSW_STACK_PARAMS];
    sw_param *p = gosw_params(buf, args, n_args, stack);
    if (p == NULL) return gosw_local_error(SW_STATUS_ERROR, "out of memory", err);
    const sw_rows *rows = NULL;
    sw_status st = gosw_fail(
        sw_writer_read(w, buf + key_off, buf + sql_off, n_args ? p : NULL, n_args, &rows), err);
    gosw_params_free(p, stack);
    if (st != SW_STATUS_OK) return st;
    return gosw_collect(rows, out, err);
}

sw_status gosw_invalidate(const sw_writer *w, const char *key, gosw_err *err) {
    return gosw_fail(sw_writer_invalidate(w, key), err);
}

sw_status gosw_stats(const sw_writer *w, sw_stats *out, gosw_err *err) {
    return gosw_fail(sw_writer_stats(w, out), err);
}

sw_status gosw_cache_stats(const sw_writer *w, sw_cache_stats *out, gosw_err *err) {
    return gosw_fail(sw_writer_cache_stats(w, out), err);
}

sw_status gosw_poll_signals(const sw_writer *w, const char *pattern, uint64_t after,
                            gosw_signals *out, gosw_err *err) {
    const sw_signals *s = NULL;
    sw_status st = gosw_fail(sw_writer_poll_signals(w, pattern, after, &s), err);
    if (st != SW_STATUS_OK) return st;
    size_t n = sw_signals_count(s);
    const sw_signal **items = (const sw_signal **)malloc((n ? n : 1) * sizeof(sw_signal *));
    if (items == NULL) {
        sw_signals_free(s);
        return gosw_local_error(SW_STATUS_ERROR, "out of memory", err);
    }
    for (size_t i = 0; i < n; i++) items[i] = sw_signals_get(s, i);
    out->signals = s;
    out->items = items;
    out->count = n;
    out->missed = sw_signals_missed(s);
    return SW_STATUS_OK;
}

void gosw_signals_free(gosw_signals *s) {
    if (s == NULL) return;
    free((void *)s->items);
    sw_signals_free(s->signals);
    s->items = NULL;
    s->signals = NULL;
}

static void gosw_signal_trampoline(void *userdata, const sw_signal *signal) {
    gosw_callback_depth++;
    goswSignal((uintptr_t)userdata, (sw_signal *)signal);
    gosw_callback_depth--;
}

static void gosw_signal_free_trampoline(void *userdata) {
    goswSignalFree((uintptr_t)userdata);
}

sw_status gosw_subscribe(const sw_writer *w, const char *pattern, uintptr_t handle,
                         uint64_t *out, gosw_err *err) {
    return gosw_fail(sw_writer_subscribe(w, pattern, gosw_signal_trampoline, (void *)handle,
                                         gosw_signal_free_trampoline, out),
                     err);
}

sw_status gosw_unsubscribe(const sw_writer *w, uint64_t id, gosw_err *err) {
    return gosw_fail(sw_writer_unsubscribe(w, id), err);
}

sw_status gosw_raise(const sw_writer *w, const char *signal, gosw_err *err) {
    return gosw_fail(sw_writer_raise(w, signal), err);
}

sw_status gosw_operations_json(const sw_writer *w, char **out, gosw_err *err) {
    return gosw_fail(sw_writer_operations_json(w, out), err);
}

sw_status gosw_metrics_text(const sw_writer *w, char **out, gosw_err *err) {
    return gosw_fail(sw_writer_metrics_text(w, out), err);
}
