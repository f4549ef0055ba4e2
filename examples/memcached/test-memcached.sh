#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Tests of memcached on libdemikernel (suite "examples"; docs/memcached.md), on catnap over
# loopback, driven by Debian's libmemcached-tools (memccapable, memcaslap, memcslap), by
# memcached-checks.py for what needs byte-exact protocol checks against stock memcached, and by
# kv-load (the load generator on demi_*). Stock memcached runs beside the port where a case
# compares with it.
#
#   usage: test-memcached.sh CASE MEMCACHED KV_LOAD
#   CASE: capable compare compare-big stats conns killed slap kv-load threads refuse shutdown
#         t-suite;
#         a "-uring" suffix runs the port on catnap's io_uring engine instead of epoll.
# Exit 0 pass, 1 fail, 77 skip (a client program missing).
set -uo pipefail
what=${1:?usage: test-memcached.sh CASE MEMCACHED KV_LOAD}
server=${2:?} kvload=${3:?}
here=$(cd "$(dirname "$0")" && pwd)
checks="$here/memcached-checks.py"
# Sanitizer builds: memcached's own leak at exit is not ours to report (lsan.supp).
export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$here/lsan.supp"
case=${what%-uring}
export LIBOS=catnap CATNAP_ENGINE=epoll
[ "$case" != "$what" ] && export CATNAP_ENGINE=io_uring
for p in memccapable memcaslap memcslap python3 ss; do
	command -v $p >/dev/null || { echo "SKIP: $p is missing (bash tests/deps.sh installs it)"; exit 77; }
done
stock=$(command -v memcached) || { echo "SKIP: stock memcached is missing (tests/deps.sh)"; exit 77; }
[ -x "$server" ] || { echo "FAIL: $server was not built (ninja -C build memcached)"; exit 1; }
# shellcheck source=../ports/test-lib.sh
. "$here/../ports/test-lib.sh"
port_setup memc-test
# Ports for this case (the port's, stock's next to it), apart from the other cases'.
port=$((27000 + $(cksum <<<"$what" | cut -d' ' -f1) % 500 * 2))
sport=$((port + 1))

# start NAME BINARY PORT ARGS...: starts a memcached on 127.0.0.1:PORT, waits until it
# listens; sets $spid.
start() {
	local name=$1 bin=$2 p=$3
	shift 3
	"$bin" -u root -l 127.0.0.1 -p "$p" -U 0 "$@" >"$tmp/$name.log" 2>&1 &
	spid=$!
	port_wait_up "$name" "$spid" listening "$p"
}
listening() { [ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]; }

case $case in
capable)
	# memccapable's ascii and binary cases: the port must pass every case stock passes.
	start stock "$stock" $sport -t 1
	start port "$server" $port -t 1
	memccapable -h 127.0.0.1 -p $sport >"$tmp/stock.out" 2>&1
	memccapable -h 127.0.0.1 -p $port >"$tmp/port.out" 2>&1
	pass_stock=$(grep -c '\[pass\]' "$tmp/stock.out")
	pass_port=$(grep -c '\[pass\]' "$tmp/port.out")
	[ "$pass_stock" -gt 40 ] || fail "memccapable passed only $pass_stock cases on stock: $(tail -3 "$tmp/stock.out")"
	missing=$(comm -23 <(grep '\[pass\]' "$tmp/stock.out" | sort) <(grep '\[pass\]' "$tmp/port.out" | sort))
	[ -z "$missing" ] || fail "cases stock passes and the port does not: $missing $(grep -v '\[pass\]' "$tmp/port.out")"
	echo "ok   memccapable: $pass_port cases pass on the port, $pass_stock on stock"
	alive "$spid"
	stop "$spid"
	;;
compare | compare-big | stats)
	args=(-t 1) extra=()
	[ "$case" = compare-big ] && args=(-t 4 -I 4m -m 512) extra=(--big)
	start stock "$stock" $sport "${args[@]}"
	start port "$server" $port "${args[@]}"
	pid=$spid
	if [ "$case" = stats ]; then
		python3 "$checks" stats $sport $port || fail "stats differ from stock's"
	else
		python3 "$checks" compare $sport $port "${extra[@]}" || fail "replies differ from stock's"
	fi
	alive $pid
	stop $pid
	;;
conns | killed)
	start port "$server" $port -t 1 -c 4096
	pid=$spid
	python3 "$checks" "$case" $port $pid || fail "$case"
	if [ "$case" = conns ]; then
		# Past -c: the rejection's message leaves before the connection closes.
		start port2 "$server" $((port + 1)) -t 1 -c 40
		python3 "$checks" maxconns $((port + 1)) 60 || fail "maxconns"
		alive $spid
		stop $spid
	fi
	if [ "$case" = killed ]; then
		# A load generator killed mid-run: its connections vanish with requests in flight.
		for _ in 1 2 3; do
			"$kvload" --server 127.0.0.1:$port --proto memcache --connections 16 --pipeline 16 \
				--value-size 100000 --keys 200 --duration-ms 5000 >/dev/null 2>&1 &
			kp=$!
			sleep 0.5
			kill -KILL $kp
			wait $kp 2>/dev/null
		done
		"$kvload" --server 127.0.0.1:$port --proto memcache --populate --keys 500 --requests 5000 \
			--connections 4 --pipeline 8 >"$tmp/kv.out" 2>&1 || fail "kv-load after the kills: $(tail -3 "$tmp/kv.out")"
		echo "ok   three kv-load runs killed mid-run; the next one passes"
	fi
	alive $pid
	stop $pid
	;;
slap)
	# memcslap (sets, then gets that must all hit), then memcaslap with verification under
	# load (-v 0.1: a tenth of the gets checked); on -t 1 and -t 4.
	for t in 1 4; do
		start port "$server" $port -t $t
		pid=$spid
		for test in set get; do
			memcslap --servers=127.0.0.1:$port --concurrency=16 --execute-number=2000 \
				--test=$test >"$tmp/cslap.out" 2>&1 ||
				fail "memcslap --test=$test -t $t exited with $?: $(tail -5 "$tmp/cslap.out")"
			grep -qi "fail\|error" "$tmp/cslap.out" && fail "memcslap -t $t: $(cat "$tmp/cslap.out")"
			# On a fresh server nothing is evicted: every one of the 32000 gets must hit.
			line=$(grep "32000 keys by" "$tmp/cslap.out") || fail "memcslap -t $t: $(cat "$tmp/cslap.out")"
			echo "ok   memcslap -t $t: $(tr -s ' ' <<<"$line")"
		done
		memcaslap -s 127.0.0.1:$port -T 2 -c 32 -t 4s -v 0.1 >"$tmp/caslap.out" 2>&1 ||
			fail "memcaslap -t $t exited with $?: $(tail -5 "$tmp/caslap.out")"
		grep -q '^verify_failed: 0$' "$tmp/caslap.out" || fail "memcaslap -t $t: $(grep -i verify "$tmp/caslap.out")"
		ops=$(sed -n 's/.*Ops: \([0-9]*\).*/\1/p' "$tmp/caslap.out" | tail -1)
		[ "${ops:-0}" -gt 10000 ] || fail "memcaslap -t $t: only ${ops:-0} operations"
		echo "ok   memcaslap -t $t: $ops operations, verify_failed: 0"
		alive $pid
		stop $pid
	done
	;;
kv-load)
	# The load generator on demi_* (over catnap here too): every reply checked, 64 B and
	# 1 MiB values, -t 1 and -t 4.
	for t in 1 4; do
		start port "$server" $port -t $t -m 256
		pid=$spid
		"$kvload" --server 127.0.0.1:$port --proto memcache --populate --keys 5000 --requests 100000 \
			--connections 32 --pipeline 8 >"$tmp/kv.out" 2>&1 || fail "kv-load -t $t: $(tail -3 "$tmp/kv.out")"
		echo "ok   -t $t 64 B: $(grep RESULT "$tmp/kv.out")"
		"$kvload" --server 127.0.0.1:$port --proto memcache --populate --keys 20 --requests 200 \
			--value-size 1000000 --pipeline 4 --ratio 1:1 >"$tmp/kv.out" 2>&1 || fail "kv-load -t $t 1 MB: $(tail -3 "$tmp/kv.out")"
		echo "ok   -t $t 1 MB: $(grep RESULT "$tmp/kv.out")"
		alive $pid
		stop $pid
	done
	;;
threads)
	# -t 4 on catnap: four workers, each with its own libOS instance and listening socket
	# (SO_REUSEPORT); the kernel spreads connections over them and each worker serves some.
	start port "$server" $port -t 4
	pid=$spid
	n=$(ss -Hltn "sport = :$port" | wc -l)
	[ "$n" = 4 ] || fail "$n listening sockets on $port, want 4 (one per worker)"
	"$kvload" --server 127.0.0.1:$port --proto memcache --populate --keys 2000 --requests 200000 \
		--connections 64 --pipeline 4 >"$tmp/kv.out" 2>&1 || fail "kv-load: $(tail -3 "$tmp/kv.out")"
	busy=0
	for task in /proc/$pid/task/*; do
		[ "$(cat "$task/comm")" = mc-worker ] || continue
		ticks=$(awk '{print $14 + $15}' "$task/stat")
		[ "$ticks" -gt 0 ] && busy=$((busy + 1))
	done
	[ $busy -ge 2 ] || fail "only $busy of 4 workers used any CPU under 64 connections"
	echo "ok   4 listening sockets, $busy of 4 workers served: $(grep RESULT "$tmp/kv.out")"
	alive $pid
	stop $pid
	;;
refuse)
	# What the port cannot carry is refused at start, with a message and a usage exit code.
	refused() { # WHAT PATTERN ARGS...
		local w=$1 pat=$2 rc
		shift 2
		timeout 10 "$server" -u root -p $port "$@" >"$tmp/refused.out" 2>&1
		rc=$?
		[ $rc != 0 ] && [ $rc -lt 124 ] || fail "$w: exit code $rc: $(cat "$tmp/refused.out")"
		grep -q "$pat" "$tmp/refused.out" || fail "$w: no message matching '$pat': $(cat "$tmp/refused.out")"
		echo "ok   $w refused (exit $rc): $(head -1 "$tmp/refused.out")"
	}
	refused "UDP" "UDP (-U 11211) is not supported" -U 11211
	refused "unix socket" "unix sockets (-s) are not supported" -s "$tmp/sock"
	refused "IPv6" "not an IPv4 address" -U 0 -l ::1
	refused "two addresses" "one address" -U 0 -l 127.0.0.1,127.0.0.2
	refused "TLS" "illegal option\|invalid option\|TLS" -U 0 -Z
	refused "-p 0" "TCP is all the port serves" -U 0 -p 0
	LIBOS=nosuch refused "an unknown libOS" "demi_init: Invalid argument" -U 0 -l 127.0.0.1
	# Online: watch and lru_crawler metadump answer an error; the connection goes on.
	start port "$server" $port -t 1
	pid=$spid
	python3 "$checks" refuse $port || fail "refusals"
	alive $pid
	stop $pid
	;;
shutdown)
	# SIGTERM with clients connected and load running exits 0; so does SIGUSR1 (graceful:
	# workers stop, then every connection is closed from the main thread).
	for sig in TERM USR1; do
		start port "$server" $port -t 2
		pid=$spid
		"$kvload" --server 127.0.0.1:$port --proto memcache --connections 8 --pipeline 4 \
			--keys 100 --duration-ms 3000 >/dev/null 2>&1 &
		kp=$!
		sleep 0.5
		stop $pid $sig
		wait $kp 2>/dev/null
		echo "ok   SIG$sig under load: exit 0"
	done
	;;
t-suite)
	# memcached's own test files against a daemon (T_MEMD_USE_DAEMON, a fresh daemon per
	# file): those stock memcached passes that way here (the others start their own daemon
	# with options, extstore, unix sockets or UDP, or skip: TLS, SASL, proxy; and
	# watcher_connid uses "watch", which the port refuses). Stock runs each
	# first; a file that fails on stock in this run is left out and named; the port (its
	# memcached-debug build, the variant the suite expects) must pass every other one.
	command -v prove >/dev/null || { echo "SKIP: prove (perl) is missing"; exit 77; }
	bindir=$(cd "$(dirname "$server")" && pwd)
	tree=$bindir/memcached-1.6.18
	[ -x "$bindir/memcached-debug" ] || fail "memcached-debug was not built (ninja -C build memcached-debug)"
	[ -d "$tree/t" ] || fail "no $tree/t"
	for who in stock port; do
		mkdir -p "$tmp/$who"
		ln -s "$tree/t" "$tmp/$who/t"
	done
	# The suite looks for ./memcached-debug even when it only talks to the daemon.
	ln -s "$stock" "$tmp/stock/memcached-debug"
	ln -s "$bindir/memcached-debug" "$tmp/port/memcached-debug"
	files="binary-get bogus-commands cas chunked-items flags getandtouch getset incrdecr
		issue_104 issue_108 issue_14 issue_140 issue_152 issue_163 issue_192 issue_260
		issue_29 issue_3 issue_41 issue_42 issue_68 issue_70 line-lengths malicious-commands
		misbehave multiversioning noreply quit refhang slabhang stats-detail strtol-testing
		touch whitespace"
	ran=0 left=
	for f in $files; do
		for who in stock port; do
			bin=$stock
			[ $who = port ] && bin=$bindir/memcached-debug
			start $who "$bin" $port -t 4
			(cd "$tmp/$who" && T_MEMD_USE_DAEMON=127.0.0.1:$port timeout 120 prove "t/$f.t" \
				>"$tmp/$who-$f.out" 2>&1)
			r=$?
			alive $spid
			stop $spid
			if [ $r != 0 ] && [ $who = stock ]; then
				left="$left $f"
				break
			fi
			[ $r = 0 ] || fail "t/$f.t fails on the port and passes on stock: $(grep -v '^ok' "$tmp/port-$f.out" | tail -20)"
		done
		[ $r = 0 ] && ran=$((ran + 1))
	done
	[ $ran -ge 30 ] || fail "only $ran test files ran (stock failed:$left)"
	echo "ok   $ran of memcached's test files pass on the port as on stock${left:+ (failing on stock here, left out:$left)}"
	;;
*)
	echo "usage: test-memcached.sh CASE MEMCACHED KV_LOAD (CASE: see the script)" >&2
	exit 1
	;;
esac
exit 0
