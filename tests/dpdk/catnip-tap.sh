#!/bin/bash
# SPDX-License-Identifier: MIT
#
# catnip end to end with the Linux kernel as the peer: examples/udp-echo --server runs with
# LIBOS=catnip on a DPDK net_tap port inside a network namespace made for the test; from the
# kernel side of that tap, ICMP echo (a raw socket: this machine may have no ping binary) and
# a Linux UDP socket client (linux-echo --pingpong --proto udp) must be answered byte-exact.
#   usage: catnip-tap.sh BUILD_DIR      exit 0 pass, 1 fail, 77 skip (with the reason)
set -u
build=$1
ex=$build/examples
skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root (network namespace, tap device)"
[ -c /dev/net/tun ] || skip "no /dev/net/tun"
command -v ip >/dev/null || skip "no ip (iproute2)"
[ -x "$ex/udp-echo" ] && [ -x "$ex/linux-echo" ] || skip "examples not built"

ns=demi-cn-$$
tap=dcn$(( $$ % 100000 ))
dir=$(mktemp -d)
server=
cleanup() {
	[ -n "$server" ] && kill -INT "$server" 2>/dev/null && wait "$server" 2>/dev/null
	ip netns del "$ns" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT
ip netns add "$ns" || skip "cannot create a network namespace"
ip -n "$ns" link set lo up

cat >"$dir/catnip.yaml" <<EOY
libos: catnip
demikernel:
  local_ipv4_addr: 10.78.0.2
dpdk:
  eal_init: ["udp-echo", "-l", "0", "--no-pci", "--no-telemetry", "--no-huge", "-m", "256",
             "--file-prefix", "cn$$", "--vdev=net_tap0,iface=$tap"]
EOY
# The tap is created by DPDK in the server's namespace, where it must stay.
ip netns exec "$ns" env CONFIG_PATH="$dir/catnip.yaml" DEMI_LOG=info \
	"$ex/udp-echo" --server 10.78.0.2:7 >"$dir/server.log" 2>&1 &
server=$!
for _ in $(seq 100); do
	ip -n "$ns" link show "$tap" >/dev/null 2>&1 && break
	kill -0 "$server" 2>/dev/null || break
	sleep 0.1
done
if ! ip -n "$ns" link show "$tap" >/dev/null 2>&1; then
	echo "FAIL: the catnip server did not bring up $tap"
	cat "$dir/server.log"
	exit 1
fi
ip -n "$ns" addr add 10.78.0.1/24 dev "$tap"
ip -n "$ns" link set "$tap" up
sleep 0.5

rc=0
# ICMP echo from the kernel side, through a raw socket.
if ! ip netns exec "$ns" python3 - <<'EOP'
import os, socket, struct, sys, time
def csum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff); s += s >> 16
    return ~s & 0xffff
sk = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
sk.settimeout(2)
ok = 0
for seq in range(3):
    data = b"catnip ping %d" % seq
    hdr = struct.pack("!BBHHH", 8, 0, 0, 0x4242, seq)
    pkt = struct.pack("!BBHHH", 8, 0, csum(hdr + data), 0x4242, seq) + data
    sk.sendto(pkt, ("10.78.0.2", 0))
    try:
        while True:
            r, _ = sk.recvfrom(2048)
            ihl = (r[0] & 15) * 4
            t, c, ck, i, s = struct.unpack("!BBHHH", r[ihl:ihl + 8])
            if t == 0 and i == 0x4242 and s == seq and r[ihl + 8:] == data and csum(r[ihl:]) == 0:
                ok += 1
                break
    except socket.timeout:
        pass
print("ICMP echo: %d/3 answered" % ok)
sys.exit(0 if ok == 3 else 1)
EOP
then
	echo "FAIL: ping"
	rc=1
fi
# A Linux UDP client against the catnip echo server.
if ! ip netns exec "$ns" "$ex/linux-echo" --pingpong 10.78.0.2:7 --proto udp --size 64 \
	--requests 2000 --warmup 100 >"$dir/client.log" 2>&1; then
	echo "FAIL: UDP client"
	cat "$dir/client.log"
	rc=1
else
	grep RESULT "$dir/client.log"
fi
if ! ip netns exec "$ns" "$ex/linux-echo" --pingpong 10.78.0.2:7 --proto udp --size 1400 \
	--requests 500 >"$dir/client2.log" 2>&1; then
	echo "FAIL: UDP client, 1400 B"
	cat "$dir/client2.log"
	rc=1
fi
kill -INT "$server"
wait "$server"
src=$?
server=
grep -o "catnip: counters: .*" "$dir/server.log"
if [ $src -ne 0 ]; then
	echo "FAIL: catnip server exited with $src"
	cat "$dir/server.log"
	rc=1
fi
[ $rc = 0 ] && echo "PASS: catnip on net_tap answered ping and a Linux UDP client"
exit $rc
