#!/bin/bash
# Log lines: plain "serviced: ..." on a terminal or file; with JOURNAL_STREAM set (stderr
# is the journal) each line starts with its syslog priority so journald keeps the level.
# The access log names client, request and status, static files included. A standard
# error whose reader has gone (| head, a restarted log collector) ends nothing: the log
# line is dropped, a download in flight at SIGTERM completes, the daemon exits 0 and
# removes its control socket.
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

# --- standard error on a pipe whose reader has gone -----------------------------------------
head -c 4194304 /dev/urandom >"$T/root/big.bin"
mkfifo "$T/err"
head -n 1 <"$T/err" >"$T/first" &
reader=$!
"$SERVICED" --root "$T/root" --listen 127.0.0.1:0 --control "$T/pipe.sock" --access-log \
	2>"$T/err" &
SVC_PID=$!
TEST_PIDS+=("$SVC_PID")
wait_exit "$reader"
port=$(sed -n 's/.*listening on http:\/\/[^ ]*:\([0-9][0-9]*\).*/\1/p' "$T/first")
[ -n "$port" ] || fail "no listening line: $(cat "$T/first")"
# Each request now logs a line into the broken pipe.
expect_eq "served with its log pipe broken" 200 "$(http_code "http://127.0.0.1:$port/a.txt")"
curl -s --limit-rate 2M -o "$T/big.out" "http://127.0.0.1:$port/big.bin" &
dl=$!
TEST_PIDS+=("$dl")
wait_until "the download to begin" test -s "$T/big.out"
kill -TERM "$SVC_PID"
wait_exit "$SVC_PID"
expect_eq "exit status with standard error broken" 0 "$EXIT_STATUS"
wait "$dl" || fail "the download was cut"
cmp -s "$T/big.out" "$T/root/big.bin" || fail "the download is not whole"
[ -e "$T/pipe.sock" ] && fail "the control socket was left behind"
pass
