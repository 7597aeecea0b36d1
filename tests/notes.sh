#!/bin/bash
# examples/notes, a SQLite notes store on libserviced, under write load:
#  - SIGTERM while four connections POST notes as fast as they are answered: the store
#    exits 0, its shutdown hook closes the database (the WAL is checkpointed away), and,
#    restarted on the same file, it returns every note it acknowledged with 201, with its
#    text; its totals row agrees with the notes (no write half applied);
#  - the same after SIGKILL: an acknowledged write survives a crash too;
#  - a POST waiting unread in each of 100 connections at SIGTERM: every note committed is
#    one acknowledged, none run and left unanswered;
#  - the API's answers: 201, 200, 400 (bad JSON, wrong shape), 404, 405, 413.
. "$top_srcdir/tests/lib.sh"
NOTES=$top_builddir/examples/notes
[ -x "$NOTES" ] || skip "examples/notes is not built"
command -v python3 >/dev/null || skip "python3 is needed for the clients"
FAULTC=("python3" "$top_srcdir/tests/faultc.py")
DB=$T/notes.db

notes_start() {
	SVC_BIN=$NOTES svc_start --db "$DB" --grace 30s
}
lines_at_least() { [ -s "$2" ] && [ "$(wc -l <"$2")" -ge "$1" ]; }

# writers OUT: starts 4 writing connections, waits until each has a note acknowledged
# and 100 are in all (each is a commit with an fsync: slow disks make it slow).
writers() {
	rm -f "$T/ready"
	"${FAULTC[@]}" notes-write "$SVC_PORT" "$1" 4 "$T/ready" >"$T/writers.out" 2>&1 &
	writer_pid=$!
	TEST_PIDS+=("$writer_pid")
	wait_until "every writer to have a note acknowledged" test -e "$T/ready"
	wait_until "100 notes acknowledged" lines_at_least 100 "$1"
}

# consistent ACKED: the running store returns every acknowledged note, and its totals
# agree with its rows.
consistent() {
	"${FAULTC[@]}" notes-check "$SVC_PORT" "$1" || fail "acknowledged notes are missing"
	totals=$(curl -s --max-time 10 "$SVC_URL/notes")
	python3 - "$totals" "$(wc -l <"$1")" <<'PY' || fail "totals do not agree: $totals"
import json, sys
t, acked = json.loads(sys.argv[1]), int(sys.argv[2])
assert t["count"] == t["rows"] and t["bytes"] == t["row_bytes"], t
assert t["rows"] >= acked, (t, acked)
PY
}

# --- SIGTERM under load -------------------------------------------------------------------
notes_start
writers "$T/acked.1"
kill -TERM "$SVC_PID"
wait_exit "$SVC_PID"
expect_eq "store exit status after SIGTERM under load" 0 "$EXIT_STATUS"
wait_exit "$writer_pid"
expect_eq "writers: $(cat "$T/writers.out")" 0 "$EXIT_STATUS"
log_has '^notes: database closed$' || fail "the shutdown hook did not close the database"
[ ! -e "$DB-wal" ] || fail "the WAL is still there: the database was not closed"

notes_start
consistent "$T/acked.1"

# --- a POST waiting in each of 100 connections at SIGTERM ------------------------------------
# Every note the store committed was acknowledged, and every one acknowledged is there: a
# write run but never answered would be made twice by a client that retries.
kill -TERM "$SVC_PID"
wait_exit "$SVC_PID"
DB=$T/burst.db
notes_start
python3 "$top_srcdir/tests/loadc.py" "$SVC_PORT" "$SVC_PID" --conns 100 --big-share 0 \
	--small /notes --post '{"text":"waiting"}' --ok 201 --idle-burst 1 --json "$T/burst.json" \
	>"$T/burst.out" 2>&1 || fail "POSTs lost or cut across SIGTERM: $(cat "$T/burst.out")"
wait_exit "$SVC_PID"
expect_eq "store exit status after the waiting POSTs" 0 "$EXIT_STATUS"
notes_start
python3 - "$(curl -s --max-time 10 "$SVC_URL/notes")" "$T/burst.json" <<'PY' ||
import json, sys
t, acct = json.loads(sys.argv[1]), json.load(open(sys.argv[2]))
assert t["rows"] == acct["answered"], ("committed", t["rows"], "acknowledged", acct["answered"])
PY
	fail "committed and acknowledged notes differ: $(cat "$T/burst.out")"
kill -TERM "$SVC_PID"
wait_exit "$SVC_PID"
DB=$T/notes.db
notes_start

# --- the API's answers, on the restarted store ----------------------------------------------
post() { curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@" "$SVC_URL/notes"; }
expect_eq "POST" 201 "$(post -d '{"text":"a note"}')"
expect_eq "bad JSON" 400 "$(post -d 'not json')"
expect_eq "text not a string" 400 "$(post -d '{"text":1}')"
expect_eq "unknown field" 400 "$(post -d '{"text":"a","x":1}')"
expect_eq "no text" 400 "$(post -d '{}')"
big=$(head -c 20000 /dev/zero | tr '\0' a)
expect_eq "too large" 413 "$(post -d "{\"text\":\"$big\"}")"
expect_eq "too large, chunked" 413 "$(post -H 'Transfer-Encoding: chunked' -d "{\"text\":\"$big\"}")"
expect_eq "unknown id" 404 "$(http_code "$SVC_URL/notes/999999999")"
expect_eq "not an id" 404 "$(http_code "$SVC_URL/notes/abc")"
expect_eq "DELETE" 405 "$(http_code "$SVC_URL/notes/1" -X DELETE)"
id=$(curl -s --max-time 10 -d '{"text":"caf\u00e9 \"quoted\""}' "$SVC_URL/notes" |
	python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
expect_eq "read back" 'café "quoted"' \
	"$(curl -s --max-time 10 "$SVC_URL/notes/$id" | python3 -c 'import json, sys; print(json.load(sys.stdin)["text"])')"

# --- SIGKILL under load -------------------------------------------------------------------
writers "$T/acked.2"
kill -KILL "$SVC_PID"
wait_exit "$SVC_PID"
expect_eq "store exit status after SIGKILL" 137 "$EXIT_STATUS"
wait_exit "$writer_pid"
expect_eq "writers: $(cat "$T/writers.out")" 0 "$EXIT_STATUS"

notes_start
consistent "$T/acked.1"
consistent "$T/acked.2"
kill -TERM "$SVC_PID"
wait_exit "$SVC_PID"
expect_eq "store exit status" 0 "$EXIT_STATUS"
pass
