/* A writer process for the replication tests (tests/replicas.rs): THREADS threads each insert
 * PER_THREAD rows into acks(t, s, payload) through one singlewriter writer, one
 * sw_writer_execute per row, and print "ack T S" on stdout after each acknowledgement (one
 * write(2) per line, so lines from different threads never interleave and a line is out before
 * the next write starts). The payload is a function of (t, s) that the test recomputes, so a
 * torn or mixed-up row is seen. Extra arguments are SQL run once through the writer before the
 * load (e.g. PRAGMA wal_autocheckpoint=0). At the end: "closed MS" (how long sw_writer_close
 * took) — unless the test SIGKILLs the process first.
 *
 * usage: writer CONNECTION_STRING THREADS PER_THREAD [SQL...]
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "singlewriter.h"

static const sw_writer *writer;
static long per_thread;

/* The payload of row (t, s): 120 bytes the test can recompute. */
static size_t payload(long t, long s, char *out, size_t cap) {
    size_t n = 0;
    while (n + 1 < cap && n < 120) {
        int k = snprintf(out + n, cap - n, "%ld.%ld;", t, s);
        if (k <= 0) break;
        n += (size_t)k;
    }
    if (n > 120) n = 120;
    out[n] = 0;
    return n;
}

static void say(const char *line) {
    size_t len = strlen(line);
    ssize_t w = write(1, line, len);
    (void)w;
}

static void *run(void *arg) {
    long t = (long)(intptr_t)arg;
    char text[160];
    char line[600];
    for (long s = 0; s < per_thread; s++) {
        size_t n = payload(t, s, text, sizeof text);
        sw_param p[3] = {
            {NULL, {SW_TYPE_INTEGER, t, 0, NULL, 0}},
            {NULL, {SW_TYPE_INTEGER, s, 0, NULL, 0}},
            {NULL, {SW_TYPE_TEXT, 0, 0, (const uint8_t *)text, n}},
        };
        sw_status st = sw_writer_execute(writer, "INSERT INTO acks(t, s, payload) VALUES (?1, ?2, ?3)",
                                         p, 3, NULL);
        if (st == SW_STATUS_OK) {
            snprintf(line, sizeof line, "ack %ld %ld\n", t, s);
        } else {
            snprintf(line, sizeof line, "err %ld %ld %d %s\n", t, s, (int)st, sw_last_error_message());
        }
        say(line);
    }
    return NULL;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s CONNECTION_STRING THREADS PER_THREAD [SQL...]\n", argv[0]);
        return 2;
    }
    long threads = strtol(argv[2], NULL, 10);
    per_thread = strtol(argv[3], NULL, 10);
    if (threads < 1 || threads > 256 || per_thread < 0) {
        fprintf(stderr, "bad THREADS or PER_THREAD\n");
        return 2;
    }
    if (sw_writer_open(argv[1], &writer) != SW_STATUS_OK) {
        fprintf(stderr, "open: %s\n", sw_last_error_message());
        return 1;
    }
    for (int i = 4; i < argc; i++) {
        if (sw_writer_execute(writer, argv[i], NULL, 0, NULL) != SW_STATUS_OK) {
            fprintf(stderr, "%s: %s\n", argv[i], sw_last_error_message());
            return 1;
        }
    }
    say("ready\n");
    pthread_t tid[256];
    for (long t = 0; t < threads; t++) {
        if (pthread_create(&tid[t], NULL, run, (void *)(intptr_t)t) != 0) {
            fprintf(stderr, "pthread_create failed\n");
            return 1;
        }
    }
    for (long t = 0; t < threads; t++) pthread_join(tid[t], NULL);
    double started = now_ms();
    sw_status st = sw_writer_close(writer);
    char line[300];
    snprintf(line, sizeof line, "closed %.1f %d\n", now_ms() - started, (int)st);
    say(line);
    return st == SW_STATUS_OK ? 0 : 1;
}
