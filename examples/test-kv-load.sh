#!/bin/bash
# SPDX-License-Identifier: MIT
#
# kv-load's echo protocol and measurement phases on catnap over loopback, the parts the
# benchmarks (tests/bench/redis.sh, memcached.sh) rely on:
#   1. --proto echo against examples/tcp-echo: every request answered and checked, also
#      pipelined on several connections;
#   2. an echo server that changes one byte: kv-load fails and says where;
#   3. --min-duration-ms: the measurement goes on past --requests until the time is up;
#   4. --populate with --proto echo is refused (an echo server has no keys);
#   5. tests/dpdk/memif-conf.sh keeps --no-huge for the tests unless asked for hugepages.
#   usage: test-kv-load.sh BUILD_EXAMPLES_DIR
set -u
ex=${1:?usage: test-kv-load.sh BUILD_EXAMPLES_DIR}
kv=$ex/kv-load
export LIBOS=catnap
dir=$(mktemp -d /tmp/kvb-test-XXXXXX)
spid=
trap '[ -n "$spid" ] && kill $spid 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
port=$((20000 + $$ % 20000))
field() { grep -o " $1=[0-9.]*" "$2" | cut -d= -f2; }

"$ex/tcp-echo" --server 127.0.0.1:$port >"$dir/echo.log" 2>&1 &
spid=$!
for _ in $(seq 50); do
	ss -Hltn "sport = :$port" | grep -q . && break
	sleep 0.1
done

# 1. Echo, unpipelined and pipelined.
"$kv" --server 127.0.0.1:$port --proto echo --requests 2000 >"$dir/1.log" 2>&1 ||
	fail "echo, 1 connection: $(tail -3 "$dir/1.log")"
[ "$(field n "$dir/1.log")" = 2000 ] && [ "$(field errors "$dir/1.log")" = 0 ] ||
	fail "echo, 1 connection: $(grep RESULT "$dir/1.log")"
grep -q 'RESULT proto=echo' "$dir/1.log" || fail "echo: the RESULT line names another protocol"
"$kv" --server 127.0.0.1:$port --proto echo --connections 3 --pipeline 4 --value-size 1000 \
	--warmup 100 --requests 3000 >"$dir/1p.log" 2>&1 ||
	fail "echo, 3 connections x 4: $(tail -3 "$dir/1p.log")"
[ "$(field n "$dir/1p.log")" = 3000 ] || fail "echo pipelined: $(grep RESULT "$dir/1p.log")"

# 3. A minimum duration: 10 requests take far less than 400 ms.
"$kv" --server 127.0.0.1:$port --proto echo --requests 10 --min-duration-ms 400 \
	>"$dir/3.log" 2>&1 || fail "--min-duration-ms: $(tail -3 "$dir/3.log")"
awk -v s="$(field secs "$dir/3.log")" -v n="$(field n "$dir/3.log")" \
	'BEGIN{exit !(s >= 0.4 && n > 10)}' ||
	fail "--min-duration-ms 400 measured $(field n "$dir/3.log") requests in $(field secs "$dir/3.log") s"
kill $spid
wait $spid 2>/dev/null
spid=

# 2. An echo server that flips byte 70 of the stream (the 7th byte of the second request).
/usr/bin/python3 - "$port" >"$dir/bad.log" 2>&1 <<'EOF' &
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(1)
c, _ = s.accept()
seen = 0
while True:
    b = bytearray(c.recv(65536))
    if not b:
        break
    if seen <= 70 < seen + len(b):
        b[70 - seen] ^= 0x20
    seen += len(b)
    c.sendall(b)
EOF
spid=$!
for _ in $(seq 50); do
	ss -Hltn "sport = :$port" | grep -q . && break
	sleep 0.1
done
if "$kv" --server 127.0.0.1:$port --proto echo --requests 100 --timeout-ms 3000 \
	>"$dir/2.log" 2>&1; then
	fail "a corrupted echo was accepted: $(tail -3 "$dir/2.log")"
fi
grep -q "value differs at byte 6" "$dir/2.log" ||
	fail "the corrupted echo: no message naming the byte: $(tail -3 "$dir/2.log")"
kill $spid 2>/dev/null
wait $spid 2>/dev/null
spid=

# 4. --populate has no meaning for an echo server.
"$kv" --server 127.0.0.1:$port --proto echo --populate >"$dir/4.log" 2>&1
[ $? = 2 ] && grep -q "echo server has no keys" "$dir/4.log" ||
	fail "--populate with --proto echo: $(cat "$dir/4.log")"

# 5. memif-conf.sh: tests keep --no-huge; the benchmarks' size without hugepages is kept.
. "$(dirname "$0")/../tests/dpdk/memif-conf.sh"
memif_conf "$dir/t.yaml" kvbt 1 server 10.0.0.1 02:00:00:00:00:01 "$dir/m.sock"
grep -q '"--no-huge", "-m", "256"' "$dir/t.yaml" || fail "memif_conf: $(cat "$dir/t.yaml")"
memif_conf_nohuge_mb=512
memif_conf "$dir/t.yaml" kvbt 1 server 10.0.0.1 02:00:00:00:00:01 "$dir/m.sock"
grep -q '"--no-huge", "-m", "512"' "$dir/t.yaml" || fail "memif_conf 512: $(cat "$dir/t.yaml")"
memif_conf_mem='"--in-memory"' # what memif_conf_hugepages sets when pages are free
memif_conf "$dir/t.yaml" kvbt 1 server 10.0.0.1 02:00:00:00:00:01 "$dir/m.sock"
grep -q '"--no-telemetry", "--in-memory",' "$dir/t.yaml" || fail "memif_conf huge: $(cat "$dir/t.yaml")"
echo "kv-load: echo checked byte for byte (1 and 3 x 4 connections), a corrupted echo refused," \
	"--min-duration-ms, --populate refused with echo, memif-conf.sh's memory: ok"
