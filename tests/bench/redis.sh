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
# Variants are interleaved per repetition (stock catnap uring catnip stock ...) so a shared
# machine's noise spreads over all; the table gives the median over the repetitions of
# requests/s, p50 and p99, and each variant's requests/s relative to stock's.
#   usage: redis.sh BUILD_DIR [--reps K] [--requests N] [--no-catnip]
# Raw results: BUILD_DIR/bench-redis/. Exit 0 when every run succeeded, 1 otherwise.
set -u
build=${1:?usage: redis.sh BUILD_DIR [--reps K] [--requests N] [--no-catnip]}
shift
reps=3 requests=100000 catnip=1
while [ $# -gt 0 ]; do
	case $1 in
	--reps) reps=$2; shift 2 ;;
	--requests) requests=$2; shift 2 ;;
	--no-catnip) catnip=0; shift ;;
	*) echo "unknown option $1" >&2; exit 2 ;;
	esac
done
port_bin=$build/examples/redis/redis-server kv=$build/examples/kv-load
stock=$(command -v redis-server) || { echo "no stock redis-server" >&2; exit 1; }
[ -x "$port_bin" ] && [ -x "$kv" ] || { echo "build first: ninja -C $build redis examples/kv-load" >&2; exit 1; }
out=$build/bench-redis
rm -rf "$out"
mkdir -p "$out"
tmp=$(mktemp -d /tmp/redis-bench-XXXXXX)
spid=
trap '[ -n "$spid" ] && kill -KILL $spid 2>/dev/null; rm -rf "$tmp"' EXIT
trap '' PIPE
failed=0
variants="stock catnap uring"
[ $catnip = 1 ] && variants+=" catnip"
. "$(dirname "$0")/../dpdk/memif-conf.sh"
memif_conf "$tmp/s.yaml" redis-bs 1 server 10.85.1.1 02:00:00:00:05:01 "$tmp/m.sock"
memif_conf "$tmp/c.yaml" redis-bc 0 client 10.85.1.2 02:00:00:00:05:02 "$tmp/m.sock"

# run VARIANT REP: one server, the four loads against it; RESULT lines into $out/VARIANT.
run() {
	local v=$1 addr=127.0.0.1 env=() cenv=() bin=$port_bin
	case $v in
	stock) bin=$stock ;;
	uring) env=(CATNAP_ENGINE=io_uring) ;;
	catnip) env=(CONFIG_PATH=$tmp/s.yaml) cenv=(CONFIG_PATH=$tmp/c.yaml) addr=10.85.1.1 ;;
	esac
	rm -f "$tmp/m.sock"
	env "${env[@]}" taskset -c 1 "$bin" --port 16500 --bind $addr --protected-mode no --save "" \
		--logfile "$tmp/$v.log" >"$tmp/$v.out" 2>&1 &
	spid=$!
	local first=(--populate)
	for ratio in 0:1 1:0; do
		for c in 1 32; do
			local r
			for _ in 1 2 3 4 5; do # catnip: the server listens once the client brought the link up
				r=$(env "${cenv[@]}" taskset -c 0 timeout 120 "$kv" --server $addr:16500 \
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
printf '%-8s %-4s %5s %10s %9s %9s %7s\n' variant op conns rps p50_us p99_us x_stock
for ratio in 0:1 1:0; do
	op=GET
	[ $ratio = 1:0 ] && op=SET
	for c in 1 32; do
		base=$(grep "^$ratio $c " "$out/stock" | field rps | median)
		for v in $variants; do
			rows=$(grep "^$ratio $c " "$out/$v" 2>/dev/null)
			rps=$(field rps <<<"$rows" | median)
			printf '%-8s %-4s %5s %10s %9s %9s %7s\n' $v $op $c "$rps" \
				"$(field p50_us <<<"$rows" | median)" "$(field p99_us <<<"$rows" | median)" \
				"$(awk "BEGIN{printf \"%.2f\", ${rps:-0} / (${base:-0} ? $base : 1)}")"
		done
	done
done
exit $failed
