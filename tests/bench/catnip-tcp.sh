#!/bin/bash
# SPDX-License-Identifier: MIT
#
# catnip TCP over net_memif against its floor and the kernel, in one run
# (docs/benchmarks.md, "catnip TCP").
#
#   catnip-tcp.sh BUILD_DIR [--reps K] [--requests N] [--size B] [--bulk-mib M]
#
# Latency, interleaved over K repetitions (default 5), server on core 1 and client on core 0:
#   catnip  examples/tcp-pingpong --server + --client, LIBOS=catnip, two processes joined by
#           net_memif (both busy-poll)
#   raw     tests/bench/raw-memif-pingpong: the same memif, DPDK only, no stack (the floor)
#   kernel  examples/linux-echo TCP server + linux-echo --pingpong over 127.0.0.1
# Throughput (single flow, 1 MiB pushes), also interleaved:
#   catnip     examples/tcp-push-pop --client --size 1048576 -> --server, LIBOS=catnip, memif
#              with the default configuration (MTU 1500)
#   catnip-9k  the same with jumbo frames: dpdk.mtu 9000 on both ends (memif bsize=9216 and
#              rsize=9, a 512-slot ring whose buffers stay in cache; dpdk.rx_buf_bytes
#              16384), all other settings default
#   kernel     iperf3 -c 127.0.0.1 -l 1M, one flow (the kernel's loopback TCP, whose MTU is
#              65536)
# Prints every pair (catnip, floor), medians, the median of the per-pair differences catnip -
# raw RTT with their spread (goal, issue 14: <= 0.4 us) and catnip / kernel throughput
# (goal: >= 1) for both MTUs; --bulk-mib 0 measures latency only. Only processes started here are signalled, by PID. Needs DPDK
# (exit 77).

set -u
usage() {
	echo "usage: $0 BUILD_DIR [--reps K] [--requests N] [--size B] [--bulk-mib M]" >&2
	exit 2
}
[ $# -ge 1 ] || usage
build=$1
shift
reps=5 requests=100000 size=64 bulk_mib=4096
while [ $# -gt 0 ]; do
	[ $# -ge 2 ] || usage
	case $1 in
	--reps) reps=$2 ;;
	--requests) requests=$2 ;;
	--size) size=$2 ;;
	--bulk-mib) bulk_mib=$2 ;;
	*) usage ;;
	esac
	shift 2
done
bench=bench-catnip-tcp
. "$(dirname "$0")/memif-bench.sh"
memif_bench_setup 10.80.0
memif_bench_conf -9k ",bsize=9216,rsize=9" 512 "  mtu: 9000\n  rx_buf_bytes: 16384"
run_catnip() { run_catnip_pingpong tcp-pingpong tcp-pingpong; }
run_raw_frame() { run_raw $((size + 66)); } # Ethernet + IPv4 + TCP with timestamps
run_kernel_proto() { run_kernel tcp; }

bulk_catnip() { # [CONFIG_SUFFIX]
	local msgs=$bulk_mib conf=${1:-}
	rm -f "$dir/catnip.sock"
	CONFIG_PATH=$dir/server$conf.yaml "$ex/tcp-push-pop" --server $subnet.1:9 --count 1 \
		>"$out/bulk-server.log" 2>&1 &
	pid=$!
	wait_socket "$dir/catnip.sock"
	CONFIG_PATH=$dir/client$conf.yaml timeout 300 "$ex/tcp-push-pop" --client $subnet.1:9 \
		--size 1048576 --requests "$msgs" --window 8 >"$out/bulk-client.log" 2>&1
	local rc=$?
	wait $pid
	pid=
	[ $rc = 0 ] || { echo "$0: catnip bulk client failed" >&2; cat "$out/bulk-client.log" >&2; exit 1; }
	# The receiver's count: a push completes when queued, so the sender's rate runs ahead.
	grep '^RESULT' "$out/bulk-server.log"
}
bulk_kernel() {
	local port=$((30000 + ($$ + 7) % 20000))
	command -v iperf3 >/dev/null || { echo "RESULT gbit_s=nan"; return; }
	taskset -c 1 iperf3 -s -1 -p $port >"$out/iperf-server.log" 2>&1 &
	pid=$!
	sleep 0.3
	taskset -c 0 iperf3 -c 127.0.0.1 -p $port -l 1M -n $((bulk_mib))M -J >"$out/iperf-client.json" 2>&1
	wait $pid
	pid=
	python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print('RESULT gbit_s=%.3f' % (j['end']['sum_received']['bits_per_second']/1e9))" "$out/iperf-client.json"
}

for rep in $(seq "$reps"); do
	pingpong_rep "$rep"
	[ "$bulk_mib" -gt 0 ] || continue
	for v in catnip catnip-9k kernel; do
		case $v in
		catnip-9k) line=$(bulk_catnip -9k) ;;
		*) line=$(bulk_$v) ;;
		esac
		echo "bulk-$v $rep $(field gbit_s "$line")" >>"$results"
	done
done
pingpong_report TCP 0.40
plot_cdf TCP "$reps"
if [ "$bulk_mib" = 0 ]; then
	echo "(raw numbers: $results)"
	exit 0
fi
b_c=$(med bulk-catnip 3) b_j=$(med bulk-catnip-9k 3) b_k=$(med bulk-kernel 3)
echo "Single-flow bulk, 1 MiB pushes, $bulk_mib MiB (medians, Gbit/s): catnip MTU 1500 $b_c," \
	"catnip MTU 9000 $b_j, kernel loopback (MTU 65536) $b_k"
printf "catnip / kernel throughput: %.3f at MTU 9000 (goal >= 1), %.3f at MTU 1500\n" \
	"$(echo "$b_j / $b_k" | bc -l)" "$(echo "$b_c / $b_k" | bc -l)"
if bench_have_gnuplot; then
	gnuplot <<EOG
set terminal pngcairo size 700,440 font ",11"
set output "$out/throughput.png"
set title "One TCP flow, 1 MiB pushes, $bulk_mib MiB (median of $reps)"
set ylabel "Gbit/s"
set style fill solid 0.8
set boxwidth 0.6
set yrange [0:*]
set offsets 0, 0, graph 0.12, 0
set grid ytics
plot "-" using 0:2:xtic(1) with boxes notitle, "" using 0:2:(sprintf("%.1f", \$2)) with labels offset 0,1 notitle
"catnip MTU 1500" $b_c
"catnip MTU 9000" $b_j
"kernel loopback" $b_k
e
"catnip MTU 1500" $b_c
"catnip MTU 9000" $b_j
"kernel loopback" $b_k
e
EOG
	echo "(throughput: $out/throughput.png)"
fi
echo "(raw numbers: $results)"
