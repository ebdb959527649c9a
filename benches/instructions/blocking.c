/* Blocking inserts through the C ABI, one at a time, for counting instructions per write (see
 * run.sh): the lone writer's path (a group of one, committed by itself in autocommit).
 *
 * usage: blocking DB ROWS [MODE] EXTRA_OPTIONS
 * One thread inserts ROWS rows of (integer, 12-byte text) with sw_writer_execute, each waiting
 * for its commit. MODE `rows`: a cached point read by rowid first, so that from then on the
 * writer reports the rows each commit changes (the update hook), as in an application whose
 * reads are cached lookups. Exit 0 when every insert succeeded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "singlewriter.h"

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s DB ROWS [EXTRA_OPTIONS]\n", argv[0]);
        return 2;
    }
    long rows = atol(argv[2]);
    const char *mode = argc > 4 ? argv[3] : "";
    const char *extra = argc > 4 ? argv[4] : argc > 3 ? argv[3] : "";
    char cs[1024];
    snprintf(cs, sizeof cs, "Data Source=%s%s", argv[1], extra);
    const struct sw_writer *w;
    if (sw_writer_open(cs, &w) != SW_STATUS_OK) {
        fprintf(stderr, "open: %s\n", sw_last_error_message());
        return 1;
    }
    struct sw_write_result r;
    if (sw_writer_execute(w, "CREATE TABLE t(id INTEGER PRIMARY KEY, a INTEGER, b TEXT)", NULL, 0, &r) !=
        SW_STATUS_OK) {
        fprintf(stderr, "create: %s\n", sw_last_error_message());
        return 1;
    }
    if (strcmp(mode, "rows") == 0) {
        struct sw_param id;
        memset(&id, 0, sizeof id);
        id.value.type = SW_TYPE_INTEGER;
        id.value.integer = 1;
        const struct sw_rows *found;
        if (sw_writer_read(w, "t:1", "SELECT a, b FROM t WHERE id = ?1", &id, 1, &found) != SW_STATUS_OK) {
            fprintf(stderr, "read: %s\n", sw_last_error_message());
            return 1;
        }
        sw_rows_free(found);
    } else if (mode[0] != 0) {
        fprintf(stderr, "unknown mode: %s\n", mode);
        return 2;
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
        if (sw_writer_execute(w, "INSERT INTO t(a, b) VALUES (?1, ?2)", p, 2, &r) != SW_STATUS_OK ||
            r.rows_affected != 1) {
            fprintf(stderr, "insert: %s\n", sw_last_error_message());
            return 1;
        }
    }
    if (sw_writer_close(w) != SW_STATUS_OK) {
        fprintf(stderr, "close: %s\n", sw_last_error_message());
        return 1;
    }
    printf("%ld inserted\n", rows);
    return 0;
}
