#!/bin/bash
# bench/smoke.sh: bench/run.sh --smoke under `make check`: every measurement for about a
# second, with tiny counts, so the benchmark scripts and programs keep working. It checks
# that each figure was produced, never a target: figures from a busy CI machine mean
# nothing. Skips (77) when wrk or nginx is not installed (Debian: wrk, nginx-light).
set -u
here=$(cd "$(dirname "$0")" && pwd)
out=$(mktemp -d "${TMPDIR:-/tmp}/serviced-smoke.XXXXXX")
trap 'rm -rf "$out"' EXIT

# In a sanitizer build: svcbench and bare are measurement programs that keep their buffers
# until they exit, and LeakSanitizer would fail the run for it. serviced's own leaks are
# checked by every other test; here only that the figures come out is.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"

plot=()
command -v gnuplot >/dev/null 2>&1 && plot=(--plot "$out/drain.png")
bash "$here/run.sh" --smoke "${plot[@]}" >"$out/table" 2>"$out/log"
rc=$?
cat "$out/table"
[ "$rc" = 77 ] && { cat "$out/log" >&2; exit 77; }
if [ "$rc" != 0 ]; then
	echo "FAIL: run.sh --smoke exited with status $rc" >&2
	cat "$out/log" >&2
	exit 1
fi
# Every row of the table has a figure in the serviced column.
for want in 'req/s, keep-alive, -c64' 'req/s, Connection: close, -c1000' \
	'server CPU us per request, keep-alive, -c64' 'idle SIGTERM -> exit' \
	'last response -> exit, ms (slow client' 'last response -> exit, ms (testapp' \
	'idle keep-alive connections: SIGTERM -> all see EOF' \
	'control: status round trip, idle' 'control: status round trip under' \
	'idle RSS, MiB' 'RSS with' 'drain under load'; do
	line=$(grep -F -- "$want" "$out/table" | head -n 1)
	[ -n "$line" ] || { echo "FAIL: no row '$want'" >&2; exit 1; }
	cell=$(echo "$line" | awk -F' [|] ' '{ print $2 }')
	case $cell in
	'' | -* | 'not run'*) echo "FAIL: no figure in row '$want': $line" >&2; exit 1 ;;
	esac
done
if [ ${#plot[@]} -gt 0 ] && [ ! -s "$out/drain.png" ]; then
	echo "FAIL: no drain plot" >&2
	exit 1
fi
echo "PASS: bench smoke run"
