/*
 * The singlewriter quick start in C: open a file database, create a table, insert with named
 * parameters, run a transaction, a batch, a cached read, a write that invalidates it and a flush,
 * printing what happened. Every status is checked; on failure the library's message is printed.
 *
 *   cc example.c $(pkg-config --cflags --libs singlewriter) -o example
 *   ./example [path/to/database.db]
 */
#include <singlewriter.h>

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Check a status; on failure print the call, the status and the library's message, and fail. */
#define CHECK(call)                                                                                \
    do {                                                                                           \
        sw_status check_status_ = (call);                                                          \
        if (check_status_ != SW_STATUS_OK) {                                                       \
            fprintf(stderr, "%s:%d: %s failed: %s (%u): %s\n", __FILE__, __LINE__, #call,          \
                    sw_status_str(check_status_), (unsigned)check_status_,                         \
                    sw_last_error_message());                                                      \
            goto fail;                                                                             \
        }                                                                                          \
    } while (0)

/* A TEXT parameter from a NUL-terminated string. */
static sw_value text_value(const char *s) {
    sw_value v;
    memset(&v, 0, sizeof v);
    v.type = SW_TYPE_TEXT;
    v.data = (const uint8_t *)s;
    v.len = strlen(s);
    return v;
}

static sw_param named_text(const char *name, const char *s) {
    sw_param p;
    p.name = name;
    p.value = text_value(s);
    return p;
}

/* The transaction: insert a row and count the rows inside the (uncommitted) transaction. */
struct txn_state {
    int64_t count_inside;
};

static sw_status add_bob_and_count(void *userdata, sw_txn *txn) {
    struct txn_state *state = (struct txn_state *)userdata;
    sw_param name = named_text("@Name", "Bob");
    const sw_rows *rows = NULL;
    sw_status st = sw_txn_execute(txn, "INSERT INTO Users (Name) VALUES (@Name)", &name, 1, NULL);
    if (st != SW_STATUS_OK) return st; /* anything but OK rolls back */
    st = sw_txn_query(txn, "SELECT COUNT(*) FROM Users", NULL, 0, &rows);
    if (st != SW_STATUS_OK) return st;
    state->count_inside = sw_rows_int64(rows, 0, 0);
    sw_rows_free(rows);
    return SW_STATUS_OK; /* commit */
}

/* Read users:count through the cache and print it. */
static sw_status print_user_count(const sw_writer *w, const char *label) {
    const sw_rows *rows = NULL;
    sw_status st = sw_writer_read(w, "users:count", "SELECT COUNT(*) FROM Users", NULL, 0, &rows);
    if (st != SW_STATUS_OK) return st;
    printf("%s users:count = %" PRId64 "\n", label, sw_rows_int64(rows, 0, 0));
    sw_rows_free(rows);
    return SW_STATUS_OK;
}

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "example-c.db";
    char connection[4096];
    const sw_writer *w = NULL;
    const sw_rows *rows = NULL;
    const sw_signals *signals = NULL;
    sw_write_result result;
    struct txn_state state = {0};
    sw_cache_stats cache;
    sw_stats stats;
    size_t i;

    if (sw_abi_version() != SW_ABI_VERSION) {
        fprintf(stderr, "header ABI %d, library ABI %u\n", SW_ABI_VERSION, sw_abi_version());
        return 1;
    }
    printf("singlewriter %s (C)\n", sw_version());

    snprintf(connection, sizeof connection, "Data Source=%s;Mode=ReadWriteCreate;Sample Rate=1", path);
    CHECK(sw_writer_open(connection, &w));

    CHECK(sw_writer_execute(w, "CREATE TABLE IF NOT EXISTS Users (Id INTEGER PRIMARY KEY, Name TEXT NOT NULL)",
                            NULL, 0, NULL));
    CHECK(sw_writer_execute(w, "DELETE FROM Users", NULL, 0, NULL));

    /* Serialized write with a named parameter. */
    {
        sw_param name = named_text("@Name", "Alice");
        CHECK(sw_writer_execute(w, "INSERT INTO Users (Name) VALUES (@Name)", &name, 1, &result));
        printf("inserted Alice as rowid %" PRId64 "\n", result.last_insert_rowid);
    }

    /* Transactional work on the single writer connection (runs on this thread). */
    CHECK(sw_writer_transaction(w, add_bob_and_count, &state));
    printf("transaction committed; %" PRId64 " users inside it\n", state.count_inside);

    /* Batch writes in one transaction. */
    {
        sw_param charlie = named_text(NULL, "Charlie");
        sw_param dana = named_text(NULL, "Dana");
        sw_statement batch[2];
        batch[0].sql = "INSERT INTO Users (Name) VALUES (?)";
        batch[0].params = &charlie;
        batch[0].n_params = 1;
        batch[1].sql = "INSERT INTO Users (Name) VALUES (?)";
        batch[1].params = &dana;
        batch[1].n_params = 1;
        CHECK(sw_writer_batch(w, batch, 2, true, &result));
        printf("batch inserted %" PRId64 " rows\n", result.rows_affected);
    }

    /* Cached reads: the second is served from the cache. */
    CHECK(print_user_count(w, "first read: "));
    CHECK(print_user_count(w, "second read:"));
    CHECK(sw_writer_cache_stats(w, &cache));
    printf("cache: %" PRIu64 " hit(s), %" PRIu64 " miss(es)\n", cache.hits, cache.misses);

    /* A write that invalidates the cached count. */
    {
        sw_param name = named_text("@Name", "Eve");
        const char *keys[1] = {"users:count"};
        CHECK(sw_writer_execute_and_invalidate(w, "INSERT INTO Users (Name) VALUES (@Name)", &name, 1, keys, 1,
                                               &result));
    }
    CHECK(print_user_count(w, "after Eve:  "));

    /* Queue a write without waiting, then flush: returns once it is acknowledged. */
    {
        sw_param name = named_text(NULL, "Frank");
        CHECK(sw_writer_enqueue(w, "INSERT INTO Users (Name) VALUES (?)", &name, 1, NULL, NULL));
    }
    CHECK(sw_writer_flush(w, 5000));
    printf("flushed\n");

    CHECK(sw_writer_query(w, "SELECT Id, Name FROM Users ORDER BY Id", NULL, 0, &rows));
    for (i = 0; i < sw_rows_row_count(rows); i++) {
        size_t len = 0;
        const char *name = sw_rows_text(rows, i, 1, &len);
        printf("  %" PRId64 " %.*s\n", sw_rows_int64(rows, i, 0), (int)len, name ? name : "");
    }
    sw_rows_free(rows);
    rows = NULL;

    /* Observe what happened. */
    CHECK(sw_writer_poll_signals(w, "cache.*", 0, &signals));
    for (i = 0; i < sw_signals_count(signals); i++) {
        const sw_signal *s = sw_signals_get(signals, i);
        printf("signal #%" PRIu64 " %s%s%s\n", s->seq, s->name, s->key[0] ? ":" : "", s->key);
    }
    sw_signals_free(signals);
    signals = NULL;
    CHECK(sw_writer_stats(w, &stats));
    printf("writes committed: %" PRIu64 " in %" PRIu64 " transaction(s)\n", stats.committed, stats.transactions);

    CHECK(sw_writer_close(w));
    printf("closed\n");
    return 0;

fail:
    sw_rows_free(rows);
    sw_signals_free(signals);
    if (w) sw_writer_close(w);
    return 1;
}
