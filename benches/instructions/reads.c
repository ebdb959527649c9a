/* Point reads through the C ABI, for counting instructions per read (see run.sh).
 *
 * usage: reads DB READS MODE [EXTRA_OPTIONS]
 * Fills t(id INTEGER PRIMARY KEY, a, b) with 10,000 rows, then runs READS point reads by
 * primary key over uniformly random ids: MODE "query" with sw_writer_query (uncached), MODE
 * "read" with sw_writer_read and the key "t:<id>", MODE "hit" the same after one read of every
 * id (with a cache that holds them all, every counted read is a hit). All modes format the key,
 * so they differ only in the library. Exit 0 when every read found its row. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "singlewriter.h"

#define ROWS 10000

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s DB READS query|read|hit [EXTRA_OPTIONS]\n", argv[0]);
        return 2;
    }
    long reads = atol(argv[2]);
    int warm = strcmp(argv[3], "hit") == 0;
    int cached = warm || strcmp(argv[3], "read") == 0;
    char cs[1024];
    snprintf(cs, sizeof cs, "Data Source=%s%s", argv[1], argc > 4 ? argv[4] : "");
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
    for (long i = 0; i < ROWS; i++) {
        struct sw_param p;
        memset(&p, 0, sizeof p);
        p.value.type = SW_TYPE_INTEGER;
        p.value.integer = i;
        if (sw_writer_enqueue(w, "INSERT INTO t(a, b) VALUES (?1, 'payload-text')", &p, 1, NULL, NULL) !=
            SW_STATUS_OK) {
            fprintf(stderr, "insert: %s\n", sw_last_error_message());
            return 1;
        }
    }
    if (sw_writer_flush(w, 600000) != SW_STATUS_OK) {
        fprintf(stderr, "flush: %s\n", sw_last_error_message());
        return 1;
    }
    unsigned long long x = 12345;
    long found = 0;
    if (warm)
        reads += ROWS;
    for (long i = 0; i < reads; i++) {
        long id;
        if (warm && i < ROWS) {
            id = i + 1; /* the warm-up: every id once */
        } else {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            id = (long)((x >> 33) % ROWS) + 1;
        }
        char key[32];
        snprintf(key, sizeof key, "t:%ld", id);
        struct sw_param p;
        memset(&p, 0, sizeof p);
        p.value.type = SW_TYPE_INTEGER;
        p.value.integer = id;
        const struct sw_rows *rows = NULL;
        sw_status st = cached ? sw_writer_read(w, key, "SELECT a, b FROM t WHERE id = ?1", &p, 1, &rows)
                              : sw_writer_query(w, "SELECT a, b FROM t WHERE id = ?1", &p, 1, &rows);
        if (st != SW_STATUS_OK) {
            fprintf(stderr, "read: %s\n", sw_last_error_message());
            return 1;
        }
        found += (long)sw_rows_row_count(rows);
        sw_rows_free(rows);
    }
    if (sw_writer_close(w) != SW_STATUS_OK) {
        fprintf(stderr, "close: %s\n", sw_last_error_message());
        return 1;
    }
    printf("%ld of %ld found\n", found, reads);
    return found == reads ? 0 : 1;
}
