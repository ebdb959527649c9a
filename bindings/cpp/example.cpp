// The quick start in C++: open a file database, create a table, write with named parameters, run a
// transaction that returns a value, a batch, a cached read, a write that invalidates it, a flush,
// and a look at the signals. Errors are checked through sw::Result (no exceptions needed).
//
//   g++ -std=c++17 example.cpp -I<prefix>/include $(pkg-config --libs singlewriter) -o example
//   ./example [path/to/db]
#include "singlewriter.hpp"

#include <cstdio>
#include <string>

#define CHECK(expr)                                                                                                    \
    do {                                                                                                               \
        const auto &check_result_ = (expr);                                                                                   \
        if (!check_result_) {                                                                                          \
            std::fprintf(stderr, "%s failed: %s\n", #expr, check_result_.error().what());                             \
            return 1;                                                                                                  \
        }                                                                                                              \
    } while (0)

int main(int argc, char **argv) {
    std::string path = argc > 1 ? argv[1] : "example-cpp.db";
    std::printf("singlewriter %s (C++ binding)\n", sw::version());

    auto opened = sw::Writer::open("Data Source=" + path + ";Mode=ReadWriteCreate;Sample Rate=1");
    if (!opened) {
        std::fprintf(stderr, "open failed: %s\n", opened.error().what());
        return 1;
    }
    sw::Writer writer = std::move(opened).value();

    CHECK(writer.execute("CREATE TABLE IF NOT EXISTS Users (Id INTEGER PRIMARY KEY, Name TEXT NOT NULL)"));
    CHECK(writer.execute("DELETE FROM Users"));

    // Serialized writes with named parameters.
    auto alice = writer.execute("INSERT INTO Users (Name) VALUES (@Name)", sw::named("@Name", "Alice"));
    CHECK(alice);
    std::printf("inserted Alice as rowid %lld\n", static_cast<long long>(alice->last_insert_rowid));

    // Transactional work on the single writer connection, returning a value.
    auto count = writer.transaction([](sw::Txn &tx) -> sw::Result<int64_t> {
        auto ins = tx.execute("INSERT INTO Users (Name) VALUES ('Bob')");
        if (!ins) return ins.error();
        auto rows = tx.query("SELECT COUNT(*) FROM Users");
        if (!rows) return rows.error();
        return rows->scalar<int64_t>();
    });
    CHECK(count);
    std::printf("transaction committed; %lld users inside it\n", static_cast<long long>(*count));

    // Batch writes (one transaction by default).
    auto batch = writer.batch({sw::statement("INSERT INTO Users (Name) VALUES (?)", "Charlie"),
                               sw::statement("INSERT INTO Users (Name) VALUES (?)", "Dana")});
    CHECK(batch);
    std::printf("batch inserted %lld rows\n", static_cast<long long>(batch->rows_affected));

    // Cached reads: the second one is served from the cache.
    for (int i = 0; i < 2; ++i) {
        auto users = writer.read("users:count", "SELECT COUNT(*) FROM Users");
        CHECK(users);
        std::printf("users:count = %lld\n", static_cast<long long>(users->scalar<int64_t>()));
    }
    auto stats = writer.cache_stats();
    CHECK(stats);
    std::printf("cache: %llu hit(s), %llu miss(es)\n", static_cast<unsigned long long>(stats->hits),
                static_cast<unsigned long long>(stats->misses));

    // A write that invalidates the cached count, then a fresh read.
    CHECK(writer.execute_and_invalidate({"users:count"}, "INSERT INTO Users (Name) VALUES (@Name)", sw::named("@Name", "Eve")));
    auto users = writer.read("users:count", "SELECT COUNT(*) FROM Users");
    CHECK(users);
    std::printf("users:count after Eve = %lld\n", static_cast<long long>(users->scalar<int64_t>()));

    // Queue a write without waiting; its completion runs on a library thread.
    CHECK(writer.enqueue_then(
        [](sw::Result<sw::WriteResult> r) {
            if (r) std::printf("queued insert committed (rowid %lld)\n", static_cast<long long>(r->last_insert_rowid));
            else std::printf("queued insert failed: %s\n", r.error().what());
        },
        "INSERT INTO Users (Name) VALUES (?)", "Frank"));
    CHECK(writer.flush());

    auto all = writer.query("SELECT Id, Name FROM Users ORDER BY Id");
    CHECK(all);
    for (auto row : *all) std::printf("  %lld %s\n", static_cast<long long>(row.get<int64_t>("Id")), std::string(row.text("Name")).c_str());

    // Observe what happened.
    auto signals = writer.poll_signals("cache.*");
    CHECK(signals);
    for (auto s : *signals) std::printf("signal #%llu %s\n", static_cast<unsigned long long>(s.seq), s.full_name().c_str());
    auto ws = writer.stats();
    CHECK(ws);
    std::printf("writes committed: %llu in %llu transaction(s)\n", static_cast<unsigned long long>(ws->committed),
                static_cast<unsigned long long>(ws->transactions));

    CHECK(writer.close());
    std::printf("closed\n");
    return 0;
}
