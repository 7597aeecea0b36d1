#!/bin/bash
# The control socket under abuse: malformed messages cost a client nothing but an error
# reply, an oversized one closes it, extra clients are turned away as "busy", 10,000
# connections leave no descriptor behind, and running out of descriptors pauses accept
# instead of spinning.
. "$top_srcdir/tests/ctl-lib.sh"

fds_at_most() {
	[ "$(fd_count "$SVC_PID")" -le "$1" ]
}

ctl_start
wait_until "no control client left" no_clients
base=$(fd_count "$SVC_PID")

# --- malformed messages, pipelined on one connection; it survives them all --------------
python3 - "$CTL_SOCK" <<'EOF' || fail "malformed messages"
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
f = s.makefile("rb")

def reply():
    line = f.readline()
    assert line.endswith(b"\n"), line
    return json.loads(line)

cases = [
    (b"not json", "bad_json"),
    (b"", "bad_json"),
    (b"{\"command\":\"ping\"", "bad_json"),
    (b"{\"command\":\"st\x00atus\"}", "bad_json"),
    (b"\xff\xfe{}", "bad_json"),
    (b"{\"command\":\"shutdown\",\"grace\":NaN}", "bad_json"),
    (b"{\"command\":\"ping\",\"command\":\"ping\"}", "bad_json"),
    (b"[{\"command\":\"ping\"}]", "not_object"),
    (b"42", "not_object"),
    (b"{}", "unknown_command"),
    (b"{\"command\":\"nope\"}", "unknown_command"),
    (b"{\"command\":\"status\",\"verbose\":true}", "bad_argument"),
    (b"{\"command\":\"shutdown\",\"grace\":-1}", "bad_argument"),
    (b"{\"command\":\"shutdown\",\"grace\":1.5}", "bad_argument"),
    (b"{\"command\":\"shutdown\",\"grace\":\"25h\"}", "bad_argument"),
    (b"{\"command\":\"set\",\"key\":\"grace\"}", "bad_argument"),
    (b"{\"command\":\"set\",\"key\":\"nope\",\"value\":1}", "bad_argument"),
    (b"[" * 5000 + b"]" * 5000, "bad_json"),
]
s.sendall(b"".join(c + b"\n" for c, _ in cases) + b"{\"command\":\"ping\"}\r\n")
for c, code in cases:
    r = reply()
    assert r["ok"] is False and r["error"]["code"] == code, (c[:40], r)
    assert r["error"]["message"], r
assert reply() == {"ok": True}

# A message split over many writes, byte by byte.
for b in b"{\"command\":\"ping\"}\n":
    s.sendall(bytes([b]))
assert reply() == {"ok": True}

# The largest message there may be (65,535 bytes and the newline) is read, not refused.
head, tail = b"{\"command\":\"ping\",\"pad\":\"", b"\"}"
s.sendall(head + b"x" * (65535 - len(head) - len(tail)) + tail + b"\n")
r = reply()
assert r["error"]["code"] == "bad_argument", r
s.sendall(b"{\"command\":\"ping\"}\n")
assert reply() == {"ok": True}

# One byte more: too_large, then the connection is closed.
s.sendall(head + b"x" * (65536 - len(head) - len(tail)) + tail + b"\n")
r = reply()
assert r["error"]["code"] == "too_large", r
try:
    assert f.readline() == b""
except ConnectionResetError:
    pass

# A 10 MB line: the daemon stops reading after 64 KiB, answers too_large and hangs up.
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
f = s.makefile("rb")
try:
    s.sendall(b"{" + b"x" * (10 << 20))
except (BrokenPipeError, ConnectionResetError):
    pass
r = reply()
assert r["error"]["code"] == "too_large", r
EOF
expect_eq "the daemon still answers" pong "$(ctl ping)"
expect_eq "and is still running" running "$(ctl_state)"
wait_until "the abusive clients' descriptors to be closed" fds_at_most "$base"
wait_until "no control client left" no_clients

# --- too many clients: the 33rd is told "busy" and closed; a freed slot is usable ---------
python3 - "$CTL_SOCK" <<'EOF' || fail "client limit"
import json, socket, sys
held = []
for i in range(32):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    s.sendall(b"{\"command\":\"ping\"}\n")
    f = s.makefile("rb")
    assert json.loads(f.readline()) == {"ok": True}, i
    held.append((s, f))
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
f = s.makefile("rb")
r = json.loads(f.readline())
assert r["ok"] is False and r["error"]["code"] == "busy", r
assert f.readline() == b""
held.pop()[0].close()
# The slot frees when the daemon has seen the close: retry until it has.
for attempt in range(2000):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    s.sendall(b"{\"command\":\"ping\"}\n")
    r = json.loads(s.makefile("rb").readline())
    s.close()
    if r.get("ok"):
        break
    assert r["error"]["code"] == "busy", r
else:
    raise SystemExit("the freed slot was never reused")
EOF
wait_until "the held clients' descriptors to be closed" fds_at_most "$base"
wait_until "no control client left" no_clients

# --- 10,000 connections, some with a request, leave the descriptor count where it was ----
python3 - "$CTL_SOCK" <<'EOF' || fail "10,000 connections"
import json, socket, sys
for i in range(10000):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    if i % 10 == 0:
        s.sendall(b"{\"command\":\"status\"}\n")
        r = json.loads(s.makefile("rb").readline())
        assert r["ok"] is True, r
    elif i % 10 == 1:
        s.sendall(b"{\"command\":\"ping\"}")  # no newline: the request is its last message
        s.shutdown(socket.SHUT_WR)
        assert json.loads(s.makefile("rb").readline()) == {"ok": True}
    s.close()
EOF
wait_until "descriptors back to $base after 10,000 connections" fds_at_most "$base"
expect_eq "ping after 10,000 connections" pong "$(ctl ping)"
ctl -q shutdown
wait_exit "$SVC_PID"
expect_eq "daemon exit status" 0 "$EXIT_STATUS"

# --- out of descriptors: accept pauses (one log line a second), then recovers -------------
# The same daemon, with room for 16 more descriptors than it needs when idle.
limit=$((base + 16))
cat >"$T/limited" <<EOF
#!/bin/bash
ulimit -n $limit || exit 1
exec "$SERVICED" "\$@"
EOF
chmod +x "$T/limited"
SVC_BIN=$T/limited ctl_start
wait_until "no control client left" no_clients
free=$((limit - $(fd_count "$SVC_PID")))
[ "$free" -gt 2 ] && [ "$free" -lt 30 ] || skip "cannot arrange a descriptor shortage ($free free)"
emfile() { grep -c 'accept: Too many open files' "$SVC_LOG"; }
python3 - "$CTL_SOCK" "$SVC_PID" "$SVC_LOG" "$((free + 5))" <<'EOF' || fail "EMFILE backoff"
import json, os, socket, sys, time
path, pid, log, n = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])

def cpu():
    f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])  # utime + stime, in clock ticks

def emfile_lines():
    return open(log).read().count("accept: Too many open files")

socket.setdefaulttimeout(20)
held = []
for i in range(n):  # more than the daemon has descriptors for: the last wait in the backlog
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    held.append(s)
deadline = time.monotonic() + 20
while emfile_lines() < 1:
    assert time.monotonic() < deadline, "no EMFILE logged"
    time.sleep(0.01)
t0, c0 = time.monotonic(), cpu()
# The next retry is a backoff away; a spinning accept would log thousands meanwhile.
while emfile_lines() < 2:
    assert time.monotonic() < deadline, "accept was not retried"
    time.sleep(0.01)
t1, c1 = time.monotonic(), cpu()
assert t1 - t0 > 0.5, "retried after %.3fs" % (t1 - t0)
assert emfile_lines() <= 3, emfile_lines()
ticks = os.sysconf("SC_CLK_TCK")
assert (c1 - c0) / ticks < 0.5 * (t1 - t0), "daemon busy while paused: %d ticks" % (c1 - c0)
for s in held:
    s.close()
# Once descriptors are free again, the daemon serves new clients.
while True:
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    s.sendall(b"{\"command\":\"ping\"}\n")
    line = s.makefile("rb").readline()
    s.close()
    if line and json.loads(line).get("ok"):
        break
    assert time.monotonic() < deadline + 20, "never recovered"
EOF
expect_eq "ping after the shortage" pong "$(ctl ping)"
ctl -q shutdown
wait_exit "$SVC_PID"
pass
