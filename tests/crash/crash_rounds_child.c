/*
 * The victim of crash_rounds: opens DB with `Synchronous=<MODE>` (WAL) and writes through every
 * kind of job at once until it is killed:
 *
 *   thread 1  sw_writer_execute          one row, kind 'E'
 *   thread 2  sw_writer_enqueue          one row, kind 'Q'; acknowledged by its callback (at
 *                                        most 32 in flight)
 *   thread 3  sw_writer_batch            2–6 rows; transactional (kind 'B') or not (kind 'N')
 *   thread 4  sw_writer_transaction      2–6 rows through sw_txn_execute (kind 'T'), with a
 *                                        sw_txn_query inside
 *
 * Every row is r(id, kind, grp, n, payload): a batch's or transaction's rows share `grp` (its
 * first id) and carry `n` (how many rows it has), so the database itself tells whether one is
 * torn. After each acknowledgement (OK) the child writes one line to stdout (a pipe; one
 * write(2) per line, shorter than PIPE_BUF, so lines never interleave):
 *   "E <id>" | "Q <id>" | "B <first> <n>" | "N <first> <n>" | "T <first> <n>"
 * Any status other than OK is reported on stderr and ends the process with exit code 3.
 *
 *   crash_rounds_child DB NORMAL|FULL FIRST_ID SEED
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "singlewriter.h"

static const sw_writer *writer;
static atomic_llong next_id;
static unsigned seed;

static void say(const char *fmt, long long a, long long b) {
    char line[64];
    int n = snprintf(line, sizeof line, fmt, a, b);
    if (write(1, line, (size_t)n) != n) _exit(4);
}

static void die(const char *what, sw_status s, const char *message) {
    fprintf(stderr, "crash_rounds_child: %s returned %u (%s): %s\n", what, s, sw_status_str(s),
            message ? message : sw_last_error_message());
    _exit(3);
}

static long long take_ids(int n) {
    return atomic_fetch_add(&next_id, n);
}

static void row_params(sw_param *ps, long long id, long long grp, int n, size_t payload) {
    static const uint8_t bytes[512] = {1};
    memset(ps, 0, 4 * sizeof *ps);
    ps[0].value.type = SW_TYPE_INTEGER;
    ps[0].value.integer = id;
    ps[1].value.type = grp ? SW_TYPE_INTEGER : SW_TYPE_NULL;
    ps[1].value.integer = grp;
    ps[2].value.type = SW_TYPE_INTEGER;
    ps[2].value.integer = n;
    ps[3].value.type = SW_TYPE_BLOB;
    ps[3].value.data = bytes;
    ps[3].value.len = payload;
}

#define INSERT(kind) "INSERT INTO r(id, kind, grp, n, payload) VALUES (?1, '" kind "', ?2, ?3, ?4)"

static void *execute_loop(void *arg) {
    (void)arg;
    unsigned r = seed ^ 1;
    for (;;) {
        long long id = take_ids(1);
        sw_param ps[4];
        row_params(ps, id, 0, 1, rand_r(&r) % 512);
        sw_status s = sw_writer_execute(writer, INSERT("E"), ps, 4, NULL);
        if (s != SW_STATUS_OK) die("sw_writer_execute", s, NULL);
        say("E %lld\n", id, 0);
    }
    return NULL;
}

/* Enqueued writes not yet acknowledged: kept small, so the queue does not grow to thousands
 * of writes that every blocking job of the other threads would wait behind (FIFO). */
static atomic_int in_flight;
#define MAX_IN_FLIGHT 32

static void on_enqueued(void *userdata, sw_status status, const sw_write_result *result, const char *message) {
    (void)result;
    long long id = (long long)(intptr_t)userdata;
    if (status != SW_STATUS_OK) die("sw_writer_enqueue's callback", status, message);
    say("Q %lld\n", id, 0);
    atomic_fetch_sub(&in_flight, 1);
}

static void *enqueue_loop(void *arg) {
    (void)arg;
    unsigned r = seed ^ 2;
    for (;;) {
        while (atomic_load(&in_flight) >= MAX_IN_FLIGHT) usleep(100);
        atomic_fetch_add(&in_flight, 1);
        long long id = take_ids(1);
        sw_param ps[4];
        row_params(ps, id, 0, 1, rand_r(&r) % 512);
        sw_status s = sw_writer_enqueue(writer, INSERT("Q"), ps, 4, on_enqueued, (void *)(intptr_t)id);
        if (s != SW_STATUS_OK) die("sw_writer_enqueue", s, NULL);
    }
    return NULL;
}

static void *batch_loop(void *arg) {
    (void)arg;
    unsigned r = seed ^ 3;
    for (;;) {
        int n = 2 + rand_r(&r) % 5;
        bool transactional = rand_r(&r) % 4 != 0;
        long long first = take_ids(n);
        sw_param ps[6][4];
        sw_statement st[6];
        for (int i = 0; i < n; i++) {
            row_params(ps[i], first + i, first, n, rand_r(&r) % 512);
            st[i].sql = transactional ? INSERT("B") : INSERT("N");
            st[i].params = ps[i];
            st[i].n_params = 4;
        }
        sw_write_result total;
        sw_status s = sw_writer_batch(writer, st, (size_t)n, transactional, &total);
        if (s != SW_STATUS_OK) die("sw_writer_batch", s, NULL);
        if (total.rows_affected != n) {
            fprintf(stderr, "crash_rounds_child: batch of %d reported %lld rows\n", n, (long long)total.rows_affected);
            _exit(3);
        }
        say(transactional ? "B %lld %lld\n" : "N %lld %lld\n", first, n);
    }
    return NULL;
}

typedef struct {
    long long first;
    int n;
    unsigned *r;
} txn_job;

static sw_status txn_body(void *userdata, sw_txn *txn) {
    txn_job *j = userdata;
    for (int i = 0; i < j->n; i++) {
        sw_param ps[4];
        row_params(ps, j->first + i, j->first, j->n, rand_r(j->r) % 512);
        sw_status s = sw_txn_execute(txn, INSERT("T"), ps, 4, NULL);
        if (s != SW_STATUS_OK) return s;
        if (i == 0) {
            /* The transaction sees its own uncommitted row. */
            sw_param p;
            memset(&p, 0, sizeof p);
            p.value.type = SW_TYPE_INTEGER;
            p.value.integer = j->first;
            const sw_rows *rows = NULL;
            s = sw_txn_query(txn, "SELECT count(*) FROM r WHERE grp = ?1", &p, 1, &rows);
            if (s != SW_STATUS_OK) return s;
            int64_t seen = sw_rows_int64(rows, 0, 0);
            sw_rows_free(rows);
            if (seen != 1) {
                fprintf(stderr, "crash_rounds_child: a transaction saw %lld of its rows, not 1\n", (long long)seen);
                _exit(3);
            }
        }
    }
    return SW_STATUS_OK;
}

static void *transaction_loop(void *arg) {
    (void)arg;
    unsigned r = seed ^ 4;
    for (;;) {
        txn_job j = {0, 2 + (int)(rand_r(&r) % 5), &r};
        j.first = take_ids(j.n);
        sw_status s = sw_writer_transaction(writer, txn_body, &j);
        if (s != SW_STATUS_OK) die("sw_writer_transaction", s, NULL);
        say("T %lld %lld\n", j.first, j.n);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: crash_rounds_child DB NORMAL|FULL FIRST_ID SEED\n");
        return 2;
    }
    atomic_store(&next_id, atoll(argv[3]));
    seed = (unsigned)strtoul(argv[4], NULL, 10);
    char cs[1024];
    snprintf(cs, sizeof cs, "Data Source=%s;Synchronous=%s", argv[1], argv[2]);
    sw_status s = sw_writer_open(cs, &writer);
    if (s != SW_STATUS_OK) die("sw_writer_open", s, NULL);
    void *(*loops[])(void *) = {execute_loop, enqueue_loop, batch_loop, transaction_loop};
    pthread_t th[4];
    for (int i = 0; i < 4; i++) pthread_create(&th[i], NULL, loops[i], NULL);
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    return 0;
}
