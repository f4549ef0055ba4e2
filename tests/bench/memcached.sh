#!/bin/bash
# SPDX-License-Identifier: MIT
#
# memcached on libdemikernel against stock memcached, in one run (docs/memcached.md), with the
# same load generator (examples/kv-load --proto memcache, 64 B values, 10000 keys populated,
# every reply checked):
#   stock        Debian's memcached on the kernel with its packaged settings (-m 64, UDP off)
#                and -t 1 as the issue says, kv-load on catnap (127.0.0.1)
#   epoll        the port -t 1 on catnap's epoll engine, kv-load on catnap (127.0.0.1)
#   io_uring     the port -t 1 on catnap's io_uring engine, kv-load on catnap (127.0.0.1)
#   echo         catnip's own 64 B TCP echo (examples/tcp-echo) over the same memif and cores,
#                driven by the same kv-load (--proto echo: 64 B requests, each echo checked
#                byte for byte) with the same options as the catnip get c=1 run, which follows
#                it back to back: the floor the catnip get p50 is compared with, so that
#                kv-load's own per-request work is on both sides and the difference is
#                memcached's
#                (and with 32 connections: that echo costs the server less than memcached, so
#                the rate shows the load generator's own ceiling; above the catnip c32 rate,
#                kv-load is not what limits that rate)
#   echo-pp      the same echo server driven by examples/tcp-pingpong (a leaner client: a
#                reference row, printed with its own difference but not judged)
#   catnip       the port -t 1 on catnip over net_memif (core 1), kv-load on catnip (core 0)
# Each server gets three loads: get c=1 (GETs only, 1 connection: the p50 goal), then SET:GET
# 1:10 with 1 connection and with 32 (the throughput goals), unpipelined. Every kv-load run
# first warms up (2000 requests per connection, untimed), then measures --requests requests
# and for at least --min-ms (default 1000 ms), so the fast variants are measured in their
# steady state as long as the slow ones. DPDK runs on 2 MiB hugepages (--in-memory) as
# deployments do, reserving pages as root when too few are free (given back at exit); without
# them it says so and falls back to --no-huge -m 512. K rounds interleaved (stock epoll
# io_uring echo catnip stock ...) so a shared machine's noise spreads over all; the table
# gives the median of each, with kv-load's idle polls per request (the client's libOS polling
# with nothing to do: a client that is the bottleneck has ~0); then the issue's goals on the
# medians (catnip get p50 - echo p50 per round, the pair run back to back, and their median).
# catnip needs root and DPDK (left out otherwise, with the reason).
#
#   usage: memcached.sh BUILD_DIR [--reps K] [--requests N] [--min-ms T]
# Needs the port built (ninja -C BUILD_DIR memcached). Exit 0 when every run succeeded, 1 when
# one failed. Raw results: BUILD_DIR/bench-memcached/, with the pictures latency-cdf-get-c1.png,
# latency-cdf-c1.png and latency-cdf-c32.png (each variant's request latency distribution,
# last round) and throughput.png (requests/s, median and min-max over the rounds).
set -u
usage() { echo "usage: memcached.sh BUILD_DIR [--reps K] [--requests N] [--min-ms T]" >&2; exit 2; }
build=${1:?usage: memcached.sh BUILD_DIR [--reps K] [--requests N] [--min-ms T]}
shift
reps=3 requests=100000 min_ms=1000
while [ $# -ge 2 ]; do
	case $1 in
	--reps) reps=$2 ;;
	--requests) requests=$2 ;;
	--min-ms) min_ms=$2 ;;
	*) usage ;;
	esac
	shift 2
done
[ $# = 0 ] || usage
. "$(dirname "$0")/build-info.sh"
. "$(dirname "$0")/plot.sh"
. "$(dirname "$0")/kv-echo.sh"
bench_build_info "$build"
port_bin=$build/examples/memcached/memcached
kv=$build/examples/kv-load
ex=$build/examples
stock=$(command -v memcached) || { echo "no stock memcached (tests/deps.sh)"; exit 1; }
[ -x "$port_bin" ] || { echo "build the port first: ninja -C $build memcached"; exit 1; }
out=$build/bench-memcached
rm -rf "$out"
mkdir -p "$out"
tmp=$(mktemp -d /tmp/kvb-memcached-XXXXXX)
spid=
. "$(dirname "$0")/../dpdk/memif-conf.sh"
. "$(dirname "$0")/../../examples/memcached/memif-pair.sh" # memif_server
cleanup() {
	[ -n "$spid" ] && kill "$spid" 2>/dev/null && wait "$spid" 2>/dev/null
	rm -rf "$tmp"
	memif_conf_release
}
trap cleanup EXIT
trap '' PIPE
rc=0
variants="stock epoll io_uring"
if [ "$(id -u)" = 0 ] && grep -q "librte_" <(ldd "$build/libdemikernel.so" 2>/dev/null); then
	variants="$variants echo catnip"
	memif_conf_nohuge_mb=512
	memif_conf_hugepages
	memif_conf "$tmp/s.yaml" kvb-ms 1 server 10.86.1.1 02:00:00:00:86:01 "$tmp/m.sock"
	memif_conf "$tmp/c.yaml" kvb-mc 0 client 10.86.1.2 02:00:00:00:86:02 "$tmp/m.sock"
else
	echo "note: catnip left out (needs root and a build with DPDK)"
fi
# The variants' names in the pictures.
declare -A label=([stock]="stock (kernel)" [epoll]="port, catnap epoll"
	[io_uring]="port, catnap io_uring" [catnip]="port, catnip (memif)"
	[echo]="catnip TCP echo, kv-load (memif)" [echo-pp]="catnip TCP echo, tcp-pingpong (memif)")
# The loads: name, connections, kv-load's options.
loads="get-c1 c1 c32"
declare -A conns=([get-c1]=1 [c1]=1 [c32]=32)
declare -A mix=([get-c1]="--ratio 0:1" [c1]="--ratio 1:10" [c32]="--ratio 1:10")
declare -A title=([get-c1]="GET, 1 connection" [c1]="SET:GET 1:10, 1 connection"
	[c32]="SET:GET 1:10, 32 connections")

# The loopback port: the first free one from 21300 + PID % 500, so that runs of this script from
# other trees at the same time never drive each other's servers; start() also checks that the
# listener is its own server's.
port=$((21300 + $$ % 500))
while ss -Hltn "sport = :$port" | grep -q .; do port=$((port + 1)); done

# start VARIANT: the server, on core 1; sets spid, addr and the client's environment (cenv).
start() {
	local p=$port
	addr=127.0.0.1:$p
	cenv=(LIBOS=catnap CATNAP_ENGINE=epoll)
	case $1 in
	stock) taskset -c 1 "$stock" -u root -l 127.0.0.1 -p $p -U 0 -t 1 >"$tmp/server.log" 2>&1 & ;;
	epoll | io_uring)
		LIBOS=catnap CATNAP_ENGINE=$1 taskset -c 1 "$port_bin" -u root -l 127.0.0.1 -p $p -U 0 -t 1 \
			>"$tmp/server.log" 2>&1 &
		;;
	catnip | echo)
		addr=10.86.1.1:11211
		cenv=(CONFIG_PATH="$tmp/c.yaml")
		if [ "$1" = catnip ]; then
			memif_server "$tmp" "$tmp/server.log" taskset -c 1 "$port_bin" -u root -p 11211 -U 0 -t 1
		else
			memif_server "$tmp" "$tmp/server.log" taskset -c 1 "$ex/tcp-echo" --server "$addr"
		fi
		spid=$memif_pid
		[ -S "$tmp/m.sock" ] && return 0
		;;
	esac
	[ "$1" = catnip ] || [ "$1" = echo ] || spid=$!
	for _ in $(seq 100); do
		[ "$1" = catnip ] || [ "$1" = echo ] && break
		ss -Hltnp "sport = :$p" 2>/dev/null | grep -q "pid=$spid," && return 0
		kill -0 $spid 2>/dev/null || break
		sleep 0.05
	done
	echo "FAIL: $1 did not start: $(tail -3 "$tmp/server.log")"
	return 1
}
stop() {
	kill -INT $spid 2>/dev/null
	wait $spid 2>/dev/null
	spid=
}

# load VARIANT LOAD ROUND: one kv-load run into $out/VARIANT-LOAD-rROUND.txt.
load() {
	local v=$1 l=$2 c=${conns[$2]} f=$out/$1-$2-r$3.txt
	local proto=(--proto memcache --populate --keys 10000)
	[ "$v" = echo ] && proto=(--proto echo)
	# shellcheck disable=SC2086 # mix holds several words
	if env "${cenv[@]}" EX_CDF_FILE="$out/cdf-$v-$l-r$3.txt" \
		taskset -c 0 timeout 300 "$kv" --server "$addr" "${proto[@]}" --value-size 64 \
		${mix[$l]} --connections $c --warmup $((2000 * c)) --requests "$requests" \
		--min-duration-ms "$min_ms" >"$f" 2>&1; then
		echo "$v $l round $3: $(grep RESULT "$f" | grep -o 'rps=[0-9]* p50_us=[0-9.]*')"
		printf '%s\t%s\t%s\n' "${title[$l]}" "${label[$v]}" \
			"$(grep RESULT "$f" | grep -o 'rps=[0-9.]*' | cut -d= -f2)" >>"$out/throughput.txt"
	else
		echo "FAIL: $v $l round $3: $(tail -2 "$f")"
		rc=1
	fi
}

# echo-pp ROUND: tcp-pingpong against the running echo server (reference row).
echo_pp() {
	local f=$out/echo-pp-get-c1-r$1.txt
	env "${cenv[@]}" EX_CDF_FILE="$out/cdf-echo-pp-get-c1-r$1.txt" taskset -c 0 timeout 300 \
		"$ex/tcp-pingpong" --client "$addr" --size 64 --requests "$requests" --warmup 2000 \
		>"$f" 2>&1 || { echo "FAIL: echo-pp round $1: $(tail -2 "$f")"; rc=1; }
}

for r in $(seq "$reps"); do
	for v in $variants; do
		start "$v" || { rc=1; stop; continue; }
		if [ "$v" = echo ]; then
			load echo get-c1 "$r"
			echo_pp "$r"
			load echo c32 "$r"
		else
			for l in $loads; do
				load "$v" "$l" "$r"
			done
		fi
		stop
	done
done

# stat VARIANT LOAD FIELD: the median of FIELD over the rounds (idle_per_req: idle_polls / n).
stat() {
	cat "$out/$1-$2-r"*.txt 2>/dev/null | python3 -c '
import re, statistics, sys
want = sys.argv[1]
vals = []
for line in sys.stdin:
    if not line.startswith("RESULT"):
        continue
    f = dict(kv.split("=", 1) for kv in line.split()[1:] if "=" in kv)
    if want == "idle_per_req":
        if "idle_polls" in f:
            vals.append(float(f["idle_polls"]) / max(float(f["n"]), 1))
    elif want in f:
        vals.append(float(f[want]))
print("%.2f" % statistics.median(vals) if vals else "-")' "$3"
}
# The median of each variant's numbers over the rounds.
echo
printf '%-9s %-7s %12s %9s %9s %9s %9s\n' variant load "req/s" "p50 (us)" "p99 (us)" "vs stock" \
	"idle/req"
for l in $loads; do
	base=$(stat stock "$l" rps)
	for v in $variants echo-pp; do
		[ -n "$(ls "$out/$v-$l-r"*.txt 2>/dev/null)" ] || continue
		rps=$(stat "$v" "$l" rps)
		ratio=-
		[ "$rps" != - ] && [ "$base" != - ] && ratio=$(awk "BEGIN{printf \"%.2fx\", $rps / $base}")
		printf '%-9s %-7s %12s %9s %9s %9s %9s\n' "$v" "$l" "${rps%.00}" "$(stat "$v" "$l" p50_us)" \
			"$(stat "$v" "$l" p99_us)" "$ratio" "$(stat "$v" "$l" idle_per_req)"
	done
done

# goal NAME VALUE OP LIMIT: one line, met or not (the numbers say by how much).
goal() {
	local ok
	ok=$(awk "BEGIN{print ($2 $3 $4) ? \"met\" : \"NOT met\"}")
	printf 'goal %-46s %8s %s %-6s %s\n' "$1" "$2" "$3" "$4" "$ok"
}
ratio_of() { # VARIANT LOAD
	awk "BEGIN{printf \"%.2f\", $(stat "$1" "$2" rps | sed 's/^-$/0/') / ($(stat stock "$2" rps | sed 's/^-$/0/') + 0.001)}"
}
p50s() { # VARIANT LOAD: the p50 of each round, in round order
	for r in $(seq "$reps"); do
		grep -ho 'p50_us=[0-9.]*' "$out/$1-$2-r$r.txt" 2>/dev/null | cut -d= -f2 || echo nan
	done
}
echo
for l in c1 c32; do
	goal "catnap epoll / stock requests/s, $l" "$(ratio_of epoll $l)" '>=' 1
	goal "io_uring / stock requests/s, $l" "$(ratio_of io_uring $l)" '>=' 1
done
if [[ " $variants " == *" catnip "* ]]; then
	goal "catnip / stock requests/s, c32" "$(ratio_of catnip c32)" '>=' 3
	# Per round: the catnip get c=1 run and the echo run just before it. The goal is judged
	# against the echo driven by kv-load (the same load generator); the difference to the
	# tcp-pingpong echo is printed as a reference.
	d=$(paste <(p50s catnip get-c1) <(p50s echo get-c1) |
		awk 'NF == 2 && $1 != "nan" && $2 != "nan" {printf "%.2f\n", $1 - $2}')
	dp=$(paste <(p50s catnip get-c1) <(p50s echo-pp get-c1) |
		awk 'NF == 2 && $1 != "nan" && $2 != "nan" {printf "%.2f\n", $1 - $2}')
	kv_echo_report get "$d" "$dp" "$(stat echo c32 rps)" "$(stat catnip c32 rps)"
fi

for l in $loads; do
	cdfs=()
	for v in $variants echo-pp; do # the echoes have get-c1 only; missing files are skipped
		cdfs+=("${label[$v]}" "$out/cdf-$v-$l-r$reps.txt")
	done
	bench_plot_cdfs "$out/latency-cdf-$l.png" "memcached, 64 B values, ${title[$l]}: round $reps of $reps" \
		"${cdfs[@]}"
done
bench_plot_bars "$out/throughput.png" \
	"memcached, 64 B values, kv-load: $reps rounds" "requests/s" "$out/throughput.txt"
exit $rc
