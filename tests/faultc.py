#!/usr/bin/env python3
"""faultc: the misbehaving clients of the fault tests (tests/fault-*.sh, tests/notes.sh).

Each mode is one client population with its own checks; it exits 0 when they hold, and
prints why and exits 1 when they do not. Every wait waits for a state with a bound
(BOUND seconds); sleeps only pace the slow clients, they never stand in for a wait.
Files named READY and GO coordinate with the test: a mode writes READY once its clients
are in place and waits for the test to create GO before the next step.

  faultc.py exhaust PORT PID LOG N        hold N idle connections (more than the daemon
                                          has descriptors for), check it does not spin
                                          while saturated, release them, check it serves
  faultc.py starve PORT PID LOG CTL N     hold N control clients (all the descriptors),
                                          then one HTTP request: same checks
  faultc.py slowread PORT PATH N READY GO N slow readers of PATH; each body must be
                                          byte-exact with the file named by $FAULT_FILE
  faultc.py upload PORT METHOD N READY GO N uploads, stopped mid-body; at GO half
                                          close, half reset
  faultc.py download PORT PATH N READY GO N downloads, stopped after a few KB; at GO the
                                          same
  faultc.py ctlidle CTL N READY GO        N control clients that never send, or send
                                          one byte per 50 ms, until GO
  faultc.py notes-write PORT OUT CONNS READY  POST notes on CONNS connections until the
                                          server goes away; OUT lists every 201's id, text
  faultc.py notes-check PORT OUT          every note in OUT reads back with its text
"""
import hashlib
import json
import os
import selectors
import socket
import struct
import sys
import threading
import time

BOUND = float(os.environ.get("WAIT_BOUND", "20"))
TICKS = os.sysconf("SC_CLK_TCK")


def die(msg):
    print("faultc: %s" % msg, file=sys.stderr, flush=True)
    sys.exit(1)


def wait_for(what, pred, bound=BOUND):
    deadline = time.monotonic() + bound
    while not pred():
        if time.monotonic() > deadline:
            die("timed out waiting for: %s" % what)
        time.sleep(0.01)


def wait_file(path):
    wait_for("the test to create %s" % path, lambda: os.path.exists(path))


def touch(path):
    with open(path + ".tmp", "w") as f:
        f.write("ready\n")
    os.rename(path + ".tmp", path)


def cpu_ticks(pid):
    """utime + stime of the process, in clock ticks."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def fd_limit(pid):
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max open files"):
                return int(line.split()[3])
    die("no descriptor limit for %d" % pid)


def log_count(log, text):
    with open(log, "rb") as f:
        return f.read().count(text.encode())


def connect(port, timeout=BOUND):
    return socket.create_connection(("127.0.0.1", int(port)), timeout=timeout)


def reset(s):
    """Closes with a RST instead of a FIN."""
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def read_head(s, buf=b""):
    """Reads up to the end of the response head; returns (status, headers, rest)."""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the response head")
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return int(lines[0].split()[1]), headers, rest


def read_response(s):
    """One response with a Content-Length body: (status, headers, body)."""
    status, headers, body = read_head(s)
    need = int(headers.get("content-length", "0"))
    while len(body) < need:
        chunk = s.recv(need - len(body))
        if not chunk:
            raise ConnectionError("closed mid-body (%d of %d)" % (len(body), need))
        body += chunk
    return status, headers, body


# ---- descriptors exhausted ----------------------------------------------------------------

def quiet_while_saturated(pid, log, probes):
    """The window: 3 s in which the probes wait (select with a timeout) for answers that
    cannot come while the daemon cannot accept. Fails if the daemon burned more than a
    quarter of one CPU meanwhile or logged more than a handful of accept errors: a spin
    does both (and fills its log at megabytes a second, so the window ends early then)."""
    sel = selectors.DefaultSelector()
    for p in probes:
        sel.register(p, selectors.EVENT_READ)
    start = os.path.getsize(log)
    t0, c0 = time.monotonic(), cpu_ticks(pid)
    for _ in range(30):
        if sel.select(0.1):
            break  # an answer, or a close: looked at after the release
        if os.path.getsize(log) - start > 65536:
            break
    t1, c1 = time.monotonic(), cpu_ticks(pid)
    sel.close()
    with open(log, "rb") as f:
        f.seek(start)
        errors = f.read(1 << 20).count(b"Too many open files")
    used, wall = c1 - c0, (t1 - t0) * TICKS
    print("saturated: %d CPU ticks in %.0f wall ticks, %d accept errors logged"
          % (used, wall, errors), flush=True)
    if used > 0.25 * wall:
        die("the daemon spins while out of descriptors: %d CPU ticks in %.0f" % (used, wall))
    if errors > 100:
        die("the daemon retries accept in a loop: %d errors logged in %.2fs" % (errors, t1 - t0))


def probe(port):
    p = connect(port)
    p.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
    return p


def answered(probes):
    """Every probe, now that descriptors are free, gets its 200."""
    for i, p in enumerate(probes):
        p.settimeout(BOUND)
        try:
            status, _, _ = read_response(p)
        except (OSError, ConnectionError) as e:
            die("probe %d was not answered after recovery: %s" % (i, e))
        if status != 200:
            die("probe %d answered %d after recovery" % (i, status))
        p.close()


def exhaust(port, pid, log, n):
    limit = fd_limit(pid)
    held = [connect(port) for _ in range(n)]
    # Saturated: every descriptor is taken and accept has failed at least once.
    wait_for("the daemon to run out of descriptors",
             lambda: fd_count(pid) >= limit and log_count(log, "Too many open files") >= 1)
    probes = [probe(port) for _ in range(3)]
    quiet_while_saturated(pid, log, probes)
    for s in held:
        s.close()
    answered(probes)


def starve(port, pid, log, ctl, n):
    limit = fd_limit(pid)
    held = []
    for _ in range(n):
        s = socket.socket(socket.AF_UNIX)
        s.connect(ctl)
        held.append(s)
    # The control socket, not HTTP, holds every descriptor (it backs off on EMFILE).
    wait_for("the control clients to take every descriptor",
             lambda: fd_count(pid) >= limit and
             log_count(log, "accept: Too many open files") >= 1)
    probes = [probe(port)]
    wait_for("the HTTP listener to meet EMFILE too",
             lambda: log_count(log, "Too many open files") >
             log_count(log, "control socket"))
    probes += [probe(port) for _ in range(2)]
    quiet_while_saturated(pid, log, probes)
    for s in held:
        s.close()
    answered(probes)


# ---- slow readers ---------------------------------------------------------------------------

class Reader:
    __slots__ = ("sock", "buf", "status", "need", "got", "sha", "done")


def slowread(port, path, n, ready, go):
    """N connections each GET PATH and read it through a small receive buffer, a little
    at a time: 1 KiB every 100 ms (10 KB/s) until GO, so every request is still in flight
    when the test triggers the shutdown, then up to 8 KiB every 20 ms, so that a 256 KiB
    body ends within seconds. READY is written when every one has its response head."""
    want = open(os.environ["FAULT_FILE"], "rb").read()
    want_sha = hashlib.sha256(want).hexdigest()
    readers = []
    for _ in range(n):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        # Loopback's 64 KiB segments would let the server's send buffer start at over a
        # megabyte and swallow the whole body at once (the request then "completes" in
        # the kernel). Small segments keep that buffer small and the request in flight.
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 536)
        s.settimeout(BOUND)
        s.connect(("127.0.0.1", int(port)))
        s.setblocking(False)
        r = Reader()
        r.sock, r.buf, r.status, r.need, r.got = s, b"", None, None, 0
        r.sha, r.done = hashlib.sha256(), False
        readers.append(r)
    for r in readers:
        r.sock.sendall(("GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n" % path).encode())

    def step(r, size):
        try:
            chunk = r.sock.recv(size)
        except BlockingIOError:
            return
        except OSError as e:
            die("reader failed after %d bytes: %s" % (r.got, e))
        if not chunk:
            die("a reader was cut: %s after %d of %s body bytes"
                % ("head" if r.status is None else "body", r.got, r.need))
        if r.status is None:
            r.buf += chunk
            if b"\r\n\r\n" not in r.buf:
                return
            head, rest = r.buf.split(b"\r\n\r\n", 1)
            lines = head.decode("latin-1").split("\r\n")
            r.status = int(lines[0].split()[1])
            if r.status != 200:
                die("a reader was answered %d" % r.status)
            for line in lines[1:]:
                k, _, v = line.partition(":")
                if k.strip().lower() == "content-length":
                    r.need = int(v)
            if r.need != len(want):
                die("Content-Length %s, file is %d bytes" % (r.need, len(want)))
            chunk, r.buf = rest, b""
        r.got += len(chunk)
        r.sha.update(chunk)
        if r.got >= r.need:
            r.done = True
            if r.got != r.need or r.sha.hexdigest() != want_sha:
                die("a body is not byte-exact (%d bytes)" % r.got)
            r.sock.close()

    deadline = time.monotonic() + 3 * BOUND
    told = False
    pending = readers
    while pending:
        if time.monotonic() > deadline:
            die("%d of %d downloads did not finish" % (len(pending), n))
        fast = told and os.path.exists(go)
        tick = time.monotonic() + (0.02 if fast else 0.1)
        size = 8192 if fast else 1024
        for r in pending:
            step(r, size)
        pending = [r for r in pending if not r.done]
        if not told and all(r.status is not None for r in readers):
            if any(r.done for r in readers):
                die("a download finished before all had their heads: the file is too small")
            touch(ready)
            told = True
        time.sleep(max(0.0, tick - time.monotonic()))
    if not os.path.exists(go):
        die("every download finished before the shutdown began")
    print("%d downloads byte-exact" % n, flush=True)


# ---- clients that go away mid-request ------------------------------------------------------

def hang_up(socks, ready, go):
    touch(ready)
    wait_file(go)
    for i, s in enumerate(socks):
        if i % 2:
            reset(s)
        else:
            s.close()


def upload(port, method, n, ready, go):
    """N requests with a body announced as 64 MiB, of which 256 KiB are sent; at GO half
    the clients close, half reset. (serviced reads and drops the body of a GET; it
    answers other methods 405 before reading theirs.)"""
    socks = []
    for _ in range(n):
        s = connect(port)
        s.sendall(method.encode() + b" /upload HTTP/1.1\r\nHost: localhost\r\n"
                  b"Content-Type: application/octet-stream\r\n"
                  b"Content-Length: %d\r\n\r\n" % (64 << 20))
        s.sendall(b"u" * (256 << 10))
        socks.append(s)
    hang_up(socks, ready, go)


def download(port, path, n, ready, go):
    """N GETs of a large file; each reads its head and a few KB, then stops reading
    (the server blocks on a full socket); at GO half close, half reset."""
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.settimeout(BOUND)
        s.connect(("127.0.0.1", int(port)))
        s.sendall(("GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n" % path).encode())
        status, _, body = read_head(s)
        if status != 200:
            die("download answered %d" % status)
        while len(body) < 4096:
            body += s.recv(4096)
        socks.append(s)
    hang_up(socks, ready, go)


# ---- control clients that never finish a message -----------------------------------------

def ctlidle(ctl, n, ready, go):
    """N control clients that take their time, until GO: a third connect and never send;
    a third send valid messages one byte every 50 ms (a reply each second or so); a third
    send one endless message one byte every 50 ms. READY once all are connected, READY.answered
    once each slow message has had its reply. Every slow message must be answered; the daemon
    may close the others (its idle bound)."""
    valid = b"{\"command\":\"status\"}\n"
    endless = b"{\"command\":\"status\",\"pad\":\"" + b"x" * 60000
    clients = []
    for i in range(n):
        s = socket.socket(socket.AF_UNIX)
        s.connect(ctl)
        s.setblocking(False)
        clients.append({"sock": s, "kind": i % 3, "sent": 0, "replies": 0, "buf": b""})
    slow = [c for c in clients if c["kind"] == 1]
    answered = ready + ".answered"  # once every slow message has had its reply
    touch(ready)
    deadline = time.monotonic() + 3 * BOUND
    while not os.path.exists(go):
        if time.monotonic() > deadline:
            die("the test never said GO")
        tick = time.monotonic() + 0.05
        for c in clients:
            if c["sock"] is None or c["kind"] == 0:
                continue
            msg = valid if c["kind"] == 1 else endless
            try:
                c["sock"].send(msg[c["sent"] % len(msg):][:1])
                c["sent"] += 1
                c["buf"] += c["sock"].recv(65536)
            except BlockingIOError:
                pass
            except OSError:
                c["sock"] = None  # closed by the daemon
                continue
            while b"\n" in c["buf"]:
                line, c["buf"] = c["buf"].split(b"\n", 1)
                if json.loads(line).get("ok") is not True:
                    die("a slow client was answered %r" % line)
                c["replies"] += 1
        time.sleep(max(0.0, tick - time.monotonic()))
        if not os.path.exists(answered) and all(c["replies"] for c in slow):
            touch(answered)
    if any(c["replies"] == 0 for c in slow):
        die("a slow but complete message was never answered")
    print("%d slow clients, %d replies" % (n, sum(c["replies"] for c in slow)), flush=True)


# ---- the notes store ------------------------------------------------------------------------

def notes_write(port, out, conns, ready):
    """CONNS keep-alive connections POST notes as fast as they are answered until the
    server goes away. Every note acknowledged 201 is written to OUT as "id<TAB>text"
    (flushed at once, so a test that reads OUT sees every acknowledgement); READY once
    each connection has had a note acknowledged."""
    lock = threading.Lock()
    outf = open(out, "w")
    first = set()
    errors = []

    def worker(k):
        seq = 0
        s = None
        try:
            while True:
                if s is None:
                    try:
                        s = connect(port)
                    except OSError:
                        return  # the listener is closed: the store is shutting down
                seq += 1
                text = "note %d.%d %s" % (k, seq, "x" * (seq % 50))
                body = json.dumps({"text": text}).encode()
                try:
                    s.sendall(b"POST /notes HTTP/1.1\r\nHost: localhost\r\n"
                              b"Content-Type: application/json\r\n"
                              b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
                    status, headers, reply = read_response(s)
                except (OSError, ConnectionError):
                    # Unanswered: not acknowledged, so it need not be there (it may be).
                    s.close()
                    s = None
                    continue
                if status == 201:
                    nid = json.loads(reply)["id"]
                    with lock:
                        outf.write("%d\t%s\n" % (nid, text))
                        outf.flush()
                        first.add(k)
                        if len(first) == conns and not os.path.exists(ready):
                            touch(ready)
                elif status != 503:
                    errors.append("POST answered %d: %r" % (status, reply[:200]))
                    return
                if headers.get("connection", "").lower() == "close":
                    s.close()
                    s = None
        finally:
            if s is not None:
                s.close()

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(3 * BOUND)
        if t.is_alive():
            die("a writer never stopped")
    if errors:
        die(errors[0])
    outf.close()
    print("%d notes acknowledged" % sum(1 for _ in open(out)), flush=True)


def notes_check(port, out):
    acked = [line.rstrip("\n").split("\t", 1) for line in open(out)]
    if not acked:
        die("no note was acknowledged")
    s = connect(port)
    for nid, text in acked:
        s.sendall(b"GET /notes/%s HTTP/1.1\r\nHost: localhost\r\n\r\n" % nid.encode())
        status, _, body = read_response(s)
        if status != 200:
            die("acknowledged note %s: GET answered %d" % (nid, status))
        note = json.loads(body)
        if note.get("text") != text or str(note.get("id")) != nid:
            die("acknowledged note %s reads back as %r, not %r" % (nid, note, text))
    print("%d acknowledged notes read back" % len(acked), flush=True)


def main(argv):
    if len(argv) < 2:
        die(__doc__)
    mode, a = argv[1], argv[2:]
    if mode == "exhaust":
        exhaust(int(a[0]), int(a[1]), a[2], int(a[3]))
    elif mode == "starve":
        starve(int(a[0]), int(a[1]), a[2], a[3], int(a[4]))
    elif mode == "slowread":
        slowread(int(a[0]), a[1], int(a[2]), a[3], a[4])
    elif mode == "upload":
        upload(int(a[0]), a[1], int(a[2]), a[3], a[4])
    elif mode == "download":
        download(int(a[0]), a[1], int(a[2]), a[3], a[4])
    elif mode == "ctlidle":
        ctlidle(a[0], int(a[1]), a[2], a[3])
    elif mode == "notes-write":
        notes_write(int(a[0]), a[1], int(a[2]), a[3])
    elif mode == "notes-check":
        notes_check(int(a[0]), a[1])
    else:
        die("unknown mode %s" % mode)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
