#!/bin/bash
# SPDX-License-Identifier: MIT
#
# catmint's device tests, run INSIDE the soft-RoCE guest (vm.sh boots it once for all of them):
#   guest.sh BUILD_DIR
# Runs every test_mint_* program (each: exit 0 pass, 1 fail, 77 skip), then the unchanged
# examples (tcp-echo server, tcp-pingpong client) with LIBOS=catmint, and prints one line per
# test and a summary. Logs: BUILD_DIR/rdma-logs/.
# Exit 1 when a test failed, or when a device test skipped while others ran (its device was
# there); 77 when the guest has no RDMA device (vm.sh's soft-RoCE setup failed) or every test
# skipped; 0 otherwise: a guest where nothing ran is never a pass.
# Environment from vm.sh: RDMA_IP (address of the RDMA interface), RDMA_DEV.
set -u
build=$(realpath "$1")
logs=$build/rdma-logs
mkdir -p "$logs"
export LIBOS=catmint
pass=0 fail=0 skip=0
t_start=$(date +%s)

# report NAME RC SECONDS: one line, and the log of a failure.
report() {
	local name=$1 rc=$2 secs=$3 word
	case $rc in
	0) word=PASS; pass=$((pass + 1)) ;;
	77) word=SKIP; skip=$((skip + 1)) ;;
	*) word=FAIL; fail=$((fail + 1)) ;;
	esac
	printf '%-5s %-28s %4ss\n' "$word" "$name" "$secs"
	if [ "$word" = SKIP ]; then
		grep -m1 -i skip "$logs/$name.log" | sed 's/^/      /'
	elif [ "$word" = FAIL ]; then
		echo "      exit $rc; last lines of $logs/$name.log:"
		tail -n 30 "$logs/$name.log" | sed 's/^/      | /'
	fi
}

run() { # NAME TIMEOUT CMD...
	local name=$1 limit=$2 t0 rc
	shift 2
	t0=$(date +%s)
	timeout -k 5 "$limit" "$@" >"$logs/$name.log" 2>&1
	rc=$?
	[ $rc = 124 ] && echo "timed out after ${limit}s" >>"$logs/$name.log"
	report "$name" "$rc" $(($(date +%s) - t0))
}

echo "catmint device tests on ${RDMA_DEV:-?} (${RDMA_IP:-?}), kernel $(uname -r)"
if [ -z "$(ls /sys/class/infiniband 2>/dev/null)" ] || [ -z "${RDMA_IP:-}" ]; then
	echo "SKIP: no RDMA device in this guest (the soft-RoCE setup failed: see the console)"
	exit 77
fi
for t in echo many bigmsg flowctl disconnect errors; do
	run "test_mint_$t" 240 "$build/tests/rdma/test_mint_$t"
done
dev_skip=$skip

# The examples, unchanged, on catmint: the echo server serves two clients and exits.
examples() {
	local port=18515 srv rc=0 out
	out=$(mktemp)
	"$build/examples/tcp-echo" --server "$RDMA_IP:$port" --count 2 >"$out" 2>&1 &
	srv=$!
	# The server listens once it says so (slow to start under a sanitizer in an emulator).
	for _ in $(seq 600); do
		grep -q "echo server on" "$out" && break
		kill -0 "$srv" 2>/dev/null || break
		sleep 0.1
	done
	cat "$out"
	"$build/examples/tcp-pingpong" --client "$RDMA_IP:$port" --size 64 --requests 2000 \
		--warmup 100 || rc=1
	"$build/examples/tcp-pingpong" --client "$RDMA_IP:$port" --size 65536 --requests 200 \
		--warmup 10 || rc=1
	# A client that failed leaves the server waiting for its second connection.
	[ $rc = 0 ] || kill -INT "$srv" 2>/dev/null
	wait "$srv" || rc=1
	cat "$out"
	rm -f "$out"
	return $rc
}
if [ -x "$build/examples/tcp-echo" ]; then
	export -f examples
	export build RDMA_IP
	run examples_echo_pingpong 120 bash -c examples
else
	echo "SKIP  examples (not built)"
	skip=$((skip + 1))
fi

echo "catmint device tests: $pass passed, $fail failed, $skip skipped in $(($(date +%s) - t_start)) s"
if [ $fail != 0 ]; then
	exit 1
elif [ $pass = 0 ]; then
	echo "SKIP: every test skipped: nothing ran on the device"
	exit 77
elif [ $dev_skip != 0 ]; then
	echo "FAIL: $dev_skip device tests skipped on a guest where the others ran"
	exit 1
fi
exit 0
