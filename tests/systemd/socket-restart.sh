#!/bin/bash
# tests/systemd/socket-restart.sh: with the shipped serviced.socket holding the listening
# socket, "systemctl restart serviced" refuses no connection: two clients opening a new
# connection for every request see no failure over ten restarts. Then the same restarts
# without the socket unit (serviced binds the port itself), for comparison: those failures
# are printed, not asserted.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/systemd/serviced-lib.sh" || exit 99

restarts=10

sd_units
sd_socket_unit
sd_dropin serviced.service test <<EOF
[Unit]
StartLimitIntervalSec=0
EOF
sd_record_result

# client NAME: GET / on a new connection, again and again, until $T/stop exists (or 60 s);
# then NAME.out holds "OK FAILED" and NAME.err one line per distinct error.
cat >"$T/client.py" <<'EOF'
import collections, http.client, os, sys, time

port, out, stop = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ok, errors = 0, collections.Counter()
deadline = time.monotonic() + 60
while not os.path.exists(stop) and time.monotonic() < deadline:
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request("GET", "/")
        r = c.getresponse()
        body = r.read()
        c.close()
        if r.status == 200 and b"serviced is running" in body:
            ok += 1
        else:
            errors["status %d" % r.status] += 1
    except Exception as e:
        errors["%s: %s" % (type(e).__name__, e)] += 1
    if ok == 1:
        open(out + ".started", "w").close()
with open(out + ".err", "w") as f:
    for what, n in errors.items():
        f.write("%d x %s\n" % (n, what))
with open(out + ".tmp", "w") as f:
    f.write("%d %d\n" % (ok, sum(errors.values())))
os.rename(out + ".tmp", out)
EOF

# served N: the running instance has answered at least N requests.
served() {
	local n
	n=$(sd_ctl --json status 2>/dev/null | sed -n 's/.*"requests_total":\([0-9]*\).*/\1/p')
	[ "${n:-0}" -ge "$1" ]
}

# restart_under_load PHASE: ten restarts while two clients run; sets OK and FAILED.
restart_under_load() {
	local i c pids=()
	rm -f "$T/stop"
	for c in a b; do
		python3 "$T/client.py" "$port" "$T/$1.$c" "$T/stop" &
		pids+=("$!")
		TEST_PIDS+=("$!")
	done
	for c in a b; do
		wait_until "client $c to get an answer" test -e "$T/$1.$c.started"
	done
	for ((i = 1; i <= restarts; i++)); do
		# Every instance serves the clients before it is restarted.
		wait_until "$1: instance $i to serve" served 20
		mgr_ctl restart serviced.service || fail "$1: restart $i failed"
	done
	wait_until "$1: the last instance to serve" served 20
	touch "$T/stop"
	for c in a b; do
		wait_until "client $c to finish" test -e "$T/$1.$c"
	done
	for i in "${pids[@]}"; do
		wait "$i" || fail "$1: a client failed"
	done
	read -r OK FAILED <<<"$(awk '{ ok += $1; failed += $2 } END { print ok, failed }' \
		"$T/$1.a" "$T/$1.b")"
}

sd_boot
# A port of its own below the ephemeral range (32768 up), so no other test's port-0 bind
# or outgoing connection takes it; another one if something listens there already.
for try in 1 2 3 4 5 6 7 8 9 10; do
	port=$((20000 + RANDOM % 12000))
	sd_dropin serviced.socket test <<EOF
[Socket]
ListenStream=
ListenStream=127.0.0.1:$port
EOF
	sd_dropin serviced.service port <<EOF
[Service]
# Used only when no socket is passed (the second half of the test).
ExecStart=
ExecStart=$SD_BIN/serviced --control \${RUNTIME_DIRECTORY}/control.sock --listen 127.0.0.1:$port
EOF
	mgr_ctl daemon-reload || fail "daemon-reload failed"
	mgr_ctl start serviced.socket 2>/dev/null && break
	mgr_ctl reset-failed serviced.socket
	[ "$try" -lt 10 ] || fail "no free port for serviced.socket"
done
mgr_ctl start serviced.service || fail "systemctl start failed"
wait_until "serviced to take the socket" sd_log_has '^using the socket-activated listener'

restart_under_load socket
expect_eq "instances that took the socket" $((restarts + 1)) \
	"$(sd_log | grep -c '^using the socket-activated listener')"
cat "$T/socket.a.err" "$T/socket.b.err" >&2
[ "$OK" -gt $((restarts * 20)) ] || fail "only $OK requests answered"
expect_eq "requests failed over $restarts restarts with serviced.socket ($OK answered)" 0 "$FAILED"
with_socket="$OK answered, $FAILED failed"

# Without the socket unit: serviced binds 127.0.0.1:$port itself on each start.
mgr_ctl stop serviced.service serviced.socket || fail "systemctl stop failed"
rm "$SD_UNITS/serviced.socket"
mgr_ctl daemon-reload || fail "daemon-reload failed"
mgr_ctl start serviced.service || fail "systemctl start (own port) failed"
sd_port >/dev/null # this instance listens
sd_log _SYSTEMD_INVOCATION_ID="$(mgr_prop serviced.service InvocationID)" |
	grep -q '^using the socket-activated listener' && fail "serviced still got a socket"
restart_under_load bare
echo "without serviced.socket, over $restarts restarts: $OK answered, $FAILED failed" >&2
sed 's/^/  /' "$T/bare.a.err" "$T/bare.b.err" >&2
mgr_ctl stop serviced.service || fail "systemctl stop failed"
[ "$(grep -vc '^success exited 0$' "$SD_RESULT")" = 0 ] ||
	fail "an instance did not stop cleanly: $(sort "$SD_RESULT" | uniq -c)"

mgr_shutdown
pass "$restarts restarts behind serviced.socket: $with_socket"
