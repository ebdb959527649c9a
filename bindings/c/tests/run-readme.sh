#!/usr/bin/env bash
# Runs the commands of a binding's README, as its reader would.
#
#   bash bindings/c/tests/run-readme.sh README.md APPDIR
#
# Every ```sh block runs, in order, in one bash (set -euo pipefail, so exports carry over):
# blocks whose first line starts with "# in the checkout" run in SW_CHECKOUT, the others in
# APPDIR; a block whose first line says "(run by ...)" is skipped here (another test runs it).
# The first ```cmake block is written to APPDIR/CMakeLists.txt before anything runs. Each ```c
# and ```cpp block is compiled (C11 / C++17, -Wall -Wextra -Werror; a C block without main is
# wrapped in one) against PREFIX's shared library and run in APPDIR. Needs PREFIX and SW_CHECKOUT
# in the environment. SW_README_SNIPPETS_ONLY=1 runs the snippets only (for the repository's
# README, whose commands run the whole suite).
# Prints "ok|FAIL README block N (lines A-B)" per block and "readme: N passed, N failed" last.
set -uo pipefail
readme="$1"
app="$2"
: "${PREFIX:?}" "${SW_CHECKOUT:?}"
blocks="$(mktemp -d "${TMPDIR:-/tmp}/sw-readme.XXXXXX")"
trap 'rm -rf "$blocks"' EXIT

python3 - "$readme" "$blocks" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
for i, m in enumerate(re.finditer(r"^```(\w+)\n(.*?)^```$", text, re.S | re.M)):
    start = text.count("\n", 0, m.start()) + 1
    end = text.count("\n", 0, m.end()) + 1
    with open(f"{sys.argv[2]}/{i:02d}-{start}-{end}.{m.group(1)}", "w") as f:
        f.write(m.group(2))
PY

passed=0
failed=0
cmake_done=0
for b in "$blocks"/*.cmake; do
    [ -e "$b" ] && [ "$cmake_done" = 0 ] && cp "$b" "$app/CMakeLists.txt" && cmake_done=1
done

# One bash for every sh block; each reports through the fd 3 log.
script="$blocks/all.bash"
{
    echo 'set -euo pipefail'
    for b in "$blocks"/*.sh; do
        [ -e "$b" ] || continue
        id="$(basename "$b" .sh)"
        first="$(head -n1 "$b")"
        case "$first" in *"(run by "*) echo "echo 'skip $id' >&3"; continue ;; esac
        if [ "${SW_README_SNIPPETS_ONLY:-0}" = 1 ]; then echo "echo 'skip $id' >&3"; continue; fi
        case "$first" in "# in the checkout"*) echo "cd \"\$SW_CHECKOUT\"" ;; *) echo "cd \"$app\"" ;; esac
        echo "echo '== README block $id' >&2"
        cat "$b"
        echo "echo 'done $id' >&3"
    done
} >"$script"
bash -x "$script" 3>"$blocks/log" >"$blocks/out" 2>&1
rc=$?
for b in "$blocks"/*.sh; do
    [ -e "$b" ] || continue
    id="$(basename "$b" .sh)"
    lines="${id#*-}"
    if grep -qx "skip $id" "$blocks/log"; then
        echo "skip README block ${id%%-*} (lines ${lines/-/-})"
    elif grep -qx "done $id" "$blocks/log"; then
        passed=$((passed + 1)); echo "ok   README block ${id%%-*} (lines ${lines/-/-})"
    else
        failed=$((failed + 1)); echo "FAIL README block ${id%%-*} (lines ${lines/-/-})"
        tail -40 "$blocks/out"
        break
    fi
done
[ "$rc" -eq 0 ] || [ "$failed" -gt 0 ] || { failed=$((failed + 1)); tail -40 "$blocks/out"; }

for b in "$blocks"/*.c "$blocks"/*.cpp; do
    [ -e "$b" ] || continue
    ext="${b##*.}"
    id="$(basename "$b" ".$ext")"
    src="$blocks/$id.main.$ext"
    if grep -q 'int main' "$b"; then cp "$b" "$src"; else
        printf '#define _DEFAULT_SOURCE\n#include <singlewriter.h>\n#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n#include <unistd.h>\nint main(void) {\n' >"$src"
        cat "$b" >>"$src"
        printf 'return 0;\n}\n' >>"$src"
    fi
    if [ "$ext" = c ]; then compile=(cc -std=c11); else compile=(g++ -std=c++17); fi
    if out="$("${compile[@]}" -Wall -Wextra -Werror -Wno-unused-variable -I"$PREFIX/include" "$src" -L"$PREFIX/lib" \
        -lsinglewriter -Wl,-rpath,"$PREFIX/lib" -o "$blocks/$id.bin" 2>&1 && (cd "$app" && "$blocks/$id.bin") 2>&1)"; then
        passed=$((passed + 1)); echo "ok   README $ext snippet (lines ${id#*-}) compiles and runs"
    else
        failed=$((failed + 1)); echo "FAIL README $ext snippet (lines ${id#*-})"; printf '%s\n' "$out" | tail -20
    fi
done
echo "readme: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
