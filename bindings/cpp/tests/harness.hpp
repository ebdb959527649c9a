// A tiny test harness for the C++ binding tests: TEST(name) registers a test, CHECK* record a
// failure and stop the test (by throwing sw_test::Failure), MUST(result) unwraps an sw::Result or
// fails the test with the library's error. main() runs every test (or those named on the command
// line), each with a fresh temp directory, and prints "cpp-tests: N passed, N failed".
#ifndef SW_TEST_HARNESS_HPP
#define SW_TEST_HARNESS_HPP

#include "singlewriter.hpp"

#include <functional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace sw {
inline std::ostream &operator<<(std::ostream &o, Status s) { return o << to_string(s) << "(" << static_cast<uint32_t>(s) << ")"; }
} // namespace sw

namespace sw_test {

struct Failure : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct Case {
    const char *name;
    void (*fn)();
};
std::vector<Case> &registry();
struct Reg {
    Reg(const char *name, void (*fn)()) { registry().push_back({name, fn}); }
};

[[noreturn]] void fail(const char *file, int line, const std::string &what);

/// A fresh database path in this test's temp directory.
std::string db_path(const std::string &name = "test.db");
/// The connection string the original's tests use, for a fresh file.
std::string conn(const std::string &name = "test.db", const std::string &extra = "");
/// argv[0] of the test binary (for tests that start a second process).
const std::string &self_exe();

template <class T> T must(sw::Result<T> &&r, const char *expr, const char *file, int line) {
    if (!r.ok()) fail(file, line, std::string(expr) + " failed: " + r.error().what());
    return std::move(r).value();
}
inline void must(sw::Result<void> &&r, const char *expr, const char *file, int line) {
    if (!r.ok()) fail(file, line, std::string(expr) + " failed: " + r.error().what());
}

template <class A, class B> void check_eq(const A &a, const B &b, const char *ea, const char *eb, const char *file, int line) {
    if (!(a == b)) {
        std::ostringstream os;
        os << ea << " == " << eb << " (" << a << " vs " << b << ")";
        fail(file, line, os.str());
    }
}

} // namespace sw_test

#define TEST(name)                                                                                                     \
    static void name();                                                                                                \
    static ::sw_test::Reg reg_##name(#name, &name);                                                                    \
    static void name()
#define CHECK(cond)                                                                                                    \
    do {                                                                                                               \
        if (!(cond)) ::sw_test::fail(__FILE__, __LINE__, "CHECK(" #cond ")");                                         \
    } while (0)
#define CHECK_MSG(cond, msg)                                                                                           \
    do {                                                                                                               \
        if (!(cond)) ::sw_test::fail(__FILE__, __LINE__, std::string("CHECK(" #cond "): ") + (msg));                 \
    } while (0)
#define CHECK_EQ(a, b) ::sw_test::check_eq((a), (b), #a, #b, __FILE__, __LINE__)
#define MUST(expr) ::sw_test::must((expr), #expr, __FILE__, __LINE__)

#endif
