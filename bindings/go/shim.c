/*
 * shim.c — wrappers that call one sw_ function and copy its thread-local error out
 * before returning to Go, result flattening, and the C trampolines that the library
 * calls back. See shim.h for why.
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

static gosw_ret gosw_status(sw_status st) {
    gosw_ret r = {st, 0, NULL};
    if (st != SW_STATUS_OK) {
        const char *m = sw_last_error_message();
        r.sqlite_code = (int32_t)sw_last_error_sqlite_code();
        r.message = (m != NULL && m[0] != '\0') ? strdup(m) : NULL;
    }
    return r;
}

static gosw_ret gosw_local_error(sw_status st, const char *message) {
    gosw_ret r = {st, 0, strdup(message)};
    return r;
}

static gosw_ret gosw_oom(void) { return gosw_local_error(SW_STATUS_ERROR, "out of memory"); }

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

/* ---- result flattening ---- */

/* Appends one text/blob cell's bytes at *pos if they fit; always advances *pos. */
static void gosw_put(gosw_cell *cell, uint32_t type, const void *data, size_t len,
                     char *out, size_t cap, size_t *pos, bool *fits) {
    if (*fits) {
        if (len > cap - *pos) {
            *fits = false;
        } else {
            if (len) memcpy(out + *pos, data, len);
            cell->type = type;
            cell->off = *pos;
            cell->len = len;
        }
    }
    *pos += len;
}

/* Writes rows into out when they fit in cap bytes; returns the bytes they need. */
static size_t gosw_fill(const sw_rows *rows, size_t nrows, size_t ncols, char *out, size_t cap) {
    size_t ncells = ncols + nrows * ncols;
    size_t pos = ncells * sizeof(gosw_cell);
    bool fits = out != NULL && pos <= cap;
    gosw_cell *cells = (gosw_cell *)out;
    for (size_t c = 0; c < ncols; c++) {
        const char *n = sw_rows_column_name(rows, c);
        if (n == NULL) n = "";
        gosw_cell *cell = fits ? &cells[c] : NULL;
        if (cell) memset(cell, 0, sizeof *cell);
        gosw_put(cell, SW_TYPE_TEXT, n, strlen(n), out, cap, &pos, &fits);
    }
    for (size_t r = 0; r < nrows; r++) {
        for (size_t c = 0; c < ncols; c++) {
            uint32_t type = sw_rows_type(rows, r, c);
            gosw_cell *cell = fits ? &cells[ncols + r * ncols + c] : NULL;
            if (cell) {
                memset(cell, 0, sizeof *cell);
                cell->type = type;
            }
            size_t len = 0;
            const void *p;
            switch (type) {
            case SW_TYPE_INTEGER:
                if (cell) cell->integer = sw_rows_int64(rows, r, c);
                break;
            case SW_TYPE_FLOAT:
                if (cell) cell->real = sw_rows_double(rows, r, c);
                break;
            case SW_TYPE_TEXT:
                p = sw_rows_text(rows, r, c, &len);
                gosw_put(cell, type, p, len, out, cap, &pos, &fits);
                break;
            case SW_TYPE_BLOB:
                p = sw_rows_blob(rows, r, c, &len);
                gosw_put(cell, type, p, len, out, cap, &pos, &fits);
                break;
            default:
                break;
            }
        }
    }
    return pos;
}

/* Finishes a call that produced rows: flattens them into out if they fit (and frees
 * them), otherwise hands them back with the size they need. */
static gosw_rows_ret gosw_rows_result(sw_status st, const sw_rows *rows, char *out, size_t cap) {
    gosw_rows_ret ret;
    memset(&ret, 0, sizeof ret);
    ret.r = gosw_status(st);
    if (st != SW_STATUS_OK) return ret;
    size_t nrows = sw_rows_row_count(rows), ncols = sw_rows_column_count(rows);
    if (ncols != 0 && (nrows + 1) > SIZE_MAX / ncols / sizeof(gosw_cell)) {
        sw_rows_free(rows);
        ret.r = gosw_local_error(SW_STATUS_ERROR, "result too large");
        return ret;
    }
    ret.nrows = nrows;
    ret.ncols = ncols;
    ret.need = gosw_fill(rows, nrows, ncols, out, cap);
    if (ret.need <= cap) {
        sw_rows_free(rows);
    } else {
        ret.rows = rows;
    }
    return ret;
}

void gosw_rows_fill_free(const sw_rows *rows, char *out, size_t cap) {
    gosw_fill(rows, sw_rows_row_count(rows), sw_rows_column_count(rows), out, cap);
    sw_rows_free(rows);
}

/* ---- writer ---- */

gosw_ret gosw_open(const char *conn, const sw_writer **out) {
    return gosw_status(sw_writer_open(conn, out));
}

gosw_ret gosw_close(const sw_writer *w) { return gosw_status(sw_writer_close(w)); }

gosw_ret gosw_execute(const sw_writer *w, const char *buf, size_t sql_off,
                      const gosw_arg *args, size_t n_args, sw_write_result *out) {
    sw_param stack[GOSW_STACK_PARAMS];
    sw_param *p = gosw_params(buf, args, n_args, stack);
    if (p == NULL) return gosw_oom();
    gosw_ret r = gosw_status(sw_writer_execute(w, buf + sql_off, n_args ? p : NULL, n_args, out));
    gosw_params_free(p, stack);
    return r;
}

gosw_ret gosw_execute_and_invalidate(const sw_writer *w, const char *buf, size_t sql_off,
                                     const gosw_arg *args, size_t n_args,
                                     const size_t *key_offs, size_t n_keys, sw_write_result *out) {
    sw_param stack[GOSW_STACK_PARAMS];
    const char *kstack[GOSW_STACK_PARAMS];
    const char **keys = kstack;
    if (n_keys > GOSW_STACK_PARAMS) {
        keys = (const char **)malloc(n_keys * sizeof(char *));
        if (keys == NULL) return gosw_oom();
    }
    for (size_t i = 0; i < n_keys; i++) keys[i] = buf + key_offs[i];
    sw_param *p = gosw_params(buf, args, n_args, stack);
    if (p == NULL) {
        if (keys != kstack) free(keys);
        return gosw_oom();
    }
    gosw_ret r = gosw_status(sw_writer_execute_and_invalidate(
        w, buf + sql_off, n_args ? p : NULL, n_args, n_keys ? keys : NULL, n_keys, out));
    gosw_params_free(p, stack);
    if (keys != kstack) free(keys);
    return r;
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

gosw_ret gosw_enqueue(const sw_writer *w, const char *buf, size_t sql_off,
                      const gosw_arg *args, size_t n_args, uintptr_t handle) {
    sw_param stack[GOSW_STACK_PARAMS];
    sw_param *p = gosw_params(buf, args, n_args, stack);
    if (p == NULL) return gosw_oom();
    gosw_ret r = gosw_status(sw_writer_enqueue(w, buf + sql_off, n_args ? p : NULL, n_args,
                                               handle ? gosw_write_trampoline : NULL,
                                               (void *)handle));
    gosw_params_free(p, stack);
    return r;
}

/* sw_writer_enqueue with the caller's own C callback (park.c delivers completions to Go in
 * batches instead of calling into Go once per write). */
gosw_ret gosw_enqueue_cb(const sw_writer *w, const char *buf, size_t sql_off,
                         const gosw_arg *args, size_t n_args, sw_write_callback cb,
                         void *userdata) {
    sw_param stack[GOSW_STACK_PARAMS];
    sw_param *p = gosw_params(buf, args, n_args, stack);
    if (p == NULL) return gosw_oom();
    gosw_ret r = gosw_status(sw_writer_enqueue(w, buf + sql_off, n_args ? p : NULL, n_args, cb, userdata));
    gosw_params_free(p, stack);
    return r;
}

gosw_ret gosw_batch(const sw_writer *w, const char *buf, const gosw_stmt *stmts, size_t n_stmts,
                    const gosw_arg *args, size_t n_args, bool transactional, sw_write_result *out) {
    sw_param stack[GOSW_STACK_PARAMS];
    sw_statement *s = (sw_statement *)malloc((n_stmts ? n_stmts : 1) * sizeof(sw_statement));
    if (s == NULL) return gosw_oom();
    sw_param *p = gosw_params(buf, args, n_args, stack);
    if (p == NULL) {
        free(s);
        return gosw_oom();
    }
    for (size_t i = 0; i < n_stmts; i++) {
        s[i].sql = buf + stmts[i].sql_off;
        s[i].params = stmts[i].n_args ? p + stmts[i].first_arg : NULL;
        s[i].n_params = stmts[i].n_args;
    }
    gosw_ret r = gosw_status(sw_writer_batch(w, n_stmts ? s : NULL, n_stmts, transactional, out));
    gosw_params_free(p, stack);
    free(s);
    return r;
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

gosw_ret gosw_transaction(const sw_writer *w, uintptr_t handle) {
    return gosw_status(sw_writer_transaction(w, gosw_txn_trampoline, (void *)handle));
}

static bool gosw_txn_ok(sw_txn *txn) { return txn != NULL && txn == gosw_current_txn; }

static const char gosw_txn_misuse[] =
    "Tx used outside its callback (after it returned, or from another goroutine)";

gosw_ret gosw_txn_execute(sw_txn *txn, const char *buf, size_t sql_off,
                          const gosw_arg *args, size_t n_args, sw_write_result *out) {
    if (!gosw_txn_ok(txn)) return gosw_local_error(SW_STATUS_MISUSE, gosw_txn_misuse);
    sw_param stack[GOSW_STACK_PARAMS];
    sw_param *p = gosw_params(buf, args, n_args, stack);
    if (p == NULL) return gosw_oom();
    gosw_ret r = gosw_status(sw_txn_execute(txn, buf + sql_off, n_args ? p : NULL, n_args, out));
    gosw_params_free(p, stack);
    return r;
}

gosw_rows_ret gosw_txn_query(sw_txn *txn, const char *buf, size_t sql_off,
                             const gosw_arg *args, size_t n_args, char *out, size_t out_cap) {
    gosw_rows_ret ret;
    memset(&ret, 0, sizeof ret);
    if (!gosw_txn_ok(txn)) {
        ret.r = gosw_local_error(SW_STATUS_MISUSE, gosw_txn_misuse);
        return ret;
    }
    sw_param stack[GOSW_STACK_PARAMS];
    sw_param *p = gosw_params(buf, args, n_args, stack);
    if (p == NULL) {
        ret.r = gosw_oom();
        return ret;
    }
    const sw_rows *rows = NULL;
    sw_status st = sw_txn_query(txn, buf + sql_off, n_args ? p : NULL, n_args, &rows);
    gosw_params_free(p, stack);
    return gosw_rows_result(st, rows, out, out_cap);
}

gosw_ret gosw_flush(const sw_writer *w, uint32_t timeout_ms) {
    return gosw_status(sw_writer_flush(w, timeout_ms));
}

gosw_rows_ret gosw_query(const sw_writer *w, const char *buf, size_t sql_off,
                         const gosw_arg *args, size_t n_args, char *out, size_t out_cap) {
    sw_param stack[GOSW_STACK_PARAMS];
    sw_param *p = gosw_params(buf, args, n_args, stack);
    if (p == NULL) {
        gosw_rows_ret ret;
        memset(&ret, 0, sizeof ret);
        ret.r = gosw_oom();
        return ret;
    }
    const sw_rows *rows = NULL;
    sw_status st = sw_writer_query(w, buf + sql_off, n_args ? p : NULL, n_args, &rows);
    gosw_params_free(p, stack);
    return gosw_rows_result(st, rows, out, out_cap);
}

gosw_rows_ret gosw_read(const sw_writer *w, const char *buf, size_t key_off, size_t sql_off,
                        const gosw_arg *args, size_t n_args, char *out, size_t out_cap) {
    sw_param stack[GOSW_STACK_PARAMS];
    sw_param *p = gosw_params(buf, args, n_args, stack);
    if (p == NULL) {
        gosw_rows_ret ret;
        memset(&ret, 0, sizeof ret);
        ret.r = gosw_oom();
        return ret;
    }
    const sw_rows *rows = NULL;
    sw_status st = sw_writer_read(w, buf + key_off, buf + sql_off, n_args ? p : NULL, n_args, &rows);
    gosw_params_free(p, stack);
    return gosw_rows_result(st, rows, out, out_cap);
}

gosw_ret gosw_invalidate(const sw_writer *w, const char *key) {
    return gosw_status(sw_writer_invalidate(w, key));
}

gosw_ret gosw_raise(const sw_writer *w, const char *signal) {
    return gosw_status(sw_writer_raise(w, signal));
}

gosw_ret gosw_stats(const sw_writer *w, sw_stats *out) {
    return gosw_status(sw_writer_stats(w, out));
}

gosw_ret gosw_cache_stats(const sw_writer *w, sw_cache_stats *out) {
    return gosw_status(sw_writer_cache_stats(w, out));
}

/* ---- signals ---- */

gosw_signals_ret gosw_poll_signals(const sw_writer *w, const char *pattern, uint64_t after) {
    gosw_signals_ret ret;
    memset(&ret, 0, sizeof ret);
    const sw_signals *s = NULL;
    ret.r = gosw_status(sw_writer_poll_signals(w, pattern, after, &s));
    if (ret.r.status != SW_STATUS_OK) return ret;
    size_t n = sw_signals_count(s);
    const sw_signal **items = (const sw_signal **)malloc((n ? n : 1) * sizeof(sw_signal *));
    if (items == NULL) {
        sw_signals_free(s);
        ret.r = gosw_oom();
        return ret;
    }
    for (size_t i = 0; i < n; i++) items[i] = sw_signals_get(s, i);
    ret.signals = s;
    ret.items = items;
    ret.count = n;
    ret.missed = sw_signals_missed(s);
    return ret;
}

void gosw_signals_free(const sw_signals *signals, const sw_signal **items) {
    free((void *)items);
    sw_signals_free(signals);
}

static void gosw_signal_trampoline(void *userdata, const sw_signal *signal) {
    gosw_callback_depth++;
    goswSignal((uintptr_t)userdata, (sw_signal *)signal);
    gosw_callback_depth--;
}

static void gosw_signal_free_trampoline(void *userdata) {
    goswSignalFree((uintptr_t)userdata);
}

gosw_ret gosw_subscribe(const sw_writer *w, const char *pattern, uintptr_t handle, uint64_t *out) {
    return gosw_status(sw_writer_subscribe(w, pattern, gosw_signal_trampoline, (void *)handle,
                                           gosw_signal_free_trampoline, out));
}

gosw_ret gosw_unsubscribe(const sw_writer *w, uint64_t id) {
    return gosw_status(sw_writer_unsubscribe(w, id));
}

/* ---- text ---- */

gosw_text_ret gosw_operations_json(const sw_writer *w) {
    gosw_text_ret ret = {{0, 0, NULL}, NULL};
    ret.r = gosw_status(sw_writer_operations_json(w, &ret.text));
    return ret;
}

gosw_text_ret gosw_metrics_text(const sw_writer *w) {
    gosw_text_ret ret = {{0, 0, NULL}, NULL};
    ret.r = gosw_status(sw_writer_metrics_text(w, &ret.text));
    return ret;
}
