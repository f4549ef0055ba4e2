#!/bin/bash
# SPDX-License-Identifier: MIT
#
# catnap TCP echo latency against the Linux-sockets baseline, in one run (docs/benchmarks.md).
#
#   catnap-echo.sh BUILD_DIR [--requests N] [--warmup W] [--reps K] [--sizes "64 4096"]
#                  [--pin split|same]
#
# For every size, K repetitions of four variants, interleaved (A B C D A B C D ...) so that the
# noise of a shared machine spreads over all of them:
#   A catnap          examples/tcp-echo --server               + examples/tcp-pingpong --client
#   B linux-epoll     examples/linux-echo --server --mode epoll    + linux-echo --pingpong
#   C linux-blocking  examples/linux-echo --server --mode blocking + linux-echo --pingpong
#   D linux-evloop    the server of B + linux-echo --pingpong --mode epoll: both ends wait in
#                     epoll, making the same system calls per round trip as catnap
# (B and C use the blocking-read client.) Servers run on core 1, clients on core 0 (--pin same:
# both on core 0, which takes the cross-core wake-up out of every round trip and leaves the
# per-operation software cost), over 127.0.0.1, one port per server. Each client run prints a
# RESULT line; the table gives the mean over the repetitions of p50 and p99, the ratio of
# catnap's p50 to linux-epoll's (goal: <= 1.10) and the ratio to linux-evloop's.
#
# Exit 0 when every run succeeded, 1 when one failed, 2 for a bad command line. Only the
# processes started here are signalled, by their PID. Raw results: BUILD_DIR/bench-catnap/.

set -u

usage() {
	echo "usage: $0 BUILD_DIR [--requests N] [--warmup W] [--reps K] [--sizes \"S1 S2 ...\"]" \
		"[--pin split|same]" >&2
	exit 2
}

[ $# -ge 1 ] || usage
build=$1
shift
. "$(dirname "$0")/build-info.sh"
. "$(dirname "$0")/plot.sh"
bench_build_info "$build"
requests=25000
warmup=2000
reps=5
sizes="64 4096"
pin="split"
while [ $# -gt 0 ]; do
	[ $# -ge 2 ] || usage
	case $1 in
	--requests) requests=$2 ;;
	--warmup) warmup=$2 ;;
	--reps) reps=$2 ;;
	--sizes) sizes=$2 ;;
	--pin) pin=$2 ;;
	*) usage ;;
	esac
	shift 2
done
for n in "$requests" "$warmup" "$reps"; do
	[[ $n =~ ^[0-9]+$ ]] || usage
done
if [ "$requests" -lt 1 ] || [ "$reps" -lt 1 ]; then
	usage
fi
[ "$pin" = split ] || [ "$pin" = same ] || usage
for size in $sizes; do
	if ! [[ $size =~ ^[0-9]+$ ]] || [ "$size" -lt 1 ]; then
		usage
	fi
done

ex=$build/examples
for bin in tcp-echo tcp-pingpong linux-echo; do
	if [ ! -x "$ex/$bin" ]; then
		echo "$0: $ex/$bin not found: build first (ninja -C $build)" >&2
		exit 1
	fi
done

out=$build/bench-catnap
mkdir -p "$out"
results=$out/results.txt
: >"$results"

# Server on core 1, client on core 0, when there are two cores to pin to.
if [ "$pin" = same ]; then
	spin="taskset -c 0"
	cpin="taskset -c 0"
elif [ "$(nproc)" -ge 2 ]; then
	spin="taskset -c 1"
	cpin="taskset -c 0"
else
	echo "warning: fewer than 2 CPUs, not pinning" >&2
	spin=""
	cpin=""
fi

base=$((30000 + $$ % 20000))
port_catnap=$base
port_epoll=$((base + 1))
port_blocking=$((base + 2))
pids=()

# Stops the servers (SIGTERM, SIGKILL after 5 s); one that does not exit 0 fails the run.
# shellcheck disable=SC2317 # run by the trap
cleanup() {
	local rc=$? pid status
	for pid in "${pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in "${pids[@]}"; do
		timeout 5 tail --pid="$pid" -f /dev/null || kill -KILL "$pid" 2>/dev/null
		wait "$pid"
		status=$?
		if [ "$status" -ne 0 ] && [ "$rc" -eq 0 ]; then
			echo "$0: server $pid exited with $status (logs in $out)" >&2
			rc=1
		fi
	done
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# start_server NAME PORT CMD...: runs a server in the background and waits until it listens.
start_server() {
	local name=$1 port=$2
	shift 2
	# shellcheck disable=SC2086 # $spin is empty or "taskset -c 1"
	$spin "$@" >"$out/server-$name.log" 2>&1 &
	pids+=($!)
	if ! command -v ss >/dev/null; then
		sleep 0.5 # no ss (iproute2) to ask: give the server time to listen
		kill -0 "${pids[-1]}" 2>/dev/null && return 0
	fi
	for _ in $(seq 100); do
		[ -n "$(ss -Hltn "sport = :$port" 2>/dev/null)" ] && return 0
		if ! kill -0 "${pids[-1]}" 2>/dev/null; then
			break
		fi
		sleep 0.05
	done
	echo "$0: $name server did not start:" >&2
	cat "$out/server-$name.log" >&2
	exit 1
}

# run VARIANT SIZE REP CMD...: one client run; appends "VARIANT SIZE REP p50 p99" to results.
run() {
	local variant=$1 size=$2 rep=$3 log rc line
	shift 3
	log=$out/client-$variant-$size-$rep.log
	# shellcheck disable=SC2086 # $cpin is empty or "taskset -c 0"
	EX_CDF_FILE=$out/cdf-$variant-$size-$rep.txt timeout 120 $cpin "$@" >"$log" 2>&1
	rc=$?
	line=$(grep -m1 '^RESULT ' "$log")
	if [ "$rc" -ne 0 ] || [ -z "$line" ]; then
		echo "$0: $variant size $size rep $rep failed (exit $rc): $*" >&2
		cat "$log" >&2
		exit 1
	fi
	echo "$line" | awk -v v="$variant" -v s="$size" -v r="$rep" '{
		for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
		print v, s, r, f["p50_us"], f["p99_us"]
	}' >>"$results"
	printf '  %-15s size %5s rep %s: %s\n' "$variant" "$size" "$rep" "${line#RESULT }"
}

echo "catnap echo latency: sizes $sizes, $requests requests (+$warmup warm-up) x $reps reps," \
	"pinning: ${spin:-none} server, ${cpin:-none} client"
echo "machine: $(nproc) CPUs, $(uname -sr), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"

start_server catnap "$port_catnap" env LIBOS=catnap "$ex/tcp-echo" --server "127.0.0.1:$port_catnap"
start_server linux-epoll "$port_epoll" "$ex/linux-echo" --server "127.0.0.1:$port_epoll" --mode epoll
start_server linux-blocking "$port_blocking" "$ex/linux-echo" --server "127.0.0.1:$port_blocking" \
	--mode blocking

t0=$(date +%s)
for size in $sizes; do
	for rep in $(seq "$reps"); do
		common=(--size "$size" --requests "$requests" --warmup "$warmup")
		run catnap "$size" "$rep" env LIBOS=catnap "$ex/tcp-pingpong" \
			--client "127.0.0.1:$port_catnap" "${common[@]}"
		run linux-epoll "$size" "$rep" "$ex/linux-echo" \
			--pingpong "127.0.0.1:$port_epoll" "${common[@]}"
		run linux-blocking "$size" "$rep" "$ex/linux-echo" \
			--pingpong "127.0.0.1:$port_blocking" "${common[@]}"
		run linux-evloop "$size" "$rep" "$ex/linux-echo" \
			--pingpong "127.0.0.1:$port_epoll" --mode epoll "${common[@]}"
	done
done

# Every server must still be alive: one that died failed the run even if clients passed.
for pid in "${pids[@]}"; do
	if ! kill -0 "$pid" 2>/dev/null; then
		echo "$0: a server exited during the run (see $out/server-*.log)" >&2
		exit 1
	fi
done

echo
echo "results (mean over $reps reps; min-max of the p50s in brackets), $(($(date +%s) - t0)) s:"
awk '
{
	key = $2 " " $1
	n[key]++; p50[key] += $4; p99[key] += $5
	if (!(key in lo) || $4 < lo[key]) lo[key] = $4
	if (!(key in hi) || $4 > hi[key]) hi[key] = $4
	if (!($2 in seen)) { seen[$2] = 1; order[++ns] = $2 }
}
END {
	printf "%6s  %-15s %10s %10s  %s\n", "size", "variant", "p50_us", "p99_us", "p50 range"
	split("catnap linux-epoll linux-blocking linux-evloop", vs, " ")
	for (i = 1; i <= ns; i++) {
		s = order[i]
		for (j = 1; j <= 4; j++) {
			key = s " " vs[j]
			printf "%6s  %-15s %10.2f %10.2f  [%.2f-%.2f]\n", s, vs[j],
				p50[key] / n[key], p99[key] / n[key], lo[key], hi[key]
		}
		r = (p50[s " catnap"] / n[s " catnap"]) / (p50[s " linux-epoll"] / n[s " linux-epoll"])
		printf "%6s  catnap_p50 / linux_epoll_p50 = %.3f (goal <= 1.10: %s)\n", s, r,
			r <= 1.10 ? "met" : "NOT met"
		r = (p50[s " catnap"] / n[s " catnap"]) / (p50[s " linux-evloop"] / n[s " linux-evloop"])
		printf "%6s  catnap_p50 / linux_evloop_p50 = %.3f\n", s, r
	}
}' "$results" | tee "$out/summary.txt"
# The last repetition's distributions, one picture per size.
for size in $sizes; do
	bench_plot_cdfs "$out/latency-cdf-$size.png" \
		"TCP ping-pong over 127.0.0.1, $size B, repetition $reps of $reps" \
		"catnap (epoll engine)" "$out/cdf-catnap-$size-$reps.txt" \
		"Linux epoll server, blocking client" "$out/cdf-linux-epoll-$size-$reps.txt" \
		"Linux blocking server and client" "$out/cdf-linux-blocking-$size-$reps.txt" \
		"Linux epoll on both ends" "$out/cdf-linux-evloop-$size-$reps.txt"
done
