#!/bin/bash
# Out of descriptors on the HTTP side: under a low "ulimit -n", more clients connect than
# the daemon has descriptors for. It must not spin while saturated (CPU and accept errors
# stay low while probes wait in the backlog), and it must serve again, probes first, as
# soon as the clients let go; no descriptor is leaked on the way.
#
# One worker thread: libmicrohttpd pauses accept() on EMFILE only in a worker that holds
# connections of its own (see tests/fault-fds-idle.sh for the case where it spins).
. "$top_srcdir/tests/lib.sh"
command -v python3 >/dev/null || skip "python3 is needed for the clients"
FAULTC=("python3" "$top_srcdir/tests/faultc.py")

limit=64
cat >"$T/limited" <<LIMITED
#!/bin/bash
ulimit -n $limit || exit 1
exec "$SERVICED" "\$@"
LIMITED
chmod +x "$T/limited"

fds() { ls "/proc/$SVC_PID/fd" | wc -l; }
fds_at_most() { [ "$(fds)" -le "$1" ]; }
answers() { [ "$(http_code "$SVC_URL/")" = 200 ]; }

SVC_BIN=$T/limited svc_start --threads 1
wait_until "the daemon to answer" answers
base=$(fds)
[ "$base" -lt $((limit - 16)) ] || skip "the daemon needs $base descriptors when idle"

# Twice the descriptors it has: the excess waits in the kernel's backlog.
"${FAULTC[@]}" exhaust "$SVC_PORT" "$SVC_PID" "$SVC_LOG" $((2 * limit)) ||
	fail "out of descriptors"

wait_until "a request to succeed after the shortage" answers
wait_until "the descriptors back to $base" fds_at_most "$base"
kill -0 "$SVC_PID" || fail "the daemon died"

kill -TERM "$SVC_PID"
wait_exit "$SVC_PID"
expect_eq "daemon exit status" 0 "$EXIT_STATUS"
pass
