#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Redis on libdemikernel against stock Redis, one run, the same load generator (examples/kv-load,
# 64 B values, 10000 keys populated): GET only and SET only, 1 connection and 32 connections,
# unpipelined, for
#   stock        Debian's redis-server on the kernel (loopback)
#   catnap       the port, catnap epoll (loopback)
#   uring        the port, catnap io_uring (loopback)
#   catnip       the port on catnip, kv-load on catnip, over net_memif (server core 1, client
#                core 0; both busy-poll)
#   echo         catnip's own 64 B TCP echo on the same memif and cores (examples/tcp-echo +
#                tcp-pingpong, unpipelined): the floor the catnip GET's p50 is compared with
# Variants are interleaved per repetition (stock catnap uring catnip stock ...) so a shared
# machine's noise spreads over all; the table gives the median over the repetitions of
# requests/s, p50 and p99, each variant's requests/s relative to stock's, and the spread
# (min-max of requests/s over the repetitions); then the issue's goals, each checked on the
# medians (catnip GET p50 - echo p50 also per repetition, the pair run back to back).
#   usage: redis.sh BUILD_DIR [--reps K] [--requests N] [--no-catnip] [--nice N]
# --nice N runs every server and client at that niceness (a negative one, as root, keeps a shared
# machine's background work from taking the cores between a request and its reply: the same
# for every variant).
# Raw results: BUILD_DIR/bench-redis/, with the pictures: latency-cdf-{get,set}-c{1,32}.png
# (each variant's request latency distribution in the last repetition; echo's in get-c1) and
# throughput.png (requests/s, median and min-max over the repetitions).
# Exit 0 when every run succeeded, 1 otherwise.
set -u
build=${1:?usage: redis.sh BUILD_DIR [--reps K] [--requests N] [--no-catnip] [--nice N]}
shift
reps=3 requests=100000 catnip=1 nice=0
while [ $# -gt 0 ]; do
	case $1 in
	--reps) reps=$2; shift 2 ;;
	--requests) requests=$2; shift 2 ;;
	--no-catnip) catnip=0; shift ;;
	--nice) nice=$2; shift 2 ;;
	*) echo "unknown option $1" >&2; exit 2 ;;
	esac
done
port_bin=$build/examples/redis/redis-server kv=$build/examples/kv-load
stock=$(command -v redis-server) || { echo "no stock redis-server" >&2; exit 1; }
ex=$build/examples
[ -x "$port_bin" ] && [ -x "$kv" ] || { echo "build first: ninja -C $build redis examples/kv-load" >&2; exit 1; }
. "$(dirname "$0")/build-info.sh"
. "$(dirname "$0")/plot.sh"
bench_build_info "$build"
out=$build/bench-redis
rm -rf "$out"
mkdir -p "$out"
tmp=$(mktemp -d /tmp/redis-bench-XXXXXX)
spid=
trap '[ -n "$spid" ] && kill -KILL $spid 2>/dev/null; rm -rf "$tmp"' EXIT
trap '' PIPE
failed=0
variants="stock catnap uring"
[ $catnip = 1 ] && variants+=" catnip echo"
# The variants' names in the pictures.
declare -A label=([stock]="stock (kernel)" [catnap]="port, catnap epoll"
	[uring]="port, catnap io_uring" [catnip]="port, catnip (memif)"
	[echo]="catnip TCP echo (memif)")
. "$(dirname "$0")/../dpdk/memif-conf.sh"
memif_conf "$tmp/s.yaml" redis-bs 1 server 10.85.1.1 02:00:00:00:05:01 "$tmp/m.sock"
memif_conf "$tmp/c.yaml" redis-bc 0 client 10.85.1.2 02:00:00:00:05:02 "$tmp/m.sock"

# echo: catnip's 64 B TCP ping-pong over the same memif: "0:1 1 RESULT ..." into $out/echo.
# run_echo REP
run_echo() {
	local r
	rm -f "$tmp/m.sock"
	CONFIG_PATH=$tmp/s.yaml nice -n $nice taskset -c 1 "$ex/tcp-echo" --server 10.85.1.1:16501 \
		>"$tmp/echo.out" 2>&1 &
	spid=$!
	for _ in 1 2 3 4 5; do
		r=$(CONFIG_PATH=$tmp/c.yaml EX_CDF_FILE=$out/cdf-echo-get-c1-$1.txt \
			nice -n $nice taskset -c 0 timeout 120 "$ex/tcp-pingpong" \
			--client 10.85.1.1:16501 --size 64 --requests "$requests" --warmup 2000 2>&1 |
			grep '^RESULT') && break
		sleep 1
	done
	kill -INT $spid
	wait $spid
	spid=
	[ -n "$r" ] || { echo "FAIL: echo" >&2; failed=1; return; }
	echo "0:1 1 $r" >>"$out/echo"
}

# run VARIANT REP: one server, the four loads against it; RESULT lines into $out/VARIANT.
run() {
	local v=$1 addr=127.0.0.1 env=() cenv=() bin=$port_bin
	[ $v = echo ] && { run_echo "$2"; return; }
	case $v in
	stock) bin=$stock ;;
	uring) env=(CATNAP_ENGINE=io_uring) ;;
	catnip) env=(CONFIG_PATH=$tmp/s.yaml) cenv=(CONFIG_PATH=$tmp/c.yaml) addr=10.85.1.1 ;;
	esac
	rm -f "$tmp/m.sock"
	env "${env[@]}" nice -n $nice taskset -c 1 "$bin" --port 16500 --bind $addr --protected-mode no --save "" \
		--logfile "$tmp/$v.log" >"$tmp/$v.out" 2>&1 &
	spid=$!
	local first=(--populate) op
	for ratio in 0:1 1:0; do
		op='get'
		[ $ratio = 1:0 ] && op='set'
		for c in 1 32; do
			local r
			for _ in 1 2 3 4 5; do # catnip: the server listens once the client brought the link up
				r=$(env "${cenv[@]}" EX_CDF_FILE="$out/cdf-$v-$op-c$c-$2.txt" \
					nice -n $nice taskset -c 0 timeout 120 "$kv" --server $addr:16500 \
					--connections $c --ratio $ratio --keys 10000 "${first[@]}" \
					--requests "$requests" 2>&1 | grep '^RESULT') && break
				sleep 1
			done
			first=()
			if [ -z "$r" ]; then
				echo "FAIL: $v ratio $ratio c=$c" >&2
				failed=1
				continue
			fi
			echo "$ratio $c $r" >>"$out/$v"
			printf '%s\t%s\t%s\n' "${op^^} c=$c" "${label[$v]}" \
				"$(grep -o 'rps=[0-9.]*' <<<"$r" | cut -d= -f2)" >>"$out/throughput.txt"
		done
	done
	kill -TERM $spid
	wait $spid
	spid=
}
for rep in $(seq "$reps"); do
	for v in $variants; do
		run "$v" "$rep"
	done
done

median() { sort -n | awk '{a[NR]=$1} END {print (NR ? a[int((NR + 1) / 2)] : 0)}'; }
field() { grep -o "$1=[0-9.]*" | cut -d= -f2; }
# med VARIANT RATIO CONNS FIELD
med() { grep "^$2 $3 " "$out/$1" 2>/dev/null | field "$4" | median; }
printf '%-8s %-4s %5s %10s %9s %9s %7s  %s\n' variant op conns rps p50_us p99_us x_stock \
	"rps min-max"
for ratio in 0:1 1:0; do
	op=GET
	[ $ratio = 1:0 ] && op=SET
	for c in 1 32; do
		base=$(med stock $ratio $c rps)
		for v in $variants; do
			rows=$(grep "^$ratio $c " "$out/$v" 2>/dev/null)
			[ -n "$rows" ] || continue
			rps=$(med $v $ratio $c rps)
			[ $v = echo ] && rps=- # tcp-pingpong reports latency only
			spread=$(field rps <<<"$rows" | sort -n | sed -n '1p;$p' | paste -sd-)
			printf '%-8s %-4s %5s %10s %9s %9s %7s  %s\n' $v $op $c "$rps" \
				"$(med $v $ratio $c p50_us)" "$(med $v $ratio $c p99_us)" \
				"$(awk "BEGIN{printf \"%.2f\", ${rps/-/0} / (${base:-0} ? $base : 1)}")" "$spread"
		done
	done
done

# goal NAME VALUE OP LIMIT: one line, met or not (the numbers say by how much).
goal() {
	local ok
	ok=$(awk "BEGIN{print ($2 $3 $4) ? \"met\" : \"NOT met\"}")
	printf 'goal %-44s %8s %s %-6s %s\n' "$1" "$2" "$3" "$4" "$ok"
}
ratio_of() { awk "BEGIN{printf \"%.2f\", $(med $1 $2 $3 rps) / ($(med stock $2 $3 rps) + 0.001)}"; }
echo
for c in 1 32; do
	goal "catnap epoll / stock requests/s, GET c=$c" "$(ratio_of catnap 0:1 $c)" '>=' 0.95
	goal "catnap epoll / stock requests/s, SET c=$c" "$(ratio_of catnap 1:0 $c)" '>=' 0.95
	goal "io_uring / stock requests/s, GET c=$c" "$(ratio_of uring 0:1 $c)" '>=' 1.1
	goal "io_uring / stock requests/s, SET c=$c" "$(ratio_of uring 1:0 $c)" '>=' 1.1
done
if [ $catnip = 1 ]; then
	goal "catnip / stock requests/s, GET c=32" "$(ratio_of catnip 0:1 32)" '>=' 3
	goal "catnip / stock requests/s, SET c=32" "$(ratio_of catnip 1:0 32)" '>=' 3
	# Per repetition: the catnip GET c=1 run and the echo run of the same repetition.
	d=$(paste <(grep '^0:1 1 ' "$out/catnip" | field p50_us) \
		<(grep '^0:1 1 ' "$out/echo" | field p50_us) | awk '{printf "%.2f\n", $1 - $2}')
	echo "catnip GET p50 - echo p50 per repetition (us): $(paste -sd' ' <<<"$d")"
	goal "catnip GET p50 - catnip echo p50 (us), median" "$(median <<<"$d")" '<=' 1.5
fi

for op in get set; do
	for c in 1 32; do
		cdfs=()
		for v in $variants; do # echo has a distribution for get c=1 only; missing ones are skipped
			cdfs+=("${label[$v]}" "$out/cdf-$v-$op-c$c-$reps.txt")
		done
		conns="$c connection"
		[ $c = 1 ] || conns+=s
		bench_plot_cdfs "$out/latency-cdf-$op-c$c.png" \
			"Redis ${op^^}, 64 B values, $conns, unpipelined: repetition $reps of $reps" \
			"${cdfs[@]}"
	done
done
bench_plot_bars "$out/throughput.png" \
	"Redis, 64 B values, unpipelined, kv-load: $reps repetitions" "requests/s" "$out/throughput.txt"
exit $failed
