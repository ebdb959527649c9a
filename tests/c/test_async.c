/* sw_writer_enqueue callbacks, batches and transactions. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "tests.h"

/* ---------------------------------------------------------------- enqueue */

/* One queued write's record, filled by its callback. */
typedef struct {
    atomic_int calls;
    _Atomic sw_status status;
    atomic_int bad_args;    /* OK with NULL result or non-NULL message, or the reverse */
    atomic_int on_caller;   /* the callback ran on the thread that enqueued */
    int64_t rowid;
    char message[128];
    pthread_t caller;
} ack_slot;

static void record_ack(void *userdata, sw_status status, const sw_write_result *result, const char *error_message) {
    ack_slot *s = userdata;
    if (status == SW_STATUS_OK) {
        if (result == NULL || error_message != NULL) atomic_fetch_add(&s->bad_args, 1);
        if (result) s->rowid = result->last_insert_rowid;
    } else {
        if (result != NULL || error_message == NULL) atomic_fetch_add(&s->bad_args, 1);
        if (error_message) snprintf(s->message, sizeof s->message, "%s", error_message);
    }
    if (pthread_equal(pthread_self(), s->caller)) atomic_fetch_add(&s->on_caller, 1);
    atomic_store(&s->status, status);
    atomic_fetch_add(&s->calls, 1); /* last: a reader seeing calls == 1 sees the rest */
}

static void init_slots(ack_slot *slots, int n) {
    for (int i = 0; i < n; i++) {
        atomic_init(&slots[i].calls, 0);
        atomic_init(&slots[i].status, 999);
        atomic_init(&slots[i].bad_args, 0);
        atomic_init(&slots[i].on_caller, 0);
        slots[i].rowid = 0;
        slots[i].message[0] = 0;
        slots[i].caller = pthread_self();
    }
}

void enqueue_callback_fires_once_per_write_with_its_own_result(void) {
    char path[512];
    t_db(path, sizeof path, "x");
    OPEN(w, path);
    CHECK_OK(t_exec(w, "CREATE TABLE t(id INTEGER PRIMARY KEY, k TEXT UNIQUE)"));
    enum { N = 300 };
    ack_slot *slots = calloc(N, sizeof *slots);
    init_slots(slots, N);
    for (int i = 0; i < N; i++) {
        char key[32];
        /* every 5th write repeats the previous key: it must fail alone */
        snprintf(key, sizeof key, "k%d", i % 5 == 4 ? i - 1 : i);
        sw_param ps[] = {p_int(NULL, i + 1), p_text(NULL, key)};
        sw_status s = sw_writer_enqueue(w, "INSERT INTO t VALUES (?, ?)", ps, 2, record_ack, &slots[i]);
        if (s != SW_STATUS_OK) {
            t_fail_status(__FILE__, __LINE__, "sw_writer_enqueue", s, SW_STATUS_OK);
            free(slots);
            return;
        }
    }
    sw_status fs = sw_writer_flush(w, 30000);
    char problem[512] = "";
    int ok = 0;
    for (int i = 0; i < N && !problem[0]; i++) {
        ack_slot *s = &slots[i];
        sw_status want = i % 5 == 4 ? SW_STATUS_CONSTRAINT : SW_STATUS_OK;
        if (atomic_load(&s->calls) != 1)
            snprintf(problem, sizeof problem, "write %d: callback fired %d times after flush (want 1)", i,
                     atomic_load(&s->calls));
        else if (atomic_load(&s->status) != want)
            snprintf(problem, sizeof problem, "write %d: status %u (%s: %s), want %u", i, atomic_load(&s->status),
                     sw_status_str(atomic_load(&s->status)), s->message, want);
        else if (atomic_load(&s->bad_args))
            snprintf(problem, sizeof problem,
                     "write %d: status %u but result/error_message nullness wrong (OK: result!=NULL, msg==NULL)", i,
                     want);
        else if (atomic_load(&s->on_caller))
            snprintf(problem, sizeof problem, "write %d: callback ran on the enqueuing thread", i);
        else if (want == SW_STATUS_OK && s->rowid != i + 1)
            snprintf(problem, sizeof problem, "write %d: last_insert_rowid %lld, want %d", i, (long long)s->rowid,
                     i + 1);
        else if (want != SW_STATUS_OK && !strstr(s->message, "UNIQUE"))
            snprintf(problem, sizeof problem, "write %d: error message \"%s\" lacks UNIQUE", i, s->message);
        if (want == SW_STATUS_OK) ok++;
    }
    free(slots);
    CHECK_STATUS(fs, SW_STATUS_OK);
    CHECK(!problem[0], "%s", problem);
    int64_t n = -1;
    CHECK_OK(t_query_int(w, "SELECT count(*) FROM t", &n));
    CHECK(n == ok, "table has %lld rows, %d writes were acknowledged OK", (long long)n, ok);
    CLOSE(w);
}

void enqueue_with_null_callback_works(void) {
    char path[512];
    t_db(path, sizeof path, "x");
    OPEN(w, path);
    CHECK_OK(t_exec(w, "CREATE TABLE t(x)"));
    for (int i = 0; i < 50; i++) {
        sw_param p = p_int(NULL, i);
        CHECK_OK(sw_writer_enqueue(w, "INSERT INTO t VALUES (?)", &p, 1, NULL, NULL));
    }
    CHECK_OK(sw_writer_enqueue(w, "INSERT INTO nosuchtable VALUES (1)", NULL, 0, NULL, NULL));
    CHECK_OK(sw_writer_flush(w, 0));
    int64_t n = -1;
    CHECK_OK(t_query_int(w, "SELECT count(*) FROM t", &n));
    CHECK(n == 50, "count = %lld after flush, want 50", (long long)n);
    CLOSE(w);
}

void close_with_queued_writes_fires_every_callback_once(void) {
    char path[512];
    t_db(path, sizeof path, "x");
    enum { N = 2000 };
    ack_slot *slots = calloc(N, sizeof *slots);
    init_slots(slots, N);
    {
        OPEN(w, path);
        CHECK_OK(t_exec(w, "CREATE TABLE t(x)"));
        for (int i = 0; i < N; i++) {
            sw_param p = p_int(NULL, i);
            sw_status s = sw_writer_enqueue(w, "INSERT INTO t VALUES (?)", &p, 1, record_ack, &slots[i]);
            if (s != SW_STATUS_OK) {
                free(slots);
                CHECK_OK(s);
            }
        }
        sw_stats st;
        CHECK_OK(sw_writer_stats(w, &st));
        printf("# %llu of %d writes still queued at close\n", (unsigned long long)st.queued, N);
        sw_status cs = t_close(w);
        if (cs != SW_STATUS_OK) free(slots);
        CHECK_OK(cs);
    }
    char problem[256] = "";
    for (int i = 0; i < N && !problem[0]; i++) {
        if (atomic_load(&slots[i].calls) != 1)
            snprintf(problem, sizeof problem, "write %d: callback fired %d times by the time close returned", i,
                     atomic_load(&slots[i].calls));
        else if (atomic_load(&slots[i].status) != SW_STATUS_OK)
            snprintf(problem, sizeof problem, "write %d: status %u (%s: %s); close must commit accepted writes", i,
                     atomic_load(&slots[i].status), sw_status_str(atomic_load(&slots[i].status)),
                     slots[i].message);
    }
    free(slots);
    CHECK(!problem[0], "%s", problem);
    OPEN(w2, path);
    int64_t n = -1;
    CHECK_OK(t_query_int(w2, "SELECT count(*) FROM t", &n));
    CHECK(n == N, "after reopen the table has %lld rows, want %d", (long long)n, N);
    CLOSE(w2);
}

typedef struct {
    const sw_writer *w;
    atomic_int done;
    _Atomic sw_status execute_status, flush_status, close_status, txn_status, enqueue_status, query_status;
    atomic_int inner_calls;
} callback_probe;

static sw_status noop_txn(void *userdata, sw_txn *txn) {
    (void)userdata;
    (void)txn;
    return SW_STATUS_OK;
}

static void inner_ack(void *userdata, sw_status status, const sw_write_result *result, const char *msg) {
    (void)status;
    (void)result;
    (void)msg;
    callback_probe *p = userdata;
    atomic_fetch_add(&p->inner_calls, 1);
}

static void probing_callback(void *userdata, sw_status status, const sw_write_result *result, const char *msg) {
    (void)status;
    (void)result;
    (void)msg;
    callback_probe *p = userdata;
    atomic_store(&p->execute_status, sw_writer_execute(p->w, "INSERT INTO t VALUES (100)", NULL, 0, NULL));
    atomic_store(&p->flush_status, sw_writer_flush(p->w, 1000));
    atomic_store(&p->txn_status, sw_writer_transaction(p->w, noop_txn, NULL));
    atomic_store(&p->close_status, sw_writer_close(p->w));
    atomic_store(&p->enqueue_status, sw_writer_enqueue(p->w, "INSERT INTO t VALUES (200)", NULL, 0, inner_ack, p));
    const sw_rows *rows = NULL;
    sw_status qs = sw_writer_query(p->w, "SELECT count(*) FROM t", NULL, 0, &rows);
    sw_rows_free(rows);
    atomic_store(&p->query_status, qs);
    atomic_store(&p->done, 1);
}

void completion_callback_blocking_calls_are_misuse(void) {
    char path[512];
    t_db(path, sizeof path, "x");
    OPEN(w, path);
    CHECK_OK(t_exec(w, "CREATE TABLE t(x)"));
    callback_probe p;
    p.w = w;
    atomic_init(&p.done, 0);
    atomic_init(&p.inner_calls, 0);
    atomic_init(&p.execute_status, 999);
    atomic_init(&p.flush_status, 999);
    atomic_init(&p.close_status, 999);
    atomic_init(&p.txn_status, 999);
    atomic_init(&p.enqueue_status, 999);
    atomic_init(&p.query_status, 999);
    CHECK_OK(sw_writer_enqueue(w, "INSERT INTO t VALUES (1)", NULL, 0, probing_callback, &p));
    int64_t deadline = t_now_ms() + 10000;
    while (!atomic_load(&p.done) && t_now_ms() < deadline) t_sleep_ms(2);
    CHECK(atomic_load(&p.done), "the callback did not finish in 10 s (a blocking call inside it deadlocked?)");
    CHECK(atomic_load(&p.execute_status) == SW_STATUS_MISUSE, "execute in a callback: %u, want MISUSE",
          atomic_load(&p.execute_status));
    CHECK(atomic_load(&p.flush_status) == SW_STATUS_MISUSE, "flush in a callback: %u, want MISUSE",
          atomic_load(&p.flush_status));
    CHECK(atomic_load(&p.txn_status) == SW_STATUS_MISUSE, "transaction in a callback: %u, want MISUSE",
          atomic_load(&p.txn_status));
    CHECK(atomic_load(&p.close_status) == SW_STATUS_MISUSE, "close in a callback: %u, want MISUSE",
          atomic_load(&p.close_status));
    CHECK(atomic_load(&p.enqueue_status) == SW_STATUS_OK, "enqueue in a callback: %u, want OK",
          atomic_load(&p.enqueue_status));
    CHECK(atomic_load(&p.query_status) == SW_STATUS_OK, "query in a callback: %u, want OK",
          atomic_load(&p.query_status));
    CHECK_OK(sw_writer_flush(w, 10000));
    CHECK(atomic_load(&p.inner_calls) == 1, "the callback's own enqueue completed %d times",
          atomic_load(&p.inner_calls));
    int64_t n = -1;
    CHECK_OK(t_query_int(w, "SELECT group_concat(x) FROM (SELECT x FROM t ORDER BY x)", &n));
    char s[64];
    CHECK_OK(t_query_text(w, "SELECT group_concat(x) FROM (SELECT x FROM t ORDER BY x)", s, sizeof s));
    CHECK(strcmp(s, "1,200") == 0, "rows \"%s\", want \"1,200\"", s);
    CLOSE(w); /* still open: the close inside the callback was refused */
}

void flush_returns_after_all_earlier_writes_are_acknowledged(void) {
    char path[512];
    t_db(path, sizeof path, "x");
    OPEN(w, path);
    CHECK_OK(t_exec(w, "CREATE TABLE t(x)"));
    enum { N = 1000 };
    ack_slot *slots = calloc(N, sizeof *slots);
    init_slots(slots, N);
    for (int i = 0; i < N; i++) {
        sw_status s = sw_writer_enqueue(w, "INSERT INTO t VALUES (1)", NULL, 0, record_ack, &slots[i]);
        if (s != SW_STATUS_OK) {
            free(slots);
            CHECK_OK(s);
        }
    }
    sw_status fs = sw_writer_flush(w, 0);
    int missing = 0;
    for (int i = 0; i < N; i++)
        if (atomic_load(&slots[i].calls) != 1) missing++;
    free(slots);
    CHECK_OK(fs);
    CHECK(missing == 0, "%d of %d callbacks had not fired when flush returned", missing, N);
    sw_stats st;
    CHECK_OK(sw_writer_stats(w, &st));
    CHECK(st.queued == 0, "stats.queued = %llu after flush", (unsigned long long)st.queued);
    /* flush with nothing queued */
    CHECK_OK(sw_writer_flush(w, 100));
    CLOSE(w);
}

/* ---------------------------------------------------------------- batch */

void transactional_batch_is_all_or_nothing(void) {
    char path[512];
    t_db(path, sizeof path, "x");
    OPEN(w, path);
    CHECK_OK(t_exec(w, "CREATE TABLE t(k TEXT PRIMARY KEY)"));
    sw_param a = p_text(NULL, "a"), b = p_text(NULL, "b");
    sw_statement ok_batch[] = {
        {"INSERT INTO t VALUES (?)", &a, 1},
        {"INSERT INTO t VALUES (?)", &b, 1},
        {"INSERT INTO t VALUES ('c')", NULL, 0},
    };
    sw_write_result total = {-1, -1};
    CHECK_OK(sw_writer_batch(w, ok_batch, 3, true, &total));
    CHECK(total.rows_affected == 3, "rows_affected = %lld, want 3", (long long)total.rows_affected);
    CHECK(total.last_insert_rowid == 3, "last_insert_rowid = %lld, want 3", (long long)total.last_insert_rowid);

    sw_param d = p_text(NULL, "d"), e = p_text(NULL, "e");
    sw_statement bad_batch[] = {
        {"INSERT INTO t VALUES (?)", &d, 1},
        {"INSERT INTO t VALUES (?)", &e, 1},
        {"INSERT INTO t VALUES ('a')", NULL, 0},
        {"INSERT INTO t VALUES ('f')", NULL, 0},
    };
    total.rows_affected = -7;
    CHECK_STATUS(sw_writer_batch(w, bad_batch, 4, true, &total), SW_STATUS_CONSTRAINT);
    CHECK(strstr(sw_last_error_message(), "UNIQUE") != NULL, "message: \"%s\"", sw_last_error_message());
    CHECK(total.rows_affected == -7, "out_total written on failure");
    int64_t n = -1;
    CHECK_OK(t_query_int(w, "SELECT count(*) FROM t", &n));
    CHECK(n == 3, "%lld rows: a failed transactional batch kept %lld of its rows", (long long)n, (long long)(n - 3));
    CLOSE(w);
}

void non_transactional_batch_keeps_statements_before_the_failure(void) {
    char path[512];
    t_db(path, sizeof path, "x");
    OPEN(w, path);
    CHECK_OK(t_exec(w, "CREATE TABLE t(k TEXT PRIMARY KEY)"));
    CHECK_OK(t_exec(w, "INSERT INTO t VALUES ('dup')"));
    sw_statement batch[] = {
        {"INSERT INTO t VALUES ('one')", NULL, 0},
        {"INSERT INTO t VALUES ('two')", NULL, 0},
        {"INSERT INTO t VALUES ('dup')", NULL, 0},
        {"INSERT INTO t VALUES ('after')", NULL, 0},
    };
    CHECK_STATUS(sw_writer_batch(w, batch, 4, false, NULL), SW_STATUS_CONSTRAINT);
    char s[128];
    CHECK_OK(t_query_text(w, "SELECT group_concat(k, ',') FROM (SELECT k FROM t ORDER BY k)", s, sizeof s));
    CHECK(strcmp(s, "dup,one,two") == 0, "rows \"%s\", want \"dup,one,two\" (kept before the failure, none after)", s);
    CLOSE(w);
}

void empty_batch_is_ok(void) {
    char path[512];
    t_db(path, sizeof path, "x");
    OPEN(w, path);
    sw_write_result total = {-1, -1};
    CHECK_OK(sw_writer_batch(w, NULL, 0, true, &total));
    CHECK_OK(sw_writer_batch(w, NULL, 0, false, NULL));
    sw_statement none[1] = {{"INSERT INTO nowhere VALUES (1)", NULL, 0}};
    CHECK_OK(sw_writer_batch(w, none, 0, true, NULL));
    /* a statement with NULL sql is refused and nothing runs */
    CHECK_OK(t_exec(w, "CREATE TABLE t(x)"));
    sw_statement bad[] = {{"INSERT INTO t VALUES (1)", NULL, 0}, {NULL, NULL, 0}};
    CHECK_STATUS(sw_writer_batch(w, bad, 2, false, NULL), SW_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(sw_writer_batch(w, NULL, 2, true, NULL), SW_STATUS_INVALID_ARGUMENT);
    int64_t n = -1;
    CHECK_OK(t_query_int(w, "SELECT count(*) FROM t", &n));
    CHECK(n == 0, "a refused batch wrote %lld rows", (long long)n);
    CLOSE(w);
}

/* ---------------------------------------------------------------- transactions */

typedef struct {
    const sw_writer *w;
    pthread_t caller;
    int on_other_thread;
    int64_t seen_inside;
    sw_status inner_execute, inner_query, misuse_execute, misuse_query, misuse_batch, after_misuse;
    sw_status other_thread_status;
    sw_txn *saved;
    sw_status result;
    char message[256];
} txn_probe;

static sw_status commit_body(void *userdata, sw_txn *txn) {
    txn_probe *p = userdata;
    p->on_other_thread = !pthread_equal(pthread_self(), p->caller);
    sw_param v = p_text(NULL, "inside");
    sw_write_result r;
    p->inner_execute = sw_txn_execute(txn, "INSERT INTO t(v) VALUES (?)", &v, 1, &r);
    if (p->inner_execute != SW_STATUS_OK) {
        snprintf(p->message, sizeof p->message, "%s", sw_last_error_message());
        return p->inner_execute;
    }
    const sw_rows *rows = NULL;
    p->inner_query = sw_txn_query(txn, "SELECT count(*) FROM t WHERE v = 'inside'", NULL, 0, &rows);
    if (p->inner_query != SW_STATUS_OK) {
        snprintf(p->message, sizeof p->message, "%s", sw_last_error_message());
        return p->inner_query;
    }
    p->seen_inside = sw_rows_int64(rows, 0, 0);
    sw_rows_free(rows);
    return SW_STATUS_OK;
}

void transaction_commits_and_sees_its_own_writes(void) {
    char path[512];
    t_db(path, sizeof path, "x");
    OPEN(w, path);
    CHECK_OK(t_exec(w, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)"));
    txn_probe p;
    memset(&p, 0, sizeof p);
    p.w = w;
    p.caller = pthread_self();
    CHECK_OK(sw_writer_transaction(w, commit_body, &p));
    CHECK(!p.on_other_thread, "the transaction body ran on another thread than the caller");
    CHECK(p.inner_execute == SW_STATUS_OK && p.inner_query == SW_STATUS_OK, "inside: execute %u query %u (%s)",
          p.inner_execute, p.inner_query, p.message);
    CHECK(p.seen_inside == 1, "sw_txn_query saw %lld uncommitted rows, want 1", (long long)p.seen_inside);
    int64_t n = -1;
    CHECK_OK(t_query_int(w, "SELECT count(*) FROM t WHERE v = 'inside'", &n));
    CHECK(n == 1, "after commit: %lld rows", (long long)n);
    CLOSE(w);
}

static sw_status rollback_body(void *userdata, sw_txn *txn) {
    txn_probe *p = userdata;
    p->inner_execute = sw_txn_execute(txn, "INSERT INTO t(v) VALUES ('rolled back')", NULL, 0, NULL);
    p->inner_query = sw_txn_execute(txn, "UPDATE t SET v = 'changed'", NULL, 0, NULL);
    return p->result;
}

void transaction_returning_rollback_keeps_nothing(void) {
    char path[512];
    t_db(path, sizeof path, "x");
    OPEN(w, path);
    CHECK_OK(t_exec(w, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)"));
    CHECK_OK(t_exec(w, "INSERT INTO t(v) VALUES ('before')"));
    txn_probe p;
    memset(&p, 0, sizeof p);
    p.result = SW_STATUS_ROLLBACK;
    CHECK_STATUS(sw_writer_transaction(w, rollback_body, &p), SW_STATUS_ROLLBACK);
    CHECK(p.inner_execute == SW_STATUS_OK && p.inner_query == SW_STATUS_OK, "statements inside failed: %u %u",
          p.inner_execute, p.inner_query);
    char s[64];
    CHECK_OK(t_query_text(w, "SELECT group_concat(v) FROM t", s, sizeof s));
    CHECK(strcmp(s, "before") == 0, "after ROLLBACK the table holds \"%s\", want \"before\"", s);
    /* any other non-OK status rolls back too and is returned */
    p.result = SW_STATUS_CONSTRAINT;
    CHECK_STATUS(sw_writer_transaction(w, rollback_body, &p), SW_STATUS_CONSTRAINT);
    CHECK_OK(t_query_text(w, "SELECT group_concat(v) FROM t", s, sizeof s));
    CHECK(strcmp(s, "before") == 0, "after a CONSTRAINT return the table holds \"%s\"", s);
    /* and the lane still works */
    CHECK_OK(t_exec(w, "INSERT INTO t(v) VALUES ('after')"));
    CLOSE(w);
}

static void *txn_from_other_thread(void *arg) {
    txn_probe *p = arg;
    p->other_thread_status = sw_txn_execute(p->saved, "INSERT INTO t(v) VALUES ('other thread')", NULL, 0, NULL);
    return NULL;
}

static sw_status misuse_body(void *userdata, sw_txn *txn) {
    txn_probe *p = userdata;
    p->saved = txn;
    p->misuse_execute = sw_writer_execute(p->w, "INSERT INTO t(v) VALUES ('nested')", NULL, 0, NULL);
    const sw_statement st = {"INSERT INTO t(v) VALUES ('nested batch')", NULL, 0};
    p->misuse_batch = sw_writer_batch(p->w, &st, 1, true, NULL);
    p->misuse_query = sw_writer_flush(p->w, 1000);
    pthread_t th;
    if (pthread_create(&th, NULL, txn_from_other_thread, p) == 0)
        pthread_join(th, NULL);
    else
        p->other_thread_status = 999;
    p->after_misuse = sw_txn_execute(txn, "INSERT INTO t(v) VALUES ('committed')", NULL, 0, NULL);
    return SW_STATUS_OK;
}

void blocking_call_inside_transaction_is_misuse_and_it_still_commits(void) {
    char path[512];
    t_db(path, sizeof path, "x");
    OPEN(w, path);
    CHECK_OK(t_exec(w, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)"));
    txn_probe p;
    memset(&p, 0, sizeof p);
    p.w = w;
    CHECK_OK(sw_writer_transaction(w, misuse_body, &p));
    CHECK(p.misuse_execute == SW_STATUS_MISUSE, "sw_writer_execute inside the transaction returned %u (%s), want MISUSE",
          p.misuse_execute, sw_status_str(p.misuse_execute));
    CHECK(p.misuse_batch == SW_STATUS_MISUSE, "sw_writer_batch inside: %u, want MISUSE", p.misuse_batch);
    CHECK(p.misuse_query == SW_STATUS_MISUSE, "sw_writer_flush inside: %u, want MISUSE", p.misuse_query);
    CHECK(p.other_thread_status == SW_STATUS_MISUSE,
          "sw_txn_execute from another thread during the callback returned %u (%s), want MISUSE",
          p.other_thread_status, sw_status_str(p.other_thread_status));
    CHECK(p.after_misuse == SW_STATUS_OK, "sw_txn_execute after the refused calls: %u", p.after_misuse);
    char s[128];
    CHECK_OK(t_query_text(w, "SELECT group_concat(v) FROM t", s, sizeof s));
    CHECK(strcmp(s, "committed") == 0, "table holds \"%s\", want \"committed\"", s);
    CLOSE(w);
}

static sw_status save_body(void *userdata, sw_txn *txn) {
    txn_probe *p = userdata;
    p->saved = txn;
    return sw_txn_execute(txn, "INSERT INTO t(v) VALUES ('inside')", NULL, 0, NULL);
}

void txn_used_after_its_callback_returned_is_misuse(void) {
    char path[512];
    t_db(path, sizeof path, "x");
    OPEN(w, path);
    CHECK_OK(t_exec(w, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)"));
    txn_probe p;
    memset(&p, 0, sizeof p);
    CHECK_OK(sw_writer_transaction(w, save_body, &p));
    CHECK(p.saved != NULL, "callback did not run");
    CHECK_STATUS(sw_txn_execute(p.saved, "INSERT INTO t(v) VALUES ('late')", NULL, 0, NULL), SW_STATUS_MISUSE);
    const sw_rows *rows = NULL;
    CHECK_STATUS(sw_txn_query(p.saved, "SELECT 1", NULL, 0, &rows), SW_STATUS_MISUSE);
    /* also while another transaction is running on another thread's behalf later on */
    CHECK_OK(sw_writer_transaction(w, save_body, &p));
    CHECK_STATUS(sw_txn_execute(NULL, "SELECT 1", NULL, 0, NULL), SW_STATUS_INVALID_ARGUMENT);
    char s[128];
    CHECK_OK(t_query_text(w, "SELECT group_concat(v) FROM t", s, sizeof s));
    CHECK(strcmp(s, "inside,inside") == 0, "table holds \"%s\", want \"inside,inside\"", s);
    CLOSE(w);
}

static sw_status failing_statement_body(void *userdata, sw_txn *txn) {
    txn_probe *p = userdata;
    p->inner_execute = sw_txn_execute(txn, "INSERT INTO t(id, v) VALUES (1, 'dup')", NULL, 0, NULL);
    if (p->inner_execute != SW_STATUS_OK) snprintf(p->message, sizeof p->message, "%s", sw_last_error_message());
    p->after_misuse = sw_txn_execute(txn, "INSERT INTO t(id, v) VALUES (2, 'next'); INSERT INTO t(id, v) VALUES (1, 'x')",
                                     NULL, 0, NULL);
    p->inner_query = sw_txn_execute(txn, "INSERT INTO t(id, v) VALUES (3, 'kept')", NULL, 0, NULL);
    return SW_STATUS_OK;
}

void failed_statement_in_transaction_is_undone_and_the_rest_commits(void) {
    char path[512];
    t_db(path, sizeof path, "x");
    OPEN(w, path);
    CHECK_OK(t_exec(w, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)"));
    CHECK_OK(t_exec(w, "INSERT INTO t VALUES (1, 'first')"));
    txn_probe p;
    memset(&p, 0, sizeof p);
    CHECK_OK(sw_writer_transaction(w, failing_statement_body, &p));
    CHECK(p.inner_execute == SW_STATUS_CONSTRAINT, "duplicate insert inside: %u, want CONSTRAINT", p.inner_execute);
    CHECK(strstr(p.message, "UNIQUE") != NULL, "message \"%s\"", p.message);
    CHECK(p.after_misuse == SW_STATUS_CONSTRAINT, "multi-statement with a failure: %u, want CONSTRAINT",
          p.after_misuse);
    CHECK(p.inner_query == SW_STATUS_OK, "later insert: %u", p.inner_query);
    char s[128];
    CHECK_OK(t_query_text(w, "SELECT group_concat(v) FROM (SELECT v FROM t ORDER BY id)", s, sizeof s));
    CHECK(strcmp(s, "first,kept") == 0, "table holds \"%s\", want \"first,kept\" (the failed statements undone)", s);
    CLOSE(w);
}

static sw_status nested_txn_body(void *userdata, sw_txn *txn) {
    txn_probe *p = userdata;
    (void)txn;
    p->misuse_execute = sw_writer_transaction(p->w, noop_txn, NULL);
    return SW_STATUS_OK;
}

void nested_transaction_is_misuse(void) {
    char path[512];
    t_db(path, sizeof path, "x");
    OPEN(w, path);
    txn_probe p;
    memset(&p, 0, sizeof p);
    p.w = w;
    CHECK_OK(sw_writer_transaction(w, nested_txn_body, &p));
    CHECK(p.misuse_execute == SW_STATUS_MISUSE, "nested sw_writer_transaction returned %u, want MISUSE",
          p.misuse_execute);
    CHECK_STATUS(sw_writer_transaction(w, NULL, NULL), SW_STATUS_INVALID_ARGUMENT);
    CLOSE(w);
}

/* ---------------------------------------------------------------- a held lane: flush timeout, full queue */

typedef struct {
    const sw_writer *w;
    int hold_ms;
    atomic_int started, finished;
    sw_status result;
} lane_holder;

static sw_status hold_body(void *userdata, sw_txn *txn) {
    lane_holder *h = userdata;
    sw_status s = sw_txn_execute(txn, "INSERT INTO t VALUES (-1)", NULL, 0, NULL);
    atomic_store(&h->started, 1);
    t_sleep_ms(h->hold_ms);
    return s;
}

static void *hold_lane(void *arg) {
    lane_holder *h = arg;
    h->result = sw_writer_transaction(h->w, hold_body, h);
    atomic_store(&h->finished, 1);
    return NULL;
}

/* Start a transaction on another thread that holds the writer lane for hold_ms. */
static int start_holder(lane_holder *h, pthread_t *th, const sw_writer *w, int hold_ms) {
    h->w = w;
    h->hold_ms = hold_ms;
    atomic_init(&h->started, 0);
    atomic_init(&h->finished, 0);
    h->result = 999;
    if (pthread_create(th, NULL, hold_lane, h) != 0) return 0;
    int64_t deadline = t_now_ms() + 10000;
    while (!atomic_load(&h->started) && !atomic_load(&h->finished) && t_now_ms() < deadline) t_sleep_ms(1);
    return atomic_load(&h->started);
}

void flush_times_out_while_the_lane_is_held(void) {
    char path[512];
    t_db(path, sizeof path, "x");
    OPEN(w, path);
    CHECK_OK(t_exec(w, "CREATE TABLE t(x)"));
    lane_holder h;
    pthread_t th;
    CHECK(start_holder(&h, &th, w, 600), "the holding transaction did not start");
    ack_slot slot;
    init_slots(&slot, 1);
    sw_status es = sw_writer_enqueue(w, "INSERT INTO t VALUES (1)", NULL, 0, record_ack, &slot);
    sw_status fs = sw_writer_flush(w, 50);
    int holder_done_at_flush = atomic_load(&h.finished);
    int calls_at_flush = atomic_load(&slot.calls);
    pthread_join(th, NULL);
    CHECK_STATUS(es, SW_STATUS_OK);
    CHECK_STATUS(h.result, SW_STATUS_OK);
    CHECK(!holder_done_at_flush, "the lane was released before flush returned: cannot test the timeout");
    CHECK_STATUS(fs, SW_STATUS_TIMEOUT);
    CHECK(calls_at_flush == 0, "the queued write completed while the lane was held");
    CHECK_OK(sw_writer_flush(w, 0));
    CHECK(atomic_load(&slot.calls) == 1 && atomic_load(&slot.status) == SW_STATUS_OK,
          "after the lane was released: %d callbacks, status %u", atomic_load(&slot.calls), atomic_load(&slot.status));
    int64_t n = -1;
    CHECK_OK(t_query_int(w, "SELECT count(*) FROM t", &n));
    CHECK(n == 2, "count %lld, want 2 (the transaction's row and the queued write)", (long long)n);
    CLOSE(w);
}

void full_queue_returns_queue_full_and_never_calls_back(void) {
    char path[512], cs[1024];
    t_db(path, sizeof path, "x");
    snprintf(cs, sizeof cs, "Data Source=%s;Queue Capacity=4;Enqueue Timeout=0", path);
    OPEN(w, cs);
    CHECK_OK(t_exec(w, "CREATE TABLE t(x)"));
    lane_holder h;
    pthread_t th;
    CHECK(start_holder(&h, &th, w, 400), "the holding transaction did not start");
    enum { N = 12 };
    ack_slot slots[N];
    init_slots(slots, N);
    sw_status st[N];
    for (int i = 0; i < N; i++) {
        sw_param p = p_int(NULL, i);
        st[i] = sw_writer_enqueue(w, "INSERT INTO t VALUES (?)", &p, 1, record_ack, &slots[i]);
    }
    int holder_done = atomic_load(&h.finished);
    pthread_join(th, NULL);
    CHECK(!holder_done, "the lane was released during the enqueues: cannot test a full queue");
    CHECK_OK(sw_writer_flush(w, 0));
    int accepted = 0, full = 0;
    char problem[256] = "";
    for (int i = 0; i < N; i++) {
        if (st[i] == SW_STATUS_OK) {
            accepted++;
            if (atomic_load(&slots[i].calls) != 1 || atomic_load(&slots[i].status) != SW_STATUS_OK)
                snprintf(problem, sizeof problem, "accepted write %d: %d callbacks, status %u", i,
                         atomic_load(&slots[i].calls), atomic_load(&slots[i].status));
        } else if (st[i] == SW_STATUS_QUEUE_FULL) {
            full++;
            if (atomic_load(&slots[i].calls) != 0)
                snprintf(problem, sizeof problem, "refused write %d (QUEUE_FULL) got %d callbacks", i,
                         atomic_load(&slots[i].calls));
        } else
            snprintf(problem, sizeof problem, "enqueue %d returned %u (%s)", i, st[i], sw_status_str(st[i]));
    }
    CHECK(!problem[0], "%s", problem);
    CHECK(full > 0, "no QUEUE_FULL for %d enqueues with Queue Capacity 4 while the lane was held", N);
    CHECK(accepted >= 1 && accepted <= 5, "%d enqueues accepted with Queue Capacity 4", accepted);
    int64_t n = -1;
    CHECK_OK(t_query_int(w, "SELECT count(*) FROM t WHERE x >= 0", &n));
    CHECK(n == accepted, "%lld rows for %d accepted writes", (long long)n, accepted);
    CLOSE(w);
}

void null_handles_are_invalid_argument_not_a_crash(void) {
    const sw_writer *w = NULL;
    sw_status s;
    const sw_rows *rows = NULL;
    const sw_signals *sig = NULL;
    sw_stats st;
    sw_cache_stats cst;
    uint64_t u = 0;
    char *str = NULL;
    const char *key = "k";
    const sw_statement one = {"SELECT 1", NULL, 0};
    struct {
        const char *what;
        sw_status got;
    } calls[] = {
        {"execute", sw_writer_execute(w, "SELECT 1", NULL, 0, NULL)},
        {"enqueue", sw_writer_enqueue(w, "SELECT 1", NULL, 0, NULL, NULL)},
        {"execute_or_enqueue", sw_writer_execute_or_enqueue(w, "SELECT 1", NULL, 0, NULL, NULL, NULL, &(bool){0})},
        {"batch", sw_writer_batch(w, &one, 1, true, NULL)},
        {"transaction", sw_writer_transaction(w, noop_txn, NULL)},
        {"execute_and_invalidate", sw_writer_execute_and_invalidate(w, "SELECT 1", NULL, 0, &key, 1, NULL)},
        {"flush", sw_writer_flush(w, 0)},
        {"query", sw_writer_query(w, "SELECT 1", NULL, 0, &rows)},
        {"read", sw_writer_read(w, "k", "SELECT 1", NULL, 0, &rows)},
        {"invalidate", sw_writer_invalidate(w, "k")},
        {"cache_stats", sw_writer_cache_stats(w, &cst)},
        {"stats", sw_writer_stats(w, &st)},
        {"poll_signals", sw_writer_poll_signals(w, NULL, 0, &sig)},
        {"subscribe", sw_writer_subscribe(w, NULL, NULL, NULL, NULL, &u)},
        {"unsubscribe", sw_writer_unsubscribe(w, 1)},
        {"subscription_dropped", sw_writer_subscription_dropped(w, 1, &u)},
        {"raise", sw_writer_raise(w, "x")},
        {"operations_json", sw_writer_operations_json(w, &str)},
        {"metrics_text", sw_writer_metrics_text(w, &str)},
        {"close", sw_writer_close(w)},
        {"txn_execute", sw_txn_execute(NULL, "SELECT 1", NULL, 0, NULL)},
        {"txn_query", sw_txn_query(NULL, "SELECT 1", NULL, 0, &rows)},
    };
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
        s = calls[i].got;
        CHECK(s == SW_STATUS_INVALID_ARGUMENT, "sw_*%s with a NULL handle returned %u (%s), want INVALID_ARGUMENT",
              calls[i].what, s, sw_status_str(s));
    }
    CHECK(sw_signals_count(NULL) == 0 && sw_signals_get(NULL, 0) == NULL && sw_signals_missed(NULL) == 0,
          "NULL signals accessors");
}

typedef struct {
    const sw_writer *w;
    sw_status status;
    bool ran;
} if_idle_probe;

static sw_status if_idle_body(void *userdata, sw_txn *txn) {
    (void)txn;
    if_idle_probe *p = userdata;
    p->ran = true;
    p->status = sw_writer_execute_if_idle(p->w, "INSERT INTO t(v) VALUES ('from the body')", NULL, 0, NULL, &p->ran);
    return SW_STATUS_OK;
}

void execute_if_idle_runs_on_an_idle_writer_and_declines_where_it_would_wait(void) {
    char path[512];
    t_db(path, sizeof path, "idle");
    OPEN(w, path);
    CHECK_OK(t_exec(w, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT UNIQUE)"));
    sw_param v = p_text(NULL, "one");
    sw_write_result r = {0, 0};
    bool ran = false;
    /* Idle: it runs on this thread and reports as sw_writer_execute does. */
    CHECK_OK(sw_writer_execute_if_idle(w, "INSERT INTO t(v) VALUES (?1)", &v, 1, &r, &ran));
    CHECK(ran, "an idle writer declined");
    CHECK(r.rows_affected == 1 && r.last_insert_rowid == 1, "result %lld / %lld", (long long)r.rows_affected,
          (long long)r.last_insert_rowid);
    /* Its own failure is its status. */
    CHECK_STATUS(sw_writer_execute_if_idle(w, "INSERT INTO t(v) VALUES (?1)", &v, 1, &r, &ran),
                 SW_STATUS_CONSTRAINT);
    CHECK_STATUS(sw_writer_execute_if_idle(w, "INSERT INTO t(v) VALUES (?1)", &v, 1, &r, NULL),
                 SW_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(sw_writer_execute_if_idle(w, NULL, NULL, 0, NULL, &ran), SW_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(sw_writer_execute_if_idle(NULL, "SELECT 1", NULL, 0, NULL, &ran), SW_STATUS_INVALID_ARGUMENT);
    /* Inside a transaction body (which may not wait for the lane it holds): declined, OK. */
    if_idle_probe p = {w, SW_STATUS_ERROR, true};
    CHECK_OK(sw_writer_transaction(w, if_idle_body, &p));
    CHECK(p.status == SW_STATUS_OK && !p.ran, "inside a transaction: status %u, ran %d", p.status, (int)p.ran);
    int64_t n = -1;
    CHECK_OK(t_query_int(w, "SELECT count(*) FROM t", &n));
    CHECK(n == 1, "%lld rows, want 1 (nothing queued by the declined call)", (long long)n);
    CLOSE(w);
    CHECK_STATUS(sw_writer_execute_if_idle(w, "INSERT INTO t(v) VALUES ('x')", NULL, 0, NULL, &ran), SW_STATUS_CLOSED);
}

typedef struct {
    const sw_writer *w;
    ack_slot *slot;
    sw_status status;
    bool ran;
} or_enqueue_probe;

static sw_status or_enqueue_body(void *userdata, sw_txn *txn) {
    (void)txn;
    or_enqueue_probe *p = userdata;
    p->ran = true;
    p->status = sw_writer_execute_or_enqueue(p->w, "INSERT INTO t(v) VALUES ('from the body')", NULL, 0, record_ack,
                                             p->slot, NULL, &p->ran);
    return SW_STATUS_OK;
}

void execute_or_enqueue_runs_on_an_idle_writer_and_otherwise_queues(void) {
    char path[512];
    t_db(path, sizeof path, "or");
    OPEN(w, path);
    CHECK_OK(t_exec(w, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT UNIQUE)"));
    ack_slot slots[4];
    init_slots(slots, 4);
    sw_param v = p_text(NULL, "one");
    sw_write_result r = {0, 0};
    bool ran = false;
    /* Idle: it runs on this thread, reports as sw_writer_execute does, and never calls back. */
    CHECK_OK(sw_writer_execute_or_enqueue(w, "INSERT INTO t(v) VALUES (?1)", &v, 1, record_ack, &slots[0], &r, &ran));
    CHECK(ran, "an idle writer queued the write");
    CHECK(r.rows_affected == 1 && r.last_insert_rowid == 1, "result %lld / %lld", (long long)r.rows_affected,
          (long long)r.last_insert_rowid);
    /* Its own failure is its status, and no callback either. */
    CHECK_STATUS(sw_writer_execute_or_enqueue(w, "INSERT INTO t(v) VALUES (?1)", &v, 1, record_ack, &slots[1], &r, &ran),
                 SW_STATUS_CONSTRAINT);
    CHECK_STATUS(sw_writer_execute_or_enqueue(w, "INSERT INTO t(v) VALUES (?1)", &v, 1, record_ack, &slots[1], &r, NULL),
                 SW_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(sw_writer_execute_or_enqueue(w, NULL, NULL, 0, record_ack, &slots[1], NULL, &ran),
                 SW_STATUS_INVALID_ARGUMENT);
    /* Inside a transaction body (which holds the lane): queued, and called back after the
     * transaction commits. */
    or_enqueue_probe p = {w, &slots[2], SW_STATUS_ERROR, true};
    CHECK_OK(sw_writer_transaction(w, or_enqueue_body, &p));
    CHECK(p.status == SW_STATUS_OK && !p.ran, "inside a transaction: status %u, ran %d", p.status, (int)p.ran);
    /* A statement that runs alone is queued, never run here. */
    CHECK_OK(sw_writer_execute_or_enqueue(w, "PRAGMA user_version = 3", NULL, 0, record_ack, &slots[3], NULL, &ran));
    CHECK(!ran, "PRAGMA ran on the calling thread");
    CHECK_OK(sw_writer_flush(w, 20000));
    CHECK(atomic_load(&slots[0].calls) == 0 && atomic_load(&slots[1].calls) == 0,
          "callbacks of writes that did not queue were called (%d, %d)", atomic_load(&slots[0].calls),
          atomic_load(&slots[1].calls));
    for (int i = 2; i < 4; i++) {
        CHECK(atomic_load(&slots[i].calls) == 1 && atomic_load(&slots[i].status) == SW_STATUS_OK &&
                  atomic_load(&slots[i].bad_args) == 0 && atomic_load(&slots[i].on_caller) == 0,
              "queued write %d: %d calls, status %u, bad args %d, on the caller %d", i, atomic_load(&slots[i].calls),
              atomic_load(&slots[i].status), atomic_load(&slots[i].bad_args), atomic_load(&slots[i].on_caller));
    }
    int64_t n = -1;
    CHECK_OK(t_query_int(w, "SELECT count(*) FROM t", &n));
    CHECK(n == 2, "%lld rows, want 2", (long long)n);
    CHECK_OK(t_query_int(w, "PRAGMA user_version", &n));
    CHECK(n == 3, "user_version %lld, want 3", (long long)n);
    CLOSE(w);
    CHECK_STATUS(sw_writer_execute_or_enqueue(w, "INSERT INTO t(v) VALUES ('x')", NULL, 0, NULL, NULL, NULL, &ran),
                 SW_STATUS_CLOSED);
}
