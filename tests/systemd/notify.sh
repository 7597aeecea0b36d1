#!/bin/bash
# tests/systemd/notify.sh: serviced's notifications as a real systemd reads them, through the
# shipped serviced.service. "systemctl start" returns once serviced is ready (READY=1);
# StatusText= follows the counts; "systemctl reload" (ExecReload=, SIGHUP) applies a changed
# --config file, and a broken one leaves the running configuration and the unit alone.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/systemd/serviced-lib.sh" || exit 99
command -v ss >/dev/null || skip "needs ss"

conf=/run/test-etc/serviced.json
sd_units
sd_dropin serviced.service test <<EOF
[Service]
ExecStart=
ExecStart=$SD_BIN/serviced --control \${RUNTIME_DIRECTORY}/control.sock --config $conf
EOF
sd_record_result

# config VALUE-OF-GRACE: the whole file, as an administrator would edit it.
config() {
	printf '{\n  "listen": "127.0.0.1:0",\n  "root": "/run/test-www",\n  "grace": "%s"\n}\n' \
		"$1" >"$T/serviced.json"
	sd_put "$T/serviced.json" "$conf"
}

# Larger than a socket's send buffer can grow to (4 MiB here): a slow reader keeps the
# request in flight.
head -c $((16 * 1024 * 1024)) /dev/zero >"$T/big.bin"
sd_boot
sd_put "$T/big.bin" /run/test-www/big.bin
config 7s

# Type=notify: the start job ends with READY=1, which serviced sends once it listens. So
# the moment systemctl returns, the unit is active and the daemon has its listening socket.
# (The shipped Type= is what makes this a promise: under Type=simple the checks below would
# race the daemon's start-up, and mostly win.)
expect_eq "Type of the unit" notify "$(mgr_prop serviced.service Type)"
mgr_ctl start serviced.service || fail "systemctl start failed"
mgr_run ss -Htlnp | grep -q '"serviced"' ||
	fail "systemctl start returned before serviced was listening"
expect_eq "ActiveState right after start" active "$(mgr_prop serviced.service ActiveState)"
expect_eq "SubState right after start" running "$(mgr_prop serviced.service SubState)"
pid=$(mgr_prop serviced.service MainPID)
port=$(sd_port)
url=http://127.0.0.1:$port
expect_eq "/readyz once started" 200 "$(http_code "$url/readyz")"
# Waited for, not read once: a once-a-second update may have caught that request.
mgr_wait_prop serviced.service StatusText "serving: 0 connections, 0 requests in flight"

# StatusText follows the counts (sent when they change, checked once a second): a download
# held open by a slow client is one connection with one request in flight.
sd_slow_get "$port" /big.bin $((256 * 1024)) "$T/out"
mgr_wait_prop serviced.service StatusText "serving: 1 connections, 1 requests in flight"
kill "$SD_GET_PID"
mgr_wait_prop serviced.service StatusText "serving: 0 connections, 0 requests in flight"

# Reload. ExecReload= is "servicectl reload": the reload job ends once serviced has read the
# file again (the wait below is only belt and braces).
grace_is() {
	[[ $(sd_ctl get grace) == "grace "*" $1" ]]
}
grace_is 7s || fail "grace before reload: $(sd_ctl get grace)"
config 3s
mgr_ctl reload serviced.service || fail "systemctl reload failed"
wait_until "grace 3s after reload" grace_is 3s
wait_until "serviced to log the reload" sd_log_has '^configuration reloaded'
# RELOADING=1 ... READY=1 brought the unit back to active, the same process serving.
mgr_wait_prop serviced.service ActiveState active
expect_eq "MainPID after reload" "$pid" "$(mgr_prop serviced.service MainPID)"
expect_eq "/readyz after reload" 200 "$(http_code "$url/readyz")"

# A broken file: rejected as a whole, the running configuration stays.
printf '{\n  "listen": "127.0.0.1:0",\n  "grace": "1s",\n' >"$T/serviced.json"
sd_put "$T/serviced.json" "$conf"
# servicectl reports the refusal, so systemctl reload fails too.
if mgr_ctl reload serviced.service; then fail "systemctl reload of a broken file succeeded"; fi
wait_until "serviced to refuse the broken file" \
	sd_log_has 'reload failed, configuration unchanged: .*serviced\.json'
grace_is 3s || fail "grace after a failed reload: $(sd_ctl get grace)"
mgr_wait_prop serviced.service ActiveState active
expect_eq "SubState after a failed reload" running "$(mgr_prop serviced.service SubState)"
expect_eq "MainPID after a failed reload" "$pid" "$(mgr_prop serviced.service MainPID)"
expect_eq "/readyz after a failed reload" 200 "$(http_code "$url/readyz")"
mgr_wait_prop serviced.service StatusText "serving: 0 connections, 0 requests in flight"

mgr_ctl stop serviced.service || fail "systemctl stop failed"
expect_eq "result of the stop" "success exited 0" "$(cat "$SD_RESULT")"

mgr_shutdown
pass "serviced notifications under systemd"
