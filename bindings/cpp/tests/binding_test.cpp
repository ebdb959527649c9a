// Behaviour of the C++ layer itself: RAII and moves, parameter binding, row access, lambdas for
// transactions and completions (exceptions never cross into C), threads, signals, errors.
#include "harness.hpp"

#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

using namespace std::chrono_literals;

namespace {
sw::Writer open_kv(const std::string &cs = sw_test::conn()) {
    sw::Writer w = MUST(sw::Writer::open(cs));
    MUST(w.execute("CREATE TABLE kv(k TEXT PRIMARY KEY, v INTEGER NOT NULL)"));
    return w;
}
int64_t count_kv(const sw::Writer &w) { return MUST(w.query("SELECT COUNT(*) FROM kv")).scalar<int64_t>(); }

// Wait (bounded) until pred() holds; callbacks run on library threads.
template <class P> bool eventually(P pred, std::chrono::milliseconds limit = 5000ms) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!pred()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(1ms);
    }
    return true;
}
} // namespace

static_assert(!std::is_copy_constructible_v<sw::Writer> && !std::is_copy_assignable_v<sw::Writer>);
static_assert(std::is_nothrow_move_constructible_v<sw::Writer> && std::is_nothrow_move_assignable_v<sw::Writer>);
static_assert(!std::is_copy_constructible_v<sw::Rows> && std::is_nothrow_move_constructible_v<sw::Rows>);
static_assert(!std::is_copy_constructible_v<sw::Signals> && std::is_nothrow_move_constructible_v<sw::Signals>);
static_assert(!std::is_copy_constructible_v<sw::Subscription>);

TEST(abi_version_matches_header) {
    CHECK(sw::abi_compatible());
    CHECK_EQ(sw_abi_version(), static_cast<uint32_t>(SW_ABI_VERSION));
    CHECK(std::string(sw::version()).size() > 0);
    CHECK_EQ(std::string(sw::to_string(sw::Status::Constraint)).empty(), false);
}

TEST(writer_handles_move_and_close_once) {
    std::string cs = sw_test::conn();
    sw::Writer a = open_kv(cs);
    sw::Writer b = std::move(a);
    CHECK(!a.is_open());
    CHECK(b.is_open());
    MUST(b.execute("INSERT INTO kv VALUES ('x', 1)"));
    // A moved-from handle is NULL to the library: a clean InvalidArgument, no crash.
    CHECK_EQ(a.execute("INSERT INTO kv VALUES ('y', 2)").status(), sw::Status::InvalidArgument);
    // Move-assign over an open handle closes the old one.
    sw::Writer c = MUST(sw::Writer::open(cs));
    c = std::move(b);
    CHECK(!b.is_open());
    CHECK_EQ(count_kv(c), 1);
    // Rows move too, and stay valid after their writer handle is gone.
    sw::Rows r = MUST(c.query("SELECT k FROM kv"));
    sw::Rows r2 = std::move(r);
    CHECK(r.get() == nullptr);
    CHECK_EQ(r.size(), 0u);
    MUST(c.close());
    CHECK(!c.is_open());
    MUST(c.close()); // closing a closed handle is a no-op
    CHECK_EQ(r2.size(), 1u);
    CHECK_EQ(r2[0].text(0), "x");
}

TEST(two_handles_share_one_writer_and_close_drains) {
    std::string cs = sw_test::conn();
    sw::Writer a = open_kv(cs);
    sw::Writer b = MUST(sw::Writer::open(cs));
    for (int i = 0; i < 100; ++i) MUST(b.enqueue("INSERT INTO kv VALUES (?, ?)", "k" + std::to_string(i), i));
    MUST(b.close()); // not the last handle
    MUST(a.flush());
    CHECK_EQ(count_kv(a), 100);
    for (int i = 100; i < 200; ++i) MUST(a.enqueue("INSERT INTO kv VALUES (?, ?)", "k" + std::to_string(i), i));
    MUST(a.close()); // the last handle commits everything accepted first
    sw::Writer again = MUST(sw::Writer::open(cs));
    CHECK_EQ(count_kv(again), 200);
}

TEST(positional_parameters_of_every_type_round_trip) {
    auto w = MUST(sw::Writer::open(sw_test::conn()));
    MUST(w.execute("CREATE TABLE t(i INTEGER, f REAL, s TEXT, b BLOB, n, u8 INTEGER, flag INTEGER, o)"));
    const unsigned char bytes[] = {0, 1, 2, 0, 255};
    std::string text = "héllo\n\"wörld\"";
    std::optional<int> none;
    MUST(w.execute("INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?)", int64_t(-9007199254740993LL), 2.5, text, sw::blob(bytes, sizeof bytes),
                   sw::null, uint8_t(200), true, none));
    std::string_view slice = std::string_view("abcdef").substr(1, 3); // not NUL-terminated
    std::vector<uint8_t> vec{9, 0, 9};
    MUST(w.execute("INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?)", 7, 1.0f, slice, vec, nullptr, short(3), false, std::optional<std::string>("some")));

    auto rows = MUST(w.query("SELECT i, f, s, b, n, u8, flag, o FROM t ORDER BY rowid"));
    CHECK_EQ(rows.size(), 2u);
    CHECK_EQ(rows.column_count(), 8u);
    CHECK_EQ(rows.column_name(2), "s");
    CHECK(rows.column_name(99).empty());
    CHECK_EQ(*rows.column_index("flag"), 6u);
    CHECK(!rows.column_index("nope").has_value());

    auto r0 = rows[0];
    CHECK_EQ(r0.type(0), uint32_t(SW_TYPE_INTEGER));
    CHECK_EQ(r0.get<int64_t>(0), int64_t(-9007199254740993LL));
    CHECK_EQ(r0.type("f"), uint32_t(SW_TYPE_FLOAT));
    CHECK_EQ(r0.get<double>("f"), 2.5);
    CHECK_EQ(r0.text("s"), text);
    CHECK_EQ(r0.get<std::string>(2), text);
    auto b = r0.blob(3);
    CHECK_EQ(b.size, sizeof bytes);
    CHECK(std::equal(b.begin(), b.end(), bytes));
    CHECK(r0.is_null("n"));
    CHECK(!r0.get<std::optional<int64_t>>("n").has_value());
    CHECK_EQ(r0.get<int>(5), 200);
    CHECK_EQ(r0.get<bool>("flag"), true);
    CHECK(r0.is_null(7));
    CHECK(std::holds_alternative<sw::Null>(r0.value(4)));
    CHECK(std::holds_alternative<int64_t>(r0.value(0)));
    CHECK(std::holds_alternative<double>(r0.value(1)));
    CHECK(std::get<std::string_view>(r0.value(2)) == text);
    CHECK(std::holds_alternative<sw::Blob>(r0.value(3)));

    auto r1 = rows[1];
    CHECK_EQ(r1.get<std::optional<int64_t>>(0).value_or(-1), 7);
    CHECK_EQ(r1.text(2), "bcd");
    CHECK((r1.get<std::vector<uint8_t>>(3) == vec));
    CHECK_EQ(r1.get<bool>(6), false);
    CHECK_EQ(r1.text(7), "some");
    // Unknown column names read as NULL rather than failing.
    CHECK(r1.is_null("no_such_column"));
    CHECK(r1.text("no_such_column").empty());

    // Range-for over rows, and over a temporary result (value() && returns by value).
    int n = 0;
    for (auto row : rows) n += row.index() == static_cast<size_t>(n) ? 1 : 0;
    CHECK_EQ(n, 2);
    n = 0;
    for (auto row : w.query("SELECT i FROM t").value()) {
        (void)row;
        ++n;
    }
    CHECK_EQ(n, 2);
    // A Value read back can be bound again.
    sw::Value v = r0.value(2);
    CHECK_EQ(MUST(w.query("SELECT ? = s FROM t WHERE rowid = 1", v)).scalar<int64_t>(), 1);
    auto json = MUST(rows.to_json());
    CHECK(json.size() > 2 && json.front() == '[');
    CHECK(json.find("\"s\"") != std::string::npos);
}

TEST(sql_from_a_string_view_slice_is_copied_and_terminated) {
    auto w = open_kv();
    std::string buf = "INSERT INTO kv VALUES ('sv', 1)GARBAGE";
    std::string_view sql(buf.data(), buf.find("GARBAGE"));
    MUST(w.execute(sql));
    std::string key = "kvXXXX";
    MUST(w.execute(std::string_view("DELETE FROM kv WHERE k = 'nothing'")));
    CHECK_EQ(count_kv(w), 1);
    CHECK_EQ(MUST(w.read(std::string_view(key).substr(0, 2), "SELECT COUNT(*) FROM kv")).scalar<int64_t>(), 1);
}

TEST(reusable_params_and_batches_copy_their_inputs) {
    auto w = open_kv();
    std::vector<sw::Statement> stmts;
    for (int i = 0; i < 50; ++i) {
        std::string key = "batch" + std::to_string(i); // dies at the end of the iteration
        stmts.push_back(sw::statement("INSERT INTO kv VALUES (@k, @v)", sw::named("@k", key), sw::named("@v", i)));
    }
    auto total = MUST(w.batch(stmts));
    CHECK_EQ(total.rows_affected, 50);
    CHECK_EQ(count_kv(w), 50);
    sw::Params p;
    p.add("@k", std::string("added")).add("@v", 7);
    CHECK_EQ(p.size(), 2u);
    MUST(w.execute("INSERT INTO kv VALUES (@k, @v)", p));
    CHECK_EQ(MUST(w.query("SELECT v FROM kv WHERE k = ?", "added")).scalar<int64_t>(), 7);
    // Empty batch.
    CHECK_EQ(MUST(w.batch({})).rows_affected, 0);
}

TEST(write_result_reports_rows_and_last_rowid) {
    auto w = MUST(sw::Writer::open(sw_test::conn()));
    MUST(w.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, x INTEGER)"));
    auto r = MUST(w.execute("INSERT INTO t(x) VALUES (?)", 5));
    CHECK_EQ(r.rows_affected, 1);
    CHECK_EQ(r.last_insert_rowid, 1);
    MUST(w.execute("INSERT INTO t(x) VALUES (5), (6), (5)"));
    auto u = MUST(w.execute("UPDATE t SET x = 0 WHERE x = ?", 5));
    CHECK_EQ(u.rows_affected, 3);
}

TEST(errors_carry_status_sqlite_code_and_message) {
    auto w = open_kv();
    auto syntax = w.execute("INSERT INTO kv VALUES (");
    CHECK_EQ(syntax.status(), sw::Status::Error);
    CHECK_EQ(syntax.error().sqlite_code() & 0xff, 1); // SQLITE_ERROR
    CHECK(!syntax.error().message().empty());
    CHECK(std::string(syntax.error().what()).find(sw::to_string(sw::Status::Error)) == 0);
    auto missing = w.query("SELECT * FROM no_such_table");
    CHECK_EQ(missing.status(), sw::Status::Error);
    CHECK(missing.error().message().find("no_such_table") != std::string::npos);
    MUST(w.execute("INSERT INTO kv VALUES ('a', 1)"));
    auto dup = w.execute("INSERT INTO kv VALUES ('a', 2)");
    CHECK_EQ(dup.status(), sw::Status::Constraint);
    CHECK_EQ(dup.error().sqlite_code(), 1555); // SQLITE_CONSTRAINT_PRIMARYKEY
    // Writes through the read path are refused.
    CHECK_EQ(w.query("INSERT INTO kv VALUES ('b', 2)").status(), sw::Status::ReadOnly);
    CHECK_EQ(w.read("k", "DELETE FROM kv").status(), sw::Status::ReadOnly);
    // Invalid UTF-8 in and a bad option keyword.
    CHECK_EQ(w.execute("INSERT INTO kv VALUES ('\xff\xfe', 3)").status(), sw::Status::InvalidUtf8);
    auto bad = sw::Writer::open("Data Source=" + sw_test::db_path() + ";No Such Option=1");
    CHECK_EQ(bad.status(), sw::Status::InvalidArgument);
    CHECK(bad.error().message().find("No Such Option") != std::string::npos ||
          std::string(bad.error().message()).find("no such option") != std::string::npos);
    // value() on an error throws the sw::Error.
    bool thrown = false;
    try {
        (void)w.execute("INSERT INTO kv VALUES ('a', 3)").value();
    } catch (const sw::Error &e) {
        thrown = e.status() == sw::Status::Constraint;
    }
    CHECK(thrown);
    CHECK_EQ(count_kv(w), 1);
}

TEST(sixteen_threads_many_writes_all_acknowledged_and_present) {
    auto w = MUST(sw::Writer::open(sw_test::conn()));
    MUST(w.execute("CREATE TABLE w(thread INTEGER, i INTEGER, PRIMARY KEY(thread, i))"));
    const int threads = 16;
    const int per = std::getenv("SW_TEST_WRITES") ? std::atoi(std::getenv("SW_TEST_WRITES")) : 400;
    std::atomic<int> acked{0}, failed{0};
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t) {
        ts.emplace_back([&, t] {
            for (int i = 0; i < per; ++i) {
                auto r = w.execute("INSERT INTO w(thread, i) VALUES (?, ?)", t, i);
                if (r && r->rows_affected == 1) ++acked;
                else ++failed;
            }
        });
    }
    for (auto &t : ts) t.join();
    CHECK_EQ(failed.load(), 0);
    CHECK_EQ(acked.load(), threads * per);
    // Every acknowledged write is in the database, and each thread's writes committed in its order.
    std::vector<int> next(threads, 0);
    int64_t rows = 0;
    for (auto row : MUST(w.query("SELECT thread, i FROM w ORDER BY rowid"))) {
        int t = row.get<int>(0), i = row.get<int>(1);
        CHECK(t >= 0 && t < threads);
        CHECK_EQ(i, next[t]);
        ++next[t];
        ++rows;
    }
    CHECK_EQ(rows, int64_t(threads) * per);
    auto st = MUST(w.stats());
    CHECK(st.committed >= uint64_t(threads) * per);
    CHECK(st.transactions > 0 && st.transactions <= st.committed);
}

TEST(enqueue_completion_fires_exactly_once_per_write) {
    auto w = open_kv();
    const int n = 500;
    std::vector<std::atomic<int>> fired(n);
    std::vector<std::atomic<int>> status(n);
    auto owned = std::make_shared<int>(0); // captured copies must all be released (ASan/leaks)
    for (int i = 0; i < n; ++i) {
        // Every 50th write collides with the previous key: it fails alone.
        std::string key = (i % 50 == 49) ? "k" + std::to_string(i - 1) : "k" + std::to_string(i);
        MUST(w.enqueue_then(
            [&fired, &status, i, owned, big = std::make_unique<std::string>(64, 'x')](sw::Result<sw::WriteResult> r) {
                status[i] = static_cast<int>(r.status());
                if (r) CHECK(r->rows_affected == 1);
                fired[i].fetch_add(1);
            },
            "INSERT INTO kv VALUES (?, ?)", key, i));
    }
    MUST(w.flush());
    CHECK(eventually([&] {
        for (auto &f : fired)
            if (f.load() == 0) return false;
        return true;
    }));
    std::this_thread::sleep_for(20ms); // a second call would show up here
    int oks = 0;
    for (int i = 0; i < n; ++i) {
        CHECK_EQ(fired[i].load(), 1);
        if (i % 50 == 49) CHECK_EQ(status[i].load(), int(sw::Status::Constraint));
        else {
            CHECK_EQ(status[i].load(), int(sw::Status::Ok));
            ++oks;
        }
    }
    CHECK_EQ(count_kv(w), oks);
    CHECK(eventually([&] { return owned.use_count() == 1; })); // every lambda was destroyed
}

TEST(enqueue_completions_fire_when_the_writer_closes) {
    std::string cs = sw_test::conn();
    auto w = open_kv(cs);
    const int n = 300;
    std::atomic<int> fired{0}, ok{0}, closed{0}, other{0};
    for (int i = 0; i < n; ++i) {
        auto r = w.enqueue_then(
            [&](sw::Result<sw::WriteResult> r) {
                if (r) ++ok;
                else if (r.status() == sw::Status::Closed) ++closed;
                else ++other;
                ++fired;
            },
            "INSERT INTO kv VALUES (?, ?)", "c" + std::to_string(i), i);
        MUST(std::move(r));
    }
    MUST(w.close()); // last handle: drains, commits, then reports
    CHECK(eventually([&] { return fired.load() == n; }));
    CHECK_EQ(other.load(), 0);
    auto again = MUST(sw::Writer::open(cs));
    CHECK_EQ(count_kv(again), ok.load()); // every OK completion is in the file, nothing else
}

TEST(exception_in_transaction_rolls_back_and_is_rethrown) {
    auto w = open_kv();
    MUST(w.execute("INSERT INTO kv VALUES ('before', 1)"));
    bool caught = false;
    try {
        (void)w.transaction([](sw::Txn &tx) {
            MUST(tx.execute("INSERT INTO kv VALUES ('inside', 2)"));
            throw std::runtime_error("boom");
        });
    } catch (const std::runtime_error &e) {
        caught = std::string(e.what()) == "boom";
    }
    CHECK(caught);
    CHECK_EQ(count_kv(w), 1); // rolled back
    // The lane is fine afterwards, and sw::Error thrown by value() inside also rolls back.
    caught = false;
    try {
        (void)w.transaction([](sw::Txn &tx) {
            tx.execute("INSERT INTO kv VALUES ('x', 1)").value();
            tx.execute("INSERT INTO kv VALUES ('x', 2)").value(); // UNIQUE -> throws sw::Error
        });
    } catch (const sw::Error &e) {
        caught = e.status() == sw::Status::Constraint;
    }
    CHECK(caught);
    CHECK_EQ(count_kv(w), 1);
    MUST(w.execute("INSERT INTO kv VALUES ('after', 3)"));
    CHECK_EQ(count_kv(w), 2);
}

TEST(transaction_result_and_status_returns_roll_back) {
    auto w = open_kv();
    // Returning an error Result rolls back and hands that error back.
    auto r = w.transaction([](sw::Txn &tx) -> sw::Result<void> {
        MUST(tx.execute("INSERT INTO kv VALUES ('a', 1)"));
        auto dup = tx.execute("INSERT INTO kv VALUES ('a', 2)");
        if (!dup) return dup.error();
        return {};
    });
    CHECK_EQ(r.status(), sw::Status::Constraint);
    CHECK(r.error().message().find("UNIQUE") != std::string::npos);
    CHECK_EQ(count_kv(w), 0);
    // Returning Status::Rollback rolls back.
    auto s = w.transaction([](sw::Txn &tx) {
        MUST(tx.execute("INSERT INTO kv VALUES ('b', 1)"));
        return sw::Status::Rollback;
    });
    CHECK_EQ(s.status(), sw::Status::Rollback);
    CHECK_EQ(count_kv(w), 0);
    // void commits; a plain value commits and is returned.
    MUST(w.transaction([](sw::Txn &tx) { MUST(tx.execute("INSERT INTO kv VALUES ('c', 1)")); }));
    auto v = w.transaction([](sw::Txn &tx) {
        MUST(tx.execute("INSERT INTO kv VALUES ('d', 4)"));
        return std::string(MUST(tx.query("SELECT group_concat(k, ',') FROM (SELECT k FROM kv ORDER BY k)")).scalar<std::string_view>());
    });
    CHECK_EQ(MUST(std::move(v)), "c,d");
    CHECK_EQ(count_kv(w), 2);
    // A transaction reads its own uncommitted writes; other readers do not see them until commit.
    MUST(w.transaction([&](sw::Txn &tx) {
        MUST(tx.execute("INSERT INTO kv VALUES ('e', 5)"));
        CHECK_EQ(MUST(tx.query("SELECT COUNT(*) FROM kv")).scalar<int64_t>(), 3);
    }));
    CHECK_EQ(count_kv(w), 3);
}

TEST(blocking_calls_inside_a_transaction_are_misuse_not_deadlock) {
    auto w = open_kv();
    sw::Status inner_execute{}, inner_flush{}, inner_batch{};
    MUST(w.transaction([&](sw::Txn &tx) {
        MUST(tx.execute("INSERT INTO kv VALUES ('t', 1)"));
        inner_execute = w.execute("INSERT INTO kv VALUES ('u', 2)").status();
        inner_flush = w.flush().status();
        inner_batch = w.batch({sw::statement("INSERT INTO kv VALUES ('v', 3)")}).status();
    }));
    CHECK_EQ(inner_execute, sw::Status::Misuse);
    CHECK_EQ(inner_flush, sw::Status::Misuse);
    CHECK_EQ(inner_batch, sw::Status::Misuse);
    CHECK_EQ(count_kv(w), 1);
    // The same from a completion callback (a library thread).
    std::atomic<int> from_callback{-1};
    MUST(w.enqueue_then([&](sw::Result<sw::WriteResult>) { from_callback = int(w.execute("INSERT INTO kv VALUES ('w', 4)").status()); },
                        "INSERT INTO kv VALUES ('x', 5)"));
    CHECK(eventually([&] { return from_callback.load() != -1; }));
    CHECK_EQ(from_callback.load(), int(sw::Status::Misuse));
}

namespace {
std::atomic<int> g_handler_calls{0};
void counting_handler(const char *, std::exception_ptr e) noexcept {
    try {
        std::rethrow_exception(e);
    } catch (const std::logic_error &) {
        ++g_handler_calls;
    } catch (...) {
    }
}
} // namespace

TEST(exceptions_in_library_thread_callbacks_are_contained) {
    auto w = open_kv();
    auto previous = sw::set_callback_exception_handler(&counting_handler);
    g_handler_calls = 0;
    std::atomic<int> ran{0};
    for (int i = 0; i < 10; ++i)
        MUST(w.enqueue_then(
            [&](sw::Result<sw::WriteResult>) {
                ++ran;
                throw std::logic_error("completion threw");
            },
            "INSERT INTO kv VALUES (?, ?)", "e" + std::to_string(i), i));
    MUST(w.flush());
    CHECK(eventually([&] { return ran.load() == 10 && g_handler_calls.load() == 10; }));
    {
        auto sub = MUST(w.subscribe("write.done", [](sw::Signal) { throw std::logic_error("subscriber threw"); }));
        MUST(w.execute("INSERT INTO kv VALUES ('s', 1)"));
        CHECK(eventually([&] { return g_handler_calls.load() >= 11; }));
    }
    sw::set_callback_exception_handler(previous);
    MUST(w.execute("INSERT INTO kv VALUES ('still-alive', 1)"));
    CHECK_EQ(count_kv(w), 12);
}

TEST(subscription_receives_matching_signals_until_destroyed) {
    auto w = open_kv();
    std::mutex m;
    std::vector<std::string> seen;
    std::atomic<int> calls{0};
    {
        auto sub = MUST(w.subscribe("cache.*", [&](sw::Signal s) {
            std::lock_guard<std::mutex> g(m);
            seen.push_back(s.full_name());
            ++calls;
        }));
        CHECK(sub.active());
        MUST(w.read("kv:all", "SELECT * FROM kv"));
        MUST(w.read("kv:all", "SELECT * FROM kv"));
        MUST(w.invalidate("kv:*"));
        CHECK(eventually([&] {
            std::lock_guard<std::mutex> g(m);
            return std::find(seen.begin(), seen.end(), "cache.invalidate:kv:*") != seen.end() ||
                   std::find(seen.begin(), seen.end(), "cache.invalidate:kv:all") != seen.end();
        }));
        std::lock_guard<std::mutex> g(m);
        CHECK(std::find(seen.begin(), seen.end(), "cache.miss:kv:all") != seen.end());
        CHECK(std::find(seen.begin(), seen.end(), "cache.hit:kv:all") != seen.end());
        for (auto &s : seen) CHECK(s.rfind("cache.", 0) == 0);
    }
    std::this_thread::sleep_for(50ms); // let in-flight dispatch finish
    int after = calls.load();
    MUST(w.read("kv:all", "SELECT * FROM kv"));
    MUST(w.invalidate("kv:*"));
    std::this_thread::sleep_for(100ms);
    CHECK_EQ(calls.load(), after);
}

TEST(cached_read_is_invalidated_by_a_write_to_its_table) {
    auto w = open_kv();
    MUST(w.execute("CREATE TABLE other(x)"));
    MUST(w.execute("INSERT INTO kv VALUES ('a', 1)"));
    CHECK_EQ(MUST(w.read("n", "SELECT COUNT(*) FROM kv")).scalar<int64_t>(), 1);
    auto s0 = MUST(w.cache_stats());
    MUST(w.execute("INSERT INTO other VALUES (1)")); // another table: entry stays
    CHECK_EQ(MUST(w.read("n", "SELECT COUNT(*) FROM kv")).scalar<int64_t>(), 1);
    auto s1 = MUST(w.cache_stats());
    CHECK_EQ(s1.hits - s0.hits, 1u);
    MUST(w.execute("INSERT INTO kv VALUES ('b', 2)")); // its table: no key named, still invalidated
    CHECK_EQ(MUST(w.read("n", "SELECT COUNT(*) FROM kv")).scalar<int64_t>(), 2);
    auto s2 = MUST(w.cache_stats());
    CHECK_EQ(s2.misses - s1.misses, 1u);
    // Glob invalidation via execute_and_invalidate with several keys.
    MUST(w.read("user:1", "SELECT 1"));
    MUST(w.read("user:2", "SELECT 2"));
    MUST(w.execute_and_invalidate({"user:*", "n"}, "INSERT INTO other VALUES (2)"));
    auto s3 = MUST(w.cache_stats());
    MUST(w.read("user:1", "SELECT 1"));
    MUST(w.read("user:2", "SELECT 2"));
    MUST(w.read("n", "SELECT COUNT(*) FROM kv"));
    auto s4 = MUST(w.cache_stats());
    CHECK_EQ(s4.misses - s3.misses, 3u);
}

TEST(observability_stats_metrics_and_operations) {
    auto w = open_kv();
    for (int i = 0; i < 20; ++i) MUST(w.execute("INSERT INTO kv VALUES (?, ?)", "o" + std::to_string(i), i));
    (void)w.execute("INSERT INTO kv VALUES ('o1', 0)");
    auto st = MUST(w.stats());
    CHECK(st.committed >= 21);
    CHECK(st.failed >= 1);
    CHECK_EQ(st.queued, 0u);
    auto metrics = MUST(w.metrics_text());
    CHECK(metrics.find("# TYPE") != std::string::npos);
    auto ops = MUST(w.operations_json());
    CHECK(!ops.empty() && ops.front() == '[');
    auto sigs = MUST(w.poll_signals("write.error*")); // the key of write.error is the message
    CHECK_EQ(sigs.missed(), 0u);
    CHECK(!sigs.empty());
    CHECK_EQ(sigs[sigs.size() - 1].status, sw::Status::Constraint);
    CHECK(sigs[sigs.size() - 1].key.find("UNIQUE") != std::string_view::npos);
}

TEST(numbers_read_as_strings_convert_like_sqlite) {
    auto w = MUST(sw::Writer::open(sw_test::conn()));
    auto r = MUST(w.query("SELECT 42, 2.5, 1e300, 3.0, 'txt', x'6869', NULL"));
    auto row = r[0];
    CHECK_EQ(row.get<std::string>(0), "42");
    CHECK_EQ(row.get<std::string>(1), "2.5");
    CHECK_EQ(row.get<std::string>(2), "1e+300");
    CHECK_EQ(row.get<std::string>(3), "3.0");
    CHECK_EQ(row.get<std::string>(4), "txt");
    CHECK_EQ(row.get<std::string>(5), "hi");
    CHECK_EQ(row.get<std::string>(6), "");
    CHECK(row.text(0).empty()); // text() is a view of TEXT cells only
    CHECK_EQ(row.get<int64_t>(4), 0);
    CHECK_EQ(r.scalar<int>(), 42);
}
