#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Adaptive waiting (lib/wait.c, catnip's nip_poll_io): idle servers sleep, and sleeping loses
# neither frames nor timers. tests/dpdk/idle_client (round trips after random pauses and
# after silences, every echo checked byte for byte, see its header) runs against tcp-echo:
#   tap     catnip server on net_tap (receive interrupts), catnap client in the tap's netns;
#   memif   catnip server and catnip client over net_memif (no interrupts: naps);
#   catnap  catnap server and client over 127.0.0.1.
# In each, during a 4 s silence of the client, the CPU time of both processes over 2 s
# (utime + stime from /proc/PID/stat) must stay under IDLE_MAX_PCT (default 5) % of a core
# (an always-polling process uses 100%), and the first reply after each 1 s silence is printed.
#   retransmit  catnip as the client on net_tap against the kernel's echo server: after 1.5 s
#           of silence its next segment is dropped once (nftables on the kernel side); the echo
#           must come back through catnip's retransmission timer (100 ms .. 1.5 s), since the
#           kernel, which never saw the segment, sends nothing that could wake catnip. Run
#           once in the default configuration and once busy-polling (idle passes skip the
#           stack's poll until its next deadline: the echo must then come within 350 ms).
#   usage: catnip-idle.sh BUILD_DIR      exit 0 pass, 1 fail, 77 skip (with the reason)
# DEMIKERNEL_BUSY_POLL=true in the environment makes every process poll: the idle checks
# must then fail (that is how the test was checked).
set -u
build=$1
ex=$build/examples
cl=$build/tests/dpdk/idle_client
max_pct=${IDLE_MAX_PCT:-5}
skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root (network namespace, tap device)"
[ -c /dev/net/tun ] || skip "no /dev/net/tun"
command -v ip >/dev/null || skip "no ip (iproute2)"
[ -x "$ex/tcp-echo" ] && [ -x "$ex/linux-echo" ] && [ -x "$cl" ] || skip "examples not built"

ns=demi-idle-$$
tap=didl$(( $$ % 100000 ))
tap2=didr$(( $$ % 100000 ))
tap3=didx$(( $$ % 100000 ))
dir=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do
		kill -INT "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	ip netns del "$ns" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT
trap '' PIPE
ip netns add "$ns" || skip "cannot create a network namespace"
ip -n "$ns" link set lo up
rc=0
hz=$(getconf CLK_TCK)

fail() {
	echo "FAIL: $*"
	rc=1
}
# CPU time of a process in clock ticks (utime + stime; the name field may hold spaces).
ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
# Percent of a core each of the given processes used over 2 s; fails above max_pct.
idle_check() { # WHAT PID...
	local what=$1 t0 t1 a b p
	shift
	declare -A c0
	for p in "$@"; do c0[$p]=$(ticks "$p"); done
	t0=$(date +%s%N)
	sleep 2
	t1=$(date +%s%N)
	for p in "$@"; do
		a=${c0[$p]}
		b=$(ticks "$p")
		pct=$(awk -v d=$((b - a)) -v hz="$hz" -v ns=$((t1 - t0)) \
			'BEGIN { printf "%.1f", d / hz * 1e11 / ns }')
		echo "idle CPU: $what pid $p ($(tr -d '\0' <"/proc/$p/comm")): $pct % of a core"
		awk -v p="$pct" -v m="$max_pct" 'BEGIN { exit !(p > m) }' &&
			fail "$what: an idle process used $pct % of a core (max $max_pct %)"
	done
}
# Waits until LOG has a line matching RE (or PID ended). 0 when found.
wait_line() { # LOG RE PID SECONDS
	for _ in $(seq $(($4 * 20))); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		kill -0 "$3" 2>/dev/null || break
		sleep 0.05
	done
	grep -q "$2" "$1" 2>/dev/null
}
# Runs the client in the background (pids[-1]); measures both ends while it is idle, then
# waits for it and checks its result.
client_run() { # WHAT SERVER_PID LOG COMMAND...
	local what=$1 spid=$2 log=$3 cpid
	shift 3
	"$@" --idle-ms 4000 >"$log" 2>&1 &
	cpid=$!
	if wait_line "$log" '^idle' $cpid 60; then
		sleep 0.3
		idle_check "$what" "$spid" $cpid
	fi
	if ! wait $cpid; then
		fail "$what: client"
		cat "$log"
		return
	fi
	grep -E "first reply|RESULT" "$log" | sed "s/^/$what: /"
}
yaml() { # FILE IP EAL...
	local f=$1 ip=$2
	shift 2
	{
		echo "libos: catnip"
		echo "demikernel:"
		echo "  local_ipv4_addr: $ip"
		echo "dpdk:"
		printf '  eal_init: [""'
		for a in "$@"; do printf ', "%s"' "$a"; done
		echo "]"
	} >"$f"
}
eal_common=(--no-pci --no-telemetry --no-huge -m 256)
# Waits for a tap that a DPDK process creates in the namespace, then gives it its address.
tap_up() { # TAP PID ADDR
	for _ in $(seq 100); do
		ip -n "$ns" link show "$1" >/dev/null 2>&1 && break
		kill -0 "$2" 2>/dev/null || break
		sleep 0.1
	done
	ip -n "$ns" addr add "$3" dev "$1" && ip -n "$ns" link set "$1" up
}
stop() { # PID: SIGINT, must exit 0
	kill -INT "$1" 2>/dev/null
	wait "$1" || fail "process $1 exited with $?"
}

# ---- tap: catnip server, catnap client (the kernel's TCP) ----
yaml "$dir/tap.yaml" 10.86.0.2 -l 1 "${eal_common[@]}" --file-prefix "idlt$$" \
	"--vdev=net_tap0,iface=$tap"
ip netns exec "$ns" env CONFIG_PATH="$dir/tap.yaml" DEMI_LOG=info \
	"$ex/tcp-echo" --server 10.86.0.2:7 >"$dir/tap-server.log" 2>&1 &
spid=$!
pids+=($spid)
tap_up "$tap" $spid 10.86.0.1/24 || fail "tap: the catnip server did not bring up $tap"
sleep 0.5
client_run tap $spid "$dir/tap-client.log" ip netns exec "$ns" env LIBOS=catnap "$cl" 10.86.0.2:7
stop $spid
grep -o "tcp_retransmits=[0-9]*\|tcp_rto_timeouts=[0-9]*\|idle: .*naps" "$dir/tap-server.log" |
	tr '\n' ' ' | sed 's/^/tap: server /'
echo
grep -q "sleep on the receive interrupt" "$dir/tap-server.log" ||
	fail "tap: catnip did not use net_tap's receive interrupt"
[ $rc = 0 ] || cat "$dir/tap-server.log"

# ---- race: a frame that arrives while catnip goes to sleep must wake it ----
# Pairs of UDP datagrams from the kernel side to udp-echo, the second sent 0-500 us after the
# first: the window where catnip has polled its ring for the last time but not yet armed the
# interrupt lies somewhere in there (no spinning: spin_us 0). A datagram that arrives in it
# and is not seen by the check after arming waits for the next frame (UDP arms no timer):
# its echo does not come.
yaml "$dir/race.yaml" 10.89.0.2 -l 1 "${eal_common[@]}" --file-prefix "idlx$$" \
	"--vdev=net_tap0,iface=$tap3"
ip netns exec "$ns" env CONFIG_PATH="$dir/race.yaml" DEMIKERNEL_SPIN_US=0 DEMI_LOG=info \
	"$ex/udp-echo" --server 10.89.0.2:7 >"$dir/race-server.log" 2>&1 &
spid=$!
pids+=($spid)
tap_up "$tap3" $spid 10.89.0.1/24 || fail "race: the catnip server did not bring up $tap3"
sleep 0.5
if ! ip netns exec "$ns" python3 - <<'EOP'; then
import random, socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect(("10.89.0.2", 7))
s.settimeout(0.5)
random.seed(1)
pairs = 2000
for i in range(pairs):
    a, b = b"a%07d" % i, b"b%07d" % i
    s.send(a)
    end = time.perf_counter() + random.uniform(0, 500e-6)
    while time.perf_counter() < end:
        pass
    s.send(b)
    got = set()
    try:
        while len(got) < 2:
            got.add(s.recv(64))
    except socket.timeout:
        print("race: pair %d: %d of 2 datagrams echoed within 500 ms" % (i, len(got)))
        sys.exit(1)
    if got != {a, b}:
        print("race: pair %d: wrong echo %r" % (i, got))
        sys.exit(1)
print("race: %d pairs of datagrams 0-500 us apart, all echoed" % pairs)
EOP
	fail "race: a frame that arrived while catnip went to sleep was not seen"
fi
stop $spid
grep -o "idle: .*naps" "$dir/race-server.log" | sed 's/^/race: server /'

# ---- retransmit: catnip client on a second tap, the kernel's echo server ----
# Twice: with the default adaptive waiting (the timer must fire while catnip sleeps) and
# busy-polling (it must fire although the idle passes skip the stack's poll: catnip.c,
# poll_device, polls it at its next deadline).
# shellcheck disable=SC2317 # called below
rtx_phase() { # default|busy
	local m=$1 bp=${DEMIKERNEL_BUSY_POLL:-false} max_us=1500000
	# Polling, the retransmission timer (200 ms, the RTO's floor) fires on the pass it is due:
	# a tighter bound, which a poller that missed its deadline until some frame came fails.
	[ "$m" = busy ] && bp=true max_us=350000
	yaml "$dir/rtx.yaml" 10.87.0.2 -l 0 "${eal_common[@]}" --file-prefix "idlr$m$$" \
		"--vdev=net_tap0,iface=$tap2"
	ip netns exec "$ns" env CONFIG_PATH="$dir/rtx.yaml" DEMI_LOG=info DEMIKERNEL_BUSY_POLL=$bp \
		"$cl" 10.87.0.1:7 --warmup 20 --gaps 0 --silences 1 --silence-ms 1500 \
		>"$dir/rtx.log" 2>&1 &
	cpid=$!
	tap_up "$tap2" $cpid 10.87.0.1/24 || fail "retransmit ($m): no $tap2"
	if wait_line "$dir/rtx.log" '^silent' $cpid 30; then
		sleep 0.5
		# The first segment longer than a pure ACK that catnip sends now is dropped once.
		ip netns exec "$ns" nft -f - <<EON
table inet idle_rtx {
	chain in {
		type filter hook input priority 0;
		iifname "$tap2" ip length > 100 counter drop
	}
}
EON
		dropped=0
		for _ in $(seq 500); do
			dropped=$(ip netns exec "$ns" nft list table inet idle_rtx |
				grep -o 'packets [0-9]*' | awk '{print $2}')
			[ "${dropped:-0}" -ge 1 ] && break
			sleep 0.005
		done
		ip netns exec "$ns" nft delete table inet idle_rtx
		[ "${dropped:-0}" -ge 1 ] || fail "retransmit ($m): catnip sent nothing after the silence"
	fi
	if wait $cpid; then
		us=$(sed -n 's/^first reply after [0-9]* ms of silence: \([0-9.]*\) us/\1/p' \
			"$dir/rtx.log")
		echo "retransmit ($m): echo after the dropped segment: $us us"
		awk -v u="${us:-0}" -v max="$max_us" 'BEGIN { exit !(u >= 100000 && u <= max) }' ||
			fail "retransmit ($m): the retransmission did not come 100 ms .. $((max_us / 1000)) ms after the drop"
		grep -o "tcp_retransmits=[0-9]*\|tcp_tlp_probes=[0-9]*\|tcp_rto_timeouts=[0-9]*" \
			"$dir/rtx.log" | tr '\n' ' '
		echo
	else
		fail "retransmit ($m): client (a timer that does not fire while idle never resends)"
		cat "$dir/rtx.log"
	fi
}
if command -v nft >/dev/null; then
	# Listening on any address, before the tap (which the client creates) has its own.
	ip netns exec "$ns" "$ex/linux-echo" --server 0.0.0.0:7 >"$dir/lx.log" 2>&1 &
	pids+=($!)
	rtx_phase default
	rtx_phase busy
else
	echo "retransmit: skipped (no nft: package nftables)"
fi

# ---- memif: catnip on both ends, no interrupts (naps) ----
msock=$dir/m.sock
yaml "$dir/ms.yaml" 10.88.0.1 -l 1 "${eal_common[@]}" --file-prefix "idlm$$" \
	"--vdev=net_memif0,role=server,id=0,socket=$msock,socket-abstract=no"
yaml "$dir/mc.yaml" 10.88.0.2 -l 0 "${eal_common[@]}" --file-prefix "idlc$$" \
	"--vdev=net_memif0,role=client,id=0,socket=$msock,socket-abstract=no"
CONFIG_PATH=$dir/ms.yaml DEMI_LOG=info "$ex/tcp-echo" --server 10.88.0.1:7 \
	>"$dir/memif-server.log" 2>&1 &
spid=$!
pids+=($spid)
for _ in $(seq 100); do
	[ -S "$msock" ] && break
	sleep 0.1
done
client_run memif $spid "$dir/memif-client.log" env CONFIG_PATH="$dir/mc.yaml" DEMI_LOG=info \
	"$cl" 10.88.0.1:7
stop $spid
[ $rc = 0 ] || cat "$dir/memif-server.log"

# ---- catnap on both ends ----
port=$((20000 + $$ % 20000))
LIBOS=catnap "$ex/tcp-echo" --server 127.0.0.1:$port >"$dir/nap-server.log" 2>&1 &
spid=$!
pids+=($spid)
sleep 0.3
client_run catnap $spid "$dir/nap-client.log" env LIBOS=catnap "$cl" 127.0.0.1:$port
stop $spid

[ $rc = 0 ] && echo "PASS: idle catnip and catnap servers sleep; no echo lost, timers on time"
exit $rc
