/* What an adversarial caller does through the C ABI (issue 9): absurd sizes, SQL with no
 * statement on every entry point, text that is not UTF-8 coming back, and fork(). */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "tests.h"

/* ---------------------------------------------------------------- sizes */

void absurd_sizes_are_invalid_argument_not_an_abort(void) {
    char path[512];
    t_db(path, sizeof path, "sizes");
    OPEN(w, path);
    CHECK_OK(t_exec(w, "CREATE TABLE t(x)"));
    static const uint8_t tiny[4] = {1, 2, 3, 4};
    /* A BLOB "of" 2^40 bytes and one of SIZE_MAX bytes: more than SQLite can store, refused
     * before a byte is read or copied. */
    size_t lens[] = {(size_t)1 << 40, SIZE_MAX, (size_t)1000000001};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        sw_param p = p_blob(NULL, tiny, 4);
        p.value.len = lens[i];
        CHECK_STATUS(sw_writer_execute(w, "INSERT INTO t VALUES (?1)", &p, 1, NULL),
                     SW_STATUS_INVALID_ARGUMENT);
        CHECK(strstr(sw_last_error_message(), "limit") != NULL, "message: %s", sw_last_error_message());
        p.value.type = SW_TYPE_TEXT;
        CHECK_STATUS(sw_writer_enqueue(w, "INSERT INTO t VALUES (?1)", &p, 1, NULL, NULL),
                     SW_STATUS_INVALID_ARGUMENT);
        const sw_rows *rows = NULL;
        CHECK_STATUS(sw_writer_query(w, "SELECT ?1", &p, 1, &rows), SW_STATUS_INVALID_ARGUMENT);
        CHECK_STATUS(sw_writer_read(w, "k", "SELECT ?1", &p, 1, &rows), SW_STATUS_INVALID_ARGUMENT);
    }
    /* Counts no array can have. */
    sw_param one = p_int(NULL, 1);
    CHECK_STATUS(sw_writer_execute(w, "INSERT INTO t VALUES (?1)", &one, SIZE_MAX, NULL),
                 SW_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(sw_writer_execute(w, "INSERT INTO t VALUES (?1)", &one, (size_t)1 << 40, NULL),
                 SW_STATUS_INVALID_ARGUMENT);
    sw_statement st = {"INSERT INTO t VALUES (1)", NULL, 0};
    CHECK_STATUS(sw_writer_batch(w, &st, SIZE_MAX, true, NULL), SW_STATUS_INVALID_ARGUMENT);
    const char *key = "k";
    CHECK_STATUS(sw_writer_execute_and_invalidate(w, "INSERT INTO t VALUES (1)", NULL, 0, &key,
                                                  SIZE_MAX, NULL),
                 SW_STATUS_INVALID_ARGUMENT);
    /* Nothing was written by any of them; the writer still works. */
    int64_t n = -1;
    CHECK_OK(t_query_int(w, "SELECT count(*) FROM t", &n));
    CHECK(n == 0, "%lld rows after refused writes", (long long)n);
    CHECK_OK(t_exec(w, "INSERT INTO t VALUES (1)"));
    CLOSE(w);
}

void huge_option_values_are_invalid_argument_naming_them(void) {
    char path[512], cs[1024];
    t_db(path, sizeof path, "opts");
    const char *bad[] = {"Cache Size=1073741824", "Queue Capacity=99999999999", "Signal Capacity=0",
                         "Readers=100000", "Max Batch=18446744073709551616"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(cs, sizeof cs, "Data Source=%s;%s", path, bad[i]);
        const sw_writer *w = NULL;
        CHECK_STATUS(sw_writer_open(cs, &w), SW_STATUS_INVALID_ARGUMENT);
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)(strchr(bad[i], '=') - bad[i]), bad[i]);
        CHECK(strstr(sw_last_error_message(), name) != NULL, "%s: %s", bad[i], sw_last_error_message());
    }
}

/* ---------------------------------------------------------------- no statement */

void sql_without_a_statement_is_invalid_argument_on_every_entry_point(void) {
    char path[512];
    t_db(path, sizeof path, "blank");
    OPEN(w, path);
    CHECK_OK(t_exec(w, "CREATE TABLE t(x)"));
    const char *blanks[] = {"", "  \n", ";", ";;;", "-- just a comment", "/* c */ ;"};
    for (size_t i = 0; i < sizeof blanks / sizeof blanks[0]; i++) {
        const char *sql = blanks[i];
        const sw_rows *rows = NULL;
        const char *key = "k";
        sw_statement st = {sql, NULL, 0};
        sw_status got[6] = {
            sw_writer_execute(w, sql, NULL, 0, NULL),
            sw_writer_enqueue(w, sql, NULL, 0, NULL, NULL),
            sw_writer_query(w, sql, NULL, 0, &rows),
            sw_writer_read(w, "k", sql, NULL, 0, &rows),
            sw_writer_execute_and_invalidate(w, sql, NULL, 0, &key, 1, NULL),
            sw_writer_batch(w, &st, 1, true, NULL),
        };
        for (int e = 0; e < 6; e++)
            CHECK(got[e] == SW_STATUS_INVALID_ARGUMENT, "entry point %d with \"%s\": status %u", e, sql,
                  got[e]);
        CHECK(strstr(sw_last_error_message(), "holds no statement") != NULL, "message: %s",
              sw_last_error_message());
    }
    CHECK_OK(sw_writer_flush(w, 5000));
    int64_t n = -1;
    CHECK_OK(t_query_int(w, "SELECT count(*) FROM t", &n));
    CHECK(n == 0, "%lld rows", (long long)n);
    CLOSE(w);
}

/* ---------------------------------------------------------------- text that is not UTF-8 */

void text_that_is_not_utf8_comes_back_as_its_bytes(void) {
    char path[512];
    t_db(path, sizeof path, "bytes");
    OPEN(w, path);
    CHECK_OK(t_exec(w, "CREATE TABLE t(x TEXT); INSERT INTO t VALUES (CAST(x'41ff0042' AS TEXT)), ('fine')"));
    const sw_rows *rows = NULL;
    CHECK_OK(sw_writer_query(w, "SELECT x FROM t ORDER BY rowid", NULL, 0, &rows));
    CHECK(sw_rows_row_count(rows) == 2, "rows: %zu", sw_rows_row_count(rows));
    CHECK(sw_rows_type(rows, 0, 0) == SW_TYPE_TEXT, "type %u", sw_rows_type(rows, 0, 0));
    size_t len = 0;
    const char *text = sw_rows_text(rows, 0, 0, &len);
    CHECK(text != NULL && len == 4 && memcmp(text, "A\xff\0B", 4) == 0 && text[4] == 0,
          "bytes of the first cell: len %zu", len);
    const uint8_t *bytes = sw_rows_blob(rows, 0, 0, &len);
    CHECK(bytes != NULL && len == 4 && bytes[1] == 0xff, "as a blob: len %zu", len);
    CHECK(strcmp(sw_rows_text(rows, 1, 0, NULL), "fine") == 0, "second cell");
    sw_rows_free(rows);
    CLOSE(w);
}

/* ---------------------------------------------------------------- conversions */

void int64_and_double_convert_text_and_blobs_as_sqlite_does(void) {
    char path[512];
    t_db(path, sizeof path, "conv");
    OPEN(w, path);
    const sw_rows *rows = NULL;
    CHECK_OK(sw_writer_query(w,
                             "SELECT '9223372036854775808', '-9223372036854775809', char(160)||'5', '12e-3', "
                             "'1e+5', '1.2.3', x'3132', x'2d3761', ' \t42abc'",
                             NULL, 0, &rows));
    const int64_t want_int[] = {INT64_MAX, INT64_MIN, 0, 12, 1, 1, 12, -7, 42};
    const double want_real[] = {9223372036854775808.0, -9223372036854775809.0, 0.0, 0.012, 100000.0, 1.2,
                                12.0, -7.0, 42.0};
    for (int c = 0; c < 9; c++) {
        CHECK(sw_rows_int64(rows, 0, c) == want_int[c], "column %d: int64 %lld, want %lld", c,
              (long long)sw_rows_int64(rows, 0, c), (long long)want_int[c]);
        CHECK(sw_rows_double(rows, 0, c) == want_real[c], "column %d: double %.17g, want %.17g", c,
              sw_rows_double(rows, 0, c), want_real[c]);
    }
    sw_rows_free(rows);
    CLOSE(w);
}

/* ---------------------------------------------------------------- fork */

struct busy {
    const sw_writer *w;
    atomic_int stop;
};

static void *busy_writer(void *arg) {
    struct busy *b = arg;
    for (int i = 0; !atomic_load(&b->stop); i++) {
        sw_param p = p_int(NULL, i);
        sw_writer_execute(b->w, "INSERT INTO parent(x) VALUES (?1)", &p, 1, NULL);
        const sw_rows *rows = NULL;
        if (sw_writer_query(b->w, "SELECT count(*) FROM parent", NULL, 0, &rows) == SW_STATUS_OK)
            sw_rows_free(rows);
    }
    return NULL;
}

/* The child's part: returns its exit code. 0: the fresh open of `path` worked; 10: it was
 * refused with MISUSE because the parent was using the database at fork(); anything else: a
 * failure (the parent reports it). */
static int fork_child(const sw_writer *inherited, const char *path, const char *other, int round) {
    alarm(20); /* a hang is a failure, not a stuck suite */
    const sw_rows *rows = NULL;
    sw_param p = p_int(NULL, round);
    if (sw_writer_execute(inherited, "INSERT INTO parent(x) VALUES (?1)", &p, 1, NULL) != SW_STATUS_MISUSE)
        return 2;
    if (strstr(sw_last_error_message(), "fork") == NULL) return 3;
    if (sw_writer_query(inherited, "SELECT 1", NULL, 0, &rows) != SW_STATUS_MISUSE) return 4;
    if (sw_writer_flush(inherited, 1000) != SW_STATUS_MISUSE) return 5;
    /* A database the parent never opened opens and works. */
    const sw_writer *o = NULL;
    if (sw_writer_open(other, &o) != SW_STATUS_OK) return 6;
    if (sw_writer_execute(o, "CREATE TABLE IF NOT EXISTS c(x)", NULL, 0, NULL) != SW_STATUS_OK) return 7;
    if (sw_writer_execute(o, "INSERT INTO c VALUES (?1)", &p, 1, NULL) != SW_STATUS_OK) return 8;
    if (sw_writer_close(o) != SW_STATUS_OK) return 9;
    /* The parent's database, afresh. */
    const sw_writer *f = NULL;
    sw_status st = sw_writer_open(path, &f);
    int code;
    if (st == SW_STATUS_MISUSE) {
        code = strstr(sw_last_error_message(), "fork") ? 10 : 11;
    } else if (st != SW_STATUS_OK) {
        code = 12;
    } else {
        code = sw_writer_execute(f, "INSERT INTO child(round) VALUES (?1)", &p, 1, NULL) == SW_STATUS_OK ? 0 : 13;
        if (sw_writer_close(f) != SW_STATUS_OK) code = 14;
    }
    /* Letting go of the inherited handle returns at once and touches nothing of the parent's. */
    if (sw_writer_close(inherited) != SW_STATUS_OK) return 15;
    return code;
}

static int run_fork_round(const sw_writer *w, const char *path, const char *other, int round) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) _exit(fork_child(w, path, other, round));
    if (pid < 0) return -1;
    int status = 0;
    if (waitpid(pid, &status, 0) != pid) return -1;
    if (WIFSIGNALED(status)) return 100 + WTERMSIG(status);
    return WEXITSTATUS(status);
}

void fork_child_refuses_inherited_handles_and_opens_afresh(void) {
    if (getenv("SW_C_VALGRIND")) {
        /* A forked child of valgrind is checked by valgrind at its exit, and the child
         * deliberately never frees what it inherited: the shared, static and ASan runs cover
         * fork. */
        printf("# skipped under valgrind (run by the other three builds)\n");
        return;
    }
    char path[512], other[512], cs[1100];
    t_db(path, sizeof path, "forked");
    t_db(other, sizeof other, "forked-other");
    /* No polling: an idle writer's connection is then untouched at fork time. */
    snprintf(cs, sizeof cs, "Data Source=%s;Invalidation Poll=0", path);
    OPEN(w, cs);
    CHECK_OK(t_exec(w, "CREATE TABLE parent(x); CREATE TABLE child(round)"));
    int rounds = t_small ? 3 : 10, ok = 0;
    /* Idle parent: the child opens the database afresh. */
    for (int r = 0; r < rounds; r++) {
        int code = run_fork_round(w, path, other, r);
        for (int retry = 0; code == 10 && retry < 3; retry++) code = run_fork_round(w, path, other, r);
        CHECK(code == 0, "idle round %d: child exit %d", r, code);
        ok++;
    }
    int64_t n = -1;
    CHECK_OK(t_query_int(w, "SELECT count(*) FROM child", &n));
    CHECK(n == ok, "the children wrote %lld rows, want %d", (long long)n, ok);
    /* Busy parent: threads writing and reading at fork time. The child never hangs or crashes;
     * a fresh open works or is refused with MISUSE naming fork. */
#if defined(__SANITIZE_ADDRESS__)
    /* Not under ASan: GCC's ASan allocator does not hold its locks across fork(), so a child of
     * a parent whose threads were allocating can block forever inside ASan itself (seen: a
     * thread the child starts, stuck in __asan::AsanThread::Init -> calloc ->
     * SizeClassAllocator64::GetFromAllocator's mutex). glibc's malloc, which programs use,
     * takes its locks around fork(); the shared and static builds run these rounds. */
    printf("# fork: %d idle rounds opened afresh; busy rounds skipped under ASan\n", ok);
    CLOSE(w);
    return;
#endif
    struct busy b = {w, 0};
    pthread_t th[2];
    for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, busy_writer, &b);
    int refused = 0, worked = 0;
    for (int r = 0; r < rounds * 2; r++) {
        int code = run_fork_round(w, path, other, 1000 + r);
        if (code == 10) refused++;
        else if (code == 0) worked++;
        else {
            atomic_store(&b.stop, 1);
            for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
            CHECK(0, "busy round %d: child exit %d (1xx: killed by signal xx; 114 = SIGALRM, a hang)", r, code);
        }
    }
    atomic_store(&b.stop, 1);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    CHECK_OK(t_query_int(w, "SELECT count(*) FROM child", &n));
    CHECK(n == ok + worked, "children wrote %lld rows, want %d", (long long)n, ok + worked);
    /* The parent's writer is unharmed. */
    CHECK_OK(t_exec(w, "INSERT INTO parent(x) VALUES (-1)"));
    const sw_rows *rows = NULL;
    CHECK_OK(sw_writer_query(w, "PRAGMA integrity_check", NULL, 0, &rows));
    CHECK(strcmp(sw_rows_text(rows, 0, 0, NULL), "ok") == 0, "integrity: %s", sw_rows_text(rows, 0, 0, NULL));
    sw_rows_free(rows);
    printf("# fork: %d idle rounds opened afresh; busy rounds: %d opened afresh, %d refused\n", ok, worked, refused);
    CLOSE(w);
}
