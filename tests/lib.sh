# shellcheck shell=bash
# Sourced (never run) by the test scripts: bindings/*/test*.sh, tests/*/run.sh,
# tests/rust-package.sh and fuzz/run.sh. It owns two things they all do:
#
# Installing missing tools from Debian packages, with apt-get (through sudo when not root),
# noninteractive and quiet, `apt-get update` at most once per script run:
#   sw_need CHECK PACKAGE...   queue PACKAGEs when CHECK is missing: a command name, or an
#                              absolute path (a header, a library) that must exist
#   sw_install_needed          install what sw_need queued (nothing when nothing is missing)
#   sw_apt_install PACKAGE...  install now (for checks sw_need cannot express)
# An install that fails is reported on stderr but never stops the script: the caller checks
# afterwards for what it cannot do without.
#
# Counting passes and failures, ending with the line tests/run-all.sh's run_part parses:
#   sw_pass NAME / sw_fail NAME   count one, print "ok   NAME" / "FAIL NAME"
#   sw_check NAME COMMAND...      run COMMAND and count it; its output is shown only when it
#                                 fails (the last $SW_CHECK_TAIL lines, default 30)
#   sw_check_live NAME COMMAND... the same with COMMAND's output shown as it runs
#   sw_add_counts P F             add a sub-run's counts (a test program's own summary)
#   sw_summary LABEL              print "LABEL: N passed, N failed"; false when anything failed
#                                 or nothing passed
#   sw_finish LABEL               sw_summary, then exit 0, or 1 when it was false
#   sw_abort LABEL MESSAGE        print "LABEL: MESSAGE" on stderr, count one failure, finish
# Works under set -u and set -e.

sw_passed=0
sw_failed=0
sw_needed=()
sw_apt_updated=0

sw_need() { # CHECK PACKAGE...
    local check=$1
    shift
    if [[ $check == /* ]]; then
        if [ -e "$check" ]; then return 0; fi
    elif command -v "$check" >/dev/null 2>&1; then
        return 0
    fi
    sw_needed+=("$@")
}

sw_install_needed() {
    if [ ${#sw_needed[@]} -eq 0 ]; then return 0; fi
    sw_apt_install "${sw_needed[@]}"
    sw_needed=()
}

sw_apt_install() { # PACKAGE...
    local sudo="" log
    if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1; then sudo=sudo; fi
    echo "$0: installing $*" >&2
    if [ "$sw_apt_updated" = 0 ]; then
        sw_apt_updated=1
        log=$($sudo apt-get update -qq 2>&1) || { echo "$0: apt-get update failed:" >&2; tail -n 5 <<<"$log" >&2; }
    fi
    log=$($sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" 2>&1) ||
        { echo "$0: could not install $*:" >&2; tail -n 5 <<<"$log" >&2; }
    return 0
}

sw_pass() { # NAME
    sw_passed=$((sw_passed + 1))
    echo "ok   $1"
}

sw_fail() { # NAME
    sw_failed=$((sw_failed + 1))
    echo "FAIL $1"
}

sw_check() { # NAME COMMAND...
    local _sw_name=$1 _sw_out
    shift
    if _sw_out=$("$@" 2>&1); then
        sw_pass "$_sw_name"
    else
        sw_fail "$_sw_name"
        printf '%s\n' "$_sw_out" | tail -n "${SW_CHECK_TAIL:-30}"
    fi
}

sw_check_live() { # NAME COMMAND...
    local _sw_name=$1
    shift
    if "$@"; then sw_pass "$_sw_name"; else sw_fail "$_sw_name"; fi
}

sw_add_counts() { # PASSED FAILED
    sw_passed=$((sw_passed + $1))
    sw_failed=$((sw_failed + $2))
}

sw_summary() { # LABEL
    echo "$1: $sw_passed passed, $sw_failed failed"
    [ "$sw_failed" -eq 0 ] && [ "$sw_passed" -gt 0 ]
}

sw_finish() { # LABEL
    if sw_summary "$1"; then exit 0; fi
    exit 1
}

sw_abort() { # LABEL MESSAGE
    echo "$1: $2" >&2
    sw_add_counts 0 1
    sw_finish "$1"
}
