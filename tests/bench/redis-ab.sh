#!/bin/bash
# SPDX-License-Identifier: MIT
#
# An A/B comparison of two redis-server builds of the port (e.g. before and after a change of
# examples/redis/), the way a shared machine allows: tests/bench/redis.sh runs alternating
# between the two binaries (A B B A A B ...: neither always goes first), each run one
# repetition of the variants given (default: catnip's echo and the port on catnip), and the
# comparison made per pair of neighbouring runs, then the median over the pairs.
#   usage: redis-ab.sh BUILD_DIR BIN_A BIN_B [--pairs N] [redis.sh options...]
# BUILD_DIR is the build redis.sh runs from (its kv-load, tcp-echo, libdemikernel); BIN_A and
# BIN_B are redis-server binaries linked against that build's library (copies of
# BUILD_DIR/examples/redis/redis-server made before and after the change). Each run puts its
# binary in BUILD_DIR/examples/redis/redis-server (the one there first is restored at the end).
# Prints, per run, requests/s and p50 of every row of redis.sh's table, then per metric the
# median of B/A over the pairs: catnip GET and SET requests/s at 1 and 32 connections, and the
# catnip GET c=1 p50 minus the echo's p50 of the same run (the issue's latency goal).
# Raw results: BUILD_DIR/bench-redis-ab/{A,B}-RUN/ (redis.sh's files of each run).
set -u
build=${1:?usage: redis-ab.sh BUILD_DIR BIN_A BIN_B [--pairs N] [redis.sh options...]}
bin_a=${2:?} bin_b=${3:?}
shift 3
pairs=4 opts=()
while [ $# -gt 0 ]; do
	case $1 in
	--pairs) pairs=$2; shift 2 ;;
	*) opts+=("$1"); shift ;;
	esac
done
[[ " ${opts[*]} " == *" --only "* ]] || opts+=(--only echo,catnip)
[[ " ${opts[*]} " == *" --reps "* ]] || opts+=(--reps 1)
here=$(cd "$(dirname "$0")" && pwd)
target=$build/examples/redis/redis-server
out=$build/bench-redis-ab
saved=$(mktemp /tmp/redis-ab-XXXXXX)
cp "$target" "$saved"
trap 'cp "$saved" "$target"; rm -f "$saved"' EXIT
rm -rf "$out"
mkdir -p "$out"

# A B B A A B B A ...: run k of a pair takes A first in even pairs, B first in odd ones.
run=0
for p in $(seq 0 $((pairs - 1))); do
	order="A B"
	[ $((p % 2)) = 1 ] && order="B A"
	for which in $order; do
		bin=$bin_a
		[ $which = B ] && bin=$bin_b
		cp "$bin" "$target.tmp" && mv "$target.tmp" "$target"
		bash "$here/redis.sh" "$build" "${opts[@]}" >"$out/$which-$p.txt" 2>&1 ||
			echo "run $which-$p failed (its output: $out/$which-$p.txt)" >&2
		cp -r "$build/bench-redis" "$out/$which-$p"
		run=$((run + 1))
		echo "== $which pair $p (load $(cut -d' ' -f1-3 /proc/loadavg))"
		grep -E '^(catnip|echo|stock|catnap|uring) ' "$out/$which-$p.txt"
	done
done

# value WHICH PAIR VARIANT RATIO CONNS FIELD: one number of one run's raw results.
value() {
	grep "^$4 $5 " "$out/$1-$2/$3" 2>/dev/null | head -1 | grep -o "$6=[0-9.]*" | cut -d= -f2
}
# metric WHICH PAIR NAME: the compared quantities of one run.
metric() {
	case $3 in
	get1 | get32 | set1 | set32)
		local ratio=0:1 c=${3#???}
		[ "${3:0:3}" = set ] && ratio=1:0
		value "$1" "$2" catnip $ratio "$c" rps
		;;
	gap)
		local a b
		a=$(value "$1" "$2" catnip 0:1 1 p50_us) b=$(value "$1" "$2" echo 0:1 1 p50_us)
		[ -n "$a" ] && [ -n "$b" ] && awk "BEGIN{printf \"%.2f\", $a - $b}"
		;;
	esac
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR ? a[int((NR + 1) / 2)] : "nan")}'; }
echo
printf '%-34s %-40s %-40s %s\n' metric "A per pair" "B per pair" "median B/A (gap: B-A)"
for m in get1 get32 set1 set32 gap; do
	as=() bs=() rel=()
	for p in $(seq 0 $((pairs - 1))); do
		a=$(metric A "$p" $m) b=$(metric B "$p" $m)
		as+=("${a:--}") bs+=("${b:--}")
		[ -n "$a" ] && [ -n "$b" ] || continue
		if [ $m = gap ]; then
			rel+=("$(awk "BEGIN{printf \"%.2f\", $b - $a}")")
		else
			rel+=("$(awk "BEGIN{printf \"%.3f\", $b / ($a + 0.001)}")")
		fi
	done
	name=$m
	case $m in
	get1) name="catnip GET c=1 requests/s" ;;
	get32) name="catnip GET c=32 requests/s" ;;
	set1) name="catnip SET c=1 requests/s" ;;
	set32) name="catnip SET c=32 requests/s" ;;
	gap) name="catnip GET c=1 p50 - echo p50 (us)" ;;
	esac
	printf '%-34s %-40s %-40s %s (%s)\n' "$name" "${as[*]}" "${bs[*]}" \
		"$(printf '%s\n' "${rel[@]}" | median)" "${rel[*]}"
done
