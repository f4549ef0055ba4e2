#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Protocol-level checks of memcached on libdemikernel, over plain kernel sockets: what the
community's tools (memccapable, memcaslap) do not check exactly. Each check prints what it did
and exits 0 (pass) or 1 (fail, with the reason).

usage: memcached-checks.py CHECK ARGS...   (a server is PORT on 127.0.0.1 or HOST:PORT)
  compare STOCK PORT [--big]
              the same transcripts (text, meta and binary commands, errors, values from 0 bytes
              to the item limit around the read and pop sizes, a multi-get larger than the
              port's send budget, values past the limit) sent to stock memcached and to the port
              on fresh connections: every reply must be byte for byte stock's, and every value
              read back must be the one written; "quit" after 5 MB of replies the client reads
              late delivers all of them. --big: values up to 3 MiB (servers run -I 4m).
  stats STOCK PORT
              "stats" and "stats settings" give the same names as stock's (but stock's ssl_*:
              Debian builds it with TLS), and the same values where they do not depend on time;
              "stats conns" lists this connection; items, slabs, sizes have stock's names
  conns PORT PID
              1000 simultaneous connections each answering, then 5000 connect/close cycles;
              curr_connections and the server's open fds come back to where they were
  killed PORT PID
              clients that vanish mid-request (half a command, half a 1 MiB value with FIN or
              RST, half a binary packet, replies never read) are cleaned up and the server
              keeps serving
  refuse PORT "watch" and "lru_crawler metadump" are refused with a message, and the
              connection goes on serving
  maxconns PORT N
              N clients against a server started with a lower -c: the ones past the limit get
              "ERROR Too many open connections" and then end of stream (the reply leaves
              before the close), the others are served
"""
import os
import socket
import struct
import sys
import time


class Fail(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Fail(what)


class Conn:
    def __init__(self, port, timeout=20):
        self.s = socket.create_connection(addr(port), timeout=timeout)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def send(self, data):
        self.s.sendall(data)

    def fill(self):
        d = self.s.recv(1 << 20)
        if not d:
            raise Fail("the server closed the connection")
        self.buf += d

    def until(self, end):
        """Everything up to and including the first `end`."""
        while True:
            i = self.buf.find(end)
            if i >= 0:
                out, self.buf = self.buf[: i + len(end)], self.buf[i + len(end):]
                return out
            self.fill()

    def exactly(self, n):
        while len(self.buf) < n:
            self.fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def text(self, cmd):
        """Sends a text/meta command and a meta no-op as a fence: every reply before MN."""
        self.send(cmd + b"mn\r\n")
        return self.until(b"MN\r\n")

    def binary(self, packets):
        """Sends binary packets and a NOOP as a fence: every reply packet before its answer."""
        self.send(packets + bin_req(0x0A))
        out = []
        while True:
            hdr = self.exactly(24)
            body = self.exactly(struct.unpack(">I", hdr[8:12])[0])
            if hdr[1] == 0x0A:
                return out
            out.append(hdr + body)

    def close(self):
        self.s.close()


def addr(port):
    """PORT (on 127.0.0.1) or HOST:PORT."""
    if isinstance(port, str) and ":" in port:
        host, p = port.rsplit(":", 1)
        return host, int(p)
    return "127.0.0.1", int(port)


def bin_req(op, key=b"", value=b"", extras=b"", cas=0, opaque=0):
    return (struct.pack(">BBHBBHIIQ", 0x80, op, len(key), len(extras), 0, 0,
                        len(extras) + len(key) + len(value), opaque, cas)
            + extras + key + value)


def value(size, seed):
    """A value whose every byte depends on its position and seed (and holds \\r\\n now and then)."""
    pat = bytes((i * 7 + seed) % 251 for i in range(4096)) + b"\r\n"
    return (pat * (size // len(pat) + 1))[:size]


def text_transcript(big):
    """(name, command bytes, what a fetch must return or None)."""
    t = [
        ("set", b"set a 5 0 3\r\nabc\r\n", None),
        ("get", b"get a\r\n", None),
        ("gets", b"gets a\r\n", None),
        ("add existing", b"add a 0 0 1\r\nx\r\n", None),
        ("add new", b"add b 0 0 1\r\nx\r\n", None),
        ("replace", b"replace b 0 0 2\r\nyy\r\n", None),
        ("replace missing", b"replace zz 0 0 1\r\nx\r\n", None),
        ("append", b"append a 0 0 2\r\nde\r\n", None),
        ("prepend", b"prepend a 0 0 2\r\n01\r\n", None),
        ("multi-get", b"get a b missing a\r\n", None),
        ("cas wrong", b"cas a 0 0 1 999999\r\nz\r\n", None),
        ("cas missing", b"cas nokey 0 0 1 1\r\nz\r\n", None),
        ("incr", b"set n 0 0 2\r\n10\r\nincr n 5\r\ndecr n 100\r\nincr n 18446744073709551615\r\n", None),
        ("incr non-number", b"incr a 1\r\n", None),
        ("touch", b"touch a 1000\r\ntouch nokey 10\r\n", None),
        ("gat", b"gat 1000 a b\r\ngats 1000 a\r\n", None),
        ("delete", b"delete b\r\ndelete b\r\n", None),
        ("noreply", b"set q 0 0 1 noreply\r\nq\r\nget q\r\n", None),
        ("unknown command", b"bogus command\r\n", None),
        ("bad data chunk", b"set bad 0 0 2\r\nabcd\r\nget bad\r\n", None),
        ("key too long", b"get " + b"k" * 251 + b"\r\n", None),
        ("negative length", b"set neg 0 0 -1\r\n", None),
        ("version", b"version\r\n", None),
        ("verbosity", b"verbosity 0\r\n", None),
        ("meta set/get", b"ms m1 3 T0 F7\r\nxyz\r\nmg m1 v f s k\r\n", None),
        ("meta opaque quiet", b"mg missing v q Oab\r\nmg m1 v Ocd\r\n", None),
        ("meta base64", b"ms Zm9v 2 b\r\nhi\r\nmg Zm9v b v k\r\n", None),
        ("meta cas", b"mg m1 c\r\nms m1 1 C1\r\nz\r\n", None),
        ("meta invalid", b"ms m1 S100\r\n", None),
        ("meta delete", b"md m1 q\r\nmd m1\r\nmg m1 v\r\n", None),
        ("meta arithmetic", b"ma cnt N0 J13 v\r\nma cnt v D4\r\nma cnt MD v\r\n", None),
        ("meta vivify", b"mg viv N30 v c\r\nmg viv v\r\n", None),
        ("meta invalidate", b"ms inv 1\r\nA\r\nmd inv I T30\r\nmg inv v c\r\n", None),
        ("meta debug", b"me m1\r\n", None),
    ]
    # Values around the sizes the read path cares about: memcached's 16 KiB read buffer,
    # catnap's pop sizes (epoll 65344, io_uring 16192), the port's 1 MiB send budget.
    sizes = [0, 1, 100, 2047, 2048, 16191, 16192, 16193, 16383, 16384, 16385, 65343, 65344,
             65345, 200000, 1048576 - 1000, 1048576 - 100, 1048576, 1048577, 2000000]
    if big:
        sizes += [1048576 + 1, 2 * 1048576, 3 * 1048576]
    for i, n in enumerate(sizes):
        k = b"v%d" % i
        v = value(n, i)
        t.append(("set %d bytes" % n, b"set %s 0 0 %d\r\n%s\r\n" % (k, n, v), None))
        t.append(("get %d bytes" % n, b"get %s\r\n" % k, (k, v)))
    # Pipelined: several values in one send, then one multi-get of all of them (larger than
    # the port's 1 MiB send budget when the values are large).
    keys = [b"p%d" % i for i in range(40)]
    t.append(("pipelined sets", b"".join(b"set %s 0 0 %d\r\n%s\r\n" % (k, 30000 + i, value(30000 + i, i))
                                         for i, k in enumerate(keys)), None))
    t.append(("multi-get 1.2 MB", b"get " + b" ".join(keys) + b"\r\n", None))
    t.append(("flush", b"flush_all\r\nget a\r\n", None))
    return t


def binary_transcript():
    SET, GET, ADD, DELETE, INCR, VERSION, GETK, APPEND, STAT = 1, 0, 2, 4, 5, 0x0B, 0x0C, 0x0E, 0x10
    ext = struct.pack(">II", 0xDEADBEEF, 0)
    big = value(300000, 3)
    return [
        ("bin set/get", bin_req(SET, b"bk", b"hello", ext, opaque=1) + bin_req(GET, b"bk", opaque=2)),
        ("bin add existing", bin_req(ADD, b"bk", b"x", ext, opaque=3)),
        ("bin getk missing", bin_req(GETK, b"nope", opaque=4)),
        ("bin append", bin_req(APPEND, b"bk", b" world", opaque=5) + bin_req(GET, b"bk", opaque=6)),
        ("bin incr", bin_req(INCR, b"cnt", b"", struct.pack(">QQI", 2, 40, 0), opaque=7) * 2),
        ("bin delete", bin_req(DELETE, b"bk", opaque=8) + bin_req(GET, b"bk", opaque=9)),
        ("bin version", bin_req(VERSION, opaque=10)),
        ("bin 300 kB", bin_req(SET, b"big", big, ext, opaque=11) + bin_req(GET, b"big", opaque=12)),
        ("bin too large", bin_req(SET, b"huge", value(1048577, 1), ext, opaque=13)
         + bin_req(GET, b"huge", opaque=14)),
        ("bin unknown opcode", bin_req(0x7F, opaque=15)),
        ("bin stat one", bin_req(STAT, b"version", opaque=16)),
    ]


def quit_after(port):
    """5 MB of replies then quit, read only after a pause (the replies wait in the server while
    the kernel's buffers are full): all of it must arrive before the end of stream."""
    v = value(1000000, 5)
    c = Conn(port)
    c.text(b"set q5 0 0 %d\r\n%s\r\n" % (len(v), v))
    c.send(b"get q5\r\n" * 5 + b"quit\r\n")
    time.sleep(0.5)
    out = b""
    while True:
        d = c.s.recv(1 << 20)
        if not d:
            break
        out += d
    c.close()
    check(out == b"VALUE q5 0 %d\r\n%s\r\nEND\r\n" % (len(v), v) * 5,
          "quit after 5 MB of replies on %s: %d bytes before the end of stream" % (port, len(out)))
    return out


def run_compare(stock, port, big):
    results = {}
    for name, srv in (("stock", stock), ("port", port)):
        c = Conn(srv)
        results[name] = [(n, c.text(cmd), want) for n, cmd, want in text_transcript(big)]
        c.close()
        c = Conn(srv)
        results[name] += [(n, b"".join(c.binary(p)), None) for n, p in binary_transcript()]
        c.close()
        results[name].append(("quit after 5 MB of replies", quit_after(srv), None))
    n = 0
    for (name, got_stock, want), (_, got_port, _) in zip(results["stock"], results["port"]):
        check(got_port == got_stock,
              "%s: the port answered %r..., stock %r..." % (name, got_port[:200], got_stock[:200]))
        if want is not None:
            k, v = want
            if len(v) <= 1048576 - 1000 or big:
                exp = b"VALUE %s 0 %d\r\n%s\r\nEND\r\nMN\r\n" % (k, len(v), v)
                check(got_port == exp, "%s: not the value written (%d bytes back)" % (name, len(got_port)))
        n += 1
    print("ok   %d transcripts (text, meta, binary, values to %s) byte for byte as stock"
          % (n, "3 MiB" if big else "2 MB"))


def stats(c, sub=b""):
    out = c.text(b"stats " + sub + b"\r\n" if sub else b"stats\r\n")
    d = {}
    for line in out.split(b"\r\n"):
        p = line.split(b" ", 2)
        if len(p) == 3 and p[0] == b"STAT":
            d[p[1].decode()] = p[2].decode()
    return d


def run_stats(stock, port):
    cs, cp = Conn(stock), Conn(port)
    for c in (cs, cp):
        c.text(b"set s 0 0 1\r\nx\r\nget s\r\nget nope\r\n")
    s, p = stats(cs), stats(cp)
    check(set(s) == set(p), "stats names differ: only stock %s, only port %s"
          % (sorted(set(s) - set(p)), sorted(set(p) - set(s))))
    for k in ("curr_connections", "total_connections", "cmd_get", "cmd_set", "get_hits",
              "get_misses", "curr_items", "total_items", "threads", "pointer_size", "version",
              "limit_maxbytes", "accepting_conns"):
        check(s[k] == p[k], "stats %s: port %s, stock %s" % (k, p[k], s[k]))
    # Debian builds stock with TLS (ssl_* settings); the port has none (TLS is refused).
    ss = {k: v for k, v in stats(cs, b"settings").items() if not k.startswith("ssl_")}
    sp = stats(cp, b"settings")
    check(set(ss) == set(sp), "stats settings names differ: only stock %s, only port %s"
          % (sorted(set(ss) - set(sp)), sorted(set(sp) - set(ss))))
    for k in ss:
        if k not in ("tcpport",):
            check(ss[k] == sp[k], "stats settings %s: port %s, stock %s" % (k, sp[k], ss[k]))
    conns = stats(cp, b"conns")
    me = "tcp:%s:%d" % cp.s.getsockname()
    mine = [k for k, v in conns.items() if k.endswith(":addr") and v == me]
    check(len(mine) == 1, "stats conns does not list this connection (%s): %s" % (me, conns))
    fd = mine[0].split(":")[0]
    check(conns.get(fd + ":listen_addr") == "tcp:%s:%d" % addr(port),
          "stats conns: listen_addr %s" % conns.get(fd + ":listen_addr"))
    for sub in (b"items", b"slabs", b"sizes"):
        a, b = stats(cs, sub), stats(cp, sub)
        check(set(a) == set(b), "stats %s names differ" % sub.decode())
    print("ok   stats, stats settings (%d names), stats conns, items, slabs, sizes as stock" % len(ss))


def open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def settle(port, pid, want_conns, want_fds, what):
    c = Conn(port)
    for _ in range(200):
        cur = int(stats(c)["curr_connections"])
        fds = open_fds(pid)
        if cur == want_conns + 1 and fds <= want_fds + 2:
            break
        time.sleep(0.05)
    c.close()
    check(cur == want_conns + 1, "%s: curr_connections %d, was %d" % (what, cur - 1, want_conns))
    check(fds <= want_fds + 2, "%s: the server holds %d fds, %d before" % (what, fds, want_fds))


def baseline(port, pid):
    c = Conn(port)
    cur = int(stats(c)["curr_connections"]) - 1
    c.close()
    time.sleep(0.2)
    return cur, open_fds(pid)


def run_conns(port, pid):
    cur0, fds0 = baseline(port, pid)
    conns = [Conn(port) for _ in range(1000)]
    for i, c in enumerate(conns):
        c.send(b"set c%d 0 0 %d\r\n%d\r\nget c%d\r\n" % (i, len(str(i)), i, i))
    for i, c in enumerate(conns):
        want = b"STORED\r\nVALUE c%d 0 %d\r\n%d\r\nEND\r\n" % (i, len(str(i)), i)
        got = c.until(b"END\r\n")
        check(got == want, "connection %d of 1000: %r" % (i, got))
    c = Conn(port)
    n = int(stats(c)["curr_connections"])
    c.close()
    check(n >= cur0 + 1000, "curr_connections %d with 1000 clients open" % n)
    for c in conns:
        c.close()
    print("ok   1000 simultaneous connections answered")
    t0 = time.time()
    for i in range(5000):
        c = Conn(port)
        check(c.text(b"version\r\n").startswith(b"VERSION "), "cycle %d" % i)
        c.close()
    print("ok   5000 connect/version/close cycles in %.1f s" % (time.time() - t0))
    settle(port, pid, cur0, fds0, "after the connections closed")
    print("ok   curr_connections and open fds back to %d and %d" % (cur0, fds0))


def rst(c):
    c.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()


def run_killed(port, pid):
    cur0, fds0 = baseline(port, pid)
    big = value(1048576 - 1000, 9)
    c = Conn(port)
    c.text(b"set big 0 0 %d\r\n%s\r\n" % (len(big), big))
    c.close()
    for rnd in range(20):
        a = Conn(port)
        a.send(b"get ke")  # half a command line
        b = Conn(port)
        b.send(b"set half 0 0 1048000\r\n" + b"x" * 500000)  # half a value, FIN
        c = Conn(port)
        c.send(b"set half2 0 0 1048000\r\n" + b"y" * 300000)  # half a value, RST
        d = Conn(port)
        d.send(bin_req(1, b"bk", b"v" * 1000, struct.pack(">II", 0, 0))[:500])  # half a packet
        e = Conn(port)
        e.send(b"get big\r\n" * 30)  # 30 MB of replies never read
        time.sleep(0.02)
        a.close()
        b.close()
        rst(c)
        d.close()
        rst(e) if rnd % 2 else e.close()
    print("ok   100 clients vanished mid-request (half commands, values, packets; unread replies)")
    c = Conn(port)
    got = c.text(b"get big\r\nget half\r\n")
    check(got == b"VALUE big 0 %d\r\n%s\r\nEND\r\nEND\r\nMN\r\n" % (len(big), big),
          "the server does not serve correctly afterwards")
    c.close()
    settle(port, pid, cur0, fds0, "after the vanished clients")
    print("ok   still serving; curr_connections and open fds back to %d and %d" % (cur0, fds0))


def run_refuse(port):
    c = Conn(port)
    got = c.text(b"watch\r\n")
    check(got.startswith(b"SERVER_ERROR watch is not supported"), "watch: %r" % got)
    got = c.text(b"lru_crawler metadump all\r\n")
    check(b"SERVER_ERROR lru_crawler metadump is not supported" in got, "metadump: %r" % got)
    got = c.text(b"set w 0 0 1\r\nw\r\nget w\r\n")
    check(got == b"STORED\r\nVALUE w 0 1\r\nw\r\nEND\r\nMN\r\n", "after the refusals: %r" % got)
    print("ok   watch and lru_crawler metadump refused with a message; the connection serves on")


def run_maxconns(port, n):
    # The clients send nothing until the rejections are in: with a request unread, closing a
    # socket sends RST instead of FIN (stock's write-then-close would lose its message too).
    conns = [Conn(port) for _ in range(n)]
    time.sleep(0.5)
    served = rejected = 0
    for i, c in enumerate(conns):
        c.s.setblocking(False)
        try:
            c.buf = c.s.recv(1000)
        except BlockingIOError:
            c.buf = b""
        c.s.setblocking(True)
        if not c.buf:
            c.send(b"version\r\n")
            got = c.until(b"\r\n")
            check(got.startswith(b"VERSION "), "client %d: %r" % (i, got))
            served += 1
            continue
        got = c.until(b"\r\n")
        check(got == b"ERROR Too many open connections\r\n", "client %d: %r" % (i, got))
        d = c.s.recv(100)
        check(d == b"", "client %d: more after the rejection: %r" % (i, d))
        rejected += 1
    for c in conns:
        c.close()
    check(served > 0 and rejected > 0, "%d served, %d rejected of %d" % (served, rejected, n))
    print("ok   %d clients: %d served, %d told \"Too many open connections\" before the close"
          % (n, served, rejected))


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    what, args = sys.argv[1], sys.argv[2:]
    try:
        if what == "compare":
            run_compare(args[0], args[1], "--big" in args)
        elif what == "stats":
            run_stats(args[0], args[1])
        elif what == "conns":
            run_conns(args[0], int(args[1]))
        elif what == "killed":
            run_killed(args[0], int(args[1]))
        elif what == "maxconns":
            run_maxconns(args[0], int(args[1]))
        elif what == "refuse":
            run_refuse(args[0])
        else:
            print(__doc__)
            return 2
    except (Fail, OSError) as e:
        print("FAIL %s: %s" % (what, e))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
