#!/bin/bash
# SPDX-License-Identifier: MIT
#
# memcached on libdemikernel against stock memcached, in one run (docs/memcached.md), with the
# same load generator (examples/kv-load --proto memcache, 64 B values, SET:GET 1:10, every reply
# checked):
#   stock        Debian's memcached -t 1 on the kernel, kv-load on catnap (127.0.0.1)
#   epoll        the port -t 1 on catnap's epoll engine, kv-load on catnap (127.0.0.1)
#   io_uring     the port -t 1 on catnap's io_uring engine, kv-load on catnap (127.0.0.1)
#   catnip       the port -t 1 on catnip over net_memif (core 1), kv-load on catnip (core 0)
# each with 1 connection and with 32, K rounds interleaved (stock epoll io_uring catnip stock
# ...) so a shared machine's noise spreads over all; the table gives the median of each.
# catnip needs root and DPDK (left out otherwise, with the reason).
#
#   usage: memcached.sh BUILD_DIR [--reps K] [--requests N]
# Needs the port built (ninja -C BUILD_DIR memcached). Exit 0 when every run succeeded, 1 when
# one failed. Raw results: BUILD_DIR/bench-memcached/, with the pictures latency-cdf-c1.png and
# latency-cdf-c32.png (each variant's request latency distribution, last round) and
# throughput.png (requests/s, median and min-max over the rounds).
set -u
build=${1:?usage: memcached.sh BUILD_DIR [--reps K] [--requests N]}
shift
reps=3 requests=100000
while [ $# -ge 2 ]; do
	case $1 in
	--reps) reps=$2 ;;
	--requests) requests=$2 ;;
	*) echo "usage: memcached.sh BUILD_DIR [--reps K] [--requests N]" >&2; exit 2 ;;
	esac
	shift 2
done
. "$(dirname "$0")/build-info.sh"
. "$(dirname "$0")/plot.sh"
bench_build_info "$build"
port_bin=$build/examples/memcached/memcached
kv=$build/examples/kv-load
stock=$(command -v memcached) || { echo "no stock memcached (tests/deps.sh)"; exit 1; }
[ -x "$port_bin" ] || { echo "build the port first: ninja -C $build memcached"; exit 1; }
out=$build/bench-memcached
rm -rf "$out"
mkdir -p "$out"
tmp=$(mktemp -d)
spid=
cleanup() {
	[ -n "$spid" ] && kill "$spid" 2>/dev/null && wait "$spid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap '' PIPE
rc=0
variants="stock epoll io_uring"
if [ "$(id -u)" = 0 ] && grep -q "librte_" <(ldd "$build/libdemikernel.so" 2>/dev/null); then
	variants="$variants catnip"
else
	echo "note: catnip left out (needs root and a build with DPDK)"
fi
# The variants' names in the pictures.
declare -A label=([stock]="stock (kernel)" [epoll]="port, catnap epoll"
	[io_uring]="port, catnap io_uring" [catnip]="port, catnip (memif)")
. "$(dirname "$0")/../../examples/memcached/memif-pair.sh"
memif_pair "$tmp" membench 10.86.1

# start VARIANT: the server, on core 1; sets spid, addr and the client's environment (cenv).
start() {
	local p=$((21300 + $$ % 500))
	addr=127.0.0.1:$p
	cenv=(LIBOS=catnap CATNAP_ENGINE=epoll)
	case $1 in
	stock) taskset -c 1 "$stock" -u root -l 127.0.0.1 -p $p -U 0 -t 1 >"$tmp/server.log" 2>&1 & ;;
	epoll | io_uring)
		LIBOS=catnap CATNAP_ENGINE=$1 taskset -c 1 "$port_bin" -u root -l 127.0.0.1 -p $p -U 0 -t 1 \
			>"$tmp/server.log" 2>&1 &
		;;
	catnip)
		addr=10.86.1.1:11211
		cenv=(CONFIG_PATH="$tmp/c.yaml")
		memif_server "$tmp" "$tmp/server.log" "$port_bin" -u root -p 11211 -U 0 -t 1
		spid=$memif_pid
		[ -S "$tmp/m.sock" ] && return 0
		;;
	esac
	[ "$1" = catnip ] || spid=$!
	for _ in $(seq 100); do
		[ "$1" = catnip ] && break
		[ -n "$(ss -Hltn "sport = :$p" 2>/dev/null)" ] && return 0
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

for r in $(seq "$reps"); do
	for v in $variants; do
		start "$v" || { rc=1; stop; continue; }
		for c in 1 32; do
			f=$out/$v-c$c-r$r.txt
			if env "${cenv[@]}" EX_CDF_FILE="$out/cdf-$v-c$c-r$r.txt" \
				taskset -c 0 timeout 300 "$kv" --server "$addr" --proto memcache \
				--populate --keys 10000 --requests "$requests" --warmup 5000 --connections $c \
				>"$f" 2>&1; then
				echo "$v c=$c round $r: $(grep RESULT "$f" | grep -o 'rps=[0-9]* p50_us=[0-9.]*')"
				printf '%s\t%s\t%s\n' "$c connection$([ $c = 1 ] || echo s)" "${label[$v]}" \
					"$(grep RESULT "$f" | grep -o 'rps=[0-9.]*' | cut -d= -f2)" \
					>>"$out/throughput.txt"
			else
				echo "FAIL: $v c=$c round $r: $(tail -2 "$f")"
				rc=1
			fi
		done
		stop
	done
done

# The median of each variant's rps and p50 over the rounds.
echo
printf '%-9s %5s %12s %10s %10s\n' variant conns "req/s" "p50 (us)" "vs stock"
for c in 1 32; do
	base=
	for v in $variants; do
		read -r rps p50 < <(cat "$out/$v-c$c-r"*.txt 2>/dev/null | python3 -c '
import re, statistics, sys
r = [(float(m.group(1)), float(m.group(2))) for m in
     re.finditer(r"RESULT .*? rps=([0-9.]+) p50_us=([0-9.]+)", sys.stdin.read())]
print("%d %.1f" % (statistics.median(x[0] for x in r), statistics.median(x[1] for x in r))
      if r else "0 0")')
		[ "$v" = stock ] && base=$rps
		ratio=$(python3 -c "print('%.2fx' % ($rps / $base) if ${base:-0} else '-')")
		printf '%-9s %5d %12d %10s %10s\n' "$v" $c "$rps" "$p50" "$ratio"
	done
done

for c in 1 32; do
	cdfs=()
	for v in $variants; do
		cdfs+=("${label[$v]}" "$out/cdf-$v-c$c-r$reps.txt")
	done
	conns="$c connection"
	[ $c = 1 ] || conns+=s
	bench_plot_cdfs "$out/latency-cdf-c$c.png" \
		"memcached, 64 B values, SET:GET 1:10, $conns: round $reps of $reps" "${cdfs[@]}"
done
bench_plot_bars "$out/throughput.png" \
	"memcached, 64 B values, SET:GET 1:10, kv-load: $reps rounds" "requests/s" \
	"$out/throughput.txt"
exit $rc
