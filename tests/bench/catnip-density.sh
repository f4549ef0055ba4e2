#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Density (docs/benchmarks.md, "Idle cost"): N idle catnip processes on one machine.
#
#   catnip-density.sh BUILD_DIR [--instances N] [--rounds R]
#
# Starts N (default 32) examples/udp-echo servers, LIBOS=catnip in the default configuration,
# each on its own net_tap port (receive interrupts) in one network namespace made for the run,
# on cores 0 and 1 alternately. Once all are up and idle: their total CPU time over 5 s
# (utime + stime from /proc, goal <= 5% of a core for 32), then R rounds (default 3, 1 s
# apart, so every server is asleep again) in which a kernel UDP socket asks each server in
# turn for one echo and times it (goal: each within 1 ms). Needs DPDK and root (exit 77).
# Only processes started here are signalled, by PID.

set -u
usage() {
	echo "usage: $0 BUILD_DIR [--instances N] [--rounds R]" >&2
	exit 2
}
[ $# -ge 1 ] || usage
build=$1
shift
n=32 rounds=3
while [ $# -gt 0 ]; do
	[ $# -ge 2 ] || usage
	case $1 in
	--instances) n=$2 ;;
	--rounds) rounds=$2 ;;
	*) usage ;;
	esac
	shift 2
done
skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root (network namespace, tap devices)"
[ -c /dev/net/tun ] || skip "no /dev/net/tun"
[ "$n" -ge 1 ] && [ "$n" -le 250 ] || usage
ex=$build/examples
[ -x "$ex/udp-echo" ] || skip "examples not built"
ns=demi-dens-$$
dir=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	ip netns del "$ns" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT
ip netns add "$ns" || skip "cannot create a network namespace"
ip -n "$ns" link set lo up

tap() { echo "dden$(($$ % 10000))x$1"; }
for i in $(seq "$n"); do
	cat >"$dir/$i.yaml" <<EOY
libos: catnip
demikernel:
  local_ipv4_addr: 10.91.$i.2
dpdk:
  eal_init: ["udp-echo", "-l", "$((i % 2))", "--no-pci", "--no-telemetry", "--no-huge", "-m",
             "64", "--file-prefix", "dens$$x$i", "--vdev=net_tap0,iface=$(tap "$i")"]
EOY
	ip netns exec "$ns" env CONFIG_PATH="$dir/$i.yaml" DEMI_LOG=info \
		"$ex/udp-echo" --server "10.91.$i.2:7" >"$dir/$i.log" 2>&1 &
	pids+=($!)
done
for i in $(seq "$n"); do
	for _ in $(seq 200); do
		ip -n "$ns" link show "$(tap "$i")" >/dev/null 2>&1 && break
		sleep 0.1
	done
	ip -n "$ns" addr add "10.91.$i.1/24" dev "$(tap "$i")" &&
		ip -n "$ns" link set "$(tap "$i")" up || { echo "FAIL: instance $i did not start"; cat "$dir/$i.log"; exit 1; }
done
echo "$n catnip udp-echo servers up (RSS of the first: $(awk '/VmRSS/ {print $2, $3}' "/proc/${pids[0]}/status"))"
sleep 3
hz=$(getconf CLK_TCK)
ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
total() { local s=0 p; for p in "${pids[@]}"; do s=$((s + $(ticks "$p"))); done; echo $s; }
c0=$(total)
t0=$(date +%s%N)
sleep 5
c1=$(total)
t1=$(date +%s%N)
awk -v d=$((c1 - c0)) -v hz="$hz" -v ns=$((t1 - t0)) -v n="$n" 'BEGIN {
	printf "idle: %d catnip processes used %.2f %% of a core in all over %.1f s (goal <= 5 %%)\n",
		n, d / hz * 1e11 / ns, ns / 1e9 }'
ip netns exec "$ns" python3 - "$n" "$rounds" <<'EOP'
import socket, sys, time
n, rounds = int(sys.argv[1]), int(sys.argv[2])
socks = []
for i in range(1, n + 1):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect(("10.91.%d.2" % i, 7))
    s.settimeout(1.0)
    socks.append(s)
# ARP first, untimed: the kernel resolves each server once.
for s in socks:
    s.send(b"arp")
    try:
        s.recv(64)
    except socket.timeout:
        pass
lat = []
for r in range(rounds):
    time.sleep(1.0)
    for i, s in enumerate(socks):
        t0 = time.perf_counter()
        s.send(b"x%03d" % i)
        try:
            s.recv(64)
            lat.append((time.perf_counter() - t0) * 1e6)
        except socket.timeout:
            lat.append(float("inf"))
lat.sort()
m = lat[len(lat) // 2]
over = sum(1 for x in lat if x > 1000)
print("first echo of each idle instance, %d rounds: median %.0f us, p90 %.0f us, max %.0f us; "
      "%d of %d over 1 ms (goal: none)" % (rounds, m, lat[int(len(lat) * 0.9)], lat[-1], over,
                                          len(lat)))
EOP
