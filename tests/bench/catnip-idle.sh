#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Adaptive waiting against busy polling (docs/benchmarks.md, "Idle cost"), in one run:
#
#   catnip-idle.sh BUILD_DIR [--reps K] [--requests N]
#
#   rtt    64 B TCP ping-pong (examples/tcp-pingpong, LIBOS=catnip) over net_memif, server on
#          core 1 and client on core 0, busy-poll (demikernel.busy_poll) and default
#          (adaptive: spin for demikernel.spin_us, then sleep) alternating over K repetitions
#          of N round trips; prints each pair and the median of the per-pair ratios
#          default / busy-poll (goal <= 1.1);
#   idle   tests/dpdk/catnip-idle.sh once per repetition: the idle CPU of each libOS's server
#          and client (percent of a core over 2 s) and the first reply after 1 s of silence
#          (catnip on net_tap with a catnap client, catnip on both ends of net_memif, catnap
#          on both ends; goal <= 50 us); medians over the repetitions;
#   floor  the same first reply with no libdemikernel at all: examples/linux-echo (blocking)
#          over 127.0.0.1 and a Python client that sleeps 1 s before each request: what a
#          wake-up after a silence costs on this machine.
# Needs DPDK and root (exit 77 otherwise). Only processes started here are signalled, by PID.

set -u
usage() {
	echo "usage: $0 BUILD_DIR [--reps K] [--requests N]" >&2
	exit 2
}
[ $# -ge 1 ] || usage
build=$1
shift
reps=5 requests=20000 size=64
while [ $# -gt 0 ]; do
	[ $# -ge 2 ] || usage
	case $1 in
	--reps) reps=$2 ;;
	--requests) requests=$2 ;;
	*) usage ;;
	esac
	shift 2
done
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
bench=bench-catnip-idle
. "$(dirname "$0")/memif-bench.sh"
memif_bench_setup 10.90.0
test_script=$(dirname "$0")/../dpdk/catnip-idle.sh

for rep in $(seq "$reps"); do
	# Alternate which mode runs first, so that neither always gets the warmer machine.
	modes="busy default"
	[ $((rep % 2)) = 0 ] && modes="default busy"
	for mode in $modes; do
		if [ $mode = busy ]; then
			line=$(run_catnip_pingpong tcp-pingpong tcp-pingpong)
		else
			line=$(DEMIKERNEL_BUSY_POLL=false run_catnip_pingpong tcp-pingpong tcp-pingpong)
		fi
		echo "rtt-$mode $rep $(field p50_us "$line") $(field p99_us "$line")" >>"$results"
	done
	printf "rep %d: busy-poll p50 %s us, default p50 %s us\n" "$rep" \
		"$(awk -v r="$rep" '$1=="rtt-busy" && $2==r {print $3}' "$results")" \
		"$(awk -v r="$rep" '$1=="rtt-default" && $2==r {print $3}' "$results")"
	bash "$test_script" "$build" >"$out/idle-$rep.log" 2>&1
	# "idle CPU: WHAT pid P (NAME): X % of a core" and "WHAT: first reply ...: X us"
	sed -n 's/^idle CPU: \([a-z]*\) pid [0-9]* (\([a-z_-][a-z_-]*\)): \([0-9.]*\) %.*/cpu-\1-\2 '"$rep"' \3/p' \
		"$out/idle-$rep.log" >>"$results"
	sed -n 's/^\([a-z]*\): first reply after [0-9]* ms of silence: \([0-9.]*\) us/first-\1 '"$rep"' \2/p' \
		"$out/idle-$rep.log" >>"$results"
	grep -E "^(PASS|FAIL)" "$out/idle-$rep.log" | sed "s/^/rep $rep: idle test: /"
	port=$((30000 + ($$ + rep) % 20000))
	"$ex/linux-echo" --server 127.0.0.1:$port --mode blocking >/dev/null 2>&1 &
	pid=$!
	sleep 0.3
	python3 - "$port" <<'EOP' | sed "s/^/first-kernel $rep /" >>"$results"
import socket, sys, time
for _ in range(50):
    try:
        s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
        break
    except ConnectionRefusedError:
        time.sleep(0.1)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
def rtt():
    t0 = time.perf_counter()
    s.sendall(b"x" * 64)
    n = 0
    while n < 64:
        n += len(s.recv(64 - n))
    return (time.perf_counter() - t0) * 1e6
for _ in range(100):
    rtt()
for _ in range(3):
    time.sleep(1.0)
    print("%.1f" % rtt())
EOP
	kill -INT $pid
	wait $pid 2>/dev/null
	pid=
done

echo
echo "TCP ping-pong, $size B, $requests round trips, $reps interleaved pairs (us):"
printf "%-4s %10s %10s %10s %10s %8s\n" rep "busy p50" "dflt p50" "busy p99" "dflt p99" ratio
for rep in $(seq "$reps"); do
	b=$(awk -v r="$rep" '$1=="rtt-busy" && $2==r {print $3, $4}' "$results")
	d=$(awk -v r="$rep" '$1=="rtt-default" && $2==r {print $3, $4}' "$results")
	# shellcheck disable=SC2086
	set -- $b $d
	printf "%-4s %10s %10s %10s %10s %8.3f\n" "$rep" "$1" "$3" "$2" "$4" \
		"$(echo "$3 / $1" | bc -l)"
	echo "ratio $rep $(echo "$3 / $1" | bc -l)" >>"$results"
done
printf "median of per-pair ratios default / busy-poll (p50): %.3f (goal <= 1.1); medians: " \
	"$(med ratio 3)"
echo "busy-poll $(med rtt-busy 3) us, default $(med rtt-default 3) us"
echo
# summary PREFIX FORMAT: median [min..max] of each variant whose name starts with PREFIX
summary() {
	local k vals
	for k in $(awk -v p="$1" 'index($1, p) == 1 {print $1}' "$results" | sort -u); do
		vals=$(awk -v v="$k" '$1==v {print $3}' "$results" | sort -g)
		printf "  %-24s $2  [%s..%s]\n" "${k#"$1"}" "$(med "$k" 3)" "$(head -1 <<<"$vals")" \
			"$(tail -1 <<<"$vals")"
	done
}
echo "Idle CPU, % of a core over 2 s (median over $reps runs, [min..max]):"
summary cpu- "%5s"
echo "First reply after 1 s of silence, us (median of all silences, [min..max]; goal <= 50):"
summary first- "%8s"
echo "(raw numbers: $results; the idle test's output: $out/idle-*.log)"
