# SPDX-License-Identifier: MIT
# Pictures for the benchmark scripts (sourced): latency distributions written by the examples
# and raw-memif-pingpong when EX_CDF_FILE names a file ("latency_us fraction" lines), drawn with
# gnuplot, installed (gnuplot-nox) when missing and we are root; without it, a note instead.

# bench_have_gnuplot: true when gnuplot can be used (installing it if needed).
bench_have_gnuplot() {
	command -v gnuplot >/dev/null || [ "$(id -u)" != 0 ] ||
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			gnuplot-nox >/dev/null 2>&1
	command -v gnuplot >/dev/null || { echo "(no gnuplot: no picture)"; return 1; }
}

# bench_plot_cdfs PNG TITLE LABEL FILE [LABEL FILE...]: one curve per file, log-scale latency.
bench_plot_cdfs() {
	local png=$1 title=$2 plot="" sep=""
	shift 2
	bench_have_gnuplot || return 0
	while [ $# -ge 2 ]; do
		[ -s "$2" ] && plot+="$sep\"$2\" using 1:2 with lines lw 2 title \"$1\"" sep=", "
		shift 2
	done
	[ -n "$plot" ] || return 0
	gnuplot <<EOG
set terminal pngcairo size 900,540 font ",11"
set output "$png"
set title "$title"
set xlabel "round-trip time (us, log scale)"
set ylabel "fraction of round trips at or below"
set logscale x
set key bottom right
set grid
plot $plot
EOG
	echo "(latency distribution: $png)"
}
