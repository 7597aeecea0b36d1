#!/bin/bash
# The daemon stopped and continued (SIGSTOP, SIGCONT: a debugger, a job-control stop) while
# eight clients download 16 MiB files back to back, 30 times: a sendfile() that the stop
# cut short leaves libmicrohttpd 0.9.75 waiting for an EPOLLOUT that never comes (the socket
# buffer had room), and that download stalls until the idle timeout. The engine wakes every
# request in progress when it is continued, and every busy one once a second. Every
# download must complete; then SIGTERM, exit 0.
. "$top_srcdir/tests/lib.sh"
command -v python3 >/dev/null || skip "python3 is needed for the clients"

mkdir -p "$T/root"
head -c 16777216 /dev/urandom >"$T/root/huge.bin"
svc_start --root "$T/root" --file-cache-max 0
python3 - "$SVC_PORT" "$SVC_PID" >"$T/clients.out" 2>&1 <<'PY' || fail "downloads stalled: $(cat "$T/clients.out")"
import os, signal, socket, sys, threading, time
port, pid = int(sys.argv[1]), int(sys.argv[2])
done, stalled, stop = [0], [0], [False]

def client():
    while not stop[0]:
        s = socket.create_connection(("127.0.0.1", port))
        # A stall lasts until the 60 s idle timeout; 15 s without a byte is one.
        s.settimeout(15)
        s.sendall(b"GET /huge.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        n = 0
        try:
            while True:
                d = s.recv(1 << 20)
                if not d:
                    break
                n += len(d)
        except socket.timeout:
            stalled[0] += 1
        s.close()
        if n >= 16777216:
            done[0] += 1

threads = [threading.Thread(target=client) for _ in range(8)]
for t in threads:
    t.start()
for _ in range(30):
    time.sleep(0.05)  # load pacing: downloads are under way when the stop lands
    os.kill(pid, signal.SIGSTOP)
    time.sleep(0.01)
    os.kill(pid, signal.SIGCONT)
stop[0] = True
for t in threads:
    t.join()
print("downloads done %d, stalled %d" % (done[0], stalled[0]))
sys.exit(1 if stalled[0] or done[0] == 0 else 0)
PY
kill -TERM "$SVC_PID"
wait_exit "$SVC_PID"
expect_eq "exit status" 0 "$EXIT_STATUS"
pass
