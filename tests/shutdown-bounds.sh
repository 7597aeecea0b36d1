#!/bin/bash
# No client and no handler can hold the process: a client that never reads is cut at
# grace + mercy (exit 3), a stuck handler at grace + mercy + force (exit 4). Exit 4 is only
# for a handler: with mercy and force 0 a never-reading client still gives exit 3, and the
# summary is logged whichever way the process ends.
. "$top_srcdir/tests/lib.sh"
HTTPC="python3 $top_srcdir/tests/httpc.py"

# noread_stop WHAT [SERVICED OPTIONS...]: a never-reading client of a file far larger than
# the socket buffers is in flight at SIGTERM; the daemon must exit 3 and log its summary.
mkdir -p "$T/root"
truncate -s 256M "$T/root/huge.bin"
noread_stop() {
	local what=$1
	shift
	svc_start --root "$T/root" "$@"
	rm -f "$T/noread.ready"
	$HTTPC noread "$SVC_PORT" /huge.bin "$T/noread.ready" &
	TEST_PIDS+=($!)
	wait_until "the request to be sent" test -s "$T/noread.ready"
	wait_until "the request to be in flight" curl -s -o /dev/null "$SVC_URL/healthz"
	kill -TERM "$SVC_PID"
	wait_exit "$SVC_PID"
	expect_eq "exit status with a never-reading client ($what)" 3 "$EXIT_STATUS"
	log_has 'shutdown: trigger signal.*exit status 3$' || fail "$what: no summary with exit status 3"
}

noread_stop "grace and mercy 300ms" --grace 300ms --mercy 300ms
log_has 'grace -> mercy' || fail "grace did not end by its deadline"

# The same with no time at all for mercy and force, several times (the stop of
# libmicrohttpd takes a moment even when no handler runs).
for i in 1 2 3 4 5; do
	noread_stop "mercy and force 0, run $i" --grace 200ms --mercy 0s --force 0s
done

# A handler that never returns.
SVC_BIN=$TESTAPP svc_start --grace 200ms --mercy 200ms --force 300ms
curl -s -o /dev/null "$SVC_URL/sleep?ms=600000" &
TEST_PIDS+=($!)
wait_log 'testapp: sleep begin'
kill -TERM "$SVC_PID"
wait_exit "$SVC_PID"
expect_eq "exit status with a stuck handler" 4 "$EXIT_STATUS"
log_has 'force: a handler is still running' || fail "no force message"
log_has 'shutdown: trigger signal.*exit status 4$' || fail "no summary with exit status 4"
pass
