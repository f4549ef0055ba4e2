#!/bin/bash
# SPDX-License-Identifier: MIT
# debian-source.sh against Debian itself: the Redis and memcached sources the ports are written
# for arrive unpacked with Debian's patches applied, a second call reuses the cache, and a
# version the port was not written for is refused with a message saying so.
#   usage: test-debian-source.sh CACHE_DIR
set -u
here=$(dirname "$0")
cache=${1:?usage: test-debian-source.sh CACHE_DIR}
fail=0
for p in "redis 7.0.15 src/ae.c" "memcached 1.6.18 memcached.c"; do
	set -- $p
	tree=$(bash "$here/debian-source.sh" "$1" "$2" "$cache") || { echo "FAIL fetch $1"; fail=1; continue; }
	if [ -f "$tree/$3" ] && [ -d "$tree/debian/patches" ]; then
		echo "ok   $1 $2 in $tree"
	else
		echo "FAIL $1: $tree lacks $3 or debian/patches"
		fail=1
	fi
	t0=$(date +%s%N)
	again=$(bash "$here/debian-source.sh" "$1" "$2" "$cache")
	ms=$((($(date +%s%N) - t0) / 1000000))
	[ "$again" = "$tree" ] && [ $ms -lt 2000 ] && echo "ok   $1 cached (${ms} ms)" ||
		{ echo "FAIL $1: second call ($again, $ms ms)"; fail=1; }
done
out=$(bash "$here/debian-source.sh" redis 6.0.0 "$cache" 2>&1)
if [ $? = 1 ] && grep -q "the port was written for 6.0.0" <<<"$out"; then
	echo "ok   another version refused: $out"
else
	echo "FAIL another version: $out"
	fail=1
fi
exit $fail
