/* Version/ABI, opening and closing, and single writes through sw_writer_execute. */
#define _GNU_SOURCE
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "tests.h"

/* ---------------------------------------------------------------- version / ABI */

void abi_version_matches_header(void) {
    CHECK(sw_abi_version() == SW_ABI_VERSION, "sw_abi_version() = %u, header SW_ABI_VERSION = %u",
          sw_abi_version(), (unsigned)SW_ABI_VERSION);
    const char *v = sw_version();
    CHECK(v != NULL && v[0] != 0, "sw_version() is NULL or empty");
}

void status_str_describes_every_status(void) {
    const char *seen[15];
    for (sw_status s = SW_STATUS_OK; s <= SW_STATUS_PANIC; s++) {
        const char *d = sw_status_str(s);
        CHECK(d != NULL && d[0] != 0, "sw_status_str(%u) is NULL or empty", s);
        seen[s] = d;
        for (sw_status o = 0; o < s; o++)
            CHECK(strcmp(seen[o], d) != 0, "sw_status_str(%u) == sw_status_str(%u) == \"%s\"", o, s, d);
    }
    const char *unknown = sw_status_str(999);
    CHECK(unknown != NULL && unknown[0] != 0, "sw_status_str(999) is NULL or empty");
    CHECK(t_contains_ci(unknown, "unknown"), "sw_status_str(999) = \"%s\", want \"unknown status\"", unknown);
    CHECK(sw_status_str(UINT32_MAX) != NULL, "sw_status_str(UINT32_MAX) is NULL");
}

void last_error_is_empty_after_success(void) {
    CHECK_STATUS(sw_writer_open(NULL, NULL), SW_STATUS_INVALID_ARGUMENT);
    CHECK(sw_last_error_message()[0] != 0, "no message after a failed call");
    char path[512];
    t_db(path, sizeof path, "main");
    OPEN(w, path);
    CHECK(strcmp(sw_last_error_message(), "") == 0, "message after a successful open: \"%s\"",
          sw_last_error_message());
    CHECK(sw_last_error_sqlite_code() == 0, "sqlite code %d after success", sw_last_error_sqlite_code());
    CLOSE(w);
}

/* ---------------------------------------------------------------- open / close */

void open_plain_path_creates_database(void) {
    char path[512];
    t_db(path, sizeof path, "plain");
    OPEN(w, path);
    CHECK_OK(t_exec(w, "CREATE TABLE t(x)"));
    CHECK_OK(t_exec(w, "INSERT INTO t VALUES (1)"));
    CLOSE(w);
    CHECK(access(path, F_OK) == 0, "database file %s does not exist after close", path);
    OPEN(w2, path);
    int64_t n = 0;
    CHECK_OK(t_query_int(w2, "SELECT count(*) FROM t", &n));
    CHECK(n == 1, "reopened database has %lld rows, want 1", (long long)n);
    CLOSE(w2);
}

void open_accepts_microsoft_data_sqlite_keywords(void) {
    char path[512], cs[1024];
    t_db(path, sizeof path, "kw");
    snprintf(cs, sizeof cs, "Data Source=%s;Mode=ReadWriteCreate;Cache=Shared", path);
    OPEN(w, cs);
    CHECK_OK(t_exec(w, "CREATE TABLE t(x)"));
    CLOSE(w);
    /* keywords are case-insensitive and ignore spaces */
    snprintf(cs, sizeof cs, "datasource=%s; busy timeout = 5000 ;SAMPLE RATE=1;", path);
    OPEN(w2, cs);
    int64_t n = -1;
    CHECK_OK(t_query_int(w2, "SELECT count(*) FROM t", &n));
    CHECK(n == 0, "count = %lld", (long long)n);
    CLOSE(w2);
}

void relative_and_absolute_paths_share_one_writer(void) {
    char abs_path[512], cwd[PATH_MAX], rel[256];
    t_db(abs_path, sizeof abs_path, "rel");
    snprintf(rel, sizeof rel, "%s-rel.db", t_current);
    CHECK(getcwd(cwd, sizeof cwd) != NULL, "getcwd failed");
    CHECK(chdir(t_tmpdir) == 0, "chdir(%s) failed", t_tmpdir);
    const sw_writer *wr = NULL;
    sw_status s = t_open(rel, &wr);
    CHECK(chdir(cwd) == 0, "chdir back failed");
    CHECK_STATUS(s, SW_STATUS_OK);
    OPEN(wa, abs_path);

    CHECK_OK(t_exec(wr, "CREATE TABLE t(x)"));
    sw_param p = p_int(NULL, 42);
    CHECK_OK(sw_writer_execute(wr, "INSERT INTO t VALUES (?)", &p, 1, NULL));
    int64_t v = 0;
    CHECK_OK(t_query_int(wa, "SELECT x FROM t", &v));
    CHECK(v == 42, "read through the absolute path saw %lld, want 42", (long long)v);

    /* one writer: both handles report the same counters */
    sw_stats sr, sa;
    CHECK_OK(sw_writer_stats(wr, &sr));
    CHECK_OK(sw_writer_stats(wa, &sa));
    CHECK(sa.committed == 2 && sr.committed == 2,
          "committed: relative handle %llu, absolute handle %llu; one shared writer would show 2 on both",
          (unsigned long long)sr.committed, (unsigned long long)sa.committed);

    /* and the shared writer refuses a conflicting option */
    char cs[1024];
    snprintf(cs, sizeof cs, "Data Source=%s;Max Batch=7", abs_path);
    const sw_writer *bad = NULL;
    CHECK_STATUS(sw_writer_open(cs, &bad), SW_STATUS_INVALID_ARGUMENT);

    CLOSE(wr);
    /* the writer lives on through the other handle */
    CHECK_OK(t_exec(wa, "INSERT INTO t VALUES (43)"));
    CLOSE(wa);
}

void symlinked_path_shares_one_writer(void) {
    char path[512], link_path[600];
    t_db(path, sizeof path, "target");
    snprintf(link_path, sizeof link_path, "%s/%s-link.db", t_tmpdir, t_current);
    OPEN(w, path);
    CHECK_OK(t_exec(w, "CREATE TABLE t(x)"));
    CHECK(symlink(path, link_path) == 0, "symlink failed");
    OPEN(wl, link_path);
    CHECK_OK(t_exec(wl, "INSERT INTO t VALUES (1)"));
    sw_stats a, b;
    CHECK_OK(sw_writer_stats(w, &a));
    CHECK_OK(sw_writer_stats(wl, &b));
    CHECK(a.committed == 2 && b.committed == 2, "committed %llu vs %llu: the symlink did not share the writer",
          (unsigned long long)a.committed, (unsigned long long)b.committed);
    CLOSE(wl);
    CLOSE(w);
}

void unknown_keyword_is_invalid_argument_naming_it(void) {
    char path[512], cs[1024];
    t_db(path, sizeof path, "x");
    snprintf(cs, sizeof cs, "Data Source=%s;Frobnicate Level=3", path);
    const sw_writer *w = NULL;
    CHECK_STATUS(sw_writer_open(cs, &w), SW_STATUS_INVALID_ARGUMENT);
    const char *m = sw_last_error_message();
    CHECK(t_contains_ci(m, "Frobnicate"), "message does not name the keyword: \"%s\"", m);
    CHECK(w == NULL, "out_writer written on failure");
}

void bad_option_value_is_invalid_argument_naming_it(void) {
    char path[512], cs[1024];
    t_db(path, sizeof path, "x");
    const char *cases[][2] = {
        {"Readers=many", "Readers"},
        {"Synchronous=SOMETIMES", "Synchronous"},
        {"Busy Timeout=-5", "Busy Timeout"},
        {"Cache Size=12abc", "Cache Size"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(cs, sizeof cs, "Data Source=%s;%s", path, cases[i][0]);
        const sw_writer *w = NULL;
        sw_status s = sw_writer_open(cs, &w);
        if (s == SW_STATUS_OK) sw_writer_close(w);
        CHECK(s == SW_STATUS_INVALID_ARGUMENT, "open(\"...;%s\") returned %u (%s), want INVALID_ARGUMENT",
              cases[i][0], s, sw_status_str(s));
        const char *m = sw_last_error_message();
        /* the message may spell the keyword with or without its space */
        char squeezed[64];
        size_t k = 0;
        for (const char *c = cases[i][1]; *c && k + 1 < sizeof squeezed; c++)
            if (*c != ' ') squeezed[k++] = *c;
        squeezed[k] = 0;
        CHECK(t_contains_ci(m, cases[i][1]) || t_contains_ci(m, squeezed),
              "message for \"%s\" does not name %s: \"%s\"", cases[i][0], cases[i][1], m);
    }
}

void null_arguments_to_open_are_invalid_argument(void) {
    const sw_writer *w = NULL;
    CHECK_STATUS(sw_writer_open(NULL, &w), SW_STATUS_INVALID_ARGUMENT);
    char path[512];
    t_db(path, sizeof path, "x");
    CHECK_STATUS(sw_writer_open(path, NULL), SW_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(sw_writer_close(NULL), SW_STATUS_INVALID_ARGUMENT);
    /* the failed open with NULL out_writer left no writer behind: a new open with other options works */
    char cs[1024];
    snprintf(cs, sizeof cs, "Data Source=%s;Readers=3", path);
    OPEN(w2, cs);
    CLOSE(w2);
}

void invalid_utf8_connection_string_is_invalid_utf8(void) {
    char cs[600];
    snprintf(cs, sizeof cs, "%s/bad-\xff\xfe-name.db", t_tmpdir);
    const sw_writer *w = NULL;
    CHECK_STATUS(sw_writer_open(cs, &w), SW_STATUS_INVALID_UTF8);
    CHECK_STATUS(sw_writer_open("Data Source=\xc3\x28.db", &w), SW_STATUS_INVALID_UTF8);
}

void double_close_is_closed_not_a_crash(void) {
    char path[512];
    t_db(path, sizeof path, "x");
    const sw_writer *w = NULL;
    CHECK_OK(sw_writer_open(path, &w));
    CHECK_OK(sw_writer_close(w));
    CHECK_STATUS(sw_writer_close(w), SW_STATUS_CLOSED);
}

void use_after_close_is_closed(void) {
    char path[512];
    t_db(path, sizeof path, "x");
    const sw_writer *w = NULL, *other = NULL;
    CHECK_OK(sw_writer_open(path, &w));
    CHECK_OK(t_open(path, &other)); /* the writer itself stays open: only this handle is closed */
    CHECK_OK(t_exec(w, "CREATE TABLE t(x)"));
    CHECK_OK(sw_writer_close(w));
    CHECK_STATUS(t_exec(w, "INSERT INTO t VALUES (1)"), SW_STATUS_CLOSED);
    const sw_rows *rows = NULL;
    CHECK_STATUS(sw_writer_query(w, "SELECT 1", NULL, 0, &rows), SW_STATUS_CLOSED);
    CHECK_STATUS(sw_writer_enqueue(w, "INSERT INTO t VALUES (2)", NULL, 0, NULL, NULL), SW_STATUS_CLOSED);
    CHECK_STATUS(sw_writer_flush(w, 0), SW_STATUS_CLOSED);
    sw_stats st;
    CHECK_STATUS(sw_writer_stats(w, &st), SW_STATUS_CLOSED);
    int64_t n = -1;
    CHECK_OK(t_query_int(other, "SELECT count(*) FROM t", &n));
    CHECK(n == 0, "a write through a closed handle reached the database (%lld rows)", (long long)n);
    CLOSE(other);
    /* and once the writer itself is closed */
    CHECK_STATUS(t_exec(other, "INSERT INTO t VALUES (3)"), SW_STATUS_CLOSED);
}

/* A thread remembers the handles it used (the library skips the global handle check for
 * them): a close on another thread must still make its next call CLOSED. */
typedef struct {
    const sw_writer *w;
    pthread_barrier_t *used, *closed;
    sw_status before, after;
} closed_elsewhere;

static void *use_close_use(void *p) {
    closed_elsewhere *a = p;
    a->before = t_exec(a->w, "INSERT INTO t VALUES (1)");
    pthread_barrier_wait(a->used);
    pthread_barrier_wait(a->closed);
    a->after = t_exec(a->w, "INSERT INTO t VALUES (2)");
    return NULL;
}

void handle_closed_on_another_thread_is_closed_here(void) {
    char path[512];
    t_db(path, sizeof path, "x");
    const sw_writer *w = NULL, *other = NULL;
    CHECK_OK(sw_writer_open(path, &w));
    CHECK_OK(t_open(path, &other)); /* keeps the writer open: only the handle is closed */
    CHECK_OK(t_exec(w, "CREATE TABLE t(x)"));
    pthread_barrier_t used, closed;
    pthread_barrier_init(&used, NULL, 2);
    pthread_barrier_init(&closed, NULL, 2);
    closed_elsewhere a = {w, &used, &closed, SW_STATUS_ERROR, SW_STATUS_ERROR};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, use_close_use, &a) == 0, "pthread_create failed");
    pthread_barrier_wait(&used);
    CHECK_OK(sw_writer_close(w));
    pthread_barrier_wait(&closed);
    pthread_join(th, NULL);
    pthread_barrier_destroy(&used);
    pthread_barrier_destroy(&closed);
    CHECK_STATUS(a.before, SW_STATUS_OK);
    CHECK_STATUS(a.after, SW_STATUS_CLOSED);
    int64_t n = -1;
    CHECK_OK(t_query_int(other, "SELECT count(*) FROM t", &n));
    CHECK(n == 1, "expected only the write before the close, found %lld rows", (long long)n);
    CLOSE(other);
}

void second_open_with_different_option_is_invalid_argument_naming_it(void) {
    char path[512], cs1[1024], cs2[1024], cs3[1024];
    t_db(path, sizeof path, "x");
    snprintf(cs1, sizeof cs1, "Data Source=%s;Readers=2", path);
    snprintf(cs2, sizeof cs2, "Data Source=%s;Readers=3", path);
    snprintf(cs3, sizeof cs3, "Data Source=%s;readers=2;Cache Size=10000", path);
    OPEN(w1, cs1);
    const sw_writer *w2 = NULL;
    CHECK_STATUS(sw_writer_open(cs2, &w2), SW_STATUS_INVALID_ARGUMENT);
    CHECK(t_contains_ci(sw_last_error_message(), "Readers"), "message does not name Readers: \"%s\"",
          sw_last_error_message());
    /* the same values, or not naming an option, is fine */
    OPEN(w3, cs3);
    OPEN(w4, path);
    CLOSE(w3);
    CLOSE(w4);
    CLOSE(w1);
    /* after the writer closed, a new one may have other options */
    OPEN(w5, cs2);
    CLOSE(w5);
}

void memory_database_works(void) {
    OPEN(w, ":memory:");
    CHECK_OK(t_exec(w, "CREATE TABLE t(x)"));
    CHECK_OK(t_exec(w, "INSERT INTO t VALUES (5)"));
    int64_t v = 0;
    CHECK_OK(t_query_int(w, "SELECT sum(x) FROM t", &v));
    CHECK(v == 5, "sum = %lld, want 5 (reads must see the in-memory writes)", (long long)v);
    OPEN(w2, ":memory:");
    const sw_rows *rows = NULL;
    CHECK_STATUS(sw_writer_query(w2, "SELECT * FROM t", NULL, 0, &rows), SW_STATUS_ERROR);
    CLOSE(w2);
    CLOSE(w);
}

/* ---------------------------------------------------------------- writes */

static void open_table(char *path, size_t n, const char *name) { t_db(path, n, name); }

void execute_binds_positional_params_of_every_type(void) {
    char path[512];
    open_table(path, sizeof path, "x");
    OPEN(w, path);
    CHECK_OK(t_exec(w, "CREATE TABLE t(id INTEGER PRIMARY KEY, i INTEGER, r REAL, s TEXT, b BLOB, n)"));
    const unsigned char blob[] = {0, 1, 2, 0xff, 0};
    sw_param ps[] = {p_int(NULL, 10), p_int(NULL, -9007199254740993LL), p_real(NULL, 2.5),
                     p_text(NULL, "h\xc3\xa9llo"), p_blob(NULL, blob, sizeof blob), p_null(NULL)};
    sw_write_result r = {-1, -1};
    CHECK_OK(sw_writer_execute(w, "INSERT INTO t VALUES (?, ?, ?, ?, ?, ?)", ps, 6, &r));
    CHECK(r.rows_affected == 1, "rows_affected = %lld", (long long)r.rows_affected);
    CHECK(r.last_insert_rowid == 10, "last_insert_rowid = %lld, want 10", (long long)r.last_insert_rowid);

    /* ?NNN binds by number */
    sw_param two[] = {p_text(NULL, "first"), p_int(NULL, 11)};
    CHECK_OK(sw_writer_execute(w, "INSERT INTO t(id, s) VALUES (?2, ?1)", two, 2, &r));
    CHECK(r.last_insert_rowid == 11, "last_insert_rowid = %lld, want 11", (long long)r.last_insert_rowid);

    const sw_rows *rows = NULL;
    CHECK_OK(sw_writer_query(w, "SELECT i, r, s, b, n, typeof(n) FROM t WHERE id = 10", NULL, 0, &rows));
    CHECK(sw_rows_row_count(rows) == 1, "rows = %zu", sw_rows_row_count(rows));
    bool ok = sw_rows_int64(rows, 0, 0) == -9007199254740993LL && sw_rows_double(rows, 0, 1) == 2.5;
    size_t len = 0;
    const char *s = sw_rows_text(rows, 0, 2, &len);
    ok = ok && s && len == 6 && strcmp(s, "h\xc3\xa9llo") == 0;
    const uint8_t *b = sw_rows_blob(rows, 0, 3, &len);
    ok = ok && b && len == sizeof blob && memcmp(b, blob, sizeof blob) == 0;
    ok = ok && sw_rows_type(rows, 0, 4) == SW_TYPE_NULL;
    sw_rows_free(rows);
    CHECK(ok, "values did not round-trip");
    char txt[64];
    CHECK_OK(t_query_text(w, "SELECT s FROM t WHERE id = 11", txt, sizeof txt));
    CHECK(strcmp(txt, "first") == 0, "?2/?1 binding: s = \"%s\", want \"first\"", txt);
    CLOSE(w);
}

void execute_binds_named_params_in_every_prefix_form(void) {
    char path[512];
    open_table(path, sizeof path, "x");
    OPEN(w, path);
    CHECK_OK(t_exec(w, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)"));
    const char *sql_forms[] = {"INSERT INTO t(id, v) VALUES (@id, @val)", "INSERT INTO t(id, v) VALUES (:id, :val)",
                               "INSERT INTO t(id, v) VALUES ($id, $val)"};
    const char *id_names[] = {"@id", ":id", "$id", "id"};
    const char *val_names[] = {"@val", ":val", "$val", "val"};
    int id = 0;
    char failures[1024] = "";
    for (int s = 0; s < 3; s++) {
        for (int n = 0; n < 4; n++) {
            id++;
            char val[32];
            snprintf(val, sizeof val, "v%d", id);
            /* given in the opposite order to the SQL: binding must be by name */
            sw_param ps[] = {p_text(val_names[n], val), p_int(id_names[n], id)};
            sw_write_result r = {0, 0};
            sw_status st = sw_writer_execute(w, sql_forms[s], ps, 2, &r);
            if (st != SW_STATUS_OK || r.last_insert_rowid != id) {
                size_t l = strlen(failures);
                snprintf(failures + l, sizeof failures - l, " [SQL %c, names %s/%s: %s \"%s\"]", "@:$"[s],
                         id_names[n], val_names[n], sw_status_str(st), sw_last_error_message());
                continue;
            }
            char got[32], q[64];
            snprintf(q, sizeof q, "SELECT v FROM t WHERE id = %d", id);
            CHECK_OK(t_query_text(w, q, got, sizeof got));
            CHECK(strcmp(got, val) == 0, "SQL %c with names %s/%s stored \"%s\", want \"%s\"", "@:$"[s],
                  id_names[n], val_names[n], got, val);
        }
    }
    CHECK(failures[0] == 0, "named binding failed for:%s", failures);
    /* the same name used twice in the SQL binds both places */
    sw_param one = p_int("x", 77);
    CHECK_OK(sw_writer_execute(w, "INSERT INTO t(id, v) VALUES (@x, @x)", &one, 1, NULL));
    char got[32];
    CHECK_OK(t_query_text(w, "SELECT v FROM t WHERE id = 77", got, sizeof got));
    CHECK(strcmp(got, "77") == 0, "v = \"%s\"", got);
    CLOSE(w);
}

void rows_affected_and_last_insert_rowid_are_reported(void) {
    char path[512];
    open_table(path, sizeof path, "x");
    OPEN(w, path);
    CHECK_OK(t_exec(w, "CREATE TABLE t(id INTEGER PRIMARY KEY AUTOINCREMENT, g INTEGER)"));
    sw_write_result r;
    for (int i = 1; i <= 5; i++) {
        sw_param p = p_int(NULL, i % 2);
        CHECK_OK(sw_writer_execute(w, "INSERT INTO t(g) VALUES (?)", &p, 1, &r));
        CHECK(r.rows_affected == 1 && r.last_insert_rowid == i, "insert %d: rows %lld rowid %lld", i,
              (long long)r.rows_affected, (long long)r.last_insert_rowid);
    }
    CHECK_OK(sw_writer_execute(w, "UPDATE t SET g = 9 WHERE g = 1", NULL, 0, &r));
    CHECK(r.rows_affected == 3, "UPDATE rows_affected = %lld, want 3", (long long)r.rows_affected);
    CHECK(r.last_insert_rowid == 0, "UPDATE last_insert_rowid = %lld, want 0 (it inserted none)",
          (long long)r.last_insert_rowid);
    CHECK_OK(sw_writer_execute(w, "DELETE FROM t WHERE g = 0", NULL, 0, &r));
    CHECK(r.rows_affected == 2, "DELETE rows_affected = %lld, want 2", (long long)r.rows_affected);
    CHECK_OK(sw_writer_execute(w, "INSERT INTO t(g) SELECT g FROM t", NULL, 0, &r));
    CHECK(r.rows_affected == 3 && r.last_insert_rowid == 8, "INSERT..SELECT: rows %lld rowid %lld, want 3 / 8",
          (long long)r.rows_affected, (long long)r.last_insert_rowid);
    /* out_result may be NULL */
    CHECK_OK(sw_writer_execute(w, "INSERT INTO t(g) VALUES (1)", NULL, 0, NULL));
    CLOSE(w);
}

void param_the_sql_lacks_is_invalid_argument_naming_it(void) {
    char path[512];
    open_table(path, sizeof path, "x");
    OPEN(w, path);
    CHECK_OK(t_exec(w, "CREATE TABLE t(a, b)"));
    sw_param ps[] = {p_int("@a", 1), p_int("@b", 2), p_int("@nosuchparam", 3)};
    CHECK_STATUS(sw_writer_execute(w, "INSERT INTO t VALUES (@a, @b)", ps, 3, NULL), SW_STATUS_INVALID_ARGUMENT);
    CHECK(t_contains_ci(sw_last_error_message(), "nosuchparam"), "message does not name it: \"%s\"",
          sw_last_error_message());
    /* too many positional params */
    sw_param pos[] = {p_int(NULL, 1), p_int(NULL, 2), p_int(NULL, 3)};
    CHECK_STATUS(sw_writer_execute(w, "INSERT INTO t VALUES (?, ?)", pos, 3, NULL), SW_STATUS_INVALID_ARGUMENT);
    int64_t n = -1;
    CHECK_OK(t_query_int(w, "SELECT count(*) FROM t", &n));
    CHECK(n == 0, "%lld rows written by refused writes", (long long)n);
    CLOSE(w);
}

void unbound_sql_parameter_is_invalid_argument(void) {
    char path[512];
    open_table(path, sizeof path, "x");
    OPEN(w, path);
    CHECK_OK(t_exec(w, "CREATE TABLE t(a, b)"));
    sw_param a = p_int("@a", 1);
    CHECK_STATUS(sw_writer_execute(w, "INSERT INTO t VALUES (@a, @leftunbound)", &a, 1, NULL),
                 SW_STATUS_INVALID_ARGUMENT);
    CHECK(t_contains_ci(sw_last_error_message(), "leftunbound"), "message does not name it: \"%s\"",
          sw_last_error_message());
    sw_param one = p_int(NULL, 1);
    CHECK_STATUS(sw_writer_execute(w, "INSERT INTO t VALUES (?, ?)", &one, 1, NULL), SW_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(sw_writer_execute(w, "INSERT INTO t VALUES (?, ?)", NULL, 0, NULL), SW_STATUS_INVALID_ARGUMENT);
    int64_t n = -1;
    CHECK_OK(t_query_int(w, "SELECT count(*) FROM t", &n));
    CHECK(n == 0, "%lld rows written by refused writes (unbound params must not become NULL)", (long long)n);
    CLOSE(w);
}

void unknown_value_type_is_invalid_argument(void) {
    char path[512];
    open_table(path, sizeof path, "x");
    OPEN(w, path);
    CHECK_OK(t_exec(w, "CREATE TABLE t(a)"));
    sw_param p = p_int(NULL, 1);
    p.value.type = 99;
    CHECK_STATUS(sw_writer_execute(w, "INSERT INTO t VALUES (?)", &p, 1, NULL), SW_STATUS_INVALID_ARGUMENT);
    p.value.type = 0;
    CHECK_STATUS(sw_writer_execute(w, "INSERT INTO t VALUES (?)", &p, 1, NULL), SW_STATUS_INVALID_ARGUMENT);
    /* text / blob with NULL data and non-zero length */
    sw_param q = p_textn(NULL, NULL, 5);
    CHECK_STATUS(sw_writer_execute(w, "INSERT INTO t VALUES (?)", &q, 1, NULL), SW_STATUS_INVALID_ARGUMENT);
    /* NULL data with len 0 is allowed: empty text and empty blob */
    sw_param e[] = {p_textn(NULL, NULL, 0)};
    CHECK_OK(sw_writer_execute(w, "INSERT INTO t VALUES (?)", e, 1, NULL));
    e[0] = p_blob(NULL, NULL, 0);
    CHECK_OK(sw_writer_execute(w, "INSERT INTO t VALUES (?)", e, 1, NULL));
    /* params NULL with n_params > 0 */
    CHECK_STATUS(sw_writer_execute(w, "INSERT INTO t VALUES (?)", NULL, 1, NULL), SW_STATUS_INVALID_ARGUMENT);
    int64_t n = -1;
    CHECK_OK(t_query_int(w, "SELECT count(*) FROM t WHERE a = '' OR a = x''", &n));
    CHECK(n == 2, "empty text/blob rows: %lld, want 2", (long long)n);
    CLOSE(w);
}

void invalid_utf8_text_param_is_invalid_utf8(void) {
    char path[512];
    open_table(path, sizeof path, "x");
    OPEN(w, path);
    CHECK_OK(t_exec(w, "CREATE TABLE t(a)"));
    sw_param p = p_textn(NULL, "ok\xff\xfe", 4);
    CHECK_STATUS(sw_writer_execute(w, "INSERT INTO t VALUES (?)", &p, 1, NULL), SW_STATUS_INVALID_UTF8);
    /* a truncated sequence at the end of `len` */
    sw_param t = p_textn(NULL, "\xc3\xa9", 1);
    CHECK_STATUS(sw_writer_execute(w, "INSERT INTO t VALUES (?)", &t, 1, NULL), SW_STATUS_INVALID_UTF8);
    /* invalid UTF-8 in a parameter name and in the SQL */
    sw_param n = p_int("@\xff", 1);
    CHECK_STATUS(sw_writer_execute(w, "INSERT INTO t VALUES (@a)", &n, 1, NULL), SW_STATUS_INVALID_UTF8);
    CHECK_STATUS(t_exec(w, "INSERT INTO t VALUES ('\xff')"), SW_STATUS_INVALID_UTF8);
    /* the same bytes as a blob are fine, and text may contain NUL when len says so */
    sw_param b = p_blob(NULL, "ok\xff\xfe", 4);
    CHECK_OK(sw_writer_execute(w, "INSERT INTO t VALUES (?)", &b, 1, NULL));
    sw_param z = p_textn(NULL, "a\0b", 3);
    CHECK_OK(sw_writer_execute(w, "INSERT INTO t VALUES (?)", &z, 1, NULL));
    int64_t c = -1;
    CHECK_OK(t_query_int(w, "SELECT count(*) FROM t", &c));
    CHECK(c == 2, "count = %lld, want 2", (long long)c);
    CHECK_OK(t_query_int(w, "SELECT length(CAST(a AS BLOB)) FROM t WHERE typeof(a) = 'text'", &c));
    CHECK(c == 3, "text with embedded NUL stored %lld bytes, want 3", (long long)c);
    CLOSE(w);
}

void null_sql_is_invalid_argument(void) {
    char path[512];
    open_table(path, sizeof path, "x");
    OPEN(w, path);
    CHECK_STATUS(sw_writer_execute(w, NULL, NULL, 0, NULL), SW_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(sw_writer_execute(NULL, "SELECT 1", NULL, 0, NULL), SW_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(sw_writer_enqueue(w, NULL, NULL, 0, NULL, NULL), SW_STATUS_INVALID_ARGUMENT);
    const sw_rows *rows = NULL;
    CHECK_STATUS(sw_writer_query(w, NULL, NULL, 0, &rows), SW_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(sw_writer_query(w, "SELECT 1", NULL, 0, NULL), SW_STATUS_INVALID_ARGUMENT);
    CLOSE(w);
}

void bad_sql_is_error_with_sqlite_message_and_code(void) {
    char path[512];
    open_table(path, sizeof path, "x");
    OPEN(w, path);
    CHECK_STATUS(t_exec(w, "INSRET INTO t VALUES (1)"), SW_STATUS_ERROR);
    CHECK(t_contains_ci(sw_last_error_message(), "syntax error"), "message: \"%s\"", sw_last_error_message());
    CHECK(sw_last_error_sqlite_code() != 0, "sqlite code is 0 for a syntax error");
    CHECK_STATUS(t_exec(w, "INSERT INTO missing_table VALUES (1)"), SW_STATUS_ERROR);
    CHECK(t_contains_ci(sw_last_error_message(), "no such table"), "message: \"%s\"", sw_last_error_message());
    CHECK(sw_last_error_sqlite_code() == 1, "sqlite code %d, want 1 (SQLITE_ERROR)", sw_last_error_sqlite_code());
    /* the writer is fine afterwards */
    CHECK_OK(t_exec(w, "CREATE TABLE t(a)"));
    CLOSE(w);
}

void unique_violation_is_constraint_with_unique_in_message(void) {
    char path[512];
    open_table(path, sizeof path, "x");
    OPEN(w, path);
    CHECK_OK(t_exec(w, "CREATE TABLE t(k TEXT UNIQUE, n INTEGER NOT NULL, c INTEGER CHECK (c > 0))"));
    CHECK_OK(t_exec(w, "INSERT INTO t VALUES ('a', 1, 1)"));
    CHECK_STATUS(t_exec(w, "INSERT INTO t VALUES ('a', 2, 1)"), SW_STATUS_CONSTRAINT);
    CHECK(strstr(sw_last_error_message(), "UNIQUE") != NULL, "message: \"%s\"", sw_last_error_message());
    CHECK(sw_last_error_sqlite_code() == 2067, "sqlite code %d, want 2067 (SQLITE_CONSTRAINT_UNIQUE)",
          sw_last_error_sqlite_code());
    CHECK_STATUS(t_exec(w, "INSERT INTO t VALUES ('b', NULL, 1)"), SW_STATUS_CONSTRAINT);
    CHECK(t_contains_ci(sw_last_error_message(), "NOT NULL"), "message: \"%s\"", sw_last_error_message());
    CHECK_STATUS(t_exec(w, "INSERT INTO t VALUES ('c', 1, 0)"), SW_STATUS_CONSTRAINT);
    CHECK(t_contains_ci(sw_last_error_message(), "CHECK"), "message: \"%s\"", sw_last_error_message());
    CLOSE(w);
}

void transaction_control_statements_are_refused(void) {
    char path[512];
    open_table(path, sizeof path, "x");
    OPEN(w, path);
    CHECK_OK(t_exec(w, "CREATE TABLE t(a)"));
    const char *refused[] = {
        "BEGIN",
        "begin immediate",
        "  COMMIT",
        "END",
        "ROLLBACK",
        "SAVEPOINT s1",
        "RELEASE s1",
        "BEGIN; INSERT INTO t VALUES (1); COMMIT",
        "INSERT INTO t VALUES (2); COMMIT",
        "INSERT INTO t VALUES (3); /* comment */ ROLLBACK; INSERT INTO t VALUES (4)",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        sw_status s = t_exec(w, refused[i]);
        CHECK(s == SW_STATUS_INVALID_ARGUMENT, "\"%s\" returned %u (%s), want INVALID_ARGUMENT; message \"%s\"",
              refused[i], s, sw_status_str(s), sw_last_error_message());
    }
    int64_t n = -1;
    CHECK_OK(t_query_int(w, "SELECT count(*) FROM t", &n));
    CHECK(n == 0, "refused statements wrote %lld rows", (long long)n);
    /* the lane is not left inside a transaction */
    CHECK_OK(t_exec(w, "INSERT INTO t VALUES (5)"));
    CHECK_OK(t_query_int(w, "SELECT count(*) FROM t", &n));
    CHECK(n == 1, "count = %lld, want 1", (long long)n);
    CLOSE(w);
}

void vacuum_and_pragma_run_alone_and_succeed(void) {
    char path[512];
    open_table(path, sizeof path, "x");
    OPEN(w, path);
    CHECK_OK(t_exec(w, "CREATE TABLE t(a)"));
    /* with other writes in flight so the lane has something to group with */
    for (int i = 0; i < 20; i++) CHECK_OK(sw_writer_enqueue(w, "INSERT INTO t VALUES (randomblob(100))", NULL, 0, NULL, NULL));
    CHECK_OK(t_exec(w, "VACUUM"));
    CHECK_OK(t_exec(w, "PRAGMA user_version=7"));
    for (int i = 0; i < 20; i++) CHECK_OK(sw_writer_enqueue(w, "DELETE FROM t WHERE rowid % 2 = 0", NULL, 0, NULL, NULL));
    CHECK_OK(t_exec(w, "VACUUM"));
    CHECK_OK(sw_writer_flush(w, 0));
    int64_t v = -1;
    CHECK_OK(t_query_int(w, "PRAGMA user_version", &v));
    CHECK(v == 7, "user_version = %lld, want 7", (long long)v);
    char mode[32];
    CHECK_OK(t_query_text(w, "PRAGMA journal_mode", mode, sizeof mode));
    CHECK(strcmp(mode, "wal") == 0, "journal_mode = \"%s\" after VACUUM, want wal", mode);
    CLOSE(w);
    /* the pragma was persisted */
    OPEN(w2, path);
    CHECK_OK(t_query_int(w2, "PRAGMA user_version", &v));
    CHECK(v == 7, "after reopen user_version = %lld, want 7", (long long)v);
    CLOSE(w2);
}

void multi_statement_sql_runs_all_or_nothing(void) {
    char path[512];
    open_table(path, sizeof path, "x");
    OPEN(w, path);
    sw_write_result r;
    CHECK_OK(sw_writer_execute(w, "CREATE TABLE a(x UNIQUE); CREATE TABLE b(y);", NULL, 0, &r));
    int64_t n = -1;
    CHECK_OK(t_query_int(w, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('a', 'b')", &n));
    CHECK(n == 2, "%lld of the two tables exist", (long long)n);
    /* a later statement may use what an earlier one created (statements run in order, like sqlite3_exec) */
    CHECK_OK(t_exec(w, "CREATE TABLE c(z); INSERT INTO c VALUES (1); INSERT INTO c SELECT z + 1 FROM c"));
    CHECK_OK(t_query_int(w, "SELECT sum(z) FROM c", &n));
    CHECK(n == 3, "sum(z) = %lld, want 3", (long long)n);
    CHECK_OK(sw_writer_execute(w, "INSERT INTO a VALUES (1); INSERT INTO b VALUES (1); INSERT INTO b VALUES (2)",
                               NULL, 0, &r));
    CHECK(r.rows_affected == 3, "rows_affected = %lld, want 3 (summed over the statements)",
          (long long)r.rows_affected);
    CHECK_STATUS(t_exec(w, "INSERT INTO b VALUES (3); INSERT INTO a VALUES (1)"), SW_STATUS_CONSTRAINT);
    CHECK_OK(t_query_int(w, "SELECT count(*) FROM b", &n));
    CHECK(n == 2, "b has %lld rows: the first statement of a failed write was kept", (long long)n);
    /* params spread over statements: positional numbering is per write */
    sw_param ps[] = {p_int("@v", 10)};
    CHECK_OK(sw_writer_execute(w, "INSERT INTO a VALUES (@v); INSERT INTO b VALUES (@v)", ps, 1, NULL));
    CHECK_OK(t_query_int(w, "SELECT count(*) FROM b WHERE y = 10", &n));
    CHECK(n == 1, "named param in the second statement: %lld rows", (long long)n);
    CLOSE(w);
}
