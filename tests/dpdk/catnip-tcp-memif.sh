#!/bin/bash
# SPDX-License-Identifier: MIT
#
# catnip TCP on both ends: two catnip processes joined by net_memif (server on core 1, client
# on core 0) run the TCP examples unchanged (LIBOS=catnip through CONFIG_PATH):
#   tcp-echo     64 concurrent connections x 200 requests of 1000 B, then 1 connection with a
#                16 MiB request, every echoed byte checked by the client; then 128 connections
#                x 1 MiB at once, which the echo's pushes of received buffers would deadlock
#                without the receive memory budget (the server must report pressure, and its
#                device must never be left without receive buffers for good);
#   tcp-pingpong 20000 round trips of 64 B against the same echo server (checked);
#   tcp-push-pop 512 MiB one way in 1 MiB pushes: the server must count every byte.
# Both servers must exit 0 on SIGINT (tcp-echo with 0 errors). Then again with jumbo frames
# (dpdk.mtu 9000 over memif with bsize=9216): the 16 MiB echo and the 512 MiB push-pop, with
# segments of more than 4000 bytes on average and no frame copied on receive; and a memif
# whose bsize cannot hold the MTU is refused at demi_init with a message naming bsize.
#   usage: catnip-tcp-memif.sh BUILD_DIR      exit 0 pass, 1 fail, 77 skip (with the reason)
set -u
ex=$1/examples
for p in tcp-echo tcp-pingpong tcp-push-pop; do
	[ -x "$ex/$p" ] || { echo "SKIP: examples not built"; exit 77; }
done
dir=$(mktemp -d)
pid=
cleanup() {
	[ -n "$pid" ] && kill -INT "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT
trap '' PIPE
conf() { # FILE NAME CORE ROLE IP MAC [MTU BSIZE]
	local jumbo="" mem=256
	[ $# -gt 6 ] && jumbo=",bsize=$8" mem=512
	cat >"$1" <<EOY
libos: catnip
demikernel:
  local_ipv4_addr: $5
dpdk:
  eal_init: ["$2", "-l", "$3", "--no-pci", "--no-telemetry", "--no-huge", "-m", "$mem",
             "--file-prefix", "$2$$",
             "--vdev=net_memif0,role=$4,id=0,socket=$dir/m.sock,socket-abstract=no,mac=$6$jumbo"]
EOY
	if [ $# -gt 6 ]; then
		printf '  mtu: %s\n  rx_buf_bytes: 16384\n' "$7" >>"$1"
	fi
}
conf "$dir/s.yaml" ctms 1 server 10.82.1.1 02:00:00:00:02:01
conf "$dir/c.yaml" ctmc 0 client 10.82.1.2 02:00:00:00:02:02
rc=0
# Starts a catnip server in the background; the memif socket appears once it is up.
server() { # LOG PROGRAM ARGS...
	local log=$1
	shift
	rm -f "$dir/m.sock"
	CONFIG_PATH=$dir/s.yaml DEMI_LOG=info DEMIKERNEL_STATS_SIGNAL=USR2 "$@" >"$log" 2>&1 &
	pid=$!
	for _ in $(seq 100); do
		[ -S "$dir/m.sock" ] && return 0
		kill -0 $pid 2>/dev/null || break
		sleep 0.1
	done
	echo "FAIL: server $* did not start"
	cat "$log"
	exit 1
}
server_stop() { # LOG
	local src
	kill -INT $pid
	wait $pid
	src=$?
	pid=
	grep -o "catnip: \(tcp\|device\) .*" "$1" | sed 's/ (catnip\.c.*//'
	if [ $src != 0 ]; then
		echo "FAIL: server exited with $src"
		tail -20 "$1"
		rc=1
	fi
}
run() { # NAME PROGRAM ARGS...
	local name=$1
	shift
	if ! CONFIG_PATH=$dir/c.yaml DEMI_LOG=info timeout 90 "$@" >"$dir/$name.log" 2>&1; then
		echo "FAIL: $*"
		tail -20 "$dir/$name.log"
		rc=1
	else
		grep "^RESULT" "$dir/$name.log"
		grep -o "catnip: counters: .*" "$dir/$name.log" | sed "s/ (catnip_counters\.c.*//"
	fi
}

server "$dir/echo.log" "$ex/tcp-echo" --server 10.82.1.1:7
run many "$ex/tcp-echo" --client 10.82.1.1:7 --clients 64 --size 1000 --requests 200
run big "$ex/tcp-echo" --client 10.82.1.1:7 --size $((16 << 20)) --requests 1
# The server dumps its counters on SIGUSR2 at its next wait (include/demi/stats.h); the
# ping-pong that follows gives it waits.
kill -USR2 $pid
run pingpong "$ex/tcp-pingpong" --client 10.82.1.1:7 --size 64 --requests 20000 --warmup 1000
dump=$(grep -m1 "^demi: stats (catnip):" "$dir/echo.log")
if [[ "$dump" =~ \ catnip.tcp_rx=[1-9] && "$dump" =~ \ catnip.dev_rx_frames=[1-9] ]]; then
	echo "SIGUSR2 dump: $(wc -w <<<"$dump") words, e.g. $(grep -o 'catnip.tcp_rx=[0-9]*' <<<"$dump")"
else
	echo "FAIL: no counter dump on SIGUSR2 (${dump:0:200})"
	rc=1
fi
# Receive memory (issue 12): 128 connections x 1 MiB echoed at once. The echo pushes the
# buffers it pops, and 128 send queues of them would hold every receive buffer of the server's
# device (dpdk.rx_bufs 4096), leaving none for the ACKs that free them: the stack must copy
# them under pressure, stop opening windows and prune, and every byte must come back.
run rcvmem "$ex/tcp-echo" --client 10.82.1.1:7 --clients 128 --size $((1 << 20)) --requests 2 \
	--timeout-ms 20000
# Packet capture (catnip.pcap.*, here through the environment): the client's frames in a pcap
# file that tshark reads: both handshakes' SYNs, every data byte each way, both FINs, and
# every IPv4 and TCP checksum right. Then a capture capped at 1 MiB stops and says so.
CATNIP_PCAP_PATH=$dir/c.pcap CONFIG_PATH=$dir/c.yaml DEMI_LOG=info timeout 60 \
	"$ex/tcp-echo" --client 10.82.1.1:7 --size 3000 --requests 3 >"$dir/pcap.log" 2>&1 ||
	{ echo "FAIL: tcp-echo with a capture"; tail -5 "$dir/pcap.log"; rc=1; }
if command -v tshark >/dev/null; then
	# Retransmissions (a tail loss probe on a loaded machine) are on the wire too: the payload
	# count leaves them out.
	tshark -r "$dir/c.pcap" -o tcp.check_checksum:TRUE -o ip.check_checksum:TRUE \
		-Y 'tcp && !tcp.analysis.retransmission && !tcp.analysis.spurious_retransmission' \
		-T fields -e tcp.flags.syn -e tcp.flags.ack -e tcp.flags.fin -e tcp.len \
		-e tcp.checksum.status -e ip.checksum.status 2>/dev/null >"$dir/pcap.txt"
	read -r syn synack fin bytes bad < <(awk '
		$1 == 1 && $2 == 0 { syn++ } $1 == 1 && $2 == 1 { synack++ } $3 == 1 { fin++ }
		{ bytes += $4 } $5 != 1 || $6 != 1 { bad++ }
		END { print syn + 0, synack + 0, fin + 0, bytes + 0, bad + 0 }' "$dir/pcap.txt")
	echo "pcap: $(wc -l <"$dir/pcap.txt") TCP frames: $syn SYN, $synack SYN-ACK, $fin FIN, $bytes payload bytes, $bad bad checksums"
	if [ "$syn" -lt 1 ] || [ "$synack" -lt 1 ] || [ "$fin" -lt 2 ] || [ "$bytes" -ne 18000 ] ||
		[ "$bad" -ne 0 ]; then
		echo "FAIL: the capture is not the echo (expected SYN, SYN-ACK, 2 FINs, 18000 bytes, no bad checksum)"
		rc=1
	fi
else
	echo "FAIL: tshark missing (tests/deps.sh installs it)"
	rc=1
fi
CATNIP_PCAP_PATH=$dir/c2.pcap CATNIP_PCAP_MAX_MB=1 CONFIG_PATH=$dir/c.yaml DEMI_LOG=info \
	timeout 60 "$ex/tcp-echo" --client 10.82.1.1:7 --size $((4 << 20)) --requests 1 \
	>"$dir/pcap2.log" 2>&1 || { echo "FAIL: tcp-echo with a small capture"; rc=1; }
size=$(stat -c %s "$dir/c2.pcap")
missed=$(sed -n 's/.*pcap: [0-9]* frames captured ([0-9]* bytes), \([0-9]*\) not captured.*/\1/p' "$dir/pcap2.log")
echo "pcap capped at 1 MiB: $size bytes written, ${missed:-?} frames not captured"
if [ "$size" -gt $((1 << 20)) ] || [ "${missed:-0}" -lt 1 ]; then
	echo "FAIL: the capture limit"
	rc=1
fi
server_stop "$dir/echo.log"
grep "connections served" "$dir/echo.log"
grep -q " 0 errors" "$dir/echo.log" || { echo "FAIL: the echo server counted errors"; rc=1; }
# The 128-connection phase must have put the server under pressure, and pushes were copied.
pressure=$(sed -n 's/.*catnip: counters:.* tcp_mem_pressure=\([0-9]*\).*/\1/p' "$dir/echo.log")
copied=$(sed -n 's/.*catnip: counters:.* tcp_mem_push_copied=\([0-9]*\).*/\1/p' "$dir/echo.log")
echo "echo server: receive memory pressure ${pressure:-?} times, ${copied:-?} pushes copied"
if [ -z "$pressure" ] || [ "$pressure" = 0 ] || [ "${copied:-0}" = 0 ]; then
	echo "FAIL: the echo server never came under receive memory pressure"
	rc=1
fi

# The client's port with faults injected by catnip itself (catnip.fault.*, here through the
# environment): 2% of frames dropped, then 2% reordered, each way; every byte must still arrive,
# out-of-order queues and echo pushes holding receive buffers on both ends. 16 connections:
# before the send window was taken from every advancing ACK, one of them stalled for good
# in about 1 run of 8 (tests/inet's window_from_newest_ack has the mechanism). Each fault has
# an echo server of its own, so that its counters are the phase's.
# Under loss, recovery must stay what it is (issue 11: dropping every out-of-order segment, or
# never sending a SACK block, passed here). The clock is the wall's and CI's 2 cores are shared,
# so time and timeouts are no measure: timeouts per frame dropped were 0.001-0.025 with SACK,
# 0.07-0.09 without SACK blocks, and load alone has brought 0.04. Two measures load does not
# move (runs on a machine loaded 5-13, some beside a busy loop, one each under ASan+UBSan;
# the regressions were local edits of tcp_output.c and tcp_reass.c):
#   retransmissions, both ends' tcp_retransmits, per frame dropped either way: at most
#     LOSS_MAX_RETX (3). With SACK and reassembly each loss costs about one: 1.05-1.15 over
#     21 runs; with out-of-order segments dropped the senders resend whole flights after
#     their timeouts: 7.2-7.5 over 7 runs. Without SACK blocks the count barely moves
#     (1.04-1.13 over 6 runs: the receiver's queue still lets the cumulative ACK jump each
#     hole once it is filled), hence
#   SACK blocks on the wire: a capture of the phase's first 8 MiB (catnip.pcap.max_mb) must
#     hold at least 10 ACKs with SACK blocks from each end. About 300 from the client and 700
#     from the server with them; none without SACK blocks, nor with out-of-order segments
#     dropped (no queue, no block to tell).
max_retx=${LOSS_MAX_RETX:-3}
fault_phase() { # FAULT (e.g. DROP_PCT=2)
	local fault=$1 name=fault-${1%%=*} pcap=() inj k n cs ss cr sr drops sacks
	[ "${fault%%=*}" = DROP_PCT ] && pcap=("CATNIP_PCAP_PATH=$dir/loss.pcap" CATNIP_PCAP_MAX_MB=8)
	server "$dir/$name-server.log" "$ex/tcp-echo" --server 10.82.1.1:7
	env "CATNIP_FAULT_$fault" "${pcap[@]}" CONFIG_PATH="$dir/c.yaml" DEMI_LOG=info timeout 90 \
		"$ex/tcp-echo" --client 10.82.1.1:7 --clients 16 --size $((1 << 20)) --requests 4 \
		>"$dir/$name.log" 2>&1 || { echo "FAIL: tcp-echo with $fault"; tail -20 "$dir/$name.log"; rc=1; }
	server_stop "$dir/$name-server.log"
	grep -q " 0 errors" "$dir/$name-server.log" ||
		{ echo "FAIL: the echo server counted errors with $fault"; rc=1; }
	grep "^RESULT" "$dir/$name.log"
	inj=$(grep -o "catnip: fault injection [rt]x: .*" "$dir/$name.log" | sed 's/ (fault_link\.c.*//')
	echo "$inj"
	# Both directions must have seen the fault (a count above 0 of dropped or reordered).
	k=$(tr 'A-Z' 'a-z' <<<"${fault%%_*}")
	n=$(grep -c "[1-9][0-9]* ${k}[a-z]*," <<<"$inj")
	[ "$n" = 2 ] || { echo "FAIL: $fault was not injected both ways"; rc=1; }
	[ ${#pcap[@]} = 0 ] && return
	cr=$(sed -n 's/.*catnip: counters:.* tcp_retransmits=\([0-9]*\).*/\1/p' "$dir/$name.log")
	sr=$(sed -n 's/.*catnip: counters:.* tcp_retransmits=\([0-9]*\).*/\1/p' "$dir/$name-server.log")
	drops=$(sed -n 's/.* frames, \([0-9]*\) dropped,.*/\1/p' <<<"$inj" |
		awk '{ s += $1 } END { print s + 0 }')
	echo "loss: ${cr:-?} + ${sr:-?} retransmissions for $drops frames dropped" \
		"(at most $max_retx each)"
	if ! awk -v r="$((${cr:-0} + ${sr:-0}))" -v d="$drops" -v m="$max_retx" \
		'BEGIN { exit !(d > 0 && r <= m * d) }' || [ -z "$cr" ] || [ -z "$sr" ]; then
		echo "FAIL: more than $max_retx retransmissions per frame lost: out-of-order" \
			"segments are not kept, or recovery resends what arrived"
		rc=1
	fi
	command -v tshark >/dev/null || { echo "FAIL: tshark missing (tests/deps.sh installs it)"; rc=1; }
	sacks=$(tshark -r "$dir/loss.pcap" -Y tcp.options.sack_le -T fields -e ip.src 2>/dev/null)
	cs=$(grep -c "^10.82.1.2$" <<<"$sacks")
	ss=$(grep -c "^10.82.1.1$" <<<"$sacks")
	echo "loss: ACKs with SACK blocks in the first 8 MiB captured: $cs from the client," \
		"$ss from the server"
	if [ "$cs" -lt 10 ] || [ "$ss" -lt 10 ]; then
		echo "FAIL: fewer than 10 ACKs with SACK blocks from an end: SACK blocks are not" \
			"sent (RFC 2018)"
		rc=1
	fi
}
for fault in "DROP_PCT=2" "REORDER_PCT=2"; do
	fault_phase "$fault"
done

push_pop() { # LABEL
	local msgs=512 size=$((1 << 20)) got
	server "$dir/sink.log" "$ex/tcp-push-pop" --server 10.82.1.1:9 --count 1 --size $size
	run push "$ex/tcp-push-pop" --client 10.82.1.1:9 --size $size --requests $msgs --window 8
	# --count 1: the server exits once the connection is closed and counted.
	for _ in $(seq 50); do
		kill -0 $pid 2>/dev/null || break
		sleep 0.1
	done
	server_stop "$dir/sink.log"
	got=$(sed -n 's/^RESULT .* bytes=\([0-9]*\) .*/\1/p' "$dir/sink.log")
	echo "push-pop ($1): the server counted ${got:-nothing} of $((msgs * size)) bytes"
	grep '^RESULT' "$dir/sink.log"
	[ "$got" = $((msgs * size)) ] || { echo "FAIL: push-pop byte count ($1)"; rc=1; }
}
push_pop "MTU 1500"

# Jumbo frames over memif.
conf "$dir/s.yaml" ctms 1 server 10.82.1.1 02:00:00:00:02:01 9000 9216
conf "$dir/c.yaml" ctmc 0 client 10.82.1.2 02:00:00:00:02:02 9000 9216
server "$dir/echo9k.log" "$ex/tcp-echo" --server 10.82.1.1:7
run big9k "$ex/tcp-echo" --client 10.82.1.1:7 --size $((16 << 20)) --requests 1
server_stop "$dir/echo9k.log"
grep -q "MTU 9000" "$dir/echo9k.log" || { echo "FAIL: the port did not take MTU 9000"; rc=1; }
push_pop "MTU 9000"
# The sink's counters: "tcp_rx=N" segments and "tcp_rx_bytes=B" payload bytes, and "device rx
# F frames (C copied, ...": big segments, none copied.
segs=$(sed -n 's/.*catnip: counters:.* tcp_rx=\([0-9]*\).*/\1/p' "$dir/sink.log")
bytes=$(sed -n 's/.*catnip: counters:.* tcp_rx_bytes=\([0-9]*\).*/\1/p' "$dir/sink.log")
copied=$(sed -n 's/.*catnip: device rx [0-9]* frames (\([0-9]*\) copied.*/\1/p' "$dir/sink.log")
echo "MTU 9000: ${bytes:-?} payload bytes in ${segs:-?} segments, ${copied:-?} frames copied"
if [ -z "$segs" ] || [ -z "$bytes" ] || [ "$segs" = 0 ] || [ $((bytes / segs)) -lt 4000 ]; then
	echo "FAIL: jumbo segments were not used"
	rc=1
fi
[ "${copied:-x}" = 0 ] || { echo "FAIL: received frames were copied"; rc=1; }

# An MTU the memif buffers cannot hold is a configuration error, said at once.
conf "$dir/bad.yaml" ctmb 0 client 10.82.1.2 02:00:00:00:02:03 9000 2048
if CONFIG_PATH=$dir/bad.yaml timeout 30 "$ex/tcp-pingpong" --client 10.82.1.1:7 \
	--requests 1 >"$dir/bad.log" 2>&1; then
	echo "FAIL: dpdk.mtu 9000 with bsize=2048 was accepted"
	rc=1
elif grep -q "needs bsize=9018" "$dir/bad.log"; then
	echo "bsize too small for the MTU: refused ($(grep -o 'dpdk: memif.*' "$dir/bad.log" | head -1))"
else
	echo "FAIL: no clear error for bsize < MTU"
	tail -5 "$dir/bad.log"
	rc=1
fi

[ $rc = 0 ] && echo "PASS: TCP examples over memif between two catnip processes"
exit $rc
