// The binding without exceptions: compiled with -fno-exceptions (test.sh), every error is checked
// through sw::Result; value() on an error aborts with the message instead of throwing.
#include "singlewriter.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#if SW_CPP_EXCEPTIONS
#error "compile this test with -fno-exceptions"
#endif

static int passed = 0, failed = 0;
#define EXPECT(name, cond)                                                                                             \
    do {                                                                                                               \
        if (cond) {                                                                                                    \
            ++passed;                                                                                                  \
            std::printf("PASS %s\n", name);                                                                            \
        } else {                                                                                                       \
            ++failed;                                                                                                  \
            std::printf("FAIL %s (%s:%d)\n", name, __FILE__, __LINE__);                                                \
        }                                                                                                              \
    } while (0)

int main(int argc, char **argv) {
    std::string dir = argc > 1 ? argv[1] : "/tmp";
    std::string db = dir + "/noexcept-" + std::to_string(getpid()) + ".db";

    // value() on an error aborts (checked in a child process before any library thread exists).
    pid_t pid = fork();
    if (pid == 0) {
        std::fclose(stderr); // keep the expected abort message out of the log
        auto w = sw::Writer::open("Data Source=" + db + ";No Such Option=1").value();
        (void)w;
        std::_Exit(0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    EXPECT("value_on_error_aborts_without_exceptions", WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);

    auto opened = sw::Writer::open("Data Source=" + db);
    EXPECT("open_ok", opened.ok());
    if (!opened) {
        std::printf("open: %s\n", opened.error().what());
        std::printf("cpp-noexcept: %d passed, %d failed\n", passed, failed + 1);
        return 1;
    }
    sw::Writer w = std::move(opened).value();
    EXPECT("create", w.execute("CREATE TABLE kv(k TEXT PRIMARY KEY, v INTEGER)").ok());
    EXPECT("insert_positional", w.execute("INSERT INTO kv VALUES (?, ?)", "a", 1).ok());
    EXPECT("insert_named", w.execute("INSERT INTO kv VALUES (@k, @v)", sw::named("@k", "b"), sw::named("@v", 2)).ok());
    auto dup = w.execute("INSERT INTO kv VALUES ('a', 3)");
    EXPECT("duplicate_is_constraint", !dup && dup.status() == sw::Status::Constraint && dup.error().sqlite_code() == 1555);

    auto tx = w.transaction([](sw::Txn &t) -> sw::Result<int64_t> {
        auto r = t.execute("INSERT INTO kv VALUES ('c', 3)");
        if (!r) return r.error();
        auto again = t.execute("INSERT INTO kv VALUES ('c', 4)");
        if (!again) return again.error(); // rolls back 'c' too
        return again->rows_affected;
    });
    EXPECT("transaction_error_result_rolls_back", !tx && tx.status() == sw::Status::Constraint);
    auto ok_tx = w.transaction([](sw::Txn &t) { return t.execute("INSERT INTO kv VALUES ('d', 4)").ok() ? sw::Status::Ok : sw::Status::Rollback; });
    EXPECT("transaction_status_commits", ok_tx.ok());

    std::atomic<int> fired{0};
    auto q = w.enqueue_then([&](sw::Result<sw::WriteResult> r) { fired += r.ok() ? 1 : 100; }, "INSERT INTO kv VALUES (?, ?)", "e", 5);
    EXPECT("enqueue_ok", q.ok());
    EXPECT("flush_ok", w.flush().ok());
    for (int i = 0; i < 1000 && fired.load() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    EXPECT("completion_fired_once_ok", fired.load() == 1);

    auto rows = w.read("kv:all", "SELECT k, v FROM kv ORDER BY k");
    std::string keys;
    int64_t sum = 0;
    if (rows)
        for (auto row : *rows) {
            keys += row.text("k");
            sum += row.get<int64_t>("v");
        }
    EXPECT("rows_iterate", rows.ok() && keys == "abde" && sum == 12);
    EXPECT("close_ok", w.close().ok());

    std::remove(db.c_str());
    std::remove((db + "-wal").c_str());
    std::remove((db + "-shm").c_str());
    std::printf("cpp-noexcept: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
