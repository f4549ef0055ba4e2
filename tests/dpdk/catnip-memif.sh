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
CONFIG_PATH=$dir/s.yaml DEMI_LOG=info "$ex/udp-echo" --server 10.79.1.1:7 >"$dir/s.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
	[ -S "$dir/m.sock" ] && break
	kill -0 $pid 2>/dev/null || break
	sleep 0.1
done
rc=0
run() {
	if ! CONFIG_PATH=$dir/c.yaml timeout 60 "$@" >"$dir/c.log" 2>&1; then
		echo "FAIL: $*"
		cat "$dir/c.log"
		rc=1
	else
		grep RESULT "$dir/c.log"
	fi
}
run "$ex/udp-echo" --client 10.79.1.1:7 --clients 16 --size 1472 --requests 300
run "$ex/udp-echo" --client 10.79.1.1:7 --clients 64 --size 1 --requests 200
run "$ex/udp-pingpong" --client 10.79.1.1:7 --size 64 --requests 20000 --warmup 1000
kill -INT $pid
wait $pid
src=$?
pid=
grep -o "catnip: counters: .*" "$dir/s.log"
[ $src = 0 ] || { echo "FAIL: server exited with $src"; tail -20 "$dir/s.log"; rc=1; }
[ $rc = 0 ] && echo "PASS: UDP examples over memif between two catnip processes"
exit $rc
