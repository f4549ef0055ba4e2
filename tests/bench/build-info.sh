# SPDX-License-Identifier: MIT
#
# Sourced by the benchmark scripts: bench_build_info BUILD_DIR prints how the build was
# configured (buildtype, LTO) so that every result says what it measured, and a note when it
# is not the configuration docs/benchmarks.md uses (-Dbuildtype=release -Db_lto=true: under
# emulation it moves catmint from 1.32x to 1.16x ib_send_lat).
bench_build_info() {
	local info
	info=$(meson introspect "$1" --buildoptions 2>/dev/null | python3 -c '
import json, sys
o = {x["name"]: x["value"] for x in json.load(sys.stdin)}
print("buildtype=%s b_lto=%s" % (o.get("buildtype"), str(o.get("b_lto")).lower()))' 2>/dev/null)
	echo "build: $1 (${info:-configuration unknown})"
	case $info in
	"buildtype=release b_lto=true") ;;
	*) echo "note: docs/benchmarks.md numbers come from a build set up with" \
		"-Dbuildtype=release -Db_lto=true" ;;
	esac
}
