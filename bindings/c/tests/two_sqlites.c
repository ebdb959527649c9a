/*
 * A program that uses SQLite itself (sqlite3.h, -lsqlite3) and singlewriter in one process.
 *
 *   two_sqlites DB kept|lost
 *
 * 1. sqlite3_libversion() must be the SQLite this program was compiled against (SQLITE_VERSION):
 *    the static libsinglewriter.a keeps its bundled SQLite's symbols local, so they cannot
 *    replace the program's.
 * 2. singlewriter writes and reads DB, and the program reads singlewriter's row through its own
 *    connection.
 * 3. The two-copies hazard: the program holds a read transaction on DB (rollback journal: a POSIX
 *    SHARED lock), singlewriter opens and closes the same file, then another process
 *    (python3) tries BEGIN EXCLUSIVE. With one SQLite in the process (singlewriter built against
 *    the host's libsqlite3) the lock is "kept" and python3 finds the database locked; with two
 *    copies (the bundled build), singlewriter's close() of its descriptors drops the program's
 *    lock and python3 gets in: "lost". The second argument says which to expect.
 * Prints each step; exit status 0 when everything matched.
 */
#define _POSIX_C_SOURCE 200809L
#include <singlewriter.h>
#include <sqlite3.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static int sw_fail(const char *what) {
    fprintf(stderr, "%s: %s\n", what, sw_last_error_message());
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s DB kept|lost\n", argv[0]);
        return 2;
    }
    const char *db_path = argv[1];
    int expect_kept = strcmp(argv[2], "kept") == 0;

    printf("sqlite3_libversion() = %s, compiled against %s\n", sqlite3_libversion(), SQLITE_VERSION);
    if (strcmp(sqlite3_libversion(), SQLITE_VERSION) != 0) {
        fprintf(stderr, "the program's SQLite calls reach another SQLite\n");
        return 1;
    }

    char cs[1024];
    snprintf(cs, sizeof cs, "Data Source=%s;Journal Mode=DELETE", db_path);
    const sw_writer *w;
    if (sw_writer_open(cs, &w) != SW_STATUS_OK) return sw_fail("sw_writer_open");
    if (sw_writer_execute(w, "CREATE TABLE t(x TEXT)", NULL, 0, NULL) != SW_STATUS_OK) return sw_fail("create");
    sw_param p = {NULL, {SW_TYPE_TEXT, 0, 0, (const uint8_t *)"from singlewriter", 17}};
    if (sw_writer_execute(w, "INSERT INTO t(x) VALUES (?)", &p, 1, NULL) != SW_STATUS_OK) return sw_fail("insert");
    if (sw_writer_close(w) != SW_STATUS_OK) return sw_fail("close");

    sqlite3 *db;
    sqlite3_stmt *st;
    if (sqlite3_open(db_path, &db) != SQLITE_OK) return 1;
    if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) return 1;
    if (sqlite3_prepare_v2(db, "SELECT x FROM t", -1, &st, NULL) != SQLITE_OK) return 1;
    if (sqlite3_step(st) != SQLITE_ROW || strcmp((const char *)sqlite3_column_text(st, 0), "from singlewriter") != 0) {
        fprintf(stderr, "the program does not see singlewriter's row\n");
        return 1;
    }
    sqlite3_finalize(st);
    printf("singlewriter wrote, the program read it back\n");

    /* The program's read transaction holds SHARED; singlewriter opens, reads and closes. */
    if (sw_writer_open(cs, &w) != SW_STATUS_OK) return sw_fail("sw_writer_open (2)");
    const sw_rows *rows;
    if (sw_writer_query(w, "SELECT count(*) FROM t", NULL, 0, &rows) != SW_STATUS_OK) return sw_fail("query");
    sw_rows_free(rows);
    if (sw_writer_close(w) != SW_STATUS_OK) return sw_fail("close (2)");

    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "python3 -c 'import sqlite3,sys\n"
             "c = sqlite3.connect(sys.argv[1], timeout=0, isolation_level=None)\n"
             "try:\n c.execute(\"BEGIN EXCLUSIVE\")\nexcept sqlite3.OperationalError:\n sys.exit(3)\n"
             "c.execute(\"ROLLBACK\")' '%s'",
             db_path);
    int rc = system(cmd);
    int kept = rc != -1 && WIFEXITED(rc) && WEXITSTATUS(rc) == 3;
    printf("the program's SHARED lock was %s by singlewriter's close\n", kept ? "kept" : "lost");
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(db);
    return kept == expect_kept ? 0 : 1;
}
