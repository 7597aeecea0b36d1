#!/bin/bash
# tests/systemd/smoke.sh: proves the private-manager harness (manager.sh) works, without
# serviced: a Type=notify shell service is started, reports its status and is stopped, and
# each step behaves as systemd promises. If this test fails, the serviced systemd tests
# cannot be trusted either.

: "${SERVICED:=unused}" # lib.sh insists on it; this test does not run the daemon
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/systemd/manager.sh" || exit 99

units=$T/units
mgr_stub_units "$units"

# The service holds back READY until the test opens the gate, so the test can see that
# "systemctl start" really waits for it. SIGTERM ends it cleanly, as a daemon would.
cat >"$T/notify.sh" <<EOF
#!/bin/sh
trap 'exit 0' TERM
while [ ! -e "$T/gate" ]; do sleep 0.01; done
systemd-notify --ready --status="smoke: serving"
sleep infinity &
wait
EOF
cat >"$units/smoke.service" <<EOF
[Unit]
Description=harness smoke test

[Service]
Type=notify
NotifyAccess=all
ExecStart=/bin/sh $T/notify.sh
ExecStopPost=/bin/sh -c 'echo "\$\$SERVICE_RESULT \$\$EXIT_CODE \$\$EXIT_STATUS" >$T/result'
TimeoutStartSec=$WAIT_BOUND
TimeoutStopSec=$WAIT_BOUND
EOF

mgr_boot "$units"

mgr_ctl start smoke.service &
start=$!
TEST_PIDS+=("$start")
mgr_wait_prop smoke.service SubState start
kill -0 "$start" 2>/dev/null || fail "systemctl start returned before READY=1"

touch "$T/gate"
gone() { ! kill -0 "$1" 2>/dev/null; }
wait_until "systemctl start to return" gone "$start"
wait "$start" || fail "systemctl start failed"
expect_eq ActiveState active "$(mgr_prop smoke.service ActiveState)"
expect_eq StatusText "smoke: serving" "$(mgr_prop smoke.service StatusText)"

mgr_ctl stop smoke.service || fail "systemctl stop failed"
expect_eq "ActiveState after stop" inactive "$(mgr_prop smoke.service ActiveState)"
[ -f "$T/result" ] || fail "ExecStopPost did not run"
expect_eq "ExecStopPost result" "success exited 0" "$(cat "$T/result")"

mgr_shutdown
pass "systemd harness smoke"
