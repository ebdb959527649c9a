/*
 * A tiny test harness for the C-level tests of singlewriter.
 *
 * Each test is a `void name(void)` function listed in SW_C_TESTS (tests.h). A test fails through
 * CHECK / CHECK_STATUS, which record the first failure (file:line, reason, and for statuses the
 * library's sw_last_error_message()) and return from the test. Writers opened with OPEN are
 * closed by the harness after the test if the test did not close them (e.g. after a failure).
 * Thread bodies report problems with t_fail() (thread-safe) and return.
 */
#ifndef SW_C_HARNESS_H
#define SW_C_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "singlewriter.h"

/* The directory (mkdtemp) all databases of this run live in. */
extern const char *t_tmpdir;
/* The name of the running test. */
extern const char *t_current;
/* 1 when asked for a small workload (--small or SW_C_SMALL=1): sanitizer and valgrind runs. */
extern int t_small;
/* Path of the crash-test child program (SW_C_CRASH_CHILD), or NULL. */
extern const char *t_crash_child;

/* Record a failure of the current test (first one wins; thread-safe). */
void t_fail(const char *file, int line, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* Record that `expr` returned `got` instead of `want`, with the library's last error message. */
void t_fail_status(const char *file, int line, const char *expr, sw_status got, sw_status want);
/* Whether the current test has failed so far. */
bool t_failed(void);

#define FAIL(...) t_fail(__FILE__, __LINE__, __VA_ARGS__)

#define CHECK(cond, ...)                                                                      \
    do {                                                                                      \
        if (!(cond)) {                                                                        \
            t_fail(__FILE__, __LINE__, __VA_ARGS__);                                          \
            return;                                                                           \
        }                                                                                     \
    } while (0)

#define CHECK_STATUS(expr, want)                                                              \
    do {                                                                                      \
        sw_status got_ = (expr);                                                              \
        if (got_ != (sw_status)(want)) {                                                      \
            t_fail_status(__FILE__, __LINE__, #expr, got_, (sw_status)(want));                \
            return;                                                                           \
        }                                                                                     \
    } while (0)

#define CHECK_OK(expr) CHECK_STATUS(expr, SW_STATUS_OK)

/* Open a writer and register it, so the harness closes it if the test returns early. */
sw_status t_open(const char *connection_string, const sw_writer **out);
/* Unregister and close. */
sw_status t_close(const sw_writer *w);

#define OPEN(var, cs)                                                                         \
    const sw_writer *var = NULL;                                                              \
    CHECK_OK(t_open((cs), &var))

#define CLOSE(var) CHECK_OK(t_close(var))

/* `buf` = "<tmpdir>/<test>-<name>.db". */
void t_db(char *buf, size_t n, const char *name);

/* Write without params or result. */
sw_status t_exec(const sw_writer *w, const char *sql);
/* First column of the first row as an integer (INT64_MIN if there is no row). */
sw_status t_query_int(const sw_writer *w, const char *sql, int64_t *out);
/* First column of the first row as text copied into buf ("" if none / NULL). */
sw_status t_query_text(const sw_writer *w, const char *sql, char *buf, size_t n);

/* Whether haystack contains needle, ignoring ASCII case. */
bool t_contains_ci(const char *haystack, const char *needle);

/* Monotonic milliseconds. */
int64_t t_now_ms(void);
/* Sleep for ms milliseconds. */
void t_sleep_ms(int ms);

/* Parameter constructors. */
sw_param p_int(const char *name, int64_t v);
sw_param p_real(const char *name, double v);
sw_param p_text(const char *name, const char *s);
sw_param p_textn(const char *name, const char *s, size_t len);
sw_param p_blob(const char *name, const void *data, size_t len);
sw_param p_null(const char *name);

#endif /* SW_C_HARNESS_H */
