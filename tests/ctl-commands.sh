#!/bin/bash
# Every servicectl command against a real daemon, in both printers, with the exit statuses
# servicectl(1) promises: 0 success, 1 refused, 2 usage, 3 not reachable.
. "$top_srcdir/tests/ctl-lib.sh"

# Before any daemon: no socket is "not reachable", bad grammar is usage.
expect_eq "status without a daemon" 3 "$(rc_of ctl status)"
expect_eq "no command" 2 "$(rc_of ctl)"
expect_eq "unknown command" 2 "$(rc_of ctl frobnicate)"
expect_eq "ambiguous prefix" 2 "$(rc_of ctl s)"
expect_eq "missing argument" 2 "$(rc_of ctl set grace)"
expect_eq "extra argument" 2 "$(rc_of ctl status now)"
expect_eq "bad duration" 2 "$(rc_of ctl set grace 5x)"
expect_eq "unknown key" 2 "$(rc_of ctl get timeout)"
expect_eq "option of another command" 2 "$(rc_of ctl status --grace 1s)"
expect_eq "unknown option" 2 "$(rc_of ctl --frob status)"
expect_eq "--help" 0 "$(rc_of ctl --help)"
expect_eq "-V" 0 "$(rc_of "$SERVICECTL" -V)"
msg=$(ctl stauts 2>&1)
case $msg in *"did you mean 'status'?"*) ;; *) fail "no suggestion for 'stauts': $msg" ;; esac
# SERVICED_CONTROL names the socket when -s does not.
expect_eq "SERVICED_CONTROL to a missing socket" 3 \
	"$(rc_of env SERVICED_CONTROL="$T/nothing.sock" "$SERVICECTL" ping)"
# --help lists every command of the protocol that servicectl offers.
help=$(ctl --help)
for c in status shutdown cancel get set watch ping version reload; do
	grep -q "^  $c" <<<"$help" || fail "--help does not list $c"
done

ctl_start --grace 10s --mercy 5s --drain-delay 0

# The socket is owner-only by default.
expect_eq "socket mode" 600 "$(stat -c %a "$CTL_SOCK")"

# ping, version
expect_eq "ping" pong "$(ctl ping)"
expect_eq "ping -q prints nothing" "" "$(ctl -q ping)"
out=$(ctl --json ping)
expect_eq "ping --json" True "$(jget "$out" 'd["ok"]')"
out=$(ctl --json version)
expect_eq "version" 0.1.0 "$(jget "$out" 'd["version"]')"
expect_eq "protocol" 1 "$(jget "$out" 'd["protocol"]')"
ctl version | grep -q '^serviced 0.1.0, protocol 1$' || fail "human version output"
expect_eq "unique prefix" pong "$(ctl pi)"
expect_eq "SERVICED_CONTROL" pong "$(SERVICED_CONTROL=$CTL_SOCK "$SERVICECTL" ping)"

# status: every field of the contract, typed.
out=$(ctl --json status)
check='
fields = ["state", "trigger", "phase_remaining_ms", "phase_elapsed_ms", "uptime_ms",
          "requests_in_flight", "connections_open", "connections_idle", "streams_open",
          "requests_suspended", "requests_total", "connections_total", "completed", "cut",
          "grace_ms", "mercy_ms", "drain_delay_ms", "force_ms", "pid", "protocol", "version"]
missing = [f for f in fields if f not in d]
states = ["running", "drain_delay", "grace", "mercy", "force", "stopped"]
bad = [s for s in states if not isinstance(d["completed"].get(s), int) or not isinstance(d["cut"].get(s), int)]
print("ok" if not missing and not bad and d["ok"] is True else "missing %s, per-state %s" % (missing, bad))'
expect_eq "status fields" ok "$(jrun "$out" "$check")"
expect_eq "state" running "$(jget "$out" 'd["state"]')"
expect_eq "trigger" none "$(jget "$out" 'd["trigger"]')"
expect_eq "phase_remaining_ms" -1 "$(jget "$out" 'd["phase_remaining_ms"]')"
expect_eq "pid" "$SVC_PID" "$(jget "$out" 'd["pid"]')"
expect_eq "grace_ms" 10000 "$(jget "$out" 'd["grace_ms"]')"
# The same reply through the human printer.
human=$(ctl status)
grep -Eq '^state +running$' <<<"$human" || fail "human status has no state line: $human"
grep -Eq '^grace +10s$' <<<"$human" || fail "human status has no grace line: $human"
grep -Eq "^pid +$SVC_PID\$" <<<"$human" || fail "human status has no pid line: $human"

# Requests are counted.
for _ in 1 2 3; do
	expect_eq "GET /" 200 "$(http_code "$SVC_URL/")"
done
out=$(ctl --json status)
[ "$(jget "$out" 'd["requests_total"]')" -ge 3 ] || fail "requests_total below 3: $out"

# get / set
out=$(ctl --json get)
expect_eq "get all" "10000 5000 0 1000" \
	"$(jget "$out" '"%d %d %d %d" % (d["grace_ms"], d["mercy_ms"], d["drain_delay_ms"], d["force_ms"])')"
out=$(ctl --json get mercy)
expect_eq "get mercy" "5000 False" "$(jget "$out" '"%d %s" % (d["mercy_ms"], "grace_ms" in d)')"
expect_eq "get drain-delay (hyphen)" "drain delay    0s" "$(ctl get drain-delay)"
out=$(ctl --json set grace 4.5s)
expect_eq "set grace replies the new values" 4500 "$(jget "$out" 'd["grace_ms"]')"
expect_eq "set took" "grace          4.5s" "$(ctl get grace)"
expect_eq "set force" 0 "$(rc_of ctl set force 250ms)"
expect_eq "force now" 250 "$(jget "$(ctl --json get force)" 'd["force_ms"]')"
# Over a day: refused by servicectl before sending (2).
expect_eq "set grace 25h" 2 "$(rc_of ctl set grace 25h)"

# cancel with nothing to cancel: refused (1), as JSON on stdout in --json mode.
expect_eq "cancel while running" 1 "$(rc_of ctl cancel)"
out=$(ctl --json cancel) && fail "cancel --json succeeded"
expect_eq "cancel error code" wrong_state "$(jget "$out" 'd["error"]["code"]')"
expect_eq "cancel ok" False "$(jget "$out" 'd["ok"]')"
err=$(ctl cancel 2>&1 >/dev/null)
case $err in *"no shutdown to cancel (wrong_state)"*) ;; *) fail "cancel error text: $err" ;; esac

# A shutdown in its drain delay can be cancelled.
out=$(ctl --json shutdown --drain-delay 1h --grace 3s)
expect_eq "shutdown reply" True "$(jget "$out" 'd["ok"]')"
expect_eq "shutdown's durations applied first" "3600000 3000" \
	"$(jget "$out" '"%d %d" % (d["drain_delay_ms"], d["grace_ms"])')"
expect_eq "state after shutdown" drain_delay "$(jget "$out" 'd["state"]')"
expect_eq "trigger" control "$(jget "$out" 'd["trigger"]')"
[ "$(http_code "$SVC_URL/readyz")" = 503 ] || fail "/readyz is not 503 in the drain delay"
expect_eq "cancel in drain delay" 0 "$(rc_of ctl cancel)"
expect_eq "state after cancel" running "$(ctl_state)"
expect_eq "/readyz after cancel" 200 "$(http_code "$SVC_URL/readyz")"

# reload: serviced re-reads its configuration (none here: the command line stays).
expect_eq "reload" "configuration reloaded" "$(ctl reload)"
expect_eq "state after reload" running "$(ctl_state)"

# A second daemon on the same socket is refused, and the first keeps it.
"$SERVICED" --listen 127.0.0.1:0 --control "$CTL_SOCK" >"$T/second.log" 2>&1 &
second=$!
TEST_PIDS+=("$second")
wait_exit "$second"
[ "$EXIT_STATUS" -ne 0 ] || fail "a second daemon on a live socket started"
grep -q "control socket $CTL_SOCK: another serviced is running" "$T/second.log" ||
	fail "second daemon's message: $(cat "$T/second.log")"
expect_eq "the first still answers" pong "$(ctl ping)"

# shutdown --now: straight through; the socket file goes with the daemon.
expect_eq "set drain_delay back" 0 "$(rc_of ctl set drain_delay 0)"
ctl shutdown --now | grep -q '^shutdown requested' || fail "human shutdown output"
wait_exit "$SVC_PID"
expect_eq "daemon exit status" 0 "$EXIT_STATUS"
[ -e "$CTL_SOCK" ] && fail "the socket file outlived the daemon"
expect_eq "status after exit" 3 "$(rc_of ctl status)"

# A stale socket file (its daemon died) is replaced; a non-socket file is not touched.
python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$CTL_SOCK"
[ -S "$CTL_SOCK" ] || fail "could not make a stale socket"
ctl_start --control-mode 0660
expect_eq "mode from --control-mode" 660 "$(stat -c %a "$CTL_SOCK")"
expect_eq "ping over the replaced socket" pong "$(ctl ping)"
ctl -q shutdown
wait_exit "$SVC_PID"

# reload re-reads the configuration file; a bad one is refused ("failed", exit 1) and the
# running configuration stays.
echo '{"grace": "7s"}' >"$T/conf.json"
ctl_start --config "$T/conf.json"
expect_eq "grace from the file" 7000 "$(jget "$(ctl --json get grace)" 'd["grace_ms"]')"
echo '{"grace": "soon"}' >"$T/conf.json"
out=$(ctl --json reload) && fail "a reload of a bad file succeeded"
expect_eq "bad reload code" failed "$(jget "$out" 'd["error"]["code"]')"
expect_eq "bad reload exit status" 1 "$(rc_of ctl reload)"
expect_eq "grace kept" 7000 "$(jget "$(ctl --json get grace)" 'd["grace_ms"]')"
echo '{"grace": "9s"}' >"$T/conf.json"
expect_eq "good reload" 0 "$(rc_of ctl reload)"
expect_eq "grace reloaded" 9000 "$(jget "$(ctl --json get grace)" 'd["grace_ms"]')"
ctl -q shutdown
wait_exit "$SVC_PID"

echo "not a socket" >"$T/file"
"$SERVICED" --listen 127.0.0.1:0 --control "$T/file" >"$T/third.log" 2>&1 &
third=$!
TEST_PIDS+=("$third")
wait_exit "$third"
[ "$EXIT_STATUS" -ne 0 ] || fail "the daemon started over a regular file"
grep -q "exists and is not a socket" "$T/third.log" || fail "message: $(cat "$T/third.log")"
expect_eq "the regular file is intact" "not a socket" "$(cat "$T/file")"
pass
