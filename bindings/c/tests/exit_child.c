/*
 * A child process for bindings/c/test.sh: open a writer, enqueue writes and end the process
 * without sw_writer_close, in the way MODE says. The parent then counts the rows.
 *
 *   exit_child DB N MODE
 *     return   return from main (the exit drain commits all N)
 *     exit     call exit(0) from another thread while main sleeps (the same)
 *     off      sw_exit_set_drain_timeout(0), then return (writes may be lost: nothing to check)
 *     atexit   close the writer from the program's own atexit() handler, then return (the common
 *              C cleanup pattern: sw_writer_close after the C runtime destroyed thread-locals)
 *     bounded  sw_exit_set_drain_timeout(300) and return while another process holds the
 *              database's write lock (the exit waits about 300 ms, not Busy Timeout's 60 s)
 * Prints "enqueued N" before ending. Exit status 0, or 1 when a call failed.
 */
#include <singlewriter.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void on_done(void *userdata, sw_status status, const sw_write_result *result,
                    const char *error_message) {
    (void)userdata;
    (void)result;
    if (status != SW_STATUS_OK && status != SW_STATUS_CLOSED) {
        fprintf(stderr, "write failed: %s\n", error_message ? error_message : "?");
    }
}

static const sw_writer *g_writer;

static void close_at_exit(void) {
    if (sw_writer_close(g_writer) != SW_STATUS_OK) {
        fprintf(stderr, "close at exit: %s\n", sw_last_error_message());
        _exit(1);
    }
}

static void *exit_from_thread(void *arg) {
    (void)arg;
    exit(0);
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s DB N return|exit|atexit|off|bounded\n", argv[0]);
        return 2;
    }
    const char *mode = argv[3];
    int n = atoi(argv[2]);
    char cs[1024];
    snprintf(cs, sizeof cs, "Data Source=%s;Busy Timeout=60000;Max Batch=64", argv[1]);
    const sw_writer *w;
    if (sw_writer_open(cs, &w) != SW_STATUS_OK) {
        fprintf(stderr, "open: %s\n", sw_last_error_message());
        return 1;
    }
    if (strcmp(mode, "bounded") != 0 &&
        sw_writer_execute(w, "CREATE TABLE IF NOT EXISTS t(i INTEGER)", NULL, 0, NULL) != SW_STATUS_OK) {
        fprintf(stderr, "create: %s\n", sw_last_error_message());
        return 1;
    }
    if (strcmp(mode, "atexit") == 0) {
        g_writer = w;
        atexit(close_at_exit);
    }
    if (strcmp(mode, "off") == 0) {
        sw_exit_set_drain_timeout(0);
    } else if (strcmp(mode, "bounded") == 0) {
        sw_exit_set_drain_timeout(300);
    }
    for (int i = 0; i < n; i++) {
        sw_param p = {NULL, {SW_TYPE_INTEGER, i, 0, NULL, 0}};
        if (sw_writer_enqueue(w, "INSERT INTO t(i) VALUES (?)", &p, 1, on_done, NULL) != SW_STATUS_OK) {
            fprintf(stderr, "enqueue: %s\n", sw_last_error_message());
            return 1;
        }
    }
    printf("enqueued %d\n", n);
    fflush(stdout);
    if (strcmp(mode, "exit") == 0) {
        pthread_t t;
        if (pthread_create(&t, NULL, exit_from_thread, NULL) != 0) return 1;
        for (;;) pause();
    }
    return 0; /* no sw_writer_close: the exit drain commits what was accepted */
}
