#!/usr/bin/env python3
"""httpc: a raw HTTP/1.1 client for the behaviour curl hides (keep-alive, never reading).

  httpc.py idle PORT READY        one request, then hold the connection idle; exit 0 when
                                  the server closes it (EOF), 1 after 20 s without
  httpc.py inflight PORT PATH     one keep-alive request; print the Connection header, then
                                  "closed" if the server closed the connection after it
  httpc.py noread PORT PATH READY send one request and never read (until killed)
  httpc.py fresh PORT READY GO [BODY]
                                  connect and say nothing; once the file GO exists, send one
                                  request and print its status and Connection header; with
                                  BODY, write the body there and print "closed" once the
                                  server closes the connection ("open" after 20 s)
  httpc.py download PORT PATH OUT RATE
                                  a slow download: RATE bytes/s into OUT with a small receive
                                  buffer, so the server cannot hand the whole body to the
                                  kernel early (loopback buffers here reach 32 MB); exit 0
                                  when the whole body arrived, 1 when it was cut
  httpc.py pool PORT              many connections, driven by commands on standard input,
                                  one line of answer each (for coproc):
      open SRC [PATH]   connect from address SRC, send one keep-alive request: "ID STATUS",
                        or "closed" when the server closed it without an answer
      connect SRC       connect from SRC and send nothing: "ID"
      get ID [PATH]     one more request on connection ID: "STATUS", or "closed"
      eof ID SECS       wait up to SECS for the server to close ID: "eof", or "open"
      close ID          close ID: "ok"
READY is a file written once the request has been answered (idle) or sent (noread).
"""
import socket
import sys


def connect(port):
    s = socket.create_connection(("127.0.0.1", int(port)), timeout=20)
    return s


def request(path):
    return ("GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n" % path).encode()


def read_response(s, body=None):
    """Reads one response with a Content-Length or chunked body; returns its headers, and
    appends the body's bytes to the list BODY if one is given."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise SystemExit("connection closed before headers")
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    headers = {}
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.decode().partition(":")
        headers[k.strip().lower()] = v.strip()
    if "content-length" in headers:
        need = int(headers["content-length"]) - len(rest)
        while need > 0:
            chunk = s.recv(min(need, 65536))
            if not chunk:
                raise SystemExit("connection closed mid-body")
            need -= len(chunk)
            if body is not None:
                rest += chunk
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        while not rest.endswith(b"0\r\n\r\n"):
            chunk = s.recv(65536)
            if not chunk:
                raise SystemExit("connection closed mid-chunked-body")
            rest += chunk
    if body is not None:
        body.append(rest)
    return headers


def wait_eof(s):
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return True
    except (socket.timeout, BlockingIOError):  # SECS 0: a look, no wait
        return False
    except ConnectionResetError:
        return True


def download(port, path, out, rate):
    import time
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # Set before connecting: an explicit buffer turns receive autotuning off.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    s.settimeout(30)
    s.connect(("127.0.0.1", int(port)))
    s.sendall(("GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n" % path).encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            return 1
        buf += chunk
    head, body = buf.split(b"\r\n\r\n", 1)
    length = None
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.decode().partition(":")
        if k.strip().lower() == "content-length":
            length = int(v)
    got = len(body)
    start = time.monotonic()
    with open(out, "wb") as f:
        f.write(body)
        f.flush()
        while length is None or got < length:
            # Pace the reading: this client is slow on purpose.
            ahead = got / rate - (time.monotonic() - start)
            if ahead > 0:
                time.sleep(ahead)
            try:
                chunk = s.recv(16384)
            except (ConnectionResetError, socket.timeout):
                return 1
            if not chunk:
                break
            f.write(chunk)
            f.flush()
            got += len(chunk)
    return 0 if length is not None and got == length else 1


def pool(port):
    conns = {}
    next_id = 1

    def ask(s, path):
        """One request on s: its status code, or None when the server closed s unanswered."""
        try:
            s.sendall(request(path))
            buf = b""
            while b"\r\n\r\n" not in buf:
                chunk = s.recv(65536)
                if not chunk:
                    return None
                buf += chunk
        except (ConnectionResetError, BrokenPipeError):
            return None
        head, rest = buf.split(b"\r\n\r\n", 1)
        status = head.split(b" ", 2)[1].decode()
        length = 0
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.decode().partition(":")
            if k.strip().lower() == "content-length":
                length = int(v)
        need = length - len(rest)
        while need > 0:
            chunk = s.recv(need)
            if not chunk:
                return None
            need -= len(chunk)
        return status

    def connect_from(src):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(20)
        s.bind((src, 0))
        s.connect(("127.0.0.1", int(port)))
        return s

    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        cmd, args = words[0], words[1:]
        if cmd in ("open", "connect"):
            s = connect_from(args[0])
            if cmd == "open":
                status = ask(s, args[1] if len(args) > 1 else "/healthz")
                if status is None:
                    s.close()
                    answer = "closed"
                else:
                    conns[next_id] = s
                    answer = "%d %s" % (next_id, status)
                    next_id += 1
            else:
                conns[next_id] = s
                answer = str(next_id)
                next_id += 1
        elif cmd == "get":
            status = ask(conns[int(args[0])], args[1] if len(args) > 1 else "/healthz")
            answer = "closed" if status is None else status
        elif cmd == "eof":
            s = conns[int(args[0])]
            s.settimeout(float(args[1]))
            answer = "eof" if wait_eof(s) else "open"
            s.settimeout(20)
        elif cmd == "close":
            conns.pop(int(args[0])).close()
            answer = "ok"
        else:
            answer = "unknown command %s" % cmd
        print(answer, flush=True)
    return 0


def main(argv):
    mode, port = argv[1], argv[2]
    if mode == "download":
        return download(port, argv[3], argv[4], float(argv[5]))
    if mode == "pool":
        return pool(port)
    s = connect(port)
    if mode == "idle":
        s.sendall(request("/"))
        read_response(s)
        open(argv[3], "w").write("idle\n")
        return 0 if wait_eof(s) else 1
    if mode == "inflight":
        s.sendall(request(argv[3]))
        headers = read_response(s)
        print("connection: %s" % headers.get("connection", "(none)"))
        print("closed" if wait_eof(s) else "open")
        return 0
    if mode == "fresh":
        import os
        import time
        open(argv[3], "w").write("connected\n")
        deadline = time.monotonic() + 20
        while not os.path.exists(argv[4]):
            if time.monotonic() > deadline:
                return 1
            time.sleep(0.01)
        s.sendall(request("/"))
        body = []
        try:
            headers = read_response(s, body)
        except SystemExit as e:
            print("no answer: %s" % e)
            return 1
        print("answered, connection: %s" % headers.get("connection", "(none)"))
        if len(argv) > 5:  # BODY: the body into that file, and whether the server closed
            open(argv[5], "wb").write(body[0])
            print("closed" if wait_eof(s) else "open")
        return 0
    if mode == "noread":
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(request(argv[3]))
        open(argv[4], "w").write("sent\n")
        # Never read: block on something that never happens until the test kills us.
        import signal
        while True:
            signal.pause()
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
