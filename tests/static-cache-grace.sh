#!/bin/bash
# tests/static-cache-grace.sh: the file cache stops when grace begins (its inotify watches
# are removed then, so that the exit does not wait for the kernel to free them), and a file
# asked for during grace is answered as it is now, from the file, with "Connection: close".
# A change made through a shared mapping is one the cache cannot see: before the shutdown the
# cached bytes are served, during grace the file's.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/static-lib.sh"

command -v curl >/dev/null || skip "curl not found"
command -v python3 >/dev/null || skip "python3 not found"

R=$T/root
mkdir -p "$R"
printf 'cached\n' >"$R/index.html"

# One worker thread, so one cache shard: the request after the mapping's change meets the
# entry the first two made.
svc_start --root "$R" --grace 30s --threads 1
expect_body / 'cached'
expect_body / 'cached'
# The mapping's change is invisible to the cache: "cached" still comes from it.
mm_open "$R/index.html"
mm poke 0 C
expect_body / 'cached'

# A client that connected before the shutdown and sends its request during grace (as in
# shutdown-fresh.sh).
request_in_grace "$T/late.out" "$T/body"
expect_eq "client saw" "answered, connection: close
closed" "$(cat "$T/late.out")"
expect_eq "body during grace" "Cached" "$(cat "$T/body")"
wait_exit "$SVC_PID"
expect_eq "daemon exit status" 0 "$EXIT_STATUS"
mm_end
pass
