#!/usr/bin/env python3
"""loadc: keep-alive clients looping requests across a shutdown, with an exact account.

  loadc.py PORT PID [options]

N connections each loop GET requests with no think time (a share of them on a large file,
some pipelining several requests per write, some reading slowly). Once every connection
has had an answer and the warm-up count is reached, loadc sends the trigger signal to PID
itself, so that "sent before the trigger" is exact: on loopback a send() that returned has
put its bytes in the server's socket. The clients go on as clients do (they cannot know),
reconnecting when the server closes, until the server refuses them or a bound runs out.

Every request ends in exactly one of these:
  answered          a whole response (status, headers, Content-Length bytes)
  bad_status        a whole response whose status was not 200 (--ok)
  cut               a response that began and did not end
  lost              sent whole before the trigger, no byte of an answer, and no earlier
                    response on its connection said "Connection: close"
  dropped_announced queued behind a response that said "Connection: close"
  reset_after       sent after the trigger on a connection the server was closing: the
                    race every keep-alive client has with a closing server (it retries)
  unsent            never sent whole (the connection ended first)
and connections: connects refused (or timed out) after the trigger; connects that failed
before it (a bug: the server was serving).

Options:
  --conns N            connections (300)
  --small PATH         the small file (/small.txt)
  --big PATH           the large file (/big.bin); --big-share F of the connections (0.2)
  --pipeline K         every 10th connection sends K requests per write (1 = none)
  --slow-readers N     N connections read their responses 4 KiB at a time, slowly
  --warmup R           requests answered before the trigger (conns x 3)
  --idle-burst K       after the warm-up, let every connection go idle, then send K
                       requests in one write on each and the trigger right after
  --signal NAME        TERM (default), INT, ...
  --stop-first N       SIGSTOP the server, open N more connections that each send one
                       request into the accept queue, then send the trigger and SIGCONT
  --churn FILE         rewrite FILE every 100 ms for the whole run
  --bound S            give up S seconds after the trigger (30)
  --wait-exit          also wait for PID to exit (gone or a zombie), and report exit_ms,
                       the time from the trigger to that
  --post BODY          POST BODY (application/json) instead of GET
  --ok STATUS          the status of an answer (200)
  --json FILE          write the account as JSON
Prints the account; exits 0 when nothing was lost, cut or wrongly answered, 1 otherwise.
"""
import argparse
import collections
import errno
import json
import os
import selectors
import signal
import socket
import sys
import time

now = time.monotonic


class Req:
    __slots__ = ("path", "end", "sent_at", "got")

    def __init__(self, path, end):
        self.path = path
        self.end = end  # offset in the connection's send stream just past this request
        self.sent_at = None
        self.got = 0  # bytes of its response received


class Conn:
    def __init__(self, run, cid, path, pipeline, slow, queued=False):
        self.run, self.cid, self.path = run, cid, path
        self.pipeline, self.slow = pipeline, slow
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if slow:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
        self.sock.setblocking(False)
        self.out = bytearray()
        self.sent = 0  # bytes of the stream sent so far
        self.queued = 0  # bytes of the stream queued so far
        self.pending = collections.deque()
        self.inbuf = bytearray()
        self.head = None  # (status, content_length, close) of the response being read
        self.need = 0
        self.close_announced = False
        self.connecting = True
        self.connect_started = now()
        self.events = 0
        self.answers = 0
        self.queued_only = queued  # one request, no loop (the accept-queue clients)
        err = self.sock.connect_ex(("127.0.0.1", run.port))
        if err not in (0, errno.EINPROGRESS):
            self.sock.close()
            raise OSError(err, os.strerror(err))
        self.want(selectors.EVENT_WRITE)

    def want(self, ev):
        if ev == self.events:
            return
        if self.events == 0:
            self.run.sel.register(self.sock, ev, self)
        elif ev == 0:
            self.run.sel.unregister(self.sock)
        else:
            self.run.sel.modify(self.sock, ev, self)
        self.events = ev

    def queue(self):
        k = self.pipeline if self.answers > 0 else 1
        for _ in range(k):
            data = self.run.request(self.path)
            self.out += data
            self.queued += len(data)
            self.pending.append(Req(self.path, self.queued))

    def on_event(self, mask):
        if self.connecting:
            err = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                return self.end_connect(err)
            self.connecting = False
            self.queue()
        if mask & selectors.EVENT_WRITE and self.out and not self.flush():
            return
        if mask & selectors.EVENT_READ:
            try:
                data = self.sock.recv(4096 if self.slow else 262144)
            except OSError as e:
                return self.finish(e.errno)
            if not data:
                return self.finish(0)
            self.inbuf += data
            self.parse()
            if self.sock is None:
                return
        self.want(selectors.EVENT_READ | (selectors.EVENT_WRITE if self.out else 0))

    def flush(self):
        """Sends what is queued; False when the connection ended."""
        try:
            n = self.sock.send(self.out)
        except OSError as e:
            self.finish(e.errno)
            return False
        del self.out[:n]
        self.sent += n
        t = now()
        for r in self.pending:
            if r.sent_at is None and r.end <= self.sent:
                r.sent_at = t
        return True

    def parse(self):
        while self.pending:
            r = self.pending[0]
            if self.head is None:
                i = self.inbuf.find(b"\r\n\r\n")
                if i < 0:
                    r.got += 0 if not self.inbuf else 1
                    return
                lines = bytes(self.inbuf[:i]).split(b"\r\n")
                del self.inbuf[: i + 4]
                status = int(lines[0].split()[1])
                length, close = 0, False
                for ln in lines[1:]:
                    k, _, v = ln.partition(b":")
                    k = k.strip().lower()
                    if k == b"content-length":
                        length = int(v.strip())
                    elif k == b"connection" and b"close" in v.lower():
                        close = True
                self.head = (status, close)
                self.need = length
                r.got = max(r.got, 1)
            take = min(self.need, len(self.inbuf))
            del self.inbuf[:take]
            self.need -= take
            r.got += take
            if self.need > 0:
                return
            status, close = self.head
            self.head = None
            self.pending.popleft()
            self.answers += 1
            self.run.answered(r, status, close)
            if close:
                self.close_announced = True
                self.out.clear()
                break
            if not self.pending and not self.queued_only and not self.run.hold:
                # At once, as a client with no think time does: the next request is in the
                # server's socket while the loop serves other connections.
                self.queue()
                if not self.flush():
                    return
        if self.close_announced or (self.queued_only and not self.pending):
            self.finish(0, reconnect=not self.queued_only)

    def end_connect(self, err):
        self.run.connect_failed(self, err)
        self.close()
        self.run.conns.remove(self)

    def finish(self, err, reconnect=True):
        for r in self.pending:
            self.run.unanswered(self, r)
        self.pending.clear()
        self.close()
        self.run.conns.remove(self)
        if reconnect and not self.queued_only:
            self.run.reconnect(self)

    def close(self):
        if self.sock is not None:
            self.want(0)
            self.sock.close()
            self.sock = None


class Run:
    def __init__(self, a):
        self.a = a
        self.port = a.port
        self.sel = selectors.DefaultSelector()
        self.trigger_at = None
        self.done = False
        self.hold = False  # answered connections send nothing more (until a burst)
        self.count = collections.Counter()
        self.conns = []
        self.next_id = 0
        self.exited_at = None

    def request(self, path):
        if self.a.post is None:
            return ("GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n" % path).encode()
        body = self.a.post.encode()
        return ("POST %s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                "Content-Length: %d\r\n\r\n" % (path, len(body))).encode() + body

    def open(self, path, pipeline, slow, queued=False):
        c = Conn(self, self.next_id, path, pipeline, slow, queued)
        self.next_id += 1
        self.conns.append(c)
        return c

    def before(self, r):
        return r.sent_at is not None and self.trigger_at is not None and r.sent_at < self.trigger_at

    def answered(self, r, status, close):
        self.count["answered" if status == self.a.ok else "bad_status"] += 1
        if self.trigger_at is not None:
            self.count["answered_after_trigger"] += 1
            if close:
                self.count["answered_after_trigger_close"] += 1

    def unanswered(self, c, r):
        if r.got > 0:
            self.count["cut"] += 1
        elif c.close_announced:
            self.count["dropped_announced"] += 1
        elif r.sent_at is None:
            self.count["unsent"] += 1
        elif self.trigger_at is None or r.sent_at < self.trigger_at:
            self.count["lost"] += 1
        else:
            self.count["reset_after"] += 1

    def connect_failed(self, c, err):
        if self.trigger_at is None:
            self.count["connect_failed_before"] += 1
        else:
            self.count["refused_after"] += 1

    def reconnect(self, c):
        if self.done:
            return
        try:
            self.open(c.path, c.pipeline, c.slow)
        except OSError:
            self.connect_failed(c, 0)

    def trigger(self):
        sig = getattr(signal, "SIG" + self.a.signal)
        self.trigger_at = now()
        os.kill(self.a.pid, sig)
        if self.a.stop_first:
            os.kill(self.a.pid, signal.SIGCONT)

    def loop(self, until):
        """Serves events until until() is true; False if the bound ran out first."""
        churn_next = now()
        while not until():
            t = now()
            if self.a.churn and t >= churn_next:
                with open(self.a.churn, "w") as f:
                    f.write("churn %f\n" % t)
                churn_next = t + 0.1
            if self.trigger_at is not None and t - self.trigger_at > self.a.bound:
                return False
            if self.trigger_at is not None and self.exited_at is None and self.gone():
                self.exited_at = t
            if t - self.started > self.a.bound * 4:
                return False
            for key, mask in self.sel.select(0.05):
                key.data.on_event(mask)
            # Connects that hang (a SYN the server dropped) end after 3 s.
            for c in list(self.conns):
                if c.connecting and c.sock is not None and t - c.connect_started > 3:
                    c.end_connect(errno.ETIMEDOUT)
        return True

    def gone(self):
        try:
            with open("/proc/%d/stat" % self.a.pid) as f:
                return f.read().rsplit(")", 1)[1].split()[0] == "Z"
        except OSError:
            return True

    def main(self):
        a = self.a
        self.started = now()
        nbig = int(a.conns * a.big_share)
        for i in range(a.conns):
            self.open(a.big if i < nbig else a.small, a.pipeline if i % 10 == 5 else 1,
                      i < a.slow_readers)
        warm = a.warmup if a.warmup is not None else a.conns * 3
        ok = self.loop(lambda: self.count["answered"] >= warm and
                       all(c.answers > 0 or c.queued_only for c in self.conns))
        if not ok:
            print("loadc: warm-up did not finish: %s" % dict(self.count), file=sys.stderr)
            return 2
        if a.stop_first:
            os.kill(a.pid, signal.SIGSTOP)
            for _ in range(a.stop_first):
                self.open(a.small, 1, False, queued=True)
            # Connected and sent: the kernel completed the handshakes into the accept queue.
            self.loop(lambda: all(not c.connecting and not c.out for c in self.conns
                                  if c.queued_only and c.sock is not None))
        if a.idle_burst:
            # Every connection idle, then K requests in each at once, then the trigger:
            # the requests are in the server's sockets, most not read yet.
            self.hold = True
            self.loop(lambda: all(not c.pending for c in self.conns))
            for c in list(self.conns):
                if c.connecting or c.sock is None:
                    continue
                c.pipeline, c.answers = a.idle_burst, max(c.answers, 1)
                c.queue()
                c.flush()
            self.hold = False
        self.trigger()
        ok = self.loop(lambda: not self.conns and (not a.wait_exit or self.exited_at is not None))
        self.done = self.hold = True
        if not ok:
            self.count["open_at_bound"] = len(self.conns)
            for c in list(self.conns):
                for r in c.pending:
                    self.count["lost" if self.before(r) else "unsent"] += 1
                c.close()
        return 0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("port", type=int)
    p.add_argument("pid", type=int)
    p.add_argument("--conns", type=int, default=300)
    p.add_argument("--small", default="/small.txt")
    p.add_argument("--big", default="/big.bin")
    p.add_argument("--big-share", type=float, default=0.2)
    p.add_argument("--pipeline", type=int, default=1)
    p.add_argument("--slow-readers", type=int, default=0)
    p.add_argument("--warmup", type=int)
    p.add_argument("--idle-burst", type=int, default=0)
    p.add_argument("--signal", default="TERM")
    p.add_argument("--stop-first", type=int, default=0)
    p.add_argument("--churn")
    p.add_argument("--bound", type=float, default=30)
    p.add_argument("--wait-exit", action="store_true")
    p.add_argument("--post")
    p.add_argument("--ok", type=int, default=200)
    p.add_argument("--json")
    a = p.parse_args()
    run = Run(a)
    rc = run.main()
    keys = ["answered", "answered_after_trigger", "answered_after_trigger_close", "bad_status",
            "cut", "lost", "dropped_announced", "reset_after", "unsent", "refused_after",
            "connect_failed_before", "open_at_bound"]
    acct = {k: run.count.get(k, 0) for k in keys}
    if a.wait_exit and run.exited_at is not None:
        keys.append("exit_ms")
        acct["exit_ms"] = round((run.exited_at - run.trigger_at) * 1000, 1)
    print("loadc: " + " ".join("%s=%s" % (k, acct[k]) for k in keys))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(acct, f)
    if rc:
        return rc
    bad = acct["lost"] + acct["cut"] + acct["bad_status"] + acct["connect_failed_before"] + \
        acct["open_at_bound"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
