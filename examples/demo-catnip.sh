#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# catnip in one command (Debian 12, as root): installs what is missing, builds, reserves
# hugepages when the machine has none (as DPDK deployments do; --no-huge only if that fails),
# then runs the unchanged TCP echo examples on catnip twice and prints both latency tables:
#   1. catnip server on a DPDK net_tap port in a network namespace made for the demo, driven by
#      the Linux kernel's TCP (examples/linux-echo --pingpong inside the namespace);
#   2. catnip server and catnip client, two processes joined by DPDK net_memif (no kernel on
#      either end), server on core 1 and client on core 0.
# Everything it creates (namespace, tap, sockets, temporary files) is removed at exit; the
# hugepages it reserved stay reserved (say --release-hugepages to give them back).
#   usage: bash examples/demo-catnip.sh [--size B] [--requests N] [--release-hugepages]
#                                       [--build DIR]
# --build DIR runs the programs of that build as they are (no install, no build step): how
# tests/dpdk/catnip-demo.sh runs the demo from the test suite.
# A real NIC instead of net_tap/net_memif: see docs/catnip.md.
set -euo pipefail
cd "$(dirname "$0")/.."
size=64 requests=20000 release=0 build=
while [ $# -gt 0 ]; do
	case "$1" in
	--size) size=$2; shift 2 ;;
	--requests) requests=$2; shift 2 ;;
	--release-hugepages) release=1; shift ;;
	--build) build=$2; shift 2 ;;
	*) echo "usage: $0 [--size B] [--requests N] [--release-hugepages] [--build DIR]" >&2; exit 2 ;;
	esac
done
[ "$(id -u)" = 0 ] || { echo "demo-catnip: run as root (namespaces, tap, hugepages)" >&2; exit 1; }
if [ -z "$build" ]; then
	bash tests/deps.sh
	[ -d build ] || meson setup build >/dev/null
	ninja -C build >/dev/null
	build=build
fi
ex=$build/examples

# Hugepages: DPDK's memory as deployed. Reserve 256 x 2 MiB if none are free.
before=$(cat /proc/sys/vm/nr_hugepages)
mem=(--in-memory)
if [ "$(awk '/HugePages_Free/ {print $2}' /proc/meminfo)" -lt 128 ]; then
	sysctl -qw vm.nr_hugepages=$((before + 256)) 2>/dev/null || true
fi
if [ "$(awk '/HugePages_Free/ {print $2}' /proc/meminfo)" -lt 128 ]; then
	echo "demo-catnip: no hugepages could be reserved: falling back to --no-huge (slower)"
	mem=(--no-huge -m 256)
else
	echo "demo-catnip: $(awk '/HugePages_Free/ {print $2}' /proc/meminfo) hugepages of 2 MiB free"
fi
eal() { # NAME CORE VDEV -> a YAML list for dpdk.eal_init
	local out="[\"$1\", \"-l\", \"$2\", \"--no-pci\", \"--no-telemetry\"" a
	for a in "${mem[@]}"; do out+=", \"$a\""; done
	echo "$out, \"--file-prefix\", \"$1$$\", \"--vdev=$3\"]"
}

ns=demi-demo-$$ tap=ddemo$(($$ % 10000))
dir=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	ip netns del "$ns" 2>/dev/null || true
	rm -rf "$dir"
	[ $release = 1 ] && sysctl -qw vm.nr_hugepages="$before" 2>/dev/null
	true
}
trap cleanup EXIT
trap '' PIPE

# 1. net_tap in a namespace: Linux (kernel TCP) -> catnip.
ip netns add "$ns"
ip -n "$ns" link set lo up
ip -n "$ns" tuntap add dev "$tap" mode tap multi_queue
ip -n "$ns" addr add 10.89.0.1/24 dev "$tap"
cat >"$dir/tap.yaml" <<EOY
libos: catnip
demikernel:
  local_ipv4_addr: 10.89.0.2
dpdk:
  eal_init: $(eal demotap 1 "net_tap0,iface=$tap,mac=fixed")
EOY
ip netns exec "$ns" env CONFIG_PATH="$dir/tap.yaml" "$ex/tcp-echo" --server 10.89.0.2:7 \
	>"$dir/tap-server.log" 2>&1 &
pids+=($!)
ip -n "$ns" link set "$tap" up
for _ in $(seq 100); do
	# Ready when a connection to the echo port succeeds (bash's /dev/tcp: no extra tool).
	ip netns exec "$ns" timeout 1 bash -c 'exec 3<>/dev/tcp/10.89.0.2/7' 2>/dev/null && break
	kill -0 "${pids[0]}" 2>/dev/null || { cat "$dir/tap-server.log"; exit 1; }
	sleep 0.2
done
echo
echo "== 1. Linux kernel TCP client (in namespace $ns) -> catnip tcp-echo server on net_tap"
ip netns exec "$ns" taskset -c 0 "$ex/linux-echo" --pingpong 10.89.0.2:7 --proto tcp \
	--size "$size" --requests "$requests"
kill -INT "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true; pids=()

# 2. net_memif between two catnip processes.
for role in server client; do
	core=1 ip=10.89.1.1 mac=02:00:00:00:89:01
	[ $role = client ] && core=0 ip=10.89.1.2 mac=02:00:00:00:89:02
	cat >"$dir/$role.yaml" <<EOY
libos: catnip
demikernel:
  local_ipv4_addr: $ip
dpdk:
  eal_init: $(eal "demo$role" $core "net_memif0,role=$role,id=0,socket=$dir/m.sock,socket-abstract=no,mac=$mac")
EOY
done
CONFIG_PATH="$dir/server.yaml" "$ex/tcp-echo" --server 10.89.1.1:7 >"$dir/memif-server.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
	[ -S "$dir/m.sock" ] && break
	kill -0 "${pids[0]}" 2>/dev/null || { cat "$dir/memif-server.log"; exit 1; }
	sleep 0.1
done
echo
echo "== 2. catnip tcp-pingpong client -> catnip tcp-echo server, net_memif (no kernel)"
CONFIG_PATH="$dir/client.yaml" "$ex/tcp-pingpong" --client 10.89.1.1:7 --size "$size" \
	--requests "$requests" --warmup 1000 2>/dev/null
