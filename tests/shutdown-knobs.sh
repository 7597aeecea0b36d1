#!/bin/bash
# Raising grace during a drain lets a slow download finish that the old grace would have
# cut; a request suspended by the application is answered 503 when mercy begins.
. "$top_srcdir/tests/lib.sh"

# --- raise grace mid-drain ------------------------------------------------------------
mkdir -p "$T/root"
head -c $((48 * 1024 * 1024)) /dev/urandom >"$T/root/big.bin"
# Grace of 3 s: a 48 MB download at 6 MB/s cannot finish in it.
svc_start --root "$T/root" --grace 3s --mercy 1s
python3 "$top_srcdir/tests/httpc.py" download "$SVC_PORT" /big.bin "$T/out" 6000000 &
dl=$!
TEST_PIDS+=($dl)
wait_until "the download to be receiving" test -s "$T/out"
kill -TERM "$SVC_PID"
wait_log 'running -> grace'
out=$("$SERVICECTL" -s "$SVC_CONTROL" --json set grace 120s) || fail "servicectl set grace failed"
# The change must land inside the old grace to prove anything; a machine so loaded that
# 3 s passed first cannot show it.
state=$("$SERVICECTL" -s "$SVC_CONTROL" --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])')
[ "$state" = grace ] || skip "grace ended before the change arrived (state $state)"
wait_exit "$SVC_PID" 60
expect_eq "exit status after raising grace" 0 "$EXIT_STATUS"
rc=0
wait "$dl" || rc=$?
expect_eq "download exit status (0 = whole body)" 0 "$rc"
cmp -s "$T/root/big.bin" "$T/out" || fail "the download is not byte-exact"
log_has 'grace -> mercy' || fail "no move to mercy"

# --- a suspended request at mercy -----------------------------------------------------
SVC_BIN=$TESTAPP svc_start --grace 200ms --mercy 5s
code_file=$T/suspend.code
curl -s -o /dev/null -w '%{http_code}' "$SVC_URL/suspend" >"$code_file" &
sus=$!
TEST_PIDS+=($sus)
wait_log 'testapp: suspend begin'
kill -TERM "$SVC_PID"
wait "$sus"
expect_eq "status of the suspended request" 503 "$(cat "$code_file")"
wait_exit "$SVC_PID"
expect_eq "exit status (the suspended request was cut at grace's end)" 3 "$EXIT_STATUS"
log_has 'mercy: 1 suspended requests answered 503' || fail "mercy did not report the 503"
pass
