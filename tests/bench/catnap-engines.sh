#!/bin/bash
# SPDX-License-Identifier: MIT
#
# catnap's engines against each other and against plain Linux sockets, in one run
# (docs/benchmarks.md, "catnap engines").
#
#   catnap-engines.sh BUILD_DIR [--reps K] [--rtt-requests N] [--tput-requests N]
#                               [--conns "1 64 256"]
#
# Variants (server on core 1, client on core 0, 127.0.0.1):
#   epoll     tcp-echo server and client, CATNAP_ENGINE=epoll
#   io_uring  tcp-echo server and client, CATNAP_ENGINE=io_uring
#   linux     linux-echo --mode epoll server; RTT client linux-echo --pingpong --mode epoll,
#             throughput client tcp-echo on catnap epoll (the same client as the epoll row,
#             so that row and this one differ only by the server)
# Measures, interleaved over K repetitions (A B C A B C ...):
#   - 64 B ping-pong RTT on one connection (tcp-pingpong / linux-echo --pingpong): p50, p99;
#   - echo throughput (requests/s) with 1, 64 and 256 connections driven by one client thread,
#     each connection with one 64 B request outstanding.
# Prints the medians and the ratios io_uring/epoll and epoll/linux, and the io_uring
# engine's submission and completion batch sizes (from its exit statistics, DEMI_LOG=info).
# Draws, next to results.txt, latency-cdf.png (the RTT distribution of each variant, last
# repetition) and throughput.png (requests/s per variant and connection count, with the
# spread over the repetitions).
# Exit 0 when every run succeeded; only processes started here are signalled, by PID.

set -u

usage() {
	echo "usage: $0 BUILD_DIR [--reps K] [--rtt-requests N] [--tput-requests N]" \
		"[--conns \"1 64 256\"]" >&2
	exit 2
}

[ $# -ge 1 ] || usage
build=$1
shift
. "$(dirname "$0")/build-info.sh"
. "$(dirname "$0")/plot.sh"
bench_build_info "$build"
reps=3
rtt_requests=20000
tput_requests=200000
conns="1 64 256"
while [ $# -gt 0 ]; do
	[ $# -ge 2 ] || usage
	case $1 in
	--reps) reps=$2 ;;
	--rtt-requests) rtt_requests=$2 ;;
	--tput-requests) tput_requests=$2 ;;
	--conns) conns=$2 ;;
	*) usage ;;
	esac
	shift 2
done
for n in $reps $rtt_requests $tput_requests $conns; do
	[[ $n =~ ^[1-9][0-9]*$ ]] || usage
done

ex=$build/examples
for bin in tcp-echo tcp-pingpong linux-echo; do
	[ -x "$ex/$bin" ] || { echo "$0: $ex/$bin not found: build first" >&2; exit 1; }
done
out=$build/bench-engines
mkdir -p "$out"
results=$out/results.txt
: >"$results"
tput_runs=$out/throughput.txt # "CONNS<tab>VARIANT<tab>req/s" per run, for the picture
: >"$tput_runs"

spin="" cpin=""
if [ "$(nproc)" -ge 2 ]; then
	spin="taskset -c 1"
	cpin="taskset -c 0"
fi

base=$((30000 + $$ % 20000))
declare -A port=([epoll]=$base [io_uring]=$((base + 1)) [linux]=$((base + 2)))
pids=()

cleanup() {
	local rc=$? pid
	for pid in "${pids[@]}"; do
		kill -INT "$pid" 2>/dev/null
	done
	for pid in "${pids[@]}"; do
		timeout 5 tail --pid="$pid" -f /dev/null || kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

start_server() { # NAME CMD...
	local name=$1
	shift
	# shellcheck disable=SC2086
	$spin "$@" >"$out/server-$name.log" 2>&1 &
	pids+=($!)
	for _ in $(seq 100); do
		[ -n "$(ss -Hltn "sport = :${port[$name]}" 2>/dev/null)" ] && return 0
		kill -0 "${pids[-1]}" 2>/dev/null || break
		sleep 0.05
	done
	echo "$0: $name server did not start:" >&2
	cat "$out/server-$name.log" >&2
	exit 1
}

CATNAP_ENGINE=epoll start_server epoll "$ex/tcp-echo" --server "127.0.0.1:${port[epoll]}"
CATNAP_ENGINE=io_uring DEMI_LOG=info start_server io_uring "$ex/tcp-echo" \
	--server "127.0.0.1:${port[io_uring]}"
start_server linux "$ex/linux-echo" --server "127.0.0.1:${port[linux]}" --mode epoll

# field NAME LINE: the value of NAME=... in a RESULT line.
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }

run_client() { # VARIANT LOG CMD... ; prints the RESULT line
	local v=$1 log=$2
	shift 2
	local engine=$v
	[ "$v" = linux ] && engine=epoll
	# shellcheck disable=SC2086
	if ! CATNAP_ENGINE=$engine $cpin "$@" >"$log" 2>&1; then
		echo "$0: client failed ($v): $*" >&2
		cat "$log" >&2
		exit 1
	fi
	grep '^RESULT' "$log" | tail -1
}

variants="epoll io_uring linux"
declare -A label=([epoll]="catnap epoll" [io_uring]="catnap io_uring"
	[linux]="Linux epoll server")
for rep in $(seq "$reps"); do
	for v in $variants; do
		addr=127.0.0.1:${port[$v]}
		export EX_CDF_FILE=$out/cdf-$v-$rep.txt # the RTT distribution, for the picture
		if [ "$v" = linux ]; then
			line=$(run_client $v "$out/rtt-$v.log" "$ex/linux-echo" --pingpong "$addr" \
				--mode epoll --size 64 --requests "$rtt_requests" --warmup 1000)
		else
			line=$(run_client $v "$out/rtt-$v.log" "$ex/tcp-pingpong" --client "$addr" \
				--size 64 --requests "$rtt_requests" --warmup 1000)
		fi
		unset EX_CDF_FILE
		echo "rtt $v $rep $(field p50_us "$line") $(field p99_us "$line")" >>"$results"
		for c in $conns; do
			per=$((tput_requests / c))
			[ $per -ge 1 ] || per=1
			line=$(run_client $v "$out/tput-$v-$c.log" "$ex/tcp-echo" --client "$addr" \
				--clients "$c" --size 64 --requests "$per")
			echo "tput $v $c $rep $(field req_s "$line")" >>"$results"
			printf '%s\t%s\t%s\n' "$c connection$([ "$c" = 1 ] || echo s)" "${label[$v]}" \
				"$(field req_s "$line")" >>"$tput_runs"
		done
	done
done

# Medians and ratios.
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
med_rtt() { awk -v v="$1" -v k="$2" '$1=="rtt" && $2==v {print $(k)}' "$results" | median; }
med_tput() { awk -v v="$1" -v c="$2" '$1=="tput" && $2==v && $3==c {print $5}' "$results" | median; }

echo
echo "catnap engines vs plain sockets: $reps interleaved repetitions, medians"
printf "%-28s %12s %12s %12s %14s %14s\n" "" epoll io_uring linux "io_uring/epoll" "epoll/linux"
for k in 4 5; do
	name=$([ $k = 4 ] && echo "64 B RTT p50 (us)" || echo "64 B RTT p99 (us)")
	e=$(med_rtt epoll $k) u=$(med_rtt io_uring $k) l=$(med_rtt linux $k)
	printf "%-28s %12s %12s %12s %14.3f %14.3f\n" "$name" "$e" "$u" "$l" \
		"$(echo "$u / $e" | bc -l)" "$(echo "$e / $l" | bc -l)"
done
for c in $conns; do
	e=$(med_tput epoll "$c") u=$(med_tput io_uring "$c") l=$(med_tput linux "$c")
	printf "%-28s %12s %12s %12s %14.3f %14.3f\n" "throughput req/s, $c conns" "$e" "$u" "$l" \
		"$(echo "$u / $e" | bc -l)" "$(echo "$e / $l" | bc -l)"
done

# The io_uring server's batch statistics appear when it exits: stop it now.
kill -INT "${pids[1]}" 2>/dev/null
timeout 5 tail --pid="${pids[1]}" -f /dev/null
echo
echo "io_uring server batches: $(grep -o 'catnap io_uring: .*)' "$out/server-io_uring.log" |
	tail -1)"
bench_plot_cdfs "$out/latency-cdf.png" \
	"64 B TCP ping-pong over 127.0.0.1, repetition $reps of $reps" \
	"catnap epoll (tcp-pingpong)" "$out/cdf-epoll-$reps.txt" \
	"catnap io_uring (tcp-pingpong)" "$out/cdf-io_uring-$reps.txt" \
	"Linux epoll on both ends (linux-echo)" "$out/cdf-linux-$reps.txt"
bench_plot_bars "$out/throughput.png" \
	"64 B TCP echo over 127.0.0.1, one request outstanding per connection, $reps repetitions" \
	"requests/s" "$tput_runs"
echo "(raw numbers: $results)"
