#!/bin/bash
# SPDX-License-Identifier: MIT
# tests/bench/plot.sh, the benchmark scripts' pictures: the latency distribution made from raw
# samples (nearest rank, scaled, ascending to the maximum), the bar chart's table (median, min
# and max per group and variant, in the order of first appearance, failed runs left out, "?"
# where a variant has no run) and, when gnuplot is installed, both pictures as PNG files.
set -u
. "$(dirname "$0")/../bench/plot.sh"
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
fail=0
check() { # NAME CONDITION-RESULT
	if [ "$2" = 0 ]; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi
}
at() { awk -v f="$1" '$2 == f {print $1}' "$t/cdf.txt"; } # the latency at fraction F

seq 1000 | shuf >"$t/samples.txt"
bench_cdf_from_samples 2 <"$t/samples.txt" >"$t/cdf.txt"
check "1003 points" "$([ "$(wc -l <"$t/cdf.txt")" = 1003 ]; echo $?)"
check "p0.1 is the first sample, scaled" "$([ "$(at 0.00100)" = 2.000 ]; echo $?)"
check "p50 is the 500th sample, scaled" "$([ "$(at 0.50000)" = 1000.000 ]; echo $?)"
check "p99.95 rounds up to the last sample" "$([ "$(at 0.99950)" = 2000.000 ]; echo $?)"
check "the last point is the maximum at 1" \
	"$([ "$(tail -1 "$t/cdf.txt")" = "2000.000 1.00000" ]; echo $?)"
ascending() { sort -c -g -k"$1,$1" "$t/cdf.txt" 2>/dev/null; }
check "ascending in both columns" "$(ascending 1 && ascending 2; echo $?)"
bench_cdf_from_samples 1 </dev/null >"$t/empty.txt"
check "no samples, no points" "$([ ! -s "$t/empty.txt" ]; echo $?)"

printf '%s\t%s\t%s\n' "1 conn" "a b" 10 "1 conn" "c" 5 "64 conns" "a b" 30 "1 conn" "a b" 30 \
	"1 conn" "a b" 20 "64 conns" "a b" nan "64 conns" "a b" - "1 conn" "c" 7 "1 conn" "d" "" \
	>"$t/runs.txt"
counts=$(bench_bars_table "$t/runs.txt" "$t/table.txt")
check "2 variants (d never ran), 2 groups" "$([ "$counts" = "2 2" ]; echo $?)"
expect='group "a b" lo hi "c" lo hi
"1 conn" 20 10 30 6 5 7
"64 conns" 30 30 30 ? ? ?'
check "median min max per group and variant" "$([ "$(cat "$t/table.txt")" = "$expect" ]; echo $?)"
: >"$t/none.txt"
counts=$(bench_bars_table "$t/none.txt" "$t/t2.txt")
check "no runs: nothing to draw" "$([ "$counts" = "0 0" ]; echo $?)"

if command -v gnuplot >/dev/null; then
	png() { [ "$(head -c 4 "$1" | od -An -tx1 | tr -d ' ')" = 89504e47 ]; }
	bench_plot_cdfs "$t/cdf.png" "title" "a_b" "$t/cdf.txt" "missing" "$t/nothing.txt" >/dev/null
	check "the distribution as a PNG" "$(png "$t/cdf.png"; echo $?)"
	bench_plot_bars "$t/bars.png" "title" "requests/s" "$t/runs.txt" >/dev/null
	check "the bars as a PNG" "$(png "$t/bars.png"; echo $?)"
else
	echo "skip the pictures: no gnuplot"
fi
exit $fail
