#!/bin/bash
# SPDX-License-Identifier: MIT
#
# catmint 64-byte ping-pong latency against perftest's ib_send_lat on the same RDMA device, in
# one guest run (docs/catmint.md, "Numbers").
#
#   catmint.sh BUILD_DIR [--reps K] [--requests N] [--size B] [--no-pin]
#
# Boots the soft-RoCE guest once (tests/rdma/vm.sh) and runs there, K times interleaved
# (A B C A B C ...) so that the noise of an emulated machine spreads over all of them:
#   A catmint      tests/rdma/mint-pingpong --server + --client, LIBOS=catmint, busy polling
#                  (DEMIKERNEL_BUSY_POLL=1): push, pop, wait on the demi_* API
#   B example      examples/tcp-echo --server + examples/tcp-pingpong --client, LIBOS=catmint,
#                  busy polling: the unchanged TCP examples on catmint
#   C ib_send_lat  perftest, server + client over rdma_cm (-R), same size and iterations
# Every variant runs alone (two busy-polling processes fill the guest's two vCPUs), server
# pinned to vCPU 1 and client to vCPU 0 (--no-pin: let the guest's scheduler place them).
# ib_send_lat reports half the round trip (t_typical = median of RTT/2); the table gives round
# trips for all: ib_send_lat's RTT = 2 x t_typical. Goal: catmint p50 <= 1.2 x ib_send_lat.
#
# Exit 0 when every run succeeded, 1 when one failed, 2 for a bad command line, 77 when no
# guest can boot here. Raw results and logs: BUILD_DIR/bench-catmint/, with the pictures
# latency-cdf.png (each variant's round trips in the last repetition: mint-pingpong --samples,
# the example's EX_CDF_FILE, ib_send_lat -H) and rtt.png (each variant's p50, median and
# min-max over the repetitions).
set -u
usage() {
	echo "usage: $0 BUILD_DIR [--reps K] [--requests N] [--size B] [--no-pin]" >&2
	exit 2
}
[ $# -ge 1 ] || usage
build=$(realpath "$1")
shift
reps=5 requests=10000 size=64 pin=1
while [ $# -gt 0 ]; do
	if [ "$1" = --no-pin ]; then
		pin=0
		shift
		continue
	fi
	[ $# -ge 2 ] || usage
	case $1 in
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
command -v ib_send_lat >/dev/null || { echo "SKIP: ib_send_lat not found (apt-get install perftest)"; exit 77; }
bash "$vm" --check || exit $?

out=$build/bench-catmint
mkdir -p "$out"
rm -f "$out"/*.log "$out"/*.txt "$out"/*.png
# What runs in the guest. Each server is waited for (it exits after its one client).
cat >"$out/guest.sh" <<EOF
set -u
out=$out build=$build reps=$reps requests=$requests size=$size
warmup=\$((requests / 10))
export DEMIKERNEL_BUSY_POLL=1
# Server on vCPU 1, client on vCPU 0 (as the other benchmarks pin), unless --no-pin.
spin="taskset -c 1" cpin="taskset -c 0"
[ $pin = 1 ] && [ \$(nproc) -ge 2 ] || spin="" cpin=""
fail=0
echo "guest: \$(nproc) vCPUs, kernel \$(uname -r), device \$RDMA_DEV (\$RDMA_IP)"
for rep in \$(seq \$reps); do
	LIBOS=catmint timeout 120 \$spin \$build/tests/rdma/mint-pingpong --server \$RDMA_IP:17001 \\
		>\$out/catmint-server-\$rep.log 2>&1 &
	s=\$!; sleep 0.5
	LIBOS=catmint timeout 100 \$cpin \$build/tests/rdma/mint-pingpong --client \$RDMA_IP:17001 \\
		--size \$size --requests \$requests --warmup \$warmup --samples \$out/samples-catmint-\$rep.txt \\
		>\$out/catmint-\$rep.log 2>&1 || fail=1
	wait \$s || fail=1
	grep -h '^RESULT' \$out/catmint-\$rep.log | sed "s/^RESULT/catmint \$rep/" >>\$out/results.txt

	LIBOS=catmint timeout 120 \$spin \$build/examples/tcp-echo --server \$RDMA_IP:17002 --count 1 \\
		>\$out/example-server-\$rep.log 2>&1 &
	s=\$!; sleep 0.5
	EX_CDF_FILE=\$out/cdf-example-\$rep.txt LIBOS=catmint timeout 100 \$cpin \\
		\$build/examples/tcp-pingpong --client \$RDMA_IP:17002 \\
		--size \$size --requests \$requests --warmup \$warmup >\$out/example-\$rep.log 2>&1 || fail=1
	wait \$s || fail=1
	grep -h '^RESULT' \$out/example-\$rep.log | sed "s/^RESULT proto=tcp/example \$rep/" >>\$out/results.txt

	timeout 120 \$spin ib_send_lat -d \$RDMA_DEV -R -s \$size -n \$requests >\$out/ib-server-\$rep.log 2>&1 &
	s=\$!; sleep 0.5
	# -H: every half round trip too, sorted ("i, usec" lines), for the picture
	timeout 100 \$cpin ib_send_lat -d \$RDMA_DEV -R -H -s \$size -n \$requests \$RDMA_IP >\$out/ib-\$rep.log 2>&1 || fail=1
	wait \$s || fail=1
	# columns: bytes iterations t_min t_max t_typical t_avg t_stdev p99 p99.9 (half round trips)
	awk -v r=\$rep -v sz=\$size '\$1 == sz && NF >= 9 { printf "ib_send_lat %s size=%s n=%s p50_us=%.2f p99_us=%.2f min_us=%.2f\\n", r, \$1, \$2, 2 * \$5, 2 * \$8, 2 * \$3 }' \$out/ib-\$rep.log >>\$out/results.txt
	tail -n 3 \$out/results.txt
done
exit \$fail
EOF

. "$(dirname "$0")/build-info.sh"
. "$(dirname "$0")/plot.sh"
bench_build_info "$build"
echo "catmint vs ib_send_lat: $size B, $requests round trips (+10% warm-up) x $reps reps"
echo "host: $(nproc) CPUs, $(uname -sr); guest: soft-RoCE under qemu"
t0=$(date +%s)
bash "$vm" "$build" bash "$out/guest.sh" | grep -E '^(guest|catmint|example|ib_send_lat) '
rc=${PIPESTATUS[0]}
if [ "$rc" != 0 ]; then
	echo "$0: a run failed in the guest (exit $rc); logs in $out" >&2
	exit 1
fi
echo
echo "round trips in us (mean over $reps reps of each run's p50 / p99; min-max of the p50s), $(($(date +%s) - t0)) s:"
awk '
{
	v = $1
	for (i = 3; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
	n[v]++; p50[v] += f["p50_us"]; p99[v] += f["p99_us"]
	if (!(v in lo) || f["p50_us"] < lo[v]) lo[v] = f["p50_us"]
	if (!(v in hi) || f["p50_us"] > hi[v]) hi[v] = f["p50_us"]
}
END {
	printf "%-12s %10s %10s  %s\n", "variant", "p50_us", "p99_us", "p50 range"
	split("catmint example ib_send_lat", vs, " ")
	for (j = 1; j <= 3; j++) {
		v = vs[j]
		if (!n[v]) { print "no results for " v; bad = 1; continue }
		printf "%-12s %10.2f %10.2f  [%.2f-%.2f]\n", v, p50[v] / n[v], p99[v] / n[v], lo[v], hi[v]
	}
	if (bad) exit 1
	r = (p50["catmint"] / n["catmint"]) / (p50["ib_send_lat"] / n["ib_send_lat"])
	printf "catmint_p50 / ib_send_lat_p50 = %.3f (goal <= 1.20: %s)\n", r, r <= 1.2 ? "met" : "NOT met"
	r = (p50["example"] / n["example"]) / (p50["ib_send_lat"] / n["ib_send_lat"])
	printf "example_p50 / ib_send_lat_p50 = %.3f\n", r
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
