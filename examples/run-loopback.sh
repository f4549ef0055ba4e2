#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Runs every example against its server over 127.0.0.1 with the libOS named by LIBOS (default
# catnap) and checks that both ends exit 0. Usage: run-loopback.sh EXAMPLES_BUILD_DIR
# (meson runs it as the test "examples-loopback"). Exit 0: all passed; 1: a run failed.
#
# Only the processes started here are ever signalled, by their PID.

set -u

dir=${1:?usage: run-loopback.sh EXAMPLES_BUILD_DIR}
export LIBOS=${LIBOS:-catnap}
# Ports from the PID, so that two runs at once (two build trees) do not collide.
port=$((20000 + $$ % 20000))
tmp=$(mktemp -d)
pids=()
failed=0

# shellcheck disable=SC2317 # run by the trap
cleanup() {
	local pid
	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null
	done
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

# wait_port tcp|udp PORT PID: until something listens there (5 s at most) or PID exited.
wait_port() {
	local flag=-Hltn
	[ "$1" = udp ] && flag=-Hlun
	if ! command -v ss >/dev/null; then
		sleep 0.5 # no ss (iproute2) to ask: give the server time to bind
		kill -0 "$3" 2>/dev/null && return 0
	fi
	for _ in $(seq 100); do
		[ -n "$(ss $flag "sport = :$2" 2>/dev/null)" ] && return 0
		kill -0 "$3" 2>/dev/null || break
		sleep 0.05
	done
	echo "nothing listens on $1 port $2" >&2
	return 1
}

# start NAME PROTO CMD...: starts a server in the background; its PID is in $server.
start() {
	local name=$1 proto=$2
	shift 2
	"$@" >"$tmp/$name.server" 2>&1 &
	server=$!
	pids+=("$server")
	wait_port "$proto" "$port" "$server"
}

# finish NAME PID [stop]: waits for a server to exit (after SIGTERM with "stop") and checks 0.
finish() {
	local name=$1 pid=$2 rc
	[ "${3:-}" = stop ] && kill -TERM "$pid" 2>/dev/null
	timeout 10 tail --pid="$pid" -f /dev/null
	wait "$pid"
	rc=$?
	# Reaped: its PID may be reused by now, so cleanup must not signal it.
	local keep=() p
	for p in "${pids[@]}"; do
		[ "$p" != "$pid" ] && keep+=("$p")
	done
	pids=("${keep[@]}")
	if [ "$rc" -ne 0 ]; then
		echo "FAIL $name server (exit $rc):" >&2
		cat "$tmp/$name.server" >&2
		failed=1
	fi
}

# client NAME CMD...: runs a client in the foreground (120 s at most) and checks it exits 0.
client() {
	local name=$1 rc
	shift
	timeout 120 "$@" >"$tmp/$name.client" 2>&1
	rc=$?
	if [ "$rc" -eq 0 ]; then
		echo "ok   $name: $(grep -m1 '^RESULT' "$tmp/$name.client")"
	else
		echo "FAIL $name client (exit $rc): $*" >&2
		cat "$tmp/$name.client" >&2
		failed=1
	fi
}

# pair NAME PROTO "SERVER ARGS" "CLIENT ARGS" [stop]: one server, one client, on a new port
# that replaces @A@ in the arguments.
pair() {
	local name=$1 proto=$2 how=${5:-}
	port=$((port + 1))
	local sargs=${3//@A@/127.0.0.1:$port} cargs=${4//@A@/127.0.0.1:$port}
	sargs=${sargs//@P@/$port} sargs=${sargs//@T@/$tmp}
	# shellcheck disable=SC2086 # the argument strings are meant to split
	if start "$name" "$proto" $sargs; then
		client "$name" $cargs
		finish "$name" "$server" "$how"
	else
		echo "FAIL $name: server did not start" >&2
		cat "$tmp/$name.server" >&2
		failed=1
	fi
}

d=$dir
pair tcp-echo tcp "$d/tcp-echo --server @A@ --count 32" \
	"$d/tcp-echo --client @A@ --clients 32 --size 100000 --requests 4"
pair tcp-echo-1b tcp "$d/tcp-echo --server @A@ --count 4" \
	"$d/tcp-echo --client @A@ --clients 4 --size 1 --requests 500"
pair udp-echo udp "$d/udp-echo --server @A@" \
	"$d/udp-echo --client @A@ --clients 8 --size 1200 --requests 200" stop
pair udp-echo-max udp "$d/udp-echo --server @A@" \
	"$d/udp-echo --client @A@ --clients 2 --size 65507 --requests 20" stop
pair tcp-pingpong tcp "$d/tcp-pingpong --server @A@ --count 1" \
	"$d/tcp-pingpong --client @A@ --size 4096 --requests 2000 --warmup 100"
pair udp-pingpong udp "$d/udp-pingpong --server @A@" \
	"$d/udp-pingpong --client @A@ --size 64 --requests 2000 --warmup 100" stop
pair tcp-push-pop tcp "$d/tcp-push-pop --server @A@ --count 1 --size 65536" \
	"$d/tcp-push-pop --client @A@ --size 65536 --requests 2000 --window 8"
pair udp-push-pop udp "$d/udp-push-pop --server @A@ --size 1024" \
	"$d/udp-push-pop --client @A@ --size 1024 --requests 2000 --window 4"
for mode in epoll blocking; do
	for proto in tcp udp; do
		pair linux-$mode-$proto "$proto" \
			"$d/linux-echo --server @A@ --mode $mode --proto $proto" \
			"$d/linux-echo --pingpong @A@ --proto $proto --size 512 --requests 2000" stop
	done
done
for proto in tcp udp; do
	pair linux-epoll-client-$proto "$proto" "$d/linux-echo --server @A@ --proto $proto" \
		"$d/linux-echo --pingpong @A@ --proto $proto --mode epoll --size 3000 --requests 2000" stop
done
# The demi pingpong client against the Linux server and the reverse: same wire protocol.
pair mixed-linux-server tcp "$d/linux-echo --server @A@ --mode epoll" \
	"$d/tcp-pingpong --client @A@ --size 100 --requests 1000" stop
pair mixed-demi-server tcp "$d/tcp-echo --server @A@ --count 1" \
	"$d/linux-echo --pingpong @A@ --size 100 --requests 1000"

# The key-value load generator against the stock servers (kernel sockets): every reply checked,
# on the io_uring engine too. Then a value changed behind its back must make it fail.
redis="redis-server --port @P@ --bind 127.0.0.1 --dir @T@ --save --appendonly no"
memcd="memcached -u root -p @P@ -l 127.0.0.1 -U 0 -I 2m"
for engine in epoll io_uring; do
	export CATNAP_ENGINE=$engine
	pair kv-redis-$engine tcp "$redis" \
		"$d/kv-load --server @A@ --populate --keys 2000 --requests 20000 --connections 8 --pipeline 16" stop
	pair kv-memcached-$engine tcp "$memcd" \
		"$d/kv-load --server @A@ --proto memcache --populate --keys 2000 --requests 20000 --connections 8 --pipeline 16" stop
done
unset CATNAP_ENGINE
pair kv-redis-1m tcp "$redis" \
	"$d/kv-load --server @A@ --populate --keys 20 --requests 200 --value-size 1m --pipeline 4 --ratio 1:1" stop
pair kv-memcached-1m tcp "$memcd" \
	"$d/kv-load --server @A@ --proto memcache --populate --keys 20 --requests 200 --value-size 1m --pipeline 4 --ratio 1:1" stop

# kv-load must notice a wrong value and a missing key: exit 1, naming what it found.
port=$((port + 1))
rcmd=${redis//@P@/$port}
# shellcheck disable=SC2086 # the server's command line is meant to split
if start kv-detect tcp ${rcmd//@T@/$tmp}; then
	a=127.0.0.1:$port
	"$d/kv-load" --server "$a" --populate --keys 4 --requests 1 >/dev/null 2>&1 ||
		{ echo "FAIL kv-detect: populate" >&2; failed=1; }
	redis-cli -p "$port" set key:000000000002 "$(head -c 64 /dev/zero | tr '\0' x)" >/dev/null
	redis-cli -p "$port" del key:000000000003 >/dev/null
	for want in "value differs" "missed a populated key"; do
		keys=3 # keys 0-2: key 2 holds a wrong value
		if [ "$want" != "value differs" ]; then
			# Keys 0-2 right again; key 3 is absent.
			"$d/kv-load" --server "$a" --populate --keys 3 --requests 1 >/dev/null 2>&1
			keys=4
		fi
		out=$("$d/kv-load" --server "$a" --keys $keys --requests 400 --ratio 0:1 --strict 2>&1)
		rc=$?
		if [ $rc -eq 1 ] && grep -q "$want" <<<"$out"; then
			echo "ok   kv-detect: $want"
		else
			echo "FAIL kv-detect: expected exit 1 and '$want', got exit $rc:" >&2
			echo "$out" >&2
			failed=1
		fi
	done
	finish kv-detect "$server" stop
else
	echo "FAIL kv-detect: server did not start" >&2
	failed=1
fi

exit "$failed"
