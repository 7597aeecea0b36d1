#!/bin/bash
# The control socket's clients misbehave while the daemon works and drains:
#  - clients that connect and never send, or send one byte every 50 ms (some completing a
#    message each second, some writing one endless message) sit on the socket; meanwhile
#    other clients' status round trips and HTTP requests are answered;
#  - "servicectl shutdown --wait", killed with SIGKILL while it shows the drain's progress,
#    leaves the daemon unaffected: it keeps draining, its control socket keeps answering,
#    and it exits 0 once the downloads in flight are done, byte-exact.
# (Malformed and oversized messages, the client limit, 10,000 connections and EMFILE on
# the control socket are tests/ctl-limits.sh's.)
. "$top_srcdir/tests/ctl-lib.sh"
FAULTC=("python3" "$top_srcdir/tests/faultc.py")

mkdir -p "$T/root"
head -c $((256 * 1024)) /dev/urandom >"$T/root/file.bin"
echo hello >"$T/root/index.html"
ctl_start --root "$T/root" --grace 60s
wait_until "no control client left" no_clients

# --- slow control clients beside working ones -----------------------------------------------
slow=24 # of the daemon's 32 client slots
"${FAULTC[@]}" ctlidle "$CTL_SOCK" "$slow" "$T/slow.ready" "$T/slow.go" >"$T/slow.out" 2>&1 &
slow_pid=$!
TEST_PIDS+=("$slow_pid")
wait_until "the slow clients to connect" test -e "$T/slow.ready"
clients_at_least() { [ "$(ctl_clients)" -ge "$1" ]; }
wait_until "the daemon to hold the $slow slow clients" clients_at_least "$slow"

for i in $(seq 20); do
	out=$(timeout 10 "$SERVICECTL" -s "$CTL_SOCK" status) ||
		fail "status round trip $i beside the slow clients"
	grep -Eq '^state +running$' <<<"$out" || fail "status $i: $out"
	expect_eq "GET / beside the slow clients ($i)" 200 "$(http_code "$SVC_URL/")"
done
# A message sent one byte every 50 ms takes a second: each is answered before going on.
wait_until "each slow message answered" test -e "$T/slow.ready.answered"

# --- shutdown --wait killed halfway -------------------------------------------------------
FAULT_FILE=$T/root/file.bin "${FAULTC[@]}" slowread "$SVC_PORT" /file.bin 2 \
	"$T/dl.ready" "$T/dl.go" >"$T/dl.out" 2>&1 &
dl_pid=$!
TEST_PIDS+=("$dl_pid")
wait_until "the downloads to have their heads" test -e "$T/dl.ready"
in_flight() { [ "$(jget "$(ctl --json status)" 'd["requests_in_flight"]')" = "$1" ]; }
wait_until "two requests in flight" in_flight 2

# The binary itself, not the ctl function: SIGKILL must reach servicectl, not a subshell.
"$SERVICECTL" -s "$CTL_SOCK" shutdown --wait >"$T/wait.out" 2>&1 &
wait_pid=$!
TEST_PIDS+=("$wait_pid")
wait_until "shutdown --wait to show progress" grep -q 'running -> grace' "$T/wait.out"
kill -KILL "$wait_pid"
wait "$wait_pid" 2>/dev/null
expect_eq "still draining after the client died" grace "$(ctl_state)"
not_more_than() { [ "$(ctl_clients)" -le "$1" ]; }
wait_until "the killed client's connection to be closed" not_more_than "$slow"
expect_eq "downloads still in flight" 2 "$(jget "$(ctl --json status)" 'd["requests_in_flight"]')"

touch "$T/dl.go"
wait_exit "$dl_pid" 60
expect_eq "downloads: $(cat "$T/dl.out")" 0 "$EXIT_STATUS"
# The slow control clients are still connected: they do not hold the daemon up.
wait_exit "$SVC_PID"
expect_eq "daemon exit status" 0 "$EXIT_STATUS"
log_has 'during shutdown 2 requests completed, 0 cut' ||
	fail "summary: $(grep 'shutdown:' "$SVC_LOG")"
touch "$T/slow.go"
wait_exit "$slow_pid"
expect_eq "slow clients: $(cat "$T/slow.out")" 0 "$EXIT_STATUS"
pass
