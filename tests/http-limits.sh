#!/bin/bash
# Bad HTTP input and client-controlled limits: each gets a clear answer, and the daemon
# keeps serving everyone else.
. "$top_srcdir/tests/lib.sh"

svc_start --connection-memory 8k --max-connections-per-ip 3 --connection-timeout 1s

# Headers larger than the per-connection memory: 431, not a crash.
big=$(head -c 12000 /dev/zero | tr '\0' a)
expect_eq "oversized header" 431 "$(http_code "$SVC_URL/" -H "X-Big: $big")"
# A request target larger than the per-connection memory: 414.
expect_eq "oversized URL" 414 "$(http_code "$SVC_URL/$big")"

# A request line that is not HTTP: 400 (or the connection closed), never a hang.
reply=$(python3 - "$SVC_PORT" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(b"THIS IS NOT HTTP\r\n\r\n")
data = s.recv(200)
print(data.split(b"\r\n")[0].decode() if data else "closed")
PY
)
case "$reply" in
"HTTP/1.1 400"* | "HTTP/1.0 400"* | closed) ;;
*) fail "garbage request line answered: $reply" ;;
esac

# Per-client connection limit: with 3 connections held open, a fourth is turned away.
python3 - "$SVC_PORT" "$T/held" <<'PY' &
import socket, sys, time, signal
socks = [socket.create_connection(("127.0.0.1", int(sys.argv[1]))) for _ in range(3)]
for s in socks:
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    s.recv(1000)
open(sys.argv[2], "w").write("held\n")
signal.pause()
PY
holder=$!
TEST_PIDS+=($holder)
wait_until "three connections held" test -s "$T/held"
rc=0
curl -s -o /dev/null --max-time 5 "$SVC_URL/healthz" || rc=$?
[ "$rc" -ne 0 ] || fail "a fourth connection from the same address was served"
kill "$holder"
wait "$holder" 2>/dev/null

# The idle timeout closes a connection that sends nothing.
python3 - "$SVC_PORT" <<'PY' || fail "idle connection was not closed by the timeout"
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=15)
sys.exit(0 if s.recv(10) == b"" else 1)
PY

# After all of it the daemon still serves, and shuts down cleanly.
wait_until "healthz to answer again" test "$(http_code "$SVC_URL/healthz")" = 200
kill -TERM "$SVC_PID"
wait_exit "$SVC_PID"
expect_eq "exit status" 0 "$EXIT_STATUS"
pass
