// singlewriter.hpp — header-only C++17 binding for the singlewriter C ABI (include/singlewriter.h).
//
// One coordinated, group-committing writer per SQLite database, a self-invalidating read cache and
// named signals, as idiomatic C++:
//
//   auto w = sw::Writer::open("Data Source=app.db").value();
//   w.execute("CREATE TABLE IF NOT EXISTS t(name TEXT, n INTEGER)").value();
//   w.execute("INSERT INTO t VALUES (?, ?)", "Alice", 42).value();
//   w.execute("INSERT INTO t VALUES (@name, @n)", sw::named("@name", "Bob"), sw::named("@n", 7)).value();
//   for (auto row : w.read("t:all", "SELECT name, n FROM t").value())
//       std::cout << row.text("name") << " " << row.get<int64_t>(1) << "\n";
//
// Errors: NO EXCEPTIONS REQUIRED. Every fallible call returns `sw::Result<T>` ([[nodiscard]]), which
// holds either a T or an `sw::Error` (status, SQLite extended code, message). Check it with `ok()` /
// `if (r)` and read `r.error()`; or call `r.value()`, which returns the T and, on error, THROWS the
// `sw::Error` (an std::exception) when exceptions are enabled, or prints the error and calls
// std::abort() when compiled with -fno-exceptions. So a -fno-exceptions user checks `ok()` first;
// an exceptions user may just write `.value()`.
//
// Ownership: every handle is a move-only RAII object backed by std::unique_ptr with a custom deleter
// (Writer -> sw_writer_close, Rows -> sw_rows_free, Signals -> sw_signals_free, library strings ->
// sw_string_free). Rows, Row, Value, Signal views borrow from the object that produced them.
//
// Callbacks: no C++ exception ever crosses into the library. Each trampoline catches everything:
//   - transaction(): an exception thrown by the lambda rolls the transaction back and is rethrown
//     from transaction() on the calling thread after the library has returned;
//   - enqueue_then() completions and subscribe() callbacks run on a library thread; an exception
//     escaping them is caught and handed to the callback-exception handler
//     (sw::set_callback_exception_handler; the default prints it to stderr) and otherwise dropped.
//
// Threads: a Writer may be used from any number of threads at once (all its methods are const).
// Strings: every text input is a std::string_view-compatible string; const char* and std::string
// are passed through without copying, other string_views are copied once to be NUL-terminated.
#ifndef SINGLEWRITER_HPP
#define SINGLEWRITER_HPP

#include <singlewriter.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#if defined(__cpp_exceptions) || defined(__EXCEPTIONS) || defined(_CPPUNWIND)
#define SW_CPP_EXCEPTIONS 1
#else
#define SW_CPP_EXCEPTIONS 0
#endif

namespace sw {

// ---------------------------------------------------------------------------------------------
// Status and Error
// ---------------------------------------------------------------------------------------------

/// The outcome class of an operation; the numbers are the C ABI's SW_STATUS_* values.
enum class Status : uint32_t {
    Ok = SW_STATUS_OK,
    Error = SW_STATUS_ERROR,
    Constraint = SW_STATUS_CONSTRAINT,
    Busy = SW_STATUS_BUSY,
    QueueFull = SW_STATUS_QUEUE_FULL,
    Timeout = SW_STATUS_TIMEOUT,
    Closed = SW_STATUS_CLOSED,
    InvalidArgument = SW_STATUS_INVALID_ARGUMENT,
    InvalidUtf8 = SW_STATUS_INVALID_UTF8,
    Misuse = SW_STATUS_MISUSE,
    Rollback = SW_STATUS_ROLLBACK,
    ReadOnly = SW_STATUS_READONLY,
    Io = SW_STATUS_IO,
    Corrupt = SW_STATUS_CORRUPT,
    Panic = SW_STATUS_PANIC,
    NoMem = SW_STATUS_NOMEM,
};

/// Static text for a status ("CONSTRAINT", ...), from the library.
inline const char *to_string(Status s) noexcept {
    const char *t = sw_status_str(static_cast<sw_status>(s));
    return t ? t : "";
}

/// The library's crate version, e.g. "0.1.0".
inline const char *version() noexcept { return sw_version(); }

/// Whether the loaded library speaks the ABI this header was compiled against.
inline bool abi_compatible() noexcept { return sw_abi_version() == SW_ABI_VERSION; }

/// A failed operation: its status, SQLite's extended result code (0 if none) and a message.
/// Derives from std::exception so it can be thrown, but nothing requires exceptions.
class Error : public std::exception {
public:
    Error(Status status, int sqlite_code, std::string message)
        : status_(status), sqlite_code_(sqlite_code), message_(std::move(message)) {
        what_ = to_string(status_);
        if (!message_.empty()) {
            what_ += ": ";
            what_ += message_;
        }
    }

    /// The error the library recorded for this thread's last call, which returned `status`.
    /// Must be called right after that call, before any other sw_ call on this thread.
    static Error last(sw_status status) {
        const char *m = sw_last_error_message();
        return Error(static_cast<Status>(status), static_cast<int>(sw_last_error_sqlite_code()),
                     m ? std::string(m) : std::string());
    }

    Status status() const noexcept { return status_; }
    int sqlite_code() const noexcept { return sqlite_code_; }
    const std::string &message() const noexcept { return message_; }
    /// "STATUS: message".
    const char *what() const noexcept override { return what_.c_str(); }

private:
    Status status_;
    int sqlite_code_;
    std::string message_;
    std::string what_;
};

namespace detail {
[[noreturn]] inline void fail(const Error &e) {
#if SW_CPP_EXCEPTIONS
    throw e;
#else
    std::fprintf(stderr, "singlewriter: unchecked sw::Result error: %s\n", e.what());
    std::abort();
#endif
}
template <class> inline constexpr bool dependent_false = false;
} // namespace detail

/// Either a T or an Error. `value()` on an error throws it (or aborts under -fno-exceptions).
template <class T> class [[nodiscard]] Result {
public:
    Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
    Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}

    bool ok() const noexcept { return v_.index() == 0; }
    explicit operator bool() const noexcept { return ok(); }
    /// Status::Ok on success.
    Status status() const noexcept { return ok() ? Status::Ok : std::get<1>(v_).status(); }
    /// The error; only meaningful when !ok().
    const Error &error() const {
        if (ok()) detail::fail(Error(Status::Misuse, 0, "sw::Result::error() called on a success"));
        return std::get<1>(v_);
    }

    T &value() & {
        if (!ok()) detail::fail(std::get<1>(v_));
        return std::get<0>(v_);
    }
    const T &value() const & {
        if (!ok()) detail::fail(std::get<1>(v_));
        return std::get<0>(v_);
    }
    /// By value, so `for (auto row : w.query(...).value())` does not dangle.
    T value() && {
        if (!ok()) detail::fail(std::get<1>(v_));
        return std::move(std::get<0>(v_));
    }
    template <class U> T value_or(U &&fallback) const & {
        return ok() ? std::get<0>(v_) : static_cast<T>(std::forward<U>(fallback));
    }
    template <class U> T value_or(U &&fallback) && {
        return ok() ? std::move(std::get<0>(v_)) : static_cast<T>(std::forward<U>(fallback));
    }
    T &operator*() & { return value(); }
    const T &operator*() const & { return value(); }
    T *operator->() { return &value(); }
    const T *operator->() const { return &value(); }

private:
    std::variant<T, Error> v_;
};

/// Success (nothing to return) or an Error.
template <> class [[nodiscard]] Result<void> {
public:
    Result() = default;
    Result(Error error) : e_(std::move(error)) {}

    bool ok() const noexcept { return !e_.has_value(); }
    explicit operator bool() const noexcept { return ok(); }
    Status status() const noexcept { return e_ ? e_->status() : Status::Ok; }
    const Error &error() const {
        if (!e_) detail::fail(Error(Status::Misuse, 0, "sw::Result::error() called on a success"));
        return *e_;
    }
    /// Throws (or aborts) on error.
    void value() const {
        if (e_) detail::fail(*e_);
    }

private:
    std::optional<Error> e_;
};

namespace detail {
inline Result<void> check(sw_status st) {
    if (st == SW_STATUS_OK) return {};
    return Error::last(st);
}
} // namespace detail

// ---------------------------------------------------------------------------------------------
// Callback exception handler (completions and signal subscriptions run on library threads)
// ---------------------------------------------------------------------------------------------

/// Called with a description of the callback kind ("enqueue completion", "signal subscription")
/// and the caught exception. Runs on the library thread that ran the callback; must not throw.
using CallbackExceptionHandler = void (*)(const char *where, std::exception_ptr error) noexcept;

namespace detail {
inline void default_callback_exception_handler(const char *where, std::exception_ptr error) noexcept {
#if SW_CPP_EXCEPTIONS
    try {
        if (error) std::rethrow_exception(error);
    } catch (const std::exception &e) {
        std::fprintf(stderr, "singlewriter: exception escaped a %s callback: %s\n", where, e.what());
        return;
    } catch (...) {
    }
#else
    (void)error;
#endif
    std::fprintf(stderr, "singlewriter: exception escaped a %s callback\n", where);
}
inline std::atomic<CallbackExceptionHandler> &callback_exception_handler_slot() noexcept {
    static std::atomic<CallbackExceptionHandler> slot{&default_callback_exception_handler};
    return slot;
}
inline void report_callback_exception(const char *where, std::exception_ptr error) noexcept {
    CallbackExceptionHandler h = callback_exception_handler_slot().load();
    if (h) h(where, std::move(error));
}
} // namespace detail

/// Replace the handler for exceptions escaping library-thread callbacks; returns the previous one.
/// nullptr silently drops them.
inline CallbackExceptionHandler set_callback_exception_handler(CallbackExceptionHandler h) noexcept {
    return detail::callback_exception_handler_slot().exchange(h);
}

// ---------------------------------------------------------------------------------------------
// Strings in
// ---------------------------------------------------------------------------------------------

/// A NUL-terminated string argument. const char* and std::string pass through without a copy;
/// any other std::string_view is copied once. Only for function parameters: never store one.
class CStr {
public:
    CStr(std::nullptr_t) noexcept : p_(nullptr), null_(true) {}
    CStr(const char *s) noexcept : p_(s), null_(s == nullptr) {}
    CStr(const std::string &s) noexcept : p_(s.c_str()) {}
    CStr(std::string_view s) : p_(nullptr), own_(s) {}

    /// NULL only when constructed from a null pointer.
    const char *c_str() const noexcept {
        if (null_) return nullptr;
        return p_ ? p_ : own_.c_str();
    }

private:
    const char *p_;
    bool null_ = false;
    std::string own_;
};

// ---------------------------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------------------------

using WriteResult = sw_write_result; ///< rows_affected, last_insert_rowid
using Stats = sw_stats;              ///< queue/commit counters and latencies
using CacheStats = sw_cache_stats;   ///< cache entries, hits, misses, evictions, invalidations

/// SQL NULL, as a parameter (`sw::null`) and as a Value alternative.
struct Null {
    friend bool operator==(Null, Null) noexcept { return true; }
    friend bool operator!=(Null, Null) noexcept { return false; }
};
inline constexpr Null null{};

/// Bytes (a BLOB): a borrowed pointer and size.
struct Blob {
    const uint8_t *data = nullptr;
    size_t size = 0;
    const uint8_t *begin() const noexcept { return data; }
    const uint8_t *end() const noexcept { return data + size; }
    bool empty() const noexcept { return size == 0; }
    std::vector<uint8_t> to_vector() const { return data ? std::vector<uint8_t>(data, data + size) : std::vector<uint8_t>(); }
};

/// Bind raw bytes as a BLOB parameter (borrowed; copied by the library during the call).
inline Blob blob(const void *data, size_t size) noexcept { return Blob{static_cast<const uint8_t *>(data), size}; }

/// One cell: NULL, INTEGER, FLOAT, TEXT (borrowed UTF-8) or BLOB (borrowed). Also usable as a parameter.
using Value = std::variant<Null, int64_t, double, std::string_view, Blob>;

/// SW_TYPE_* of a Value.
inline uint32_t type_of(const Value &v) noexcept {
    switch (v.index()) {
    case 1: return SW_TYPE_INTEGER;
    case 2: return SW_TYPE_FLOAT;
    case 3: return SW_TYPE_TEXT;
    case 4: return SW_TYPE_BLOB;
    default: return SW_TYPE_NULL;
    }
}

/// A named parameter: `sw::named("@name", value)`. The name may be "@x", ":x", "$x" or "x".
template <class T> class Named {
public:
    Named(const char *name, T value) : p_(name), value_(std::move(value)) {}
    Named(std::string_view name, T value) : p_(nullptr), own_(name), value_(std::move(value)) {}
    const char *name() const noexcept { return p_ ? p_ : own_.c_str(); }
    const T &value() const noexcept { return value_; }

private:
    const char *p_;
    std::string own_;
    T value_;
};

namespace detail {
template <class T> struct named_value { using type = std::decay_t<T>; };
// Keep string literals as pointers rather than arrays.
template <size_t N> struct named_value<const char (&)[N]> { using type = const char *; };
template <size_t N> struct named_value<char (&)[N]> { using type = const char *; };
} // namespace detail

template <class T> Named<typename detail::named_value<T>::type> named(const char *name, T &&value) {
    return Named<typename detail::named_value<T>::type>(name, std::forward<T>(value));
}
template <class T> Named<typename detail::named_value<T>::type> named(std::string_view name, T &&value) {
    return Named<typename detail::named_value<T>::type>(name, std::forward<T>(value));
}

namespace detail {
template <class T> struct is_optional : std::false_type {};
template <class T> struct is_optional<std::optional<T>> : std::true_type {};
template <class T> struct is_named : std::false_type {};
template <class T> struct is_named<Named<T>> : std::true_type {};

inline void set_null(sw_value &out) noexcept { out.type = SW_TYPE_NULL; }
inline void set_text(sw_value &out, const char *p, size_t n) noexcept {
    out.type = SW_TYPE_TEXT;
    out.data = reinterpret_cast<const uint8_t *>(p);
    out.len = n;
}
inline void set_blob(sw_value &out, const void *p, size_t n) noexcept {
    out.type = SW_TYPE_BLOB;
    out.data = static_cast<const uint8_t *>(p);
    out.len = n;
}

/// Point `out` at `v`. Text and blobs are borrowed: `v` must outlive the C call.
template <class T> void set_value(sw_value &out, const T &v) {
    using D = std::decay_t<T>;
    out = sw_value{};
    if constexpr (std::is_same_v<D, bool>) {
        out.type = SW_TYPE_INTEGER;
        out.integer = v ? 1 : 0;
    } else if constexpr (std::is_same_v<D, char>) {
        static_assert(dependent_false<T>, "sw: bind a string (\"x\") or an integer, not a char");
    } else if constexpr (std::is_integral_v<D> || std::is_enum_v<D>) {
        out.type = SW_TYPE_INTEGER;
        out.integer = static_cast<int64_t>(v);
    } else if constexpr (std::is_floating_point_v<D>) {
        out.type = SW_TYPE_FLOAT;
        out.real = static_cast<double>(v);
    } else if constexpr (std::is_same_v<D, const char *> || std::is_same_v<D, char *>) {
        const char *p = v;
        if (p == nullptr) set_null(out);
        else set_text(out, p, std::strlen(p));
    } else if constexpr (std::is_same_v<D, std::string> || std::is_same_v<D, std::string_view>) {
        set_text(out, v.data(), v.size());
    } else if constexpr (std::is_same_v<D, Null> || std::is_same_v<D, std::nullptr_t> ||
                         std::is_same_v<D, std::nullopt_t> || std::is_same_v<D, std::monostate>) {
        set_null(out);
    } else if constexpr (std::is_same_v<D, Blob>) {
        set_blob(out, v.data, v.size);
    } else if constexpr (std::is_same_v<D, std::vector<uint8_t>> || std::is_same_v<D, std::vector<std::byte>> ||
                         std::is_same_v<D, std::vector<char>>) {
        set_blob(out, v.data(), v.size());
    } else if constexpr (is_optional<D>::value) {
        if (v.has_value()) set_value(out, *v);
        else set_null(out);
    } else if constexpr (std::is_same_v<D, Value>) {
        std::visit([&out](const auto &x) { set_value(out, x); }, v);
    } else if constexpr (std::is_convertible_v<const D &, std::string_view>) {
        std::string_view s = v;
        set_text(out, s.data(), s.size());
    } else {
        static_assert(dependent_false<T>, "sw: unsupported parameter type");
    }
}

template <class T> void fill(sw_param &out, const T &v) {
    if constexpr (is_named<std::decay_t<T>>::value) {
        out.name = v.name();
        set_value(out.value, v.value());
    } else {
        out.name = nullptr;
        set_value(out.value, v);
    }
}
} // namespace detail

/// An owning, reusable parameter list (copies every text/blob). Build with sw::params(...) or add().
class Params {
public:
    Params() = default;

    /// Append a positional parameter, or a named one when `v` is sw::named(...).
    template <class T> Params &add(const T &v) {
        sw_param p{};
        detail::fill(p, v);
        Entry e;
        e.has_name = p.name != nullptr;
        if (e.has_name) e.name = p.name;
        e.type = p.value.type;
        e.integer = p.value.integer;
        e.real = p.value.real;
        if ((e.type == SW_TYPE_TEXT || e.type == SW_TYPE_BLOB) && p.value.data && p.value.len)
            e.bytes.assign(reinterpret_cast<const char *>(p.value.data), p.value.len);
        entries_.push_back(std::move(e));
        return *this;
    }
    /// Append a named parameter.
    template <class T> Params &add(std::string_view name, const T &v) { return add(named(name, v)); }

    size_t size() const noexcept { return entries_.size(); }
    bool empty() const noexcept { return entries_.empty(); }

    /// The C view; valid while this Params lives unmodified.
    std::vector<sw_param> view() const {
        std::vector<sw_param> out(entries_.size());
        for (size_t i = 0; i < entries_.size(); ++i) {
            const Entry &e = entries_[i];
            sw_param &p = out[i];
            p = sw_param{};
            p.name = e.has_name ? e.name.c_str() : nullptr;
            p.value.type = e.type;
            p.value.integer = e.integer;
            p.value.real = e.real;
            if (e.type == SW_TYPE_TEXT || e.type == SW_TYPE_BLOB) {
                p.value.data = reinterpret_cast<const uint8_t *>(e.bytes.data());
                p.value.len = e.bytes.size();
            }
        }
        return out;
    }

private:
    struct Entry {
        bool has_name = false;
        std::string name;
        uint32_t type = SW_TYPE_NULL;
        int64_t integer = 0;
        double real = 0;
        std::string bytes;
    };
    std::vector<Entry> entries_;
};

/// An owning parameter list from values and sw::named(...) pairs.
template <class... A> Params params(const A &...args) {
    Params p;
    (p.add(args), ...);
    return p;
}

namespace detail {
template <class T> struct is_params : std::is_same<std::decay_t<T>, Params> {};

/// Call f(const sw_param*, size_t) with the arguments as C parameters. Plain arguments are
/// borrowed into a stack array (no allocation); a single sw::Params is used as is.
template <class F, class... A> decltype(auto) with_params(F &&f, const A &...args) {
    if constexpr (sizeof...(A) == 0) {
        return f(static_cast<const sw_param *>(nullptr), size_t{0});
    } else if constexpr (sizeof...(A) == 1 && (is_params<A>::value && ...)) {
        const Params &p = std::get<0>(std::forward_as_tuple(args...));
        std::vector<sw_param> v = p.view();
        return f(v.empty() ? nullptr : v.data(), v.size());
    } else {
        static_assert(!(is_params<A>::value || ...), "sw::Params must be the only parameter argument");
        std::array<sw_param, sizeof...(A)> arr{};
        size_t i = 0;
        (fill(arr[i++], args), ...);
        return f(static_cast<const sw_param *>(arr.data()), arr.size());
    }
}
} // namespace detail

/// One statement of a batch: SQL plus an owning parameter list.
class Statement {
public:
    Statement(std::string sql, Params params = {}) : sql_(std::move(sql)), params_(std::move(params)) {}
    const std::string &sql() const noexcept { return sql_; }
    const Params &parameters() const noexcept { return params_; }

private:
    std::string sql_;
    Params params_;
};

/// A batch statement with positional / named parameters: sw::statement("INSERT ... (?, ?)", "a", 1).
template <class... A> Statement statement(std::string sql, const A &...args) {
    return Statement(std::move(sql), params(args...));
}

/// Cache keys (globs allowed) for execute_and_invalidate: {"users:*", "items:count"}.
class Keys {
public:
    Keys(const char *one) : own_{std::string(one ? one : "")} { index(); }
    Keys(const std::string &one) : own_{one} { index(); }
    Keys(std::initializer_list<std::string_view> keys) {
        own_.reserve(keys.size());
        for (auto k : keys) own_.emplace_back(k);
        index();
    }
    Keys(const std::vector<std::string> &keys) : own_(keys) { index(); }

    const char *const *data() const noexcept { return ptrs_.empty() ? nullptr : ptrs_.data(); }
    size_t size() const noexcept { return ptrs_.size(); }

    Keys(const Keys &o) : own_(o.own_) { index(); }
    Keys &operator=(const Keys &o) {
        own_ = o.own_;
        index();
        return *this;
    }

private:
    void index() {
        ptrs_.clear();
        for (auto &k : own_) ptrs_.push_back(k.c_str());
    }
    std::vector<std::string> own_;
    std::vector<const char *> ptrs_;
};

// ---------------------------------------------------------------------------------------------
// Rows
// ---------------------------------------------------------------------------------------------

namespace detail {
struct RowsFree {
    void operator()(const sw_rows *r) const noexcept { sw_rows_free(r); }
};
struct SignalsFree {
    void operator()(const sw_signals *s) const noexcept { sw_signals_free(s); }
};
struct StringFree {
    void operator()(char *s) const noexcept { sw_string_free(s); }
};
struct WriterClose {
    void operator()(const sw_writer *w) const noexcept { (void)sw_writer_close(w); }
};
using LibString = std::unique_ptr<char, StringFree>;

inline Result<std::string> take_string(sw_status st, char *raw) {
    if (st != SW_STATUS_OK) return Error::last(st);
    LibString owned(raw);
    return std::string(owned ? owned.get() : "");
}

inline size_t find_column(const sw_rows *rows, std::string_view name) noexcept {
    size_t n = sw_rows_column_count(rows);
    for (size_t i = 0; i < n; ++i) {
        const char *c = sw_rows_column_name(rows, i);
        if (c && name == c) return i;
    }
    return static_cast<size_t>(-1); // out of range: accessors answer NULL / 0
}

/// A cell as text the way sqlite3_column_text converts it: numbers in decimal, blobs as bytes.
inline std::string cell_to_string(const sw_rows *rows, size_t row, size_t column) {
    switch (sw_rows_type(rows, row, column)) {
    case SW_TYPE_INTEGER: return std::to_string(sw_rows_int64(rows, row, column));
    case SW_TYPE_FLOAT: {
        char buf[40];
        int n = std::snprintf(buf, sizeof buf, "%.15g", sw_rows_double(rows, row, column));
        std::string s(buf, n > 0 ? static_cast<size_t>(n) : 0);
        if (s.find_first_of(".eEna") == std::string::npos) s += ".0";
        return s;
    }
    case SW_TYPE_TEXT:
    case SW_TYPE_BLOB: {
        size_t len = 0;
        const uint8_t *p = sw_rows_blob(rows, row, column, &len);
        return p ? std::string(reinterpret_cast<const char *>(p), len) : std::string();
    }
    default: return std::string();
    }
}

template <class T> struct is_vector_u8 : std::false_type {};
template <> struct is_vector_u8<std::vector<uint8_t>> : std::true_type {};
} // namespace detail

/// One row of a Rows (a borrowed view; valid while its Rows lives).
/// Columns are addressed by index (0-based) or by name; an unknown column reads as NULL.
class Row {
public:
    Row(const sw_rows *rows, size_t index) noexcept : rows_(rows), index_(index) {}

    size_t index() const noexcept { return index_; }
    size_t size() const noexcept { return sw_rows_column_count(rows_); }

    /// SW_TYPE_* of a cell.
    template <class C> uint32_t type(const C &column) const noexcept { return sw_rows_type(rows_, index_, col(column)); }
    template <class C> bool is_null(const C &column) const noexcept { return type(column) == SW_TYPE_NULL; }

    /// INTEGER (other types convert like sqlite3_column_int64).
    template <class C> int64_t int64(const C &column) const noexcept { return sw_rows_int64(rows_, index_, col(column)); }
    /// FLOAT (other types convert like sqlite3_column_double).
    template <class C> double real(const C &column) const noexcept { return sw_rows_double(rows_, index_, col(column)); }
    /// A TEXT cell as a view (NUL-terminated underneath); "" for NULL and for cells that are not
    /// TEXT (use get<std::string> for numbers converted to text).
    template <class C> std::string_view text(const C &column) const noexcept {
        size_t len = 0;
        const char *p = sw_rows_text(rows_, index_, col(column), &len);
        return p ? std::string_view(p, len) : std::string_view();
    }
    /// BLOB bytes (TEXT gives its UTF-8 bytes); empty for NULL.
    template <class C> Blob blob(const C &column) const noexcept {
        size_t len = 0;
        const uint8_t *p = sw_rows_blob(rows_, index_, col(column), &len);
        return p ? Blob{p, len} : Blob{};
    }
    /// The cell as a variant of its stored type.
    template <class C> Value value(const C &column) const noexcept {
        size_t c = col(column);
        switch (sw_rows_type(rows_, index_, c)) {
        case SW_TYPE_INTEGER: return Value(sw_rows_int64(rows_, index_, c));
        case SW_TYPE_FLOAT: return Value(sw_rows_double(rows_, index_, c));
        case SW_TYPE_TEXT: return Value(text(c));
        case SW_TYPE_BLOB: return Value(blob(c));
        default: return Value(Null{});
        }
    }

    /// The cell converted to T: any integer type, bool, float/double (converted like
    /// sqlite3_column_int64/double), std::string (numbers converted to text like sqlite3_column_text),
    /// std::string_view (= text()), Blob, std::vector<uint8_t>, Value, or std::optional<one of those>
    /// (std::nullopt for NULL).
    template <class T, class C> T get(const C &column) const {
        size_t c = col(column);
        if constexpr (detail::is_optional<T>::value) {
            if (sw_rows_type(rows_, index_, c) == SW_TYPE_NULL) return std::nullopt;
            return T(get<typename T::value_type>(c));
        } else if constexpr (std::is_same_v<T, bool>) {
            return sw_rows_int64(rows_, index_, c) != 0;
        } else if constexpr (std::is_integral_v<T>) {
            return static_cast<T>(sw_rows_int64(rows_, index_, c));
        } else if constexpr (std::is_floating_point_v<T>) {
            return static_cast<T>(sw_rows_double(rows_, index_, c));
        } else if constexpr (std::is_same_v<T, std::string_view>) {
            return text(c);
        } else if constexpr (std::is_same_v<T, std::string>) {
            return detail::cell_to_string(rows_, index_, c);
        } else if constexpr (std::is_same_v<T, Blob>) {
            return blob(c);
        } else if constexpr (detail::is_vector_u8<T>::value) {
            return blob(c).to_vector();
        } else if constexpr (std::is_same_v<T, Value>) {
            return value(c);
        } else {
            static_assert(detail::dependent_false<T>, "sw::Row::get: unsupported type");
        }
    }

private:
    template <class C> size_t col(const C &column) const noexcept {
        if constexpr (std::is_integral_v<C>) return static_cast<size_t>(column);
        else return detail::find_column(rows_, std::string_view(column));
    }
    const sw_rows *rows_;
    size_t index_;
};

/// An immutable result set (move-only; freed with sw_rows_free). Iterate with `for (auto row : rows)`.
class Rows {
public:
    class iterator {
    public:
        using iterator_category = std::random_access_iterator_tag;
        using value_type = Row;
        using difference_type = std::ptrdiff_t;
        using pointer = void;
        using reference = Row;

        iterator(const sw_rows *r, size_t i) noexcept : r_(r), i_(i) {}
        Row operator*() const noexcept { return Row(r_, i_); }
        Row operator[](difference_type n) const noexcept { return Row(r_, i_ + static_cast<size_t>(n)); }
        iterator &operator++() noexcept { ++i_; return *this; }
        iterator operator++(int) noexcept { iterator t = *this; ++i_; return t; }
        iterator &operator--() noexcept { --i_; return *this; }
        iterator operator--(int) noexcept { iterator t = *this; --i_; return t; }
        iterator &operator+=(difference_type n) noexcept { i_ += static_cast<size_t>(n); return *this; }
        iterator &operator-=(difference_type n) noexcept { i_ -= static_cast<size_t>(n); return *this; }
        friend iterator operator+(iterator a, difference_type n) noexcept { return a += n; }
        friend iterator operator-(iterator a, difference_type n) noexcept { return a -= n; }
        friend difference_type operator-(const iterator &a, const iterator &b) noexcept {
            return static_cast<difference_type>(a.i_) - static_cast<difference_type>(b.i_);
        }
        friend bool operator==(const iterator &a, const iterator &b) noexcept { return a.i_ == b.i_ && a.r_ == b.r_; }
        friend bool operator!=(const iterator &a, const iterator &b) noexcept { return !(a == b); }
        friend bool operator<(const iterator &a, const iterator &b) noexcept { return a.i_ < b.i_; }

    private:
        const sw_rows *r_;
        size_t i_;
    };

    Rows() = default;
    /// Take ownership of a C result set.
    explicit Rows(const sw_rows *owned) noexcept : p_(owned) {}

    size_t size() const noexcept { return p_ ? sw_rows_row_count(p_.get()) : 0; }
    bool empty() const noexcept { return size() == 0; }
    size_t column_count() const noexcept { return p_ ? sw_rows_column_count(p_.get()) : 0; }
    std::string_view column_name(size_t column) const noexcept {
        const char *n = p_ ? sw_rows_column_name(p_.get(), column) : nullptr;
        return n ? std::string_view(n) : std::string_view();
    }
    std::optional<size_t> column_index(std::string_view name) const noexcept {
        if (!p_) return std::nullopt;
        size_t i = detail::find_column(p_.get(), name);
        if (i == static_cast<size_t>(-1)) return std::nullopt;
        return i;
    }
    Row operator[](size_t row) const noexcept { return Row(p_.get(), row); }
    iterator begin() const noexcept { return iterator(p_.get(), 0); }
    iterator end() const noexcept { return iterator(p_.get(), size()); }

    /// Row 0, column 0 as T (T{} / nullopt when there is no row).
    template <class T> T scalar() const {
        if (empty()) return T{};
        return (*this)[0].template get<T>(size_t{0});
    }
    /// [{"col": value, ...}, ...]
    Result<std::string> to_json() const {
        char *out = nullptr;
        sw_status st = sw_rows_to_json(p_.get(), &out);
        return detail::take_string(st, out);
    }

    const sw_rows *get() const noexcept { return p_.get(); }
    /// Give up ownership (the caller must sw_rows_free it).
    const sw_rows *release() noexcept { return p_.release(); }

private:
    std::unique_ptr<const sw_rows, detail::RowsFree> p_;
};

// ---------------------------------------------------------------------------------------------
// Signals
// ---------------------------------------------------------------------------------------------

/// One signal (views borrow from the Signals it came from, or from the callback invocation).
struct Signal {
    uint64_t seq = 0;
    int64_t timestamp_us = 0;
    std::string_view name; ///< e.g. "write.done"
    std::string_view key;  ///< subject; "" if none
    Status status = Status::Ok;
    int64_t duration_us = -1;
    int64_t rows = -1;

    Signal() = default;
    explicit Signal(const sw_signal &s) noexcept
        : seq(s.seq), timestamp_us(s.timestamp_us), name(s.name ? s.name : ""), key(s.key ? s.key : ""),
          status(static_cast<Status>(s.status)), duration_us(s.duration_us), rows(s.rows) {}

    /// "name" or "name:key".
    std::string full_name() const {
        std::string s(name);
        if (!key.empty()) {
            s += ':';
            s += key;
        }
        return s;
    }
};

/// A polled set of signals, oldest first (move-only; freed with sw_signals_free).
class Signals {
public:
    class iterator {
    public:
        using iterator_category = std::forward_iterator_tag;
        using value_type = Signal;
        using difference_type = std::ptrdiff_t;
        using pointer = void;
        using reference = Signal;
        iterator(const sw_signals *s, size_t i) noexcept : s_(s), i_(i) {}
        Signal operator*() const noexcept { return Signal(*sw_signals_get(s_, i_)); }
        iterator &operator++() noexcept { ++i_; return *this; }
        iterator operator++(int) noexcept { iterator t = *this; ++i_; return t; }
        friend bool operator==(const iterator &a, const iterator &b) noexcept { return a.i_ == b.i_ && a.s_ == b.s_; }
        friend bool operator!=(const iterator &a, const iterator &b) noexcept { return !(a == b); }

    private:
        const sw_signals *s_;
        size_t i_;
    };

    Signals() = default;
    explicit Signals(const sw_signals *owned) noexcept : p_(owned) {}

    size_t size() const noexcept { return p_ ? sw_signals_count(p_.get()) : 0; }
    bool empty() const noexcept { return size() == 0; }
    Signal operator[](size_t i) const noexcept {
        const sw_signal *s = p_ ? sw_signals_get(p_.get(), i) : nullptr;
        return s ? Signal(*s) : Signal();
    }
    iterator begin() const noexcept { return iterator(p_.get(), 0); }
    iterator end() const noexcept { return iterator(p_.get(), size()); }
    /// Signals after `after_seq` that were overwritten in the ring before this poll.
    uint64_t missed() const noexcept { return p_ ? sw_signals_missed(p_.get()) : 0; }
    /// The newest seq in this set (0 if empty) — pass it as `after_seq` to the next poll.
    uint64_t last_seq() const noexcept { return empty() ? 0 : (*this)[size() - 1].seq; }
    /// Whether any signal's full form ("name:key") matches `full` exactly or starts with `prefix`.
    bool contains(std::string_view full) const {
        for (auto s : *this)
            if (s.full_name() == full) return true;
        return false;
    }
    bool contains_prefix(std::string_view prefix) const {
        for (auto s : *this)
            if (s.full_name().compare(0, prefix.size(), prefix) == 0) return true;
        return false;
    }

    const sw_signals *get() const noexcept { return p_.get(); }

private:
    std::unique_ptr<const sw_signals, detail::SignalsFree> p_;
};

class Writer;

/// A signal subscription; unsubscribes when destroyed. Must not outlive the Writer it came from.
class Subscription {
public:
    Subscription() = default;
    Subscription(const sw_writer *w, uint64_t id) noexcept : w_(w), id_(id) {}
    Subscription(Subscription &&o) noexcept : w_(std::exchange(o.w_, nullptr)), id_(std::exchange(o.id_, 0)) {}
    Subscription &operator=(Subscription &&o) noexcept {
        if (this != &o) {
            (void)unsubscribe();
            w_ = std::exchange(o.w_, nullptr);
            id_ = std::exchange(o.id_, 0);
        }
        return *this;
    }
    Subscription(const Subscription &) = delete;
    Subscription &operator=(const Subscription &) = delete;
    ~Subscription() { (void)unsubscribe(); }

    uint64_t id() const noexcept { return id_; }
    bool active() const noexcept { return w_ != nullptr; }
    /// Stop the callback (idempotent). The library frees the callback after its last call.
    Result<void> unsubscribe() noexcept {
        if (!w_) return {};
        const sw_writer *w = std::exchange(w_, nullptr);
        return detail::check(sw_writer_unsubscribe(w, std::exchange(id_, 0)));
    }
    /// How many signals this subscription dropped because its queue was full.
    Result<uint64_t> dropped() const {
        uint64_t n = 0;
        sw_status st = sw_writer_subscription_dropped(w_, id_, &n);
        if (st != SW_STATUS_OK) return Error::last(st);
        return n;
    }
    /// Forget the subscription without unsubscribing (it then lives as long as the writer).
    uint64_t release() noexcept {
        w_ = nullptr;
        return std::exchange(id_, 0);
    }

private:
    const sw_writer *w_ = nullptr;
    uint64_t id_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Transactions
// ---------------------------------------------------------------------------------------------

/// The write connection inside Writer::transaction (borrowed; only valid inside the lambda, on the
/// thread running it). Blocking Writer calls from inside the lambda fail with Status::Misuse.
class Txn {
public:
    explicit Txn(sw_txn *t) noexcept : t_(t) {}
    Txn(const Txn &) = delete;
    Txn &operator=(const Txn &) = delete;

    template <class... A> Result<WriteResult> execute(CStr sql, const A &...args) const {
        return detail::with_params(
            [&](const sw_param *p, size_t n) -> Result<WriteResult> {
                WriteResult r{};
                sw_status st = sw_txn_execute(t_, sql.c_str(), p, n, &r);
                if (st != SW_STATUS_OK) return Error::last(st);
                return r;
            },
            args...);
    }
    template <class... A> Result<Rows> query(CStr sql, const A &...args) const {
        return detail::with_params(
            [&](const sw_param *p, size_t n) -> Result<Rows> {
                const sw_rows *rows = nullptr;
                sw_status st = sw_txn_query(t_, sql.c_str(), p, n, &rows);
                if (st != SW_STATUS_OK) return Error::last(st);
                return Rows(rows);
            },
            args...);
    }
    sw_txn *get() const noexcept { return t_; }

private:
    sw_txn *t_;
};

namespace detail {
template <class R> struct txn_value { using type = R; };
template <> struct txn_value<void> { using type = void; };
template <> struct txn_value<Status> { using type = void; };
template <class U> struct txn_value<Result<U>> { using type = U; };

template <class F, class R, class V> struct TxnCall {
    explicit TxnCall(F *f) noexcept : fn(f) {}
    F *fn;
    std::conditional_t<std::is_void_v<V>, char, std::optional<std::conditional_t<std::is_void_v<V>, char, V>>> value{};
    std::optional<Error> user_error;
    std::exception_ptr exception;

    static sw_status run(void *userdata, sw_txn *raw) noexcept {
        auto *self = static_cast<TxnCall *>(userdata);
#if SW_CPP_EXCEPTIONS
        try {
#endif
            Txn tx(raw);
            if constexpr (std::is_void_v<R>) {
                (*self->fn)(tx);
                return SW_STATUS_OK;
            } else if constexpr (std::is_same_v<R, Status>) {
                Status s = (*self->fn)(tx);
                if (s != Status::Ok) self->user_error.emplace(s, 0, "the transaction function returned a non-OK status");
                return static_cast<sw_status>(s);
            } else if constexpr (std::is_same_v<R, Result<V>>) {
                R r = (*self->fn)(tx);
                if (!r.ok()) {
                    self->user_error.emplace(r.error());
                    return SW_STATUS_ROLLBACK;
                }
                if constexpr (std::is_void_v<V>) return SW_STATUS_OK;
                else {
                    self->value.emplace(std::move(r).value());
                    return SW_STATUS_OK;
                }
            } else {
                self->value.emplace((*self->fn)(tx));
                return SW_STATUS_OK;
            }
#if SW_CPP_EXCEPTIONS
        } catch (...) {
            self->exception = std::current_exception();
            return SW_STATUS_ROLLBACK;
        }
#endif
    }
};

template <class F> struct Completion {
    F fn;
    static void call(void *userdata, sw_status status, const sw_write_result *result, const char *message) noexcept {
        std::unique_ptr<Completion> self(static_cast<Completion *>(userdata));
#if SW_CPP_EXCEPTIONS
        try {
#endif
            if (status == SW_STATUS_OK) {
                self->fn(Result<WriteResult>(result ? *result : WriteResult{}));
            } else {
                self->fn(Result<WriteResult>(Error(static_cast<Status>(status), 0, message ? message : "")));
            }
#if SW_CPP_EXCEPTIONS
        } catch (...) {
            report_callback_exception("enqueue completion", std::current_exception());
        }
#endif
    }
};

template <class F> struct Subscriber {
    F fn;
    static void call(void *userdata, const sw_signal *signal) noexcept {
        auto *self = static_cast<Subscriber *>(userdata);
        if (!signal) return;
#if SW_CPP_EXCEPTIONS
        try {
#endif
            self->fn(Signal(*signal));
#if SW_CPP_EXCEPTIONS
        } catch (...) {
            report_callback_exception("signal subscription", std::current_exception());
        }
#endif
    }
    static void free(void *userdata) noexcept { delete static_cast<Subscriber *>(userdata); }
};
} // namespace detail

// ---------------------------------------------------------------------------------------------
// Writer
// ---------------------------------------------------------------------------------------------

/// A handle on the one writer of a database (move-only; sw_writer_close on destruction).
/// Two Writers opened on the same file share one writer lane, cache and signal ring.
class Writer {
public:
    Writer() = default;
    explicit Writer(const sw_writer *owned) noexcept : h_(owned) {}

    /// Open (or join) the writer for a connection string: a path, ":memory:", a "file:" URI or
    /// "Key=Value;" pairs (e.g. "Data Source=app.db;Cache Size=100"). Also checks the ABI version.
    static Result<Writer> open(CStr connection_string) {
        if (!abi_compatible())
            return Error(Status::Misuse, 0,
                         "singlewriter ABI mismatch: header " + std::to_string(SW_ABI_VERSION) + ", library " +
                             std::to_string(sw_abi_version()));
        const sw_writer *w = nullptr;
        sw_status st = sw_writer_open(connection_string.c_str(), &w);
        if (st != SW_STATUS_OK) return Error::last(st);
        return Writer(w);
    }

    /// Close this handle now and report how it went (the destructor does the same silently).
    /// The last handle of a database drains and commits every accepted write first. From inside a
    /// transaction or a library-thread callback this fails with Status::Misuse and the handle stays
    /// open (so do not let the last owner of a Writer die inside such a callback).
    Result<void> close() {
        if (!h_) return {};
        sw_status st = sw_writer_close(h_.get());
        if (st == SW_STATUS_MISUSE) return Error::last(st); // e.g. from a callback: handle still open
        h_.release();
        return detail::check(st);
    }

    bool is_open() const noexcept { return h_ != nullptr; }
    explicit operator bool() const noexcept { return is_open(); }
    const sw_writer *get() const noexcept { return h_.get(); }

    // --- writes ---

    /// Run one write and wait until it has committed. Arguments: positional values and/or
    /// sw::named(...) pairs, or one sw::Params.
    template <class... A> Result<WriteResult> execute(CStr sql, const A &...args) const {
        return detail::with_params(
            [&](const sw_param *p, size_t n) -> Result<WriteResult> {
                WriteResult r{};
                sw_status st = sw_writer_execute(h_.get(), sql.c_str(), p, n, &r);
                if (st != SW_STATUS_OK) return Error::last(st);
                return r;
            },
            args...);
    }

    /// Queue a write and return at once (fire and forget; failures show up in stats and signals).
    template <class... A> Result<void> enqueue(CStr sql, const A &...args) const {
        return detail::with_params(
            [&](const sw_param *p, size_t n) -> Result<void> {
                return detail::check(sw_writer_enqueue(h_.get(), sql.c_str(), p, n, nullptr, nullptr));
            },
            args...);
    }

    /// Queue a write; `on_done(sw::Result<sw::WriteResult>)` runs exactly once on a library thread
    /// after the write committed or failed (Status::Closed if the writer closed first). It must not
    /// make blocking Writer calls (they fail with Misuse). If enqueue itself fails, on_done never runs.
    template <class F, class... A> Result<void> enqueue_then(F &&on_done, CStr sql, const A &...args) const {
        using C = detail::Completion<std::decay_t<F>>;
        auto holder = std::make_unique<C>(C{std::forward<F>(on_done)});
        return detail::with_params(
            [&](const sw_param *p, size_t n) -> Result<void> {
                sw_status st = sw_writer_enqueue(h_.get(), sql.c_str(), p, n, &C::call, holder.get());
                if (st != SW_STATUS_OK) return Error::last(st); // not queued: the callback never runs
                holder.release();                                // the library owns it until the call
                return {};
            },
            args...);
    }

    /// Run several statements as one unit. Transactional: all or nothing. Otherwise statements before
    /// the first failure stay committed and the failure is reported. Returns the totals.
    Result<WriteResult> batch(const std::vector<Statement> &statements, bool transactional = true) const {
        std::vector<std::vector<sw_param>> views;
        std::vector<sw_statement> cs;
        views.reserve(statements.size());
        cs.reserve(statements.size());
        for (const Statement &s : statements) {
            views.push_back(s.parameters().view());
            sw_statement c{};
            c.sql = s.sql().c_str();
            c.params = views.back().empty() ? nullptr : views.back().data();
            c.n_params = views.back().size();
            cs.push_back(c);
        }
        WriteResult total{};
        sw_status st = sw_writer_batch(h_.get(), cs.empty() ? nullptr : cs.data(), cs.size(), transactional, &total);
        if (st != SW_STATUS_OK) return Error::last(st);
        return total;
    }

    /// Run `fn(sw::Txn&)` on the calling thread inside one transaction on the write connection.
    /// fn may return:
    ///   void                  -> commit                                   -> Result<void>
    ///   sw::Status            -> commit if Status::Ok, else roll back     -> Result<void>
    ///   sw::Result<U>         -> commit if ok (yields U), else roll back and return its error
    ///   any other U           -> commit, yield U                          -> Result<U>
    /// An exception thrown by fn rolls back and is rethrown from here (it never crosses the C ABI).
    template <class F> auto transaction(F &&fn) const -> Result<typename detail::txn_value<std::invoke_result_t<F &, Txn &>>::type> {
        using R = std::invoke_result_t<F &, Txn &>;
        using V = typename detail::txn_value<R>::type;
        using Call = detail::TxnCall<std::remove_reference_t<F>, R, V>;
        Call call(&fn);
        sw_status st = sw_writer_transaction(h_.get(), &Call::run, &call);
        std::optional<Error> lib_error;
        if (st != SW_STATUS_OK) lib_error.emplace(Error::last(st));
#if SW_CPP_EXCEPTIONS
        if (call.exception) std::rethrow_exception(call.exception);
#endif
        if (st != SW_STATUS_OK) {
            if (call.user_error) return std::move(*call.user_error);
            return std::move(*lib_error);
        }
        if constexpr (std::is_void_v<V>) return Result<void>();
        else return Result<V>(std::move(*call.value));
    }

    /// Write, then invalidate cache keys (globs allowed) once committed; no read that began before the
    /// commit can put the old value back.
    template <class... A> Result<WriteResult> execute_and_invalidate(const Keys &keys, CStr sql, const A &...args) const {
        return detail::with_params(
            [&](const sw_param *p, size_t n) -> Result<WriteResult> {
                WriteResult r{};
                sw_status st = sw_writer_execute_and_invalidate(h_.get(), sql.c_str(), p, n, keys.data(), keys.size(), &r);
                if (st != SW_STATUS_OK) return Error::last(st);
                return r;
            },
            args...);
    }

    /// Wait until every write submitted before this call is acknowledged (committed or failed,
    /// callbacks fired). timeout_ms 0 waits without limit; otherwise Status::Timeout after it.
    Result<void> flush(uint32_t timeout_ms = 0) const { return detail::check(sw_writer_flush(h_.get(), timeout_ms)); }

    // --- reads ---

    /// Uncached read on a read-only connection (sees every acknowledged write).
    template <class... A> Result<Rows> query(CStr sql, const A &...args) const {
        return detail::with_params(
            [&](const sw_param *p, size_t n) -> Result<Rows> {
                const sw_rows *rows = nullptr;
                sw_status st = sw_writer_query(h_.get(), sql.c_str(), p, n, &rows);
                if (st != SW_STATUS_OK) return Error::last(st);
                return Rows(rows);
            },
            args...);
    }

    /// Cached read: served from the cache under `cache_key` while fresh, otherwise run and cached.
    template <class... A> Result<Rows> read(CStr cache_key, CStr sql, const A &...args) const {
        return detail::with_params(
            [&](const sw_param *p, size_t n) -> Result<Rows> {
                const sw_rows *rows = nullptr;
                sw_status st = sw_writer_read(h_.get(), cache_key.c_str(), sql.c_str(), p, n, &rows);
                if (st != SW_STATUS_OK) return Error::last(st);
                return Rows(rows);
            },
            args...);
    }

    /// Drop cached entries by key or glob.
    Result<void> invalidate(CStr key_or_glob) const { return detail::check(sw_writer_invalidate(h_.get(), key_or_glob.c_str())); }

    // --- observability ---

    Result<Stats> stats() const {
        Stats s{};
        sw_status st = sw_writer_stats(h_.get(), &s);
        if (st != SW_STATUS_OK) return Error::last(st);
        return s;
    }
    Result<CacheStats> cache_stats() const {
        CacheStats s{};
        sw_status st = sw_writer_cache_stats(h_.get(), &s);
        if (st != SW_STATUS_OK) return Error::last(st);
        return s;
    }
    /// Recent write operations as a JSON array.
    Result<std::string> operations_json() const {
        char *out = nullptr;
        sw_status st = sw_writer_operations_json(h_.get(), &out);
        return detail::take_string(st, out);
    }
    /// Prometheus text exposition of the counters.
    Result<std::string> metrics_text() const {
        char *out = nullptr;
        sw_status st = sw_writer_metrics_text(h_.get(), &out);
        return detail::take_string(st, out);
    }

    /// Signals still held with seq > after_seq whose full form ("name:key") matches the glob
    /// (nullptr: all), oldest first.
    Result<Signals> poll_signals(CStr pattern = nullptr, uint64_t after_seq = 0) const {
        const sw_signals *s = nullptr;
        sw_status st = sw_writer_poll_signals(h_.get(), pattern.c_str(), after_seq, &s);
        if (st != SW_STATUS_OK) return Error::last(st);
        return Signals(s);
    }

    /// Call `fn(sw::Signal)` on a library thread for every signal matching the glob (nullptr: all).
    /// The Signal's views are valid only during the call. Keep the Subscription alive (and shorter-
    /// lived than this Writer) for as long as you want the calls.
    template <class F> Result<Subscription> subscribe(CStr pattern, F &&fn) const {
        using S = detail::Subscriber<std::decay_t<F>>;
        auto holder = std::make_unique<S>(S{std::forward<F>(fn)});
        uint64_t id = 0;
        sw_status st = sw_writer_subscribe(h_.get(), pattern.c_str(), &S::call, holder.get(), &S::free, &id);
        if (st != SW_STATUS_OK) return Error::last(st); // the library did not take the userdata
        holder.release();
        return Subscription(h_.get(), id);
    }

    /// Raise a signal, e.g. "cache.invalidate:users:*" (invalidates those keys in every process).
    Result<void> raise(CStr signal) const { return detail::check(sw_writer_raise(h_.get(), signal.c_str())); }

private:
    std::unique_ptr<const sw_writer, detail::WriterClose> h_;
};

} // namespace sw

#endif // SINGLEWRITER_HPP
