/*
 * The victim of crash_kill_keeps_every_acknowledged_write: opens the database named in argv[1]
 * (default options: WAL, Synchronous=NORMAL) and writes from 4 threads until it is killed.
 * After every write that sw_writer_execute / sw_writer_transaction acknowledged OK, it writes
 * the ids it inserted to stdout (a pipe) as native int64 values; 8-byte pipe writes are atomic.
 * Any unexpected status is reported on stderr and ends the process with exit code 3.
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
static atomic_llong next_id = 1;

static void report(int64_t id) {
    if (write(1, &id, sizeof id) != (ssize_t)sizeof id) _exit(4);
}

static void die(const char *what, sw_status s) {
    fprintf(stderr, "crash_child: %s returned %u (%s): %s\n", what, s, sw_status_str(s), sw_last_error_message());
    _exit(3);
}

static void *execute_loop(void *arg) {
    (void)arg;
    for (;;) {
        int64_t id = atomic_fetch_add(&next_id, 1);
        sw_param ps[2];
        memset(ps, 0, sizeof ps);
        ps[0].value.type = SW_TYPE_INTEGER;
        ps[0].value.integer = id;
        ps[1].value.type = SW_TYPE_INTEGER;
        ps[1].value.integer = 300;
        sw_status s = sw_writer_execute(writer, "INSERT INTO c(id, payload) VALUES (?, randomblob(?))", ps, 2, NULL);
        if (s != SW_STATUS_OK) die("sw_writer_execute", s);
        report(id);
    }
    return NULL;
}

typedef struct {
    int64_t ids[5];
} txn_ids;

static sw_status txn_body(void *userdata, sw_txn *txn) {
    txn_ids *t = userdata;
    for (int i = 0; i < 5; i++) {
        sw_param p;
        memset(&p, 0, sizeof p);
        p.value.type = SW_TYPE_INTEGER;
        p.value.integer = t->ids[i];
        sw_status s = sw_txn_execute(txn, "INSERT INTO c(id, payload) VALUES (?, 'txn')", &p, 1, NULL);
        if (s != SW_STATUS_OK) return s;
    }
    return SW_STATUS_OK;
}

static void *transaction_loop(void *arg) {
    (void)arg;
    for (;;) {
        txn_ids t;
        for (int i = 0; i < 5; i++) t.ids[i] = atomic_fetch_add(&next_id, 1);
        sw_status s = sw_writer_transaction(writer, txn_body, &t);
        if (s != SW_STATUS_OK) die("sw_writer_transaction", s);
        for (int i = 0; i < 5; i++) report(t.ids[i]);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: crash_child DB [first-id]\n");
        return 2;
    }
    if (argc > 2) atomic_store(&next_id, atoll(argv[2]));
    sw_status s = sw_writer_open(argv[1], &writer);
    if (s != SW_STATUS_OK) die("sw_writer_open", s);
    pthread_t th[4];
    for (int i = 0; i < 4; i++) pthread_create(&th[i], NULL, i == 3 ? transaction_loop : execute_loop, NULL);
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    return 0;
}
