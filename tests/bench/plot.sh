# SPDX-License-Identifier: MIT
# Pictures for the benchmark scripts (sourced): latency distributions written by the examples
# and raw-memif-pingpong when EX_CDF_FILE names a file ("latency_us fraction" lines), or made
# here from raw samples (bench_cdf_from_samples), and throughput bars with their spread over
# the repetitions; drawn with gnuplot, installed (gnuplot-nox) when missing and we are root;
# without it, a note instead.

# bench_have_gnuplot: true when gnuplot can be used (installing it if needed).
bench_have_gnuplot() {
	command -v gnuplot >/dev/null || [ "$(id -u)" != 0 ] ||
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			gnuplot-nox >/dev/null 2>&1
	command -v gnuplot >/dev/null || { echo "(no gnuplot: no picture)"; return 1; }
}

# bench_cdf_from_samples SCALE <SAMPLES >CDF: the examples' EX_CDF_FILE format (nearest-rank
# latency at every 0.1% and at 99.95, 99.99, 99.999%) from one sample a line, each multiplied
# by SCALE (for tools that print other units, or half round trips as ib_send_lat does).
bench_cdf_from_samples() {
	sort -g | awk -v k="$1" '
		function at(p,   i) { i = int(p * NR); if (i < p * NR) i++; if (i < 1) i = 1
			return a[i] * k }
		{ a[NR] = $1 }
		END { if (!NR) exit
			for (j = 1; j < 1000; j++) printf "%.3f %.5f\n", at(j / 1000), j / 1000
			split("0.9995 0.9999 0.99999", t, " ") # the tail, then the maximum: in order
			for (j = 1; j <= 3; j++) printf "%.3f %.5f\n", at(t[j]), t[j]
			printf "%.3f %.5f\n", at(1), 1 }'
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
set terminal pngcairo noenhanced size 900,540 font ",11"
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

# bench_bars_table RUNS TABLE: the data of bench_plot_bars. RUNS has one line per run,
# "GROUP<tab>VARIANT<tab>VALUE"; a run without a number (a failed one, "-", "nan") is left out.
# TABLE gets a header ("group", then "VARIANT" lo hi for each variant) and one row per group:
# its name, then the median, minimum and maximum of every variant ("? ? ?" where it has no
# run), groups and variants in the order they first appear. Prints "VARIANTS GROUPS".
bench_bars_table() {
	awk -F '\t' -v table="$2" '
		function med(s,   v, m, i, j, t) { m = split(s, v, " ")
			for (i = 2; i <= m; i++) for (j = i; j > 1 && v[j - 1] > v[j]; j--) {
				t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
			lo = v[1]; hi = v[m]
			return (m % 2) ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2 }
		$3 !~ /^[0-9.eE+-]+$/ || $3 + 0 != $3 { next }
		!($1 in gi) { gi[$1] = ++ng; g[ng] = $1 }
		!($2 in vi) { vi[$2] = ++nv; v[nv] = $2 }
		{ s[$1, $2] = s[$1, $2] " " $3 }
		END { printf "group" >table
			for (j = 1; j <= nv; j++) printf " \"%s\" lo hi", v[j] >table
			print "" >table
			for (i = 1; i <= ng; i++) { printf "\"%s\"", g[i] >table
				for (j = 1; j <= nv; j++)
					if ((g[i], v[j]) in s) printf " %g %g %g", med(s[g[i], v[j]]), lo, hi >table
					else printf " ? ? ?" >table
				print "" >table }
			print nv + 0, ng + 0 }' "$1"
}

# bench_plot_bars PNG TITLE YLABEL RUNS: a bar per variant in each group, its height the median
# over the repetitions and its whisker their min-max (RUNS: see bench_bars_table).
bench_plot_bars() {
	local png=$1 title=$2 ylabel=$3 table n groups
	bench_have_gnuplot || return 0
	[ -s "$4" ] || return 0
	table=$(mktemp)
	read -r n groups < <(bench_bars_table "$4" "$table")
	if [ "$n" -gt 0 ]; then
		gnuplot <<EOG
set terminal pngcairo noenhanced size 900,540 font ",11"
set output "$png"
set title "$title\\n(bar: median over the repetitions; whisker: their minimum and maximum)"
set ylabel "$ylabel"
set datafile missing "?"
set style data histogram
set style histogram errorbars gap 1 lw 1.5
set style fill solid 0.75 border -1
set xrange [-0.5:$groups - 0.5]
set yrange [0:*]
set format y "%.1s%c"
set key outside bottom center horizontal
set grid ytics
plot for [i=1:$n] "$table" using 3*i-1:3*i:3*i+1:xtic(1) title columnheader(3*i-1)
EOG
		echo "(bar chart: $png)"
	fi
	rm -f "$table"
}
