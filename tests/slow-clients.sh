#!/bin/bash
# Clients that take too long over their request headers. 30 clients trickling a header byte
# every 200 ms (each byte resets libmicrohttpd's idle timeout) hold all 30 places of
# --max-connections 30: the request-header deadline closes them with a 408 and another
# client is served again. At a SIGTERM, connections still sending headers are not requests
# in flight: the drain does not wait for them and exits 0 long before grace runs out. A
# request with a transfer coding other than chunked gets 501 and a close, not a request
# that never ends. The admin endpoint's 16 places are freed by the same deadline. A
# request whose first half came before the trigger and second half after is answered.
. "$top_srcdir/tests/lib.sh"
command -v python3 >/dev/null || skip "python3 is needed for the clients"

# slow PORT N OUT: N connections each send a request line, then one header byte every
# 200 ms; prints, once all are closed by the server (or after 30 s), how each ended.
slow() {
	python3 - "$@" <<'PY'
import selectors, socket, sys, time
port, n, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
socks = []
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET /small.txt HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    s.setblocking(False)
    socks.append(s)
open(out + ".ready", "w").close()
got = {s: b"" for s in socks}
ended = {}
sel = selectors.DefaultSelector()
for s in socks:
    sel.register(s, selectors.EVENT_READ)
end = time.monotonic() + 30
while len(ended) < n and time.monotonic() < end:
    for s in socks:
        if s not in ended:
            try:
                s.send(b"a")
            except OSError:
                pass
    for key, _ in sel.select(0.2):
        s = key.fileobj
        try:
            d = s.recv(4096)
        except OSError:
            d = b""
        if d:
            got[s] += d
        else:
            ended[s] = got[s].split(b"\r\n", 1)[0].decode() or "closed"
            sel.unregister(s)
with open(out, "w") as f:
    for s in socks:
        f.write(ended.get(s, "open") + "\n")
PY
}

mkdir -p "$T/root"
echo small >"$T/root/small.txt"

# --- a lockout undone by the deadline -----------------------------------------------------
svc_start --root "$T/root" --max-connections 30 --connection-timeout 5 \
	--request-header-timeout 2
slow "$SVC_PORT" 30 "$T/slow1" &
TEST_PIDS+=($!)
slowpid=$!
wait_until "the slow clients to connect" test -e "$T/slow1.ready"
# All 30 counted before anyone else tries, or a client could take a place first.
wait_until "30 connections counted" sh -c "'$SERVICECTL' -s '$SVC_CONTROL' --json status | grep -q '\"connections_open\":30'"
wait_until "a normal client to be served again" sh -c "curl -sf --max-time 2 '$SVC_URL/small.txt' >/dev/null"
wait_exit "$slowpid" 40
expect_eq "how the slow clients ended" "30 HTTP/1.1 408 Request Timeout" \
	"$(sort "$T/slow1" | uniq -c | sed 's/^ *//')"
log_has 'closed [0-9]+ connections whose request headers did not come whole within 2s' ||
	fail "no log line for the late headers"

# --- unknown transfer coding ------------------------------------------------------------------
out=$(printf 'GET /small.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\nhello' |
	python3 -c 'import socket,sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(sys.stdin.buffer.read())
b = b""
while True:
    d = s.recv(4096)
    if not d: break
    b += d
print(b.split(b"\r\n", 1)[0].decode(), "closed")' "$SVC_PORT")
expect_eq "an unknown transfer coding" "HTTP/1.1 501 Not Implemented closed" "$out"
expect_eq "still serving after it" 200 "$(http_code "$SVC_URL/small.txt")"
kill -TERM "$SVC_PID"
wait_exit "$SVC_PID"
expect_eq "exit status" 0 "$EXIT_STATUS"

# --- the admin endpoint's 16 places, the same way ----------------------------------------
printf 'Authorization: Bearer sekret-token-1234\n' >"$T/auth"
printf 'sekret-token-1234\n' >"$T/token"
chmod 600 "$T/token" "$T/auth"
svc_start --root "$T/root" --admin-listen 127.0.0.1:0 --admin-token-file "$T/token" \
	--request-header-timeout 2
admin_port=$(sed -n 's/.*admin endpoint on http:\/\/[^ ]*:\([0-9][0-9]*\).*/\1/p' "$SVC_LOG")
slow "$admin_port" 16 "$T/slow3" &
TEST_PIDS+=($!)
slowpid=$!
wait_until "the slow admin clients to connect" test -e "$T/slow3.ready"
wait_until "the operator to be answered again" sh -c "curl -sf --max-time 2 -H @'$T/auth' http://127.0.0.1:$admin_port/admin/status >/dev/null"
wait_exit "$slowpid" 40
expect_eq "how the slow admin clients ended" "16 HTTP/1.1 408 Request Timeout" \
	"$(sort "$T/slow3" | uniq -c | sed 's/^ *//')"
kill -TERM "$SVC_PID"
wait_exit "$SVC_PID"
expect_eq "exit status" 0 "$EXIT_STATUS"

# --- requests split across the trigger --------------------------------------------------------
# 20 kept-alive connections each send the first half of their next request (the line and
# one header), then the daemon gets SIGTERM, then the second half follows: each is a
# request under way when grace began, and is answered (Connection: close), not cut by an
# EOF on its connection. (A first half without a whole request line cannot be told from
# nothing: libmicrohttpd has read it and says nothing. Such a request had not reached the
# server when grace began, and may be cut.)
svc_start --root "$T/root" --grace 30s
python3 - "$SVC_PORT" "$SVC_PID" >"$T/split.out" 2>&1 <<'PY' || fail "split requests: $(cat "$T/split.out")"
import os, signal, socket, sys
port, pid = int(sys.argv[1]), int(sys.argv[2])

def response(s):
    b = b""
    while b"\r\n\r\n" not in b:
        d = s.recv(65536)
        if not d:
            return None, b
        b += d
    head, _, body = b.partition(b"\r\n\r\n")
    n = int([l.split(b":")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")][0])
    while len(body) < n:
        d = s.recv(65536)
        if not d:
            return None, b
        body += d
    return head, body

socks = []
for _ in range(20):
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    s.sendall(b"GET /small.txt HTTP/1.1\r\nHost: x\r\n\r\n")
    head, _ = response(s)
    assert head and head.startswith(b"HTTP/1.1 200"), head
    socks.append(s)
for s in socks:
    s.sendall(b"GET /small.txt HTTP/1.1\r\nHost: x\r\n")
os.kill(pid, signal.SIGTERM)
bad = 0
for s in socks:
    try:
        s.sendall(b"Accept: */*\r\n\r\n")
        head, body = response(s)
    except OSError as e:
        head = None
    if not head or not head.startswith(b"HTTP/1.1 200") or b"close" not in head.lower():
        bad += 1
print("split requests not answered with 200 and Connection: close: %d of 20" % bad)
sys.exit(1 if bad else 0)
PY
wait_exit "$SVC_PID"
expect_eq "exit status after the split requests" 0 "$EXIT_STATUS"

# --- a drain with headers still coming --------------------------------------------------------
svc_start --root "$T/root" --grace 60s --request-header-timeout 30
slow "$SVC_PORT" 20 "$T/slow2" &
TEST_PIDS+=($!)
slowpid=$!
wait_until "the slow clients to connect" test -e "$T/slow2.ready"
wait_until "20 connections counted" sh -c "'$SERVICECTL' -s '$SVC_CONTROL' --json status | grep -q '\"connections_open\":20'"
in_flight=$("$SERVICECTL" -s "$SVC_CONTROL" --json status | sed -n 's/.*"requests_in_flight":\([0-9]*\).*/\1/p')
expect_eq "requests in flight while headers trickle in" 0 "$in_flight"
kill -TERM "$SVC_PID"
# Grace is a minute; the fresh-connection bound (5 s) is all the drain may wait for them.
wait_exit "$SVC_PID" 15
expect_eq "exit status with headers still coming" 0 "$EXIT_STATUS"
wait_exit "$slowpid" 40
pass
