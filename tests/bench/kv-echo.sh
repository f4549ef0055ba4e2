# SPDX-License-Identifier: MIT
#
# Sourced by redis.sh and memcached.sh: the report of their catnip echo runs, which both make the
# same way (catnip's TCP echo driven by kv-load, then by tcp-pingpong as a reference).
#   kv_median <LINES   the median of numbers, one a line (nan without any)
#   kv_echo_report OP DIFFS DIFFS_PP ECHO32_RPS PORT32_RPS   prints the per-repetition
#       differences catnip OP p50 - echo p50 (DIFFS: the echo driven by kv-load, one a line),
#       the same against tcp-pingpong's echo (DIFFS_PP, a reference, not judged), the goal
#       (the median of DIFFS <= 1.5 us, through the caller's goal function) and the load
#       generator's headroom at 32 connections (kv-load's rate against the echo over its rate
#       against the port: above 1, kv-load is not what limits the port's rate).
kv_median() { sort -n | awk '{a[NR]=$1} END {print (NR ? a[int((NR + 1) / 2)] : "nan")}'; }

kv_echo_report() {
	local op=$1 d=$2 dp=$3
	echo "catnip $op p50 - echo p50 per repetition (us), echo driven by kv-load:" \
		"$(paste -sd' ' <<<"$d")"
	echo "  (reference) the same against the tcp-pingpong echo: $(paste -sd' ' <<<"$dp")," \
		"median $(kv_median <<<"$dp") (not judged: a leaner client than kv-load)"
	goal "catnip $op p50 - catnip echo p50 (us), median" "$(kv_median <<<"$d")" '<=' 1.5
	echo "load generator's headroom at 32 connections: kv-load drives catnip's echo at $4" \
		"req/s, the catnip port at $5: $(awk -v e="${4/-/0}" -v p="${5/-/0}" \
			'BEGIN{printf "%.2f", e / (p + 0.001)}')x (above 1: kv-load is not what limits" \
		"the port's rate)"
}
