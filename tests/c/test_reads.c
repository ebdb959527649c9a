/* Reads: sw_writer_query, rows accessors, JSON, and the cache behind sw_writer_read. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "tests.h"

void query_returns_rows_with_names_types_and_values(void) {
    char path[512];
    t_db(path, sizeof path, "x");
    OPEN(w, path);
    CHECK_OK(t_exec(w, "CREATE TABLE t(id INTEGER PRIMARY KEY, i INTEGER, r REAL, s TEXT, b BLOB, n)"));
    CHECK_OK(t_exec(w, "INSERT INTO t VALUES (1, 42, 2.75, '17 apples', x'00ff10', NULL),"
                       " (2, -1, -0.5, '', x'', NULL)"));
    const sw_rows *rows = NULL;
    sw_param p = p_int("@min", 0);
    CHECK_OK(sw_writer_query(w, "SELECT i, r, s, b, n FROM t WHERE id > @min ORDER BY id", &p, 1, &rows));
    char problem[512] = "";
#define EXPECT(cond, ...)                                                                    \
    do {                                                                                     \
        if (!problem[0] && !(cond)) snprintf(problem, sizeof problem, __VA_ARGS__);          \
    } while (0)
    EXPECT(sw_rows_row_count(rows) == 2, "row_count %zu", sw_rows_row_count(rows));
    EXPECT(sw_rows_column_count(rows) == 5, "column_count %zu", sw_rows_column_count(rows));
    const char *names[] = {"i", "r", "s", "b", "n"};
    for (size_t c = 0; c < 5; c++) {
        const char *n = sw_rows_column_name(rows, c);
        EXPECT(n && strcmp(n, names[c]) == 0, "column %zu name \"%s\"", c, n ? n : "(null)");
    }
    EXPECT(sw_rows_column_name(rows, 5) == NULL, "column_name(5) not NULL");
    uint32_t types[] = {SW_TYPE_INTEGER, SW_TYPE_FLOAT, SW_TYPE_TEXT, SW_TYPE_BLOB, SW_TYPE_NULL};
    for (size_t c = 0; c < 5; c++)
        EXPECT(sw_rows_type(rows, 0, c) == types[c], "type(0,%zu) = %u, want %u", c, sw_rows_type(rows, 0, c),
               types[c]);
    EXPECT(sw_rows_int64(rows, 0, 0) == 42, "int64(0,0)");
    EXPECT(sw_rows_double(rows, 0, 0) == 42.0, "double of an integer");
    EXPECT(sw_rows_double(rows, 0, 1) == 2.75, "double(0,1)");
    EXPECT(sw_rows_int64(rows, 0, 1) == 2, "int64 of 2.75 = %lld, want 2 (truncated)", (long long)sw_rows_int64(rows, 0, 1));
    EXPECT(sw_rows_int64(rows, 0, 2) == 17, "int64 of '17 apples' = %lld, want 17", (long long)sw_rows_int64(rows, 0, 2));
    size_t len = 99;
    const char *s = sw_rows_text(rows, 0, 2, &len);
    EXPECT(s && strcmp(s, "17 apples") == 0 && len == 9, "text(0,2) = \"%s\" len %zu", s ? s : "(null)", len);
    EXPECT(sw_rows_text(rows, 0, 2, NULL) == s, "text with NULL out_len");
    len = 99;
    EXPECT(sw_rows_text(rows, 0, 0, &len) == NULL && len == 0, "text of an INTEGER cell: not NULL/0 (len %zu)", len);
    len = 99;
    const uint8_t *b = sw_rows_blob(rows, 0, 3, &len);
    EXPECT(b && len == 3 && b[0] == 0 && b[1] == 0xff && b[2] == 0x10, "blob(0,3) len %zu", len);
    len = 0;
    const uint8_t *tb = sw_rows_blob(rows, 0, 2, &len);
    EXPECT(tb && len == 9 && memcmp(tb, "17 apples", 9) == 0, "blob of a TEXT cell gives its bytes (len %zu)", len);
    len = 99;
    EXPECT(sw_rows_blob(rows, 1, 3, &len) == NULL && len == 0, "empty blob: not NULL/0");
    len = 99;
    s = sw_rows_text(rows, 1, 2, &len);
    EXPECT(s && s[0] == 0 && len == 0, "empty text: want \"\" and len 0");
    EXPECT(sw_rows_int64(rows, 0, 4) == 0 && sw_rows_double(rows, 0, 4) == 0.0, "NULL cell not 0");
    EXPECT(sw_rows_text(rows, 0, 4, NULL) == NULL && sw_rows_blob(rows, 0, 4, NULL) == NULL, "NULL cell accessors");
    /* out of range */
    EXPECT(sw_rows_type(rows, 2, 0) == SW_TYPE_NULL && sw_rows_type(rows, 0, 5) == SW_TYPE_NULL, "type out of range");
    EXPECT(sw_rows_int64(rows, 2, 0) == 0 && sw_rows_int64(rows, 0, 99) == 0, "int64 out of range");
    EXPECT(sw_rows_double(rows, 9, 1) == 0.0, "double out of range");
    len = 99;
    EXPECT(sw_rows_text(rows, 0, 99, &len) == NULL && len == 0, "text out of range");
    len = 99;
    EXPECT(sw_rows_blob(rows, (size_t)-1, 3, &len) == NULL && len == 0, "blob out of range");
    EXPECT(sw_rows_int64(rows, SIZE_MAX, SIZE_MAX) == 0, "int64(SIZE_MAX, SIZE_MAX)");
    /* NULL rows */
    EXPECT(sw_rows_row_count(NULL) == 0 && sw_rows_column_count(NULL) == 0, "counts of NULL");
    EXPECT(sw_rows_column_name(NULL, 0) == NULL && sw_rows_type(NULL, 0, 0) == SW_TYPE_NULL, "NULL rows");
    EXPECT(sw_rows_int64(NULL, 0, 0) == 0 && sw_rows_text(NULL, 0, 0, NULL) == NULL, "NULL rows accessors");
    sw_rows_free(rows);
    sw_rows_free(NULL);
    sw_string_free(NULL);
    sw_signals_free(NULL);
#undef EXPECT
    CHECK(!problem[0], "%s", problem);

    /* a query with no rows */
    CHECK_OK(sw_writer_query(w, "SELECT * FROM t WHERE 0", NULL, 0, &rows));
    size_t rc = sw_rows_row_count(rows), cc = sw_rows_column_count(rows);
    sw_rows_free(rows);
    CHECK(rc == 0 && cc == 6, "empty result: %zu rows %zu columns, want 0 and 6", rc, cc);
    CLOSE(w);
}

void write_through_query_is_readonly_and_changes_nothing(void) {
    char path[512];
    t_db(path, sizeof path, "x");
    OPEN(w, path);
    CHECK_OK(t_exec(w, "CREATE TABLE t(x)"));
    CHECK_OK(t_exec(w, "INSERT INTO t VALUES (1)"));
    const char *writes[] = {
        "INSERT INTO t VALUES (2)",
        "UPDATE t SET x = 3",
        "DELETE FROM t",
        "CREATE TABLE u(y)",
        "DROP TABLE t",
        "PRAGMA user_version = 9",
        "INSERT INTO t VALUES (4) RETURNING x",
    };
    for (size_t i = 0; i < sizeof writes / sizeof writes[0]; i++) {
        const sw_rows *rows = NULL;
        sw_status s = sw_writer_query(w, writes[i], NULL, 0, &rows);
        sw_rows_free(rows);
        CHECK(s == SW_STATUS_READONLY, "sw_writer_query(\"%s\") returned %u (%s), want READONLY: \"%s\"", writes[i], s,
              sw_status_str(s), sw_last_error_message());
        s = sw_writer_read(w, "k", writes[i], NULL, 0, &rows);
        sw_rows_free(rows);
        CHECK(s == SW_STATUS_READONLY, "sw_writer_read(\"%s\") returned %u (%s), want READONLY", writes[i], s,
              sw_status_str(s));
    }
    char s[64];
    CHECK_OK(t_query_text(w, "SELECT group_concat(x) FROM t", s, sizeof s));
    CHECK(strcmp(s, "1") == 0, "table holds \"%s\", want \"1\"", s);
    int64_t v = -1;
    CHECK_OK(t_query_int(w, "PRAGMA user_version", &v));
    CHECK(v == 0, "user_version = %lld after a refused PRAGMA", (long long)v);
    CHECK_OK(t_query_int(w, "SELECT count(*) FROM sqlite_master WHERE name = 'u'", &v));
    CHECK(v == 0, "CREATE TABLE through the read path created the table");
    CLOSE(w);
}

void rows_to_json_renders_known_result_exactly(void) {
    OPEN(w, ":memory:");
    const sw_rows *rows = NULL;
    CHECK_OK(sw_writer_query(w,
                             "SELECT 1 AS i, -2.5 AS r, 'a\"b\\c' || char(10) || char(1) || 'é' AS s, x'00ff' AS b, NULL AS n "
                             "UNION ALL SELECT 2, 0.125, '', x'', NULL",
                             NULL, 0, &rows));
    char *json = NULL;
    sw_status st = sw_rows_to_json(rows, &json);
    if (st != SW_STATUS_OK) sw_rows_free(rows);
    CHECK_OK(st);
    const char *want = "[{\"i\":1,\"r\":-2.5,\"s\":\"a\\\"b\\\\c\\n\\u0001é\",\"b\":\"AP8=\",\"n\":null},"
                       "{\"i\":2,\"r\":0.125,\"s\":\"\",\"b\":\"\",\"n\":null}]";
    int same = json && strcmp(json, want) == 0;
    char got[512];
    snprintf(got, sizeof got, "%s", json ? json : "(null)");
    sw_string_free(json);
    CHECK_STATUS(sw_rows_to_json(rows, NULL), SW_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(sw_rows_to_json(NULL, &json), SW_STATUS_INVALID_ARGUMENT);
    sw_rows_free(rows);
    CHECK(same, "sw_rows_to_json gave\n    %s\n  want\n    %s", got, want);

    CHECK_OK(sw_writer_query(w, "SELECT 1 AS x WHERE 0", NULL, 0, &rows));
    json = NULL;
    st = sw_rows_to_json(rows, &json);
    sw_rows_free(rows);
    CHECK_OK(st);
    same = json && strcmp(json, "[]") == 0;
    snprintf(got, sizeof got, "%s", json ? json : "(null)");
    sw_string_free(json);
    CHECK(same, "empty result as JSON: %s, want []", got);
    CLOSE(w);
}

static sw_status read_value(const sw_writer *w, const char *key, const char *sql, int64_t *out) {
    const sw_rows *rows = NULL;
    sw_status s = sw_writer_read(w, key, sql, NULL, 0, &rows);
    if (s != SW_STATUS_OK) return s;
    *out = sw_rows_row_count(rows) ? sw_rows_int64(rows, 0, 0) : INT64_MIN;
    sw_rows_free(rows);
    return SW_STATUS_OK;
}

#define CACHE_STATS(w, st) CHECK_OK(sw_writer_cache_stats((w), &(st)))

void read_cache_serves_hits_and_invalidates_on_writes_to_read_tables(void) {
    char path[512];
    t_db(path, sizeof path, "x");
    OPEN(w, path);
    CHECK_OK(t_exec(w, "CREATE TABLE items(id INTEGER PRIMARY KEY, v INTEGER); CREATE TABLE other(x)"));
    CHECK_OK(t_exec(w, "INSERT INTO items VALUES (1, 10)"));
    const char *q = "SELECT v FROM items WHERE id = 1";
    sw_cache_stats a, b;
    CACHE_STATS(w, a);
    int64_t v = 0;
    CHECK_OK(read_value(w, "items:1", q, &v));
    CHECK(v == 10, "first read %lld", (long long)v);
    CHECK_OK(read_value(w, "items:1", q, &v));
    CHECK(v == 10, "second read %lld", (long long)v);
    CACHE_STATS(w, b);
    CHECK(b.misses - a.misses == 1 && b.hits - a.hits == 1, "two reads: %llu misses %llu hits, want 1 and 1",
          (unsigned long long)(b.misses - a.misses), (unsigned long long)(b.hits - a.hits));
    CHECK(b.entries == 1, "entries = %llu, want 1", (unsigned long long)b.entries);

    /* a write to the table the query read: the next read sees the new value */
    CHECK_OK(t_exec(w, "UPDATE items SET v = 11 WHERE id = 1"));
    CHECK_OK(read_value(w, "items:1", q, &v));
    CHECK(v == 11, "after UPDATE the cached read returned %lld, want 11 (not invalidated by the write)", (long long)v);
    CACHE_STATS(w, a);
    CHECK(a.misses - b.misses == 1, "the read after the write was not a miss");

    /* a write to an unrelated table keeps the entry */
    CHECK_OK(t_exec(w, "INSERT INTO other VALUES (1)"));
    CHECK_OK(read_value(w, "items:1", q, &v));
    CACHE_STATS(w, b);
    CHECK(v == 11 && b.hits - a.hits == 1 && b.misses == a.misses,
          "after a write to an unrelated table: value %lld, +%llu hits +%llu misses; want 11, +1, +0", (long long)v,
          (unsigned long long)(b.hits - a.hits), (unsigned long long)(b.misses - a.misses));

    /* a write through another handle of the same writer, and via a transaction, invalidates too */
    OPEN(w2, path);
    CHECK_OK(t_exec(w2, "UPDATE items SET v = 12"));
    CHECK_OK(read_value(w, "items:1", q, &v));
    CHECK(v == 12, "after a write through another handle: %lld, want 12", (long long)v);
    CLOSE(w2);
    /* a join reads both tables */
    CHECK_OK(read_value(w, "join", "SELECT count(*) FROM items, other", &v));
    CHECK(v == 1, "join count %lld", (long long)v);
    CHECK_OK(t_exec(w, "INSERT INTO other VALUES (2)"));
    CHECK_OK(read_value(w, "join", "SELECT count(*) FROM items, other", &v));
    CHECK(v == 2, "join after a write to its second table: %lld, want 2", (long long)v);
    CLOSE(w);
}

void read_cache_rows_stay_valid_after_invalidation(void) {
    char path[512];
    t_db(path, sizeof path, "x");
    OPEN(w, path);
    CHECK_OK(t_exec(w, "CREATE TABLE t(s TEXT)"));
    CHECK_OK(t_exec(w, "INSERT INTO t VALUES ('original value')"));
    const sw_rows *rows = NULL;
    CHECK_OK(sw_writer_read(w, "k", "SELECT s FROM t", NULL, 0, &rows));
    const char *s = sw_rows_text(rows, 0, 0, NULL);
    sw_status a = t_exec(w, "UPDATE t SET s = 'new'");
    sw_status b = sw_writer_invalidate(w, "k");
    const sw_rows *rows2 = NULL;
    sw_status c = sw_writer_read(w, "k", "SELECT s FROM t", NULL, 0, &rows2);
    int still = s && strcmp(s, "original value") == 0;
    const char *s2 = c == SW_STATUS_OK ? sw_rows_text(rows2, 0, 0, NULL) : NULL;
    int fresh = s2 && strcmp(s2, "new") == 0;
    sw_rows_free(rows);
    sw_rows_free(rows2);
    CHECK(a == SW_STATUS_OK && b == SW_STATUS_OK && c == SW_STATUS_OK, "statuses %u %u %u", a, b, c);
    CHECK(still, "the text pointer of a held result changed after its entry was invalidated");
    CHECK(fresh, "re-read returned the old value");
    CLOSE(w);
}

void invalidate_by_key_and_by_glob(void) {
    char path[512];
    t_db(path, sizeof path, "x");
    OPEN(w, path);
    CHECK_OK(t_exec(w, "CREATE TABLE items(id INTEGER PRIMARY KEY, v INTEGER)"));
    CHECK_OK(t_exec(w, "INSERT INTO items VALUES (1, 10), (2, 20)"));
    int64_t v;
    const char *keys[] = {"items:1", "items:2", "users:1"};
    for (int i = 0; i < 3; i++) CHECK_OK(read_value(w, keys[i], "SELECT count(*) FROM items", &v));
    sw_cache_stats a, b;
    CACHE_STATS(w, a);
    CHECK(a.entries == 3, "entries %llu, want 3", (unsigned long long)a.entries);

    CHECK_OK(sw_writer_invalidate(w, "items:1"));
    CACHE_STATS(w, b);
    CHECK(b.invalidations - a.invalidations == 1, "invalidating one key counted %llu invalidations",
          (unsigned long long)(b.invalidations - a.invalidations));
    for (int i = 0; i < 3; i++) CHECK_OK(read_value(w, keys[i], "SELECT count(*) FROM items", &v));
    CACHE_STATS(w, a);
    CHECK(a.misses - b.misses == 1 && a.hits - b.hits == 2, "after invalidating items:1: +%llu misses +%llu hits, want +1 +2",
          (unsigned long long)(a.misses - b.misses), (unsigned long long)(a.hits - b.hits));

    CHECK_OK(sw_writer_invalidate(w, "items:*"));
    for (int i = 0; i < 3; i++) CHECK_OK(read_value(w, keys[i], "SELECT count(*) FROM items", &v));
    CACHE_STATS(w, b);
    CHECK(b.misses - a.misses == 2 && b.hits - a.hits == 1, "after invalidating items:*: +%llu misses +%llu hits, want +2 +1",
          (unsigned long long)(b.misses - a.misses), (unsigned long long)(b.hits - a.hits));
    CHECK(b.invalidations - a.invalidations == 2, "glob counted %llu invalidations, want 2",
          (unsigned long long)(b.invalidations - a.invalidations));

    /* ? matches one character; the glob is anchored */
    CHECK_OK(sw_writer_invalidate(w, "users:?"));
    CHECK_OK(sw_writer_invalidate(w, "items"));
    for (int i = 0; i < 3; i++) CHECK_OK(read_value(w, keys[i], "SELECT count(*) FROM items", &v));
    CACHE_STATS(w, a);
    CHECK(a.misses - b.misses == 1 && a.hits - b.hits == 2, "users:? / items: +%llu misses +%llu hits, want +1 +2",
          (unsigned long long)(a.misses - b.misses), (unsigned long long)(a.hits - b.hits));

    CHECK_OK(sw_writer_invalidate(w, "no-such-key"));
    CHECK_STATUS(sw_writer_invalidate(w, NULL), SW_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(sw_writer_invalidate(w, "bad\xff"), SW_STATUS_INVALID_UTF8);
    const sw_rows *rows = NULL;
    CHECK_STATUS(sw_writer_read(w, NULL, "SELECT 1", NULL, 0, &rows), SW_STATUS_INVALID_ARGUMENT);
    CLOSE(w);
}

void execute_and_invalidate_drops_named_keys_after_commit(void) {
    char path[512];
    t_db(path, sizeof path, "x");
    OPEN(w, path);
    CHECK_OK(t_exec(w, "CREATE TABLE a(x); CREATE TABLE b(y)"));
    CHECK_OK(t_exec(w, "INSERT INTO a VALUES (1)"));
    int64_t v;
    CHECK_OK(read_value(w, "report:a", "SELECT count(*) FROM a", &v));
    CHECK_OK(read_value(w, "report:b", "SELECT count(*) FROM a", &v));
    CHECK_OK(read_value(w, "keep", "SELECT count(*) FROM a", &v));
    sw_cache_stats s0, s1;
    CACHE_STATS(w, s0);
    /* the write touches only b, so only the named keys may go */
    const char *keys[] = {"report:a", "report:*"};
    sw_write_result r = {0, 0};
    sw_param p = p_int(NULL, 5);
    CHECK_OK(sw_writer_execute_and_invalidate(w, "INSERT INTO b VALUES (?)", &p, 1, keys, 2, &r));
    CHECK(r.rows_affected == 1 && r.last_insert_rowid == 1, "result %lld/%lld", (long long)r.rows_affected,
          (long long)r.last_insert_rowid);
    CHECK_OK(read_value(w, "report:a", "SELECT count(*) FROM a", &v));
    CHECK_OK(read_value(w, "report:b", "SELECT count(*) FROM a", &v));
    CHECK_OK(read_value(w, "keep", "SELECT count(*) FROM a", &v));
    CACHE_STATS(w, s1);
    CHECK(s1.misses - s0.misses == 2 && s1.hits - s0.hits == 1, "+%llu misses +%llu hits, want +2 +1",
          (unsigned long long)(s1.misses - s0.misses), (unsigned long long)(s1.hits - s0.hits));
    int64_t n = -1;
    CHECK_OK(t_query_int(w, "SELECT y FROM b", &n));
    CHECK(n == 5, "the write did not land");

    /* no keys is fine; a NULL key is refused (and the write does not run) */
    CHECK_OK(sw_writer_execute_and_invalidate(w, "INSERT INTO b VALUES (6)", NULL, 0, NULL, 0, NULL));
    const char *null_key[] = {"ok", NULL};
    CHECK_STATUS(sw_writer_execute_and_invalidate(w, "INSERT INTO b VALUES (7)", NULL, 0, null_key, 2, NULL),
                 SW_STATUS_INVALID_ARGUMENT);
    CHECK_OK(t_query_int(w, "SELECT count(*) FROM b WHERE y = 7", &n));
    CHECK(n == 0, "the write of a refused execute_and_invalidate ran");
    /* a failing write invalidates nothing and reports its error */
    CACHE_STATS(w, s0);
    CHECK_STATUS(sw_writer_execute_and_invalidate(w, "INSERT INTO nope VALUES (1)", NULL, 0, keys, 2, NULL),
                 SW_STATUS_ERROR);
    CLOSE(w);
}

void cache_stats_report_size_evictions_hot_and_expiry(void) {
    char path[512], cs[1024];
    t_db(path, sizeof path, "x");
    snprintf(cs, sizeof cs, "Data Source=%s;Cache Size=3;Cache TTL=300;Hot Access Threshold=2;Hot Key TTL=60000", path);
    OPEN(w, cs);
    CHECK_OK(t_exec(w, "CREATE TABLE t(x)"));
    CHECK_OK(t_exec(w, "INSERT INTO t VALUES (1)"));
    sw_cache_stats st;
    CACHE_STATS(w, st);
    CHECK(st.max_entries == 3, "max_entries %llu, want 3 (Cache Size)", (unsigned long long)st.max_entries);
    CHECK(st.entries == 0 && st.hits == 0 && st.misses == 0, "fresh cache not empty");
    int64_t v;
    /* "hot" is read often enough to become a hot entry */
    for (int i = 0; i < 5; i++) CHECK_OK(read_value(w, "hot", "SELECT x FROM t", &v));
    CACHE_STATS(w, st);
    CHECK(st.hot_entries == 1, "hot_entries %llu after 5 reads with threshold 2, want 1",
          (unsigned long long)st.hot_entries);
    CHECK(st.hits == 4 && st.misses == 1, "hits %llu misses %llu, want 4 / 1", (unsigned long long)st.hits,
          (unsigned long long)st.misses);
    /* fill past Cache Size, touching "hot" in between: the least recently used cold entries go */
    const char *cold[] = {"c1", "c2", "c3", "c4"};
    for (int i = 0; i < 4; i++) {
        CHECK_OK(read_value(w, cold[i], "SELECT x FROM t", &v));
        CHECK_OK(read_value(w, "hot", "SELECT x FROM t", &v));
    }
    CACHE_STATS(w, st);
    CHECK(st.entries <= 3, "entries %llu > Cache Size 3", (unsigned long long)st.entries);
    CHECK(st.evictions >= 2, "evictions %llu, want >= 2", (unsigned long long)st.evictions);
    /* the cold entries expire after Cache TTL and are never served */
    t_sleep_ms(700);
    sw_cache_stats before;
    CACHE_STATS(w, before);
    CHECK(before.expired_entries >= 1 || before.entries < st.entries,
          "after 700 ms with TTL 300 ms: %llu entries, %llu expired", (unsigned long long)before.entries,
          (unsigned long long)before.expired_entries);
    CHECK_OK(read_value(w, "c4", "SELECT x FROM t", &v));
    CHECK_OK(read_value(w, "hot", "SELECT x FROM t", &v));
    sw_cache_stats after;
    CACHE_STATS(w, after);
    CHECK(after.misses - before.misses == 1, "expired c4 served from the cache (+%llu misses)",
          (unsigned long long)(after.misses - before.misses));
    CHECK(after.hits - before.hits == 1, "the hot entry (Hot Key TTL 60 s) was not served (+%llu hits)",
          (unsigned long long)(after.hits - before.hits));
    CHECK_STATUS(sw_writer_cache_stats(w, NULL), SW_STATUS_INVALID_ARGUMENT);
    CLOSE(w);
}
