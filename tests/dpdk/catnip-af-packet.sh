#!/bin/bash
# SPDX-License-Identifier: MIT
#
# catnip over net_af_packet and net_af_xdp on a veth pair, the Linux kernel as the peer:
# examples/udp-echo with LIBOS=catnip in one network namespace on one end, a Linux UDP client
# in another on the other end, once per driver. net_af_xdp checks that such a port receives
# into a plain mempool (catnip/dev/dpdk_link.c: its UMEM cannot use external data rooms); it
# is skipped where the driver is not installed. (Linux sends partial checksums over veth: tx
# offload is turned off on its side, as shared notes on this machine say.)
#   usage: catnip-af-packet.sh BUILD_DIR      exit 0 pass, 1 fail, 77 skip (with the reason)
set -u
ex=$1/examples
# In a sanitizer build LeakSanitizer checks the server at exit; libxdp (under net_af_xdp)
# leaks a few bytes of its own, suppressed by name (tests/dpdk/lsan-dpdk-drivers.supp).
export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$(realpath "$(dirname "$0")")/lsan-dpdk-drivers.supp"
skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root (network namespaces, veth)"
command -v ip >/dev/null || skip "no ip (iproute2)"
command -v ethtool >/dev/null || skip "no ethtool"
[ -x "$ex/udp-echo" ] || skip "examples not built"
a=demi-apa-$$ b=demi-apb-$$
dir=$(mktemp -d)
pid=
cleanup() {
	[ -n "$pid" ] && kill -INT "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	ip netns del "$a" 2>/dev/null
	ip netns del "$b" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT
ip netns add "$a" && ip netns add "$b" || skip "cannot create network namespaces"
ip -n "$a" link add va type veth peer name vb netns "$b" || skip "cannot create a veth pair"
ip -n "$a" link set va up
ip -n "$b" addr add 10.80.0.1/24 dev vb
ip -n "$b" link set vb up
ip netns exec "$b" ethtool -K vb tx off >/dev/null
rc=0

# echo_over NAME VDEV: a catnip UDP echo server on VDEV, 2000 round trips from Linux.
echo_over() {
	local src
	cat >"$dir/c.yaml" <<EOY
libos: catnip
demikernel:
  local_ipv4_addr: 10.80.0.2
dpdk:
  eal_init: ["apk", "-l", "1", "--no-pci", "--no-telemetry", "--no-huge", "-m", "256",
             "--file-prefix", "apk$$", "--vdev=$2"]
  rx_buf_bytes: 4096
EOY
	ip netns exec "$a" env CONFIG_PATH="$dir/c.yaml" DEMI_LOG=info "$ex/udp-echo" \
		--server 10.80.0.2:7 >"$dir/s.log" 2>&1 &
	pid=$!
	sleep 1.5
	if ! ip netns exec "$b" timeout 60 "$ex/linux-echo" --pingpong 10.80.0.2:7 --proto udp \
		--size 1000 --requests 2000 --warmup 100 >"$dir/c.log" 2>&1; then
		echo "FAIL: Linux UDP client over $1"
		cat "$dir/c.log"
		tail -20 "$dir/s.log"
		rc=1
	else
		grep RESULT "$dir/c.log"
	fi
	kill -INT $pid
	wait $pid
	src=$?
	pid=
	grep -o "catnip: counters: .*" "$dir/s.log"
	grep -o "catnip: device rx .*" "$dir/s.log"
	[ $src = 0 ] || { echo "FAIL: server over $1 exited with $src"; tail -20 "$dir/s.log"; rc=1; }
}

echo_over net_af_packet "net_af_packet0,iface=va"
[ $rc = 0 ] && echo "PASS: catnip over net_af_packet answered a Linux UDP client"
if ls /usr/lib/*/dpdk/pmds-*/librte_net_af_xdp.so* >/dev/null 2>&1; then
	r0=$rc
	echo_over net_af_xdp "net_af_xdp0,iface=va,start_queue=0,queue_count=1"
	if [ $rc = "$r0" ] && ! grep -q "device rx [1-9][0-9]* frames ([1-9][0-9]* copied" "$dir/s.log"; then
		echo "FAIL: net_af_xdp's frames were not received into the plain mempool and copied"
		rc=1
	fi
	[ $rc = "$r0" ] && echo "PASS: catnip over net_af_xdp answered a Linux UDP client"
else
	echo "(net_af_xdp not installed: that half skipped)"
fi
exit $rc
