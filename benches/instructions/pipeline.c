/* Pipelined inserts through the C ABI, for counting instructions per row (see run.sh).
 *
 * usage: pipeline DB ROWS [EXTRA_OPTIONS]
 * One thread queues ROWS inserts of (integer, 12-byte text) with sw_writer_enqueue and a
 * completion callback, flushes, and checks every callback reported success. EXTRA_OPTIONS is
 * appended to the connection string (e.g. ";Sample Rate=1000"). Exit 0 when every row was
 * acknowledged. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "singlewriter.h"

static atomic_long acknowledged;

static void on_done(void *userdata, sw_status status, const struct sw_write_result *result,
                    const char *message) {
    (void)userdata;
    (void)result;
    if (status == SW_STATUS_OK) {
        atomic_fetch_add(&acknowledged, 1);
    } else {
        fprintf(stderr, "write failed: %s\n", message ? message : "");
    }
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s DB ROWS [EXTRA_OPTIONS]\n", argv[0]);
        return 2;
    }
    long rows = atol(argv[2]);
    char cs[1024];
    snprintf(cs, sizeof cs, "Data Source=%s%s", argv[1], argc > 3 ? argv[3] : "");
    const struct sw_writer *w;
    if (sw_writer_open(cs, &w) != SW_STATUS_OK) {
        fprintf(stderr, "open: %s\n", sw_last_error_message());
        return 1;
    }
    struct sw_write_result r;
    if (sw_writer_execute(w, "CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, a INTEGER, b TEXT)",
                          NULL, 0, &r) != SW_STATUS_OK) {
        fprintf(stderr, "create: %s\n", sw_last_error_message());
        return 1;
    }
    const char *text = "payload-text";
    for (long i = 0; i < rows; i++) {
        struct sw_param p[2];
        memset(p, 0, sizeof p);
        p[0].value.type = SW_TYPE_INTEGER;
        p[0].value.integer = i;
        p[1].value.type = SW_TYPE_TEXT;
        p[1].value.data = (const uint8_t *)text;
        p[1].value.len = strlen(text);
        sw_status st;
        while ((st = sw_writer_enqueue(w, "INSERT INTO t(a, b) VALUES (?1, ?2)", p, 2, on_done, NULL)) ==
               SW_STATUS_QUEUE_FULL) {
        }
        if (st != SW_STATUS_OK) {
            fprintf(stderr, "enqueue: %s\n", sw_last_error_message());
            return 1;
        }
    }
    if (sw_writer_flush(w, 600000) != SW_STATUS_OK || sw_writer_close(w) != SW_STATUS_OK) {
        fprintf(stderr, "flush/close: %s\n", sw_last_error_message());
        return 1;
    }
    long got = atomic_load(&acknowledged);
    printf("%ld of %ld acknowledged\n", got, rows);
    return got == rows ? 0 : 1;
}
