#!/bin/bash
# SPDX-License-Identifier: MIT
#
# memcached on libdemikernel over catmint (docs/memcached.md): boots the soft-RoCE guest of
# tests/rdma/vm.sh and runs, inside it, the port (-t 1, LIBOS=catmint) and kv-load on catmint
# against it: 64 B with 1 connection and with 8 pipelined, then 1 MB values; SIGINT exits 0.
#   usage: test-memcached-catmint.sh MEMCACHED KV_LOAD TESTS_RDMA_DIR BUILD_DIR
#          (inside the guest: test-memcached-catmint.sh --guest MEMCACHED KV_LOAD)
# Exit 0 pass, 1 fail, 77 skip (no catmint in this build, no guest can boot here).
set -u
if [ "${1:-}" = --guest ]; then
	server=$2 kvload=$3
	export LIBOS=catmint
	log=$(mktemp)
	"$server" -u root -l "$RDMA_IP" -p 11211 -U 0 -t 1 -v >"$log" 2>&1 &
	pid=$!
	for _ in $(seq 600); do
		grep -q "worker listening" "$log" && break
		kill -0 $pid 2>/dev/null || break
		sleep 0.1
	done
	grep -q "worker listening" "$log" || { echo "FAIL: the port did not start"; cat "$log"; exit 1; }
	rc=0
	load() { # NAME ARGS...
		local name=$1 out
		shift
		out=$(timeout 300 "$kvload" --server "$RDMA_IP:11211" --proto memcache "$@" 2>&1)
		if [ $? = 0 ]; then
			echo "ok   $name: $(grep RESULT <<<"$out")"
		else
			echo "FAIL $name: $(tail -3 <<<"$out")"
			rc=1
		fi
	}
	load "1 connection, 64 B" --populate --keys 500 --requests 3000 --connections 1
	load "8 connections x 4, 64 B" --populate --keys 500 --requests 8000 --connections 8 --pipeline 4
	load "1 MB values" --populate --keys 10 --requests 20 --value-size 1000000 --pipeline 2 --ratio 1:1
	kill -INT $pid
	wait $pid
	src=$?
	[ $src = 0 ] && echo "ok   SIGINT: exit 0" || { echo "FAIL: the port exited with $src"; tail -20 "$log"; rc=1; }
	exit $rc
fi
server=${1:?usage: test-memcached-catmint.sh MEMCACHED KV_LOAD TESTS_RDMA_DIR BUILD_DIR}
# Sanitizer builds: memcached's own leak at exit is not ours to report (lsan.supp; vm.sh passes
# LSAN_OPTIONS into the guest, which sees the host's files at the same paths).
export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$(realpath "$(dirname "$0")")/lsan.supp"
kvload=${2:?} rdma=${3:?} build=${4:?}
[ -x "$build/tests/rdma/test_mint_echo" ] || { echo "SKIP: catmint is not built"; exit 77; }
[ -x "$server" ] || { echo "FAIL: $server was not built (ninja -C build memcached)"; exit 1; }
bash "$rdma/vm.sh" --check || exit $?
# The guest sees the build directory at the same path (its /tmp is private).
build=$(realpath "$build")
mkdir -p "$build/.vm"
cp "$0" "$build/.vm/memcached-catmint.sh"
bash "$rdma/vm.sh" "$build" bash "$build/.vm/memcached-catmint.sh" --guest "$(realpath "$server")" \
	"$(realpath "$kvload")"
