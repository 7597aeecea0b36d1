#!/bin/bash
# 1,000 slow readers in flight at SIGTERM: each downloads 256 KiB through a small receive
# window at about 40 KB/s, so every one is mid-body when the shutdown begins. Every
# download accepted before the trigger completes byte-exact within grace, the listener
# refuses newcomers, and the daemon exits 0 having counted 1,000 completions in grace.
. "$top_srcdir/tests/lib.sh"
command -v python3 >/dev/null || skip "python3 is needed for the clients"
[ -n "$SERVICECTL" ] || skip "SERVICECTL is not set"
FAULTC=("python3" "$top_srcdir/tests/faultc.py")

n=1000
# The daemon (a socket and a file per download) and the client need room for 1,000.
ulimit -n 4096 2>/dev/null || skip "cannot raise the descriptor limit to 4096"

mkdir -p "$T/root"
head -c $((256 * 1024)) /dev/urandom >"$T/root/file.bin"
svc_start --root "$T/root" --grace 60s --max-connections 2000

in_flight_at_least() {
	local out
	out=$("$SERVICECTL" -s "$SVC_CONTROL" --json status) || return 1
	out=$(sed -n 's/.*"requests_in_flight":\([0-9]*\).*/\1/p' <<<"$out")
	[ "${out:-0}" -ge "$1" ]
}

FAULT_FILE=$T/root/file.bin "${FAULTC[@]}" slowread "$SVC_PORT" /file.bin "$n" \
	"$T/ready" "$T/go" >"$T/readers.out" 2>&1 &
readers=$!
TEST_PIDS+=("$readers")
wait_until "$n readers to have their response heads" test -e "$T/ready"
wait_until "$n requests in flight" in_flight_at_least "$n"

touch "$T/go"
kill -TERM "$SVC_PID"
wait_log 'running -> grace'
rc=0
curl -s -o /dev/null --max-time 5 "$SVC_URL/" || rc=$?
expect_eq "a new connection during grace (curl 7 = refused)" 7 "$rc"

wait_exit "$readers" 60
[ "$EXIT_STATUS" = 0 ] || fail "slow readers: $(cat "$T/readers.out")"
wait_exit "$SVC_PID" 60
expect_eq "daemon exit status" 0 "$EXIT_STATUS"
log_has "during shutdown $n requests completed, 0 cut" ||
	fail "summary does not count $n completed, 0 cut: $(grep 'shutdown:' "$SVC_LOG")"
pass
