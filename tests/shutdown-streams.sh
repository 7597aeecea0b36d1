#!/bin/bash
# A stream marked cancel-on-shutdown ends cleanly when grace starts; an unmarked one runs
# until mercy. A second SIGTERM skips the rest of grace.
. "$top_srcdir/tests/lib.sh"

SVC_BIN=$TESTAPP svc_start --grace 60s
curl -sN -o "$T/sse.out" "$SVC_URL/sse" &
sse=$!
TEST_PIDS+=($sse)
wait_log 'testapp: sse begin'
wait_until "an event to arrive" grep -qs 'data: tick' "$T/sse.out"
kill -TERM "$SVC_PID"
rc=0
wait "$sse" || rc=$?
expect_eq "curl exit status (0 = the chunked stream ended cleanly)" 0 "$rc"
wait_exit "$SVC_PID"
expect_eq "exit status after a cancelled stream" 0 "$EXIT_STATUS"

# Grace is a minute: only the second SIGTERM can end it within this test's bounds.
SVC_BIN=$TESTAPP svc_start --grace 60s --mercy 60s
curl -sN -o "$T/stream.out" "$SVC_URL/stream" &
stream=$!
TEST_PIDS+=($stream)
wait_until "an event to arrive" grep -qs 'data: tick' "$T/stream.out"
kill -TERM "$SVC_PID"
wait_log 'running -> grace'
kill -0 "$stream" 2>/dev/null || fail "the unmarked stream ended at grace"
kill -TERM "$SVC_PID"
wait_log 'grace -> mercy'
rc=0
wait "$stream" || rc=$?
expect_eq "curl exit status (0 = the stream ended cleanly at mercy)" 0 "$rc"
wait_exit "$SVC_PID"
expect_eq "exit status when a stream was cut at grace's end" 3 "$EXIT_STATUS"
pass
