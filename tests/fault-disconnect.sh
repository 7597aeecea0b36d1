#!/bin/bash
# Clients that hang up mid-request during a drain: uploads stopped mid-body (a GET with a
# body, which the daemon reads and drops: other methods are refused before their body is
# read) and downloads of a large file stopped after a few KB, half closing with a FIN,
# half with a RST. Their requests and connections leave the counts at once, so the drain
# ends as soon as they are gone, not when grace runs out.
#
# Exit status: 0. Exit 3 says the shutdown cut work it had accepted; a client that hangs
# up takes its request away itself (counted as aborted, not cut), and grace ended with
# nothing in flight, so there was nothing the shutdown could have finished. "servicectl
# shutdown --wait" agrees: exit 0.
. "$top_srcdir/tests/lib.sh"
command -v python3 >/dev/null || skip "python3 is needed for the clients"
[ -n "$SERVICECTL" ] || skip "SERVICECTL is not set"
FAULTC=("python3" "$top_srcdir/tests/faultc.py")
n=6

ctl() { "$SERVICECTL" -s "$SVC_CONTROL" "$@"; }
# status: reads the daemon's status into STATUS; field KEY: one of its scalar fields.
status() { STATUS=$(ctl --json status 2>/dev/null); }
field() { sed -n "s/.*\"$1\":\"\{0,1\}\([^,}\"]*\).*/\1/p" <<<"$STATUS"; }
in_flight_is() { status && [ "$(field requests_in_flight)" = "$1" ]; }
in_state_with() { status && [ "$(field state)" = "$1" ] && [ "$(field requests_in_flight)" = "$2" ]; }
drained() { status && [ "$(field requests_in_flight)" = 0 ] && [ "$(field connections_open)" = 0 ]; }
# events_show FILE: the shutdown --wait --json stream ends in "stopped", and on its way
# the counts reached zero in flight and zero connections.
events_show() {
	python3 - "$1" <<'PY' || fail "the drain's events: $(cat "$1")"
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
assert ev[0]["ok"] is True, ev[0]
last = ev[-1]
assert last.get("event") == "state" and last["to"] == "stopped", last
gm = [e for e in ev if e.get("event") == "state" and e["from"] == "grace"]
assert gm and gm[0]["to"] == "mercy" and gm[0]["requests_in_flight"] == 0, gm
assert last["requests_in_flight"] == 0 and last["connections_open"] == 0, last
PY
}

# clients MODE ARGS...: starts the clients, waits until their n requests are in flight.
clients() {
	rm -f "$T/ready" "$T/go"
	"${FAULTC[@]}" "$@" "$T/ready" "$T/go" >"$T/clients.out" 2>&1 &
	client_pid=$!
	TEST_PIDS+=("$client_pid")
	wait_until "the clients to be in place" test -e "$T/ready"
	wait_until "$n requests in flight" in_flight_is "$n"
}

hang_up() {
	touch "$T/go"
	wait_exit "$client_pid"
	expect_eq "clients: $(cat "$T/clients.out")" 0 "$EXIT_STATUS"
}

# --- uploads abandoned in grace -----------------------------------------------------------
svc_start --grace 1h --mercy 1h
clients upload "$SVC_PORT" GET "$n"
ctl --json shutdown --wait >"$T/wait.up" 2>&1 &
wait_pid=$!
TEST_PIDS+=("$wait_pid")
wait_until "grace, with the uploads in flight" in_state_with grace "$n"
hang_up
# Grace is an hour: only the counts reaching zero can end it within the bound.
wait_exit "$SVC_PID"
expect_eq "daemon exit status after abandoned uploads" 0 "$EXIT_STATUS"
wait_exit "$wait_pid"
expect_eq "shutdown --wait after abandoned uploads" 0 "$EXIT_STATUS"
events_show "$T/wait.up"
python3 - "$T/wait.up" <<'PY' || fail "the uploads were not counted as aborted: $(tail -n 1 "$T/wait.up")"
import json, sys
last = [json.loads(l) for l in open(sys.argv[1])][-1]
assert sum(last["cut"].values()) == 0 and sum(last["aborted"].values()) >= 1, last
PY

# --- downloads abandoned in the drain delay: the counts return to zero, readable ----------
mkdir -p "$T/root"
head -c $((16 * 1024 * 1024)) /dev/urandom >"$T/root/big.bin"
svc_start --root "$T/root" --drain-delay 1h --grace 1h --mercy 1h
clients download "$SVC_PORT" /big.bin "$n"
ctl -q shutdown
wait_until "the drain delay" in_state_with drain_delay "$n"
hang_up
wait_until "zero in flight, zero connections" drained
expect_eq "state once the clients are gone" drain_delay "$(field state)"
ctl -q shutdown # skips to grace, with nothing to wait for
wait_exit "$SVC_PID"
expect_eq "daemon exit status after abandoned downloads (drain delay)" 0 "$EXIT_STATUS"

# --- downloads abandoned in grace -----------------------------------------------------------
svc_start --root "$T/root" --grace 1h --mercy 1h
clients download "$SVC_PORT" /big.bin "$n"
ctl --json shutdown --wait >"$T/wait.down" 2>&1 &
wait_pid=$!
TEST_PIDS+=("$wait_pid")
wait_until "grace, with the downloads in flight" in_state_with grace "$n"
hang_up
wait_exit "$SVC_PID"
expect_eq "daemon exit status after abandoned downloads (grace)" 0 "$EXIT_STATUS"
wait_exit "$wait_pid"
events_show "$T/wait.down"
pass
