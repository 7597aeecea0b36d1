#!/bin/bash
# Hundreds of keep-alive clients loop requests across a SIGTERM (tests/loadc.py), and every
# request is accounted for against the moment of the trigger: none sent before it may go
# unanswered or be cut short, and the daemon's exit status and summary must say what
# happened. Rounds: plain looping with a share of 1 MiB downloads and slow readers;
# pipelining (ten requests per write on a tenth of the connections); a request sitting
# unread in every idle connection at the trigger, one each and ten each; a full accept
# queue (the daemon stopped with SIGSTOP while 200 more clients connect and send, then
# SIGTERM and SIGCONT); and files changing under the root every 100 ms with the file cache
# on, while 16 MiB downloads run (a signal to a worker inside sendfile() stalled them),
# after a warm-up longer than the 5 s grace gives a fresh connection.
. "$top_srcdir/tests/lib.sh"
command -v python3 >/dev/null || skip "python3 is needed for the clients"
LOADC=(python3 "$top_srcdir/tests/loadc.py")

R=$T/www
mkdir -p "$R"
head -c 1024 /dev/urandom >"$R/small.txt"
head -c 1048576 /dev/urandom >"$R/big.bin"
head -c 16777216 /dev/urandom >"$R/huge.bin"

# round NAME [LOADC OPTIONS...] [-- SERVICED OPTIONS...]
round() {
	local name=$1 load=() svc=() rc=0
	shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do load+=("$1"); shift; done
	[ $# -gt 0 ] && shift
	svc=("$@")
	svc_start --root "$R" --grace 20s "${svc[@]}"
	"${LOADC[@]}" "$SVC_PORT" "$SVC_PID" --json "$T/$name.json" "${load[@]}" \
		>"$T/$name.out" 2>&1 || rc=$?
	wait_exit "$SVC_PID" 40
	echo "$name: $(cat "$T/$name.out")"
	[ "$rc" = 0 ] || fail "$name: requests lost or cut: $(cat "$T/$name.out")"
	expect_eq "$name: exit status" 0 "$EXIT_STATUS"
	log_has 'during shutdown [0-9]+ requests completed, 0 cut' ||
		fail "$name: the summary counts cut requests: $(grep 'shutdown:' "$SVC_LOG")"
}

round loop --conns 300 --slow-readers 20
round pipeline --conns 200 --pipeline 10
round waiting --conns 300 --idle-burst 1
round waiting10 --conns 20 --idle-burst 10 --big-share 0
round backlog --conns 100 --stop-first 200
round churn --conns 100 --big /huge.bin --big-share 0.3 --warmup 40000 --churn "$R/churn.txt"
pass
