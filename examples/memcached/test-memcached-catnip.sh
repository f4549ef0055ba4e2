#!/bin/bash
# SPDX-License-Identifier: MIT
#
# memcached on libdemikernel over catnip (docs/memcached.md), -t 1:
#   tap    the port on a DPDK net_tap in a network namespace made for the test
#          (tests/dpdk/tap-netns.sh), Debian's tools on the Linux side of the tap: memccapable
#          (every case stock memcached passes, stock running in the same namespace),
#          memcached-checks.py's byte-exact transcripts against stock and its 1000-connection
#          and vanished-client checks, memcaslap with verification; SIGINT exits 0.
#   memif  two catnip processes over net_memif (server on core 1, client on core 0): kv-load on
#          catnip against the port, 64 B with 1 and 32 connections, then 1 MB values.
#   usage: test-memcached-catnip.sh tap|memif MEMCACHED KV_LOAD TESTS_DPDK_DIR
# Exit 0 pass, 1 fail, 77 skip (no root, tap, DPDK device or client program).
set -u
what=${1:?usage: test-memcached-catnip.sh tap|memif MEMCACHED KV_LOAD TESTS_DPDK_DIR}
server=${2:?} kvload=${3:?} dpdk=${4:?}
here=$(cd "$(dirname "$0")" && pwd)
checks="$here/memcached-checks.py"
# Sanitizer builds: memcached's own leak at exit is not ours to report (lsan.supp).
export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$here/lsan.supp"
[ -x "$server" ] || { echo "FAIL: $server was not built (ninja -C build memcached)"; exit 1; }
# shellcheck source=../../tests/dpdk/tap-netns.sh
. "$dpdk/tap-netns.sh"
[ "$(id -u)" = 0 ] || skip "needs root (DPDK, namespaces)"

if [ "$what" = tap ]; then
	for p in memccapable memcaslap python3 memcached; do
		command -v $p >/dev/null || skip "$p is missing (bash tests/deps.sh installs it)"
	done
	tap_netns memc 10.84.1.1 10.84.1.2
	# (ip netns exec execs memcached: $! is its PID, which the cleanup must reach)
	ip netns exec "$ns" memcached -u root -l 10.84.1.1 -p 11212 -U 0 -t 1 >"$dir/stock.log" 2>&1 &
	bg_pids=$!
	start_catnip_server "$dir/port.log" "worker listening" "$server" -u root -p 11211 -U 0 -t 1 -v
	a=10.84.1.2:11211
	nsx memccapable -h 10.84.1.1 -p 11212 >"$dir/stock.out" 2>&1
	nsx memccapable -h 10.84.1.2 -p 11211 >"$dir/port.out" 2>&1
	ns_=$(grep -c '\[pass\]' "$dir/stock.out") np=$(grep -c '\[pass\]' "$dir/port.out")
	missing=$(comm -23 <(grep '\[pass\]' "$dir/stock.out" | sort) <(grep '\[pass\]' "$dir/port.out" | sort))
	if [ "$ns_" -gt 40 ] && [ -z "$missing" ]; then
		echo "ok   memccapable: $np cases pass on the port (catnip), $ns_ on stock"
	else
		fail "memccapable: stock $ns_, the port misses: $missing $(grep -v '\[pass\]' "$dir/port.out")"
	fi
	nsx python3 "$checks" compare 10.84.1.1:11212 $a || fail "replies differ from stock's"
	nsx python3 "$checks" conns $a "$pid" || fail "conns"
	nsx python3 "$checks" killed $a "$pid" || fail "killed"
	nsx memcaslap -s $a -T 2 -c 32 -t 4s -v 0.1 >"$dir/caslap.out" 2>&1 || fail "memcaslap exited with $?" "$dir/caslap.out"
	if grep -q '^verify_failed: 0$' "$dir/caslap.out"; then
		echo "ok   memcaslap: $(sed -n 's/.*\(Ops: [0-9]*\).*\(TPS: [0-9]*\).*/\1 \2/p' "$dir/caslap.out" | tail -1), verify_failed: 0"
	else
		fail "memcaslap: $(grep -i verify "$dir/caslap.out")" "$dir/caslap.out"
	fi
	kill -0 "$pid" 2>/dev/null || fail "the port died" "$dir/port.log"
	kill -INT "$pid"
	wait "$pid"
	src=$?
	pid=
	[ $src = 0 ] && echo "ok   SIGINT: exit 0" || fail "the port exited with $src" "$dir/port.log"
	exit $rc
fi

[ "$what" = memif ] || { echo "usage: test-memcached-catnip.sh tap|memif ..."; exit 1; }
dir=$(mktemp -d)
trap '[ -n "$pid" ] && kill -INT "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$dir"' EXIT
trap '' PIPE
pid=
. "$here/memif-pair.sh"
memif_pair "$dir" memc 10.85.1
memif_server "$dir" "$dir/port.log" "$server" -u root -p 11211 -U 0 -t 1 -v
pid=$memif_pid
if [ ! -S "$dir/m.sock" ]; then
	grep -qi "no such device\|ENODEV\|not supported" "$dir/port.log" &&
		skip "no memif device: $(tail -1 "$dir/port.log")"
	fail "the port did not start" "$dir/port.log"
	exit 1
fi
load() { # NAME ARGS...
	local name=$1
	shift
	if CONFIG_PATH=$dir/c.yaml timeout 120 "$kvload" --server 10.85.1.1:11211 --proto memcache \
		"$@" >"$dir/kv.out" 2>&1; then
		echo "ok   $name: $(grep RESULT "$dir/kv.out")"
	else
		fail "$name" "$dir/kv.out"
	fi
}
load "1 connection, 64 B" --populate --keys 2000 --requests 50000 --connections 1
load "32 connections, 64 B" --populate --keys 2000 --requests 100000 --connections 32
load "1 MB values" --populate --keys 20 --requests 200 --value-size 1000000 --pipeline 4 --ratio 1:1
kill -INT $pid
wait $pid
src=$?
pid=
[ $src = 0 ] && echo "ok   SIGINT: exit 0" || fail "the port exited with $src" "$dir/port.log"
exit $rc
