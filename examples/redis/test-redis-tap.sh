#!/bin/bash
# SPDX-License-Identifier: MIT
#
# redis-server on catnip over a DPDK net_tap port, with Debian's kernel clients on the Linux
# side of the tap (in a network namespace made for the test, tests/dpdk/tap-netns.sh):
# redis-benchmark -t set,get,incr,lpush,lpop,mset -n 100000 -c 50 -P 16, then byte-exact values
# up to 1 MiB, MULTI, pub/sub and mixed pipelines (redis-checks.py), then SHUTDOWN: exit 0.
#   usage: test-redis-tap.sh REDIS_SERVER      exit 0 pass, 1 fail, 77 skip (with the reason)
set -u
server=$1
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../tests/dpdk/tap-netns.sh"
for p in redis-cli redis-benchmark python3; do
	command -v $p >/dev/null || skip "$p is missing"
done
tap_netns redis 10.84.0.1 10.84.0.2
cat=10.84.0.2
ip netns exec "$ns" env CONFIG_PATH="$dir/catnip.yaml" "$server" --port 6379 --bind $cat \
	--protected-mode no --save "" --dir "$dir" --logfile "$dir/redis.log" --daemonize no \
	>"$dir/server.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
	[ "$(nsx timeout 5 redis-cli -h $cat ping 2>/dev/null)" = PONG ] && break
	kill -0 $pid 2>/dev/null || break
	sleep 0.1
done
if [ "$(nsx timeout 5 redis-cli -h $cat ping 2>/dev/null)" != PONG ]; then
	fail "the port on catnip does not answer" "$dir/server.log"
	tail -5 "$dir/redis.log"
	exit 1
fi
nsx timeout 300 redis-benchmark -h $cat -t set,get,incr,lpush,lpop,mset -n 100000 -c 50 -P 16 \
	--csv >"$dir/bench.csv" 2>&1 || fail "redis-benchmark" "$dir/bench.csv"
for t in SET GET INCR LPUSH LPOP "MSET (10 keys)"; do
	grep -q "^\"$t\"," "$dir/bench.csv" || fail "redis-benchmark: no result for $t" "$dir/bench.csv"
done
cut -d, -f1,2 "$dir/bench.csv" | tr -d '"' | tr '\n' ' '
echo
for c in values multi pubsub pipeline; do
	nsx env REDIS_HOST=$cat timeout 300 python3 "$here/redis-checks.py" $c 6379 ||
		fail "redis-checks.py $c"
done
nsx timeout 10 redis-cli -h $cat shutdown nosave >/dev/null 2>&1
for _ in $(seq 100); do
	kill -0 $pid 2>/dev/null || break
	sleep 0.1
done
wait $pid
src=$?
pid=
[ $src = 0 ] || fail "SHUTDOWN: exit $src" "$dir/redis.log"
[ $rc = 0 ] && echo "redis on catnip over net_tap with Linux's redis-benchmark and redis-cli: ok"
exit $rc
