/* Signals (poll, subscribe, raise) and writer statistics. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "tests.h"

static sw_status write_some(const sw_writer *w, int n) {
    for (int i = 0; i < n; i++) {
        sw_param p = p_int(NULL, i);
        sw_status s = sw_writer_execute(w, "INSERT INTO t VALUES (?)", &p, 1, NULL);
        if (s != SW_STATUS_OK) return s;
    }
    return SW_STATUS_OK;
}

void poll_signals_filters_by_glob_oldest_first(void) {
    char path[512];
    t_db(path, sizeof path, "x");
    OPEN(w, path);
    CHECK_OK(t_exec(w, "CREATE TABLE t(x)"));
    CHECK_OK(write_some(w, 5));
    CHECK_STATUS(t_exec(w, "INSERT INTO nosuch VALUES (1)"), SW_STATUS_ERROR);

    const sw_signals *sig = NULL;
    CHECK_OK(sw_writer_poll_signals(w, "write.*", 0, &sig));
    size_t n = sw_signals_count(sig);
    char problem[512] = "";
    uint64_t prev = 0;
    int done = 0, error = 0;
    for (size_t i = 0; i < n && !problem[0]; i++) {
        const sw_signal *s = sw_signals_get(sig, i);
        if (!s || !s->name || !s->key)
            snprintf(problem, sizeof problem, "signal %zu: NULL pointer", i);
        else if (strncmp(s->name, "write.", 6) != 0)
            snprintf(problem, sizeof problem, "pattern write.* returned \"%s\"", s->name);
        else if (i > 0 && s->seq <= prev)
            snprintf(problem, sizeof problem, "seq not increasing: %llu after %llu", (unsigned long long)s->seq,
                     (unsigned long long)prev);
        else if (s->timestamp_us < 1600000000000000LL)
            snprintf(problem, sizeof problem, "timestamp_us %lld is not microseconds since the epoch",
                     (long long)s->timestamp_us);
        if (s) {
            prev = s->seq;
            if (strcmp(s->name, "write.done") == 0) {
                done++;
                if (s->status != SW_STATUS_OK && !problem[0])
                    snprintf(problem, sizeof problem, "write.done with status %u", s->status);
            }
            if (strcmp(s->name, "write.error") == 0) {
                error++;
                if (s->status != SW_STATUS_ERROR && !problem[0])
                    snprintf(problem, sizeof problem, "write.error with status %u, want ERROR", s->status);
            }
        }
    }
    CHECK(sw_signals_get(sig, n) == NULL, "sw_signals_get(count) is not NULL");
    sw_signals_free(sig);
    CHECK(!problem[0], "%s", problem);
    CHECK(done >= 6, "%d write.done signals for 6 successful writes (Sample Rate 1)", done);
    CHECK(error == 1, "%d write.error signals for 1 failed write", error);

    /* NULL: everything, a superset */
    CHECK_OK(sw_writer_poll_signals(w, NULL, 0, &sig));
    size_t all = sw_signals_count(sig);
    int other = 0;
    for (size_t i = 0; i < all; i++)
        if (strncmp(sw_signals_get(sig, i)->name, "write.", 6) != 0) other++;
    uint64_t last = all ? sw_signals_get(sig, all - 1)->seq : 0;
    sw_signals_free(sig);
    CHECK(all >= n && other > 0, "pattern NULL returned %zu signals (%d not write.*), write.* alone %zu", all, other, n);

    /* after_seq is a cursor */
    CHECK_OK(write_some(w, 2));
    CHECK_OK(sw_writer_poll_signals(w, NULL, last, &sig));
    size_t m = sw_signals_count(sig);
    int later_done = 0, older = 0;
    for (size_t i = 0; i < m; i++) {
        const sw_signal *s = sw_signals_get(sig, i);
        if (s->seq <= last) older++;
        if (strcmp(s->name, "write.done") == 0) later_done++;
    }
    uint64_t missed = sw_signals_missed(sig);
    sw_signals_free(sig);
    CHECK(older == 0, "%d signals with seq <= after_seq %llu", older, (unsigned long long)last);
    CHECK(later_done == 2, "%d write.done after the cursor, want 2", later_done);
    CHECK(missed == 0, "missed = %llu with a large ring", (unsigned long long)missed);

    /* name:key form and '?' */
    CHECK_OK(sw_writer_raise(w, "custom.event:alpha"));
    CHECK_OK(sw_writer_raise(w, "custom.event:beta"));
    CHECK_OK(sw_writer_poll_signals(w, "custom.event:?lpha", 0, &sig));
    size_t c = sw_signals_count(sig);
    const sw_signal *s0 = sw_signals_get(sig, 0);
    int good = c == 1 && strcmp(s0->name, "custom.event") == 0 && strcmp(s0->key, "alpha") == 0;
    sw_signals_free(sig);
    CHECK(good, "custom.event:?lpha matched %zu signals (want 1 named custom.event with key alpha)", c);
    CHECK_OK(sw_writer_poll_signals(w, "Custom.*", 0, &sig));
    c = sw_signals_count(sig);
    sw_signals_free(sig);
    CHECK(c == 0, "glob is not case-sensitive: Custom.* matched %zu", c);
    CHECK_OK(sw_writer_poll_signals(w, "custom", 0, &sig));
    c = sw_signals_count(sig);
    sw_signals_free(sig);
    CHECK(c == 0, "glob is not anchored: \"custom\" matched %zu", c);
    CHECK_STATUS(sw_writer_poll_signals(w, NULL, 0, NULL), SW_STATUS_INVALID_ARGUMENT);
    CLOSE(w);
}

void poll_signals_with_huge_or_invalid_patterns_does_not_crash(void) {
    char path[512];
    t_db(path, sizeof path, "x");
    OPEN(w, path);
    CHECK_OK(t_exec(w, "CREATE TABLE t(x)"));
    CHECK_OK(write_some(w, 3));
    size_t big = 1 << 20;
    char *pat = malloc(big + 1);
    /* 1 MB of literal characters */
    memset(pat, 'a', big);
    pat[big] = 0;
    const sw_signals *sig = NULL;
    sw_status s = sw_writer_poll_signals(w, pat, 0, &sig);
    size_t c = sw_signals_count(sig);
    sw_signals_free(sig);
    /* 1 MB of wildcards: a backtracking matcher must not explode or recurse off the stack */
    for (size_t i = 0; i < big; i += 2) {
        pat[i] = '*';
        pat[i + 1] = i % 4 ? '?' : 'w';
    }
    int64_t t0 = t_now_ms();
    sw_status s2 = sw_writer_poll_signals(w, pat, 0, &sig);
    int64_t took = t_now_ms() - t0;
    size_t c2 = sw_signals_count(sig);
    sw_signals_free(sig);
    /* and a pattern of stars that matches everything */
    memset(pat, '*', big);
    sw_status s3 = sw_writer_poll_signals(w, pat, 0, &sig);
    size_t c3 = sw_signals_count(sig);
    sw_signals_free(sig);
    free(pat);
    CHECK(s == SW_STATUS_OK && c == 0, "1 MB literal pattern: status %u, %zu matches", s, c);
    CHECK(s2 == SW_STATUS_OK && c2 == 0, "1 MB wildcard pattern: status %u, %zu matches", s2, c2);
    CHECK(s3 == SW_STATUS_OK && c3 > 0, "1 MB of '*': status %u, %zu matches (want all)", s3, c3);
    printf("# 1 MB wildcard pattern polled in %lld ms\n", (long long)took);
    CHECK_STATUS(sw_writer_poll_signals(w, "write.\xff*", 0, &sig), SW_STATUS_INVALID_UTF8);
    uint64_t id = 0;
    CHECK_STATUS(sw_writer_subscribe(w, "\xc3(", NULL, NULL, NULL, &id), SW_STATUS_INVALID_UTF8);
    CHECK_STATUS(sw_writer_raise(w, "bad.\xff"), SW_STATUS_INVALID_UTF8);
    CHECK_STATUS(sw_writer_raise(w, NULL), SW_STATUS_INVALID_ARGUMENT);
    CLOSE(w);
}

void signal_ring_reports_missed_signals(void) {
    char path[512], cs[1024];
    t_db(path, sizeof path, "x");
    snprintf(cs, sizeof cs, "Data Source=%s;Signal Capacity=16", path);
    OPEN(w, cs);
    CHECK_OK(t_exec(w, "CREATE TABLE t(x)"));
    CHECK_OK(write_some(w, 40));
    const sw_signals *sig = NULL;
    CHECK_OK(sw_writer_poll_signals(w, NULL, 0, &sig));
    size_t c = sw_signals_count(sig);
    uint64_t missed = sw_signals_missed(sig);
    uint64_t first = c ? sw_signals_get(sig, 0)->seq : 0;
    sw_signals_free(sig);
    CHECK(c > 0 && c <= 16, "%zu signals held with Signal Capacity 16", c);
    CHECK(missed > 0, "missed = 0 although %llu signals came before the oldest held one", (unsigned long long)first);
    CHECK(missed == first - 1, "missed %llu, oldest held seq %llu: want missed == seq - 1 if seq starts at 1",
          (unsigned long long)missed, (unsigned long long)first);
    CLOSE(w);
}

/* ---- subscriptions ---- */

typedef struct {
    atomic_int count;
    atomic_int freed;
    atomic_int wrong_thread;
    atomic_int wrong_name;
    pthread_t caller;
    const sw_writer *w;
    _Atomic sw_status inner_status;
    atomic_int inner_done;
} sub_probe;

static void count_signal(void *userdata, const sw_signal *signal) {
    sub_probe *p = userdata;
    if (pthread_equal(pthread_self(), p->caller)) atomic_fetch_add(&p->wrong_thread, 1);
    if (!signal || !signal->name || strcmp(signal->name, "write.done") != 0) atomic_fetch_add(&p->wrong_name, 1);
    atomic_fetch_add(&p->count, 1);
}

static void free_probe(void *userdata) {
    sub_probe *p = userdata;
    atomic_fetch_add(&p->freed, 1);
}

static void init_probe(sub_probe *p, const sw_writer *w) {
    atomic_init(&p->count, 0);
    atomic_init(&p->freed, 0);
    atomic_init(&p->wrong_thread, 0);
    atomic_init(&p->wrong_name, 0);
    atomic_init(&p->inner_status, 999);
    atomic_init(&p->inner_done, 0);
    p->caller = pthread_self();
    p->w = w;
}

static int wait_for(atomic_int *v, int at_least, int ms) {
    int64_t deadline = t_now_ms() + ms;
    while (atomic_load(v) < at_least && t_now_ms() < deadline) t_sleep_ms(2);
    return atomic_load(v);
}

void subscription_callbacks_run_on_another_thread_and_free_once(void) {
    char path[512];
    t_db(path, sizeof path, "x");
    OPEN(w, path);
    CHECK_OK(t_exec(w, "CREATE TABLE t(x)"));
    sub_probe p;
    init_probe(&p, w);
    uint64_t sub = 0;
    CHECK_OK(sw_writer_subscribe(w, "write.done", count_signal, &p, free_probe, &sub));
    CHECK_OK(write_some(w, 20));
    int got = wait_for(&p.count, 20, 5000);
    CHECK(got == 20, "subscriber saw %d write.done signals for 20 writes", got);
    CHECK(atomic_load(&p.wrong_thread) == 0, "%d callbacks ran on the writing thread", atomic_load(&p.wrong_thread));
    CHECK(atomic_load(&p.wrong_name) == 0, "%d callbacks got signals not matching the pattern",
          atomic_load(&p.wrong_name));
    uint64_t dropped = 99;
    CHECK_OK(sw_writer_subscription_dropped(w, sub, &dropped));
    CHECK(dropped == 0, "dropped %llu", (unsigned long long)dropped);
    CHECK_OK(sw_writer_unsubscribe(w, sub));
    int freed = wait_for(&p.freed, 1, 5000);
    CHECK(freed == 1, "userdata_free called %d times after unsubscribe, want 1", freed);
    int before = atomic_load(&p.count);
    CHECK_OK(write_some(w, 5));
    t_sleep_ms(50);
    CHECK(atomic_load(&p.count) == before, "callbacks continued after unsubscribe");
    CHECK_STATUS(sw_writer_unsubscribe(w, sub), SW_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(sw_writer_unsubscribe(w, 987654321), SW_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(sw_writer_subscribe(w, NULL, NULL, &p, free_probe, &sub), SW_STATUS_INVALID_ARGUMENT);
    CLOSE(w);
    CHECK(atomic_load(&p.freed) == 1, "userdata_free called %d times in all, want 1", atomic_load(&p.freed));
}

void open_subscription_is_freed_once_when_writer_closes(void) {
    char path[512];
    t_db(path, sizeof path, "x");
    OPEN(w, path);
    CHECK_OK(t_exec(w, "CREATE TABLE t(x)"));
    sub_probe p;
    init_probe(&p, w);
    uint64_t sub = 0;
    CHECK_OK(sw_writer_subscribe(w, NULL, count_signal, &p, free_probe, &sub));
    /* a second subscription with no userdata_free */
    sub_probe q;
    init_probe(&q, w);
    uint64_t sub2 = 0;
    CHECK_OK(sw_writer_subscribe(w, "write.done", count_signal, &q, NULL, &sub2));
    CHECK(sub2 != sub, "two subscriptions got the same id");
    CHECK_OK(write_some(w, 3));
    CLOSE(w);
    int freed = wait_for(&p.freed, 1, 5000);
    t_sleep_ms(20);
    CHECK(atomic_load(&p.freed) == 1, "userdata_free called %d times after close, want 1", freed);
    CHECK(atomic_load(&p.count) > 0, "the subscriber saw no signal");
}

static void blocking_in_signal_callback(void *userdata, const sw_signal *signal) {
    (void)signal;
    sub_probe *p = userdata;
    if (atomic_fetch_add(&p->count, 1) == 0) {
        atomic_store(&p->inner_status, sw_writer_execute(p->w, "INSERT INTO t VALUES (99)", NULL, 0, NULL));
        atomic_store(&p->inner_done, 1);
    }
}

void blocking_call_in_signal_callback_is_misuse(void) {
    char path[512];
    t_db(path, sizeof path, "x");
    OPEN(w, path);
    CHECK_OK(t_exec(w, "CREATE TABLE t(x)"));
    sub_probe p;
    init_probe(&p, w);
    uint64_t sub = 0;
    CHECK_OK(sw_writer_subscribe(w, "app.ping", blocking_in_signal_callback, &p, NULL, &sub));
    CHECK_OK(sw_writer_raise(w, "app.ping"));
    int done = wait_for(&p.inner_done, 1, 10000);
    CHECK(done == 1, "the signal callback did not finish within 10 s");
    CHECK(atomic_load(&p.inner_status) == SW_STATUS_MISUSE, "sw_writer_execute in a signal callback returned %u, want MISUSE",
          atomic_load(&p.inner_status));
    CHECK_OK(sw_writer_unsubscribe(w, sub));
    CLOSE(w);
}

void raised_cache_invalidate_signal_drops_matching_keys(void) {
    char path[512];
    t_db(path, sizeof path, "x");
    OPEN(w, path);
    CHECK_OK(t_exec(w, "CREATE TABLE t(x)"));
    CHECK_OK(t_exec(w, "INSERT INTO t VALUES (1)"));
    const sw_rows *rows = NULL;
    const char *keys[] = {"users:1", "users:2", "items:1"};
    for (int i = 0; i < 3; i++) {
        CHECK_OK(sw_writer_read(w, keys[i], "SELECT x FROM t", NULL, 0, &rows));
        sw_rows_free(rows);
    }
    sw_cache_stats a, b;
    CHECK_OK(sw_writer_cache_stats(w, &a));
    CHECK_OK(sw_writer_raise(w, "cache.invalidate:users:*"));
    for (int i = 0; i < 3; i++) {
        CHECK_OK(sw_writer_read(w, keys[i], "SELECT x FROM t", NULL, 0, &rows));
        sw_rows_free(rows);
    }
    CHECK_OK(sw_writer_cache_stats(w, &b));
    CHECK(b.misses - a.misses == 2 && b.hits - a.hits == 1, "after raising cache.invalidate:users:*: +%llu misses +%llu hits, want +2 +1",
          (unsigned long long)(b.misses - a.misses), (unsigned long long)(b.hits - a.hits));
    const sw_signals *sig = NULL;
    CHECK_OK(sw_writer_poll_signals(w, "cache.invalidate:users:*", 0, &sig));
    size_t c = sw_signals_count(sig);
    sw_signals_free(sig);
    CHECK(c >= 1, "no cache.invalidate:users:* signal in the ring");
    CLOSE(w);
}

/* ---- stats ---- */

static void count_ack(void *userdata, sw_status status, const sw_write_result *r, const char *m) {
    (void)status;
    (void)r;
    (void)m;
    atomic_fetch_add((atomic_int *)userdata, 1);
}

void writer_stats_count_committed_and_failed_writes(void) {
    char path[512];
    t_db(path, sizeof path, "x");
    OPEN(w, path);
    sw_stats s;
    CHECK_OK(sw_writer_stats(w, &s));
    CHECK(s.committed == 0 && s.failed == 0 && s.queued == 0, "fresh writer: committed %llu failed %llu queued %llu",
          (unsigned long long)s.committed, (unsigned long long)s.failed, (unsigned long long)s.queued);
    CHECK_OK(t_exec(w, "CREATE TABLE t(x UNIQUE)"));                          /* committed 1 */
    CHECK_OK(write_some(w, 5));                                               /* committed 6 */
    CHECK_STATUS(t_exec(w, "INSERT INTO t VALUES (1)"), SW_STATUS_CONSTRAINT); /* failed 1 */
    CHECK_STATUS(t_exec(w, "INSERT INTO nosuch VALUES (1)"), SW_STATUS_ERROR); /* failed 2 */
    sw_statement batch[] = {{"INSERT INTO t VALUES (200)", NULL, 0}, {"INSERT INTO t VALUES (201)", NULL, 0}};
    CHECK_OK(sw_writer_batch(w, batch, 2, true, NULL)); /* committed 7: a batch is one write */
    CHECK_OK(sw_writer_stats(w, &s));
    CHECK(s.committed == 7 && s.failed == 2,
          "stats committed %llu failed %llu; want 7 (DDL 1, execute 5, batch 1) and 2",
          (unsigned long long)s.committed, (unsigned long long)s.failed);
    atomic_int acks;
    atomic_init(&acks, 0);
    CHECK_OK(sw_writer_enqueue(w, "INSERT INTO t VALUES (100)", NULL, 0, count_ack, &acks)); /* committed 8 */
    CHECK_OK(sw_writer_enqueue(w, "INSERT INTO t VALUES (101)", NULL, 0, count_ack, &acks)); /* committed 9 */
    CHECK_OK(sw_writer_enqueue(w, "INSERT INTO t VALUES (100)", NULL, 0, count_ack, &acks)); /* failed 3 */
    CHECK_OK(sw_writer_flush(w, 0));
    CHECK(atomic_load(&acks) == 3, "%d enqueue callbacks", atomic_load(&acks));
    CHECK_OK(sw_writer_stats(w, &s));
    CHECK(s.committed == 9 && s.failed == 3,
          "after 2 OK + 1 failed enqueued writes and one sw_writer_flush: committed %llu failed %llu, want 9 and 3%s",
          (unsigned long long)s.committed, (unsigned long long)s.failed,
          s.committed == 10 ? " (the flush barrier was counted as a committed write)" : "");
    CHECK_OK(sw_writer_flush(w, 0));
    CHECK_OK(sw_writer_stats(w, &s));
    CHECK(s.committed == 9, "an idle sw_writer_flush changed committed to %llu (flush is not a write)",
          (unsigned long long)s.committed);
    CHECK(s.queued == 0, "queued %llu after flush", (unsigned long long)s.queued);
    CHECK(s.transactions >= 1 && s.transactions <= s.committed + s.failed, "transactions %llu",
          (unsigned long long)s.transactions);
    CHECK(s.latency_p99_us >= s.latency_p50_us, "p99 %llu < p50 %llu", (unsigned long long)s.latency_p99_us,
          (unsigned long long)s.latency_p50_us);
    CHECK(s.busy_retries == 0, "busy_retries %llu with no other process", (unsigned long long)s.busy_retries);
    CHECK_STATUS(sw_writer_stats(w, NULL), SW_STATUS_INVALID_ARGUMENT);
    CLOSE(w);
}

void operations_json_and_metrics_text_describe_recent_writes(void) {
    char path[512];
    t_db(path, sizeof path, "x");
    OPEN(w, path);
    CHECK_OK(t_exec(w, "CREATE TABLE t(x UNIQUE)"));
    CHECK_OK(t_exec(w, "INSERT INTO t VALUES (1)"));
    CHECK_STATUS(t_exec(w, "INSERT INTO t VALUES (1)"), SW_STATUS_CONSTRAINT);
    char *json = NULL, *text = NULL;
    CHECK_OK(sw_writer_operations_json(w, &json));
    int json_ok = json && json[0] == '[' && strstr(json, "\"state\"") && strstr(json, "committed") &&
                  strstr(json, "failed");
    sw_string_free(json);
    CHECK(json_ok, "operations JSON lacks committed/failed operations");
    CHECK_STATUS(sw_writer_operations_json(w, NULL), SW_STATUS_INVALID_ARGUMENT);
    CHECK_OK(sw_writer_metrics_text(w, &text));
    int text_ok = text && strstr(text, "# TYPE") != NULL;
    sw_string_free(text);
    CHECK(text_ok, "metrics text lacks a # TYPE line");
    CHECK_STATUS(sw_writer_metrics_text(w, NULL), SW_STATUS_INVALID_ARGUMENT);
    CLOSE(w);
}
