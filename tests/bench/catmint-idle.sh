#!/bin/bash
# SPDX-License-Identifier: MIT
#
# catmint's default (adaptive) waiting against busy polling, in the soft-RoCE guest
# (docs/benchmarks.md, "Idle cost and adaptive waiting").
#
#   catmint-idle.sh BUILD_DIR [--reps K] [--requests N] [--modes "busy default ..."]
#                   [--base OTHER_BUILD]
#
# Boots the guest once (tests/rdma/vm.sh) and runs there, K times interleaved, 64 B ping-pongs
# of tests/rdma/mint-pingpong (server on vCPU 1, client on vCPU 0), in each of the modes
# (default: busy default max5ms):
#   busy     DEMIKERNEL_BUSY_POLL=1
#   default  the default configuration (spin demikernel.spin_us, adapt up to spin_max_us, then
#            sleep on the completion channel)
#   max5ms   default with demikernel.spin_max_us 5000
#   base1ms  default with demikernel.spin_us 1000 (= spin_max_us: the budget never drops back
#            to 100 us after a long silence)
#   base     OTHER_BUILD's mint-pingpong in the default configuration (with --base, which adds
#            this mode: an A/B pair of the default mode against older code)
#   base5ms  OTHER_BUILD's in max5ms's configuration (with --base, when asked for)
# and, once, the CPU time of a default-mode server waiting for its client for 2 s (clock ticks
# from /proc). Prints each run's RESULT line, then each mode's p50s and how many runs fell into
# the slow regime (p50 over SLOW_US, 300: an answer per wake-up, milliseconds in the guest,
# where a run that stays out of it takes 40-90 us), and with --base the per-repetition ratios
# default / base. Exit 77 when no guest can boot here.
set -u
usage() {
	echo "usage: $0 BUILD_DIR [--reps K] [--requests N] [--modes \"busy default ...\"]" \
		"[--base OTHER_BUILD]" >&2
	exit 2
}
[ $# -ge 1 ] || usage
build=$(realpath "$1")
shift
reps=3 requests=3000 modes="busy default max5ms" base=""
while [ $# -gt 0 ]; do
	[ $# -ge 2 ] || usage
	case $1 in
	--base) base=$(realpath "$2") ;;
	--modes) modes=$2 ;;
	--reps) reps=$2 ;;
	--requests) requests=$2 ;;
	*) usage ;;
	esac
	shift 2
done
vm=$(dirname "$(realpath "$0")")/../rdma/vm.sh
[ -x "$build/tests/rdma/mint-pingpong" ] || { echo "$0: mint-pingpong not built" >&2; exit 1; }
if [ -n "$base" ]; then
	[ -x "$base/tests/rdma/mint-pingpong" ] ||
		{ echo "$0: $base/tests/rdma/mint-pingpong not built" >&2; exit 1; }
	[[ " $modes " == *" base "* ]] || modes="$modes base"
fi
bash "$vm" --check || exit $?
out=$build/bench-catmint-idle
mkdir -p "$out"
cat >"$out/guest.sh" <<EOF
set -u
out=$out b=$build
export DEMI_LOG=info
ticks() { sed 's/.*) //' "/proc/\$1/stat" | awk '{print \$12 + \$13}'; }
port=17100
for rep in \$(seq $reps); do
	for mode in $modes; do
		bp=0 max=1000 base=100 b=$build
		[ \$mode = busy ] && bp=1
		[ \$mode = max5ms ] && max=5000
		[ \$mode = base1ms ] && base=1000
		[ \$mode = base ] && b=$base
		[ \$mode = base5ms ] && b=$base max=5000
		port=\$((port + 1))
		export DEMIKERNEL_SPIN_US=\$base
		DEMIKERNEL_BUSY_POLL=\$bp DEMIKERNEL_SPIN_MAX_US=\$max LIBOS=catmint timeout 60 \\
			taskset -c 1 \$b/tests/rdma/mint-pingpong --server \$RDMA_IP:\$port \\
			>\$out/server-\$mode-\$rep.log 2>&1 &
		s=\$!
		sleep 0.5
		if [ \$mode = default ] && [ \$rep = 1 ]; then
			c0=\$(ticks \$s); sleep 2; c1=\$(ticks \$s)
			echo "idle default-mode server: \$((c1 - c0)) clock ticks in 2 s (\$(getconf CLK_TCK) per s)"
		fi
		DEMIKERNEL_BUSY_POLL=\$bp DEMIKERNEL_SPIN_MAX_US=\$max LIBOS=catmint timeout 60 \\
			taskset -c 0 \$b/tests/rdma/mint-pingpong --client \$RDMA_IP:\$port --size 64 \\
			--requests $requests --warmup $((requests / 10)) >\$out/client-\$mode-\$rep.log 2>&1
		wait \$s
		# catmint's exit log (DEMI_LOG=info): how often each end slept on its completion channel
		echo "\$mode \$rep \$(grep RESULT \$out/client-\$mode-\$rep.log)" \\
			"client_\$(grep -ho 'sleeps [0-9]*' \$out/client-\$mode-\$rep.log | tr ' ' =)" \\
			"server_\$(grep -ho 'sleeps [0-9]*' \$out/server-\$mode-\$rep.log | tr ' ' =)"
	done
done
EOF
bash "$vm" "$build" bash "$out/guest.sh" | grep -E '^(idle|busy|default|max5ms|base1ms|base|base5ms) ' |
	tee "$out/results.txt"
rc=${PIPESTATUS[0]}
awk -v slow_us="${SLOW_US:-300}" '
$1 == "idle" { next }
{
	m = $1; r = $2; p50 = ""
	for (i = 3; i <= NF; i++) if ($i ~ /^p50_us=/) p50 = substr($i, 8)
	if (p50 == "") { failed[m]++; next }
	if (!(m in n)) order[++nm] = m
	n[m]++; list[m] = list[m] " " p50; at[m, r] = p50
	if (p50 + 0 > slow_us) slow[m]++
}
END {
	print ""
	print "p50 round trips (us) per repetition, and runs in the slow regime (p50 > " slow_us " us):"
	for (j = 1; j <= nm; j++) {
		m = order[j]
		printf "%-8s%s  slow %d/%d%s\n", m, list[m], slow[m], n[m] + failed[m],
			failed[m] ? " (" failed[m] " failed)" : ""
	}
	ratios("default", "base")
	ratios("max5ms", "base5ms")
}
# The per-repetition ratios of mode a over mode b, when both ran.
function ratios(a, b,    r, line) {
	if (!(a in n) || !(b in n)) return
	line = ""
	for (r = 1; r <= 1000; r++) {
		if (!((a, r) in at) && !((b, r) in at)) break
		if ((a, r) in at && (b, r) in at)
			line = line sprintf(" %.2f", at[a, r] / at[b, r])
	}
	print a " / " b ", per repetition:" line
}' "$out/results.txt"
exit "$rc"
