#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Fetches the source of a Debian 12 package (as Debian patched it) into a cache outside the
# tree and prints the unpacked tree's path: the one place the application ports (examples/redis,
# examples/memcached, ...) get a program's source, so none of it is ever committed.
#
#   usage: debian-source.sh PACKAGE VERSION [CACHE_DIR]
#     VERSION    the upstream version the port's edits were written for (e.g. 7.0.15); when
#                Debian ships another one, this fails and says so: the edits must be checked
#                against the new source first.
#     CACHE_DIR  default $DEMI_SRC_CACHE or /var/cache/libdemikernel/src
# The first call adds a deb-src entry (a copy of the deb entries, as Debian documents) when the
# machine has none, runs apt-get update, and needs dpkg-dev to unpack (installed when missing,
# as root). Later calls reuse the unpacked tree: the cache holds PACKAGE-VERSION/ and a stamp.
# Exit 0 with the path on stdout; 1 with the reason on stderr.
set -euo pipefail
pkg=${1:?usage: debian-source.sh PACKAGE VERSION [CACHE_DIR]}
want=${2:?usage: debian-source.sh PACKAGE VERSION [CACHE_DIR]}
cache=${3:-${DEMI_SRC_CACHE:-/var/cache/libdemikernel/src}}
die() { echo "debian-source: $pkg: $*" >&2; exit 1; }

tree=$cache/$pkg-$want
if [ -f "$tree/.demi-fetched" ]; then
	echo "$tree"
	exit 0
fi
mkdir -p "$cache" || die "cannot create $cache"

# (not "| grep -q": with pipefail, apt-cache's SIGPIPE would make a found package look absent)
have_src() { [[ "$(apt-cache showsrc "$pkg" 2>/dev/null)" == *$'\nVersion: '* ]]; }
if ! have_src; then
	[ "$(id -u)" = 0 ] || die "no deb-src entry and not root: add one (see this script) or run as root"
	if ! grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ &&
		! grep -qs '^deb-src' /etc/apt/sources.list; then
		for f in /etc/apt/sources.list.d/*.sources; do
			[ -f "$f" ] || continue
			sed 's/^Types: deb$/Types: deb-src/' "$f" >"${f%.sources}-src.sources"
		done
		[ -f /etc/apt/sources.list ] &&
			sed -n 's/^deb /deb-src /p' /etc/apt/sources.list >/etc/apt/sources.list.d/demi-src.list
	fi
	apt-get update -qq >/dev/null 2>&1 || die "apt-get update failed"
	have_src || die "apt knows no source package (deb-src entries: /etc/apt/sources.list.d/)"
fi
ver=$(apt-cache showsrc "$pkg" | sed -n 's/^Version: //p' | sort -V | tail -1)
upstream=${ver#*:}
upstream=${upstream%-*}
[ "${upstream%%+*}" = "$want" ] ||
	die "Debian ships $ver, the port was written for $want: check its edits against the new source, then change the version the port asks for"
if ! command -v dpkg-source >/dev/null; then
	[ "$(id -u)" = 0 ] || die "dpkg-dev is needed to unpack the source"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends dpkg-dev \
		>/dev/null || die "cannot install dpkg-dev"
fi
work=$(mktemp -d "$cache/.fetch-XXXXXX")
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get source -qq "$pkg=$ver" >/dev/null 2>"$work/err") ||
	die "apt-get source failed: $(tail -3 "$work/err")"
dir=$(find "$work" -mindepth 1 -maxdepth 1 -type d -name "$pkg-*" | head -1)
[ -n "$dir" ] || die "apt-get source unpacked nothing"
rm -rf "$tree"
mv "$dir" "$tree"
echo "$ver" >"$tree/.demi-fetched"
echo "$tree"
