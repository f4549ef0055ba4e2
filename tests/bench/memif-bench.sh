# SPDX-License-Identifier: MIT
#
# What the catnip memif benchmarks (catnip-udp.sh, catnip-tcp.sh) share; sourced, not run.
# The caller sets build, size, requests and the name of its output folder (bench), then calls
# memif_bench_setup SUBNET (e.g. 10.80.0): the catnip server (core 1) is SUBNET.1:7 and the
# client (core 0) SUBNET.2, joined by net_memif. Only processes started here are signalled,
# by PID.
#
# DPDK runs on hugepages, as deployments do (--in-memory: backed by memfd, no hugetlbfs mount
# needed): when the machine has too few free 2 MiB pages the setup reserves more (as root,
# saying so) and gives them back at exit; when that fails every DPDK process falls back to
# --no-huge -m 256 (also said). Each repetition is a pair (catnip, floor) run back to back,
# in alternating order; pingpong_report judges the median of the per-pair differences.

. "$(dirname "${BASH_SOURCE[0]}")/build-info.sh"

memif_bench_setup() {
	subnet=$1
	bench_build_info "$build"
	ex=$build/examples
	raw=$build/tests/bench/raw-memif-pingpong
	[ -x "$raw" ] || { echo "SKIP: $raw not built (no DPDK)"; exit 77; }
	out=$build/$bench
	mkdir -p "$out"
	results=$out/results.txt
	: >"$results"
	dir=$(mktemp -d)
	mkfifo "$dir/tick" # run_client's pause: a read that times out, no process started
	pid=
	trap memif_bench_cleanup EXIT
	memif_hugepages
	memif_bench_conf "" "" 256 ""
}

. "$(dirname "${BASH_SOURCE[0]}")/../dpdk/memif-conf.sh"
# Sets eal_mem (the EAL's memory flags, MEM standing for the size without hugepages):
# hugepages if HP_NEED (default 128: 256 MiB, for both processes of the 9k configuration) are
# free or can be reserved, else --no-huge (memif-conf.sh's memif_conf_hugepages says which).
memif_hugepages() {
	memif_conf_hugepages "${HP_NEED:-128}"
	eal_mem=${memif_conf_mem/MB/MEM}
}

# Writes $dir/server$1.yaml and $dir/client$1.yaml: memif_bench_conf SUFFIX VDEV_ARGS MEM_MB
# DPDK_KEYS (VDEV_ARGS are appended to the vdev, ",bsize=9216"; DPDK_KEYS are extra lines of
# the dpdk: section, e.g. "  mtu: 9000"). Both ends busy-poll (demikernel.busy_poll: the numbers
# are those of kernel bypass with a dedicated core; DEMIKERNEL_BUSY_POLL=false in the
# environment measures the default adaptive waiting instead).
memif_bench_conf() {
	local side core ip mac
	for side in server client; do
		if [ $side = server ]; then core=1 ip=$subnet.1 mac=02:00:00:00:00:01
		else core=0 ip=$subnet.2 mac=02:00:00:00:00:02; fi
		cat >"$dir/$side$1.yaml" <<EOY
libos: catnip
demikernel:
  local_ipv4_addr: $ip
  busy_poll: true
dpdk:
  eal_init: $(memif_eal "cn$side" $core $side "$dir/catnip.sock" "$mac$2" "$3")
EOY
		if [ -n "$4" ]; then printf '%b\n' "$4" >>"$dir/$side$1.yaml"; fi
	done
}

memif_bench_cleanup() {
	[ -n "$pid" ] && kill -INT "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$dir"
	memif_conf_release
}

memif_eal() { # NAME CORE ROLE SOCKET MAC[,VDEV_ARGS] [MEM_MB]
	local vdev="--vdev=net_memif0,role=$3,id=0,socket=$4,socket-abstract=no,mac=$5"
	echo "[\"$1\", \"-l\", \"$2\", \"--no-pci\", \"--no-telemetry\"," \
		"${eal_mem/MEM/${6:-256}}, \"--file-prefix\", \"$1$$\", \"$vdev\"]"
}

# A memif client can only start once the server's socket exists.
wait_socket() {
	for _ in $(seq 100); do
		[ -S "$1" ] && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	echo "$0: server socket $1 never appeared" >&2
	exit 1
}

field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }

# Whether the server ($pid) still runs: a zombie (exited, not yet waited for) counts as gone.
server_alive() {
	local _n _c st
	# Read with a builtin: no process is started while the two cores are being measured.
	read -r _n _c st _ 2>/dev/null <"/proc/$pid/stat" || return 1
	[ -n "$st" ] && [ "$st" != Z ]
}

# Runs a client to completion, for at most 120 s: run_client LOG CMD ARGS... A client whose
# server died cannot finish (DPDK 22.11's memif driver sometimes segfaults when a peer comes and
# goes): it is stopped at once, so the caller's retry starts seconds later instead of after
# the whole timeout.
run_client() {
	local log=$1 cpid
	shift
	timeout 120 "$@" >"$log" 2>&1 &
	cpid=$!
	while kill -0 $cpid 2>/dev/null; do
		if ! server_alive; then
			read -rt 0.2 <>"$dir/tick" # the client may just have finished
			kill -0 $cpid 2>/dev/null || break
			echo "$0: the server (pid $pid) died; stopping its client" >&2
			kill -TERM $cpid 2>/dev/null
			wait $cpid
			return 1 # a stopped client may exit 0, with no result
		fi
		# Half a second's pause without starting a process while the cores are measured.
		read -rt 0.5 <>"$dir/tick"
	done
	wait $cpid
}

# catnip ping-pong with the unchanged examples: run_catnip_pingpong SERVER_EXAMPLE CLIENT_EXAMPLE
run_catnip_pingpong() {
	rm -f "$dir/catnip.sock"
	CONFIG_PATH=$dir/server.yaml "$ex/$1" --server $subnet.1:7 >"$out/catnip-server.log" 2>&1 &
	pid=$!
	wait_socket "$dir/catnip.sock"
	CONFIG_PATH=$dir/client.yaml run_client "$out/catnip-client.log" "$ex/$2" \
		--client $subnet.1:7 --size "$size" --requests "$requests" --warmup 2000
	local rc=$?
	stop_server
	[ $rc = 0 ] || { echo "$0: catnip client failed" >&2; cat "$out/catnip-client.log" >&2; exit 1; }
	grep '^RESULT' "$out/catnip-client.log"
}

# The raw program's EAL arguments for one end, into the array raw_eal_args:
# raw_eal CORE PREFIX ROLE SOCKET VDEV_EXTRA (VDEV_EXTRA: appended to the vdev, ",mac=...").
raw_eal() {
	local mem
	mem=$(tr -d '",' <<<"${eal_mem/MEM/256}")
	# shellcheck disable=SC2206 # mem is a list of flags
	raw_eal_args=(-l "$1" --no-pci --no-telemetry $mem --file-prefix "$2$$"
		"--vdev=net_memif0,role=$3,id=0,socket=$4,socket-abstract=no$5")
}

# A raw server on core 1, in the background (pid), its socket up:
# raw_server SOCKET LOG VDEV_EXTRA ARGS...
raw_server() {
	local sock=$1 log=$2
	raw_eal 1 rs server "$sock" "$3"
	shift 3
	"$raw" "${raw_eal_args[@]}" -- "$@" >"$log" 2>&1 &
	pid=$!
	wait_socket "$sock"
}

# A raw client on core 0, run to completion by run_client: raw_client SOCKET LOG VDEV_EXTRA ARGS...
raw_client() {
	local sock=$1 log=$2
	raw_eal 0 rc client "$sock" "$3"
	shift 3
	run_client "$log" taskset -c 0 "$raw" "${raw_eal_args[@]}" -- "$@"
}

# Stops the server of a run (pid): stop_server
stop_server() {
	kill -INT "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	pid=
}

# The floor: the same memif, DPDK only, frames of FRAME bytes: run_raw FRAME
run_raw() {
	local frame=$1 rc
	[ $frame -ge 60 ] || frame=60
	rm -f "$dir/raw.sock"
	raw_server "$dir/raw.sock" "$out/raw-server.log" "" --server
	raw_client "$dir/raw.sock" "$out/raw-client.log" "" \
		--client --requests "$requests" --warmup 2000 --size $frame
	rc=$?
	stop_server
	[ $rc = 0 ] || { echo "$0: raw client failed" >&2; cat "$out/raw-client.log" >&2; exit 1; }
	grep '^RESULT' "$out/raw-client.log"
}

# The kernel over 127.0.0.1: run_kernel tcp|udp
run_kernel() {
	local port=$((30000 + $$ % 20000))
	taskset -c 1 "$ex/linux-echo" --server 127.0.0.1:$port --mode epoll --proto "$1" \
		>"$out/kernel-server.log" 2>&1 &
	pid=$!
	sleep 0.3
	taskset -c 0 "$ex/linux-echo" --pingpong 127.0.0.1:$port --proto "$1" --size "$size" \
		--requests "$requests" --warmup 2000 >"$out/kernel-client.log" 2>&1
	local rc=$?
	stop_server
	[ $rc = 0 ] || { echo "$0: kernel client failed" >&2; cat "$out/kernel-client.log" >&2; exit 1; }
	grep '^RESULT' "$out/kernel-client.log"
}

. "$(dirname "${BASH_SOURCE[0]}")/plot.sh"
# The ping-pong latency distributions of repetition REP as a PNG: plot_cdf PROTO REP
plot_cdf() {
	bench_plot_cdfs "$out/latency-cdf.png" \
		"$1 ping-pong, $size B, repetition $2 of $reps: latency distribution" \
		"raw memif (DPDK only, the floor)" "$out/cdf-raw-$2.txt" \
		"catnip (memif, our stack)" "$out/cdf-catnip-$2.txt" \
		"Linux kernel (loopback)" "$out/cdf-kernel-$2.txt"
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
# med VARIANT COLUMN: the median of one column of results.txt for one variant
med() { awk -v v="$1" -v k="$2" '$1==v {print $(k)}' "$results" | median; }

# Runs COMMAND (a ping-pong printing its RESULT line) as variant V of repetition REP and
# appends "V REP p50 p99" to $results: record_variant REP V COMMAND...
record_variant() {
	local rep=$1 v=$2 line try
	shift 2
	export EX_CDF_FILE=$out/cdf-$v-$rep.txt # the latency distribution, for the plot
	# A run that fails to start (a memif link that never comes up, a server not yet
	# listening: both seen on the loaded 2-core VM) is tried again, twice.
	for try in 1 2 3; do
		line=$("$@") && break
		echo "repetition $rep: $v failed (try $try of 3)" >&2
		line=
	done
	unset EX_CDF_FILE
	[ -n "$line" ] || return 0
	echo "$v $rep $(field p50_us "$line") $(field p99_us "$line")" >>"$results"
}

# One repetition of the three ping-pongs (the caller defines run_catnip, run_raw_frame and
# run_kernel_proto), appended to $results and printed as a pair: pingpong_rep REP. catnip and
# its floor run back to back, catnip first in odd repetitions and second in even ones, so a
# machine that slows down or speeds up during the run favours neither; the kernel runs last.
pingpong_rep() {
	local v order="catnip raw"
	[ $(($1 % 2)) = 0 ] && order="raw catnip"
	for v in $order kernel; do
		case $v in
		catnip) record_variant "$1" $v run_catnip ;;
		raw) record_variant "$1" $v run_raw_frame ;;
		kernel) record_variant "$1" $v run_kernel_proto ;;
		esac
	done
	awk -v r="$1" '$2==r {p[$1]=$3} END {printf "pair %d (%s first): floor %.3f catnip %.3f" \
		" diff %+.3f us p50; kernel %.2f\n", r, (r%2) ? "catnip" : "floor", p["raw"],
		p["catnip"], p["catnip"]-p["raw"], p["kernel"]}' "$results"
}

# The ping-pong table and its goal line: pingpong_report PROTO GOAL_US (e.g. TCP 0.40). The
# judgement is the median of the per-pair differences (catnip - floor, p50), with their
# spread: the floor itself moves by a factor of several from run to run on a shared VM.
pingpong_report() {
	local c50 r50 k50 c99 r99 k99 d
	c50=$(med catnip 3) r50=$(med raw 3) k50=$(med kernel 3)
	c99=$(med catnip 4) r99=$(med raw 4) k99=$(med kernel 4)
	d=$(awk '$1=="raw" {r[$2]=$3} $1=="catnip" {c[$2]=$3}
		END {for (k in c) if (k in r) print c[k]-r[k]}' "$results" | sort -g)
	echo
	echo "$1 ping-pong, $size B payload, $requests requests, $reps interleaved pairs" \
		"(medians, us)"
	printf "%-8s %10s %10s\n" "" p50 p99
	printf "%-8s %10s %10s\n" catnip "$c50" "$c99" raw "$r50" "$r99" kernel "$k50" "$k99"
	printf "catnip - raw memif, median of the per-pair differences: %.3f us" \
		"$(median <<<"$d")"
	printf " [%.3f .. %.3f] (goal <= %s); catnip / kernel $1: %.3f\n" "$(head -1 <<<"$d")" \
		"$(tail -1 <<<"$d")" "$2" "$(echo "$c50 / $k50" | bc -l)"
}
