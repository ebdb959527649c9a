/*
 * libFuzzer target over the C ABI (include/singlewriter.h), linked against
 * target/release/libsinglewriter.a. Each input is decoded into a short program of calls:
 *
 *   1. one or two sw_writer_open calls: ":memory:", a file in the scratch directory, that file
 *      with fuzzed options appended, a fuzzed `file:` URI, or a wholly fuzzed connection string;
 *   2. up to 48 operations: execute, query, read, enqueue (with a callback that counts, and
 *      sometimes calls a blocking function from inside), batch (transactional or not),
 *      transaction (sw_txn_execute / sw_txn_query inside, plus a blocking call that must be
 *      MISUSE), execute_and_invalidate, invalidate, raise, poll_signals (fuzzed pattern,
 *      after_seq, sw_signals_get at any index), subscribe / unsubscribe, flush, the statistics
 *      and JSON functions, every sw_rows accessor at any row and column, sw_rows_to_json, free,
 *      close and use after close, sw_status_str of any value.
 *
 * Strings are fuzzed bytes (invalid UTF-8 included) copied into their own heap blocks; a
 * parameter has any `type` (valid or not), any name (NULL, prefixed, odd, invalid UTF-8) and a
 * TEXT/BLOB `len` bounded by the input's size (the bytes are really there). Checks, each an
 * abort with a message:
 *   - no function returns SW_STATUS_PANIC;
 *   - MISUSE only where the contract gives it (a blocking call inside a callback);
 *   - out-parameters are untouched on failure;
 *   - a closed handle answers SW_STATUS_CLOSED;
 *   - text from sw_rows_text is NUL-terminated at its length; every byte of every returned
 *     buffer is read (AddressSanitizer checks the bounds);
 *   - sw_signals_get is non-NULL below the count and NULL at it;
 *   - every enqueue callback fires exactly once and every subscription's userdata_free runs
 *     exactly once by the time the last handle is closed.
 * SW_FUZZ_TRACE=1 prints every call and its status to stderr (to read a reproducer):
 *   SW_FUZZ_TRACE=1 ./capi crash-<hash>
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "singlewriter.h"

/* ---------------------------------------------------------------- failures and setup */

static void fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "capi_fuzz: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (last error: %s)\n", sw_last_error_message());
    va_end(ap);
    abort();
}

static char scratch[512];
static int trace; /* SW_FUZZ_TRACE=1: print every call (to replay a reproducer) */

#define TRACE(...)                            \
    do {                                      \
        if (trace) fprintf(stderr, __VA_ARGS__); \
    } while (0)

static void remove_scratch(void) {
    if (chdir("/") == 0) {
        DIR *d = opendir(scratch);
        if (d) {
            struct dirent *e;
            char path[1024];
            while ((e = readdir(d)) != NULL) {
                if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
                snprintf(path, sizeof path, "%s/%s", scratch, e->d_name);
                unlink(path);
            }
            closedir(d);
        }
        rmdir(scratch);
    }
}

static void setup_once(void) {
    if (scratch[0]) return;
    const char *base = getenv("SW_FUZZ_TMP");
    snprintf(scratch, sizeof scratch, "%s/sw-capi-fuzz-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(scratch)) fail("mkdtemp %s", scratch);
    if (chdir(scratch) != 0) fail("chdir %s", scratch);
    atexit(remove_scratch);
    const char *t = getenv("SW_FUZZ_TRACE");
    trace = t && strcmp(t, "1") == 0;
}

/* Remove every file the input created (all handles are closed by then). */
static void clean_scratch(void) {
    DIR *d = opendir(".");
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) unlink(e->d_name);
    closedir(d);
}

/* ---------------------------------------------------------------- input decoding */

typedef struct {
    const uint8_t *p;
    size_t n;
} input;

static uint8_t u8(input *in) {
    if (!in->n) return 0;
    in->n--;
    return *in->p++;
}

static uint64_t u64n(input *in, int bytes) {
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++) v = v << 8 | u8(in);
    return v;
}

/* Owned allocations of one input, freed at its end. */
static void *owned[4096];
static size_t n_owned;

static void *keep(void *p) {
    if (n_owned == sizeof owned / sizeof *owned) fail("too many allocations in one input");
    owned[n_owned++] = p;
    return p;
}

static void free_owned(void) {
    while (n_owned) free(owned[--n_owned]);
}

/* Fuzzed bytes of a length taken from the input (bounded by what is left), in a block of
 * their own; `nul` adds a terminating NUL (a NUL inside ends the C string early). */
static uint8_t *bytes(input *in, size_t *out_len, int nul) {
    size_t len = u8(in);
    if (len == 255) len = (size_t)u8(in) << 8 | u8(in);
    if (len > in->n) len = in->n;
    uint8_t *b = keep(malloc(len + (nul ? 1 : 0) + (len == 0)));
    memcpy(b, in->p, len);
    in->p += len;
    in->n -= len;
    if (nul) b[len] = 0;
    *out_len = len;
    return b;
}

static char *str(input *in) {
    size_t len;
    return (char *)bytes(in, &len, 1);
}

/* ---------------------------------------------------------------- SQL */

static const char *const SQL[] = {
    "CREATE TABLE IF NOT EXISTS t(a INTEGER PRIMARY KEY, b, c)",
    "INSERT INTO t(b, c) VALUES (?, ?)",
    "INSERT INTO t(b, c) VALUES (@b, :c)",
    "INSERT INTO t(a, b) VALUES ($a, ?2)",
    "UPDATE t SET b = ?1 WHERE a = ?2",
    "DELETE FROM t WHERE a % 3 = 0",
    "SELECT * FROM t",
    "SELECT a, b, c, typeof(c) FROM t WHERE a > ? ORDER BY a LIMIT 20",
    "SELECT @x, :y, $z",
    "SELECT ?1, ?2, ?3",
    "SELECT count(*), sum(a), avg(a), group_concat(b) FROM t",
    "SELECT x'00ff', 'a' || char(0) || 'b', 1.5, NULL, 9223372036854775807",
    "SELECT CAST(x'ff' AS TEXT)",
    "PRAGMA user_version",
    "PRAGMA user_version = 3",
    "PRAGMA journal_mode",
    "VACUUM",
    "BEGIN",
    "COMMIT",
    "SAVEPOINT s",
    "CREATE INDEX IF NOT EXISTS t_b ON t(b)",
    "DROP TABLE IF EXISTS t",
    "SELECT load_extension('x')",
    "",
    ";",
    "-- nothing",
    "INSERT INTO t(b) VALUES (1); INSERT INTO t(b) VALUES (2)",
    "INSERT INTO missing VALUES (1)",
    "SELEC 1",
};
#define N_SQL (sizeof SQL / sizeof *SQL)

/* A SQL text: one of the list above, or fuzzed bytes. */
static const char *sql_text(input *in) {
    uint8_t pick = u8(in);
    if (pick < 160) return SQL[pick % N_SQL];
    return str(in);
}

/* ---------------------------------------------------------------- parameters */

static const char *param_name(input *in, int i) {
    uint8_t k = u8(in);
    char *name;
    switch (k % 8) {
        case 0:
        case 1:
        case 2: return NULL; /* positional */
        case 3: return (const char *[]){"@b", ":c", "$a", "b", "@x", ":y", "$z", "x"}[u8(in) % 8];
        case 4:
            name = keep(malloc(16));
            snprintf(name, 16, "%cp%d", "@:$?"[u8(in) % 4], i);
            return name;
        case 5: return (const char *[]){"", "@", ":", "$", "?", "?1", "@@x", " x", "x y", "é"}[u8(in) % 10];
        default: return str(in); /* any bytes, invalid UTF-8 included */
    }
}

/* Up to 16 parameters, or `many` generated named ones ("@p<i>", for SELECT-less SQL they are
 * simply unknown names). */
static sw_param *params(input *in, size_t *out_n) {
    uint8_t head = u8(in);
    size_t n = head % 17;
    if (head >= 250) n = 64 + (size_t)u8(in) * 8; /* many */
    sw_param *ps = keep(calloc(n ? n : 1, sizeof *ps));
    for (size_t i = 0; i < n; i++) {
        sw_param *p = &ps[i];
        if (i >= 16 && head >= 250) {
            char *name = keep(malloc(16));
            snprintf(name, 16, "@p%zu", i);
            p->name = name;
            p->value.type = SW_TYPE_INTEGER;
            p->value.integer = (int64_t)i;
            continue;
        }
        p->name = param_name(in, (int)i);
        uint8_t t = u8(in);
        p->value.type = t < 240 ? (uint32_t)(t % 5 + 1) : (uint32_t)u64n(in, 4); /* any type value */
        p->value.integer = (int64_t)u64n(in, u8(in) % 9);
        uint64_t bits = u64n(in, 8);
        memcpy(&p->value.real, &bits, sizeof bits);
        if (p->value.type == SW_TYPE_TEXT || p->value.type == SW_TYPE_BLOB || u8(in) < 16) {
            size_t len;
            uint8_t *b = bytes(in, &len, 0);
            p->value.data = len == 0 && (u8(in) & 1) ? NULL : b;
            p->value.len = len;
        }
    }
    *out_n = n;
    return ps;
}

/* ---------------------------------------------------------------- handles and callbacks */

#define MAX_WRITERS 2
#define MAX_ROWS 4
#define MAX_ENQUEUED 64
#define MAX_SUBS 4

static const sw_writer *writers[MAX_WRITERS];
static int writer_closed[MAX_WRITERS];
static const sw_rows *rows[MAX_ROWS];

typedef struct {
    const sw_writer *writer; /* for the blocking call from inside the callback */
    int call_inside;
    atomic_int fired;
    atomic_int inner_status; /* status of the blocking call inside, or -1 */
} enq_slot;
static enq_slot enq[MAX_ENQUEUED];
static size_t n_enq;

static void on_write(void *userdata, sw_status status, const sw_write_result *result, const char *message) {
    enq_slot *e = userdata;
    if (status == SW_STATUS_PANIC) fail("enqueue callback got PANIC: %s", message ? message : "");
    if (status == SW_STATUS_OK && result == NULL) fail("enqueue callback: OK without a result");
    if (status != SW_STATUS_OK && message == NULL) fail("enqueue callback: status %u without a message", status);
    if (message) (void)strlen(message);
    if (e->call_inside) {
        sw_status s = sw_writer_execute(e->writer, "SELECT 1", NULL, 0, NULL);
        atomic_store(&e->inner_status, (int)s);
    }
    atomic_fetch_add(&e->fired, 1);
}

typedef struct {
    atomic_int freed;
    atomic_int calls;
    uint64_t id;
    int writer;
    int active;
} sub_slot;
static sub_slot subs[MAX_SUBS];
static size_t n_subs;

static void on_signal(void *userdata, const sw_signal *signal) {
    sub_slot *s = userdata;
    if (!signal || !signal->name || !signal->key) fail("subscription callback: bad signal");
    (void)strlen(signal->name);
    (void)strlen(signal->key);
    atomic_fetch_add(&s->calls, 1);
}

static void on_free(void *userdata) {
    sub_slot *s = userdata;
    atomic_fetch_add(&s->freed, 1);
}

/* ---------------------------------------------------------------- checks */

static const char *current_sql;

static void check(const char *what, sw_status s) {
    TRACE("  %s -> %u (sql \"%s\")\n", what, s, current_sql ? current_sql : "-");
    if (s == SW_STATUS_PANIC) fail("%s returned SW_STATUS_PANIC (sql %s)", what, current_sql ? current_sql : "-");
    if (s == SW_STATUS_MISUSE)
        fail("%s returned MISUSE outside any callback (sql \"%s\")", what, current_sql ? current_sql : "-");
    (void)strlen(sw_last_error_message());
    (void)strlen(sw_status_str(s));
}

/* A handle that was closed answers CLOSED (or, checked first, an error about the other
 * arguments). */
static void check_closed(const char *what, int w, sw_status s) {
    if (writer_closed[w] && s != SW_STATUS_CLOSED && s != SW_STATUS_INVALID_ARGUMENT && s != SW_STATUS_INVALID_UTF8)
        fail("%s on a closed handle returned %u, not CLOSED", what, s);
}

static void read_all(const void *p, size_t n) {
    volatile uint8_t sink = 0;
    for (size_t i = 0; i < n; i++) sink ^= ((const uint8_t *)p)[i];
    (void)sink;
}

static void poke_rows(input *in, const sw_rows *r) {
    size_t nr = sw_rows_row_count(r), nc = sw_rows_column_count(r);
    for (int k = 0; k < 4; k++) {
        uint8_t how = u8(in);
        size_t row = how & 1 ? (size_t)u64n(in, 8) : (nr ? u8(in) % (nr + 1) : 0);
        size_t col = how & 2 ? (size_t)u64n(in, 8) : (nc ? u8(in) % (nc + 1) : 0);
        const char *name = sw_rows_column_name(r, col);
        if (col < nc && !name) fail("column_name(%zu) of %zu is NULL", col, nc);
        if (col >= nc && name) fail("column_name(%zu) of %zu is not NULL", col, nc);
        if (name) (void)strlen(name);
        uint32_t type = sw_rows_type(r, row, col);
        if (type < SW_TYPE_INTEGER || type > SW_TYPE_NULL) fail("sw_rows_type gave %u", type);
        if ((row >= nr || col >= nc) && type != SW_TYPE_NULL) fail("out-of-range cell has type %u", type);
        (void)sw_rows_int64(r, row, col);
        (void)sw_rows_double(r, row, col);
        size_t len = 12345;
        const char *text = sw_rows_text(r, row, col, how & 4 ? NULL : &len);
        if (text && !(how & 4)) {
            read_all(text, len + 1);
            if (text[len] != 0) fail("sw_rows_text not NUL-terminated at its length %zu", len);
        }
        if (!text && !(how & 4) && len != 0) fail("sw_rows_text NULL with length %zu", len);
        if (type == SW_TYPE_TEXT && !text) fail("TEXT cell without text");
        len = 12345;
        const uint8_t *blob = sw_rows_blob(r, row, col, how & 8 ? NULL : &len);
        if (blob && !(how & 8)) read_all(blob, len);
        if (!blob && !(how & 8) && len != 0) fail("sw_rows_blob NULL with length %zu", len);
    }
    if (u8(in) < 64) {
        char *json = (char *)0x1;
        sw_status s = sw_rows_to_json(r, &json);
        check("sw_rows_to_json", s);
        if (s == SW_STATUS_OK) {
            (void)strlen(json);
            sw_string_free(json);
        } else if (json != (char *)0x1) {
            fail("sw_rows_to_json wrote its out-param on failure");
        }
    }
}

static void keep_rows(const sw_rows *r, input *in) {
    poke_rows(in, r);
    int slot = u8(in) % MAX_ROWS;
    sw_rows_free(rows[slot]);
    rows[slot] = r;
}

/* ---------------------------------------------------------------- transactions */

typedef struct {
    input *in;
    const sw_writer *writer;
    int steps;
    sw_status ret;
    int ran;
} txn_ctx;

static sw_status txn_body(void *userdata, sw_txn *txn) {
    txn_ctx *c = userdata;
    c->ran = 1;
    for (int i = 0; i < c->steps; i++) {
        const char *sql = sql_text(c->in);
        size_t n;
        sw_param *ps = params(c->in, &n);
        uint8_t op = u8(c->in) % 4;
        sw_status s;
        if (op == 0) {
            const sw_rows *r = NULL;
            s = sw_txn_query(txn, sql, ps, n, &r);
            if (s == SW_STATUS_OK) {
                poke_rows(c->in, r);
                sw_rows_free(r);
            } else if (r) {
                fail("sw_txn_query wrote its out-param on failure");
            }
        } else if (op == 1) {
            /* A blocking call from inside the transaction callback: MISUSE (or an error about
             * its arguments, checked first), never a deadlock. */
            s = sw_writer_execute(c->writer, sql, ps, n, NULL);
            if (s != SW_STATUS_MISUSE && s != SW_STATUS_CLOSED && s != SW_STATUS_INVALID_ARGUMENT &&
                s != SW_STATUS_INVALID_UTF8)
                fail("sw_writer_execute inside a transaction returned %u, not MISUSE", s);
            s = sw_writer_flush(c->writer, 10);
            if (s != SW_STATUS_MISUSE && s != SW_STATUS_CLOSED)
                fail("sw_writer_flush inside a transaction returned %u, not MISUSE", s);
            continue;
        } else {
            sw_write_result res = {-7, -7};
            s = sw_txn_execute(txn, sql, ps, n, op == 2 ? &res : NULL);
            if (s != SW_STATUS_OK && (res.rows_affected != -7 || res.last_insert_rowid != -7))
                fail("sw_txn_execute wrote its out-param on failure");
        }
        /* Inside a transaction, VACUUM/PRAGMA/transaction control are MISUSE by design. */
        if (s == SW_STATUS_PANIC) fail("sw_txn_* returned PANIC for \"%s\"", sql);
    }
    return c->ret;
}

/* ---------------------------------------------------------------- connection strings */

/* Fuzzed connection text stays inside the scratch directory: no '/', '\\' or '%' (a `file:`
 * URI decodes %2F). */
static int confined(const char *s) {
    return !strpbrk(s, "/\\%");
}

static const char *connection_string(input *in) {
    uint8_t k = u8(in) % 6;
    char *s;
    const char *extra;
    switch (k) {
        case 0: return ":memory:";
        case 1: return "Data Source=fz.db;Busy Timeout=200";
        case 2:
            extra = str(in);
            s = keep(malloc(strlen(extra) + 64));
            sprintf(s, "Data Source=fz.db;Busy Timeout=200;%s", extra);
            return s;
        case 3:
            extra = str(in);
            s = keep(malloc(strlen(extra) + 64));
            sprintf(s, "file:fz2.db?%s", extra);
            return s;
        case 4:
            extra = str(in);
            s = keep(malloc(strlen(extra) + 64));
            sprintf(s, "Mode=Memory;Data Source=m%s", extra);
            return s;
        default: return str(in);
    }
}

/* ---------------------------------------------------------------- one input */

static void run_ops(input *in) {
    for (int op_count = 0; op_count < 48 && in->n > 0; op_count++) {
        uint8_t op = u8(in);
        int wi = u8(in) % MAX_WRITERS;
        const sw_writer *w = writers[wi];
        if (!w) continue;
        current_sql = NULL;
        TRACE("op %u on writer %d\n", op % 20, wi);
        switch (op % 20) {
            case 0:
            case 1: { /* execute */
                current_sql = sql_text(in);
                size_t n;
                sw_param *ps = params(in, &n);
                sw_write_result res = {-7, -7};
                sw_status s = sw_writer_execute(w, current_sql, ps, n, op & 32 ? &res : NULL);
                check("sw_writer_execute", s);
                check_closed("sw_writer_execute", wi, s);
                if (s != SW_STATUS_OK && (res.rows_affected != -7 || res.last_insert_rowid != -7))
                    fail("sw_writer_execute wrote its out-param on failure");
                break;
            }
            case 2:
            case 3: { /* query / read */
                current_sql = sql_text(in);
                size_t n;
                sw_param *ps = params(in, &n);
                const sw_rows *r = NULL;
                sw_status s;
                if (op % 20 == 2) {
                    s = sw_writer_query(w, current_sql, ps, n, &r);
                    check("sw_writer_query", s);
                    check_closed("sw_writer_query", wi, s);
                } else {
                    const char *key = u8(in) < 200 ? (const char *[]){"k", "k:1", "users:*", ""}[u8(in) % 4] : str(in);
                    s = sw_writer_read(w, key, current_sql, ps, n, &r);
                    check("sw_writer_read", s);
                    check_closed("sw_writer_read", wi, s);
                }
                if (s == SW_STATUS_OK) {
                    if (!r) fail("read/query OK without rows");
                    keep_rows(r, in);
                } else if (r) {
                    fail("read/query wrote its out-param on failure");
                }
                break;
            }
            case 4:
            case 5: { /* enqueue */
                current_sql = sql_text(in);
                size_t n;
                sw_param *ps = params(in, &n);
                if (n_enq == MAX_ENQUEUED) break;
                enq_slot *e = &enq[n_enq];
                e->writer = w;
                e->call_inside = u8(in) < 32;
                atomic_store(&e->fired, 0);
                atomic_store(&e->inner_status, -1);
                int with_cb = u8(in) < 230;
                sw_status s = sw_writer_enqueue(w, current_sql, ps, n, with_cb ? on_write : NULL, e);
                check("sw_writer_enqueue", s);
                check_closed("sw_writer_enqueue", wi, s);
                if (s == SW_STATUS_OK && with_cb) n_enq++;
                break;
            }
            case 6: { /* batch */
                size_t nst = u8(in) % 5;
                sw_statement *st = keep(calloc(nst ? nst : 1, sizeof *st));
                for (size_t i = 0; i < nst; i++) {
                    st[i].sql = u8(in) < 8 ? NULL : sql_text(in);
                    st[i].params = params(in, &st[i].n_params);
                }
                sw_write_result total = {-7, -7};
                sw_status s = sw_writer_batch(w, st, nst, u8(in) & 1, &total);
                current_sql = "(batch)";
                check("sw_writer_batch", s);
                check_closed("sw_writer_batch", wi, s);
                if (s != SW_STATUS_OK && (total.rows_affected != -7 || total.last_insert_rowid != -7))
                    fail("sw_writer_batch wrote its out-param on failure");
                break;
            }
            case 7: { /* transaction */
                txn_ctx c = {in, w, 0, SW_STATUS_OK, 0};
                c.steps = u8(in) % 5;
                /* Any status from the callback: not OK rolls back and is returned as it is. */
                if (u8(in) >= 200) c.ret = (sw_status)(u8(in) % 16);
                sw_status s = sw_writer_transaction(w, txn_body, &c);
                check_closed("sw_writer_transaction", wi, s);
                if (c.ran && c.ret != SW_STATUS_OK) {
                    /* Returned as it is; a value that is no status as SW_STATUS_ROLLBACK. */
                    if (s != c.ret && s != SW_STATUS_ROLLBACK)
                        fail("a transaction whose callback returned %u returned %u", c.ret, s);
                } else {
                    check("sw_writer_transaction", s);
                }
                break;
            }
            case 8: { /* execute_and_invalidate */
                current_sql = sql_text(in);
                size_t n;
                sw_param *ps = params(in, &n);
                size_t nk = u8(in) % 4;
                const char **keys = keep(calloc(nk ? nk : 1, sizeof *keys));
                for (size_t i = 0; i < nk; i++) keys[i] = u8(in) < 16 ? NULL : str(in);
                sw_status s = sw_writer_execute_and_invalidate(w, current_sql, ps, n, keys, nk, NULL);
                check("sw_writer_execute_and_invalidate", s);
                check_closed("sw_writer_execute_and_invalidate", wi, s);
                break;
            }
            case 9: { /* invalidate */
                sw_status s = sw_writer_invalidate(w, u8(in) < 16 ? NULL : str(in));
                check("sw_writer_invalidate", s);
                check_closed("sw_writer_invalidate", wi, s);
                break;
            }
            case 10: { /* raise */
                const char *sig = u8(in) < 128 ? (const char *[]){"cache.invalidate:*", "cache.invalidate:k", "app.event:x", "cache.invalidate:", ":", ""}[u8(in) % 6] : str(in);
                sw_status s = sw_writer_raise(w, sig);
                check("sw_writer_raise", s);
                check_closed("sw_writer_raise", wi, s);
                break;
            }
            case 11: { /* poll signals */
                const char *pattern = u8(in) < 64 ? NULL : u8(in) < 128 ? (const char *[]){"*", "write.*", "cache.*:*", "?", "**?*", ""}[u8(in) % 6] : str(in);
                uint64_t after = u8(in) < 128 ? u8(in) : u64n(in, 8);
                const sw_signals *sig = (const sw_signals *)0x1;
                sw_status s = sw_writer_poll_signals(w, pattern, after, &sig);
                check("sw_writer_poll_signals", s);
                check_closed("sw_writer_poll_signals", wi, s);
                if (s != SW_STATUS_OK) {
                    if (sig != (const sw_signals *)0x1) fail("poll wrote its out-param on failure");
                    break;
                }
                size_t count = sw_signals_count(sig);
                (void)sw_signals_missed(sig);
                uint64_t last = after;
                for (size_t i = 0; i < count; i++) {
                    const sw_signal *g = sw_signals_get(sig, i);
                    if (!g || !g->name || !g->key) fail("sw_signals_get(%zu) of %zu", i, count);
                    (void)strlen(g->name);
                    (void)strlen(g->key);
                    if (g->seq <= last) fail("signals not in increasing seq order after %llu", (unsigned long long)after);
                    last = g->seq;
                }
                if (sw_signals_get(sig, count)) fail("sw_signals_get at the count is not NULL");
                /* Past the count by a fuzzed amount, saturating: a sum that wrapped around would
                 * land inside the list again. */
                uint64_t beyond = u64n(in, 8);
                size_t past = beyond > SIZE_MAX - count ? SIZE_MAX : count + (size_t)beyond;
                if (sw_signals_get(sig, past)) fail("sw_signals_get past the count (%zu of %zu) is not NULL", past, count);
                sw_signals_free(sig);
                break;
            }
            case 12: { /* subscribe */
                if (n_subs == MAX_SUBS) break;
                sub_slot *sub = &subs[n_subs];
                atomic_store(&sub->freed, 0);
                atomic_store(&sub->calls, 0);
                const char *pattern = u8(in) < 64 ? NULL : str(in);
                uint64_t id = 0;
                sw_status s = sw_writer_subscribe(w, pattern, on_signal, sub, on_free, &id);
                check("sw_writer_subscribe", s);
                check_closed("sw_writer_subscribe", wi, s);
                if (s == SW_STATUS_OK) {
                    sub->id = id;
                    sub->writer = wi;
                    sub->active = 1;
                    n_subs++;
                }
                break;
            }
            case 13: { /* unsubscribe (a known id or any) */
                uint64_t id = n_subs && u8(in) < 200 ? subs[u8(in) % n_subs].id : u64n(in, 8);
                sw_status s = sw_writer_unsubscribe(w, id);
                check("sw_writer_unsubscribe", s);
                uint64_t dropped;
                s = sw_writer_subscription_dropped(w, id, &dropped);
                check("sw_writer_subscription_dropped", s);
                break;
            }
            case 14: { /* flush */
                sw_status s = sw_writer_flush(w, u8(in) % 50 + 1);
                check("sw_writer_flush", s);
                check_closed("sw_writer_flush", wi, s);
                break;
            }
            case 15: { /* statistics and text */
                sw_stats st;
                sw_cache_stats cs;
                check("sw_writer_stats", sw_writer_stats(w, &st));
                check("sw_writer_cache_stats", sw_writer_cache_stats(w, &cs));
                char *text = NULL;
                sw_status s = sw_writer_operations_json(w, &text);
                check("sw_writer_operations_json", s);
                if (s == SW_STATUS_OK) {
                    (void)strlen(text);
                    sw_string_free(text);
                }
                text = NULL;
                s = sw_writer_metrics_text(w, &text);
                check("sw_writer_metrics_text", s);
                if (s == SW_STATUS_OK) {
                    (void)strlen(text);
                    sw_string_free(text);
                }
                break;
            }
            case 16: { /* rows accessors on a kept result */
                const sw_rows *r = rows[u8(in) % MAX_ROWS];
                if (r) poke_rows(in, r);
                break;
            }
            case 17: { /* free a kept result */
                int slot = u8(in) % MAX_ROWS;
                sw_rows_free(rows[slot]);
                rows[slot] = NULL;
                break;
            }
            case 18: { /* close; then a use of the closed handle */
                if (u8(in) < 200) break;
                sw_status s = sw_writer_close(w);
                check("sw_writer_close", s);
                if (writer_closed[wi]) {
                    if (s != SW_STATUS_CLOSED) fail("second close returned %u", s);
                } else if (s != SW_STATUS_OK) {
                    fail("close returned %u", s);
                }
                writer_closed[wi] = 1;
                s = sw_writer_execute(w, "SELECT 1", NULL, 0, NULL);
                check_closed("sw_writer_execute after close", wi, s);
                break;
            }
            default: { /* status strings, errors, versions */
                (void)strlen(sw_status_str((sw_status)u64n(in, 4)));
                (void)strlen(sw_last_error_message());
                (void)sw_last_error_sqlite_code();
                (void)strlen(sw_version());
                if (sw_abi_version() != SW_ABI_VERSION) fail("ABI version mismatch");
                break;
            }
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    setup_once();
    input in = {data, size};
    n_enq = 0;
    n_subs = 0;
    uint8_t n_open = u8(&in) % MAX_WRITERS + 1;
    for (int i = 0; i < MAX_WRITERS; i++) {
        writers[i] = NULL;
        writer_closed[i] = 0;
        if (i >= n_open) continue;
        const char *cs = connection_string(&in);
        if (!confined(cs)) continue;
        const sw_writer *w = (const sw_writer *)0x1;
        current_sql = NULL;
        sw_status s = sw_writer_open(cs, &w);
        TRACE("open \"%s\"\n", cs);
        check("sw_writer_open", s);
        if (s == SW_STATUS_OK) {
            if (!w) fail("open OK without a handle");
            writers[i] = w;
        } else if (w != (const sw_writer *)0x1) {
            fail("sw_writer_open wrote its out-param on failure");
        }
    }
    run_ops(&in);
    for (int i = 0; i < MAX_ROWS; i++) {
        sw_rows_free(rows[i]);
        rows[i] = NULL;
    }
    current_sql = NULL;
    for (int i = 0; i < MAX_WRITERS; i++) {
        if (writers[i] && !writer_closed[i]) {
            sw_status s = sw_writer_close(writers[i]);
            if (s != SW_STATUS_OK) fail("final close returned %u", s);
        }
    }
    /* Every callback has fired exactly once, every userdata_free has run, once the last
     * handle is closed (close drains). */
    for (size_t i = 0; i < n_enq; i++) {
        int f = atomic_load(&enq[i].fired);
        if (f != 1) fail("enqueue callback %zu fired %d times after close", i, f);
        int inner = atomic_load(&enq[i].inner_status);
        if (enq[i].call_inside && inner != SW_STATUS_MISUSE && inner != SW_STATUS_CLOSED)
            fail("a blocking call inside an enqueue callback returned %d, not MISUSE", inner);
    }
    for (size_t i = 0; i < n_subs; i++) {
        int f = atomic_load(&subs[i].freed);
        if (f != 1) fail("subscription %zu: userdata_free ran %d times after close", i, f);
    }
    free_owned();
    clean_scratch();
    return 0;
}
