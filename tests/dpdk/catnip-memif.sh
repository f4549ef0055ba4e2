#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Two catnip processes joined by net_memif run the UDP examples unchanged (LIBOS=catnip through
# CONFIG_PATH): udp-echo with many clients and sizes up to the MTU (byte-exact; the server
# echoes zero-copy, the popped buffer pushed back), and udp-pingpong.
#   usage: catnip-memif.sh BUILD_DIR      exit 0 pass, 1 fail, 77 skip (with the reason)
set -u
ex=$1/examples
[ -x "$ex/udp-echo" ] || { echo "SKIP: examples not built"; exit 77; }
dir=$(mktemp -d)
pid=
cleanup() {
	[ -n "$pid" ] && kill -INT "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT
. "$(dirname "$0")/memif-conf.sh"
memif_conf "$dir/s.yaml" cms 1 server 10.79.1.1 02:00:00:00:01:01 "$dir/m.sock"
memif_conf "$dir/c.yaml" cmc 0 client 10.79.1.2 02:00:00:00:01:02 "$dir/m.sock"
rc=0
# The server in the background, its log in $dir/s$1.log: start_server N
start_server() {
	rm -f "$dir/m.sock"
	CONFIG_PATH=$dir/s.yaml DEMI_LOG=info "$ex/udp-echo" --server 10.79.1.1:7 >"$dir/s$1.log" 2>&1 &
	pid=$!
	for _ in $(seq 100); do
		[ -S "$dir/m.sock" ] && break
		kill -0 $pid 2>/dev/null || break
		sleep 0.1
	done
}
stop_server() {
	kill -INT $pid
	wait $pid
	local src=$?
	pid=
	grep -o "catnip: counters: .*" "$dir/s$1.log"
	[ $src = 0 ] || { echo "FAIL: server exited with $src"; tail -20 "$dir/s$1.log"; rc=1; }
}
run() {
	if ! CONFIG_PATH=$dir/c.yaml timeout 60 "$@" >"$dir/c.log" 2>&1; then
		echo "FAIL: $*"
		cat "$dir/c.log"
		rc=1
	else
		grep RESULT "$dir/c.log"
	fi
}
start_server 1
run "$ex/udp-echo" --client 10.79.1.1:7 --clients 16 --size 1472 --requests 300
run "$ex/udp-echo" --client 10.79.1.1:7 --clients 64 --size 1 --requests 200
stop_server 1
# With many clients the server's waits return several completions at once, and the echoes it
# pushes while working through them leave together at its next wait (lib/wait.c,
# defer_end_call): fewer transmit bursts than frames. Each echo flushed alone: one each.
read -r frames bursts < <(sed -n 's/.* tx \([0-9]*\) frames in \([0-9]*\) bursts.*/\1 \2/p' \
	"$dir/s1.log")
echo "server with many clients: tx $frames frames in $bursts bursts"
if [ -z "$bursts" ] || [ "$bursts" = 0 ] || [ $((frames * 10 / bursts)) -lt 13 ]; then
	echo "FAIL: fewer than 1.3 frames per transmit burst with 16-64 clients"
	grep -o "catnip: device .*" "$dir/s1.log"
	rc=1
fi
start_server 2
run "$ex/udp-pingpong" --client 10.79.1.1:7 --size 64 --requests 20000 --warmup 1000
stop_server 2
[ $rc = 0 ] && echo "PASS: UDP examples over memif between two catnip processes"
exit $rc
