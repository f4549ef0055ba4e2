#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The common first step of every port's build (docs/ports.md): fetches the program's Debian
# source (debian-source.sh, cached outside the tree), copies it into the build directory,
# applies the port's edits (apply-edits.py) and adds the port's own files beside the program's.
# The copy and the edits are redone only when the edits file or the fetched tree change (a
# stamp in the copy says which ones it holds), so the program's own build stays incremental;
# our files are copied only when they differ, so make rebuilds only what depends on them.
#
#   usage: prepare-tree.sh PACKAGE VERSION EDITS WORKDIR DEST [FILE...]
#     PACKAGE VERSION  as for debian-source.sh (the upstream version the edits were written for)
#     EDITS            the port's edits file (apply-edits.py's format)
#     WORKDIR          where the edited copy lives (e.g. build/examples/redis/redis-7.0.15)
#     DEST             the folder of WORKDIR our files go to ("." or e.g. "src")
#     FILE             the port's own files
# Environment: DEMI_SRC_CACHE (debian-source.sh's cache). Exit 0 with WORKDIR ready; 1 with the
# reason on stderr (source not fetchable, an edit that no longer applies, a missing file).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 5 ] || { echo "usage: prepare-tree.sh PACKAGE VERSION EDITS WORKDIR DEST [FILE...]" >&2; exit 1; }
pkg=$1 ver=$2 edits=$3 work=$4 dest=$5
shift 5
die() { echo "prepare-tree: $pkg: $*" >&2; exit 1; }

[ -f "$edits" ] || die "no edits file $edits"
tree=$(bash "$here/debian-source.sh" "$pkg" "$ver") ||
	die "cannot fetch the source (above: why); the port needs Debian 12's $pkg $ver source package"
stamp=$(cat "$edits" "$tree/.demi-fetched" | sha256sum | cut -c1-16)
if [ "$(cat "$work/.demi-stamp" 2>/dev/null)" != "$stamp" ]; then
	rm -rf "$work"
	mkdir -p "$(dirname "$work")"
	cp -a "$tree" "$work"
	python3 "$here/apply-edits.py" "$edits" "$work" ||
		die "the source no longer takes the port's edits (above: which one); redo it in $edits"
	echo "$stamp" >"$work/.demi-stamp"
fi
for f in "$@"; do
	[ -f "$f" ] || die "no file $f"
	to=$work/$dest/$(basename "$f")
	cmp -s "$f" "$to" || cp "$f" "$to"
done
