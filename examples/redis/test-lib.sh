# SPDX-License-Identifier: MIT
#
# Sourced by the Redis port's tests of a whole libOS (test-redis-catnip.sh, test-redis-catmint.sh):
# the Redis steps they share (what every port's test shares is examples/ports/test-lib.sh, which
# gives fail). The caller defines cli (redis-cli against its server) and spid (the server's pid).

# bgsave_check: BGSAVE starts, finishes within 60 s and reports success.
bgsave_check() {
	cli bgsave | grep -q started || fail "BGSAVE not started"
	for _ in $(seq 600); do
		[ "$(persistence rdb_bgsave_in_progress)" = 0 ] && break
		sleep 0.1
	done
	[ "$(persistence rdb_last_bgsave_status)" = ok ] || fail "BGSAVE failed"
}
persistence() { cli info persistence | tr -d '\r' | sed -n "s/^$1://p"; }

# shutdown_check SECONDS: SHUTDOWN NOSAVE over cli; the server exits 0 within SECONDS.
shutdown_check() {
	local rc
	cli shutdown nosave >/dev/null 2>&1
	for _ in $(seq $(($1 * 10))); do
		kill -0 "$spid" 2>/dev/null || break
		sleep 0.1
	done
	wait "$spid"
	rc=$?
	spid=
	[ $rc = 0 ] || fail "SHUTDOWN: exit $rc"
}
