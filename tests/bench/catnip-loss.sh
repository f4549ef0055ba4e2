#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Goodput under random loss: catnip's TCP sender against the Linux kernel's, over the same kind
# of link with the same loss rules, in one run (docs/benchmarks.md, "catnip TCP under loss";
# issue 12's RACK-TLP goal).
#
#   catnip-loss.sh BUILD_DIR [--reps K] [--rates "0 1 5 10"] [--mib "0:256 1:64 5:16 10:8"]
#                  [--cc cubic] [--linux-cc cubic] [--baseline OTHER_BUILD_DIR]
#
# For each loss rate N (percent) and repetition, interleaved (the order of the two alternates
# from one repetition to the next):
#   catnip  examples/tcp-push-pop --client (LIBOS=catnip, core 0) on a DPDK net_tap port ->
#           tcp-push-pop --server (LIBOS=catnap: the kernel's TCP, core 1) on the Linux side
#           of the tap, in a namespace made here (tests/dpdk/tap-netns.sh).
#   linux   the same two programs, both LIBOS=catnap (kernel TCP both ends, cores 0 and 1), in
#           two namespaces joined by a veth pair.
#   base    (with --baseline) as catnip, with the other build's tcp-push-pop (before/after a
#           change, in the same run).
# The receiver is the same program on the same kernel in every case; only the sender differs.
# 1 MiB pushes, 8 outstanding, the MiB given for the rate (fixed bytes: goodput is what the
# receiver counts between its first and last byte).
#
# Loss: the same nftables rules on the receiver's interface (the tap's Linux end, the
# receiving veth) in both cases: at ingress, N% of the frames are dropped (sender -> receiver
# data); at egress, N% get a destination MAC nobody has (receiver -> sender ACKs), so that they
# are lost on the wire: a drop in an output hook would be reported to the sending socket as a
# local drop and quietly retried. `numgen random mod 100 < N`. Each frame is one segment:
# GSO/TSO/GRO are off on the veths and the tap (catnip sends one segment per frame).
#
# Fairness: MTU 1500 everywhere (catnip's default, the tap's and the veth's), SACK, timestamps
# and window scaling on both senders, Linux's other sysctls at a fresh namespace's defaults
# except the congestion control, set to --linux-cc (default cubic, the kernel's built-in
# default; a fresh namespace here inherits the host's bbr, which ignores random loss by
# design) for both Linux ends, on their routes; catnip uses --cc (default cubic, also available: newreno).
# Linux also has RACK-TLP (tcp_recovery=1) and its 200 ms minimum RTO, as catnip.
#
# Prints per rate the median goodput (Mbit/s) and the spread (min-max) of each sender, the
# ratio catnip / linux of the medians, and each sender's retransmission timeouts (median).
# Results in BUILD_DIR/bench-catnip-loss/results.txt, each sender's output (catnip's counters)
# beside it. Timing on a shared 2-core machine is
# noisy: hence the interleaving, medians and spreads. Only processes started here are
# signalled, by PID. Needs root, DPDK, nftables (exit 77 without).

set -u
usage() {
	echo "usage: $0 BUILD_DIR [--reps K] [--rates \"0 1 5 10\"] [--mib \"0:256 1:64 5:16 10:8\"] [--cc NAME] [--linux-cc NAME] [--baseline DIR]" >&2
	exit 2
}
[ $# -ge 1 ] || usage
build=$1
shift
reps=3 rates="0 1 5 10" mibs="0:256 1:64 5:16 10:8" cc=cubic linux_cc=cubic base=
while [ $# -gt 0 ]; do
	[ $# -ge 2 ] || usage
	case $1 in
	--reps) reps=$2 ;;
	--rates) rates=$2 ;;
	--mib) mibs=$2 ;;
	--cc) cc=$2 ;;
	--linux-cc) linux_cc=$2 ;;
	--baseline) base=$2 ;;
	*) usage ;;
	esac
	shift 2
done
ex=$build/examples
[ -x "$ex/tcp-push-pop" ] || { echo "SKIP: $ex/tcp-push-pop not built"; exit 77; }
if [ -n "$base" ]; then
	[ -x "$base/examples/tcp-push-pop" ] || { echo "$0: $base/examples/tcp-push-pop not built" >&2; exit 2; }
	variants="catnip base linux"
else
	variants="catnip linux"
fi
command -v nft >/dev/null || { echo "SKIP: no nft (tests/deps.sh installs nftables)"; exit 77; }
. "$(dirname "$0")/build-info.sh"
bench_build_info "$build"
out=$build/bench-catnip-loss
mkdir -p "$out"
results=$out/results.txt
: >"$results"

# catnip's side: namespace demi-loss-PID with tap dlossPID (10.83.0.1 Linux, .2 catnip).
. "$(dirname "$0")/../dpdk/tap-netns.sh"
tap_netns loss 10.83.0.1 10.83.0.2
printf 'inetstack_config:\n  tcp_congestion_control: %s\n' "$cc" >>"$dir/catnip.yaml"
# The Linux pair: namespaces demi-lossa-PID (sender, 10.84.0.1) and demi-lossb-PID
# (receiver, 10.84.0.2), veth vlossaPID <-> vlossbPID.
nsa=demi-lossa-$$ nsb=demi-lossb-$$ va=vlossa$(($$ % 100000)) vb=vlossb$(($$ % 100000))
loss_cleanup() {
	tap_cleanup
	ip netns del "$nsa" 2>/dev/null
	ip netns del "$nsb" 2>/dev/null
}
trap loss_cleanup EXIT
ip netns add "$nsa" && ip netns add "$nsb" || skip "cannot create the veth namespaces"
ip link add "$va" netns "$nsa" type veth peer name "$vb" netns "$nsb" || skip "no veth"
ip -n "$nsa" addr add 10.84.0.1/24 dev "$va"
ip -n "$nsb" addr add 10.84.0.2/24 dev "$vb"
ip -n "$nsa" link set "$va" up
ip -n "$nsb" link set "$vb" up
ip -n "$ns" link set "$tap" up
# The congestion control of the Linux ends, on their subnet's route: a namespace other than
# the host's may only pick those in tcp_allowed_congestion_control by sysctl.
for d in "$nsa $va 10.84.0.0/24" "$nsb $vb 10.84.0.0/24" "$ns $tap 10.83.0.0/24"; do
	set -- $d
	ip -n "$1" link set lo up
	ip -n "$1" route replace "$3" dev "$2" congctl "$linux_cc" ||
		skip "no congestion control $linux_cc in the kernel"
done
for d in "$nsa $va" "$nsb $vb" "$ns $tap"; do
	set -- $d
	ip netns exec "$1" ethtool -K "$2" tso off gso off gro off >/dev/null 2>&1
done
echo "senders: catnip cc=$cc; Linux cc=$linux_cc ($(uname -r)," \
	"tcp_recovery=$(ip netns exec "$nsa" sysctl -n net.ipv4.tcp_recovery)," \
	"tcp_sack=$(ip netns exec "$nsa" sysctl -n net.ipv4.tcp_sack));" \
	"MTU tap $(cat /sys/class/net/lo/mtu >/dev/null; ip -n "$ns" -o link show "$tap" | grep -o 'mtu [0-9]*')," \
	"veth $(ip -n "$nsa" -o link show "$va" | grep -o 'mtu [0-9]*')"

loss_on() { # NAMESPACE DEVICE RATE
	[ "$3" = 0 ] && return 0
	ip netns exec "$1" nft -f - <<EON
table netdev demiloss {
	chain in {
		type filter hook ingress device "$2" priority 0
		numgen random mod 100 < $3 counter drop
	}
	chain out {
		type filter hook egress device "$2" priority 0
		numgen random mod 100 < $3 counter ether daddr set 02:00:00:00:00:99
	}
}
EON
}
loss_off() { # NAMESPACE RATE: prints "data_lost ack_lost"
	[ "$2" = 0 ] && { echo "0 0"; return; }
	ip netns exec "$1" nft list table netdev demiloss | grep -o 'packets [0-9]*' |
		cut -d' ' -f2 | tr '\n' ' '
	ip netns exec "$1" nft delete table netdev demiloss
}
mib_for() { tr ' ' '\n' <<<"$mibs" | awk -F: -v r="$1" '$1 == r { print $2 }'; }
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }

# server NAMESPACE ADDR: tcp-push-pop --server (kernel TCP) for one connection, PID in pid.
server() {
	ip netns exec "$1" env LIBOS=catnap taskset -c 1 "$ex/tcp-push-pop" --server "$2:9" \
		--count 1 >"$dir/server.log" 2>&1 &
	pid=$!
	for _ in $(seq 50); do
		grep -q "server on" "$dir/server.log" && return 0
		sleep 0.1
	done
	echo "$0: the receiver did not start" >&2
	cat "$dir/server.log" >&2
	exit 1
}
# finish NAME RATE CLIENT_RC RTOS: waits for the receiver, records its goodput.
finish() {
	local line mbit
	timeout 30 tail --pid=$pid -f /dev/null
	kill -INT $pid 2>/dev/null
	wait $pid 2>/dev/null
	pid=
	line=$(grep '^RESULT' "$dir/server.log")
	mbit=$(field mb_s "$line") # MB/s with 2 decimals (gbit_s has 3: too coarse at 10% loss)
	if [ "$3" != 0 ] || [ -z "$mbit" ]; then
		echo "$0: $1 at $2%: sender exited $3, receiver: ${line:-no result}" >&2
		tail -5 "$dir/client.log" >&2
		mbit=nan
	else
		mbit=$(echo "$mbit * 8" | bc -l)
	fi
	echo "$1 $2 $mbit $4 ${lost:-}" >>"$results"
	cp "$dir/client.log" "$out/sender-$1-$2-$rep.log" # with catnip's counters
	printf '  %-6s %3s%%  %9.2f Mbit/s  RTOs %s  frames lost (data acks) %s\n' \
		"$1" "$2" "$mbit" "$4" "${lost:-}"
}

run_catnip() { # RATE MIB [EXAMPLES_DIR NAME]
	local rc rtos
	server "$ns" 10.83.0.1
	loss_on "$ns" "$tap" "$1"
	ip -n "$ns" neigh flush dev "$tap" 2>/dev/null
	ip netns exec "$ns" env CONFIG_PATH="$dir/catnip.yaml" DEMI_LOG=info timeout 600 \
		"${3:-$ex}/tcp-push-pop" --client 10.83.0.1:9 --size 1048576 --requests "$2" \
		--window 8 --timeout-ms 60000 >"$dir/client.log" 2>&1
	rc=$?
	lost=$(loss_off "$ns" "$1")
	rtos=$(grep -o 'tcp_rto_timeouts=[0-9]*' "$dir/client.log" | tail -1 | cut -d= -f2)
	finish "${4:-catnip}" "$1" $rc "${rtos:-?}"
}
run_base() { run_catnip "$1" "$2" "$base/examples" base; }
run_linux() { # RATE MIB
	local rc t0 t1
	server "$nsb" 10.84.0.2
	loss_on "$nsb" "$vb" "$1"
	t0=$(ip netns exec "$nsa" nstat -asz TcpExtTCPTimeouts | awk 'NR > 1 { print $2 }')
	ip netns exec "$nsa" env LIBOS=catnap taskset -c 0 timeout 600 "$ex/tcp-push-pop" \
		--client 10.84.0.2:9 --size 1048576 --requests "$2" --window 8 --timeout-ms 60000 \
		>"$dir/client.log" 2>&1 &
	bg_pids=$!
	# What the sending socket really uses (once): the route's congestion control.
	if [ -z "${linux_seen:-}" ]; then
		sleep 0.2
		linux_seen=$(ip netns exec "$nsa" ss -Htin dst 10.84.0.2 | grep -o -m1 \
			"$linux_cc\|bbr\|cubic\|reno" | head -1)
		echo "  the Linux sender's socket uses: ${linux_seen:-?}"
	fi
	wait $bg_pids
	rc=$?
	bg_pids=
	lost=$(loss_off "$nsb" "$1")
	t1=$(ip netns exec "$nsa" nstat -asz TcpExtTCPTimeouts | awk 'NR > 1 { print $2 }')
	finish linux "$1" $rc $((t1 - t0))
}

for rep in $(seq "$reps"); do
	for rate in $rates; do
		mib=$(mib_for "$rate")
		[ -n "$mib" ] || { echo "$0: no --mib entry for rate $rate" >&2; exit 2; }
		echo "rep $rep, $rate% loss each way, $mib MiB"
		order=$variants
		[ $((rep % 2)) = 0 ] && order=$(tr ' ' '\n' <<<"$variants" | tac | tr '\n' ' ')
		for v in $order; do
			run_$v "$rate" "$mib"
		done
	done
done

stat() { # VARIANT RATE COLUMN: median min max
	awk -v v="$1" -v r="$2" -v k="$3" '$1 == v && $2 == r && $k != "nan" { print $k }' \
		"$results" | sort -g |
		awk '{ a[NR] = $1 } END { if (!NR) { print "nan nan nan"; exit }
			m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
			print m, a[1], a[NR] }'
}
echo
echo "Goodput, Mbit/s: median (min-max) of $reps; catnip cc=$cc, Linux cc=$linux_cc" \
	"${base:+(base: $base)}"
if [ -n "$base" ]; then
	printf '| loss each way | catnip | base | Linux | catnip / Linux | base / Linux | RTOs catnip / base / Linux |\n'
	printf '| ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n'
else
	printf '| loss each way | catnip | Linux | catnip / Linux | RTOs catnip / Linux |\n'
	printf '| ---: | ---: | ---: | ---: | ---: |\n'
fi
ratio() { echo "$1 / $2" | bc -l 2>/dev/null || echo nan; }
for rate in $rates; do
	c=($(stat catnip "$rate" 3)) l=($(stat linux "$rate" 3))
	cr=($(stat catnip "$rate" 4)) lr=($(stat linux "$rate" 4))
	if [ -n "$base" ]; then
		b=($(stat base "$rate" 3)) br=($(stat base "$rate" 4))
		printf '| %s%% | %.2f (%.2f-%.2f) | %.2f (%.2f-%.2f) | %.2f (%.2f-%.2f) | %.2f | %.2f | %s / %s / %s |\n' \
			"$rate" "${c[@]}" "${b[@]}" "${l[@]}" "$(ratio "${c[0]}" "${l[0]}")" \
			"$(ratio "${b[0]}" "${l[0]}")" "${cr[0]}" "${br[0]}" "${lr[0]}"
	else
		printf '| %s%% | %.2f (%.2f-%.2f) | %.2f (%.2f-%.2f) | %.2f | %s / %s |\n' "$rate" \
			"${c[@]}" "${l[@]}" "$(ratio "${c[0]}" "${l[0]}")" "${cr[0]}" "${lr[0]}"
	fi
done
echo "(results: $results)"
