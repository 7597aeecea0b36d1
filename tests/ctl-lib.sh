# shellcheck shell=bash
# tests/ctl-lib.sh: shared by the servicectl end-to-end tests (tests/ctl-*.sh). Sourced,
# never run. Builds on tests/lib.sh: every wait is for a state, with a bound.

. "$top_srcdir/tests/lib.sh"

[ -n "$SERVICECTL" ] || skip "SERVICECTL is not set"
command -v python3 >/dev/null || skip "python3 is needed to read the JSON replies"

CTL_SOCK=$T/control.sock

# ctl ARGS...: servicectl on the test's socket.
ctl() {
	"$SERVICECTL" -s "$CTL_SOCK" "$@"
}

ctl_answers() {
	kill -0 "$SVC_PID" 2>/dev/null || fail "serviced exited before its control socket answered"
	ctl -q ping 2>/dev/null
}

# ctl_start [ARGS...]: starts the daemon with its control socket at CTL_SOCK and waits until
# the socket answers.
ctl_start() {
	svc_start --control "$CTL_SOCK" "$@"
	wait_until "the control socket to answer" ctl_answers
}

# rc_of COMMAND...: prints the exit status of COMMAND (its output discarded).
rc_of() {
	local rc=0
	"$@" >/dev/null 2>&1 || rc=$?
	echo "$rc"
}

# jget JSON EXPR: evaluates the Python expression EXPR over the object d parsed from JSON
# (one object; fails the test if JSON does not parse).
jget() {
	python3 -c 'import json, sys; d = json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2" ||
		fail "not one JSON object: $1"
}

# jrun JSON SCRIPT: runs the Python SCRIPT with d bound to the object parsed from JSON.
jrun() {
	python3 -c 'import json, sys; d = json.loads(sys.argv[1]); exec(sys.argv[2])' "$1" "$2" ||
		fail "not one JSON object, or the script failed: $1"
}

# ctl_state: the daemon's state, from status --json.
ctl_state() {
	jget "$(ctl --json status)" 'd["state"]'
}

# state_is STATE: the daemon reports STATE.
state_is() {
	[ "$(ctl_state 2>/dev/null)" = "$1" ]
}

# ctl_clients: how many control clients the daemon holds open: its connected sockets on
# CTL_SOCK's path, from /proc/net/unix (accepted sockets carry the listener's path).
ctl_clients() {
	python3 - "$SVC_PID" "$CTL_SOCK" <<'EOF'
import os, sys
pid, path = sys.argv[1], sys.argv[2]
inodes = set()
for fd in os.listdir("/proc/%s/fd" % pid):
    try:
        link = os.readlink("/proc/%s/fd/%s" % (pid, fd))
    except OSError:
        continue
    if link.startswith("socket:["):
        inodes.add(link[8:-1])
n = 0
for line in open("/proc/net/unix").readlines()[1:]:
    f = line.split()
    if len(f) >= 8 and f[7] == path and f[6] in inodes and f[5] == "03":
        n += 1
print(n)
EOF
}

no_clients() {
	[ "$(ctl_clients)" = 0 ]
}

# fd_count PID: how many descriptors the process holds.
fd_count() {
	ls "/proc/$1/fd" | wc -l
}
