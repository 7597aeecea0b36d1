#!/bin/bash
# At grace: an idle keep-alive connection is closed at once (while the daemon still
# drains), a keep-alive connection with a request in flight gets "Connection: close" and is
# closed after its answer, and the process exits 0 the moment the work is done.
. "$top_srcdir/tests/lib.sh"
HTTPC="python3 $top_srcdir/tests/httpc.py"

SVC_BIN=$TESTAPP svc_start --grace 60s

$HTTPC idle "$SVC_PORT" "$T/idle.ready" >"$T/idle.out" 2>&1 &
idle=$!
TEST_PIDS+=($idle)
wait_until "the idle connection to be answered" test -s "$T/idle.ready"

# Two requests that take a while keep grace open; one of them on a keep-alive connection.
$HTTPC inflight "$SVC_PORT" "/sleep?ms=1500" >"$T/inflight.out" 2>&1 &
inflight=$!
TEST_PIDS+=($inflight)
curl -s -o "$T/sleep2.out" "$SVC_URL/sleep?ms=3000" &
sleeper=$!
TEST_PIDS+=($sleeper)
two_sleeping() { [ "$(grep -c 'testapp: sleep begin' "$SVC_LOG")" -ge 2 ]; }
wait_until "two requests in their handlers" two_sleeping

kill -TERM "$SVC_PID"
rc=0
wait "$idle" || rc=$?
expect_eq "idle connection closed by the server (httpc exit)" 0 "$rc"
kill -0 "$SVC_PID" 2>/dev/null || fail "the daemon had already exited: the idle close proves nothing"

wait "$inflight"
grep -qx 'connection: close' "$T/inflight.out" || fail "in-flight answer lacks Connection: close: $(cat "$T/inflight.out")"
grep -qx 'closed' "$T/inflight.out" || fail "connection stayed open after its answer"

wait_exit "$SVC_PID"
expect_eq "exit status" 0 "$EXIT_STATUS"
wait "$sleeper"
expect_eq "second request's body" "slept" "$(cat "$T/sleep2.out")"
# Hooks ran once connections were gone, the last registered first.
hooks=$(grep -o 'testapp: hook [a-z]* ran' "$SVC_LOG" | tr '\n' ' ')
expect_eq "hook order" "testapp: hook second ran testapp: hook first ran " "$hooks"
pass
