#!/bin/bash
# Slow downloads in flight at SIGTERM complete byte-exact, new connections are refused
# once grace starts, and the daemon exits 0 after the last one.
. "$top_srcdir/tests/lib.sh"

mkdir -p "$T/root"
head -c $((24 * 1024 * 1024)) /dev/urandom >"$T/root/big.bin"
svc_start --root "$T/root" --grace 60s

pids=()
for i in 1 2 3; do
	python3 "$top_srcdir/tests/httpc.py" download "$SVC_PORT" /big.bin "$T/out.$i" 8000000 &
	pids+=($!)
	TEST_PIDS+=($!)
done
started() { for i in 1 2 3; do [ -s "$T/out.$i" ] || return 1; done; }
wait_until "all three downloads to be receiving" started

kill -TERM "$SVC_PID"
wait_log 'running -> grace'
# The listener is closed: a new connection is refused, not left hanging.
rc=0
curl -s -o /dev/null --max-time 5 "$SVC_URL/" || rc=$?
expect_eq "curl exit status for a new connection during grace (7 = refused)" 7 "$rc"

wait_exit "$SVC_PID"
expect_eq "daemon exit status" 0 "$EXIT_STATUS"
for i in 1 2 3; do
	rc=0
	wait "${pids[$((i - 1))]}" || rc=$?
	expect_eq "download $i exit status (0 = whole body)" 0 "$rc"
	cmp -s "$T/root/big.bin" "$T/out.$i" || fail "download $i is not byte-exact"
done
log_has 'during shutdown 3 requests completed, 0 cut' || fail "summary does not count 3 completed, 0 cut"
pass
