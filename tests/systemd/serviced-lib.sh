# tests/systemd/serviced-lib.sh: serviced under a private systemd (manager.sh), run by the
# project's own units. Sourced by the tests/systemd/*.sh that start serviced, never run.
#
# serviced.service is made from dist/serviced.service.in exactly as "make" makes it, only
# with @sbindir@ pointing where mgr_install puts the freshly built daemon. serviced.socket is
# dist/serviced.socket itself. Everything a test changes (flags, port, bounds, recording the
# result) is a drop-in, the way an administrator changes an installed unit. The sandbox of
# the unit stays as shipped: the daemon's files live in the manager's private /run, which
# ProtectSystem=strict leaves readable and PrivateTmp=/ProtectHome= do not hide.
#
#   sd_units               writes the stub units and serviced.service into SD_UNITS
#   sd_socket_unit         adds serviced.socket
#   sd_dropin UNIT NAME    writes stdin as UNIT.d/NAME.conf (then "mgr_ctl daemon-reload"
#                          once the manager runs)
#   sd_boot                boots the manager and installs serviced into it
#   sd_put FILE DEST       copies FILE to DEST in the manager's /run, readable by the unit
#   sd_ctl ARGS...         servicectl on the unit's control socket
#   sd_log                 the journal of serviced.service, message text only
#   sd_port                waits until serviced logs where it listens, prints the port
#   sd_record_result       a drop-in recording "$SERVICE_RESULT $EXIT_CODE $EXIT_STATUS" of
#                          every stop in SD_RESULT
#   sd_elapsed_ms START    milliseconds since START (an sd_now_ms value)
#   sd_slow_get PORT PATH RATE OUT   downloads PATH at RATE bytes/s into OUT in the
#                          background (sets SD_GET_PID); OUT.started appears once the
#                          headers arrived, OUT.ok once the whole body did
#   sd_started OUT         true once that download started; fails the test if it died
# shellcheck shell=bash

: "${top_srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
# shellcheck source=tests/systemd/manager.sh
. "$top_srcdir/tests/systemd/manager.sh"

[ -n "$SERVICECTL" ] || skip "SERVICECTL is not set"
command -v curl >/dev/null || skip "needs curl"
command -v python3 >/dev/null || skip "needs python3"
# The daemon is copied into the manager's /run: a libtool wrapper script would not run there.
[ "$(head -c 2 "$SERVICED")" != "#!" ] || skip "$SERVICED is a wrapper script, not the daemon"

SD_UNITS=$T/units
SD_BIN=/run/test-bin              # the units' @sbindir@ (mgr_install's directory)
SD_CONTROL=/run/serviced/control.sock # RuntimeDirectory=serviced, as the unit says
SD_RESULT=$T/result

sd_units() {
	mgr_stub_units "$SD_UNITS"
	sed -e "s|@sbindir[@]|$SD_BIN|g" -e "s|@bindir[@]|$SD_BIN|g" "$top_srcdir/dist/serviced.service.in" \
		>"$SD_UNITS/serviced.service"
	# In a sanitizer build LeakSanitizer needs ptrace, which the unit's system call filter
	# refuses: it would turn every clean exit into status 1. Leaks are checked by the other
	# tests; here only the unit's behaviour is.
	mkdir -p "$SD_UNITS/serviced.service.d"
	printf '[Service]\nEnvironment=ASAN_OPTIONS=detect_leaks=0\n' \
		>"$SD_UNITS/serviced.service.d/sanitizers.conf"
}

sd_socket_unit() {
	cp "$top_srcdir/dist/serviced.socket" "$SD_UNITS/serviced.socket"
}

sd_dropin() {
	mkdir -p "$SD_UNITS/$1.d"
	cat >"$SD_UNITS/$1.d/$2.conf"
}

sd_boot() {
	mgr_boot "$SD_UNITS"
	mgr_install "$SERVICED" >/dev/null || fail "cannot install $SERVICED into the manager"
	mgr_install "$SERVICECTL" >/dev/null || fail "cannot install $SERVICECTL into the manager"
}

# sd_put FILE DEST: the unit runs as a dynamic user, so what it reads must be world-readable.
sd_put() {
	mgr_run install -D -m 0644 "$1" "$2" || fail "cannot copy $1 to $2 in the manager"
}

# servicectl itself runs in the manager's namespaces (where /run/serviced is) but from the
# build tree: the test's /tmp is the host's there.
sd_ctl() {
	mgr_run "$SERVICECTL" -s "$SD_CONTROL" "$@"
}

sd_log() {
	mgr_journal -u serviced.service -o cat "$@"
}

sd_log_has() {
	sd_log | grep -Eq -- "$1"
}

# sd_port: the port of the running instance (the units listen on port 0 unless a test needs
# a fixed one). The journal gets the line a moment after the daemon writes it.
sd_port() {
	local id port deadline=$((SECONDS + WAIT_BOUND))
	id=$(mgr_prop serviced.service InvocationID)
	[ -n "$id" ] || fail "serviced.service has no invocation"
	until port=$(sd_log _SYSTEMD_INVOCATION_ID="$id" |
		sed -n 's|.*listening on http://[^ ]*:\([0-9][0-9]*\) .*|\1|p' | grep .); do
		[ "$SECONDS" -lt "$deadline" ] ||
			fail "serviced did not log where it listens within ${WAIT_BOUND}s"
		sleep 0.01
	done
	echo "${port%%$'\n'*}"
}

# The unit is garbage-collected once it stopped cleanly, so its result is recorded as it
# stops. "+" runs the command outside the sandbox, as root: it writes into the test's $T.
sd_record_result() {
	sd_dropin serviced.service result <<EOF
[Service]
ExecStopPost=+/bin/sh -c 'echo "\$\$SERVICE_RESULT \$\$EXIT_CODE \$\$EXIT_STATUS" >>$SD_RESULT'
EOF
}

sd_now_ms() {
	date +%s%3N
}

sd_elapsed_ms() {
	echo $(($(sd_now_ms) - $1))
}

# curl --limit-rate makes no slow client here: it averages over seconds, and curl 7.88 was
# seen reading 5 MiB in 10 ms under --limit-rate 1M. This reader paces itself from the
# first byte and keeps a small receive buffer, so the daemon is still sending for as long
# as the download lasts.
cat >"$T/slow-get.py" <<'EOF'
import socket, sys, time

port, path, rate, out = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
s.settimeout(30)
s.connect(("127.0.0.1", port))
s.sendall(("GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n" % path).encode())
buf = b""
while b"\r\n\r\n" not in buf:
    chunk = s.recv(4096)
    if not chunk:
        sys.exit("slow-get: connection closed before the headers")
    buf += chunk
head, body = buf.split(b"\r\n\r\n", 1)
lines = head.decode("latin-1").split("\r\n")
if lines[0].split()[1] != "200":
    sys.exit("slow-get: " + lines[0])
length = [int(l.split(":", 1)[1]) for l in lines if l.lower().startswith("content-length:")][0]
open(out + ".started", "w").close()
start, got = time.monotonic(), len(body)
with open(out, "wb") as f:
    f.write(body)
    while got < length:
        chunk = s.recv(min(4096, length - got))
        if not chunk:
            sys.exit("slow-get: connection closed after %d of %d bytes" % (got, length))
        f.write(chunk)
        got += len(chunk)
        ahead = got / rate - (time.monotonic() - start)
        if ahead > 0:
            time.sleep(ahead)
open(out + ".ok", "w").close()
EOF

sd_slow_get() {
	python3 "$T/slow-get.py" "$@" &
	SD_GET_PID=$!
	TEST_PIDS+=("$SD_GET_PID")
}

sd_started() {
	[ -e "$1.started" ] || { kill -0 "$SD_GET_PID" 2>/dev/null || fail "the download failed"; return 1; }
}
