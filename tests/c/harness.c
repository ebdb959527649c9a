/*
 * The harness: runs every test in SW_C_TESTS (or those named on the command line), prints
 * `ok name` / `FAIL name: reason`, then `N passed, N failed`, and exits non-zero on failure.
 *
 * Each test runs in its own forked process (the parent never calls the library), so a test
 * that hangs (killed by SIGALRM after SW_C_TEST_TIMEOUT), crashes, or trips a sanitizer or
 * valgrind at exit fails alone and the others still run. The first failure's message travels
 * back through shared memory.
 *
 * --no-fork runs every test in this one process (the valgrind run uses it: forking under
 * valgrind costs about a second per test); a leak is then attributed through memcheck's client
 * requests, and a hang ends the run.
 *
 * Usage: sw_c_tests [--small] [--no-fork] [--list] [test-name ...]
 * Environment: SW_C_SMALL=1 (same as --small), SW_C_CRASH_CHILD=/path/to/crash_child,
 *              SW_C_TEST_TIMEOUT=seconds per test (default 60), SW_C_KEEP=1 keeps the
 *              temporary directory of databases (removed otherwise).
 */
#define _GNU_SOURCE
#include "harness.h"

#include <ctype.h>
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests.h"

const char *t_tmpdir;
const char *t_current = "";
int t_small;
const char *t_crash_child;

static pthread_mutex_t fail_lock = PTHREAD_MUTEX_INITIALIZER;

/* The current test's outcome; shared with the parent when tests run in child processes. */
typedef struct {
    bool failed;
    char message[2048];
} outcome;
static outcome local_outcome;
static outcome *result = &local_outcome;

void t_fail(const char *file, int line, const char *fmt, ...) {
    pthread_mutex_lock(&fail_lock);
    if (!result->failed) {
        const char *base = strrchr(file, '/');
        base = base ? base + 1 : file;
        int n = snprintf(result->message, sizeof result->message, "%s:%d: ", base, line);
        if (n < 0) n = 0;
        if ((size_t)n < sizeof result->message) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(result->message + n, sizeof result->message - (size_t)n, fmt, ap);
            va_end(ap);
        }
        result->failed = true;
    }
    pthread_mutex_unlock(&fail_lock);
}

void t_fail_status(const char *file, int line, const char *expr, sw_status got, sw_status want) {
    /* Copy the message before any other library call. */
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", sw_last_error_message());
    int code = sw_last_error_sqlite_code();
    t_fail(file, line, "%s returned %u (%s), expected %u (%s); last error: \"%s\" (sqlite code %d)",
           expr, got, sw_status_str(got), want, sw_status_str(want), msg, code);
}

bool t_failed(void) {
    pthread_mutex_lock(&fail_lock);
    bool f = result->failed;
    pthread_mutex_unlock(&fail_lock);
    return f;
}

/*
 * Per-test leak attribution under valgrind: memcheck's definite-leak count is compared before
 * and after each test, so a leak fails the test that caused it. (Under AddressSanitizer each
 * test's process runs LeakSanitizer at exit; the parent reports its exit status.)
 */
#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define HAVE_MEMCHECK 1
#endif
#endif

static int leak_seen;

/* The bytes definitely leaked so far under valgrind; 0 elsewhere. */
static unsigned long definitely_leaked(void) {
#ifdef HAVE_MEMCHECK
    if (RUNNING_ON_VALGRIND) {
        unsigned long leaked = 0, dubious = 0, reachable = 0, suppressed = 0;
        VALGRIND_DO_QUICK_LEAK_CHECK;
        VALGRIND_COUNT_LEAKS(leaked, dubious, reachable, suppressed);
        (void)dubious;
        (void)reachable;
        (void)suppressed;
        return leaked;
    }
#endif
    return 0;
}

/* After a test: record a leak it caused as its failure. */
static void check_leaks(unsigned long leaked_before) {
    if (leak_seen) return;
    unsigned long leaked = definitely_leaked();
    if (leaked > leaked_before) {
        leak_seen = 1;
        t_fail(__FILE__, __LINE__, "valgrind: %lu bytes definitely leaked during this test (the stack is in "
               "valgrind's report at exit)", leaked - leaked_before);
    }
}

/* ---- writers opened by the current test ---- */

#define MAX_OPEN 64
static const sw_writer *open_writers[MAX_OPEN];
static pthread_mutex_t open_lock = PTHREAD_MUTEX_INITIALIZER;

sw_status t_open(const char *connection_string, const sw_writer **out) {
    const sw_writer *w = NULL;
    sw_status s = sw_writer_open(connection_string, &w);
    if (s == SW_STATUS_OK) {
        pthread_mutex_lock(&open_lock);
        for (int i = 0; i < MAX_OPEN; i++) {
            if (!open_writers[i]) {
                open_writers[i] = w;
                break;
            }
        }
        pthread_mutex_unlock(&open_lock);
        *out = w;
    }
    return s;
}

sw_status t_close(const sw_writer *w) {
    pthread_mutex_lock(&open_lock);
    for (int i = 0; i < MAX_OPEN; i++) {
        if (open_writers[i] == w) {
            open_writers[i] = NULL;
            break;
        }
    }
    pthread_mutex_unlock(&open_lock);
    return sw_writer_close(w);
}

static void close_leftovers(void) {
    for (int i = 0; i < MAX_OPEN; i++) {
        if (open_writers[i]) {
            sw_writer_close(open_writers[i]);
            open_writers[i] = NULL;
        }
    }
}

/* ---- helpers ---- */

void t_db(char *buf, size_t n, const char *name) {
    snprintf(buf, n, "%s/%s-%s.db", t_tmpdir, t_current, name);
}

sw_status t_exec(const sw_writer *w, const char *sql) {
    return sw_writer_execute(w, sql, NULL, 0, NULL);
}

sw_status t_query_int(const sw_writer *w, const char *sql, int64_t *out) {
    const sw_rows *rows = NULL;
    sw_status s = sw_writer_query(w, sql, NULL, 0, &rows);
    if (s != SW_STATUS_OK) return s;
    *out = sw_rows_row_count(rows) ? sw_rows_int64(rows, 0, 0) : INT64_MIN;
    sw_rows_free(rows);
    return SW_STATUS_OK;
}

sw_status t_query_text(const sw_writer *w, const char *sql, char *buf, size_t n) {
    const sw_rows *rows = NULL;
    sw_status s = sw_writer_query(w, sql, NULL, 0, &rows);
    if (s != SW_STATUS_OK) return s;
    const char *t = sw_rows_row_count(rows) ? sw_rows_text(rows, 0, 0, NULL) : NULL;
    snprintf(buf, n, "%s", t ? t : "");
    sw_rows_free(rows);
    return SW_STATUS_OK;
}

bool t_contains_ci(const char *haystack, const char *needle) {
    if (!haystack || !needle) return false;
    size_t hn = strlen(haystack), nn = strlen(needle);
    if (nn == 0) return true;
    for (size_t i = 0; i + nn <= hn; i++) {
        size_t j = 0;
        while (j < nn && tolower((unsigned char)haystack[i + j]) == tolower((unsigned char)needle[j])) j++;
        if (j == nn) return true;
    }
    return false;
}

int64_t t_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void t_sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

sw_param p_int(const char *name, int64_t v) {
    sw_param p;
    memset(&p, 0, sizeof p);
    p.name = name;
    p.value.type = SW_TYPE_INTEGER;
    p.value.integer = v;
    return p;
}

sw_param p_real(const char *name, double v) {
    sw_param p;
    memset(&p, 0, sizeof p);
    p.name = name;
    p.value.type = SW_TYPE_FLOAT;
    p.value.real = v;
    return p;
}

sw_param p_textn(const char *name, const char *s, size_t len) {
    sw_param p;
    memset(&p, 0, sizeof p);
    p.name = name;
    p.value.type = SW_TYPE_TEXT;
    p.value.data = (const uint8_t *)s;
    p.value.len = len;
    return p;
}

sw_param p_text(const char *name, const char *s) { return p_textn(name, s, strlen(s)); }

sw_param p_blob(const char *name, const void *data, size_t len) {
    sw_param p;
    memset(&p, 0, sizeof p);
    p.name = name;
    p.value.type = SW_TYPE_BLOB;
    p.value.data = (const uint8_t *)data;
    p.value.len = len;
    return p;
}

sw_param p_null(const char *name) {
    sw_param p;
    memset(&p, 0, sizeof p);
    p.name = name;
    p.value.type = SW_TYPE_NULL;
    return p;
}

/* ---- runner ---- */

typedef struct {
    const char *name;
    void (*fn)(void);
} test_entry;

#define SW_C_ENTRY(name) {#name, name},
static const test_entry all_tests[] = {SW_C_TESTS(SW_C_ENTRY)};
#undef SW_C_ENTRY

static int passed, failed;

/* --no-fork: a hang ends the whole run, reported as the current test's failure. */
static void on_timeout(int sig) {
    (void)sig;
    char line[512];
    int n = snprintf(line, sizeof line, "FAIL %s: timed out (a hang: blocked threads never returned)\n%d passed, %d failed\n",
                     t_current, passed, failed + 1);
    if (n > 0 && write(1, line, (size_t)n) < 0) _exit(1);
    _exit(1);
}

/* Run one test in this process. */
static void run_here(const test_entry *t, unsigned timeout) {
    result->failed = false;
    result->message[0] = 0;
    unsigned long leaked_before = definitely_leaked();
    alarm(timeout);
    t->fn();
    close_leftovers();
    alarm(0);
    check_leaks(leaked_before);
}

/* Run one test in a child process; fill *result from it and from how it ended. */
static void run_forked(const test_entry *t, unsigned timeout) {
    result->failed = false;
    result->message[0] = 0;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        result->failed = true;
        snprintf(result->message, sizeof result->message, "fork: %s", strerror(errno));
        return;
    }
    if (pid == 0) {
        signal(SIGALRM, SIG_DFL); /* a hang ends the child with SIGALRM */
        run_here(t, timeout);
        fflush(stdout);
        exit(result->failed ? 1 : 0); /* exit(), not _exit(): sanitizers and valgrind check at exit */
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && !result->failed) return;
    if (result->failed) return; /* the test's own message says more than the exit status */
    result->failed = true;
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
        snprintf(result->message, sizeof result->message,
                 "timed out after %u s (a hang: blocked threads never returned)", timeout);
    else if (WIFSIGNALED(status))
        snprintf(result->message, sizeof result->message, "the test process died of signal %d (%s)",
                 WTERMSIG(status), strsignal(WTERMSIG(status)));
    else
        snprintf(result->message, sizeof result->message,
                 "the test passed but its process exited with status %d at exit (sanitizer or valgrind "
                 "report above)",
                 WEXITSTATUS(status));
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *small = getenv("SW_C_SMALL");
    t_small = small && *small && strcmp(small, "0") != 0;
    t_crash_child = getenv("SW_C_CRASH_CHILD");
    const char *to = getenv("SW_C_TEST_TIMEOUT");
    unsigned timeout = to ? (unsigned)atoi(to) : 60;
    if (timeout == 0) timeout = 60;

    int fork_tests = 1;
    const char **only = calloc((size_t)argc, sizeof *only);
    int n_only = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--small") == 0)
            t_small = 1;
        else if (strcmp(argv[i], "--no-fork") == 0)
            fork_tests = 0;
        else if (strcmp(argv[i], "--list") == 0) {
            for (size_t k = 0; k < sizeof all_tests / sizeof all_tests[0]; k++) puts(all_tests[k].name);
            free(only);
            return 0;
        } else
            only[n_only++] = argv[i];
    }

    char dir_template[] = "/tmp/sw-c-tests-XXXXXX";
    const char *tmpdir_base = getenv("TMPDIR");
    char *tmpl = NULL;
    if (tmpdir_base && *tmpdir_base) {
        size_t len = strlen(tmpdir_base) + 32;
        tmpl = malloc(len);
        snprintf(tmpl, len, "%s/sw-c-tests-XXXXXX", tmpdir_base);
    }
    t_tmpdir = mkdtemp(tmpl ? tmpl : dir_template);
    if (!t_tmpdir) {
        perror("mkdtemp");
        return 2;
    }

    signal(SIGPIPE, SIG_IGN);
    if (!fork_tests) signal(SIGALRM, on_timeout);
    if (fork_tests) {
        result = mmap(NULL, sizeof *result, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (result == MAP_FAILED) {
            perror("mmap");
            return 2;
        }
    }

    for (size_t k = 0; k < sizeof all_tests / sizeof all_tests[0]; k++) {
        const test_entry *t = &all_tests[k];
        if (n_only) {
            int want = 0;
            for (int i = 0; i < n_only; i++)
                if (strcmp(only[i], t->name) == 0) want = 1;
            if (!want) continue;
        }
        t_current = t->name;
        if (fork_tests)
            run_forked(t, timeout);
        else
            run_here(t, timeout);
        if (result->failed) {
            failed++;
            printf("FAIL %s: %s\n", t->name, result->message);
        } else {
            passed++;
            printf("ok %s\n", t->name);
        }
    }

    const char *keep = getenv("SW_C_KEEP");
    if (keep && *keep && strcmp(keep, "0") != 0)
        printf("# databases kept in %s\n", t_tmpdir);
    else
        nftw(t_tmpdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(tmpl);
    free(only);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
