#!/bin/bash
# tests/static-cache-race.sh: requests racing a writer. While one process deploys versions
# of a file by rename-over, keep-alive clients ask for it in a loop: every answer must be one
# whole version, never a mix. Then a writer that edits the file in place (same size, mtime
# put back, so only inotify can tell) races the cache's fills; once it stops, the last
# version must be what is served, from the cache as well as on the way into it.
. "$(dirname "$0")/lib.sh"

command -v curl >/dev/null || skip "curl not found"
command -v python3 >/dev/null || skip "python3 not found"

R=$T/root
V=$T/versions
mkdir -p "$R" "$V"
# Four versions, each one letter repeated, of four different sizes (all cacheable), so that
# a torn or mixed answer cannot pass for a version.
for k in 0 1 2 3; do
	head -c $((1000 + 700 * k)) /dev/zero | tr '\0' "$(printf "\\$((101 + k))")" >"$V/v$k"
done
# Same-size versions for the in-place writer.
for k in 0 1 2 3; do
	head -c 3000 /dev/zero | tr '\0' "$(printf "\\$((141 + k))")" >"$V/s$k"
done
cp "$V/v0" "$R/file.txt"

cat >"$T/reader.py" <<'EOF'
# reader.py PORT PATH STOP VERSION...: GET PATH on one keep-alive connection until STOP
# exists; with VERSIONs, every body must be one of them. Prints the count.
import http.client, os, sys
port, path, stop = sys.argv[1:4]
valid = {open(v, "rb").read() for v in sys.argv[4:]}
c = http.client.HTTPConnection("127.0.0.1", int(port), timeout=20)
n = 0
while not os.path.exists(stop):
    c.request("GET", path)
    r = c.getresponse()
    body = r.read()
    if r.status != 200 or (valid and body not in valid):
        print("bad answer %d after %d: %d bytes, %r..." % (r.status, n, len(body), body[:16]))
        sys.exit(1)
    n += 1
print(n)
EOF
cat >"$T/writer.py" <<'EOF'
# writer.py MODE FILE COUNT VERSION...: COUNT deploys, cycling through the versions.
# MODE rename: write a temporary file beside FILE, rename it over FILE.
# MODE inplace: overwrite FILE in place in two halves, then put its times back.
import os, sys
mode, path, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
vers = [open(v, "rb").read() for v in sys.argv[4:]]
tmp = os.path.join(os.path.dirname(path), ".deploy.tmp")
st = os.stat(path)
for i in range(count):
    data = vers[i % len(vers)]
    if mode == "rename":
        with open(tmp, "wb") as f:
            f.write(data)
        os.rename(tmp, path)
    else:
        fd = os.open(path, os.O_WRONLY)
        half = len(data) // 2
        os.pwrite(fd, data[:half], 0)
        os.sched_yield()
        os.pwrite(fd, data[half:], half)
        os.close(fd)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
EOF

svc_start --root "$R"
expect_eq "first GET" 200 "$(http_code "$SVC_URL/file.txt")"

# race MODE COUNT VERSIONS CHECK: readers (checking whole versions if CHECK is "check")
# against one writer; then the last version must be served.
race() {
	local mode=$1 count=$2 check=$3 last
	shift 3
	local versions=("$@") readers=() i rc
	rm -f "$T/stop"
	for i in 1 2; do
		if [ "$check" = check ]; then
			python3 "$T/reader.py" "$SVC_PORT" /file.txt "$T/stop" "${versions[@]}" >"$T/reader$i.out" 2>&1 &
		else
			python3 "$T/reader.py" "$SVC_PORT" /file.txt "$T/stop" >"$T/reader$i.out" 2>&1 &
		fi
		readers+=($!)
		TEST_PIDS+=($!)
	done
	# The readers are under way before the writer starts.
	wait_until "the readers to connect" sh -c "'$SERVICECTL' -s '$SVC_CONTROL' --json status | grep -q '\"connections_open\":[2-9]'"
	python3 "$T/writer.py" "$mode" "$R/file.txt" "$count" "${versions[@]}" &
	local writer=$!
	TEST_PIDS+=($writer)
	wait_exit "$writer" 120
	expect_eq "$mode writer exit status" 0 "$EXIT_STATUS"
	touch "$T/stop"
	for i in 1 2; do
		rc=0
		wait "${readers[$((i - 1))]}" || rc=$?
		[ "$rc" = 0 ] || fail "$mode: reader $i: $(cat "$T/reader$i.out")"
		echo "$mode: reader $i made $(cat "$T/reader$i.out") requests" >&2
	done
	last=${versions[$(((count - 1) % ${#versions[@]}))]}
	# Twice: the first may fill the cache, the second is answered from it.
	for i in 1 2 3; do
		curl -sS --max-time 10 -o "$T/final.b" "$SVC_URL/file.txt" || fail "final GET"
		cmp -s "$T/final.b" "$last" || fail "$mode: GET $i after the writer stopped: not the last version"
	done
}

race rename 3000 check "$V/v0" "$V/v1" "$V/v2" "$V/v3"
cp "$V/s0" "$R/file.txt"
race inplace 3000 nocheck "$V/s0" "$V/s1" "$V/s2" "$V/s3"
# And once more with rename-over after in-place edits, ending on another version.
cp "$V/v0" "$R/file.txt"
race rename 1001 check "$V/v0" "$V/v1" "$V/v2" "$V/v3"

kill -TERM "$SVC_PID"
wait_exit "$SVC_PID"
expect_eq "exit status" 0 "$EXIT_STATUS"
pass
