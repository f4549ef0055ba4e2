#!/bin/bash
# SPDX-License-Identifier: MIT
#
# catnip under a SYN flood, over a DPDK net_tap port in a network namespace made for the test
# (tap-netns.sh): a catnip echo server (examples/tcp-echo --server,
# default SYN queue of 1024), and from the Linux side of the tap 10000 SYNs in about 3 s from
# addresses spoofed in the namespace's own test subnet (10.82.0.3-254, distinct source ports;
# built with python3-scapy, sent on the tap only, to the catnip address only). Nobody answers
# catnip's SYN-ACKs (nor its ARP requests), so the SYN queue fills with half-open connections
# and from then on each SYN gets a SYN cookie (catnip/inet/tcp/tcp_cookie.c) and costs no
# state. Meanwhile and afterwards a legitimate client (a python socket client in the
# namespace, Linux's TCP with its usual options) must connect and have 64 bytes echoed within
# 100 ms, every time: PROBES during the flood, PROBES after it. Without SYN cookies the
# client's SYN is dropped for the full queue and waits for its 1 s retransmission (and then
# some): run with INETSTACK_CONFIG_TCP_SYNCOOKIES=false in the environment to see it fail.
# The server's resident memory may grow by at most RSS_MAX_KIB during the flood; its counters
# (tcp_syncookies_sent/_ok/_failed, drop_tcp_syn_queue_full, ARP's) are printed at exit.
#   usage: catnip-syn-flood-tap.sh BUILD_DIR   exit 0 pass, 1 fail, 77 skip (with the reason)
set -u
build=$1
ex=$build/examples
. "$(dirname "$0")/tap-netns.sh"
tap_netns sf 10.82.0.1 10.82.0.2
cat=10.82.0.2 spoof=10.82.0.
fpid=
# Debian's python3 (python3-scapy is a Debian package), not another one first in PATH.
py3=/usr/bin/python3
[ -x $py3 ] || py3=$(command -v python3) || skip "no python3"
[ -x "$ex/tcp-echo" ] || skip "examples not built"
$py3 -c 'import scapy.all' 2>/dev/null || {
	echo "FAIL: python3-scapy is missing: the flood needs it; tests/deps.sh installs it"
	exit 1
}
syns=${FLOOD_SYNS:-10000}
secs=${FLOOD_SECS:-3}
probes=${PROBES:-6}
bound_ms=${BOUND_MS:-100}
rss_max_kib=${RSS_MAX_KIB:-65536}

# flood IFACE DST PREFIX COUNT SECS GO: SYNs to DST:7 from PREFIX.3-254, distinct source
# ports, sent raw on IFACE to DST's MAC (asked by ARP), paced over SECS seconds, once the file
# GO exists.
# probe DST COUNT GAP BOUND_MS: COUNT connections GAP s apart, each connect + 64-byte echo
# within BOUND_MS.
cat >"$dir/flood.py" <<'EOP'
import os, socket, sys, time

def flood(iface, dst, prefix, count, secs, go):
    from scapy.all import ARP, Ether, IP, TCP, conf, get_if_hwaddr, srp1
    conf.verb = 0
    ans = srp1(Ether(dst="ff:ff:ff:ff:ff:ff") / ARP(pdst=dst), iface=iface, timeout=1, retry=5)
    if ans is None:
        print("flood: no ARP answer from %s" % dst)
        return False
    mac, own = ans[ARP].hwsrc, get_if_hwaddr(iface)
    hosts = [prefix + str(i) for i in range(3, 255)]  # .1 is Linux, .2 catnip
    opts = [("MSS", 1460), ("SAckOK", b""), ("Timestamp", (12345, 0)), ("NOP", None),
            ("WScale", 7)]
    frames = [bytes(Ether(src=own, dst=mac) /
                    IP(src=hosts[i % len(hosts)], dst=dst) /
                    TCP(sport=10000 + i % 50000, dport=7, flags="S",
                        seq=(i * 2654435761) & 0xffffffff, options=opts))
              for i in range(count)]
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    # Built (scapy takes a while): the shell probes once more, then says go.
    print("flood: built", flush=True)
    while not os.path.exists(go):
        time.sleep(0.01)
    print("flood: sending", flush=True)
    t0 = time.monotonic()
    for i, f in enumerate(frames):
        s.send(f)
        if i % 50 == 49:
            ahead = t0 + (i + 1) * secs / count - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
    print("flood: %d SYNs from %d spoofed addresses of %s0/24 in %.2f s" %
          (count, len(hosts), prefix, time.monotonic() - t0), flush=True)
    return True

def probe(dst, count, gap, bound_ms):
    worst, bad = 0.0, 0
    for i in range(count):
        msg = os.urandom(64)
        t0 = time.monotonic()
        try:
            s = socket.create_connection((dst, 7), timeout=1)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.sendall(msg)
            back = b""
            while len(back) < len(msg):
                d = s.recv(len(msg) - len(back))
                if not d:
                    break
                back += d
            ms = (time.monotonic() - t0) * 1000
            s.close()
            ok = back == msg
        except OSError as e:
            ms, ok = (time.monotonic() - t0) * 1000, False
            print("  probe %d: %r" % (i, e))
        worst = max(worst, ms)
        if not ok or ms > bound_ms:
            bad += 1
        print("  probe %d: connect + echo in %.1f ms%s" %
              (i, ms, "" if ok else " (echo wrong or missing)"), flush=True)
        time.sleep(gap)
    print("probe: %d/%d within %d ms, worst %.1f ms" % (count - bad, count, bound_ms, worst))
    return bad == 0

a = sys.argv
ok = (flood(a[2], a[3], a[4], int(a[5]), float(a[6]), a[7]) if a[1] == "flood" else
      probe(a[2], int(a[3]), float(a[4]), int(a[5])))
sys.exit(0 if ok else 1)
EOP

rss_kib() { awk '/^VmRSS/ { print $2 }' /proc/$pid/status 2>/dev/null; }
probe() { # NAME COUNT GAP
	if ! nsx timeout 60 $py3 "$dir/flood.py" probe $cat "$2" "$3" "$bound_ms" \
		>"$dir/probe-$1.log" 2>&1; then
		fail "legitimate connections $1 the flood" "$dir/probe-$1.log"
	else
		cat "$dir/probe-$1.log"
	fi
}

start_echo_server $cat:7
echo "== $syns spoofed SYNs in ${secs} s, legitimate connections meanwhile"
nsx_bg $py3 "$dir/flood.py" flood "$tap" $cat $spoof "$syns" "$secs" "$dir/go" >"$dir/flood.log" 2>&1
fpid=$!
bg_pids=$fpid
until grep -q "flood: built" "$dir/flood.log"; do
	kill -0 $fpid 2>/dev/null || break
	sleep 0.1
done
# Right before the flood: the server's ARP mapping of the client is fresh (that a flood of
# spoofed neighbours starves a client whose mapping expired is ARP's matter, see arp.c).
probe before 2 0.1
rss0=$(rss_kib)
touch "$dir/go"
# The SYN queue (1024) is full a third of a second after the sending starts.
until grep -q "flood: sending" "$dir/flood.log"; do
	kill -0 $fpid 2>/dev/null || break
	sleep 0.01
done
sleep 0.8
kill -0 $fpid 2>/dev/null || fail "the flood ended before the probes (it should last ${secs} s)"
probe during "$probes" 0.2
kill -0 $fpid 2>/dev/null || fail "the flood ended before the last probe (it should last ${secs} s)"
wait $fpid || fail "the flood" "$dir/flood.log"
bg_pids=
cat "$dir/flood.log"
echo "== after the flood"
probe after "$probes" 0.2
rss1=$(rss_kib)
echo "server resident memory: ${rss0:-?} KiB before the flood, ${rss1:-?} KiB after"
if [ -z "$rss0" ] || [ -z "$rss1" ] || [ $((rss1 - rss0)) -gt "$rss_max_kib" ]; then
	fail "the server's memory grew by more than $rss_max_kib KiB under the flood"
fi
kill -INT $pid
wait $pid
src=$?
pid=
tcp_counters "$dir/server.log"
cnt() { grep -o " $1=[0-9]*" "$dir/server.log" | tail -1 | cut -d= -f2; }
sent=$(cnt tcp_syncookies_sent) okc=$(cnt tcp_syncookies_ok) failed=$(cnt tcp_syncookies_failed)
echo "syncookies: sent ${sent:-?}, accepted ${okc:-?}, failed ${failed:-?};" \
	"SYNs dropped for a full queue: $(cnt drop_tcp_syn_queue_full)"
if [ $src != 0 ] || ! grep -q " 0 errors" "$dir/server.log"; then
	fail "catnip server exited with $src" "$dir/server.log"
fi
# The SYNs beyond the queue got cookies (a tenth may be lost on the way: the tap's queue is
# not bottomless); the probes during and after the flood went through them.
if [ "${sent:-0}" -lt $(((syns - 1024) * 9 / 10)) ] || [ "${okc:-0}" -lt $((2 * probes)) ]; then
	fail "expected at least $(((syns - 1024) * 9 / 10)) cookies sent and $((2 * probes)) accepted"
fi

[ $rc = 0 ] && echo "PASS: catnip kept serving through a $syns-SYN spoofed flood (SYN cookies)"
exit $rc
