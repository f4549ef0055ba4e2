#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Redis on libdemikernel against stock Redis, one run, the same load generator (examples/kv-load,
# 64 B values, 10000 keys populated): GET only and SET only, 1 connection and 32 connections,
# unpipelined, for
#   stock        Debian's redis-server on the kernel (loopback), as its users run it: its
#                built-in defaults (Debian's packaged ones: one I/O thread, no AOF), snapshots
#                off (--save "") as for every variant
#   catnap       the port, catnap epoll (loopback)
#   uring        the port, catnap io_uring (loopback)
#   catnip       the port on catnip, kv-load on catnip, over net_memif (server core 1, client
#                core 0; both spin while busy)
#   echo         catnip's own 64 B TCP echo (examples/tcp-echo) on the same memif and cores,
#                driven by the same kv-load (--proto echo: 64 B requests, each echo checked
#                byte for byte) with the same options as the catnip GET c=1 run, which follows
#                it back to back: the floor the catnip GET's p50 is compared with, so that
#                kv-load's own per-request work is on both sides and the difference is Redis's
#                (its GET c=32 row: kv-load with 32 connections against that echo, which costs
#                the server less than Redis does, so it shows the load generator's own ceiling:
#                above the catnip GET c=32 rate, kv-load is not what limits that rate)
#   echo-pp      the same echo server driven by examples/tcp-pingpong (a leaner client: a
#                reference row, printed with its own difference but not judged)
# Every kv-load run first warms up (2000 requests per connection, untimed: connections and
# congestion windows open, caches warm), then measures --requests requests and for at least
# --min-ms (default 1000 ms), so the fast variants are measured in their steady state as long
# as the slow ones. DPDK runs on 2 MiB hugepages (--in-memory) as deployments do, reserving
# pages as root when too few are free (given back at exit); without them it says so and falls
# back to --no-huge. Variants are interleaved per repetition (stock catnap uring echo catnip
# stock ...) so a shared machine's noise spreads over all; the table gives the median over the
# repetitions of requests/s, p50 and p99, each variant's requests/s relative to stock's, the
# spread (min-max of requests/s over the repetitions) and kv-load's idle polls per request
# (the client's libOS polling with nothing to do: a client that is the bottleneck has ~0);
# then the issue's goals, each checked on the medians (catnip GET p50 - echo p50 per
# repetition, the pair run back to back, and the median of those differences).
#   usage: redis.sh BUILD_DIR [--reps K] [--requests N] [--min-ms T] [--no-catnip] [--nice N]
#                   [--only V,V...] [--keys K]
# --only runs only the variants named (of stock catnap uring echo catnip; e.g. --only
# echo,catnip for a short A/B run of the catnip goals): the goals that need a variant left out
# are not judged (stock: every ratio to it).
# --keys K populates and draws from K keys instead of 10000 (the issue's runs use 10000, which
# every cache level above L1 holds; a keyspace of millions shows what cache misses cost).
# --nice N runs every server and client at that niceness (a negative one, as root, keeps a shared
# machine's background work from taking the cores between a request and its reply: the same
# for every variant).
# Raw results: BUILD_DIR/bench-redis/, with the pictures: latency-cdf-{get,set}-c{1,32}.png
# (each variant's request latency distribution in the last repetition; echo's in get-c1) and
# throughput.png (requests/s, median and min-max over the repetitions).
# Exit 0 when every run succeeded, 1 otherwise.
set -u
build=${1:?usage: redis.sh BUILD_DIR [--reps K] [--requests N] [--min-ms T] [--no-catnip] [--nice N] [--only V,V...] [--keys K]}
shift
reps=3 requests=100000 min_ms=1000 catnip=1 nice=0 only= keys=10000
while [ $# -gt 0 ]; do
	case $1 in
	--reps) reps=$2; shift 2 ;;
	--requests) requests=$2; shift 2 ;;
	--min-ms) min_ms=$2; shift 2 ;;
	--no-catnip) catnip=0; shift ;;
	--nice) nice=$2; shift 2 ;;
	--only) only=$2; shift 2 ;;
	--keys) keys=$2; shift 2 ;;
	*) echo "unknown option $1" >&2; exit 2 ;;
	esac
done
port_bin=$build/examples/redis/redis-server kv=$build/examples/kv-load
stock=$(command -v redis-server) || { echo "no stock redis-server" >&2; exit 1; }
ex=$build/examples
[ -x "$port_bin" ] && [ -x "$kv" ] || { echo "build first: ninja -C $build redis examples/kv-load" >&2; exit 1; }
. "$(dirname "$0")/build-info.sh"
. "$(dirname "$0")/plot.sh"
. "$(dirname "$0")/kv-echo.sh"
bench_build_info "$build"
out=$build/bench-redis
rm -rf "$out"
mkdir -p "$out"
tmp=$(mktemp -d /tmp/kvb-redis-XXXXXX)
spid=
. "$(dirname "$0")/../dpdk/memif-conf.sh"
trap '[ -n "$spid" ] && kill -KILL $spid 2>/dev/null; rm -rf "$tmp"; memif_conf_release' EXIT
trap '' PIPE
failed=0
variants="stock catnap uring"
[ $catnip = 1 ] && variants+=" echo catnip"
if [ -n "$only" ]; then
	for v in ${only//,/ }; do
		[[ " $variants " == *" $v "* ]] || { echo "--only: no variant $v here" >&2; exit 2; }
	done
	variants=$(for v in $variants; do [[ ",$only," == *",$v,"* ]] && echo $v; done | paste -sd' ')
	[[ " $variants " == *" echo "* || " $variants " == *" catnip "* ]] || catnip=0
fi
# has VARIANT: whether this run measures VARIANT.
has() { [[ " $variants " == *" $1 "* ]]; }
# The variants' names in the pictures.
declare -A label=([stock]="stock (kernel)" [catnap]="port, catnap epoll"
	[uring]="port, catnap io_uring" [catnip]="port, catnip (memif)"
	[echo]="catnip TCP echo, kv-load (memif)" [echo-pp]="catnip TCP echo, tcp-pingpong (memif)")
if [ $catnip = 1 ]; then
	memif_conf_hugepages
	memif_conf "$tmp/s.yaml" kvb-rs 1 server 10.85.1.1 02:00:00:00:05:01 "$tmp/m.sock"
	memif_conf "$tmp/c.yaml" kvb-rc 0 client 10.85.1.2 02:00:00:00:05:02 "$tmp/m.sock"
fi

# The loopback port: the first free one from 16500 + PID % 2000, so that runs of this script
# from other trees at the same time never drive each other's servers; run() also checks that
# the listener is its own server's before loading it.
port=$((16500 + $$ % 2000))
while ss -Hltn "sport = :$port" | grep -q .; do port=$((port + 1)); done

# listening_by PID: true once PID's listener is on the loopback port (5 s at most).
listening_by() {
	for _ in $(seq 100); do
		ss -Hltnp "sport = :$port" | grep -q "pid=$1," && return 0
		kill -0 "$1" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

# kv-load's options for C connections: the warm-up and the measured amount, alike for all.
load_opts() { echo "--warmup $((2000 * $1)) --requests $requests --min-duration-ms $min_ms"; }

# echo: catnip's 64 B TCP echo over the same memif, driven by kv-load --proto echo (into
# $out/echo) and by tcp-pingpong (into $out/echo-pp), each line "0:1 1 RESULT ...".
# run_echo REP
run_echo() {
	local r p r32
	rm -f "$tmp/m.sock"
	CONFIG_PATH=$tmp/s.yaml nice -n $nice taskset -c 1 "$ex/tcp-echo" --server 10.85.1.1:16501 \
		>"$tmp/echo.out" 2>&1 &
	spid=$!
	for _ in 1 2 3 4 5; do # the server listens once the client brought the link up
		r=$(CONFIG_PATH=$tmp/c.yaml EX_CDF_FILE=$out/cdf-echo-get-c1-$1.txt \
			nice -n $nice taskset -c 0 timeout 120 "$kv" --server 10.85.1.1:16501 \
			--proto echo --value-size 64 --connections 1 $(load_opts 1) 2>&1 |
			grep '^RESULT') && break
		sleep 1
	done
	p=$(CONFIG_PATH=$tmp/c.yaml EX_CDF_FILE=$out/cdf-echo-pp-get-c1-$1.txt \
		nice -n $nice taskset -c 0 timeout 120 "$ex/tcp-pingpong" \
		--client 10.85.1.1:16501 --size 64 --requests "$requests" --warmup 2000 2>&1 |
		grep '^RESULT')
	r32=$(CONFIG_PATH=$tmp/c.yaml EX_CDF_FILE=$out/cdf-echo-get-c32-$1.txt \
		nice -n $nice taskset -c 0 timeout 120 "$kv" --server 10.85.1.1:16501 \
		--proto echo --value-size 64 --connections 32 $(load_opts 32) 2>&1 | grep '^RESULT')
	kill -INT $spid
	wait $spid
	spid=
	[ -n "$r" ] || { echo "FAIL: echo (kv-load)" >&2; failed=1; }
	[ -n "$p" ] || { echo "FAIL: echo (tcp-pingpong)" >&2; failed=1; }
	[ -n "$r" ] && echo "0:1 1 $r" >>"$out/echo"
	[ -n "$p" ] && echo "0:1 1 $p" >>"$out/echo-pp"
	[ -n "$r32" ] || { echo "FAIL: echo, 32 connections (kv-load)" >&2; failed=1; }
	[ -n "$r32" ] && echo "0:1 32 $r32" >>"$out/echo"
	[ -n "$r" ] && printf '%s\t%s\t%s\n' "GET c=1" "${label[echo]}" \
		"$(grep -o 'rps=[0-9.]*' <<<"$r" | cut -d= -f2)" >>"$out/throughput.txt"
	[ -n "$r32" ] && printf '%s\t%s\t%s\n' "GET c=32" "${label[echo]}" \
		"$(grep -o 'rps=[0-9.]*' <<<"$r32" | cut -d= -f2)" >>"$out/throughput.txt"
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
	env "${env[@]}" nice -n $nice taskset -c 1 "$bin" --port $port --bind $addr --protected-mode no --save "" \
		--logfile "$tmp/$v.log" >"$tmp/$v.out" 2>&1 &
	spid=$!
	if [ $v != catnip ] && ! listening_by $spid; then
		echo "FAIL: $v: the server does not listen on 127.0.0.1:$port: $(tail -2 "$tmp/$v.log")" >&2
		failed=1
		kill -KILL $spid 2>/dev/null
		wait $spid
		spid=
		return
	fi
	local first=(--populate) op
	for ratio in 0:1 1:0; do
		op='get'
		[ $ratio = 1:0 ] && op='set'
		for c in 1 32; do
			local r
			for _ in 1 2 3 4 5; do # catnip: the server listens once the client brought the link up
				r=$(env "${cenv[@]}" EX_CDF_FILE="$out/cdf-$v-$op-c$c-$2.txt" \
					nice -n $nice taskset -c 0 timeout 120 "$kv" --server $addr:$port \
					--connections $c --ratio $ratio --keys $keys "${first[@]}" \
					$(load_opts $c) 2>&1 | grep '^RESULT') && break
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
printf '%-8s %-4s %5s %10s %9s %9s %7s %9s  %s\n' variant op conns rps p50_us p99_us x_stock \
	idle/req "rps min-max"
for ratio in 0:1 1:0; do
	op=GET
	[ $ratio = 1:0 ] && op=SET
	for c in 1 32; do
		base=$(med stock $ratio $c rps)
		for v in $variants echo-pp; do
			rows=$(grep "^$ratio $c " "$out/$v" 2>/dev/null)
			[ -n "$rows" ] || continue
			rps=$(med $v $ratio $c rps) idle=-
			[ $v = echo-pp ] && rps=- # tcp-pingpong reports latency only
			# kv-load's idle polls per request: the median over the repetitions.
			[ $v = echo-pp ] || idle=$(awk '{for (i = 1; i <= NF; i++) {
				split($i, kv, "="); f[kv[1]] = kv[2]}
				printf "%.2f\n", f["n"] ? f["idle_polls"] / f["n"] : 0}' <<<"$rows" | median)
			spread=$(field rps <<<"$rows" | sort -n | sed -n '1p;$p' | paste -sd-)
			printf '%-8s %-4s %5s %10s %9s %9s %7s %9s  %s\n' $v $op $c "$rps" \
				"$(med $v $ratio $c p50_us)" "$(med $v $ratio $c p99_us)" \
				"$(has stock && awk "BEGIN{printf \"%.2f\", ${rps/-/0} / (${base:-0} ? $base : 1)}" || echo -)" \
				"$idle" "$spread"
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
	has stock && has catnap || continue
	goal "catnap epoll / stock requests/s, GET c=$c" "$(ratio_of catnap 0:1 $c)" '>=' 0.95
	goal "catnap epoll / stock requests/s, SET c=$c" "$(ratio_of catnap 1:0 $c)" '>=' 0.95
done
for c in 1 32; do
	has stock && has uring || continue
	goal "io_uring / stock requests/s, GET c=$c" "$(ratio_of uring 0:1 $c)" '>=' 1.1
	goal "io_uring / stock requests/s, SET c=$c" "$(ratio_of uring 1:0 $c)" '>=' 1.1
done
if has stock && has catnip; then
	goal "catnip / stock requests/s, GET c=32" "$(ratio_of catnip 0:1 32)" '>=' 3
	goal "catnip / stock requests/s, SET c=32" "$(ratio_of catnip 1:0 32)" '>=' 3
fi
if has echo && has catnip; then
	# Per repetition: the catnip GET c=1 run and the echo run just before it. The goal is
	# judged against the echo driven by kv-load (the same load generator); the difference to
	# the tcp-pingpong echo is printed as a reference.
	# diffs ECHO_VARIANT: catnip GET c=1 p50 - that echo's p50, one line per repetition
	diffs() {
		paste <(grep '^0:1 1 ' "$out/catnip" | field p50_us) \
			<(grep '^0:1 1 ' "$out/$1" | field p50_us) | awk 'NF == 2 {printf "%.2f\n", $1 - $2}'
	}
	d=$(diffs echo) dp=$(diffs echo-pp)
	kv_echo_report GET "$d" "$dp" "$(med echo 0:1 32 rps)" "$(med catnip 0:1 32 rps)"
fi

for op in get set; do
	for c in 1 32; do
		cdfs=()
		for v in $variants echo-pp; do # echo has get c=1 only; missing ones are skipped
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
