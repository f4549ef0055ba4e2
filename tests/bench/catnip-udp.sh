#!/bin/bash
# SPDX-License-Identifier: MIT
#
# catnip UDP latency over net_memif against its floor and the kernel, in one run
# (docs/benchmarks.md, "catnip UDP").
#
#   catnip-udp.sh BUILD_DIR [--reps K] [--requests N] [--size B]
#
# Variants, interleaved over K repetitions (default 5), server on core 1 and client on core 0:
#   catnip  examples/udp-echo --server + examples/udp-pingpong --client, LIBOS=catnip, two
#           processes joined by net_memif (both busy-poll)
#   raw     tests/bench/raw-memif-pingpong: the same memif, DPDK only, no stack (the floor)
#   kernel  examples/linux-echo UDP server + linux-echo --pingpong --proto udp over 127.0.0.1
# Prints every pair (catnip, floor), p50/p99 medians, the median of the per-pair differences
# catnip - raw with their spread (goal, issue 14: <= 0.25 us) and catnip / kernel.
# Only processes started here are signalled, by PID. Needs DPDK (exit 77 otherwise).

set -u
usage() {
	echo "usage: $0 BUILD_DIR [--reps K] [--requests N] [--size B]" >&2
	exit 2
}
[ $# -ge 1 ] || usage
build=$1
shift
reps=5 requests=100000 size=64
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
	pingpong_rep "$rep"
done
pingpong_report UDP 0.25
plot_cdf UDP "$reps"
echo "(raw numbers: $results)"
