#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Hostile traffic against catnip, Linux as the reference (issue 12): hostile.py sends crafted
# frames (RFC 5961 blind RST/SYN/data, bad checksums, out-of-window data, malformed TCP
# options, malformed IPv4/ICMP/UDP/Ethernet frames) to a catnip echo server and to a Linux
# echo server, compares what each answers and whether each still serves afterwards, and
# prints the table. Then catnip must still echo over a fresh kernel connection, exit 0 on
# SIGINT, and its counters must show the drops.
#
# Two namespaces made for the test:
#   H: the hostile side. A tap (catnip's net_tap port, created persistent so that the TCP and
#      then the UDP catnip server attach to it) with the Linux address $lin, catnip at $cat;
#      one end of a veth pair with $hv. nftables drops the kernel's own RSTs for hostile.py's
#      ports (20000-29999: scapy plays those connections, the kernel knows none of them) and
#      its ICMP errors (answers to echoes nobody listens for).
#   R: the Linux reference, the veth's other end with $ref; examples/linux-echo serves TCP
#      and UDP there, with Linux's out-of-window ACK rate limit off (per connection, 500 ms
#      by default: a case must see each answer).
# Phase tcp runs examples/tcp-echo --server on catnip, phase udp examples/udp-echo --server.
#   usage: hostile.sh BUILD_DIR      exit 0 pass, 1 fail, 77 skip (with the reason)
set -u
build=$1
ex=$build/examples
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
py=/usr/bin/python3 # Debian's, where python3-scapy is
skip() {
	echo "SKIP: $*"
	exit 77
}
[ "$(id -u)" = 0 ] || skip "needs root (network namespaces, tap device)"
[ -c /dev/net/tun ] || skip "no /dev/net/tun"
command -v ip >/dev/null || skip "no ip (iproute2)"
for p in tcp-echo udp-echo linux-echo; do
	[ -x "$ex/$p" ] || skip "examples not built"
done
$py -c 'import scapy.all' 2>/dev/null || skip "no python3-scapy (tests/deps.sh installs it)"
command -v nft >/dev/null || {
	echo "FAIL: nft (nftables) is missing: tests/deps.sh installs it"
	exit 1
}

h=demi-hh-$$ r=demi-hr-$$
tap=dht$(($$ % 100000)) vh=dhv$(($$ % 100000)) vr=dhr$(($$ % 100000))
lin=10.86.0.1 cat=10.86.0.2 hv=10.87.0.1 ref=10.87.0.2
dir=$(mktemp -d)
pid=
lpids=()
cleanup() {
	[ -n "$pid" ] && kill -INT "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	for p in "${lpids[@]}"; do
		kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	ip netns del "$h" 2>/dev/null
	ip netns del "$r" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT
trap '' PIPE
ip netns add "$h" || skip "cannot create a network namespace"
ip netns add "$r" || skip "cannot create a network namespace"
hx() { ip netns exec "$h" "$@"; }
rx() { ip netns exec "$r" "$@"; }
ip -n "$h" link set lo up
ip -n "$r" link set lo up
ip -n "$h" tuntap add dev "$tap" mode tap multi_queue || skip "cannot create a tap device"
ip -n "$h" addr add $lin/24 dev "$tap"
ip -n "$h" link add "$vh" type veth peer name "$vr" netns "$r" || skip "cannot create a veth pair"
ip -n "$h" addr add $hv/24 dev "$vh"
ip -n "$r" addr add $ref/24 dev "$vr"
ip -n "$h" link set "$vh" up
ip -n "$r" link set "$vr" up
rx sysctl -qw net.ipv4.tcp_invalid_ratelimit=0
rx sysctl -qw net.ipv4.tcp_challenge_ack_limit=1000000 2>/dev/null
hx nft -f - <<EON || {
table inet hostile {
	chain out {
		type filter hook output priority 0
		tcp sport 20000-29999 tcp flags & rst == rst drop
		icmp type destination-unreachable drop
	}
}
EON
	echo "FAIL: nftables rules"
	exit 1
}

cat >"$dir/catnip.yaml" <<EOY
libos: catnip
demikernel:
  local_ipv4_addr: $cat
dpdk:
  eal_init: ["hostile", "-l", "0", "--no-pci", "--no-telemetry", "--no-huge", "-m", "256",
             "--file-prefix", "hst$$", "--vdev=net_tap0,iface=$tap,mac=fixed"]
EOY

# Not through rx: a backgrounded shell function is a subshell whose PID ($!) is not the
# server's, and killing it at cleanup left the servers running. ip netns exec execs the
# command in its own process, so $! is the server.
ip netns exec "$r" "$ex/linux-echo" --server $ref:7 --proto tcp >"$dir/linux-tcp.log" 2>&1 &
lpids+=($!)
ip netns exec "$r" "$ex/linux-echo" --server $ref:7 --proto udp >"$dir/linux-udp.log" 2>&1 &
lpids+=($!)

rc=0
fail() {
	echo "FAIL: $1"
	[ -f "${2:-}" ] && tail -30 "$2"
	rc=1
}
# start_catnip PROGRAM BANNER: a catnip echo server on the tap, in H.
start_catnip() {
	ip -n "$h" neigh flush dev "$tap" 2>/dev/null
	# (ip netns exec and env exec the program: $! is its PID, which SIGINT must reach)
	ip netns exec "$h" env CONFIG_PATH="$dir/catnip.yaml" DEMI_LOG=info "$ex/$1" \
		--server $cat:7 >"$dir/$1.log" 2>&1 &
	pid=$!
	for _ in $(seq 100); do
		grep -qs "$2" "$dir/$1.log" && return 0
		kill -0 $pid 2>/dev/null || break
		sleep 0.1
	done
	fail "the catnip $1 server did not start" "$dir/$1.log"
	exit 1
}
# stop_catnip PROGRAM PHASE: SIGINT must end it with 0; its counters must show the drops.
stop_catnip() {
	if ! kill -0 $pid 2>/dev/null; then
		fail "catnip $1 died during the hostile cases" "$dir/$1.log"
		pid=
		return
	fi
	kill -INT $pid
	wait $pid
	local src=$?
	pid=
	[ $src = 0 ] || fail "catnip $1 exited with $src on SIGINT" "$dir/$1.log"
	grep -h "echo server:" "$dir/$1.log"
	grep -q "echo server:.* 0 errors" "$dir/$1.log" || fail "catnip $1 counted errors" "$dir/$1.log"
	$py "$here/hostile.py" counters "$2" "$dir/$1.log" || rc=1
}
# cases PHASE: the table; catnip's side on the tap, Linux's on the veth.
cases() {
	if ! hx timeout 100 $py "$here/hostile.py" "$1" "$tap" $cat "$vh" $ref 7 \
		>"$dir/cases-$1.log" 2>&1; then
		fail "phase $1: catnip answered differently from Linux (table above)"
	fi
	cat "$dir/cases-$1.log"
}

# phase tcp|udp PROGRAM TITLE: the catnip server, the cases, then a fresh kernel socket's
# echoes (catnip must still serve), SIGINT and the counters.
phase() {
	echo "== [${SECONDS}s] $3: catnip $2 vs Linux"
	start_catnip "$2" "$1 echo server on"
	cases "$1"
	echo "== [${SECONDS}s] a fresh $1 socket from the kernel to catnip after all that"
	if ! kill -0 $pid 2>/dev/null; then
		: # stop_catnip says it
	elif ! hx timeout 30 "$ex/linux-echo" --pingpong $cat:7 --proto "$1" --size 64 \
		--requests 200 --timeout-ms 5000 >"$dir/fresh-$1.log" 2>&1; then
		fail "catnip no longer echoes $1 from a fresh socket" "$dir/fresh-$1.log"
	else
		grep RESULT "$dir/fresh-$1.log"
	fi
	stop_catnip "$2" "$1"
}

phase tcp tcp-echo "TCP, IPv4, ICMP, Ethernet"
phase udp udp-echo "UDP"

[ $rc = 0 ] && echo "[${SECONDS}s] PASS: catnip answered hostile traffic as Linux did (or as listed) and stayed up"
exit $rc
