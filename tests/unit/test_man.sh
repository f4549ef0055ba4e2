#!/bin/bash
# SPDX-License-Identifier: MIT
# Every function the shared library exports has a manual page built from its header comment,
# no page names a function that is gone, and every page renders without a groff warning and
# says what the call returns.
#   usage: test_man.sh LIBDEMIKERNEL_SO MAN_DIR
set -u
so=${1:?usage: test_man.sh LIBDEMIKERNEL_SO MAN_DIR}
dir=${2:?usage: test_man.sh LIBDEMIKERNEL_SO MAN_DIR}
fail=0
exported=$(nm -D --defined-only "$so" | sed -n 's/.* T \(demi_[a-z_0-9]*\)@@.*/\1/p' | sort -u)
[ -n "$exported" ] || { echo "FAIL: no demi_ function exported by $so"; exit 1; }
for f in $exported; do
	p=$dir/$f.3
	if [ ! -s "$p" ]; then
		echo "FAIL: $f has no manual page"
		fail=1
		continue
	fi
	warn=$(groff -man -ww -z "$p" 2>&1)
	[ -z "$warn" ] || { echo "FAIL: $f.3: $warn"; fail=1; }
	ret=$(sed -n '/^\.SH RETURN VALUE/{n;p}' "$p")
	[ -n "$ret" ] && [ "$ret" != "See the description." ] ||
		{ echo "FAIL: $f.3 says nothing of what it returns"; fail=1; }
done
for p in "$dir"/demi_*.3; do
	n=$(basename "$p" .3)
	grep -qx "$n" <<<"$exported" || { echo "FAIL: $n.3 documents no exported function"; fail=1; }
done
echo "$(wc -w <<<"$exported") exported functions, each with its page"
exit $fail
