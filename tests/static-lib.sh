# tests/static-lib.sh: helpers for the tests of serving --root, on top of lib.sh. Sourced.

# fetch NAME PATH [CURL ARGS...]: one request; headers in $T/NAME.h, body in $T/NAME.b;
# prints the status code. Paths go out exactly as written (--path-as-is).
fetch() {
	local name=$1 path=$2
	shift 2
	curl -sS --path-as-is --max-time 10 -D "$T/$name.h" -o "$T/$name.b" -w '%{http_code}' \
		"$@" "$SVC_URL$path"
}

# hdr NAME HEADER: the value of HEADER in response NAME (case-insensitive, CR stripped).
hdr() {
	tr -d '\r' <"$T/$1.h" | sed -n "s/^$2: //Ip" | head -n 1
}

# expect_file PATH FILE: GET PATH answers 200 with exactly FILE's bytes.
expect_file() {
	expect_eq "GET $1" 200 "$(fetch get "$1")"
	cmp -s "$T/get.b" "$2" || fail "GET $1: body differs from $2"
}

# expect_code CODES PATH [CURL ARGS...]: the answer is one of CODES ("400" or "400|404"),
# and it carries nothing from outside the root.
expect_code() {
	local codes=$1 path=$2 c
	shift 2
	c=$(fetch code "$path" "$@")
	[[ "|$codes|" == *"|$c|"* ]] || fail "GET $path: expected $codes, got $c"
	! grep -q -e secret -e root: "$T/code.b" || fail "GET $path: body holds an outside file"
}

# expect_body PATH TEXT: GET PATH answers 200 with exactly TEXT (no newline added).
expect_body() {
	expect_eq "GET $1" 200 "$(fetch body "$1")"
	expect_eq "body of $1" "$2" "$(cat "$T/body.b")"
}

# same_size_edit FILE TEXT: overwrites the start of FILE in place, then puts its mtime back
# (to the nanosecond): size and mtime say nothing changed.
same_size_edit() {
	touch -r "$1" "$T/times"
	printf '%s' "$2" 1<>"$1"
	touch -r "$T/times" "$1"
}

# A writer that the cache cannot see: a shared writable mapping makes no inotify event
# until the file is closed. It is how a test knows an answer came from the cache.
# mm_open FILE, then mm poke OFFSET TEXT, then mm_end (which closes the file): one at a time.
mm_open() {
	[ -f "$T/mmapw.py" ] || cat >"$T/mmapw.py" <<'EOF'
import mmap, sys
f = open(sys.argv[1], "r+b")
m = mmap.mmap(f.fileno(), 0)
for line in sys.stdin:
    cmd = line.split()
    if cmd[0] == "poke":
        m[int(cmd[1]):int(cmd[1]) + len(cmd[2])] = cmd[2].encode()
    elif cmd[0] == "close":
        m.close()
        f.close()
    print("ok", flush=True)
EOF
	coproc MM { exec python3 "$T/mmapw.py" "$1"; }
	TEST_PIDS+=("$MM_PID")
}
mm() {
	local reply
	echo "$*" >&"${MM[1]}"
	read -r -t "$WAIT_BOUND" reply <&"${MM[0]}" || fail "mmap writer: no answer to '$*'"
	expect_eq "mmap writer: $*" ok "$reply"
}
mm_end() {
	local pid=$MM_PID fd=${MM[1]}
	mm close
	exec {fd}>&-
	wait "$pid" 2>/dev/null || :
}
