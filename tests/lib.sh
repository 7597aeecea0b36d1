# tests/lib.sh: shared by the end-to-end tests. Sourced, never run.
#
# Every wait here waits for a state (a log line, a port, a process exit) with a bound; none
# sleeps a fixed time and hopes. A test exits 0 (pass), 1 (fail) or 77 (skip).

set -u
: "${SERVICED:?SERVICED must name the daemon binary}"
: "${SERVICECTL:=}"
: "${top_srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"

T=$(mktemp -d "${TMPDIR:-/tmp}/serviced-test.XXXXXX")
TEST_PIDS=()
WAIT_BOUND=${WAIT_BOUND:-20}   # seconds any single wait may take before the test fails

cleanup() {
	local p
	# Subshells inherit this trap; only the test's own shell may clean up.
	[ "$BASHPID" = "$$" ] || return 0
	# bash complains about children it has already reaped; the test has spoken by now.
	exec 2>/dev/null
	for p in "${TEST_PIDS[@]:-}"; do
		{ [ -n "$p" ] && kill -9 "$p" && wait "$p"; } 2>/dev/null
	done
	rm -rf "$T"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	if [ -n "${SVC_LOG:-}" ] && [ -f "$SVC_LOG" ]; then
		echo "--- daemon log ($SVC_LOG) ---" >&2
		tail -n 40 "$SVC_LOG" >&2
	fi
	exit 1
}

skip() {
	echo "SKIP: $*" >&2
	exit 77
}

pass() {
	echo "PASS: ${1:-$(basename "$0")}"
}

# wait_until DESCRIPTION COMMAND...: reruns COMMAND until it succeeds, for at most WAIT_BOUND s.
wait_until() {
	local what=$1 deadline=$((SECONDS + WAIT_BOUND))
	shift
	until "$@"; do
		[ "$SECONDS" -lt "$deadline" ] || fail "timed out waiting for: $what"
		sleep 0.01
	done
}

# svc_start [ARGS...]: starts the daemon on a free loopback port and waits until it logs
# where it listens. Sets SVC_PID, SVC_PORT, SVC_URL, SVC_LOG, SVC_CONTROL. The daemon binds
# port 0 and a control socket in $T unless ARGS name --listen or --control. Set SVC_BIN to
# start another program that takes the same options (a test server built on libserviced).
svc_start() {
	local listen=(--listen 127.0.0.1:0) control a n=${#TEST_PIDS[@]}
	SVC_CONTROL=$T/control.$n.sock
	control=(--control "$SVC_CONTROL")
	for a in "$@"; do
		[ "$a" = --listen ] && listen=()
		[ "$a" = --control ] && control=()
	done
	SVC_LOG=$T/serviced.$n.log
	"${SVC_BIN:-$SERVICED}" "${listen[@]}" "${control[@]}" "$@" >"$SVC_LOG" 2>&1 &
	SVC_PID=$!
	TEST_PIDS+=("$SVC_PID")
	wait_until "serviced to listen" svc_listening
	SVC_PORT=$(sed -n 's/.*listening on http:\/\/[^ ]*:\([0-9][0-9]*\).*/\1/p' "$SVC_LOG" | head -n 1)
	SVC_URL=http://127.0.0.1:$SVC_PORT
}

svc_listening() {
	grep -q 'listening on http://' "$SVC_LOG" 2>/dev/null && return 0
	kill -0 "$SVC_PID" 2>/dev/null || fail "serviced exited before listening"
	return 1
}

# log_has PATTERN: the daemon's log has a line matching the extended regex.
log_has() {
	grep -Eq -- "$1" "$SVC_LOG"
}

# wait_log PATTERN: waits until the daemon logs a line matching PATTERN.
wait_log() {
	wait_until "log line /$1/" log_has "$1"
}

# wait_exit PID [BOUND]: waits for a child of this shell to exit and sets EXIT_STATUS. Fails
# (killing it) if it is still alive after BOUND seconds (default WAIT_BOUND). Not for $(...):
# a subshell cannot wait for its parent's children.
wait_exit() {
	local pid=$1 bound=${2:-$WAIT_BOUND}
	local saved=$WAIT_BOUND
	WAIT_BOUND=$bound
	wait_until "process $pid to exit" exited "$pid"
	WAIT_BOUND=$saved
	# bash keeps the status of its background children, reaped or not.
	EXIT_STATUS=0
	wait "$pid" 2>/dev/null || EXIT_STATUS=$?
	return 0
}

# exited PID: the process is gone or a zombie.
exited() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
	stat=${stat##*) }
	[ "${stat%% *}" = Z ]
}

# request_in_grace OUT [BODY]: a client connects and says nothing; once the daemon counts
# it, SIGTERM; once grace has begun, the client sends its request (httpc.py fresh, whose
# output goes to OUT and body to BODY). Fails unless the client got its answer.
request_in_grace() {
	local client rc=0
	python3 "$top_srcdir/tests/httpc.py" fresh "$SVC_PORT" "$T/connected" "$T/go" ${2:+"$2"} \
		>"$1" 2>&1 &
	client=$!
	TEST_PIDS+=("$client")
	wait_until "the client to connect" test -s "$T/connected"
	# The daemon has registered it once it counts one open connection.
	wait_until "the connection to be registered" sh -c "'$SERVICECTL' -s '$SVC_CONTROL' --json status | grep -q '\"connections_open\":1'"
	kill -TERM "$SVC_PID"
	wait_log 'running -> grace'
	touch "$T/go"
	wait "$client" || rc=$?
	expect_eq "client exit status" 0 "$rc"
}

# http_code URL [CURL ARGS...]: prints the status code of one request.
http_code() {
	local url=$1
	shift
	curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@" "$url"
}

# expect_eq WHAT EXPECTED ACTUAL
expect_eq() {
	[ "$2" = "$3" ] || fail "$1: expected '$2', got '$3'"
}
