#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The whole test suite, as CI runs it: installs what is missing, builds with warnings as
# errors, runs the unit, integration and examples suites, then builds again with AddressSanitizer and
# UndefinedBehaviorSanitizer and runs them again. Ends with one line "N passed, N failed,
# N skipped" over both runs and exits non-zero on any failure.
#   usage: bash tests/run-all.sh [--no-asan] [--slow]
set -uo pipefail
cd "$(dirname "$0")/.."
asan=1
suites=(--suite unit --suite integration --suite examples)
for a in "$@"; do
	case "$a" in
	--no-asan) asan=0 ;;
	--slow) suites+=(--suite slow) ;;
	*) echo "usage: $0 [--no-asan] [--slow]" >&2; exit 2 ;;
	esac
done
bash tests/deps.sh || exit 1
jobs=$(nproc)

total_pass=0 total_fail=0 total_skip=0 rc=0
run() { # name, meson options...
	local dir=build-$1; shift
	echo "=== build $dir ($*)"
	if [ ! -d "$dir" ]; then
		meson setup "$dir" --werror "$@" >"$dir.setup.log" 2>&1 ||
			{ cat "$dir.setup.log"; return 1; }
	fi
	ninja -C "$dir" >"$dir.build.log" 2>&1 || { tail -50 "$dir.build.log"; return 1; }
	echo "=== test $dir"
	meson test -C "$dir" "${suites[@]}" --num-processes "$jobs" --print-errorlogs
	local trc=$?
	# Count from meson's own log: a skipped test (exit 77) is not a pass.
	read -r p f s < <(python3 - "$dir/meson-logs/testlog.json" <<'PY'
import json, sys
p = f = s = 0
for line in open(sys.argv[1]):
    r = json.loads(line)["result"]
    if r == "OK": p += 1
    elif r == "SKIP": s += 1
    else: f += 1
print(p, f, s)
PY
)
	total_pass=$((total_pass + p)) total_fail=$((total_fail + f)) total_skip=$((total_skip + s))
	return $trc
}

run ci || rc=1
if [ $asan = 1 ]; then
	# detect_leaks: LeakSanitizer checks every test process at exit.
	export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
	export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
	run ci-asan -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug || rc=1
fi
echo "${total_pass} passed, ${total_fail} failed, ${total_skip} skipped"
if [ $total_pass -eq 0 ]; then
	echo "no test ran" >&2
	rc=1
fi
exit $rc
