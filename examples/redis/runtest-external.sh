#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Redis's own test suite in external mode (./runtest --host --port: Tcl, package tcl) against
# the port on catnap, unit by unit (docs/redis.md). Tests tagged external:skip (server
# restarts, replication, config files) are skipped by Redis's harness itself.
#   usage: runtest-external.sh BUILD_DIR [UNIT...]
#            the port (catnap, CATNAP_ENGINE as set) and stock Redis built from the same tree:
#            the counts of both and the failing tests' names (what regenerates the list below)
#          runtest-external.sh BUILD_DIR --engine epoll|io_uring --expect FILE [UNIT...]
#            the port only, on that catnap engine (meson tests redis-runtest-*): exit 1 when
#            a test fails (or the harness raises an exception) that FILE does not list (a
#            line "UNIT<tab>TEST NAME or exception message<tab>why": what stock Redis fails too)
# Default units: the list below. Prints one line per unit and server: passed, failed (names).
set -u
build=$1
shift
engine= expect=
while [ $# -gt 0 ]; do
	case $1 in
	--engine) engine=$2; shift 2 ;;
	--expect) expect=$2; shift 2 ;;
	*) break ;;
	esac
done
tree=$build/examples/redis/redis-7.0.15
port_bin=$build/examples/redis/redis-server
command -v tclsh >/dev/null || { echo "SKIP: tclsh missing (bash tests/deps.sh installs tcl)"; exit 77; }
command -v redis-cli >/dev/null || { echo "SKIP: redis-cli missing (bash tests/deps.sh)"; exit 77; }
[ -x "$port_bin" ] && [ -d "$tree/tests" ] || { echo "build the port first: ninja -C $build redis"; exit 1; }
units=("$@")
[ ${#units[@]} -eq 0 ] && units=(unit/type/string unit/type/incr unit/type/list unit/type/hash
	unit/type/set unit/type/zset unit/type/stream unit/keyspace unit/expire unit/multi
	unit/pubsub unit/protocol unit/info-command unit/bitops unit/scan unit/sort unit/dump
	unit/geo unit/hyperloglog unit/quit unit/auth unit/acl unit/scripting unit/functions
	unit/introspection-2 unit/tracking unit/querybuf unit/limits)
who_list=(port stock)
if [ -n "$engine" ]; then
	export LIBOS=catnap CATNAP_ENGINE=$engine
	who_list=(port)
	[ -f "$expect" ] || { echo "FAIL: no expected-failure list $expect"; exit 1; }
fi
if [ "${who_list[*]}" != port ]; then
	# Stock Redis from the same source: the fetched tree, built without our edits.
	stock_tree=$build/examples/redis/stock-7.0.15
	if [ ! -x "$stock_tree/src/redis-server" ]; then
		src=$(bash "$(dirname "$0")/../ports/debian-source.sh" redis 7.0.15) || exit 1
		rm -rf "$stock_tree"
		cp -a "$src" "$stock_tree"
		# The port's allocator (build-redis.sh): Debian's jemalloc when its headers are here.
		malloc=MALLOC=libc
		[ -e /usr/include/jemalloc/jemalloc.h ] && malloc="MALLOC=jemalloc USE_SYSTEM_JEMALLOC=yes"
		# shellcheck disable=SC2086 # two words on purpose
		make -C "$stock_tree/src" -j2 $malloc redis-server >"$stock_tree.make.log" 2>&1 ||
			{ echo "stock build failed: $stock_tree.make.log"; exit 1; }
	fi
fi
tmp=$(mktemp -d /tmp/redis-runtest-XXXXXX)
trap 'kill $spid 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
spid=
rc=0
for who in "${who_list[@]}"; do
	bin=$port_bin
	[ $who = stock ] && bin=$stock_tree/src/redis-server
	okt=0 errt=0
	for u in "${units[@]}"; do
		port=$((27000 + RANDOM % 1000))
		mkdir -p "$tmp/$who"
		"$bin" "$tree/tests/assets/default.conf" --port $port --dir "$tmp/$who" \
			--logfile "$tmp/$who/server.log" --save "" >/dev/null 2>&1 &
		spid=$!
		for _ in $(seq 100); do
			[ "$(redis-cli -p $port ping 2>/dev/null)" = PONG ] && break
			sleep 0.05
		done
		(cd "$tree" && timeout 600 tclsh tests/test_helper.tcl --host 127.0.0.1 --port $port \
			--single "$u" --clients 1 --timeout 120) 2>&1 | sed 's/\x1b\[[0-9;]*m//g' >"$tmp/out"
		ok=$(grep -c '^\[ok\]' "$tmp/out")
		err=$(grep -c '^\[err\]\|^\[exception\]' "$tmp/out")
		okt=$((okt + ok)) errt=$((errt + err))
		printf '%-6s %-24s ok %4d  err %3d %s\n' $who "$u" "$ok" "$err" \
			"$(grep '^\[err\]\|^\[exception\]' "$tmp/out" | head -3 | tr '\n' ' ')"
		if [ -n "$expect" ]; then
			# "[err]: NAME in tests/unit/..." or "[exception]: MESSAGE" (the harness ended
			# the unit there): NAME or MESSAGE against the list.
			while IFS= read -r line; do
				name=$(sed -e 's/^\[err\]: \(.*\) in tests\/.*/\1/' -e 's/^\[exception\]: //' <<<"$line")
				if ! grep -qFx "$u	$name" <(grep -v '^#' "$expect" | cut -f1,2); then
					echo "UNEXPECTED FAILURE ($u): $line"
					grep -A15 -F "$line" "$tmp/out" | head -20
					rc=1
				fi
			done < <(grep '^\[err\]\|^\[exception\]' "$tmp/out")
		fi
		timeout 10 redis-cli -p $port shutdown nosave >/dev/null 2>&1
		kill $spid 2>/dev/null # a test may have set a password
		wait $spid 2>/dev/null
		spid=
	done
	echo "$who${engine:+ ($engine)}: passed $okt, failed $errt"
done
exit $rc
