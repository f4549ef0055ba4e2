#!/bin/bash
# SPDX-License-Identifier: MIT
#
# catmint 64-byte ping-pong latency against perftest's ib_send_lat on the same RDMA device, in
# one guest run (docs/catmint.md, "Numbers").
#
#   catmint.sh BUILD_DIR [--reps K] [--requests N] [--size B] [--no-pin] [--no-example]
#              [--base OTHER_BUILD]
#
# Boots the soft-RoCE guest once (tests/rdma/vm.sh) and runs there, K times interleaved (the
# order reversed every other repetition) so that the noise of an emulated machine spreads over
# all of them:
#   catmint      tests/rdma/mint-pingpong --server + --client, LIBOS=catmint, busy polling
#                (DEMIKERNEL_BUSY_POLL=1): push, pop, wait on the demi_* API
#   example      examples/tcp-echo --server + examples/tcp-pingpong --client, LIBOS=catmint,
#                busy polling: the unchanged TCP examples on catmint (not with --no-example)
#   base         with --base: mint-pingpong of OTHER_BUILD (an A/B pair against older code)
#   ib_send_lat  perftest, server + client over rdma_cm (-R), same size and iterations
# Every variant runs alone (two busy-polling processes fill the guest's two vCPUs), server
# pinned to vCPU 1 and client to vCPU 0 (--no-pin: let the guest's scheduler place them).
# ib_send_lat reports half the round trip (t_typical = median of RTT/2); the table gives round
# trips for all: ib_send_lat's RTT = 2 x t_typical. Each repetition gives each variant one
# ratio, its p50 over ib_send_lat's p50 in the same repetition; the verdict is the median of
# those per-repetition ratios, with their range. Goal: catmint <= 1.1 x ib_send_lat.
#
# Exit 0 when every run succeeded, 1 when one failed, 2 for a bad command line, 77 when no
# guest can boot here. Raw results and logs: BUILD_DIR/bench-catmint/, with the pictures
# latency-cdf.png (each variant's round trips in the last repetition: mint-pingpong --samples,
# the example's EX_CDF_FILE, ib_send_lat -H) and rtt.png (each variant's p50, median and
# min-max over the repetitions).
set -u
usage() {
	echo "usage: $0 BUILD_DIR [--reps K] [--requests N] [--size B] [--no-pin] [--no-example]" \
		"[--base OTHER_BUILD]" >&2
	exit 2
}
[ $# -ge 1 ] || usage
build=$(realpath "$1")
shift
reps=5 requests=10000 size=64 pin=1 example=1 base=""
while [ $# -gt 0 ]; do
	case $1 in
	--no-pin) pin=0 && shift && continue ;;
	--no-example) example=0 && shift && continue ;;
	esac
	[ $# -ge 2 ] || usage
	case $1 in
	--base) base=$(realpath "$2") ;;
	--reps) reps=$2 ;;
	--requests) requests=$2 ;;
	--size) size=$2 ;;
	*) usage ;;
	esac
	shift 2
done
for n in "$reps" "$requests" "$size"; do
	[[ $n =~ ^[1-9][0-9]*$ ]] || usage
done
here=$(dirname "$(realpath "$0")")
vm=$here/../rdma/vm.sh
for bin in tests/rdma/mint-pingpong examples/tcp-echo examples/tcp-pingpong; do
	[ -x "$build/$bin" ] || { echo "$0: $build/$bin not built (catmint and examples needed)" >&2; exit 1; }
done
[ -z "$base" ] || [ -x "$base/tests/rdma/mint-pingpong" ] ||
	{ echo "$0: $base/tests/rdma/mint-pingpong not built" >&2; exit 1; }
command -v ib_send_lat >/dev/null || { echo "SKIP: ib_send_lat not found (apt-get install perftest)"; exit 77; }
bash "$vm" --check || exit $?

out=$build/bench-catmint
mkdir -p "$out"
rm -f "$out"/*.log "$out"/*.txt "$out"/*.png
# What runs in the guest. Each server is waited for (it exits after its one client).
cat >"$out/guest.sh" <<EOF
set -u
out=$out build=$build base=$base reps=$reps requests=$requests size=$size example=$example
warmup=\$((requests / 10))
export DEMIKERNEL_BUSY_POLL=1
# Server on vCPU 1, client on vCPU 0 (as the other benchmarks pin), unless --no-pin.
spin="taskset -c 1" cpin="taskset -c 0"
[ $pin = 1 ] && [ \$(nproc) -ge 2 ] || spin="" cpin=""
fail=0
echo "guest: \$(nproc) vCPUs, kernel \$(uname -r), device \$RDMA_DEV (\$RDMA_IP)"
# mint-pingpong of build directory \$1 as variant \$2 on port \$3, repetition \$4.
pingpong() {
	LIBOS=catmint timeout 120 \$spin \$1/tests/rdma/mint-pingpong --server \$RDMA_IP:\$3 \\
		>\$out/\$2-server-\$4.log 2>&1 &
	local s=\$!; sleep 0.5
	LIBOS=catmint timeout 100 \$cpin \$1/tests/rdma/mint-pingpong --client \$RDMA_IP:\$3 \\
		--size \$size --requests \$requests --warmup \$warmup --samples \$out/samples-\$2-\$4.txt \\
		>\$out/\$2-\$4.log 2>&1 || fail=1
	wait \$s || fail=1
	grep -h '^RESULT' \$out/\$2-\$4.log | sed "s/^RESULT/\$2 \$4/" >>\$out/results.txt
}
run_example() {
	LIBOS=catmint timeout 120 \$spin \$build/examples/tcp-echo --server \$RDMA_IP:17002 --count 1 \\
		>\$out/example-server-\$1.log 2>&1 &
	local s=\$!; sleep 0.5
	EX_CDF_FILE=\$out/cdf-example-\$1.txt LIBOS=catmint timeout 100 \$cpin \\
		\$build/examples/tcp-pingpong --client \$RDMA_IP:17002 \\
		--size \$size --requests \$requests --warmup \$warmup >\$out/example-\$1.log 2>&1 || fail=1
	wait \$s || fail=1
	grep -h '^RESULT' \$out/example-\$1.log | sed "s/^RESULT proto=tcp/example \$1/" >>\$out/results.txt
}
run_ib() {
	timeout 120 \$spin ib_send_lat -d \$RDMA_DEV -R -s \$size -n \$requests >\$out/ib-server-\$1.log 2>&1 &
	local s=\$!; sleep 0.5
	# -H: every half round trip too, sorted ("i, usec" lines), for the picture
	timeout 100 \$cpin ib_send_lat -d \$RDMA_DEV -R -H -s \$size -n \$requests \$RDMA_IP >\$out/ib-\$1.log 2>&1 || fail=1
	wait \$s || fail=1
	# columns: bytes iterations t_min t_max t_typical t_avg t_stdev p99 p99.9 (half round trips)
	awk -v r=\$1 -v sz=\$size '\$1 == sz && NF >= 9 { printf "ib_send_lat %s size=%s n=%s p50_us=%.2f p99_us=%.2f min_us=%.2f\\n", r, \$1, \$2, 2 * \$5, 2 * \$8, 2 * \$3 }' \$out/ib-\$1.log >>\$out/results.txt
}
variants=catmint
[ \$example = 1 ] && variants="\$variants example"
[ -n "\$base" ] && variants="\$variants base"
variants="\$variants ib_send_lat"
for rep in \$(seq \$reps); do
	order=\$variants
	# Every other repetition the other way round: no variant always runs first.
	[ \$((rep % 2)) = 0 ] && order=\$(echo \$variants | tr ' ' '\n' | tac | tr '\n' ' ')
	for v in \$order; do
		case \$v in
		catmint) pingpong \$build catmint 17001 \$rep ;;
		base) pingpong \$base base 17003 \$rep ;;
		example) run_example \$rep ;;
		ib_send_lat) run_ib \$rep ;;
		esac
		tail -n 1 \$out/results.txt
	done
done
exit \$fail
EOF

. "$(dirname "$0")/build-info.sh"
. "$(dirname "$0")/plot.sh"
bench_build_info "$build"
echo "catmint vs ib_send_lat: $size B, $requests round trips (+10% warm-up) x $reps reps"
echo "host: $(nproc) CPUs, $(uname -sr); guest: soft-RoCE under qemu"
t0=$(date +%s)
bash "$vm" "$build" bash "$out/guest.sh" | grep -E '^(guest|catmint|example|base|ib_send_lat) '
rc=${PIPESTATUS[0]}
if [ "$rc" != 0 ]; then
	echo "$0: a run failed in the guest (exit $rc); logs in $out" >&2
	exit 1
fi
echo
echo "round trips in us (mean over $reps reps of each run's p50 / p99; min-max of the p50s), $(($(date +%s) - t0)) s;"
echo "the guest is emulated (TCG) on a shared host: single repetitions are noisy, judge the medians of the ratios:"
awk -v reps="$reps" '
{
	v = $1; r = $2
	for (i = 3; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
	n[v]++; p50[v] += f["p50_us"]; p99[v] += f["p99_us"]; at[v, r] = f["p50_us"]
	if (!(v in lo) || f["p50_us"] < lo[v]) lo[v] = f["p50_us"]
	if (!(v in hi) || f["p50_us"] > hi[v]) hi[v] = f["p50_us"]
}
# The median of the k values in a[1..k] (sorted here).
function median(a, k,    i, j, t) {
	for (i = 2; i <= k; i++)
		for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
	return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
}
END {
	split("catmint example base ib_send_lat", vs, " ")
	printf "%-12s %10s %10s  %s\n", "variant", "p50_us", "p99_us", "p50 range"
	for (j = 1; j <= 4; j++) {
		v = vs[j]
		if (!n[v]) {
			if (v == "catmint" || v == "ib_send_lat") { print "no results for " v; bad = 1 }
			continue
		}
		printf "%-12s %10.2f %10.2f  [%.2f-%.2f]\n", v, p50[v] / n[v], p99[v] / n[v], lo[v], hi[v]
	}
	if (bad) exit 1
	print ""
	print "per repetition, p50 / ib_send_lat p50 of the same repetition:"
	for (j = 1; j <= 3; j++) {
		v = vs[j]
		if (!n[v]) continue
		k = 0; line = ""
		for (r = 1; r <= reps; r++) {
			if (!((v, r) in at) || !(("ib_send_lat", r) in at)) continue
			x[++k] = at[v, r] / at["ib_send_lat", r]
			line = line sprintf(" %.3f", x[k])
		}
		if (!k) continue
		lo_r = hi_r = x[1]
		for (i = 2; i <= k; i++) { if (x[i] < lo_r) lo_r = x[i]; if (x[i] > hi_r) hi_r = x[i] }
		m = median(x, k)
		printf "%-12s%s\n%-12s median %.3f [%.3f .. %.3f]%s\n", v, line, "", m, lo_r, hi_r,
			v == "catmint" ? sprintf(" (goal <= 1.10: %s)", m <= 1.1 ? "met" : "NOT met") : ""
		delete x
	}
	if (!n["base"]) exit 0
	k = 0; line = ""
	for (r = 1; r <= reps; r++)
		if (("catmint", r) in at && ("base", r) in at) {
			x[++k] = at["catmint", r] / at["base", r]
			line = line sprintf(" %.3f", x[k])
		}
	if (k) printf "catmint / base, per repetition:%s; median %.3f\n", line, median(x, k)
}' "$out/results.txt" | tee "$out/summary.txt"
rc=${PIPESTATUS[0]}
# The pictures. Round trips from the samples: mint-pingpong's as they are, ib_send_lat's halves
# doubled, as in the table.
[ -s "$out/samples-catmint-$reps.txt" ] &&
	bench_cdf_from_samples 1 <"$out/samples-catmint-$reps.txt" >"$out/cdf-catmint-$reps.txt"
sed -n 's/^[0-9]*, \([0-9.e+-]*\)$/\1/p' "$out/ib-$reps.log" | bench_cdf_from_samples 2 \
	>"$out/cdf-ib_send_lat-$reps.txt"
bench_plot_cdfs "$out/latency-cdf.png" \
	"RDMA ping-pong, soft-RoCE in a qemu guest, $size B: repetition $reps of $reps" \
	"catmint (mint-pingpong: push, pop, wait)" "$out/cdf-catmint-$reps.txt" \
	"catmint under the TCP examples (tcp-pingpong)" "$out/cdf-example-$reps.txt" \
	"ib_send_lat (perftest, verbs only)" "$out/cdf-ib_send_lat-$reps.txt"
# The p50s only: the tails (in the distribution) are a hundred times longer under emulation.
awk '{ for (i = 3; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
	printf "p50 round trip\t%s\t%s\n", $1, f["p50_us"] }' "$out/results.txt" >"$out/rtt.txt"
bench_plot_bars "$out/rtt.png" "RDMA ping-pong, soft-RoCE in a qemu guest, $size B, $reps repetitions" \
	"p50 round trip (us)" "$out/rtt.txt"
exit "$rc"
