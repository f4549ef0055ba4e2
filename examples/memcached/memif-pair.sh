# SPDX-License-Identifier: MIT
#
# Sourced by the scripts that run the port on catnip against kv-load on catnip over net_memif
# (test-memcached-catnip.sh, tests/bench/memcached.sh):
#   memif_pair DIR NAME NET   writes DIR/s.yaml (the server: core 1, memif server role,
#       NET.1) and DIR/c.yaml (the client: core 0, client role, NET.2), joined by the memif
#       socket DIR/m.sock; NAME (with s/c and the PID) makes the DPDK file prefixes unique.
memif_pair() {
	local dir=$1 name=$2 net=$3 f core role host
	for f in s c; do
		if [ $f = s ]; then core=1 role=server host=1; else core=0 role=client host=2; fi
		cat >"$dir/$f.yaml" <<EOY
libos: catnip
demikernel:
  local_ipv4_addr: $net.$host
dpdk:
  eal_init: ["$name$f", "-l", "$core", "--no-pci", "--no-telemetry", "--no-huge", "-m", "512",
             "--file-prefix", "$name$f$$",
             "--vdev=net_memif0,role=$role,id=0,socket=$dir/m.sock,socket-abstract=no,mac=02:00:00:00:$(printf %02x "${net##*.}"):0$host"]
EOY
	done
}
#   memif_server DIR LOG CMD...   runs CMD as the server (CONFIG_PATH=DIR/s.yaml) in the
#       background, its PID in memif_pid and its output in LOG; returns once the memif socket
#       exists (the device is up; demi_init completes when the client attaches), 1 if it never
#       appears in 10 s or CMD exits first.
memif_server() {
	local dir=$1 log=$2
	shift 2
	rm -f "$dir/m.sock"
	CONFIG_PATH=$dir/s.yaml "$@" >"$log" 2>&1 &
	memif_pid=$!
	for _ in $(seq 100); do
		[ -S "$dir/m.sock" ] && return 0
		kill -0 $memif_pid 2>/dev/null || break
		sleep 0.1
	done
	return 1
}
