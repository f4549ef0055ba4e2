#!/bin/bash
# SPDX-License-Identifier: MIT
# docs/counters.md names every counter demi_stats reports: the library's (lib/stats.c), catnip's
# stack counters (catnip/catnip_counters.c) and its device counters (catnip/catnip.c), catnap's
# engines' (catnap/epoll_engine.c, catnap/uring_engine.c) and catmint's (catmint/catmint.c). A
# counter added to a table without a line in the document fails here.
set -u
top=${1:?usage: test_counters_doc.sh SOURCE_ROOT}
doc=$top/docs/counters.md
missing=0
names=$(sed -n 's/^\t\t{"\([a-z_]*\)", .*/\1/p' "$top/lib/stats.c")
names+=" $(sed -n 's/^\s*ONE(\([a-z0-9_]*\)),.*/catnip.\1/p; s/^\s*ARRAY(\([a-z0-9_]*\)),.*/catnip.\1[i]/p' "$top/catnip/catnip_counters.c")"
names+=" $(grep -o 'DEV([a-z_]*)' "$top/catnip/catnip.c" | grep -v 'DEV(f)' | sed 's/DEV(\(.*\))/catnip.dev_\1/')"
names+=" $(grep -o 'UR([a-z_]*)' "$top/catnap/uring_engine.c" | grep -v 'UR(f)' | sed 's/UR(\(.*\))/catnap.uring_\1/')"
names+=" $(grep -o 'MSTAT([a-z_]*)' "$top/catmint/catmint.c" | grep -v 'MSTAT(f)' | sed 's/MSTAT(\(.*\))/catmint.\1/')"
names+=" $(grep -o '{"catnap\.[a-z_]*"' "$top/catnap/epoll_engine.c" | tr -d '{"')"
n=0
for name in $names; do
	n=$((n + 1))
	grep -qF "\`$name\`" "$doc" || { echo "docs/counters.md lacks $name"; missing=1; }
done
[ $n -gt 100 ] || { echo "found only $n counter names in the sources: the patterns are stale"; exit 1; }
echo "$n counters, all in docs/counters.md"
exit $missing
