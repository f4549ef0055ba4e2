#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Builds memcached on libdemikernel (the `memcached` target; docs/memcached.md): Debian 12's
# memcached 1.6.18 source, fetched, copied into the build directory and edited by
# examples/ports/prepare-tree.sh (memcached.edits plus our demi_memcached.{c,h} and the ports'
# shared demi_port.{c,h}), then memcached's own ./configure (once per tree and flags) and make,
# linked against libdemikernel. Also builds memcached-debug (the variant memcached's t/*.t expect) on request.
#
#   usage: build-memcached.sh OUT_BINARY LIBDEMIKERNEL_SO INCLUDE_DIR... [-- SANITIZE [debug]]
#     OUT_BINARY        where memcached goes (build/examples/memcached/memcached)
#     LIBDEMIKERNEL_SO  the shared library to link (its directory becomes the rpath)
#     INCLUDE_DIR       include directories for <demi/*.h> (source and generated)
#     SANITIZE          meson's b_sanitize value (none, address,undefined, ...)
#     debug             also build memcached-debug next to OUT_BINARY
# Needs libevent-dev (tests/deps.sh). Environment: DEMI_SRC_CACHE, MAKE_JOBS (default 2).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$1 lib=$2
shift 2
incs=() sanitize=none debug=
while [ $# -gt 0 ]; do
	if [ "$1" = -- ]; then
		sanitize=${2:-none}
		debug=${3:-}
		break
	fi
	incs+=("-I$(cd "$1" && pwd)")
	shift
done
die() { echo "build-memcached: $*" >&2; exit 1; }

pkg-config --exists libevent 2>/dev/null || [ -f /usr/include/event.h ] ||
	die "libevent's headers are missing: apt-get install libevent-dev (tests/deps.sh)"
outdir=$(cd "$(dirname "$out")" && pwd)
work=$outdir/memcached-1.6.18
bash "$here/../ports/prepare-tree.sh" memcached 1.6.18 "$here/memcached.edits" "$work" . \
	"$here/demi_memcached.c" "$here/demi_memcached.h" "$here/../ports/demi_port.c" \
	"$here/../ports/demi_port.h"

libdir=$(cd "$(dirname "$lib")" && pwd)
cflags="-g -O2 ${incs[*]}"
ldflags="-L$libdir -Wl,-rpath,$libdir"
if [ "$sanitize" != none ]; then
	# libdemikernel is instrumented: the program that links it needs the sanitizers' runtime.
	ldflags="$ldflags -fsanitize=$sanitize"
fi
# configure again only for a fresh copy or other flags (its result is the Makefile).
flags="$cflags|$ldflags"
if [ "$(cat "$work/.demi-configured" 2>/dev/null)" != "$flags" ]; then
	(cd "$work" && ./configure CFLAGS="$cflags" LDFLAGS="$ldflags" LIBS=-ldemikernel \
		>"$outdir/configure.log" 2>&1) ||
		{ tail -20 "$outdir/configure.log"; die "memcached's configure failed (whole log: $outdir/configure.log)"; }
	echo "$flags" >"$work/.demi-configured"
fi
targets=memcached
[ "$debug" = debug ] && targets="memcached memcached-debug"
make -C "$work" -j"${MAKE_JOBS:-2}" $targets >"$outdir/make.log" 2>&1 ||
	{ tail -30 "$outdir/make.log"; die "memcached's make failed (whole log: $outdir/make.log)"; }
cp "$work/memcached" "$out.tmp"
mv "$out.tmp" "$out"
if [ "$debug" = debug ]; then
	cp "$work/memcached-debug" "$outdir/memcached-debug.tmp"
	mv "$outdir/memcached-debug.tmp" "$outdir/memcached-debug"
fi
