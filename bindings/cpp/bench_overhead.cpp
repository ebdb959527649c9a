// Call overhead of the C++ binding against the raw C API, in one process on one writer:
// a blocking execute (INSERT with an integer and a text parameter) and a cached read hit
// (sw_writer_read of a cached key + reading one cell + freeing the rows). Rounds alternate
// C / C++ and the median ns per call is printed. Not run by test.sh (only compiled there).
//
//   g++ -std=c++17 -O2 -I include -I bindings/cpp bindings/cpp/bench_overhead.cpp
//       -L target/release -lsinglewriter -Wl,-rpath,$PWD/target/release -o /tmp/bench_overhead
//   /tmp/bench_overhead [/tmp/dir] [Synchronous=OFF|NORMAL]
#include "singlewriter.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <unistd.h>
#include <vector>

using clk = std::chrono::steady_clock;

static double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

int main(int argc, char **argv) {
    std::string dir = argc > 1 ? argv[1] : "/tmp";
    std::string sync = argc > 2 ? argv[2] : "NORMAL";
    std::string db = dir + "/bench-overhead-" + std::to_string(getpid()) + ".db";
    auto opened = sw::Writer::open("Data Source=" + db + ";Synchronous=" + sync);
    if (!opened) {
        std::fprintf(stderr, "open: %s\n", opened.error().what());
        return 1;
    }
    sw::Writer w = std::move(opened).value();
    const sw_writer *raw = w.get();
    if (!w.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER, v TEXT)") ||
        !w.execute("INSERT INTO t(k, v) VALUES (1, 'x')")) {
        std::fprintf(stderr, "setup failed\n");
        return 1;
    }
    const int rounds = 7, writes = 3000, reads = 100000;
    const char *ins = "INSERT INTO t(k, v) VALUES (?, ?)";
    const char *sel = "SELECT COUNT(*) FROM t WHERE k = 1";
    std::vector<double> c_exec, cpp_exec, c_read, cpp_read;
    int64_t sink = 0;

    for (int r = 0; r < rounds; ++r) {
        // --- blocking execute ---
        auto t0 = clk::now();
        for (int i = 0; i < writes; ++i) {
            sw_param p[2];
            std::memset(p, 0, sizeof p);
            p[0].value.type = SW_TYPE_INTEGER;
            p[0].value.integer = i;
            p[1].value.type = SW_TYPE_TEXT;
            p[1].value.data = reinterpret_cast<const uint8_t *>("hello");
            p[1].value.len = 5;
            sw_write_result res;
            if (sw_writer_execute(raw, ins, p, 2, &res) != SW_STATUS_OK) return 1;
            sink += res.rows_affected;
        }
        auto t1 = clk::now();
        for (int i = 0; i < writes; ++i) {
            auto res = w.execute(ins, i, "hello");
            if (!res) return 1;
            sink += res->rows_affected;
        }
        auto t2 = clk::now();
        c_exec.push_back(std::chrono::duration<double, std::nano>(t1 - t0).count() / writes);
        cpp_exec.push_back(std::chrono::duration<double, std::nano>(t2 - t1).count() / writes);

        // --- cached read hit (warm the entry first: no write happens during the loop) ---
        if (!w.read("bench:count", sel)) return 1;
        auto t3 = clk::now();
        for (int i = 0; i < reads; ++i) {
            const sw_rows *rows = nullptr;
            if (sw_writer_read(raw, "bench:count", sel, nullptr, 0, &rows) != SW_STATUS_OK) return 1;
            sink += sw_rows_int64(rows, 0, 0);
            sw_rows_free(rows);
        }
        auto t4 = clk::now();
        for (int i = 0; i < reads; ++i) {
            auto rows = w.read("bench:count", sel);
            if (!rows) return 1;
            sink += rows->scalar<int64_t>();
        }
        auto t5 = clk::now();
        c_read.push_back(std::chrono::duration<double, std::nano>(t4 - t3).count() / reads);
        cpp_read.push_back(std::chrono::duration<double, std::nano>(t5 - t4).count() / reads);
    }
    auto cs = w.cache_stats();
    std::printf("Synchronous=%s, %d rounds, median ns/call (C vs C++):\n", sync.c_str(), rounds);
    std::printf("  blocking execute : C %8.0f   C++ %8.0f   (%+.0f ns, %+.1f%%)\n", median(c_exec), median(cpp_exec),
                median(cpp_exec) - median(c_exec), 100.0 * (median(cpp_exec) / median(c_exec) - 1));
    std::printf("  cached read hit  : C %8.0f   C++ %8.0f   (%+.0f ns, %+.1f%%)\n", median(c_read), median(cpp_read),
                median(cpp_read) - median(c_read), 100.0 * (median(cpp_read) / median(c_read) - 1));
    std::printf("  (cache hits %llu, misses %llu; checksum %lld)\n", cs ? (unsigned long long)cs->hits : 0ULL,
                cs ? (unsigned long long)cs->misses : 0ULL, (long long)sink);
    (void)w.close();
    std::remove(db.c_str());
    std::remove((db + "-wal").c_str());
    std::remove((db + "-shm").c_str());
    return 0;
}
