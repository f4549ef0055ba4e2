#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Builds redis-server on libdemikernel (the `redis` target; docs/redis.md): the edited copy of
# Debian 12's redis 7.0.15 source with our files beside Redis's (examples/ports/prepare-tree.sh,
# shared with the memcached port), then Redis's own make with libdemikernel's flags. Redis's
# make is incremental: the copy is redone only when the edits or the fetched tree change.
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

outdir=$(cd "$(dirname "$out")" && pwd)
work=$outdir/redis-7.0.15
# Fetch, copy, edits and our files (docs/ports.md): redone only as far as something changed.
bash "$here/../ports/prepare-tree.sh" redis 7.0.15 "$here/redis.edits" "$work" src \
	"$here/ae_demi.c" "$here/demi_ae.h" "$here/demi_conn.c" "$here/demi_conn.h" "$here/resp_scan.h" \
	"$here/../ports/demi_port.c" "$here/../ports/demi_port.h" ||
	die "cannot prepare Redis's source tree (above: why)"

libdir=$(cd "$(dirname "$lib")" && pwd)
cflags="${incs[*]}"
ldflags=""
if [ "$sanitize" != none ]; then
	# libdemikernel is instrumented: the program that links it needs the sanitizers' runtime.
	ldflags="-fsanitize=$sanitize"
fi
# The allocator Debian's own build links (debian/rules: USE_SYSTEM_JEMALLOC=yes, libjemalloc-dev),
# so the port and the stock redis-server it is measured against allocate alike; libc's malloc
# under the sanitizers, which replace it (Debian's tree cannot build its bundled jemalloc: a
# patch makes the system-jemalloc test always true). Only redis-server links libdemikernel
# (DEMI_LIBS).
# MALLOC on the command line: it overrides the choice Redis's make persisted in .make-settings
# (and a change rebuilds everything).
malloc=(MALLOC=jemalloc USE_SYSTEM_JEMALLOC=yes)
if [ "$sanitize" != none ] || [ ! -e /usr/include/jemalloc/jemalloc.h ]; then
	malloc=(MALLOC=libc)
fi
make -C "$work/src" -j"${MAKE_JOBS:-2}" "${malloc[@]}" \
	REDIS_CFLAGS="$cflags" REDIS_LDFLAGS="$ldflags" \
	DEMI_LIBS="-L$libdir -ldemikernel -Wl,-rpath,$libdir" redis-server >"$outdir/make.log" 2>&1 ||
	{ tail -30 "$outdir/make.log"; die "Redis's make failed (whole log: $outdir/make.log)"; }
cp "$work/src/redis-server" "$out.tmp"
mv "$out.tmp" "$out"
