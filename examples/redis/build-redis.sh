#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Builds redis-server on libdemikernel (the `redis` target; docs/redis.md): fetches Debian 12's
# redis 7.0.15 source (examples/ports/debian-source.sh, cached outside the tree), copies it into
# the build directory, applies redis.edits, adds our files beside Redis's and runs Redis's own
# make with libdemikernel's flags. Redis's make is incremental: the copy is redone only when the
# edits or the fetched tree change; our files are refreshed on every run.
#
#   usage: build-redis.sh OUT_BINARY LIBDEMIKERNEL_SO INCLUDE_DIR... [-- SANITIZE]
#     OUT_BINARY        where redis-server goes (build/examples/redis/redis-server)
#     LIBDEMIKERNEL_SO  the shared library to link (its directory becomes the rpath)
#     INCLUDE_DIR       include directories for <demi/*.h> (source and generated)
#     SANITIZE          meson's b_sanitize value (none, address,undefined, ...)
# Environment: DEMI_SRC_CACHE (default /var/cache/libdemikernel/src), MAKE_JOBS (default 2).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$1 lib=$2
shift 2
incs=() sanitize=none
while [ $# -gt 0 ]; do
	if [ "$1" = -- ]; then
		sanitize=${2:-none}
		break
	fi
	incs+=("-I$(cd "$1" && pwd)")
	shift
done
die() { echo "build-redis: $*" >&2; exit 1; }

tree=$(bash "$here/../ports/debian-source.sh" redis 7.0.15) ||
	die "cannot fetch Redis's source (above: why); the port needs Debian 12's redis 7.0.15 source package"
outdir=$(cd "$(dirname "$out")" && pwd)
work=$outdir/redis-7.0.15
stamp=$(cat "$here/redis.edits" "$tree/.demi-fetched" | sha256sum | cut -c1-16)
if [ "$(cat "$work/.demi-stamp" 2>/dev/null)" != "$stamp" ]; then
	rm -rf "$work"
	cp -a "$tree" "$work"
	python3 "$here/../ports/apply-edits.py" "$here/redis.edits" "$work" ||
		die "Redis's source no longer takes the port's edits (above: which one); redo it in examples/redis/redis.edits"
	echo "$stamp" >"$work/.demi-stamp"
fi
# Our files: copied only when changed, so make rebuilds only what depends on them.
for f in ae_demi.c demi_ae.h demi_conn.c demi_conn.h; do
	cmp -s "$here/$f" "$work/src/$f" || cp "$here/$f" "$work/src/$f"
done

libdir=$(cd "$(dirname "$lib")" && pwd)
cflags="${incs[*]}"
ldflags=""
if [ "$sanitize" != none ]; then
	# libdemikernel is instrumented: the program that links it needs the sanitizers' runtime.
	ldflags="-fsanitize=$sanitize"
fi
# USE_JEMALLOC=no: Debian's tree cannot build its bundled jemalloc (a patch makes the
# system-jemalloc test always true). Only redis-server links libdemikernel (DEMI_LIBS).
make -C "$work/src" -j"${MAKE_JOBS:-2}" USE_JEMALLOC=no \
	REDIS_CFLAGS="$cflags" REDIS_LDFLAGS="$ldflags" \
	DEMI_LIBS="-L$libdir -ldemikernel -Wl,-rpath,$libdir" redis-server >"$outdir/make.log" 2>&1 ||
	{ tail -30 "$outdir/make.log"; die "Redis's make failed (whole log: $outdir/make.log)"; }
cp "$work/src/redis-server" "$out.tmp"
mv "$out.tmp" "$out"
