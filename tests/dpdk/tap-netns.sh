# SPDX-License-Identifier: MIT
#
# Sourced by the tests that run catnip on a DPDK net_tap port with the Linux kernel as the
# peer (catnip-tcp-tap.sh, catnip-syn-flood-tap.sh, catnip-rcvmem-tap.sh): a network namespace made for the test,
# holding a persistent tap device with the Linux address on it, so that each catnip process
# attaches to the same device (net_tap's fixed MAC keeps the kernel's ARP entry valid from one
# process to the next), and a catnip echo server in it.
#
#   tap_netns NAME LINUX_ADDR CATNIP_ADDR   sets ns, tap, dir (a temporary directory),
#       dir/catnip.yaml (catnip on that tap, core 0, no hugepages) and an EXIT trap that stops
#       the server ($pid, SIGINT) and the programs in $bg_pids, deletes the namespace and dir;
#       exits 77 (skip) when there is no root, /dev/net/tun, ip, namespace or tap.
#   nsx COMMAND...   runs COMMAND in the namespace.
#   nsx_bg COMMAND...   the same in the background, $! being COMMAND's own PID (a function run
#       with & is a subshell: killing its PID would leave COMMAND running).
#   start_catnip_server LOG BANNER PROGRAM ARGS...   PROGRAM with LIBOS=catnip in the
#       namespace, its PID in pid and its output in LOG; exits 1 if BANNER does not appear.
#   start_echo_server ADDR:PORT   examples/tcp-echo --server so, its output in dir/server.log.
#   fail MESSAGE [LOG]   reports a failure (and LOG's tail), sets rc=1; the test goes on.
#   tcp_counters LOG   the "catnip: counters:" lines a catnip process logged at exit.
# The caller sets ex (the examples' build directory) first.

skip() {
	echo "SKIP: $*"
	exit 77
}

pid= bg_pids= rc=0
fail() {
	echo "FAIL: $1"
	[ -f "${2:-}" ] && tail -30 "$2"
	rc=1
}
tcp_counters() { grep -o "catnip: counters: .*" "$1" | sed 's/ (catnip_counters\.c.*//'; }

tap_cleanup() {
	local p
	for p in $bg_pids; do
		kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	[ -n "$pid" ] && kill -INT "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	ip netns del "$ns" 2>/dev/null
	rm -rf "$dir"
}

tap_netns() { # NAME LINUX_ADDR CATNIP_ADDR
	[ "$(id -u)" = 0 ] || skip "needs root (network namespace, tap device)"
	[ -c /dev/net/tun ] || skip "no /dev/net/tun"
	command -v ip >/dev/null || skip "no ip (iproute2)"
	ns=demi-$1-$$
	tap=d$1$(($$ % 100000))
	dir=$(mktemp -d)
	trap tap_cleanup EXIT
	trap '' PIPE
	ip netns add "$ns" || skip "cannot create a network namespace"
	ip -n "$ns" link set lo up
	ip -n "$ns" tuntap add dev "$tap" mode tap multi_queue || skip "cannot create a tap device"
	ip -n "$ns" addr add "$2/24" dev "$tap"
	cat >"$dir/catnip.yaml" <<EOY
libos: catnip
demikernel:
  local_ipv4_addr: $3
dpdk:
  eal_init: ["$1", "-l", "0", "--no-pci", "--no-telemetry", "--no-huge", "-m", "256",
             "--file-prefix", "$1$$", "--vdev=net_tap0,iface=$tap,mac=fixed"]
EOY
}

nsx() { ip netns exec "$ns" "$@"; }
nsx_bg() { ip netns exec "$ns" "$@" & }

start_catnip_server() { # LOG BANNER PROGRAM ARGS...
	local log=$1 banner=$2
	shift 2
	ip -n "$ns" neigh flush dev "$tap" 2>/dev/null
	# (ip netns exec and env exec the program: $! is its PID, which SIGINT must reach)
	ip netns exec "$ns" env CONFIG_PATH="$dir/catnip.yaml" DEMI_LOG=info "$@" >"$log" 2>&1 &
	pid=$!
	for _ in $(seq 100); do
		grep -q "$banner" "$log" && return 0
		kill -0 $pid 2>/dev/null || break
		sleep 0.1
	done
	echo "FAIL: the catnip server did not start"
	cat "$log"
	exit 1
}

start_echo_server() { # ADDR:PORT
	start_catnip_server "$dir/server.log" "tcp echo server on" "$ex/tcp-echo" --server "$1"
}
