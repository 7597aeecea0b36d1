#!/bin/bash
# A client that connected before the shutdown but had not sent its request yet is answered
# (with "Connection: close"), not dropped: grace waits for it. This is what lets a
# socket-activated restart lose nothing.
. "$top_srcdir/tests/lib.sh"

svc_start
request_in_grace "$T/fresh.out"
expect_eq "client saw" "answered, connection: close" "$(cat "$T/fresh.out")"
wait_exit "$SVC_PID"
expect_eq "daemon exit status" 0 "$EXIT_STATUS"
pass
