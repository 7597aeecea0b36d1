#!/bin/bash
# tests/systemd/stop-drain.sh: "systemctl stop" is serviced's graceful shutdown, through the
# shipped serviced.service. A slow download in flight when the stop begins completes
# byte-exact although the drain outlasts TimeoutStopSec= (serviced extends the stop with
# EXTEND_TIMEOUT_USEC=), and the unit stops cleanly: no SIGKILL, Result=success, status 0.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/systemd/serviced-lib.sh" || exit 99

# 20 MiB read at 4 MiB/s: about 5 s, of which serviced sends for 4 s or more (the kernel
# buffers the rest, up to tcp_wmem's 4 MiB). The root is in the manager's /run, which the
# unit's sandbox leaves readable: no drop-in has to relax it.
size=$((20 * 1024 * 1024))
rate=$((4 * 1024 * 1024))
timeout_stop_ms=2000

sd_units
sd_dropin serviced.service test <<EOF
[Service]
ExecStart=
ExecStart=$SD_BIN/serviced --control \${RUNTIME_DIRECTORY}/control.sock --listen 127.0.0.1:0 --root /run/test-www
# Far shorter than the drain: only serviced's EXTEND_TIMEOUT_USEC= keeps systemd from
# killing it at 2 s.
TimeoutStopSec=${timeout_stop_ms}ms
EOF
sd_record_result

head -c "$size" /dev/urandom >"$T/big.bin"
sd_boot
sd_put "$T/big.bin" /run/test-www/big.bin
mgr_ctl start serviced.service || fail "systemctl start failed"
port=$(sd_port)

sd_slow_get "$port" /big.bin "$rate" "$T/out"
get=$SD_GET_PID
wait_until "the download to start" sd_started "$T/out"

begin=$(sd_now_ms)
mgr_ctl stop serviced.service &
stop=$!
TEST_PIDS+=("$stop")
# systemd sent SIGTERM and waits; serviced says what it is doing meanwhile.
mgr_wait_prop serviced.service SubState stop-sigterm
mgr_wait_prop serviced.service StatusText "draining (grace): 1 requests in flight, *"
wait_exit "$stop"
took=$(sd_elapsed_ms "$begin")
expect_eq "systemctl stop exit status" 0 "$EXIT_STATUS"

wait_exit "$get"
expect_eq "download exit status" 0 "$EXIT_STATUS"
[ -e "$T/out.ok" ] || fail "the download did not complete"
cmp -s "$T/big.bin" "$T/out" || fail "the download is not byte-exact"
expect_eq "result of the stop" "success exited 0" "$(cat "$SD_RESULT")"
sd_log_has 'during shutdown 1 requests completed, 0 cut' ||
	fail "serviced did not log 1 request completed, 0 cut"
# Had the drain been over within TimeoutStopSec, this test would prove nothing.
[ "$took" -gt $((timeout_stop_ms + 500)) ] ||
	fail "the stop took ${took} ms, not longer than TimeoutStopSec (${timeout_stop_ms} ms)"
! mgr_journal -u serviced.service | grep -Eq 'timed out|Killing' ||
	fail "systemd timed the stop out"

mgr_shutdown
pass "systemctl stop drains serviced beyond TimeoutStopSec (${took} ms)"
