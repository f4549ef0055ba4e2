#!/bin/bash
# SPDX-License-Identifier: MIT
# prepare-tree.sh on Debian's memcached 1.6.18 source: the edits are applied and our files
# copied; a second call keeps the copy (the program's build stays incremental) and copies our
# files only when they changed; changed edits make a fresh copy; an edit that no longer applies
# fails with a message naming it and the edits file, and a missing package with the reason.
#   usage: test-prepare-tree.sh CACHE_DIR
set -u
here=$(dirname "$0")
export DEMI_SRC_CACHE=${1:?usage: test-prepare-tree.sh CACHE_DIR}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fail=1; }
prep() { bash "$here/prepare-tree.sh" memcached 1.6.18 "$tmp/e.edits" "$tmp/w/memcached" . "$tmp/ours.c"; }
cat >"$tmp/e.edits" <<'EOE'
@@ FILE memcached.h
@@ WHY  a test edit
<<<<
#define unlikely(x)     __builtin_expect((x),0)
====
#define unlikely(x)     __builtin_expect((x),0)
/* prepare-tree test */
>>>>
EOE
echo "int ours;" >"$tmp/ours.c"
if prep >"$tmp/out" 2>&1 && grep -q "prepare-tree test" "$tmp/w/memcached/memcached.h" &&
	cmp -s "$tmp/ours.c" "$tmp/w/memcached/ours.c"; then
	ok "edits applied and our file copied"
else
	bad "first call: $(cat "$tmp/out")"
fi
touch "$tmp/w/memcached/.kept"
touch -d @1000000000 "$tmp/w/memcached/ours.c"
prep >"$tmp/out" 2>&1
if [ -f "$tmp/w/memcached/.kept" ] && [ "$(stat -c %Y "$tmp/w/memcached/ours.c")" = 1000000000 ]; then
	ok "second call keeps the copy and the unchanged file"
else
	bad "second call redid the copy or recopied an unchanged file: $(cat "$tmp/out")"
fi
echo "int ours2;" >"$tmp/ours.c"
prep >/dev/null 2>&1
cmp -s "$tmp/ours.c" "$tmp/w/memcached/ours.c" && [ -f "$tmp/w/memcached/.kept" ] &&
	ok "a changed file of ours is copied, the tree kept" || bad "changed file of ours"
echo "# another comment" >>"$tmp/e.edits"
prep >/dev/null 2>&1
[ ! -f "$tmp/w/memcached/.kept" ] && grep -q "prepare-tree test" "$tmp/w/memcached/memcached.h" &&
	ok "changed edits: a fresh copy, edited" || bad "changed edits kept the old copy"
sed -i 's/__builtin_expect((x),0)$/__builtin_expect((x),9)/' "$tmp/e.edits"
out=$(prep 2>&1)
if [ $? = 1 ] && grep -q "edit 1 (memcached.h: a test edit)" <<<"$out" && grep -q "redo it in $tmp/e.edits" <<<"$out"; then
	ok "an edit that no longer applies is named: $(tail -1 <<<"$out")"
else
	bad "stale edit: $out"
fi
out=$(bash "$here/prepare-tree.sh" memcached 1.0.0 "$tmp/e.edits" "$tmp/w/x" . 2>&1)
if [ $? = 1 ] && grep -q "cannot fetch the source" <<<"$out"; then
	ok "a source that cannot be fetched: $(tail -1 <<<"$out")"
else
	bad "unfetchable source: $out"
fi
exit $fail
