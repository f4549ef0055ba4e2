#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Long fuzzing runs (not CI): every fuzz target under libFuzzer (clang, with AddressSanitizer and
# UndefinedBehaviorSanitizer) for a fixed time each, one after the other, starting from the
# corpus kept in tests/fuzz/corpus/<target>/ (created from the driver's valid frames when
# absent). Prints, per target: executions, executions per second, coverage (libFuzzer's cov: and
# ft: counters), corpus size and crashes; exits 1 if any target crashed, leaked or timed out
# (its reproducer is in the build's fuzz-out/<target>/). With --merge, what the run found is
# merged back into tests/fuzz/corpus/ (minimised with -merge=1) for the next run to start from.
#
#   usage: tests/fuzz/run-libfuzzer.sh [--seconds S] [--merge] [TARGET...]
#          (default: 600 s each, every target: checksum eth arp ip4 icmp4 udp tcp tcp-conn
#          ip4-reass)
# Replay a crash with the CI driver: build/tests/fuzz/fuzz-<target> CRASHFILE.
set -u
cd "$(dirname "$0")/../.."
secs=600 merge=0 targets=()
while [ $# -gt 0 ]; do
	case "$1" in
	--seconds) secs=$2; shift ;;
	--merge) merge=1 ;;
	-h | --help) sed -n '3,16p' "$0"; exit 0 ;;
	*) targets+=("$1") ;;
	esac
	shift
done
[ ${#targets[@]} -gt 0 ] || targets=(checksum eth arp ip4 icmp4 udp tcp tcp-conn ip4-reass)
command -v clang >/dev/null || { echo "clang is needed (apt-get install clang libclang-rt-14-dev)"; exit 1; }
bdir=build-fuzz
if [ ! -d $bdir ]; then
	CC=clang meson setup $bdir -Dexamples=false >/dev/null || { echo "meson setup failed"; exit 1; }
fi
ninja -C $bdir $(printf 'tests/fuzz/libfuzzer-%s ' "${targets[@]}") tests/fuzz/fuzz-eth >/dev/null ||
	{ echo "build failed: ninja -C $bdir"; exit 1; }
rc=0
printf '%-10s %12s %10s %8s %8s %8s %8s\n' target executions exec/s cov ft corpus crashes
for t in "${targets[@]}"; do
	seed=tests/fuzz/corpus/$t out=$bdir/fuzz-out/$t work=$bdir/fuzz-corpus/$t
	mkdir -p "$seed" "$out" "$work"
	[ -n "$(ls -A "$seed")" ] || $bdir/tests/fuzz/fuzz-eth --write-seeds "$seed"
	log=$out/run.log
	"$bdir/tests/fuzz/libfuzzer-$t" "$work" "$seed" -max_total_time="$secs" -max_len=2048 \
		-timeout=10 -rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix="$out/" \
		>"$log" 2>&1
	frc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
	last=$(grep -E '^#[0-9]+' "$log" | tail -1)
	cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
	ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
	ncorp=$(ls "$work" | wc -l)
	crashes=$(ls "$out" | grep -c -E '^(crash|leak|timeout|oom)-')
	printf '%-10s %12s %10s %8s %8s %8s %8s\n' "$t" "${execs:-?}" "${speed:-?}" "${cov:-?}" \
		"${ft:-?}" "$ncorp" "$crashes"
	if [ "$frc" != 0 ] || [ "$crashes" != 0 ]; then
		echo "  $t: libFuzzer exited $frc; see $log and $out/"
		rc=1
	fi
	if [ $merge = 1 ]; then
		mkdir -p "$out/merged"
		"$bdir/tests/fuzz/libfuzzer-$t" -merge=1 "$out/merged" "$seed" "$work" \
			-max_len=2048 >/dev/null 2>&1 && rm -f "$seed"/* && cp "$out/merged"/* "$seed"/
		rm -rf "$out/merged"
	fi
done
exit $rc
