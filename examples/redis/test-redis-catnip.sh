#!/bin/bash
# SPDX-License-Identifier: MIT
#
# redis-server on catnip, driven by kv-load on catnip, the two joined by net_memif: no kernel
# on the data path at either end (server on core 1, client on core 0, like
# tests/dpdk/catnip-tcp-memif.sh). Redis's control plane stays on the kernel through a unix
# socket (redis-cli -s): a kernel fd in the same event loop as the catnip queues.
#   1. kv-load: 8 connections x pipeline 4, 64 B values, every reply checked;
#   2. BGSAVE (a fork child next to a DPDK process) while kv-load runs, then the server still
#      serves and the key count is right;
#   3. kv-load with 300 kB values (replies of many segments, pushes held by the send queue);
#   4. SHUTDOWN over the unix socket: exit 0.
#   usage: test-redis-catnip.sh REDIS_SERVER KV_LOAD      exit 0 pass, 1 fail, 77 skip
set -u
server=$1 kvload=$2
command -v redis-cli >/dev/null || { echo "SKIP: redis-cli missing"; exit 77; }
[ "$(id -u)" = 0 ] || { echo "SKIP: DPDK's memif needs root here"; exit 77; }
what=redis-catnip
. "$(dirname "$0")/../ports/test-lib.sh"
port_setup redis-catnip
dir=$tmp
trap '' PIPE
. "$(dirname "$0")/../../tests/dpdk/memif-conf.sh"
. "$(dirname "$0")/test-lib.sh"
memif_conf "$dir/s.yaml" redis-s 1 server 10.83.1.1 02:00:00:00:03:01 "$dir/m.sock"
memif_conf "$dir/c.yaml" redis-c 0 client 10.83.1.2 02:00:00:00:03:02 "$dir/m.sock"
sock=$dir/redis.sock
cli() { timeout 30 redis-cli -s "$sock" "$@"; }
load() { # LOG ARGS...: kv-load on catnip against the server
	local log=$1
	shift
	CONFIG_PATH=$dir/c.yaml timeout 120 "$kvload" --server 10.83.1.1:6379 "$@" >"$dir/$log" 2>&1
}

CONFIG_PATH=$dir/s.yaml "$server" --port 6379 --bind 10.83.1.1 --protected-mode no --save "" \
	--dir "$dir" --unixsocket "$sock" --logfile "$dir/server.log" --daemonize no \
	>"$dir/server-out.log" 2>&1 &
spid=$!
pids+=("$spid")
# The memif socket appears with the server's port; its demi_init waits for the link, which the
# first client brings up, so Redis listens only after that client started: probe until served.
for _ in $(seq 100); do
	[ -S "$dir/m.sock" ] && break
	kill -0 "$spid" 2>/dev/null || break
	sleep 0.1
done
if ! kill -0 "$spid" 2>/dev/null; then
	grep -q "ENODEV\|No such device\|Cannot init\|EAL: FATAL" "$dir/server-out.log" "$dir/server.log" &&
		{ echo "SKIP: DPDK could not start: $(tail -3 "$dir/server-out.log")"; exit 77; }
	fail "server did not start"
fi
for i in 1 2 3 4 5; do
	load probe.log --requests 10 --keys 10000 --timeout-ms 2000 && break
	[ $i = 5 ] && fail "kv-load never got an answer"
	sleep 1
done
[ "$(cli ping)" = PONG ] || fail "no PONG over the unix socket"

load kv1.log --connections 8 --pipeline 4 --keys 10000 --populate --requests 100000 ||
	fail "kv-load 64 B"
grep '^RESULT' "$dir/kv1.log"
load kv2.log --connections 4 --pipeline 2 --keys 10000 --duration-ms 3000 &
lp=$!
sleep 0.5
bgsave_check
wait $lp || fail "kv-load during BGSAVE"
grep '^RESULT' "$dir/kv2.log"
[ "$(cli dbsize)" = 10000 ] || fail "DBSIZE $(cli dbsize), expected 10000"
[ -s "$dir/dump.rdb" ] || fail "no dump.rdb"
load kv3.log --connections 4 --pipeline 2 --keys 50 --value-size 300000 --populate \
	--requests 400 || fail "kv-load 300 kB"
grep '^RESULT' "$dir/kv3.log"
shutdown_check 10
echo "redis on catnip: kv-load over memif, BGSAVE under load, 300 kB values, SHUTDOWN: ok"
