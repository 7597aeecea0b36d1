#!/bin/bash
# A request whose client went away while the daemon was running is counted as aborted, not
# cut: it is not the shutdown's doing, and "shutdown --wait" reports a clean stop (exit 0).
. "$top_srcdir/tests/lib.sh"

mkdir -p "$T/root"
head -c $((16 * 1024 * 1024)) /dev/zero >"$T/root/big.bin"
svc_start --root "$T/root"
# Read a little of a large file, then hang up.
curl -s --limit-rate 1M "$SVC_URL/big.bin" | head -c 1000 >/dev/null
aborted_while_running() {
	"$SERVICECTL" -s "$SVC_CONTROL" --json status |
		python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if d["aborted"]["running"] >= 1 and sum(d["cut"].values()) == 0 else 1)'
}
wait_until "the hang-up to count as aborted (not cut) while running" aborted_while_running
rc=0
"$SERVICECTL" -s "$SVC_CONTROL" shutdown --wait >"$T/wait.out" || rc=$?
expect_eq "servicectl shutdown --wait exit status" 0 "$rc"
grep -q 'requests completed, 0 cut' "$T/wait.out" || fail "final line: $(tail -n 1 "$T/wait.out")"
wait_exit "$SVC_PID"
expect_eq "daemon exit status" 0 "$EXIT_STATUS"
pass
