# SPDX-License-Identifier: MIT
#
# Sourced by the application ports' test scripts (examples/redis/test-*.sh,
# examples/memcached/test-*.sh): the steps every one of them takes around its servers.
#
#   port_setup PREFIX      $tmp, a fresh directory /tmp/PREFIX-XXXXXX; at exit every pid in
#                          $pids not yet waited for is killed (SIGKILL) and $tmp removed
#   fail MESSAGE...        "FAIL $what: MESSAGE", then fail_context (when the script defines
#                          it: sockets, logs to keep), then the last lines of $tmp/*.log; exit 1
#   port_wait_up NAME PID PROBE...
#                          waits (5 s) until the command PROBE succeeds; fails with NAME when
#                          PID exits first or PROBE never does; adds PID to $pids
#   stop PID [SIGNAL]      ends a server (SIGTERM by default), which must exit within 10 s,
#                          with 0 unless SIGNAL is KILL
#   alive PID              fails unless the server still runs
# The caller sets $what (the case, for messages) before calling fail.

port_setup() {
	tmp=$(mktemp -d "/tmp/$1-XXXXXX")
	pids=()
	trap port_cleanup EXIT
}
port_cleanup() {
	local p live
	# Only the servers not waited for yet: a reaped pid may name another process by now.
	live=" $(jobs -p | tr '\n' ' ') "
	for p in "${pids[@]}"; do [[ $live == *" $p "* ]] && kill -KILL "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$tmp"
}
fail() {
	local f
	echo "FAIL $what: $*" >&2
	declare -F fail_context >/dev/null && fail_context
	for f in "$tmp"/*.log; do
		[ -f "$f" ] && { echo "--- $f (last lines)" >&2; tail -20 "$f" >&2; }
	done
	exit 1
}
port_wait_up() {
	local name=$1 pid=$2
	shift 2
	pids+=("$pid")
	for _ in $(seq 100); do
		"$@" && return 0
		kill -0 "$pid" 2>/dev/null || fail "$name exited at start"
		sleep 0.05
	done
	fail "$name does not answer ($*)"
}
stop() {
	local pid=$1 sig=${2:-TERM} rc
	kill -"$sig" "$pid" 2>/dev/null
	for _ in $(seq 200); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	kill -0 "$pid" 2>/dev/null && fail "the server (pid $pid) still runs 10 s after SIG$sig"
	wait "$pid"
	rc=$?
	[ "$sig" = KILL ] || [ $rc = 0 ] || fail "the server (pid $pid) exited with $rc after SIG$sig"
}
alive() { kill -0 "$1" 2>/dev/null || fail "the server died (log below)"; }
