/* The lone write without the library, for counting instructions per write (see run.sh): what
 * blocking.c's inserts cost on SQLite alone, compiled from the same SQLite source the library
 * bundles. The reference for issue 11's lone-writer target (singlewriter ÷ raw autocommit).
 *
 * usage: raw DB ROWS MODE
 * MODE is "autocommit" (each insert its own implicit transaction) or "txn" (each insert inside
 * BEGIN IMMEDIATE ... COMMIT, as the writer runs a group of one). One prepared statement, WAL,
 * synchronous=NORMAL and foreign_keys=ON, as the writer opens a database by default. Exit 0
 * when every insert succeeded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqlite3.h"

static int run(sqlite3 *db, sqlite3_stmt *s) {
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc < 4 || (strcmp(argv[3], "autocommit") != 0 && strcmp(argv[3], "txn") != 0)) {
        fprintf(stderr, "usage: %s DB ROWS autocommit|txn\n", argv[0]);
        return 2;
    }
    long rows = atol(argv[2]);
    int txn = strcmp(argv[3], "txn") == 0;
    sqlite3 *db;
    if (sqlite3_open(argv[1], &db) != SQLITE_OK ||
        sqlite3_exec(db,
                     "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; "
                     "CREATE TABLE t(id INTEGER PRIMARY KEY, a INTEGER, b TEXT)",
                     NULL, NULL, NULL) != SQLITE_OK) {
        fprintf(stderr, "open: %s\n", sqlite3_errmsg(db));
        return 1;
    }
    sqlite3_stmt *insert, *begin, *commit;
    if (sqlite3_prepare_v2(db, "INSERT INTO t(a, b) VALUES (?1, ?2)", -1, &insert, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "BEGIN IMMEDIATE", -1, &begin, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "COMMIT", -1, &commit, NULL) != SQLITE_OK) {
        fprintf(stderr, "prepare: %s\n", sqlite3_errmsg(db));
        return 1;
    }
    const char *text = "payload-text";
    for (long i = 0; i < rows; i++) {
        sqlite3_bind_int64(insert, 1, i);
        sqlite3_bind_text(insert, 2, text, (int)strlen(text), SQLITE_TRANSIENT);
        if ((txn && run(db, begin)) || run(db, insert) || (txn && run(db, commit))) {
            fprintf(stderr, "insert: %s\n", sqlite3_errmsg(db));
            return 1;
        }
    }
    sqlite3_finalize(insert);
    sqlite3_finalize(begin);
    sqlite3_finalize(commit);
    sqlite3_close(db);
    printf("%ld inserted\n", rows);
    return 0;
}
