// Test runner: see harness.hpp.
#include "harness.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <thread>
#include <unistd.h>

namespace fs = std::filesystem;

namespace sw_test {

std::vector<Case> &registry() {
    static std::vector<Case> r;
    return r;
}

static std::string g_dir;
static std::string g_self;
static int g_seq = 0;

void fail(const char *file, int line, const std::string &what) {
    std::ostringstream os;
    os << fs::path(file).filename().string() << ":" << line << ": " << what;
    throw Failure(os.str());
}

std::string db_path(const std::string &name) { return g_dir + "/" + std::to_string(++g_seq) + "-" + name; }

std::string conn(const std::string &name, const std::string &extra) {
    return "Data Source=" + db_path(name) + ";Mode=ReadWriteCreate;Sample Rate=1;Max Tracked Writes=256;" + extra;
}

const std::string &self_exe() { return g_self; }

} // namespace sw_test

int child_main(int argc, char **argv); // defined in ported_test.cpp (second-process helper)

int main(int argc, char **argv) {
    if (argc >= 2 && std::strcmp(argv[1], "--child") == 0) return child_main(argc - 2, argv + 2);
    sw_test::g_self = fs::canonical("/proc/self/exe").string();

    char tmpl[] = "/tmp/sw-cpp-tests-XXXXXX";
    const char *base = std::getenv("SW_TEST_TMPDIR");
    std::string t = base ? std::string(base) + "/sw-cpp-tests-XXXXXX" : std::string(tmpl);
    std::vector<char> buf(t.begin(), t.end());
    buf.push_back('\0');
    if (!mkdtemp(buf.data())) {
        std::perror("mkdtemp");
        return 2;
    }
    std::string root = buf.data();

    // Watchdog: a test that runs longer than SW_TEST_TIMEOUT seconds (default 60) is reported as
    // hung, naming it, and the process exits (a deadlock must not hang the whole test run).
    static std::atomic<const char *> current{nullptr};
    static std::atomic<long long> started_ms{0};
    const long long limit_ms = 1000LL * (std::getenv("SW_TEST_TIMEOUT") ? std::atoll(std::getenv("SW_TEST_TIMEOUT")) : 60);
    auto now_ms = [] {
        return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
    };
    std::thread([limit_ms, now_ms] {
        for (;;) {
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
            const char *name = current.load();
            if (name && now_ms() - started_ms.load() > limit_ms) {
                std::cout << "FAIL " << name << ": HUNG (still running after " << limit_ms / 1000 << " s)" << std::endl;
                std::cout << "cpp-tests: 0 passed, 1 failed" << std::endl;
                _exit(3);
            }
        }
    }).detach();

    int passed = 0, failed = 0;
    for (const auto &c : sw_test::registry()) {
        if (argc > 1) {
            bool wanted = false;
            for (int i = 1; i < argc; ++i)
                if (std::strstr(c.name, argv[i])) wanted = true;
            if (!wanted) continue;
        }
        sw_test::g_dir = root + "/" + c.name;
        fs::create_directories(sw_test::g_dir);
        auto t0 = std::chrono::steady_clock::now();
        started_ms = now_ms();
        current = c.name;
        std::string err;
        try {
            c.fn();
        } catch (const sw_test::Failure &f) {
            err = f.what();
        } catch (const std::exception &e) {
            err = std::string("unexpected exception: ") + e.what();
        } catch (...) {
            err = "unexpected non-std exception";
        }
        current = nullptr;
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
        if (err.empty()) {
            ++passed;
            std::cout << "PASS " << c.name << " (" << ms << " ms)" << std::endl;
        } else {
            ++failed;
            std::cout << "FAIL " << c.name << ": " << err << std::endl;
        }
    }
    std::error_code ec;
    if (!std::getenv("SW_KEEP_TMP")) fs::remove_all(root, ec);
    std::cout << "cpp-tests: " << passed << " passed, " << failed << " failed" << std::endl;
    return failed == 0 && passed > 0 ? 0 : 1;
}
