#!/bin/bash
# tests/systemd/watchdog.sh: under WatchdogSec=2s serviced keeps systemd's watchdog fed while
# it serves under load and while it drains: the unit is never restarted and never ends with
# Result=watchdog.
#
# Which drain can trip the watchdog: systemd disarms it once the unit leaves "running"
# (service_set_state(): only start-post, running and reload keep it), so after "systemctl
# stop" (stop-sigterm) or serviced's own STOPPING=1 at grace there is nothing to feed. A
# drain delay begun through the control socket is the drain during which the unit is still
# running, watched, and serviced must keep sending WATCHDOG=1: that is the one tested here,
# with a slow download in flight, followed by grace until the download is done.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/systemd/serviced-lib.sh" || exit 99

sd_units
sd_dropin serviced.service test <<EOF
[Service]
ExecStart=
ExecStart=$SD_BIN/serviced --control \${RUNTIME_DIRECTORY}/control.sock --listen 127.0.0.1:0 --root /run/test-www
# 2 s, not less: on a loaded 2-core CI machine a 1 s watchdog was seen to trip from
# scheduling delay alone (pings go out every second, at half the interval).
WatchdogSec=2s
EOF
sd_record_result

printf 'hello\n' >"$T/small.txt"
# 16 MiB at 4 MiB/s: 4 s, serviced sending for 3 s or more of it.
head -c $((16 * 1024 * 1024)) /dev/zero >"$T/big.bin"
sd_boot
sd_put "$T/small.txt" /run/test-www/small.txt
sd_put "$T/big.bin" /run/test-www/big.bin
mgr_ctl start serviced.service || fail "systemctl start failed"
port=$(sd_port)
url=http://127.0.0.1:$port
pid=$(mgr_prop serviced.service MainPID)
expect_eq WatchdogUSec 2s "$(mgr_prop serviced.service WatchdogUSec)"

# fed_since STAMP: systemd has had a WATCHDOG=1 since STAMP (WatchdogTimestampMonotonic).
fed_since() {
	[ "$(mgr_prop serviced.service WatchdogTimestampMonotonic)" -gt "$1" ]
}
watched() {
	expect_eq "$1: ActiveState" active "$(mgr_prop serviced.service ActiveState)"
	expect_eq "$1: NRestarts" 0 "$(mgr_prop serviced.service NRestarts)"
	expect_eq "$1: Result" success "$(mgr_prop serviced.service Result)"
	expect_eq "$1: MainPID" "$pid" "$(mgr_prop serviced.service MainPID)"
	stamp=$(mgr_prop serviced.service WatchdogTimestampMonotonic)
	wait_until "$1: a WATCHDOG=1" fed_since "$stamp"
}
watched "after start"

# Load for 3 s: three times the watchdog interval.
if command -v wrk >/dev/null; then
	wrk -t 2 -c 32 -d 3s "$url/small.txt" >"$T/wrk.out" 2>&1 || fail "wrk: $(cat "$T/wrk.out")"
	grep -q 'Requests/sec' "$T/wrk.out" || fail "wrk made no requests: $(cat "$T/wrk.out")"
	grep -q 'Non-2xx\|Socket errors' "$T/wrk.out" && fail "errors under load: $(cat "$T/wrk.out")"
else
	end=$((SECONDS + 3))
	while [ "$SECONDS" -lt "$end" ]; do
		curl -sf -o /dev/null "$url/small.txt" "$url/small.txt" "$url/small.txt" ||
			fail "a request failed under load"
	done
fi
watched "after load"

# The drain delay: SubState stays "running", /readyz says 503, and systemd keeps watching.
# 16 MiB at 2 MiB/s: 8 s, well past the 4 s drain delay.
sd_slow_get "$port" /big.bin $((2 * 1024 * 1024)) "$T/out"
get=$SD_GET_PID
wait_until "the download to start" sd_started "$T/out"
sd_ctl -q shutdown --drain-delay 4s || fail "servicectl shutdown failed"
mgr_wait_prop serviced.service StatusText "draining (drain_delay)*"
expect_eq "/readyz in the drain delay" 503 "$(http_code "$url/readyz")"
stamp=$(mgr_prop serviced.service WatchdogTimestampMonotonic)
for n in 1 2 3; do
	expect_eq "SubState in the drain delay" running "$(mgr_prop serviced.service SubState)"
	wait_until "WATCHDOG=1 number $n in the drain delay" fed_since "$stamp"
	stamp=$(mgr_prop serviced.service WatchdogTimestampMonotonic)
done
# Then grace, the download still in flight, until it is done and serviced exits.
mgr_wait_prop serviced.service StatusText "draining (grace): 1 requests in flight*"
wait_exit "$get"
expect_eq "download exit status" 0 "$EXIT_STATUS"
wait_until "the unit to stop" test -s "$SD_RESULT"
expect_eq "result of the drain" "success exited 0" "$(cat "$SD_RESULT")"
! mgr_journal -u serviced.service | grep -q 'atchdog timeout' || fail "the watchdog tripped"

mgr_shutdown
pass "serviced feeds the systemd watchdog under load and while draining"
