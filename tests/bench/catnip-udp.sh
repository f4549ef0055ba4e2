#!/bin/bash
# SPDX-License-Identifier: MIT
#
# catnip UDP latency over net_memif against its floor and the kernel, in one run
# (docs/benchmarks.md, "catnip UDP").
#
#   catnip-udp.sh BUILD_DIR [--reps K] [--requests N] [--size B] [--split]
#
# Variants, interleaved over K repetitions (default 5), server on core 1 and client on core 0:
#   catnip  examples/udp-echo --server + examples/udp-pingpong --client, LIBOS=catnip, two
#           processes joined by net_memif (both busy-poll)
#   raw     tests/bench/raw-memif-pingpong: the same memif, DPDK only, no stack (the floor)
#   kernel  examples/linux-echo UDP server + linux-echo --pingpong --proto udp over 127.0.0.1
# Prints every pair (catnip, floor), p50/p99 medians, the median of the per-pair differences
# catnip - raw with their spread (goal, issue 14: <= 0.25 us) and catnip / kernel.
#
# --split: where catnip's excess over the floor is, server or client. Each repetition runs
# four UDP ping-pongs over the same memif, in an order that rotates with the repetition:
#   floor   raw-memif-pingpong --udp-client -> raw-memif-pingpong --udp-server (DPDK only:
#           well-formed Ethernet/IPv4/UDP datagrams answered by swapping addresses and ports)
#   server  raw --udp-client -> catnip (udp-echo --server)
#   client  catnip (udp-pingpong --client) -> raw --udp-server
#   catnip  catnip -> catnip (as above)
# and prints them; then the medians over the repetitions of server - floor (the server's
# excess), client - floor (the client's) and catnip - floor, with their ranges, and the
# median of server + client excess - catnip excess (near 0 when the two ends' costs add up).
# Only processes started here are signalled, by PID. Needs DPDK (exit 77 otherwise).
set -u
usage() {
	echo "usage: $0 BUILD_DIR [--reps K] [--requests N] [--size B] [--split]" >&2
	exit 2
}
[ $# -ge 1 ] || usage
build=$1
shift
reps=5 requests=100000 size=64 split=
while [ $# -gt 0 ]; do
	if [ "$1" = --split ]; then
		split=1
		shift
		continue
	fi
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

# One ping-pong of the split: split_run SERVER CLIENT, each raw or catnip; prints the RESULT
# line of the client. Both ends use the catnip ends' core, role, address and MAC.
split_run() {
	local rc sock=$dir/catnip.sock
	rm -f "$sock"
	if [ "$1" = catnip ]; then
		CONFIG_PATH=$dir/server.yaml "$ex/udp-echo" --server $subnet.1:7 \
			>"$out/split-server.log" 2>&1 &
		pid=$!
		wait_socket "$sock"
	else
		raw_server "$sock" "$out/split-server.log" ",mac=02:00:00:00:00:01" \
			--udp-server --ip $subnet.1
	fi
	# run_client (memif-bench.sh) stops a client whose server died.
	if [ "$2" = catnip ]; then
		CONFIG_PATH=$dir/client.yaml run_client "$out/split-client.log" "$ex/udp-pingpong" \
			--client $subnet.1:7 --size "$size" --requests "$requests" --warmup 2000
	else
		raw_client "$sock" "$out/split-client.log" ",mac=02:00:00:00:00:02" --udp-client \
			--ip $subnet.2 --to $subnet.1:7 --requests "$requests" --warmup 2000 --size "$size"
	fi
	rc=$?
	stop_server
	[ $rc = 0 ] || { echo "$0: $2 client to $1 server failed" >&2; cat "$out/split-client.log" >&2; return 1; }
	grep '^RESULT' "$out/split-client.log"
}

# One repetition of the split, appended to $results and printed: split_rep REP.
split_rep() {
	local variants=(floor server client catnip) i v
	for i in 0 1 2 3; do
		v=${variants[$((($1 - 1 + i) % 4))]}
		case $v in
		floor) record_variant "$1" $v split_run raw raw ;;
		server) record_variant "$1" $v split_run catnip raw ;;
		client) record_variant "$1" $v split_run raw catnip ;;
		catnip) record_variant "$1" $v split_run catnip catnip ;;
		esac
	done
	awk -v r="$1" '$2==r {p[$1]=$3} END {printf "repetition %d: floor %.3f server %.3f" \
		" client %.3f catnip %.3f us p50; excess: server %+.3f client %+.3f catnip %+.3f\n",
		r, p["floor"], p["server"], p["client"], p["catnip"], p["server"]-p["floor"],
		p["client"]-p["floor"], p["catnip"]-p["floor"]}' "$results"
}

# The medians over the repetitions of each excess, with their ranges.
split_report() {
	local name d
	echo
	echo "UDP split, $size B payload, $requests requests, $reps repetitions (p50, us)"
	for name in floor server client catnip; do
		printf "%-8s p50 median %.3f, p99 median %.3f\n" $name "$(med $name 3)" "$(med $name 4)"
	done
	for name in server client catnip sum; do
		d=$(awk -v n=$name '{p[$2, $1] = $3; rep[$2] = 1} END {for (r in rep) {
			if (!((r, "floor") in p)) continue
			if (n != "sum" && (r, n) in p) print p[r, n] - p[r, "floor"]
			if (n == "sum" && (r, "server") in p && (r, "client") in p &&
			    (r, "catnip") in p)
				print p[r, "server"] + p[r, "client"] - p[r, "floor"] - p[r, "catnip"]
			}}' "$results" | sort -g)
		[ -n "$d" ] || continue
		printf "%-48s %+.3f [%+.3f .. %+.3f]\n" "$(case $name in
			server) echo "server excess (raw client: catnip - raw server)" ;;
			client) echo "client excess (raw server: catnip - raw client)" ;;
			catnip) echo "catnip - floor (both ends catnip)" ;;
			sum) echo "server + client excess - catnip excess" ;;
			esac)" "$(median <<<"$d")" "$(head -1 <<<"$d")" "$(tail -1 <<<"$d")"
	done
}

if [ -n "$split" ]; then
	for rep in $(seq "$reps"); do
		split_rep "$rep"
	done
	split_report
	echo "(raw numbers: $results)"
	# A variant that failed all its tries is left out of the medians above: say so, and fail.
	missing=$((reps * 4 - $(wc -l <"$results")))
	[ "$missing" = 0 ] || { echo "$0: $missing of $((reps * 4)) runs failed" >&2; exit 1; }
	exit 0
fi

for rep in $(seq "$reps"); do
	pingpong_rep "$rep"
done
pingpong_report UDP 0.25
plot_cdf UDP "$reps"
echo "(raw numbers: $results)"
