#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Protocol-level checks of a Redis server (the libdemikernel port, or stock Redis to compare),
over plain kernel sockets: what redis-cli cannot check exactly. Each check prints what it did
and exits 0 (pass) or 1 (fail, with the reason).

usage: redis-checks.py CHECK PORT [SERVER_PID]   (REDIS_HOST: the server's address, default
                                                 127.0.0.1)
  values      SET/GET of values from 0 bytes to 1 MiB (sizes around the read and pop sizes),
              binary, byte-exact, also pipelined
  multi       MULTI/EXEC, a queued error, DISCARD, WATCH aborting EXEC
  pubsub      SUBSCRIBE, PSUBSCRIBE, PUBLISH counts and message order, many messages in one read
  blpop       BLPOP timing out (nil after ~the timeout), BLPOP woken by an LPUSH from another client
  expiry      EXPIRE/PEXPIRE/SET PX: keys vanish on time, TTL counts down, PERSIST keeps
  conns       1000 simultaneous connections each answering, then 10000 connect/close cycles;
              connected_clients and the server's open fds come back to where they were
  killed      clients that vanish mid-request (half a command, half a 1 MiB value, RST, a reply
              never read) are cleaned up and the server keeps serving
  pipeline    what the port's key prefetch scans (several connections' requests in one loop
              round): pipelines of GET/SET in any case mixed with inline and other commands,
              values and keys that look like requests, wrong arities, keys cut between two
              writes, and malformed lengths (answered with Redis's protocol error and a close)
              beside well-formed pipelines: every reply as Redis gives it
"""
import os
import socket
import struct
import sys
import time

PORT = 0
HOST = os.environ.get("REDIS_HOST", "127.0.0.1")


class Fail(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Fail(what)


class Conn:
    def __init__(self, timeout=10):
        self.s = socket.create_connection((HOST, PORT), timeout=timeout)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def send(self, *args):
        self.s.sendall(encode(*args))

    def _fill(self):
        d = self.s.recv(1 << 20)
        if not d:
            raise Fail("server closed the connection")
        self.buf += d

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def reply(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t in (b"+",):
            return rest.decode()
        if t == b"-":
            return Error(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self._fill()
            v, self.buf = self.buf[:n], self.buf[n + 2:]
            return v
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        raise Fail(f"bad reply line {line!r}")

    def cmd(self, *args):
        self.send(*args)
        return self.reply()

    def close(self):
        self.s.close()


class Error(str):
    pass


def encode(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, int):
            a = str(a).encode()
        elif isinstance(a, str):
            a = a.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def info(c, field):
    text = c.cmd("INFO").decode()
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return line.split(":", 1)[1]
    raise Fail(f"INFO has no {field}")


def check_values():
    c = Conn(timeout=30)
    sizes = [0, 1, 2, 63, 64, 1000, 2047, 2048, 16383, 16384, 16385, 65343, 65344, 65345,
             65535, 65536, 65537, 262144, 500000, 1048575, 1048576]
    for n in sizes:
        v = os.urandom(n)
        check(c.cmd("SET", f"v{n}", v) == "OK", f"SET of {n} bytes")
        got = c.cmd("GET", f"v{n}")
        check(got == v, f"GET of {n} bytes: got {len(got) if got is not None else None} bytes, "
              "not the value written")
    # Pipelined: every SET then every GET in one write each.
    vals = {f"p{i}": os.urandom(i * 997 % 70000) for i in range(64)}
    c.s.sendall(b"".join(encode("SET", k, v) for k, v in vals.items()))
    for k in vals:
        check(c.reply() == "OK", f"pipelined SET {k}")
    c.s.sendall(b"".join(encode("GET", k) for k in vals))
    for k, v in vals.items():
        check(c.reply() == v, f"pipelined GET {k} not byte-exact")
    # A 1 MiB value read back over several connections at once.
    big = os.urandom(1 << 20)
    c.cmd("SET", "big", big)
    cs = [Conn(timeout=30) for _ in range(8)]
    for x in cs:
        x.send("GET", "big")
    for x in cs:
        check(x.reply() == big, "concurrent GET of 1 MiB not byte-exact")
        x.close()
    # A reply still leaving when the connection closes (QUIT after a 1 MiB GET) arrives whole.
    for _ in range(4):
        x = Conn(timeout=30)
        x.s.sendall(encode("GET", "big") + encode("QUIT"))
        time.sleep(0.1)  # the server closes before this client reads
        check(x.reply() == big, "GET before QUIT not byte-exact")
        check(x.reply() == "OK", "QUIT answered")
        check(x.s.recv(1) == b"", "connection closed after QUIT")
        x.close()
    print(f"values: {len(sizes)} sizes up to 1 MiB, 64 pipelined, 8 concurrent 1 MiB GETs, "
          "1 MiB before QUIT: exact")


def check_multi():
    c = Conn()
    c.cmd("DEL", "m1", "m2")
    check(c.cmd("MULTI") == "OK", "MULTI")
    check(c.cmd("SET", "m1", "a") == "QUEUED", "SET queued")
    check(c.cmd("INCR", "m2") == "QUEUED", "INCR queued")
    check(c.cmd("GET", "m1") == "QUEUED", "GET queued")
    r = c.cmd("EXEC")
    check(r == ["OK", 1, b"a"], f"EXEC result {r!r}")
    c.cmd("MULTI")
    c.cmd("SET", "m1", "b")
    check(c.cmd("DISCARD") == "OK", "DISCARD")
    check(c.cmd("GET", "m1") == b"a", "DISCARD kept the old value")
    c.cmd("MULTI")
    check(isinstance(c.cmd("NOSUCHCOMMAND"), Error), "unknown command inside MULTI is an error")
    check(isinstance(c.cmd("EXEC"), Error), "EXEC after a queuing error is EXECABORT")
    # WATCH: another client changes the key, EXEC returns nil.
    d = Conn()
    c.cmd("WATCH", "m1")
    d.cmd("SET", "m1", "changed")
    c.cmd("MULTI")
    c.cmd("SET", "m1", "mine")
    check(c.cmd("EXEC") is None, "EXEC after a WATCHed key changed must abort")
    check(c.cmd("GET", "m1") == b"changed", "aborted EXEC wrote nothing")
    print("multi: EXEC, DISCARD, EXECABORT, WATCH: ok")


def check_pubsub():
    sub = Conn()
    r = sub.cmd("SUBSCRIBE", "ch1")
    check(r == [b"subscribe", b"ch1", 1], f"SUBSCRIBE {r!r}")
    r = sub.cmd("PSUBSCRIBE", "pat.*")
    check(r == [b"psubscribe", b"pat.*", 2], f"PSUBSCRIBE {r!r}")
    pub = Conn()
    check(pub.cmd("PUBLISH", "ch1", "hello") == 1, "PUBLISH to one subscriber counts 1")
    check(sub.reply() == [b"message", b"ch1", b"hello"], "message delivered")
    check(pub.cmd("PUBLISH", "pat.x", "p") == 1, "PUBLISH to a pattern counts 1")
    check(sub.reply() == [b"pmessage", b"pat.*", b"pat.x", b"p"], "pmessage delivered")
    check(pub.cmd("PUBLISH", "nobody", "x") == 0, "PUBLISH to no one counts 0")
    n = 5000
    pub.s.sendall(b"".join(encode("PUBLISH", "ch1", str(i)) for i in range(n)))
    for i in range(n):
        check(pub.reply() == 1, "pipelined PUBLISH")
    for i in range(n):
        check(sub.reply() == [b"message", b"ch1", str(i).encode()], f"message {i} in order")
    r = sub.cmd("UNSUBSCRIBE", "ch1")
    check(r == [b"unsubscribe", b"ch1", 1], f"UNSUBSCRIBE {r!r}")
    print(f"pubsub: subscribe, psubscribe, {n} messages in order: ok")


def check_blpop():
    c = Conn()
    c.cmd("DEL", "bl")
    t = time.monotonic()
    r = c.cmd("BLPOP", "bl", "0.5")
    dt = time.monotonic() - t
    check(r is None, f"BLPOP on an empty list times out with nil, got {r!r}")
    check(0.4 <= dt <= 1.5, f"BLPOP 0.5 s returned after {dt:.3f} s")
    c.send("BLPOP", "bl", "5")
    time.sleep(0.2)
    d = Conn()
    t = time.monotonic()
    check(d.cmd("LPUSH", "bl", "x") == 1, "LPUSH")
    r = c.reply()
    dt = time.monotonic() - t
    check(r == [b"bl", b"x"], f"BLPOP woken by LPUSH: {r!r}")
    check(dt < 0.5, f"BLPOP woke {dt:.3f} s after the LPUSH")
    print("blpop: timeout and wake-up: ok")


def check_expiry():
    c = Conn()
    c.cmd("SET", "e1", "v", "PX", "300")
    c.cmd("SET", "e2", "v")
    c.cmd("EXPIRE", "e2", "1")
    c.cmd("SET", "e3", "v", "EX", "1")
    c.cmd("PERSIST", "e3")
    ttl = c.cmd("PTTL", "e1")
    check(0 < ttl <= 300, f"PTTL {ttl}")
    check(c.cmd("TTL", "e3") == -1, "PERSIST removed the TTL")
    time.sleep(0.5)
    check(c.cmd("GET", "e1") is None, "e1 expired after 300 ms")
    check(c.cmd("EXISTS", "e2") == 1, "e2 still there before 1 s")
    time.sleep(0.8)
    check(c.cmd("EXISTS", "e2") == 0, "e2 expired after 1 s")
    check(c.cmd("GET", "e3") == b"v", "PERSISTed key stays")
    # Active expiry (no access): many keys with a short TTL disappear by themselves.
    c.s.sendall(b"".join(encode("SET", f"ae{i}", "v", "PX", "100") for i in range(1000)))
    for _ in range(1000):
        c.reply()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and int(info(c, "expired_keys")) < 1001:
        time.sleep(0.1)
    check(int(info(c, "expired_keys")) >= 1001, "active expiry removed the keys by itself")
    print("expiry: lazy and active expiry, TTL, PERSIST: ok")


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def back_to_baseline(c, pid, base_clients, base_fds):
    """Waits (10 s at most) until the server has its clients and open fds of before; returns the
    fd count."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if int(info(c, "connected_clients")) == base_clients and open_fds(pid) == base_fds:
            break
        time.sleep(0.1)
    n = int(info(c, "connected_clients"))
    check(n == base_clients, f"connected_clients back to {base_clients}, is {n}")
    f = open_fds(pid)
    check(f == base_fds, f"server's open fds back to {base_fds}, is {f}")
    return f


def check_conns(pid):
    c = Conn()
    base_clients = int(info(c, "connected_clients"))
    base_fds = open_fds(pid)
    many = []
    for i in range(1000):
        many.append(Conn(timeout=30))
    for i, x in enumerate(many):
        x.send("SET", f"c{i}", str(i))
    for i, x in enumerate(many):
        check(x.reply() == "OK", f"connection {i} SET")
    for i, x in enumerate(many):
        x.send("GET", f"c{(i + 1) % 1000}")
    for i, x in enumerate(many):
        check(x.reply() == str((i + 1) % 1000).encode(), f"connection {i} GET")
    check(int(info(c, "connected_clients")) == base_clients + 1000, "1000 clients connected")
    for x in many:
        x.close()
    for i in range(10000):
        s = socket.create_connection((HOST, PORT))
        if i % 3 == 0:
            s.sendall(b"PING\r\n")
            s.recv(16)
        s.close()
    f = back_to_baseline(c, pid, base_clients, base_fds)
    print(f"conns: 1000 simultaneous, 10000 connect/close cycles, no fd left ({f})")


def check_killed(pid):
    c = Conn()
    base_clients = int(info(c, "connected_clients"))
    base_fds = open_fds(pid)
    for i in range(50):
        s = socket.create_connection((HOST, PORT))
        kind = i % 5
        if kind == 0:  # half a command, then close
            s.sendall(b"*3\r\n$3\r\nSET\r\n$2\r\nk")
        elif kind == 1:  # half of a 1 MiB value, then reset
            s.sendall(b"*3\r\n$3\r\nSET\r\n$2\r\nkb\r\n$1048576\r\n" + os.urandom(300000))
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        elif kind == 2:  # a big reply never read, then reset
            s.sendall(encode("SET", "bigk", os.urandom(1 << 20)) + encode("GET", "bigk") * 8)
            time.sleep(0.05)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        elif kind == 3:  # a blocked client that goes away
            s.sendall(encode("BLPOP", "nolist", "0"))
        else:  # pipelined commands, close before the replies
            s.sendall(encode("INCR", "kc") * 100)
        s.close()
    check(c.cmd("PING") == "PONG", "server answers after killed clients")
    f = back_to_baseline(c, pid, base_clients, base_fds)
    check(c.cmd("EXISTS", "kb") == 0, "a half-sent SET wrote nothing")
    print("killed: 50 clients gone mid-request, all cleaned up, server serving")


def check_pipeline():
    # Replies as Redis gives them, for the expectation below.
    nil = None
    arity = "ERR wrong number of arguments for 'get' command"
    conns = [Conn() for _ in range(6)]
    conns[0].cmd("FLUSHALL")
    fake = encode("GET", "pk0:0")  # a value and a key that look like a request
    for rnd in range(20):
        batches, expect = [], []
        for i, c in enumerate(conns):
            k = f"pk{i}:{rnd}"
            wire, exp = [], []

            def req(raw, reply):
                wire.append(raw)
                exp.append(reply)
            req(encode("SET", k, fake), "OK")
            req(encode("get", k), fake)
            req(encode("GeT", k + ":missing"), nil)
            req(b"GET " + k.encode() + b"\r\n", fake)  # inline
            req(encode("PING"), "PONG")
            req(encode("SET", encode("GET", k), k), "OK")
            req(encode("GET", encode("GET", k)), k.encode())
            req(encode("GET"), Error(arity))
            req(encode("GET", k, "extra"), Error(arity))
            req(encode("set", "", "empty-key"), "OK")
            req(encode("GET", ""), b"empty-key")
            req(encode("INCR", k + ":n"), 1)
            req(encode("GETS", k), Error("ERR unknown command 'GETS', with args beginning with: "
                                         f"'{k}' "))
            req(encode("DEL", k), 1)
            req(encode("GET", k), nil)
            batches.append(b"".join(wire))
            expect.append(exp)
        # Every connection's pipeline first, then the replies: one loop round sees them all.
        for c, b in zip(conns, batches):
            c.s.sendall(b)
        for i, c in enumerate(conns):
            for j, e in enumerate(expect[i]):
                got = c.reply()
                check(got == e and type(got) is type(e),
                      f"round {rnd} connection {i} request {j}: {got!r}, expected {e!r}")
    # A key cut between two writes, beside another connection's requests.
    a, b = conns[0], conns[1]
    a.cmd("SET", "cutkey", "v1")
    a.s.sendall(b"*2\r\n$3\r\nGET\r\n$6\r\ncut")
    b.s.sendall(encode("GET", "cutkey") * 4)
    time.sleep(0.05)
    a.s.sendall(b"key\r\n")
    check(a.reply() == b"v1", "GET of a key cut between two writes")
    for _ in range(4):
        check(b.reply() == b"v1", "GET beside a cut key")
    # Malformed lengths: Redis's protocol error and a close, the neighbours answered.
    bad = [b"*2\r\n$3\r\nGET\r\n$-5\r\nabc\r\n",
           b"*2\r\n$3\r\nGET\r\n$99999999999\r\nk\r\n",
           b"*2\r\n$3\r\nGET\r\n$x\r\nk\r\n",
           b"*99999999999\r\n$3\r\nGET\r\n",
           b"*2\r\n$3\r\nGET\r\n:3\r\nkey\r\n"]
    for raw in bad:
        m = Conn()
        m.s.sendall(encode("GET", "cutkey") + raw)
        for c in conns[:3]:
            c.s.sendall(encode("GET", "cutkey") * 3)
        check(m.reply() == b"v1", f"GET before a malformed request {raw!r}")
        r = m.reply()
        check(isinstance(r, Error) and r.startswith("ERR Protocol error"),
              f"{raw!r} answered {r!r}, expected a protocol error")
        m.s.settimeout(5)
        check(m.s.recv(1) == b"", f"connection closed after {raw!r}")
        m.close()
        for c in conns[:3]:
            for _ in range(3):
                check(c.reply() == b"v1", f"GET beside {raw!r}")
    for c in conns:
        check(c.cmd("PING") == "PONG", "PING after the pipelines")
        c.close()
    print(f"pipeline: 20 rounds x {len(conns)} connections x 15 mixed requests, a cut key, "
          f"{len(bad)} malformed requests: every reply as expected")


def main():
    global PORT
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    what, PORT = sys.argv[1], int(sys.argv[2])
    pid = int(sys.argv[3]) if len(sys.argv) > 3 else None
    checks = {"values": check_values, "multi": check_multi, "pubsub": check_pubsub,
              "blpop": check_blpop, "expiry": check_expiry,
              "conns": lambda: check_conns(pid), "killed": lambda: check_killed(pid),
              "pipeline": check_pipeline}
    if what not in checks:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        checks[what]()
    except (Fail, OSError) as e:
        print(f"FAIL {what}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
