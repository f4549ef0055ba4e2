#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Tests of redis-server on libdemikernel (suite "examples"; docs/redis.md), on catnap over
# loopback, driven by Debian's own clients (redis-cli, redis-benchmark), by redis-checks.py for
# what needs byte-exact protocol checks, and by kv-load (the load generator on demi_*).
#
#   usage: test-redis.sh CASE REDIS_SERVER KV_LOAD [SANITIZE]
#   CASE: benchmark values multi pubsub blpop expiry conns killed pipeline bgsave save aof shutdown
#         kv-load replication maxclients unixsocket refuse build-errors
#   SANITIZE: meson's b_sanitize of the build (default none): a sanitized port is slower
# Exit 0 pass, 1 fail, 77 skip (a client program missing).
set -uo pipefail
what=${1:?usage: test-redis.sh CASE REDIS_SERVER KV_LOAD [SANITIZE]}
server=${2:?} kvload=${3:?} sanitize=${4:-none}
here=$(cd "$(dirname "$0")" && pwd)
checks="$here/redis-checks.py"
for p in redis-cli redis-benchmark python3; do
	command -v $p >/dev/null || { echo "SKIP: $p is missing (bash tests/deps.sh installs it)"; exit 77; }
done
[ -x "$server" ] || { echo "FAIL: $server was not built (ninja -C build redis)"; exit 1; }
# shellcheck source=../ports/test-lib.sh
. "$here/../ports/test-lib.sh"
port_setup redis-test
fail_context() {
	command -v ss >/dev/null && { echo "--- sockets on port $port" >&2; ss -tan "( sport = :$port or dport = :$port )" >&2; }
}
# A port for this case, apart from the other cases' (they may run one after the other quickly).
port=$((26400 + $(cksum <<<"$what" | cut -d' ' -f1) % 500))

# start NAME BINARY ARGS...: starts a server on $port in $tmp, waits until it answers PING;
# sets $spid.
start() {
	local name=$1 bin=$2
	shift 2
	DEMIKERNEL_STATS_SIGNAL=USR2 "$bin" --port "$port" --bind 127.0.0.1 --dir "$tmp" \
		--logfile "$tmp/$name.log" --daemonize no --enable-debug-command yes "$@" \
		2>"$tmp/$name.err" &
	spid=$!
	port_wait_up "$name" "$spid" pong
}
pong() { [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ]; }
cli() { timeout 30 redis-cli -p "$port" "$@"; }
# libstats NAME: the libOS's queues, buffers and operations in flight of server NAME ($spid),
# printed by libdemikernel at its next wait after SIGUSR2 (serverCron wakes it within 100 ms).
libstats() {
	local before
	before=$(grep -c "demi: stats" "$tmp/$1.err")
	kill -USR2 "$spid"
	for _ in $(seq 40); do
		[ "$(grep -c "demi: stats" "$tmp/$1.err")" -gt "$before" ] && break
		sleep 0.05
	done
	grep "demi: stats" "$tmp/$1.err" | tail -1 | grep -o "\(queues_open\|bufs_in_use\|tasks_in_use\)=[0-9]*" |
		tr '\n' ' '
}
digest() { cli debug digest; }
# info FIELD: one field of INFO
info() { cli info | tr -d '\r' | sed -n "s/^$1://p"; }
# restart_same WHAT N DIGEST: SHUTDOWN NOSAVE, a restart from dump.rdb holds N keys with DIGEST.
restart_same() {
	cli shutdown nosave >/dev/null 2>&1
	wait "$spid" || fail "SHUTDOWN NOSAVE did not exit 0"
	start port2 "$server" --save "" --dbfilename dump.rdb
	[ "$(cli dbsize)" = "$2" ] || fail "restart after $1: $(cli dbsize) keys, saved $2"
	[ "$(digest)" = "$3" ] || fail "restart after $1: different data (DEBUG DIGEST)"
}
wait_field() { # wait_field FIELD VALUE SECONDS
	for _ in $(seq $(($3 * 20))); do
		[ "$(info "$1")" = "$2" ] && return 0
		sleep 0.05
	done
	return 1
}

case $what in
benchmark)
	# The port and stock Redis (Debian's redis-server) in the same run, the same command.
	stock=$(command -v redis-server) || { echo "SKIP: no stock redis-server"; exit 77; }
	declare -A rps
	for who in port stock; do
		bin=$server
		[ $who = stock ] && bin=$stock
		start $who "$bin" --save ""
		timeout 300 redis-benchmark -p "$port" -t set,get,incr,lpush,lpop,mset -n 100000 \
			-c 50 -P 16 --csv >"$tmp/$who.csv" 2>"$tmp/$who-bench.log" ||
			fail "redis-benchmark against $who failed"
		[ "$(cli dbsize)" -gt 0 ] || fail "$who: benchmark wrote no key"
		stop "$spid"
		for t in SET GET INCR LPUSH LPOP "MSET (10 keys)"; do
			v=$(grep "^\"$t\"," "$tmp/$who.csv" | cut -d, -f2 | tr -d '"')
			[ -n "$v" ] || fail "$who: no result for $t"
			rps[$who,$t]=${v%.*}
		done
	done
	printf '%-16s %12s %12s %6s\n' test port stock ratio
	for t in SET GET INCR LPUSH LPOP "MSET (10 keys)"; do
		printf '%-16s %12s %12s %6s\n' "$t" "${rps[port,$t]}" "${rps[stock,$t]}" \
			"$(awk "BEGIN{printf \"%.2f\", ${rps[port,$t]} / ${rps[stock,$t]}}")"
	done
	# A coarse floor: noise on a shared machine is large, a broken wait (sleeping while a
	# popped buffer is pending, a poll per connection) costs far more than 4x. A sanitized
	# port (ASan, UBSan: 2-4x slower on its own) against the uninstrumented stock binary gets
	# twice the room: 0.41-0.47 of stock on a quiet machine, 0.22 once under load.
	floor=4
	[ "$sanitize" = none ] || floor=8
	echo "floor: 1/$floor of stock's requests/s (b_sanitize=$sanitize)"
	for t in SET GET; do
		[ $((rps[port,$t] * floor)) -ge "${rps[stock,$t]}" ] ||
			fail "$t: the port makes ${rps[port,$t]} requests/s, under 1/$floor of stock's ${rps[stock,$t]}"
	done
	;;
values | multi | pubsub | blpop | expiry | conns | killed | pipeline)
	start port "$server" --save ""
	sleep 0.2 # the start's PING connection closed
	base=$(libstats port)
	timeout 300 python3 "$checks" "$what" "$port" "$spid" || fail "check failed"
	# No queue, buffer or operation left behind by the clients (all gone now).
	if [ "$what" = conns ] || [ "$what" = killed ]; then
		for _ in $(seq 20); do
			sleep 0.2
			now=$(libstats port)
			[ "$now" = "$base" ] && break
		done
		[ -n "$base" ] && [ "$now" = "$base" ] || fail "libOS state: before $base, after $now"
		echo "$what: libOS back to $now"
	fi
	stop "$spid"
	;;
bgsave)
	# BGSAVE (a fork child writing the RDB) while redis-benchmark keeps the server busy; the
	# data a restart loads from the dump is the data saved.
	start port "$server" --save "" --dbfilename dump.rdb
	timeout 120 redis-benchmark -p "$port" -t set -n 100000 -r 100000 -d 100 -P 16 -q >/dev/null ||
		fail "populate"
	timeout 300 redis-benchmark -p "$port" -t set,get -n 400000 -r 100000 -d 100 -c 20 -P 8 \
		--csv >"$tmp/load.csv" 2>&1 &
	load=$!
	for i in 1 2 3; do
		sleep 0.3
		cli bgsave | grep -q "started" || fail "BGSAVE $i not started"
		wait_field rdb_bgsave_in_progress 0 60 || fail "BGSAVE $i did not finish"
		[ "$(info rdb_last_bgsave_status)" = ok ] || fail "BGSAVE $i failed"
	done
	wait $load || fail "redis-benchmark failed during BGSAVE: $(cat "$tmp/load.csv")"
	grep -q '^"GET"' "$tmp/load.csv" || fail "no GET result under BGSAVE"
	[ "$(cli ping)" = PONG ] || fail "server not answering after BGSAVE"
	# The child never touched the libOS: after the saves the server still accepts and serves.
	python3 "$checks" values "$port" || fail "values after BGSAVE"
	cli bgsave >/dev/null
	wait_field rdb_bgsave_in_progress 0 60 || fail "last BGSAVE did not finish"
	before=$(digest) n=$(cli dbsize)
	restart_same BGSAVE "$n" "$before"
	echo "bgsave: 4 BGSAVEs under load, $n keys restored with the same digest"
	stop "$spid"
	;;
save)
	# SAVE: the foreground save (no fork) in the loop's own thread, with clients connected; a
	# restart loads the same data.
	start port "$server" --save "" --dbfilename dump.rdb
	timeout 120 redis-benchmark -p "$port" -t set,lpush -n 20000 -r 5000 -d 100 -c 4 -q \
		>/dev/null || fail "populate"
	before=$(digest) n=$(cli dbsize)
	[ "$(cli save)" = OK ] || fail "SAVE did not answer OK"
	[ -s "$tmp/dump.rdb" ] || fail "SAVE wrote no dump.rdb"
	[ "$(info rdb_last_bgsave_status)" = ok ] || fail "SAVE failed"
	python3 "$checks" values "$port" || fail "values after SAVE"
	cli flushall >/dev/null # the data must come from the file, not survive in memory
	restart_same SAVE "$n" "$before"
	echo "save: SAVE of $n keys, restart with the same digest"
	stop "$spid"
	;;
aof)
	# AOF with appendfsync always, then a crash (SIGKILL): the restart replays every write.
	start port "$server" --save "" --appendonly yes --appendfsync always
	timeout 120 redis-benchmark -p "$port" -t set,lpush,incr -n 2000 -r 5000 -c 4 -q >/dev/null ||
		fail "writes"
	before=$(digest) n=$(cli dbsize)
	stop "$spid" KILL
	start port2 "$server" --save "" --appendonly yes --appendfsync always
	[ "$(digest)" = "$before" ] || fail "after a crash: different data than written ($n keys)"
	# BGREWRITEAOF (fork) under everysec, more writes, a clean SHUTDOWN, a restart.
	cli config set appendfsync everysec >/dev/null
	cli bgrewriteaof | grep -q "started" || fail "BGREWRITEAOF not started"
	timeout 120 redis-benchmark -p "$port" -t set -n 20000 -r 8000 -c 4 -q >/dev/null || fail "writes 2"
	wait_field aof_rewrite_in_progress 0 60 || fail "BGREWRITEAOF did not finish"
	[ "$(info aof_last_bgrewrite_status)" = ok ] || fail "BGREWRITEAOF failed"
	before=$(digest) n=$(cli dbsize)
	cli shutdown >/dev/null 2>&1
	wait "$spid" || fail "SHUTDOWN did not exit 0"
	start port3 "$server" --save "" --appendonly yes
	[ "$(digest)" = "$before" ] || fail "after BGREWRITEAOF and SHUTDOWN: different data"
	echo "aof: crash with fsync always and a rewrite then SHUTDOWN: $n keys, same digest"
	stop "$spid"
	;;
shutdown)
	# SIGTERM with clients connected (one blocked, one idle), then SHUTDOWN from a client.
	start port "$server" --save ""
	cli blpop nolist 0 >/dev/null 2>&1 &
	pids+=($!)
	python3 -c 'import socket,time,sys; s=socket.create_connection(("127.0.0.1",int(sys.argv[1]))); time.sleep(30)' \
		"$port" &
	pids+=($!)
	for _ in $(seq 100); do
		[ "$(info connected_clients)" -ge 3 ] && break
		sleep 0.05
	done
	[ "$(info connected_clients)" -ge 3 ] || fail "clients did not connect"
	stop "$spid" TERM
	grep -q "bye bye" "$tmp/port.log" || fail "SIGTERM: no clean shutdown in the log"
	start port2 "$server" --save ""
	cli shutdown >/dev/null 2>&1
	for _ in $(seq 100); do kill -0 "$spid" 2>/dev/null || break; sleep 0.05; done
	wait "$spid" || fail "SHUTDOWN: exit status not 0"
	grep -q "bye bye" "$tmp/port2.log" || fail "SHUTDOWN: no clean shutdown in the log"
	echo "shutdown: SIGTERM with clients connected and SHUTDOWN exit 0"
	;;
kv-load)
	start port "$server" --save ""
	timeout 300 "$kvload" --server "127.0.0.1:$port" --connections 8 --pipeline 8 \
		--keys 10000 --populate --requests 100000 >"$tmp/kv1.log" 2>&1 ||
		fail "kv-load 64 B: $(cat "$tmp/kv1.log")"
	grep '^RESULT' "$tmp/kv1.log"
	timeout 300 "$kvload" --server "127.0.0.1:$port" --connections 4 --pipeline 2 \
		--keys 50 --value-size 300000 --populate --requests 400 >"$tmp/kv2.log" 2>&1 ||
		fail "kv-load 300 kB: $(cat "$tmp/kv2.log")"
	grep '^RESULT' "$tmp/kv2.log"
	stop "$spid"
	;;
replication)
	# A ported master and a ported replica: full sync (diskless: a fork child streams the RDB
	# through a pipe, a kernel fd the master relays to the replica's queue; then from disk),
	# then the replication stream under writes, until both have the same data.
	for diskless in yes no; do
		start master "$server" --save "" --repl-diskless-sync "$diskless" \
			--repl-diskless-sync-delay 0
		master=$spid mport=$port
		timeout 120 redis-benchmark -p "$mport" -t set,lpush -n 30000 -r 20000 -d 200 -q \
			>/dev/null || fail "writes to the master"
		port=$((mport + 1))
		start replica "$server" --save "" --replicaof 127.0.0.1 "$mport"
		replica=$spid
		wait_field master_link_status up 30 || fail "replica (diskless $diskless) not in sync"
		timeout 120 redis-benchmark -p "$mport" -t set,incr,lpush,lpop -n 30000 -r 20000 -q \
			>/dev/null || fail "writes during replication"
		port=$mport
		moff=$(info master_repl_offset)
		port=$((mport + 1))
		for _ in $(seq 200); do
			[ "$(info slave_repl_offset)" = "$moff" ] && break
			sleep 0.05
		done
		rdig=$(digest)
		port=$mport
		[ "$(digest)" = "$rdig" ] || fail "replica's data differs from the master's (diskless $diskless)"
		echo "replication (diskless $diskless): in sync at offset $moff, same digest"
		stop "$replica"
		stop "$master"
	done
	;;
maxclients)
	# More clients than maxclients: the extra ones are refused with Redis's error, the others
	# served (placeholder fds take numbers too: the event table must hold them all).
	start port "$server" --save "" --maxclients 300
	python3 - "$port" <<'EOP' || fail "maxclients"
import socket, sys
cs = [socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10) for _ in range(400)]
for s in cs:
    s.sendall(b"PING\r\n")
got = {}
for s in cs:
    try:
        r = s.recv(200)
    except OSError:
        r = b"reset"
    k = r.split(b" ")[0][:6]
    got[k] = got.get(k, 0) + 1
print("maxclients 300, 400 clients:", got)
sys.exit(0 if got.get(b"+PONG\r") == 300 and got.get(b"-ERR", 0) == 100 else 1)
EOP
	[ "$(cli ping)" = PONG ] || fail "server not serving after maxclients"
	stop "$spid"
	;;
unixsocket)
	# Kernel descriptors in the same loop as the queues: a unix socket listener and its
	# clients (epoll) while TCP clients (demi queues) run, both under redis-benchmark.
	start port "$server" --save "" --unixsocket "$tmp/redis.sock"
	timeout 120 redis-benchmark -s "$tmp/redis.sock" -t set,get -n 50000 -c 10 -P 4 --csv \
		>"$tmp/unix.csv" 2>&1 &
	ub=$!
	timeout 120 redis-benchmark -p "$port" -t set,get -n 50000 -c 10 -P 4 --csv >"$tmp/tcp.csv" 2>&1 ||
		fail "TCP benchmark next to the unix socket: $(cat "$tmp/tcp.csv")"
	wait $ub || fail "unix socket benchmark: $(cat "$tmp/unix.csv")"
	grep -q '^"GET"' "$tmp/unix.csv" || fail "no unix socket GET result"
	# An idle server still answers a unix socket client quickly (the kernel slice is 10 ms).
	t0=$(date +%s%N)
	for _ in $(seq 20); do
		timeout 10 redis-cli -s "$tmp/redis.sock" ping >/dev/null || fail "unix socket PING on an idle server"
	done
	ms=$((($(date +%s%N) - t0) / 1000000))
	[ $ms -lt 4000 ] || fail "20 unix socket PINGs took $ms ms"
	[ "$(timeout 10 redis-cli -s "$tmp/redis.sock" ping)" = PONG ] || fail "unix socket PING"
	echo "unixsocket: benchmarks over the unix socket and TCP at once; 20 idle PINGs in $ms ms"
	stop "$spid"
	;;
refuse)
	# What the port cannot do is refused at start with a message, never a crash.
	expect_refusal() { # expect_refusal "MESSAGE" ARGS...
		local msg=$1 rc
		shift
		timeout 20 "$server" --port "$port" --logfile "$tmp/refuse.log" --daemonize no "$@"
		rc=$?
		[ $rc -ne 0 ] && [ $rc -lt 128 ] || fail "$* was not refused cleanly (exit $rc)"
		grep -q "$msg" "$tmp/refuse.log" || fail "$*: no message \"$msg\""
		rm -f "$tmp/refuse.log"
	}
	expect_refusal "io-threads > 1" --io-threads 2
	expect_refusal "cluster mode" --cluster-enabled yes
	expect_refusal "IPv6 (::1) is not supported" --bind ::1
	# An optional IPv6 bind (Redis's default "* -::*") is skipped, the server runs.
	start port "$server" --bind 127.0.0.1 -::1 --save ""
	# CONFIG SET bind to an IPv6 address is refused with an error; the old listener keeps
	# serving and the setting is unchanged.
	out=$(cli config set bind ::1 2>&1)
	[[ $out == *ERR* ]] || fail "CONFIG SET bind ::1 was not refused: $out"
	[ "$(cli ping)" = PONG ] || fail "no PONG after the refused CONFIG SET bind"
	[ "$(cli config get bind | tail -1)" = "127.0.0.1 -::1" ] ||
		fail "bind changed by a refused CONFIG SET: $(cli config get bind | tail -1)"
	grep -q "IPv6 (::1) is not supported" "$tmp/port.log" ||
		fail "no log line for the refused CONFIG SET bind"
	# A valid rebind still works (the listener's queue is closed and a new one opened).
	[ "$(cli config set bind "127.0.0.1")" = OK ] || fail "CONFIG SET bind 127.0.0.1 refused"
	[ "$(cli ping)" = PONG ] || fail "no PONG after CONFIG SET bind 127.0.0.1"
	stop "$spid"
	echo "refuse: io-threads, cluster, IPv6 bind (start and CONFIG SET) refused with a message"
	;;
build-errors)
	# build-redis.sh's failures say what to do. Neither run reaches Redis's make.
	lib=$(dirname "$server")/../../libdemikernel.so
	[ -e "$lib" ] || fail "no $lib"
	build() { # LOG CACHE: build-redis.sh into $tmp/out with the source cache CACHE
		mkdir -p "$tmp/out"
		DEMI_SRC_CACHE=$2 bash "$here/build-redis.sh" "$tmp/out/redis-server" "$lib" \
			"$here/../../include" >"$tmp/$1" 2>&1
	}
	# 1. No source: the cache cannot even be created.
	touch "$tmp/afile"
	build nosrc.log "$tmp/afile/cache" && fail "build without a source succeeded"
	grep -q "redis: cannot fetch the source" "$tmp/nosrc.log" || fail "no clear message without source"
	grep -q "redis 7.0.15 source package" "$tmp/nosrc.log" || fail "the package to fetch is not named"
	grep -q "cannot create" "$tmp/nosrc.log" || fail "the fetch's reason is not shown"
	# 2. An upstream change: a copy of the fetched tree with the line of edit 1 changed.
	src=$(bash "$here/../ports/debian-source.sh" redis 7.0.15) || fail "no fetched source"
	mkdir -p "$tmp/cache"
	cp -a "$src" "$tmp/cache/redis-7.0.15"
	sed -i 's/#include "ae_epoll.c"/#include "ae_epoll_new.c"/' "$tmp/cache/redis-7.0.15/src/ae.c"
	build edit.log "$tmp/cache" && fail "build with a changed source succeeded"
	grep -q "no longer takes the port's edits" "$tmp/edit.log" || fail "no clear message: edit"
	grep -q "src/ae.c" "$tmp/edit.log" || fail "the failing edit's file is not named"
	grep -qi "event loop backend" "$tmp/edit.log" || fail "the failing edit's reason is not named"
	[ -e "$tmp/out/redis-server" ] && fail "a binary was produced"
	echo "build-errors: missing source and an edit that no longer applies fail with clear messages"
	;;
*)
	echo "unknown case $what" >&2
	exit 2
	;;
esac
exit 0
