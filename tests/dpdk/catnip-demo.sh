#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The README's "catnip in one command" (examples/demo.sh --libos catnip, which runs
# examples/demo-catnip.sh) on this build's programs: it must exit 0 and print both latency
# tables, the Linux kernel's TCP client against catnip on net_tap and catnip against catnip on
# net_memif, each a RESULT line with every round trip answered.
#   usage: catnip-demo.sh BUILD_DIR      exit 0 pass, 1 fail, 77 skip (with the reason)
set -u
build=$(cd "${1:?usage: catnip-demo.sh BUILD_DIR}" && pwd)
top=$(cd "$(dirname "$0")/../.." && pwd)
[ "$(id -u)" = 0 ] || { echo "SKIP: the demo needs root (namespace, tap, hugepages)"; exit 77; }
[ -e /dev/net/tun ] || { echo "SKIP: no /dev/net/tun"; exit 77; }
for p in tcp-echo tcp-pingpong linux-echo; do
	[ -x "$build/examples/$p" ] || { echo "SKIP: examples not built"; exit 77; }
done
out=$(mktemp)
trap 'rm -f "$out"' EXIT
requests=2000
timeout 120 bash "$top/examples/demo.sh" --libos catnip --build "$build" --requests $requests \
	>"$out" 2>&1
rc=$?
cat "$out"
[ $rc = 0 ] || { echo "FAIL: the demo exited with $rc"; exit 1; }
n=$(grep -c "^RESULT proto=linux-tcp size=64 n=$requests \|^RESULT proto=tcp size=64 n=$requests " "$out")
[ "$n" = 2 ] || { echo "FAIL: expected both latency tables (2 RESULT lines of $requests round trips), found $n"; exit 1; }
echo "PASS: the catnip demo printed both latency tables"
