#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The main demo: installs what is missing (Debian 12, as root), builds, then runs a TCP echo
# server and the ping-pong latency client on the default libOS (LIBOS, default catnap) over
# 127.0.0.1, and prints the client's latency table.
# With --libos catnip it runs examples/demo-catnip.sh instead (net_tap and net_memif).
#   usage: bash examples/demo.sh [--libos catnap|catnip] [--size B] [--requests N]
set -euo pipefail
cd "$(dirname "$0")/.."
size=64
requests=20000
while [ $# -gt 0 ]; do
	case "$1" in
	--libos)
		[ "$2" = catnip ] && { shift 2; exec bash examples/demo-catnip.sh "$@"; }
		export LIBOS=$2
		shift 2
		;;
	--size) size=$2; shift 2 ;;
	--requests) requests=$2; shift 2 ;;
	*) echo "usage: $0 [--libos catnap|catnip] [--size B] [--requests N]" >&2; exit 2 ;;
	esac
done
bash tests/deps.sh
[ -d build ] || meson setup build >/dev/null
ninja -C build >/dev/null
export LIBOS=${LIBOS:-catnap}
port=$((30000 + $$ % 20000))
ex=build/examples
pin_server=() pin_client=()
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
	pin_server=(taskset -c 1)
	pin_client=(taskset -c 0)
fi
"${pin_server[@]}" "$ex/tcp-echo" --server "127.0.0.1:$port" &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null' EXIT
# Wait until the server listens (or died).
for _ in $(seq 50); do
	kill -0 $server 2>/dev/null || { echo "demo: the echo server failed to start" >&2; exit 1; }
	if ss -Htln "sport = :$port" 2>/dev/null | grep -q .; then break; fi
	sleep 0.1
done
echo "demo: LIBOS=$LIBOS, tcp-echo server on 127.0.0.1:$port, $requests requests of $size bytes"
"${pin_client[@]}" "$ex/tcp-pingpong" --client "127.0.0.1:$port" --size "$size" \
	--requests "$requests" --warmup 1000
