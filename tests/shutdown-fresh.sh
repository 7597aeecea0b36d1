#!/bin/bash
# A client that connected before the shutdown but had not sent its request yet is answered
# (with "Connection: close"), not dropped: grace waits for it. This is what lets a
# socket-activated restart lose nothing.
. "$top_srcdir/tests/lib.sh"

svc_start
python3 "$top_srcdir/tests/httpc.py" fresh "$SVC_PORT" "$T/connected" "$T/go" >"$T/fresh.out" 2>&1 &
client=$!
TEST_PIDS+=($client)
wait_until "the client to connect" test -s "$T/connected"
# The daemon has registered it once it counts one open connection.
wait_until "the connection to be registered" sh -c "'$SERVICECTL' -s '$SVC_CONTROL' --json status | grep -q '\"connections_open\":1'"
kill -TERM "$SVC_PID"
wait_log 'running -> grace'
touch "$T/go"
rc=0
wait "$client" || rc=$?
expect_eq "client exit status" 0 "$rc"
expect_eq "client saw" "answered, connection: close" "$(cat "$T/fresh.out")"
wait_exit "$SVC_PID"
expect_eq "daemon exit status" 0 "$EXIT_STATUS"
pass
