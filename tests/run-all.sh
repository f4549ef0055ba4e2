#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The whole test suite, as CI runs it: installs what is missing, builds with warnings as
# errors, runs the unit, integration and examples suites; builds again with
# -Dsga_max_segs=4 and runs there only the multiseg suite (the tests whose checks depend on
# multi-segment arrays; only their programs are built); then builds again with
# AddressSanitizer and UndefinedBehaviorSanitizer and runs the first suites again. Ends with
# one line "N passed, N failed, N skipped" over all runs (a build that fails to configure or
# compile counts as one failure, and the line says so) and exits non-zero on any failure.
#   usage: bash tests/run-all.sh [--no-asan]
set -uo pipefail
cd "$(dirname "$0")/.."
asan=1
for a in "$@"; do
	case "$a" in
	--no-asan) asan=0 ;;
	*) echo "usage: $0 [--no-asan]" >&2; exit 2 ;;
	esac
done
bash tests/deps.sh || exit 1
jobs=$(nproc)

total_pass=0 total_fail=0 total_skip=0 rc=0 broken=()
# run NAME TARGET SUITES... -- MESON_OPTIONS...: builds TARGET ("" for everything) in build-NAME
# and runs the suites. A build that does not configure or compile is a failure.
run() {
	local dir=build-$1 target=$2 sel=()
	[ -n "$target" ] && sel+=(--no-rebuild) # only TARGET was built
	shift 2
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		sel+=(--suite "$1")
		shift
	done
	shift
	echo "=== build $dir ($*)"
	if [ ! -d "$dir" ]; then
		if ! meson setup "$dir" --werror "$@" >"$dir.setup.log" 2>&1; then
			cat "$dir.setup.log"
			rm -rf "$dir" # configure again next time
			broken+=("$dir (configure)")
			total_fail=$((total_fail + 1))
			return 1
		fi
	fi
	# shellcheck disable=SC2086 # no target: ninja's default, everything
	if ! ninja -C "$dir" $target >"$dir.build.log" 2>&1; then
		tail -50 "$dir.build.log"
		broken+=("$dir (compile)")
		total_fail=$((total_fail + 1))
		return 1
	fi
	echo "=== test $dir"
	meson test -C "$dir" "${sel[@]}" --num-processes "$jobs" --print-errorlogs
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

run ci "" unit integration examples -- || rc=1
run ci-multiseg multiseg-tests multiseg -- -Dsga_max_segs=4 -Dexamples=false || rc=1
if [ $asan = 1 ]; then
	# detect_leaks: LeakSanitizer checks every test process at exit.
	export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
	export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
	run ci-asan "" unit integration examples -- -Db_sanitize=address,undefined \
		-Db_lundef=false -Dbuildtype=debug || rc=1
fi
line="${total_pass} passed, ${total_fail} failed, ${total_skip} skipped"
[ ${#broken[@]} -gt 0 ] && line+=" (failed builds, counted as one failure each: ${broken[*]})"
echo "$line"
if [ $total_pass -eq 0 ]; then
	echo "no test ran" >&2
	rc=1
fi
exit $rc
