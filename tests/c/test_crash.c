/*
 * Crash safety: a child process (crash_child) writes under load and reports every acknowledged
 * id through a pipe; it is killed with SIGKILL mid-stream; every acknowledged id must be in the
 * file afterwards and the file must pass PRAGMA integrity_check. Default options (WAL,
 * Synchronous=NORMAL): acknowledged commits survive a process crash (not a power loss).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "tests.h"

typedef struct {
    int64_t *ids;
    size_t n, cap;
} id_list;

static void push(id_list *l, int64_t id) {
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 4096;
        l->ids = realloc(l->ids, l->cap * sizeof *l->ids);
    }
    l->ids[l->n++] = id;
}

/* Run the child once: start, wait for its first ack, let it run `run_ms`, SIGKILL it. */
static int run_victim(const char *path, int64_t first_id, int run_ms, id_list *acked, char *err, size_t errn) {
    int fds[2];
    if (pipe(fds) != 0) {
        snprintf(err, errn, "pipe: %s", strerror(errno));
        return -1;
    }
    char first[32];
    snprintf(first, sizeof first, "%lld", (long long)first_id);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errn, "fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execl(t_crash_child, t_crash_child, path, first, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    int64_t started = -1, t0 = t_now_ms();
    int killed = 0;
    char buf[8 * 512];
    size_t have = 0;
    for (;;) {
        int64_t now = t_now_ms();
        if (!killed && ((started >= 0 && now - started >= run_ms) || now - t0 > 20000)) {
            kill(pid, SIGKILL);
            killed = 1;
        }
        struct pollfd pfd = {fds[0], POLLIN, 0};
        int pr = poll(&pfd, 1, killed ? 1000 : 5);
        if (pr < 0 && errno == EINTR) continue;
        if (pr <= 0) continue;
        ssize_t r = read(fds[0], buf + have, sizeof buf - have);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break; /* EOF: the child is gone */
        have += (size_t)r;
        size_t whole = have / 8 * 8;
        for (size_t off = 0; off < whole; off += 8) {
            int64_t id;
            memcpy(&id, buf + off, 8);
            push(acked, id);
        }
        memmove(buf, buf + whole, have - whole);
        have -= whole;
        if (started < 0 && acked->n > 0) started = t_now_ms();
    }
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)) {
        snprintf(err, errn, "the child ended by itself (exit status %d) instead of being killed",
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        return -1;
    }
    if (started < 0) {
        snprintf(err, errn, "the child acknowledged no write within 20 s");
        return -1;
    }
    return 0;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

void crash_kill_keeps_every_acknowledged_write(void) {
    CHECK(t_crash_child != NULL, "SW_C_CRASH_CHILD (path of the crash_child program) is not set");
    CHECK(access(t_crash_child, X_OK) == 0, "crash child %s is not executable", t_crash_child);
    char path[512];
    t_db(path, sizeof path, "x");
    {
        OPEN(w, path);
        CHECK_OK(t_exec(w, "CREATE TABLE c(id INTEGER PRIMARY KEY, payload)"));
        CLOSE(w);
    }
    id_list acked = {NULL, 0, 0};
    const int rounds = 2;
    for (int round = 0; round < rounds; round++) {
        char err[256] = "";
        size_t before = acked.n;
        int rc = run_victim(path, (int64_t)round * 100000000 + 1, 300, &acked, err, sizeof err);
        if (rc != 0) {
            free(acked.ids);
            CHECK(0, "round %d: %s", round, err);
        }
        printf("# crash round %d: %zu writes acknowledged before SIGKILL\n", round, acked.n - before);
    }
    const sw_writer *w = NULL;
    sw_status s = t_open(path, &w);
    if (s != SW_STATUS_OK) free(acked.ids);
    CHECK_OK(s);
    char ic[256];
    s = t_query_text(w, "PRAGMA integrity_check", ic, sizeof ic);
    if (s != SW_STATUS_OK) free(acked.ids);
    CHECK_OK(s);
    const sw_rows *rows = NULL;
    s = sw_writer_query(w, "SELECT id FROM c ORDER BY id", NULL, 0, &rows);
    if (s != SW_STATUS_OK) free(acked.ids);
    CHECK_OK(s);
    size_t nrows = sw_rows_row_count(rows);
    int64_t *present = malloc((nrows + 1) * sizeof *present);
    for (size_t i = 0; i < nrows; i++) present[i] = sw_rows_int64(rows, i, 0);
    sw_rows_free(rows);
    qsort(acked.ids, acked.n, sizeof *acked.ids, cmp_i64);
    size_t missing = 0, dup = 0;
    int64_t first_missing = 0;
    for (size_t i = 0; i < acked.n; i++) {
        if (i > 0 && acked.ids[i] == acked.ids[i - 1]) dup++;
        if (!bsearch(&acked.ids[i], present, nrows, sizeof *present, cmp_i64)) {
            if (!missing) first_missing = acked.ids[i];
            missing++;
        }
    }
    size_t n_acked = acked.n;
    free(present);
    free(acked.ids);
    CHECK(strcmp(ic, "ok") == 0, "PRAGMA integrity_check after SIGKILL: \"%s\"", ic);
    CHECK(dup == 0, "the child reported %zu ids twice", dup);
    CHECK(missing == 0, "%zu of %zu acknowledged writes are missing after SIGKILL (first: id %lld)", missing, n_acked,
          (long long)first_missing);
    CHECK(nrows >= n_acked, "%zu rows < %zu acknowledged", nrows, n_acked);
    printf("# crash: %zu acknowledged, %zu rows in the file (%zu committed but unreported at the kill)\n", n_acked,
           nrows, nrows - n_acked);
    /* the database still takes writes */
    CHECK_OK(t_exec(w, "INSERT INTO c(id) VALUES (-1)"));
    CLOSE(w);
}
