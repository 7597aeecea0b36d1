#!/bin/bash
# The example program of libserviced(3), built against the library like any application:
# it serves, and a SIGTERM ends it gracefully with its shutdown hook run.
. "$top_srcdir/tests/lib.sh"

SVC_LOG=$T/hello.log
"$top_builddir/examples/hello" 127.0.0.1:0 >"$SVC_LOG" 2>&1 &
SVC_PID=$!
TEST_PIDS+=("$SVC_PID")
wait_until "hello to listen" svc_listening
SVC_PORT=$(sed -n 's/.*listening on http:\/\/[^ ]*:\([0-9][0-9]*\).*/\1/p' "$SVC_LOG" | head -n 1)
expect_eq "body" "hello" "$(curl -s "http://127.0.0.1:$SVC_PORT/")"
kill -TERM "$SVC_PID"
wait_exit "$SVC_PID"
expect_eq "exit status" 0 "$EXIT_STATUS"
log_has 'hello: database closed' || fail "shutdown hook did not run"
pass
