#!/bin/bash
# The library's thread-safe API, called from handlers: a shutdown with a drain delay keeps
# serving while /readyz says 503, cancel returns to running, and knobs change live.
. "$top_srcdir/tests/lib.sh"

SVC_BIN=$TESTAPP svc_start --drain-delay 60s
expect_eq "readyz before" 200 "$(http_code "$SVC_URL/readyz")"
expect_eq "shutdown through the API" 202 "$(http_code "$SVC_URL/api/shutdown")"
wait_log 'running -> drain_delay'
expect_eq "readyz in the drain delay" 503 "$(http_code "$SVC_URL/readyz")"
expect_eq "ordinary request in the drain delay" 200 "$(http_code "$SVC_URL/")"
expect_eq "cancel" 200 "$(http_code "$SVC_URL/api/cancel")"
wait_log 'drain_delay -> running'
expect_eq "readyz after cancel" 200 "$(http_code "$SVC_URL/readyz")"
expect_eq "cancel when running" 409 "$(http_code "$SVC_URL/api/cancel")"

# Shorten the delay while it runs: the deadline has passed, so grace begins at once.
expect_eq "shutdown again" 202 "$(http_code "$SVC_URL/api/shutdown")"
wait_log 'running -> drain_delay'
expect_eq "set drain_delay" 200 "$(http_code "$SVC_URL/api/set?knob=drain_delay&ms=0")"
wait_exit "$SVC_PID"
expect_eq "exit status" 0 "$EXIT_STATUS"
log_has 'drain_delay -> grace' || fail "no move to grace"
log_has 'trigger api' || fail "trigger not recorded as api"
pass
