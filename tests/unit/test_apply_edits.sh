#!/bin/bash
# SPDX-License-Identifier: MIT
# examples/ports/apply-edits.py, the ports' way of editing another project's source: edits apply
# in order and exactly once; one that no longer applies (its text gone, or there twice) fails
# naming the edit and writes nothing; --check writes nothing; a malformed edits file is refused.
set -u
tool=$(dirname "$0")/../../examples/ports/apply-edits.py
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
fail=0
check() { # NAME CONDITION-RESULT
	if [ "$2" = 0 ]; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi
}
mkdir -p "$t/tree/src"
printf 'int a;\n#ifdef HAVE_EPOLL\n#include "ae_epoll.c"\n#endif\n' >"$t/tree/src/ae.c"
printf 'x = 1;\ny = 2;\n' >"$t/tree/b.c"
cp -r "$t/tree" "$t/orig"
cat >"$t/good.edits" <<'EOT'
# two edits in one file, one in another
@@ FILE src/ae.c
@@ WHY our backend first
<<<<
#ifdef HAVE_EPOLL
====
#ifdef HAVE_DEMI
#include "ae_demi.c"
#elif defined(HAVE_EPOLL)
>>>>
@@ FILE src/ae.c
@@ WHY a second edit sees the first one's result
<<<<
#elif defined(HAVE_EPOLL)
====
#elif defined(HAVE_EPOLL) /* kernel */
>>>>
@@ FILE b.c
@@ WHY deletion
<<<<
y = 2;
====
>>>>
EOT
python3 "$tool" "$t/good.edits" "$t/tree" --check >/dev/null
check "--check succeeds" $?
diff -r "$t/orig" "$t/tree" >/dev/null
check "--check writes nothing" $?
python3 "$tool" "$t/good.edits" "$t/tree" >/dev/null
check "apply succeeds" $?
want=$'int a;\n#ifdef HAVE_DEMI\n#include "ae_demi.c"\n#elif defined(HAVE_EPOLL) /* kernel */\n#include "ae_epoll.c"\n#endif'
[ "$(cat "$t/tree/src/ae.c")" = "$want" ] && [ "$(cat "$t/tree/b.c")" = "x = 1;" ]
check "edits applied in order" $?
# Applying again: the first edit's text is gone.
out=$(python3 "$tool" "$t/good.edits" "$t/tree" 2>&1)
rc=$?
[ $rc = 1 ] && grep -q "edit 1 (src/ae.c: our backend first): the text to replace is not there" <<<"$out"
check "a vanished text names its edit" $?
# Twice in the file, and nothing written when a later edit fails.
rm -rf "$t/tree" && cp -r "$t/orig" "$t/tree"
printf 'x = 1;\nx = 1;\n' >"$t/tree/b.c"
cp "$t/tree/src/ae.c" "$t/ae.before"
out=$(python3 "$tool" "$t/good.edits" "$t/tree" 2>&1)
rc=$?
[ $rc = 1 ] && grep -q "edit 3 (b.c: deletion): the text to replace is not there" <<<"$out" &&
	cmp -s "$t/ae.before" "$t/tree/src/ae.c"
check "a failing edit leaves every file untouched" $?
printf '@@ FILE b.c\n<<<<\nx = 1;\n====\nz\n>>>>\n' >"$t/dup.edits"
out=$(python3 "$tool" "$t/dup.edits" "$t/tree" 2>&1)
[ $? = 1 ] && grep -q "occurs 2 times" <<<"$out"
check "a text found twice is refused" $?
for bad in '<<<<\nx\n====\ny\n>>>>\n' '@@ FILE b.c\n<<<<\nx\n' '@@ FILE b.c\n<<<<\nx = 1;\n>>>>\n' 'stray line\n'; do
	printf "$bad" >"$t/bad.edits"
	python3 "$tool" "$t/bad.edits" "$t/tree" >/dev/null 2>&1
	[ $? = 2 ]
	check "malformed edits refused: $(printf "$bad" | head -1)" $?
done
python3 "$tool" "$t/good.edits" "$t/nosuchtree" >/dev/null 2>&1
[ $? = 1 ]
check "a missing file is an error" $?
exit $fail
