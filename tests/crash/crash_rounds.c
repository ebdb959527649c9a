/*
 * Crash rounds: SIGKILL a writer process at random moments, round after round on the same
 * file, and check after each kill that
 *   - every write the child saw acknowledged (execute returned, enqueue callback fired, batch
 *     or transaction returned OK) — in this round or any earlier one — is in the file;
 *   - no transactional batch and no transaction is torn: all of its rows or none;
 *   - PRAGMA integrity_check says "ok";
 * then the next round's child opens the same file (recovery after a kill, again and again).
 *
 *   crash_rounds CHILD DIR [ROUNDS]        (ROUNDS per mode, default 20)
 *
 * Rounds run under Synchronous=NORMAL, then Synchronous=FULL (WAL, the default journal mode),
 * each mode on a file of its own. One round in five kills the child 0–40 ms after it starts
 * (while it opens, recovers the WAL or writes its first group); the others let it acknowledge
 * its first write and kill it 20–400 ms later. Every round is one test line ("ok"/"FAIL");
 * the last line is "crash-rounds: N passed, N failed".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "singlewriter.h"

static int64_t now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

typedef struct {
    int64_t *v;
    size_t n, cap;
} ids;

static void push(ids *l, int64_t id) {
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 1 << 16;
        l->v = realloc(l->v, l->cap * sizeof *l->v);
        if (!l->v) abort();
    }
    l->v[l->n++] = id;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Acknowledgements of one round, by kind: E, Q, B, N, T (rows acknowledged). */
typedef struct {
    size_t rows[5];
    size_t groups; /* batches and transactions acknowledged */
} ack_counts;

static const char KINDS[] = "EQBNT";

/* Parse one line; add its ids to `acked`. Returns 0, or -1 for a line that is not an ack. */
static int take_line(const char *line, ids *acked, ack_counts *c) {
    char kind;
    long long first, n = 1;
    int got = sscanf(line, "%c %lld %lld", &kind, &first, &n);
    const char *k = strchr(KINDS, kind);
    if (got < 2 || !k || kind == 0) return -1;
    if ((kind == 'E' || kind == 'Q') ? got != 2 : got != 3 || n < 1 || n > 6) return -1;
    for (long long i = 0; i < n; i++) push(acked, first + i);
    c->rows[k - KINDS] += (size_t)n;
    if (got == 3) c->groups++;
    return 0;
}

/* Run one child and kill it. Returns 0, or -1 with `err` set. */
static int run_child(const char *child, const char *db, const char *mode, int64_t first_id, unsigned seed,
                     int early, int kill_after_ms, ids *acked, ack_counts *c, int64_t *ran_ms, char *err,
                     size_t errn) {
    int fds[2];
    if (pipe(fds) != 0) {
        snprintf(err, errn, "pipe: %s", strerror(errno));
        return -1;
    }
    char first[32], seed_s[32];
    snprintf(first, sizeof first, "%lld", (long long)first_id);
    snprintf(seed_s, sizeof seed_s, "%u", seed);
    int64_t t0 = now_ms();
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errn, "fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execl(child, child, db, mode, first, seed_s, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    int64_t started = early ? t0 : -1;
    int killed = 0, bad_line = 0;
    char buf[1 << 16];
    size_t have = 0;
    for (;;) {
        int64_t t = now_ms();
        if (!killed && ((started >= 0 && t - started >= kill_after_ms) || t - t0 > 20000)) {
            kill(pid, SIGKILL);
            killed = 1;
            *ran_ms = t - t0;
        }
        struct pollfd pfd = {fds[0], POLLIN, 0};
        int pr = poll(&pfd, 1, killed ? 1000 : 1);
        if (pr < 0 && errno == EINTR) continue;
        if (pr <= 0) continue;
        ssize_t r = read(fds[0], buf + have, sizeof buf - have - 1);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break; /* EOF: the child is gone */
        have += (size_t)r;
        buf[have] = 0;
        char *line = buf, *nl;
        while ((nl = memchr(line, '\n', have - (size_t)(line - buf))) != NULL) {
            *nl = 0;
            if (take_line(line, acked, c) != 0 && !bad_line) {
                bad_line = 1;
                snprintf(err, errn, "unexpected line from the child: \"%s\"", line);
            }
            line = nl + 1;
        }
        have -= (size_t)(line - buf);
        memmove(buf, line, have);
        if (started < 0 && acked->n > 0) started = now_ms();
    }
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)) {
        snprintf(err, errn, "the child ended by itself (exit status %d) instead of being killed (see its stderr)",
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        return -1;
    }
    if (!early && started < 0) {
        snprintf(err, errn, "the child acknowledged no write within 20 s");
        return -1;
    }
    return bad_line ? -1 : 0;
}

/* Open the file after the kill and check it. Returns 0, or -1 with `err` set. */
static int verify(const char *db, const char *mode, ids *acked, size_t *out_rows, char *err, size_t errn) {
    char cs[1100];
    snprintf(cs, sizeof cs, "Data Source=%s;Synchronous=%s", db, mode);
    const sw_writer *w = NULL;
    sw_status s = sw_writer_open(cs, &w);
    if (s != SW_STATUS_OK) {
        snprintf(err, errn, "open after the kill: %s: %s", sw_status_str(s), sw_last_error_message());
        return -1;
    }
    int rc = -1;
    const sw_rows *rows = NULL;
    s = sw_writer_query(w, "PRAGMA integrity_check", NULL, 0, &rows);
    if (s != SW_STATUS_OK) {
        snprintf(err, errn, "integrity_check: %s: %s", sw_status_str(s), sw_last_error_message());
        goto out;
    }
    const char *ic = sw_rows_text(rows, 0, 0, NULL);
    if (sw_rows_row_count(rows) != 1 || !ic || strcmp(ic, "ok") != 0) {
        snprintf(err, errn, "PRAGMA integrity_check: \"%s\" (%zu rows)", ic ? ic : "(null)", sw_rows_row_count(rows));
        goto out;
    }
    sw_rows_free(rows);
    rows = NULL;
    /* Torn groups: a transactional batch or transaction with some of its rows but not all. */
    s = sw_writer_query(w,
                        "SELECT kind, grp, n, count(*) FROM r WHERE kind IN ('B', 'T') GROUP BY kind, grp "
                        "HAVING count(*) != n LIMIT 5",
                        NULL, 0, &rows);
    if (s != SW_STATUS_OK) {
        snprintf(err, errn, "torn-group query: %s: %s", sw_status_str(s), sw_last_error_message());
        goto out;
    }
    if (sw_rows_row_count(rows) > 0) {
        snprintf(err, errn, "%zu torn group(s); first: kind %s, grp %lld, %lld of %lld rows", sw_rows_row_count(rows),
                 sw_rows_text(rows, 0, 0, NULL), (long long)sw_rows_int64(rows, 0, 1),
                 (long long)sw_rows_int64(rows, 0, 3), (long long)sw_rows_int64(rows, 0, 2));
        goto out;
    }
    sw_rows_free(rows);
    rows = NULL;
    /* Every acknowledged id, of this round and every earlier one. */
    s = sw_writer_query(w, "SELECT id FROM r ORDER BY id", NULL, 0, &rows);
    if (s != SW_STATUS_OK) {
        snprintf(err, errn, "id query: %s: %s", sw_status_str(s), sw_last_error_message());
        goto out;
    }
    size_t nrows = sw_rows_row_count(rows);
    *out_rows = nrows;
    qsort(acked->v, acked->n, sizeof *acked->v, cmp_i64);
    size_t j = 0, missing = 0;
    int64_t first_missing = 0;
    for (size_t i = 0; i < acked->n; i++) {
        if (i > 0 && acked->v[i] == acked->v[i - 1]) {
            snprintf(err, errn, "id %lld was acknowledged twice", (long long)acked->v[i]);
            goto out;
        }
        while (j < nrows && sw_rows_int64(rows, j, 0) < acked->v[i]) j++;
        if (j == nrows || sw_rows_int64(rows, j, 0) != acked->v[i]) {
            if (!missing++) first_missing = acked->v[i];
        }
    }
    if (missing) {
        snprintf(err, errn, "%zu of %zu acknowledged writes are missing (first: id %lld)", missing, acked->n,
                 (long long)first_missing);
        goto out;
    }
    rc = 0;
out:
    sw_rows_free(rows);
    s = sw_writer_close(w);
    if (s != SW_STATUS_OK && rc == 0) {
        snprintf(err, errn, "close: %s: %s", sw_status_str(s), sw_last_error_message());
        rc = -1;
    }
    return rc;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: crash_rounds CHILD DIR [ROUNDS]\n");
        return 2;
    }
    const char *child = argv[1], *dir = argv[2];
    int rounds = argc > 3 ? atoi(argv[3]) : 20;
    unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
    if (getenv("SW_CRASH_SEED")) seed = (unsigned)strtoul(getenv("SW_CRASH_SEED"), NULL, 10);
    printf("# seed %u (SW_CRASH_SEED=%u repeats the kill times)\n", seed, seed);
    srand(seed);
    int passed = 0, failed = 0;
    const char *modes[] = {"NORMAL", "FULL"};
    for (int m = 0; m < 2; m++) {
        char db[1024];
        snprintf(db, sizeof db, "%s/crash-%s.db", dir, modes[m]);
        {
            char cs[1100];
            snprintf(cs, sizeof cs, "Data Source=%s;Synchronous=%s", db, modes[m]);
            const sw_writer *w;
            if (sw_writer_open(cs, &w) != SW_STATUS_OK ||
                sw_writer_execute(w,
                                  "CREATE TABLE IF NOT EXISTS r(id INTEGER PRIMARY KEY, kind TEXT NOT NULL, grp "
                                  "INTEGER, n INTEGER NOT NULL, payload BLOB)",
                                  NULL, 0, NULL) != SW_STATUS_OK ||
                sw_writer_close(w) != SW_STATUS_OK) {
                printf("FAIL %s: cannot create %s: %s\n", modes[m], db, sw_last_error_message());
                failed++;
                continue;
            }
        }
        ids acked = {NULL, 0, 0};
        ack_counts total = {{0}, 0};
        size_t kills_early = 0;
        for (int round = 0; round < rounds; round++) {
            int early = rand() % 5 == 0;
            int kill_after = early ? rand() % 41 : 20 + rand() % 381;
            ack_counts c = {{0}, 0};
            char err[512] = "";
            int64_t ran = 0;
            size_t nrows = 0;
            int64_t first_id = (int64_t)(round + 1) * 1000000000LL;
            int rc = run_child(child, db, modes[m], first_id, seed + (unsigned)round, early, kill_after, &acked, &c,
                               &ran, err, sizeof err);
            if (rc == 0) rc = verify(db, modes[m], &acked, &nrows, err, sizeof err);
            size_t round_rows = 0;
            for (int k = 0; k < 5; k++) {
                total.rows[k] += c.rows[k];
                round_rows += c.rows[k];
            }
            total.groups += c.groups;
            kills_early += (size_t)early;
            if (rc == 0) {
                passed++;
                printf("ok %s round %d: killed %s after %lld ms; acknowledged E %zu, Q %zu, B %zu, N %zu, T %zu "
                       "rows (%zu batches/transactions); %zu rows in the file, all %zu acknowledged present\n",
                       modes[m], round, early ? "early" : "mid-stream", (long long)ran, c.rows[0], c.rows[1],
                       c.rows[2], c.rows[3], c.rows[4], c.groups, nrows, acked.n);
            } else {
                failed++;
                printf("FAIL %s round %d (killed %s after %lld ms, %zu rows acknowledged this round): %s\n", modes[m],
                       round, early ? "early" : "mid-stream", (long long)ran, round_rows, err);
            }
            fflush(stdout);
        }
        size_t all = 0;
        for (int k = 0; k < 5; k++) all += total.rows[k];
        printf("# %s: %d rounds (%zu killed early), %zu acknowledged rows: execute %zu, enqueue %zu, "
               "transactional batch %zu, plain batch %zu, transaction %zu (%zu batches/transactions)\n",
               modes[m], rounds, kills_early, all, total.rows[0], total.rows[1], total.rows[2], total.rows[3],
               total.rows[4], total.groups);
        free(acked.v);
    }
    printf("crash-rounds: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
