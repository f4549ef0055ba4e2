#!/bin/bash
# SPDX-License-Identifier: MIT
#
# redis-server on catmint (RDMA), driven by kv-load on catmint, inside the soft-RoCE guest that
# catmint's own device tests use (tests/rdma/vm.sh: Debian's kernel under qemu, the host's root
# filesystem read-only over 9p, the build directory read-write at the same path, so the port
# and kv-load built on the host run there unchanged with their rpath to the build's
# libdemikernel). Redis's control plane stays on the kernel through a unix socket (redis-cli -s),
# a kernel fd in the same event loop as the RDMA queues. In the guest:
#   1. kv-load: 1 connection unpipelined, then 8 connections x pipeline 4, 64 B values, every
#      reply checked (catmint keeps message boundaries: Redis's replies arrive as messages, which
#      kv-load parses as a stream);
#   2. BGSAVE (a fork child next to live verbs resources) while kv-load runs; then the server
#      still serves and the key count is right;
#   3. kv-load with 300 kB values (replies of many RDMA fragments);
#   4. SHUTDOWN over the unix socket: exit 0.
#   usage: test-redis-catmint.sh REDIS_SERVER KV_LOAD            (on the host: boots the guest)
#          test-redis-catmint.sh --guest REDIS_SERVER KV_LOAD    (what runs in the guest)
# Exit 0 pass, 1 fail, 77 skip with the reason (no guest can boot here, no redis-cli). Meson
# registers it only when catmint is built.
set -u
if [ "${1:-}" != --guest ]; then
	server=$(realpath "$1") kvload=$(realpath "$2")
	src=$(dirname "$(realpath "$0")")
	build=$(dirname "$(dirname "$(dirname "$server")")")
	command -v redis-cli >/dev/null || { echo "SKIP: redis-cli missing"; exit 77; }
	bash "$src/../../tests/rdma/vm.sh" --check || exit $?
	# The guest sees only the build directory read-write at its own path (and the source may
	# lie where the guest has a private tmpfs): the script travels with the build.
	mkdir -p "$build/.vm/redis" "$build/.vm/ports"
	cp "$0" "$src/test-lib.sh" "$build/.vm/redis/"
	cp "$src/../ports/test-lib.sh" "$build/.vm/ports/"
	exec bash "$src/../../tests/rdma/vm.sh" "$build" \
		bash "$build/.vm/redis/test-redis-catmint.sh" --guest "$server" "$kvload"
fi

server=$2 kvload=$3
. "$(dirname "$0")/test-lib.sh"
logs=$(dirname "$(dirname "$(dirname "$server")")")/rdma-logs/redis
rm -rf "$logs"
mkdir -p "$logs"
if [ -z "$(ls /sys/class/infiniband 2>/dev/null)" ] || [ -z "${RDMA_IP:-}" ]; then
	echo "SKIP: no RDMA device in this guest (the soft-RoCE setup failed: see the console)"
	exit 77
fi
export LIBOS=catmint
what=redis-catmint
. "$(dirname "$0")/../ports/test-lib.sh"
port_setup redis-catmint
dir=$tmp
trap '' PIPE
fail_context() { cp "$dir"/*.log "$logs"/ 2>/dev/null; }
sock=$dir/redis.sock
cli() { timeout 60 redis-cli -s "$sock" "$@"; }
load() { # LOG ARGS...: kv-load on catmint against the server (emulated CPU: generous bounds)
	local log=$1
	shift
	timeout 240 "$kvload" --server "$RDMA_IP:6379" --timeout-ms 30000 "$@" >"$dir/$log" 2>&1
}

"$server" --port 6379 --bind "$RDMA_IP" --protected-mode no --save "" --dir "$dir" \
	--unixsocket "$sock" --logfile "$dir/server.log" --daemonize no >"$dir/server-out.log" 2>&1 &
spid=$!
pids+=("$spid")
for _ in $(seq 600); do # slow under full emulation, slower still with a sanitizer
	[ "$(cli ping 2>/dev/null)" = PONG ] && break
	kill -0 "$spid" 2>/dev/null || fail "server exited at start"
	sleep 0.1
done
[ "$(cli ping)" = PONG ] || fail "no PONG over the unix socket"
grep -q "LIBOS=catmint" "$dir/server.log" || fail "the server did not start on catmint"

load kv1.log --connections 1 --keys 1000 --populate --requests 2000 || fail "kv-load 1 connection"
grep '^RESULT' "$dir/kv1.log"
load kv2.log --connections 8 --pipeline 4 --keys 1000 --requests 20000 --strict ||
	fail "kv-load 8 x 4"
grep '^RESULT' "$dir/kv2.log"
load kv3.log --connections 4 --pipeline 2 --keys 1000 --strict --duration-ms 4000 &
lp=$!
sleep 1
bgsave_check
wait $lp || fail "kv-load during BGSAVE"
grep '^RESULT' "$dir/kv3.log"
[ "$(cli dbsize)" = 1000 ] || fail "DBSIZE $(cli dbsize), expected 1000"
[ -s "$dir/dump.rdb" ] || fail "no dump.rdb"
load kv4.log --connections 2 --pipeline 2 --keys 20 --value-size 300000 --populate \
	--requests 100 || fail "kv-load 300 kB"
grep '^RESULT' "$dir/kv4.log"
shutdown_check 30
cp "$dir"/*.log "$logs"/
echo "redis on catmint: kv-load over soft-RoCE (1 and 8 x 4 connections), BGSAVE under load," \
	"300 kB values, SHUTDOWN: ok"
