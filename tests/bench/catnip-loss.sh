#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Goodput under random loss: catnip's TCP sender against the Linux kernel's, over the same kind
# of link with the same loss rules, in one run (docs/benchmarks.md, "catnip TCP under loss";
# issue 12's RACK-TLP goal).
#
#   catnip-loss.sh BUILD_DIR [--reps K] [--rates "0 1 5 10"] [--mib "0:256 1:64 5:16 10:8"]
#                  [--links "tap afp xdp afp-bp"] [--afp-args ",framecnt=512"] [--cc cubic]
#                  [--linux-cc cubic] [--nice N] [--baseline OTHER_BUILD_DIR]
#
# For each loss rate N (percent) and repetition, interleaved (the order of the senders
# alternates from one repetition to the next):
#   tap     examples/tcp-push-pop --client (LIBOS=catnip, core 0) on a DPDK net_tap port ->
#           tcp-push-pop --server (LIBOS=catnap: the kernel's TCP, core 1) on the Linux side
#           of the tap, in a namespace made here (tests/dpdk/tap-netns.sh). Issue 12 names this
#           link; it costs catnip a system call per frame each way.
#   afp     the same catnip client on DPDK's net_af_packet (PACKET_MMAP rings: frames received
#           without a system call, one sendto per transmit burst) bound to one end of a veth
#           pair, the same receiver in a namespace on the other end: the link the Linux pair
#           has, so that the two senders differ only in the stack above it.
#   xdp     the same veth end through DPDK's net_af_xdp (copy mode on a veth: each sent frame
#           copied into the UMEM, then by the kernel into an skb, without af_packet's page
#           allocation per frame; received frames are copied out of a plain mempool).
#   tap-bp, afp-bp, xdp-bp   the same with demikernel.busy_poll (catnip's default polls for
#           demikernel.spin_us after the last work, then sleeps; af_packet and af_xdp have no
#           receive interrupt, so it naps).
#   linux   the same two programs, both LIBOS=catnap (kernel TCP both ends, cores 0 and 1), in
#           two namespaces joined by a veth pair.
#   base    (with --baseline) catnip from the other build's tcp-push-pop, on the first link of
#           --links (before/after a change, in the same run).
# The receiver is the same program on the same kernel in every case; only the sender differs.
# 1 MiB pushes, 8 outstanding, the MiB given for the rate (fixed bytes: goodput is what the
# receiver counts between its first and last byte).
#
# Loss: the same nftables rules on the receiver's interface (the tap's Linux end, the
# receiving veths) in every case: at ingress, N% of the frames are dropped (sender -> receiver
# data); at egress, N% get a destination MAC nobody has (receiver -> sender ACKs), so that they
# are lost on the wire: a drop in an output hook would be reported to the sending socket as a
# local drop and quietly retried. `numgen random mod 100 < N`. Each frame is one segment:
# GSO/TSO/GRO are off on the veths and the tap (catnip sends one segment per frame). The
# af_packet/af_xdp receiver's veth also has tx checksum offload off: over a veth the kernel would
# hand catnip partial checksums (the Linux pair keeps it: between two kernels it is free).
#
# Fairness: MTU 1500 everywhere (catnip's default, the tap's and the veths'), SACK, timestamps
# and window scaling on both senders, Linux's other sysctls at a fresh namespace's defaults
# except the congestion control, set to --linux-cc (default cubic, the kernel's built-in
# default; a fresh namespace here inherits the host's bbr, which ignores random loss by
# design) for both Linux ends, on their routes; catnip uses --cc (default cubic, also available: newreno).
# Linux also has RACK-TLP (tcp_recovery=1) and its 200 ms minimum RTO, as catnip.
#
# Prints per rate the median goodput (Mbit/s) and the spread (min-max) of each sender, the
# ratios catnip / linux of the medians, each sender's retransmission timeouts (median) and
# the share of its run it spent runnable but waiting for a core (median; sched_watch).
# Results in BUILD_DIR/bench-catnip-loss/results.txt, each sender's output (catnip's counters)
# beside it. Timing on a shared 2-core machine is noisy: hence the interleaving, medians and
# spreads, and --nice (e.g. -10, every sender and receiver alike, and the run's scheduler
# group: below) to keep other work's compilers from taking the benchmark's cores in turns of
# a scheduler slice, which costs a busy-polling sender more than a sleeping one. Only
# processes started here are signalled, by PID. Needs root, DPDK, nftables (exit 77 without).

set -u
usage() {
	echo "usage: $0 BUILD_DIR [--reps K] [--rates \"0 1 5 10\"] [--mib \"0:256 1:64 5:16 10:8\"]" \
		"[--links \"tap afp xdp\"] [--afp-args ,K=V...] [--cc NAME] [--linux-cc NAME]" \
		"[--nice N] [--baseline DIR]" >&2
	exit 2
}
[ $# -ge 1 ] || usage
build=$1
shift
args=("$@")
reps=3 rates="0 1 5 10" mibs="0:256 1:64 5:16 10:8" cc=cubic linux_cc=cubic base=
links="tap afp" afp_args= nice=0
while [ $# -gt 0 ]; do
	[ $# -ge 2 ] || usage
	case $1 in
	--reps) reps=$2 ;;
	--rates) rates=$2 ;;
	--mib) mibs=$2 ;;
	--cc) cc=$2 ;;
	--linux-cc) linux_cc=$2 ;;
	--baseline) base=$2 ;;
	--links) links=$2 ;;
	--afp-args) afp_args=$2 ;;
	--nice) nice=$2 ;;
	*) usage ;;
	esac
	shift 2
done
# --nice: with the scheduler's autogroups (kernel.sched_autogroup_enabled) a process's nice
# only weighs against its own session: the run moves to a session of its own (setsid) whose
# group gets the same nice, so that it weighs against the other sessions' work too.
if [ "$nice" != 0 ] && [ -z "${LOSS_SESSION:-}" ] &&
	[ "$(cat /proc/sys/kernel/sched_autogroup_enabled 2>/dev/null)" = 1 ]; then
	LOSS_SESSION=1 exec setsid -w bash "$0" "$build" "${args[@]}"
fi
[ -n "${LOSS_SESSION:-}" ] && echo "$nice" >/proc/self/autogroup
ex=$build/examples
[ -x "$ex/tcp-push-pop" ] || { echo "SKIP: $ex/tcp-push-pop not built"; exit 77; }
for l in $links; do
	case $l in tap | afp | xdp | tap-bp | afp-bp | xdp-bp) ;; *) usage ;; esac
done
variants="$links linux"
if [ -n "$base" ]; then
	[ -x "$base/examples/tcp-push-pop" ] || { echo "$0: $base/examples/tcp-push-pop not built" >&2; exit 2; }
	variants="$links base linux"
fi
command -v nft >/dev/null || { echo "SKIP: no nft (tests/deps.sh installs nftables)"; exit 77; }
. "$(dirname "$0")/build-info.sh"
. "$(dirname "$0")/plot.sh"
bench_build_info "$build"
out=$build/bench-catnip-loss
mkdir -p "$out"
results=$out/results.txt
: >"$results"

# catnip on the tap: namespace demi-loss-PID with tap dlossPID (10.83.0.1 Linux, .2 catnip).
. "$(dirname "$0")/../dpdk/tap-netns.sh"
tap_netns loss 10.83.0.1 10.83.0.2
printf 'inetstack_config:\n  tcp_congestion_control: %s\n' "$cc" >>"$dir/catnip.yaml"
cp "$dir/catnip.yaml" "$dir/tap.yaml"
# The Linux pair: namespaces demi-lossa-PID (sender, 10.84.0.1) and demi-lossb-PID
# (receiver, 10.84.0.2), veth vlossaPID <-> vlossbPID. catnip on af_packet: namespaces
# demi-lossc-PID (catnip's end vlossc, 10.85.0.2, no address in the kernel) and demi-lossd-PID
# (receiver, vlossd, 10.85.0.1).
nsa=demi-lossa-$$ nsb=demi-lossb-$$ va=vlossa$(($$ % 100000)) vb=vlossb$(($$ % 100000))
nsc=demi-lossc-$$ nsd=demi-lossd-$$ vc=vlossc$(($$ % 100000)) vd=vlossd$(($$ % 100000))
loss_cleanup() {
	tap_cleanup
	ip netns del "$nsa" 2>/dev/null
	ip netns del "$nsb" 2>/dev/null
	ip netns del "$nsc" 2>/dev/null
	ip netns del "$nsd" 2>/dev/null
}
trap loss_cleanup EXIT
veth_pair() { # NS_A DEV_A NS_B DEV_B
	ip netns add "$1" && ip netns add "$3" || skip "cannot create the veth namespaces"
	ip link add "$2" netns "$1" type veth peer name "$4" netns "$3" || skip "no veth"
	ip -n "$1" link set "$2" up
	ip -n "$3" link set "$4" up
}
veth_pair "$nsa" "$va" "$nsb" "$vb"
ip -n "$nsa" addr add 10.84.0.1/24 dev "$va"
ip -n "$nsb" addr add 10.84.0.2/24 dev "$vb"
veth_pair "$nsc" "$vc" "$nsd" "$vd"
ip -n "$nsd" addr add 10.85.0.1/24 dev "$vd"
# catnip's end carries no kernel address; keep the kernel's IPv6 from sending on it.
ip netns exec "$nsc" sysctl -qw "net.ipv6.conf.$vc.disable_ipv6=1"
ip netns exec "$nsd" ethtool -K "$vd" tx off >/dev/null 2>&1
ip -n "$ns" link set "$tap" up
# The congestion control of the Linux ends, on their subnet's route: a namespace other than
# the host's may only pick those in tcp_allowed_congestion_control by sysctl.
for d in "$nsa $va 10.84.0.0/24" "$nsb $vb 10.84.0.0/24" "$ns $tap 10.83.0.0/24" \
	"$nsd $vd 10.85.0.0/24"; do
	set -- $d
	ip -n "$1" link set lo up
	ip -n "$1" route replace "$3" dev "$2" congctl "$linux_cc" ||
		skip "no congestion control $linux_cc in the kernel"
done
for d in "$nsa $va" "$nsb $vb" "$ns $tap" "$nsc $vc" "$nsd $vd"; do
	set -- $d
	ip netns exec "$1" ethtool -K "$2" tso off gso off gro off >/dev/null 2>&1
done
# catnip on af_packet: the tap's configuration with the other device. Its frames (2048 bytes
# by default) must fit a receive buffer past the mbuf headroom: 4 KiB buffers.
sed -e 's/"loss"/"lossafp"/' -e "s/\"loss$$\"/\"lossafp$$\"/" \
	-e "s/net_tap0,iface=$tap,mac=fixed/net_af_packet0,iface=$vc$afp_args/" \
	-e 's/local_ipv4_addr: .*/local_ipv4_addr: 10.85.0.2/' "$dir/catnip.yaml" >"$dir/afp.yaml"
sed -i 's/^dpdk:$/dpdk:\n  rx_buf_bytes: 4096/' "$dir/afp.yaml"
# catnip on af_xdp, the same veth end (the PMD attaches its XDP program to it; copy mode).
sed -e 's/"lossafp/"lossxdp/g' \
	-e "s/net_af_packet0,iface=$vc$afp_args/net_af_xdp0,iface=$vc,start_queue=0,queue_count=1/" \
	"$dir/afp.yaml" >"$dir/xdp.yaml"
# The -bp links: the same with demikernel.busy_poll (a wait never sleeps; by default it polls
# for demikernel.spin_us after the last work, then sleeps: on the tap's receive interrupt, on
# af_packet and af_xdp, which have none, in naps of up to dpdk.idle_sleep_max_us).
for l in tap afp xdp; do
	sed 's/^demikernel:$/demikernel:\n  busy_poll: true/' "$dir/$l.yaml" >"$dir/$l-bp.yaml"
done
echo "senders: catnip cc=$cc; Linux cc=$linux_cc ($(uname -r)," \
	"tcp_recovery=$(ip netns exec "$nsa" sysctl -n net.ipv4.tcp_recovery)," \
	"tcp_sack=$(ip netns exec "$nsa" sysctl -n net.ipv4.tcp_sack));" \
	"MTU tap $(ip -n "$ns" -o link show "$tap" | grep -o 'mtu [0-9]*')," \
	"veth $(ip -n "$nsa" -o link show "$va" | grep -o 'mtu [0-9]*')," \
	"af_packet veth $(ip -n "$nsc" -o link show "$vc" | grep -o 'mtu [0-9]*')" \
	"(net_af_packet0,iface=$vc$afp_args)"

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
	nice -n "$nice" ip netns exec "$1" env LIBOS=catnap taskset -c 1 "$ex/tcp-push-pop" \
		--server "$2:9" --count 1 \
		>"$dir/server.log" 2>&1 &
	pid=$!
	for _ in $(seq 50); do
		grep -q "server on" "$dir/server.log" && return 0
		sleep 0.1
	done
	echo "$0: the receiver did not start" >&2
	cat "$dir/server.log" >&2
	exit 1
}
# sched_watch PID T0: PID (a `timeout`, started at T0, date +%s.%N) runs the sender as its
# child; prints, once PID has exited, the share of the sender's life it spent runnable but
# waiting for a core (schedstat's run-queue delay, sampled every 50 ms): how much other work
# on the machine held it back.
sched_watch() {
	local c= last= t0=$2 t1
	while [ "$(cut -d' ' -f3 /proc/$1/stat 2>/dev/null)" = S ] ||
		[ "$(cut -d' ' -f3 /proc/$1/stat 2>/dev/null)" = R ]; do
		[ -n "$c" ] || c=$(cut -d' ' -f1 /proc/$1/task/$1/children 2>/dev/null)
		[ -n "$c" ] && last=$(cat /proc/$c/schedstat 2>/dev/null || echo "$last")
		sleep 0.05
	done
	t1=$(date +%s.%N)
	awk -v t="$(echo "$t1 - $t0" | bc -l)" '{ printf "%.2f", (t > 0 ? $2 / 1e9 / t : 0) }' \
		<<<"${last:-0 0}"
}
# finish NAME RATE CLIENT_RC RTOS RUNQUEUE_SHARE: waits for the receiver, records its goodput.
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
	echo "$1 $2 $mbit $4 $5 ${lost:-}" >>"$results"
	cp "$dir/client.log" "$out/sender-$1-$2-$rep.log" # with catnip's counters
	printf '  %-6s %3s%%  %9.2f Mbit/s  RTOs %s  frames lost (data acks) %s  waiting for a core %s\n' \
		"$1" "$2" "$mbit" "$4" "${lost:-}" "$5"
}

# run_catnip NAME LINK RATE MIB EXAMPLES_DIR: catnip's client on LINK (--links).
run_catnip() {
	local rc rtos rq sns=$ns rns=$ns dev=$tap addr=10.83.0.1 yaml=$dir/$2.yaml
	[ "${2%-bp}" != tap ] && sns=$nsc rns=$nsd dev=$vd addr=10.85.0.1
	server "$rns" $addr
	loss_on "$rns" "$dev" "$3"
	ip -n "$rns" neigh flush dev "$dev" 2>/dev/null
	nice -n "$nice" ip netns exec "$sns" env CONFIG_PATH="$yaml" DEMI_LOG=info timeout 600 \
		"$5/tcp-push-pop" --client $addr:9 --size 1048576 --requests "$4" \
		--window 8 --timeout-ms 60000 >"$dir/client.log" 2>&1 &
	bg_pids=$!
	rq=$(sched_watch $bg_pids "$(date +%s.%N)")
	wait $bg_pids
	rc=$?
	bg_pids=
	lost=$(loss_off "$rns" "$3")
	rtos=$(grep -o 'tcp_rto_timeouts=[0-9]*' "$dir/client.log" | tail -1 | cut -d= -f2)
	finish "$1" "$3" $rc "${rtos:-?}" "$rq"
}
run_link() { run_catnip "$1" "$1" "$2" "$3" "$ex"; }
run_base() { run_catnip base "${links%% *}" "$1" "$2" "$base/examples"; }
run_linux() { # RATE MIB
	local rc t t0 t1 rq
	server "$nsb" 10.84.0.2
	loss_on "$nsb" "$vb" "$1"
	t0=$(ip netns exec "$nsa" nstat -asz TcpExtTCPTimeouts | awk 'NR > 1 { print $2 }')
	nice -n "$nice" ip netns exec "$nsa" env LIBOS=catnap taskset -c 0 timeout 600 "$ex/tcp-push-pop" \
		--client 10.84.0.2:9 --size 1048576 --requests "$2" --window 8 --timeout-ms 60000 \
		>"$dir/client.log" 2>&1 &
	bg_pids=$! t=$(date +%s.%N)
	# What the sending socket really uses (once): the route's congestion control.
	if [ -z "${linux_seen:-}" ]; then
		for _ in $(seq 50); do
			linux_seen=$(ip netns exec "$nsa" ss -Htin dst 10.84.0.2 | grep -o -m1 \
				"$linux_cc\|bbr\|cubic\|reno" | head -1)
			[ -n "$linux_seen" ] && break
			sleep 0.01
		done
		echo "  the Linux sender's socket uses: ${linux_seen:-?}"
	fi
	rq=$(sched_watch $bg_pids "$t")
	wait $bg_pids
	rc=$?
	bg_pids=
	lost=$(loss_off "$nsb" "$1")
	t1=$(ip netns exec "$nsa" nstat -asz TcpExtTCPTimeouts | awk 'NR > 1 { print $2 }')
	finish linux "$1" $rc $((t1 - t0)) "$rq"
}

for rep in $(seq "$reps"); do
	for rate in $rates; do
		mib=$(mib_for "$rate")
		[ -n "$mib" ] || { echo "$0: no --mib entry for rate $rate" >&2; exit 2; }
		echo "rep $rep, $rate% loss each way, $mib MiB"
		order=$variants
		[ $((rep % 2)) = 0 ] && order=$(tr ' ' '\n' <<<"$variants" | tac | tr '\n' ' ')
		for v in $order; do
			case $v in
			base | linux) run_$v "$rate" "$mib" ;;
			*) run_link "$v" "$rate" "$mib" ;;
			esac
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
	"${base:+(base: $base on ${links%% *})}"
# Columns: each catnip variant, Linux, each variant / Linux, the RTOs of all, the share of
# each sender's run spent waiting for a core.
cols="$links${base:+ base}"
title() {
	local t
	case ${1%-bp} in tap) t="catnip tap" ;; afp) t="catnip af_packet veth" ;;
	xdp) t="catnip af_xdp veth" ;; base) t=base ;; linux) t="Linux veth" ;; esac
	echo "$t${1#${1%-bp}}"
}
hdr="| loss each way |" sep="| ---: |" rto=
for v in $cols linux; do
	hdr="$hdr $(title $v) |" sep="$sep ---: |" rto="$rto${rto:+ / }$v"
done
for v in $cols; do
	hdr="$hdr $v / Linux |" sep="$sep ---: |"
done
echo "$hdr RTOs $rto | waiting for a core $rto |"
echo "$sep ---: | ---: |"
ratio() { echo "$1 / $2" | bc -l 2>/dev/null || echo nan; }
for rate in $rates; do
	l=($(stat linux "$rate" 3)) row="| $rate% |" rt= wq=
	for v in $cols linux; do
		g=($(stat $v "$rate" 3)) r=($(stat $v "$rate" 4)) q=($(stat $v "$rate" 5))
		row="$row $(printf '%.2f (%.2f-%.2f)' "${g[@]}") |" rt="$rt${rt:+ / }${r[0]}"
		wq="$wq${wq:+ / }${q[0]}"
	done
	for v in $cols; do
		g=($(stat $v "$rate" 3))
		row="$row $(printf '%.2f' "$(ratio "${g[0]}" "${l[0]}")") |"
	done
	echo "$row $rt | $wq |"
done
echo "(results: $results)"

# The picture: each run's goodput relative to the median of Linux's at its loss rate (the
# rates differ by three orders of magnitude, so absolute bars would hide 5% and 10%).
for rate in $rates; do
	l=($(stat linux "$rate" 3))
	for v in $cols linux; do
		awk -v v="$v" -v r="$rate" -v l="${l[0]}" -v t="$(title $v)" \
			'$1 == v && $2 == r && $3 != "nan" && l + 0 > 0 {
				printf "%s%%\t%s\t%.4f\n", r, t, $3 / l }' "$results"
	done
done >"$out/goodput-bars.txt"
bench_plot_bars "$out/goodput-vs-linux.png" \
	"catnip goodput under random loss each way, relative to Linux's median (1 = Linux)" \
	"goodput / Linux's median" "$out/goodput-bars.txt"
