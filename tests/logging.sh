#!/bin/bash
# Log lines: plain "serviced: ..." on a terminal or file; with JOURNAL_STREAM set (stderr
# is the journal) each line starts with its syslog priority so journald keeps the level.
# The access log names client, request and status, static files included.
. "$top_srcdir/tests/lib.sh"

mkdir -p "$T/root"
echo hello >"$T/root/a.txt"

svc_start --root "$T/root" --access-log
curl -s -o /dev/null "$SVC_URL/a.txt"
curl -s -o /dev/null "$SVC_URL/missing"
wait_log 'access: 127\.0\.0\.1 "GET /missing" 404'
log_has 'access: 127\.0\.0\.1 "GET /a\.txt" 200' || fail "no access line for a served file"
log_has '^serviced: listening on http://' || fail "plain lines lack the serviced: prefix"
kill -TERM "$SVC_PID"
wait_exit "$SVC_PID"
expect_eq "exit status" 0 "$EXIT_STATUS"

# Under journald: priority prefixes, notice (5) for transitions, info (6) for the rest.
export JOURNAL_STREAM=8:12345
svc_start
unset JOURNAL_STREAM
kill -TERM "$SVC_PID"
wait_exit "$SVC_PID"
log_has '^<6>listening on http://' || fail "no <6> prefix on the listening line"
log_has '^<5>state running -> grace' || fail "no <5> prefix on a transition"
log_has '^serviced: ' && fail "plain prefix used under journald"
pass
