#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Where each microsecond of a Redis request goes at 32 unpipelined connections over loopback
# (the rows of tests/bench/redis.sh whose goals depend on it): for stock Debian redis-server and
# the port on catnap epoll and io_uring, kv-load (on catnap) drives GET or SET from core 0
# against the server on core 1, and perf samples both cores (cpu-clock, call graphs) for a
# window in the middle of the run. Every sample is charged to the server's or the client's PID
# (other processes on the cores are left out), then divided by the requests the server ran in
# the window (INFO's total_commands_processed): microseconds of CPU per request, by where:
#   user <object>          the process's own code, by binary (redis-check-rdb is Debian's
#                          redis-server), libdemikernel, libc, jemalloc...
#   kernel <call> / tx     the sending half of TCP (tcp_sendmsg, the IP output path)
#   kernel <call> / rx     loopback delivers in the sender's context: tcp_v4_rcv under a
#                          send is the PEER's receive path, paid on the sender's core
#   kernel <call> / copy   tcp_recvmsg: copying received bytes out
#   kernel <call> / rest   the call's own cost (polling, waking, io_uring's task work)
# A process that spins (the port and kv-load poll while idle) is charged for its idle polls
# too (run_until, sched_yield): they are not on the critical path when the cores are free.
# Measure CPU per request, not requests/s, on a shared machine: the former hardly depends on
# what else runs (cache effects aside), the latter does.
#   usage: redis-cpu.sh BUILD_DIR [get|set] [OUT_DIR]
# Needs perf, redis-cli, and `ninja -C BUILD_DIR redis examples/kv-load`.
set -u
build=${1:?usage: redis-cpu.sh BUILD_DIR [get|set] [OUT_DIR]}
op=${2:-get}
out=${3:-$build/bench-redis-cpu}
port_bin=$build/examples/redis/redis-server kv=$build/examples/kv-load
stock=$(command -v redis-server) || { echo "no stock redis-server" >&2; exit 1; }
[ -x "$port_bin" ] && [ -x "$kv" ] || { echo "build first: ninja -C $build redis examples/kv-load" >&2; exit 1; }
command -v perf >/dev/null || { echo "needs perf (linux-perf)" >&2; exit 1; }
mkdir -p "$out"
ratio=0:1
[ "$op" = set ] && ratio=1:0
spid= cpid=
trap '[ -n "$spid" ] && kill -KILL $spid 2>/dev/null; [ -n "$cpid" ] && kill -KILL $cpid 2>/dev/null' EXIT

port=$((16500 + $$ % 2000))
while ss -Hltn "sport = :$port" | grep -q .; do port=$((port + 1)); done
cmds() { redis-cli -p $port info stats | tr -d '\r' | sed -n 's/^total_commands_processed://p'; }

# breakdown PERF_DATA REQUESTS PID: the table of one process.
breakdown() {
	perf script -i "$1" -F pid,ip,sym,dso 2>/dev/null | python3 -c '
import collections, re, sys
reqs, pid = int(sys.argv[1]), sys.argv[2]
cnt = collections.Counter()
for blk in sys.stdin.read().split("\n\n"):
    lines = [l.strip() for l in blk.strip().split("\n") if l.strip()]
    if len(lines) < 2 or lines[0].split()[0] != pid:
        continue
    frames = lines[1:]
    if "kallsyms" not in frames[0]:
        m = re.search(r"\((.*)\)$", frames[0])
        cnt["user " + (m.group(1).split("/")[-1] if m else "?")] += 1
        continue
    chain = " ".join(frames)
    call = next((c for c in ("io_uring_enter", "epoll_pwait2", "epoll_wait", "sendto",
                             "ksys_write", "recvfrom", "ksys_read", "sched_yield")
                 if c in chain), "other")
    part = ("rx" if "tcp_v4_rcv" in chain else "tx" if "tcp_sendmsg" in chain
            else "copy" if "tcp_recvmsg" in chain else "rest")
    cnt["kernel %s / %s" % (call, part)] += 1
total = sum(cnt.values())
us = lambda n: n * 1e6 / 4999 / reqs
print("  %5.2f us/request in all" % us(total))
for k, n in cnt.most_common(14):
    print("  %5.2f %s" % (us(n), k))
' "$2" "$3"
}

for v in stock catnap uring; do
	bin=$port_bin env=()
	[ $v = stock ] && bin=$stock
	[ $v = catnap ] && env=(CATNAP_ENGINE=epoll)
	[ $v = uring ] && env=(CATNAP_ENGINE=io_uring)
	env "${env[@]}" taskset -c 1 "$bin" --port $port --bind 127.0.0.1 --protected-mode no \
		--save "" --logfile "$out/$v.log" >/dev/null 2>&1 &
	spid=$!
	for _ in $(seq 100); do
		ss -Hltnp "sport = :$port" | grep -q "pid=$spid," && break
		sleep 0.05
	done
	ss -Hltnp "sport = :$port" | grep -q "pid=$spid," ||
		{ echo "$0: $v never listened on port $port (log: $out/$v.log)" >&2; exit 1; }
	taskset -c 0 "$kv" --server 127.0.0.1:$port --connections 1 --ratio 1:0 --keys 10000 \
		--populate --requests 1000 >/dev/null 2>&1
	taskset -c 0 "$kv" --server 127.0.0.1:$port --connections 32 --ratio $ratio --keys 10000 \
		--warmup 64000 --requests 100000 --min-duration-ms 5000 >"$out/$v-$op.kv" 2>&1 &
	cpid=$!
	sleep 1.5
	c0=$(cmds)
	perf record -e cpu-clock -F 4999 -g -a -C 0,1 -o "$out/$v-$op.perf" -- sleep 2 >/dev/null 2>&1
	c1=$(cmds)
	wait $cpid
	kill -TERM $spid
	wait $spid
	server=$spid client=$cpid
	spid= cpid=
	n=$((${c1:-0} - ${c0:-0} - 1)) # the first INFO counts itself
	[ "$n" -gt 0 ] || { echo "$0: $v ran no request in the window (INFO: ${c0:-?} -> ${c1:-?})" >&2; exit 1; }
	echo "== $v ${op^^}, 32 connections: $n requests in the window ($(grep -o 'rps=[0-9.]*' "$out/$v-$op.kv"))"
	echo " server (core 1)"
	breakdown "$out/$v-$op.perf" $n $server
	echo " kv-load (core 0)"
	breakdown "$out/$v-$op.perf" $n $client
done
