#!/bin/bash
# servicectl during a real drain: watch streams every transition, shutdown --wait follows a
# slow download to the end (exit 0) or reports it cut after "set grace" shortened the drain
# (exit 1), and both notice a daemon that vanishes without stopping (exit 3).
. "$top_srcdir/tests/ctl-lib.sh"

mkdir -p "$T/root"
head -c $((16 * 1024 * 1024)) /dev/urandom >"$T/root/big.bin"

in_flight() {
	[ "$(jget "$(ctl --json status)" 'd["requests_in_flight"]')" = "$1" ]
}
receiving() {
	[ -s "$1" ]
}
has_lines() {
	[ "$(wc -l <"$1")" -ge "$2" ]
}

# --- A: the download completes within grace; --wait exits 0 -------------------------------
ctl_start --root "$T/root" --grace 60s

ctl watch --json >"$T/watch.json" 2>"$T/watch.err" &
watch_pid=$!
TEST_PIDS+=("$watch_pid")
wait_until "the watch reply" has_lines "$T/watch.json" 1
expect_eq "watch reply" "True True running" \
	"$(jget "$(head -n 1 "$T/watch.json")" '"%s %s %s" % (d["ok"], d["watching"], d["state"])')"

# The paced client keeps the request in flight (curl's could take the whole file into the
# kernel's loopback buffers at once; see tests/httpc.py).
python3 "$top_srcdir/tests/httpc.py" download "$SVC_PORT" /big.bin "$T/out.a" 4000000 &
curl_pid=$!
TEST_PIDS+=("$curl_pid")
wait_until "the download to be receiving" receiving "$T/out.a"
wait_until "one request in flight" in_flight 1

ctl shutdown --wait >"$T/wait.a" 2>&1 &
wait_pid=$!
TEST_PIDS+=("$wait_pid")

wait_exit "$wait_pid" 60
expect_eq "shutdown --wait exit status (nothing cut)" 0 "$EXIT_STATUS"
rc=0
wait "$curl_pid" || rc=$?
expect_eq "download exit status (0 = whole body)" 0 "$rc"
cmp -s "$T/root/big.bin" "$T/out.a" || fail "the download is not byte-exact"
grep -q '^shutdown requested: grace (by control)$' "$T/wait.a" || fail "wait output: $(cat "$T/wait.a")"
grep -q 'running -> grace (by control): 1 in flight' "$T/wait.a" || fail "wait output: $(cat "$T/wait.a")"
grep -q 'force -> stopped (by control): 1 requests completed, 0 cut$' "$T/wait.a" ||
	fail "wait output: $(cat "$T/wait.a")"
wait_exit "$SVC_PID"
expect_eq "daemon exit status" 0 "$EXIT_STATUS"

wait_exit "$watch_pid"
expect_eq "watch exit status after the daemon stopped" 0 "$EXIT_STATUS"
python3 - "$T/watch.json" <<'EOF' || fail "watch events: $(cat "$T/watch.json")"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
events = lines[1:]
states = [(e["from"], e["to"]) for e in events if e["event"] == "state"]
want = [("running", "grace"), ("grace", "mercy"), ("mercy", "force"), ("force", "stopped")]
assert states == want, states
assert all(e["event"] in ("state", "counts", "durations") for e in events), events
assert any(e["event"] == "counts" for e in events), "no counts event"
last = events[-1]
assert last["event"] == "state" and last["to"] == "stopped" and last["state"] == "stopped", last
assert sum(last["cut"].values()) == 0, last["cut"]
assert last["completed"]["grace"] == 1, last["completed"]
for e in events:
    assert "requests_in_flight" in e and "grace_ms" in e, e
    assert e["event"] == "counts" or e["trigger"] == "control", e
EOF

# --- B: set grace shortens a live drain; --wait reports the cut with exit 1 ---------------
ctl_start --root "$T/root" --grace 60s
# Far larger than the loopback buffers (up to 32 MB here), so it is surely in flight.
truncate -s 512M "$T/root/huge.bin"
curl -s --limit-rate 512K -o "$T/out.b" "$SVC_URL/huge.bin" &
curl_pid=$!
TEST_PIDS+=("$curl_pid")
wait_until "the download to be receiving" receiving "$T/out.b"
wait_until "one request in flight" in_flight 1

ctl shutdown --wait --json >"$T/wait.b" 2>&1 &
wait_pid=$!
TEST_PIDS+=("$wait_pid")
wait_until "grace" state_is grace
out=$(ctl --json status)
[ "$(jget "$out" 'd["phase_remaining_ms"]')" -gt 30000 ] || fail "grace is not 60s long: $out"
expect_eq "still in flight" 1 "$(jget "$out" 'd["requests_in_flight"]')"

out=$(ctl --json set grace 300ms)
expect_eq "set grace during the drain" 300 "$(jget "$out" 'd["grace_ms"]')"

wait_exit "$wait_pid" 30
expect_eq "shutdown --wait exit status (a request was cut)" 1 "$EXIT_STATUS"
wait_exit "$SVC_PID"
expect_eq "daemon exit status (cut)" 3 "$EXIT_STATUS"
rc=0
wait "$curl_pid" || rc=$?
[ "$rc" -ne 0 ] || fail "the cut download completed"
python3 - "$T/wait.b" <<'EOF' || fail "shutdown --wait --json output: $(cat "$T/wait.b")"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert lines[0]["ok"] is True and lines[0]["state"] == "grace", lines[0]
last = lines[-1]
assert last["event"] == "state" and last["to"] == "stopped", last
assert sum(last["cut"].values()) >= 1, last["cut"]
assert last["grace_ms"] == 300, last
# The change of grace was announced while the drain ran.
assert any(l.get("event") == "durations" and l["grace_ms"] == 300 for l in lines), lines
EOF

# --- C: the daemon vanishes mid-shutdown: --wait and watch exit 3 -------------------------
ctl_start --drain-delay 1h
ctl watch >"$T/watch.c" 2>&1 &
watch_pid=$!
TEST_PIDS+=("$watch_pid")
wait_until "the watch reply" has_lines "$T/watch.c" 1
ctl shutdown --wait >"$T/wait.c" 2>&1 &
wait_pid=$!
TEST_PIDS+=("$wait_pid")
wait_until "the drain delay" state_is drain_delay
wait_until "the waiting client to see the drain delay" grep -q 'running -> drain_delay' "$T/wait.c"
kill -9 "$SVC_PID"
wait_exit "$wait_pid"
expect_eq "shutdown --wait when the daemon is killed" 3 "$EXIT_STATUS"
grep -q 'went away before it stopped' "$T/wait.c" || fail "wait output: $(cat "$T/wait.c")"
wait_exit "$watch_pid"
expect_eq "watch when the daemon is killed" 3 "$EXIT_STATUS"

# --- D: on a terminal, --wait keeps one updating line ---------------------------------------
if command -v script >/dev/null; then
	rm -f "$CTL_SOCK" # the killed daemon's (stale) socket is replaced anyway; start clean
	ctl_start --drain-delay 500ms
	script -qec "$SERVICECTL -s $CTL_SOCK shutdown --wait" /dev/null >"$T/tty.out" 2>&1 &
	tty_pid=$!
	TEST_PIDS+=("$tty_pid")
	wait_exit "$tty_pid"
	expect_eq "shutdown --wait on a terminal" 0 "$EXIT_STATUS"
	grep -q $'\r' "$T/tty.out" || fail "no carriage return on a terminal: $(cat -A "$T/tty.out")"
	grep -q 'stopped: 0 requests cut' "$T/tty.out" || fail "tty output: $(cat -A "$T/tty.out")"
	grep -q 'drain_delay .*left' "$T/tty.out" || fail "no countdown in: $(cat -A "$T/tty.out")"
	wait_exit "$SVC_PID"
fi
pass
