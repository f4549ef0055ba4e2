#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Receive memory against connections that are never read (issue 12), over a real device: a
# catnip server (examples/tcp-push-pop --server, LIBOS=catnip) on a DPDK net_tap port, the
# Linux kernel as its peers in a network namespace made for the test.
#   loaded:   the server holds its first HOGS (100) connections open and never pops them
#             (--ignore); Linux pushes into each until its socket would block, so their
#             data (up to a receive window each, more than the port's receive buffers hold
#             together) sits in catnip. Then one Linux connection (examples/tcp-push-pop
#             --client on kernel sockets, LIBOS=catnap) pushes MIB MiB, which the server reads.
#   alone:    the same reader against a server with no other connection.
# Rounds alternate alone and loaded (ROUNDS each, interleaved: the machine is shared and
# noisy); the median loaded throughput must be at least half the median alone, the server
# must have reported receive memory pressure in every loaded round (else the hogs held
# nothing and the test proved nothing), and every server must exit 0 on SIGINT.
#   usage: catnip-rcvmem-tap.sh BUILD_DIR      exit 0 pass, 1 fail, 77 skip (with the reason)
set -u
build=$1
ex=$build/examples
. "$(dirname "$0")/tap-netns.sh"
command -v python3 >/dev/null || skip "no python3"
[ -x "$ex/tcp-push-pop" ] || skip "examples not built"
hogs=${HOGS:-100} mib=${MIB:-64} rounds=${ROUNDS:-3}
# The bound on loaded / alone. Under the sanitizers the server is bound by its own CPU, which
# the 100 connections' ACKs and copies share with the reader (ratios 0.45-0.96 seen there
# against 0.75-1.14 without): the bound is then 0.3, still far from the stall (0) that the
# budget prevents.
min_ratio=${MIN_RATIO:-0.5}
if grep -q '"name": "b_sanitize", "value": "address' "$build/meson-info/intro-buildoptions.json" 2>/dev/null; then
	min_ratio=${MIN_RATIO:-0.3}
fi

tap_netns rm 10.83.0.1 10.83.0.2
lin=10.83.0.1 cat=10.83.0.2

# The connections nobody reads: connect them all (in order, so that they are the server's
# first accepts), fill each until the kernel would block, then hold them until killed.
cat >"$dir/hogs.py" <<'EOP'
import socket, sys, time
addr, n = (sys.argv[1], int(sys.argv[2])), int(sys.argv[3])
socks, sent, chunk = [], 0, b"h" * 65536
for _ in range(n):
    s = socket.create_connection(addr, timeout=10)
    s.setblocking(False)
    socks.append(s)
deadline = time.time() + 2
while time.time() < deadline:
    for s in socks:
        try:
            sent += s.send(chunk)
        except BlockingIOError:
            pass
    time.sleep(0.01)
print("hogs: %d connections, %d bytes sent" % (n, sent), flush=True)
time.sleep(3600)
EOP

server() { # LOG ARGS...
	local log=$1
	shift
	start_catnip_server "$log" "tcp push-pop server on" "$ex/tcp-push-pop" --server "$cat:7" "$@"
}
server_stop() { # LOG
	local src
	kill -INT "$pid"
	wait "$pid"
	src=$?
	pid=
	[ $src = 0 ] || fail "the server exited with $src" "$1"
}
# One reader run: prints the server's rate for it (MB/s) or nothing.
reader() { # LOG
	nsx env LIBOS=catnap timeout 120 "$ex/tcp-push-pop" --client "$cat:7" --size 65536 \
		--requests $((mib * 16)) --timeout-ms 30000 >"$1.client" 2>&1 ||
		fail "the reader failed" "$1.client"
	for _ in $(seq 50); do
		grep -q "^RESULT.*role=server" "$1" && break
		sleep 0.1
	done
	grep "^RESULT.*role=server" "$1" | tail -1 | grep -o "mb_s=[0-9.]*" | cut -d= -f2
}

alone=() loaded=()
for r in $(seq "$rounds"); do
	server "$dir/alone$r.log"
	a=$(reader "$dir/alone$r.log")
	server_stop "$dir/alone$r.log"
	server "$dir/loaded$r.log" --ignore "$hogs"
	nsx_bg python3 "$dir/hogs.py" "$cat" 7 "$hogs" >"$dir/hogs$r.log" 2>&1
	hp=$!
	bg_pids="$bg_pids $hp"
	for _ in $(seq 100); do
		grep -q "^hogs:" "$dir/hogs$r.log" && break
		kill -0 $hp 2>/dev/null || break
		sleep 0.1
	done
	grep -q "^hogs:" "$dir/hogs$r.log" || fail "the unread connections did not start" "$dir/hogs$r.log"
	l=$(reader "$dir/loaded$r.log")
	kill $hp 2>/dev/null
	wait $hp 2>/dev/null
	bg_pids=${bg_pids% $hp}
	server_stop "$dir/loaded$r.log"
	press=$(tcp_counters "$dir/loaded$r.log" | grep -o " tcp_mem_pressure=[0-9]*" | cut -d= -f2)
	echo "round $r: alone ${a:-?} MB/s, beside $hogs unread connections ${l:-?} MB/s;" \
		"$(head -1 "$dir/hogs$r.log" | cut -d: -f2 | sed "s/^ //"); pressure entered ${press:-?} times"
	[ "${press:-0}" -ge 1 ] || fail "round $r: no receive memory pressure (the unread data held nothing?)" "$dir/loaded$r.log"
	[ -n "$a" ] && alone+=("$a")
	[ -n "$l" ] && loaded+=("$l")
done
tcp_counters "$dir/loaded$rounds.log"
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
if [ ${#alone[@]} != "$rounds" ] || [ ${#loaded[@]} != "$rounds" ]; then
	fail "missing results: alone ${#alone[@]}, loaded ${#loaded[@]} of $rounds"
else
	ma=$(median "${alone[@]}") ml=$(median "${loaded[@]}")
	ratio=$(awk -v a="$ma" -v l="$ml" 'BEGIN { printf "%.2f", l / a }')
	echo "median: alone $ma MB/s, beside $hogs unread connections $ml MB/s: ratio $ratio (at least $min_ratio)"
	awk -v r="$ratio" -v m="$min_ratio" 'BEGIN { exit !(r >= m) }' ||
		fail "the reader kept less than $min_ratio of its throughput"
fi
[ $rc = 0 ] && echo PASS
exit $rc
