/*
 * park.c — the C side of parked writes: see park.h.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/eventfd.h>
#else
#include <fcntl.h>
#endif

#include "park.h"

/* A completion node: allocated when the write is submitted, so the library's callback never
 * allocates (or fails) to deliver it; freed by gosw_park_wait. */
typedef struct gosw_node {
    gosw_done done;
    struct gosw_node *next;
} gosw_node;

static struct {
    pthread_mutex_t mu;
    gosw_node *head, *tail; /* delivered, oldest first */
    int waiting;            /* the Go drainer found the list empty and waits on `fd` */
    int fd;                 /* what the Go drainer reads, through Go's network poller */
    int wfd;                /* what the callback writes: the same eventfd, or a pipe's end */
} gosw_park = {PTHREAD_MUTEX_INITIALIZER, NULL, NULL, 0, -1, -1};

int gosw_park_init(void) {
    if (gosw_park.fd >= 0) return gosw_park.fd;
#ifdef __linux__
    gosw_park.fd = gosw_park.wfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
#else
    int p[2];
    if (pipe(p) != 0) return -1;
    for (int i = 0; i < 2; i++) {
        fcntl(p[i], F_SETFL, fcntl(p[i], F_GETFL) | O_NONBLOCK);
        fcntl(p[i], F_SETFD, FD_CLOEXEC);
    }
    gosw_park.fd = p[0];
    gosw_park.wfd = p[1];
#endif
    return gosw_park.fd;
}

/* Runs on the library's thread: link the node, wake the drainer if it sleeps. */
static void gosw_park_callback(void *userdata, sw_status status, const sw_write_result *result,
                               const char *message) {
    gosw_node *n = (gosw_node *)userdata;
    n->done.status = status;
    if (result != NULL) {
        n->done.rows_affected = result->rows_affected;
        n->done.last_insert_rowid = result->last_insert_rowid;
    }
    n->done.message = (status != SW_STATUS_OK && message != NULL && message[0] != '\0')
                          ? strdup(message)
                          : NULL;
    n->next = NULL;
    pthread_mutex_lock(&gosw_park.mu);
    if (gosw_park.tail != NULL) {
        gosw_park.tail->next = n;
    } else {
        gosw_park.head = n;
    }
    gosw_park.tail = n;
    int wake = gosw_park.waiting;
    gosw_park.waiting = 0;
    pthread_mutex_unlock(&gosw_park.mu);
    if (wake) {
        /* eventfd: adds 1 (cannot fail short of overflow); pipe: a full pipe is already readable. */
        uint64_t one = 1;
        ssize_t unused = write(gosw_park.wfd, &one, sizeof one);
        (void)unused;
    }
}

gosw_ret gosw_park_execute(const sw_writer *w, const char *buf, size_t sql_off,
                           const gosw_arg *args, size_t n_args, uint64_t token) {
    if (gosw_in_callback()) {
        /* The caller would wait for a completion that this thread (the transaction holding
         * the lane, or the thread that delivers completions) has to let through: refuse, as
         * the blocking sw_writer_execute does. */
        gosw_ret r = {SW_STATUS_MISUSE, 0,
                      strdup("a blocking writer call from inside a transaction or callback would deadlock")};
        return r;
    }
    gosw_node *n = (gosw_node *)calloc(1, sizeof *n);
    if (n == NULL) {
        gosw_ret r = {SW_STATUS_ERROR, 0, strdup("out of memory")};
        return r;
    }
    n->done.token = token;
    gosw_ret r = gosw_enqueue_cb(w, buf, sql_off, args, n_args, gosw_park_callback, n);
    if (r.status != SW_STATUS_OK) free(n); /* the callback will never run */
    return r;
}

size_t gosw_park_take(gosw_done *out, size_t cap) {
    pthread_mutex_lock(&gosw_park.mu);
    gosw_node *n = gosw_park.head;
    if (n == NULL) {
        gosw_park.waiting = 1;
        pthread_mutex_unlock(&gosw_park.mu);
        return 0;
    }
    size_t k = 0;
    gosw_node *last = NULL;
    for (gosw_node *p = n; p != NULL && k < cap; p = p->next) {
        last = p;
        k++;
    }
    gosw_park.head = last->next;
    if (gosw_park.head == NULL) gosw_park.tail = NULL;
    pthread_mutex_unlock(&gosw_park.mu);
    for (size_t i = 0; i < k; i++) {
        gosw_node *next = n->next;
        out[i] = n->done;
        free(n);
        n = next;
    }
    return k;
}
