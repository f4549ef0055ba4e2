#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Instructions per round trip of catnip's 64 B ping-pong over net_memif, counted by valgrind's
# callgrind: repeatable where timings are not (a shared, loaded VM). One end runs under
# callgrind, the other natively, both busy-polling (the configuration of catnip-tcp.sh).
#
#   catnip-callgrind.sh BUILD_DIR [--proto tcp|udp] [--side client|server] [--requests N]
#                       [--top K] [--clients C] [--raw-peer]
#
# tcp: examples/tcp-pingpong --client against examples/tcp-echo --server; udp: udp-pingpong
# against udp-echo. --clients C (TCP): examples/tcp-echo --client with C connections (each
# sending N / C requests, one at a time; under callgrind: the server end does not start under
# valgrind, its EAL interrupt thread panics) against tcp-echo --server, so that many segments
# arrive per pass; the counts are then per request (transmit bursts per request show how well
# frames made in one pass share a burst). The side under callgrind is 20-50 times slower than its peer, so the answer
# it waits for is nearly always there at its first poll; the few empty scheduler passes that
# remain are printed (passes per round trip, with the cost of a pass). Prints the instructions
# spent inside the data-path calls (demi_push, demi_pop, demi_wait*, demi_sga*) per round trip,
# then the top K functions by inclusive and self cost per round trip. The profile
# is kept in BUILD_DIR/bench-callgrind/.
#
# --raw-peer (UDP): the other end is tests/bench/raw-memif-pingpong instead of catnip (as
# catnip-udp.sh --split launches it): --side server runs udp-echo under callgrind against the
# raw --udp-client, --side client runs udp-pingpong under callgrind against the raw
# --udp-server. Each end's count is then its own, with no catnip peer whose pace or answers
# could shape it. Only processes started here are signalled, by PID.
# Needs DPDK and valgrind (exit 77).

set -u
usage() {
	echo "usage: $0 BUILD_DIR [--proto tcp|udp] [--side client|server] [--requests N] [--top K]" \
		"[--clients C] [--raw-peer]" >&2
	exit 2
}
[ $# -ge 1 ] || usage
build=$1
shift
proto=tcp side=client requests=20000 top=25 clients=0 raw_peer=
while [ $# -gt 0 ]; do
	if [ "$1" = --raw-peer ]; then
		raw_peer=1
		shift
		continue
	fi
	[ $# -ge 2 ] || usage
	case $1 in
	--proto) proto=$2 ;;
	--side) side=$2 ;;
	--requests) requests=$2 ;;
	--top) top=$2 ;;
	--clients) clients=$2 ;;
	*) usage ;;
	esac
	shift 2
done
command -v valgrind >/dev/null || { echo "SKIP: valgrind not installed"; exit 77; }
bench=bench-callgrind
size=64
. "$(dirname "$0")/memif-bench.sh"
memif_bench_setup 10.81.0
# valgrind does not follow DPDK's hugepage memory through memfd reliably: no hugepages here
# (instruction counts do not depend on them).
eal_mem='"--no-huge", "-m", "MEM"'
# The end under valgrind takes many seconds to start (more on a loaded machine): the native
# end waits for its link longer than the default 5 s.
memif_bench_conf "" "" 256 "  link_timeout_ms: 120000"
case $proto in
tcp) srv=tcp-echo cli=tcp-pingpong ;;
udp) srv=udp-echo cli=udp-pingpong ;;
*) usage ;;
esac
# The raw program speaks UDP only, and has no many-connection client.
[ -z "$raw_peer" ] || { [ "$proto" = udp ] && [ "$clients" = 0 ]; } || usage
prof=$out/callgrind.$proto-$side${raw_peer:+-rawpeer}
# Only what the data path's calls cost: setup (EAL, PMD loading) and teardown are left out.
cg=(valgrind --tool=callgrind --callgrind-out-file="$prof" --dump-instr=no --trace-children=no
	--collect-atstart=no)
# Exact names: a toggle is undone by a nested function that matches too (demi_wait_any.part.0).
for f in demi_push demi_pushto demi_pop demi_wait demi_wait_any demi_wait_next_n demi_sgaalloc \
	demi_sgafree; do
	cg+=(--toggle-collect=$f)
done
s_pre=() c_pre=()
if [ "$side" = server ]; then s_pre=("${cg[@]}"); else c_pre=("${cg[@]}"); fi

# Waits (up to 300 s) until process PID uses less than a fifth of a core over half a second:
# a catnip end under valgrind has done its CPU-bound setup and waits for its link.
wait_idle() {
	local u0 s0 u1 s1 _x
	for _ in $(seq 600); do
		read -r _x _x _x _x _x _x _x _x _x _x _x _x _x u0 s0 _x <"/proc/$1/stat" || return
		read -rt 0.5 <>"$dir/tick"
		read -r _x _x _x _x _x _x _x _x _x _x _x _x _x u1 s1 _x <"/proc/$1/stat" || return
		[ $((u1 + s1 - u0 - s0)) -lt 10 ] && return # clock ticks of 10 ms
	done
}
sock=$dir/catnip.sock
rm -f "$sock"
if [ -n "$raw_peer" ] && [ "$side" = server ]; then
	# The raw client is the memif server here, started once catnip (its memif client, under
	# valgrind) waits for its link: as a memif client the raw program restarts its port every
	# 200 ms until its link is up, which cuts short the handshake of a server under valgrind
	# (whose EAL interrupt thread then panics), and as a server it waits 60 s, less than
	# valgrind may take to start. catnip's memif client retries at its own pace.
	sed 's/role=server/role=client/' "$dir/server.yaml" >"$dir/server-mc.yaml"
	CONFIG_PATH=$dir/server-mc.yaml DEMI_LOG=info taskset -c 1 "${s_pre[@]}" "$ex/$srv" \
		--server $subnet.1:7 >"$out/server.log" 2>&1 &
	pid=$!
	wait_idle $pid
	raw_eal 0 rc server "$sock" ",mac=02:00:00:00:00:02"
	for try in 1 2 3 4 5; do # a link that did not come up in the raw end's 60 s: again
		rm -f "$sock"
		run_client "$out/client.log" taskset -c 0 "$raw" "${raw_eal_args[@]}" -- \
			--udp-client --ip $subnet.2 --to $subnet.1:7 --requests "$requests" \
			--warmup 0 --size $size
		rc=$?
		grep -q "link never came up" "$out/client.log" || break
		cp "$out/client.log" "$out/client-$try.log"
	done
else
	if [ -n "$raw_peer" ]; then
		raw_server "$sock" "$out/server.log" ",mac=02:00:00:00:00:01" --udp-server \
			--ip $subnet.1
	else
		CONFIG_PATH=$dir/server.yaml DEMI_LOG=info taskset -c 1 "${s_pre[@]}" "$ex/$srv" \
			--server $subnet.1:7 >"$out/server.log" 2>&1 &
		pid=$!
		for _ in $(seq 300); do # valgrind starts slowly
			[ -S "$sock" ] && break
			sleep 0.1
		done
		wait_socket "$sock"
	fi
	if [ "$clients" -gt 0 ]; then
		[ "$proto" = tcp ] || usage
		CONFIG_PATH=$dir/client.yaml DEMI_LOG=info timeout 600 taskset -c 0 "${c_pre[@]}" \
			"$ex/tcp-echo" --client $subnet.1:7 --clients "$clients" --size $size \
			--requests $((requests / clients)) >"$out/client.log" 2>&1
		rc=$?
		requests=$((requests / clients * clients))
	else
		CONFIG_PATH=$dir/client.yaml DEMI_LOG=info timeout 600 taskset -c 0 "${c_pre[@]}" \
			"$ex/$cli" --client $subnet.1:7 --size $size --requests "$requests" \
			--warmup 0 >"$out/client.log" 2>&1
		rc=$?
	fi
fi
kill -INT $pid
wait $pid
pid=
[ $rc = 0 ] || { echo "$0: client failed" >&2; tail "$out/client.log" >&2; exit 1; }
grep '^RESULT' "$out/client.log"
# Round trips: the requests plus the connection's setup and the example's own warm-up.
total=$(callgrind_annotate "$prof" 2>/dev/null | sed -n 's/^ *\([0-9,]*\) .*PROGRAM TOTALS.*/\1/p' |
	tr -d ,)
# How often the functions that mark a scheduler pass and a device poll were called: the
# "calls=" lines of the profile, under the callee's (compressed) name.
calls() {
	python3 - "$prof" "$@" <<'EOP'
import re, sys
names, counts, callee = {}, {}, None
for line in open(sys.argv[1]):
    m = re.match(r"(c?)fn=\((\d+)\)(?: (.*))?", line)
    if m:
        if m.group(3):
            names[m.group(2)] = m.group(3).strip()
        if m.group(1):
            callee = names.get(m.group(2))
    elif line.startswith("calls=") and callee:
        counts[callee] = counts.get(callee, 0) + int(line[6:].split()[0])
for f in sys.argv[2:]:
    print(f, counts.get(f, 0))
EOP
}
echo "$proto $side: $total instructions in all, $((total / requests)) per round trip" \
	"($requests round trips)"
calls demi__runtime_pass dpdk_tx_burst dpdk_tx_burst.lto_priv.0 clock_gettime __clock_gettime write |
	awk -v n="$requests" '{printf "  calls to %s: %.2f per round trip\n", $1, $2 / n}'
echo "(profile: $prof; callgrind_annotate --inclusive=yes $prof)"
echo "Top $top functions, inclusive instructions per round trip:"
callgrind_annotate --inclusive=yes "$prof" 2>/dev/null | awk -v n="$requests" -v k="$top" \
	'/^ *[0-9,]+ .*:/ && c < k {x=$1; gsub(",", "", x); $1=""; printf "%10.1f %s\n", x/n, $0; c++}'
echo "Top $top functions, self instructions per round trip:"
callgrind_annotate "$prof" 2>/dev/null | awk -v n="$requests" -v k="$top" \
	'/^ *[0-9,]+ .*:/ && c < k {x=$1; gsub(",", "", x); $1=""; printf "%10.1f %s\n", x/n, $0; c++}'
