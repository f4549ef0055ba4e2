#!/bin/bash
# SPDX-License-Identifier: MIT
#
# catnip UDP latency over net_memif against its floor and the kernel, in one run
# (docs/benchmarks.md, "catnip UDP").
#
#   catnip-udp.sh BUILD_DIR [--reps K] [--requests N] [--size B]
#
# Variants, interleaved over K repetitions, server on core 1 and client on core 0:
#   catnip  examples/udp-echo --server + examples/udp-pingpong --client, LIBOS=catnip, two
#           processes joined by net_memif (both busy-poll)
#   raw     tests/bench/raw-memif-pingpong: the same memif, DPDK only, no stack (the floor)
#   kernel  examples/linux-echo UDP server + linux-echo --pingpong --proto udp over 127.0.0.1
# Prints p50/p99 medians, catnip - raw (goal: <= 0.6 us) and catnip / kernel.
# Only processes started here are signalled, by PID. Needs DPDK (exit 77 otherwise).

set -u
usage() {
	echo "usage: $0 BUILD_DIR [--reps K] [--requests N] [--size B]" >&2
	exit 2
}
[ $# -ge 1 ] || usage
build=$1
shift
reps=3 requests=100000 size=64
while [ $# -gt 0 ]; do
	[ $# -ge 2 ] || usage
	case $1 in
	--reps) reps=$2 ;;
	--requests) requests=$2 ;;
	--size) size=$2 ;;
	*) usage ;;
	esac
	shift 2
done
bench=bench-catnip-udp
. "$(dirname "$0")/memif-bench.sh"
memif_bench_setup 10.79.0
run_catnip() { run_catnip_pingpong udp-echo udp-pingpong; }
run_raw_frame() { run_raw $((size + 42)); } # Ethernet + IPv4 + UDP
run_kernel_proto() { run_kernel udp; }

for rep in $(seq "$reps"); do
	for v in catnip raw kernel; do
		case $v in
		catnip) line=$(run_catnip) ;;
		raw) line=$(run_raw_frame) ;;
		kernel) line=$(run_kernel_proto) ;;
		esac
		echo "$v $rep $(field p50_us "$line") $(field p99_us "$line")" >>"$results"
	done
done
c50=$(med catnip 3) r50=$(med raw 3) k50=$(med kernel 3)
c99=$(med catnip 4) r99=$(med raw 4) k99=$(med kernel 4)
echo
echo "UDP ping-pong, $size B payload, $requests requests, $reps interleaved repetitions (medians, us)"
printf "%-8s %10s %10s\n" "" p50 p99
printf "%-8s %10s %10s\n" catnip "$c50" "$c99" raw "$r50" "$r99" kernel "$k50" "$k99"
printf "catnip - raw memif: %.2f us (goal <= 0.60); catnip / kernel UDP: %.3f\n" \
	"$(echo "$c50 - $r50" | bc -l)" "$(echo "$c50 / $k50" | bc -l)"
echo "(raw numbers: $results)"
