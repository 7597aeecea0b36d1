#!/bin/bash
# bench/run.sh: serviced against nginx and against bare libmicrohttpd, on loopback, in one
# run. It starts every server itself (nginx with a private config under a temporary
# directory), interleaves the repetitions, and prints one table of medians and ratios with
# each target marked met or missed. `make bench` runs it; bench/smoke.sh runs it with
# --smoke under `make check`, to keep it working (smoke figures mean nothing).
#
#   bench/run.sh [--smoke] [--runs N] [--duration SECONDS] [--conns N] [--plot FILE]
#                [--keep DIR]
#
# The binaries come from the environment (make bench sets them): SERVICED, SERVICECTL,
# TESTAPP, BARE, SVCBENCH; SERVICED_ALT (and TESTAPP_ALT) add a column for another
# serviced build, measured in the same run. Needs wrk and nginx (Debian: wrk,
# nginx-light); gnuplot (gnuplot-nox) for the drain plot. Exit status: 0 when it ran (targets missed or not),
# 1 when a measurement failed, 77 (skip) in smoke mode when a tool is missing.
set -u

SMOKE=0 RUNS=3 DURATION=5 CONNS=10000 PLOT= KEEP=
while [ $# -gt 0 ]; do
	case $1 in
	--smoke) SMOKE=1 ;;
	--runs) RUNS=$2; shift ;;
	--duration) DURATION=$2; shift ;;
	--conns) CONNS=$2; shift ;;
	--plot) PLOT=$2; shift ;;
	--keep) KEEP=$2; shift ;;
	-h | --help) sed -n '2,16p' "$0"; exit 0 ;;
	*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
	esac
	shift
done

here=$(cd "$(dirname "$0")" && pwd)
: "${top_builddir:=$(pwd)}"
: "${SERVICED:=$top_builddir/serviced}"
: "${SERVICECTL:=$top_builddir/servicectl}"
: "${TESTAPP:=$top_builddir/tests/testapp}"
: "${BARE:=$top_builddir/bench/bare}"
: "${SVCBENCH:=$top_builddir/bench/svcbench}"
: "${RSSFLOOR:=$top_builddir/bench/rssfloor}" # -mhd and -deps
# An alternative serviced build, measured in the same run beside the tree's (an engine
# change under evaluation): SERVICED_ALT, with TESTAPP_ALT and ALT_LABEL optional.
: "${SERVICED_ALT:=}" "${TESTAPP_ALT:=}" "${ALT_LABEL:=proposed}"
ALT=$SERVICED_ALT

# Sizes. Smoke: a second of each, tiny counts, one run.
# The drain: DRAIN_CLIENTS slow downloads of a sparse BIG_MIB file, each at its own rate
# in DRAIN_RATE (KiB/s), begun DRAIN_BEFORE ms before the SIGTERM.
IDLE_REPS=20 INFLIGHT_REPS=5 SLEEP_MS=200 STATUS_N=20000 WARMUP=1
DRAIN_CLIENTS=24 BIG_MIB=16 DRAIN_RATE=4096:24576 DRAIN_BEFORE=1000
# Requests across a shutdown: LOAD_CONNS keep-alive clients looping (tests/loadc.py).
LOAD_CONNS=1000
LOADC=${LOADC:-$here/../tests/loadc.py}
if [ "$SMOKE" = 1 ]; then
	LOAD_CONNS=50
	RUNS=1 DURATION=1 CONNS=50 IDLE_REPS=3 INFLIGHT_REPS=1 SLEEP_MS=50 STATUS_N=200 WARMUP=0
	DRAIN_CLIENTS=4 BIG_MIB=1 DRAIN_RATE=4096:8192 DRAIN_BEFORE=200
fi

skip_or_fail() {
	if [ "$SMOKE" = 1 ]; then
		echo "SKIP: $*" >&2
		exit 77
	fi
	echo "run.sh: $*" >&2
	exit 1
}
for tool in wrk nginx; do
	command -v "$tool" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin
	command -v "$tool" >/dev/null 2>&1 || skip_or_fail "$tool not found (Debian: apt-get install wrk nginx-light)"
done
for b in "$SERVICED" "$SERVICECTL" "$TESTAPP" "$BARE" "$SVCBENCH" "$RSSFLOOR-mhd" \
	"$RSSFLOOR-deps" $ALT; do
	[ -x "$b" ] || skip_or_fail "$b not built (make bench builds it)"
done

# 10,000 connections need as many descriptors, in us and in the servers we start.
ulimit -n "$(ulimit -Hn)" 2>/dev/null
NOFILE=$(ulimit -n)
[ "$NOFILE" = unlimited ] && NOFILE=1048576
if [ "$NOFILE" -lt $((CONNS + 1100)) ]; then
	n=$((NOFILE - 1100 < 10 ? 10 : NOFILE - 1100))
	echo "run.sh: open-file limit $NOFILE: $CONNS idle connections reduced to $n" >&2
	CONNS=$n
fi
MAXCONN=$((CONNS + 1024))
# bare runs with serviced's per-connection memory (its default, from its --help), so the
# two differ in nothing libmicrohttpd is told. BENCH_CONN_MEM (bytes) sets it for every
# libmicrohttpd server instead.
CONN_MEM_K=$("$SERVICED" --help 2>/dev/null | sed -n 's/.*--connection-memory .*(\([0-9][0-9]*\)k).*/\1/p')
BARE_MEM=(--connection-memory $((${CONN_MEM_K:-32} * 1024)))
SVC_MEM=()
if [ -n "${BENCH_CONN_MEM:-}" ]; then
	BARE_MEM=(--connection-memory "$BENCH_CONN_MEM")
	SVC_MEM=(--connection-memory "$BENCH_CONN_MEM")
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/serviced-bench.XXXXXX")
chmod 755 "$T" # nginx's workers run as nobody when we are root
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]:-}"; do
		[ -n "$p" ] && kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	if [ -n "$KEEP" ]; then
		mkdir -p "$KEEP" && cp -r "$T"/. "$KEEP"/
	fi
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

FAILED=0
note() { echo "# $*" >&2; }
failed() { echo "run.sh: FAILED: $*" >&2; FAILED=1; }

# ---- helpers --------------------------------------------------------------------------

# kv FILE KEY: the value of a "key value" line of svcbench output.
kv() { awk -v k="$2" '$1 == k { print $2; exit }' "$1" 2>/dev/null; }

# median VALUES...: the median (mean of the middle two for an even count); "" for none.
# (Plain awk: Debian's default is mawk, which has no asort.)
median() {
	printf '%s\n' "$@" | awk 'NF' | sort -g | awk '{ v[++n] = $1 } END {
		if (n == 0) exit
		printf "%.6g\n", n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2 }'
}

# spread VALUES...: "min-max" of the values.
spread() {
	printf '%s\n' "$@" | awk 'NF { if (n++ == 0 || $1 < lo) lo = $1; if ($1 > hi) hi = $1 }
		END { if (n) printf "%.0f-%.0f", lo, hi }'
}

# CPU busy on this machine over one second while our servers idle, in cores: the noise.
background_busy() {
	local a b
	a=$(awk '/^cpu /{ print $2+$3+$4+$7+$8+$9, $5+$6 }' /proc/stat)
	sleep 1
	b=$(awk '/^cpu /{ print $2+$3+$4+$7+$8+$9, $5+$6 }' /proc/stat)
	echo "$a $b" | awk -v n="$(nproc)" '{ busy = $3 - $1; idle = $4 - $2
		if (busy + idle > 0) printf "%.2f\n", n * busy / (busy + idle) }'
}

# mark NAME: notes the machine's busy CPU time and our own (this shell and every child it
# has waited for), in seconds, and the time. Between two marks taken when all our children
# of the span have been waited for, the difference is what other processes used: the noise.
declare -A MARK_BUSY MARK_OURS MARK_T
mark() {
	MARK_BUSY[$1]=$(awk -v hz="$(getconf CLK_TCK)" '/^cpu /{ printf "%.2f\n", ($2+$3+$4+$7+$8+$9) / hz }' /proc/stat)
	times >"$T/times" # here, not in a $(...) subshell, which would report its own
	MARK_OURS[$1]=$(awk '{ for (i = 1; i <= NF; i++) { split($i, a, /[ms]/); t += a[1] * 60 + a[2] } }
		END { printf "%.2f\n", t }' "$T/times")
	MARK_T[$1]=$(awk '{ print $1 }' /proc/uptime)
}
# others FROM TO: the CPUs other processes kept busy on average between two marks.
others() {
	awk -v b="${MARK_BUSY[$2]} ${MARK_BUSY[$1]}" -v o="${MARK_OURS[$2]} ${MARK_OURS[$1]}" \
		-v t="${MARK_T[$2]} ${MARK_T[$1]}" 'BEGIN { split(b, B, " "); split(o, O, " "); split(t, T, " ")
		x = (B[1] - B[2]) - (O[1] - O[2]); if (x < 0) x = 0
		if (T[1] > T[2]) printf "%.2f", x / (T[1] - T[2]) }'
}

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }

# wait_port PORT: until something accepts on 127.0.0.1:PORT (10 s at most).
wait_port() {
	local i
	for i in $(seq 1000); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.01
	done
	return 1
}

# start_logged NAME CMD...: starts a server that logs "listening on http://ADDR:PORT",
# waits for that line; sets PID and PORT.
start_logged() {
	local name=$1 log=$T/$1.log i
	shift
	"$@" >"$log" 2>&1 &
	PID=$!
	PIDS+=("$PID")
	for i in $(seq 1000); do
		PORT=$(sed -n 's/.*listening on http:\/\/[^ ]*:\([0-9][0-9]*\).*/\1/p' "$log" | head -n 1)
		[ -n "$PORT" ] && return 0
		kill -0 "$PID" 2>/dev/null || break
		sleep 0.01
	done
	cat "$log" >&2
	skip_or_fail "$name did not start"
}

# stop PID: SIGTERM and reap.
stop() {
	kill "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}

# reap PID SECONDS: waits for a child to exit by itself, SIGKILLs it after SECONDS; sets
# STATUS (137 when it had to be killed).
reap() {
	local i
	for i in $(seq $(($2 * 100))); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.01
	done
	kill -9 "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	STATUS=$?
}

# cpu_us PID...: CPU time used so far by these processes (all their threads), in µs,
# from the scheduler's own nanosecond account.
cpu_us() {
	local p
	for p in "$@"; do cat /proc/"$p"/task/*/schedstat 2>/dev/null; done |
		awk '{ s += $1 } END { printf "%.0f\n", s / 1000 }'
}

# wrk_run URL CONNS close|keep SECONDS [PID...]: sets RPS (requests/s) and CPU (server CPU
# µs per request, from the PIDs), both empty on failure; errors go to $T/wrk.errors.
wrk_run() {
	local url=$1 conns=$2 mode=$3 secs=$4 out c0 c1 n hdr=()
	shift 4
	[ "$mode" = close ] && hdr=(-H 'Connection: close')
	c0=$(cpu_us "$@")
	out=$(wrk -t2 -c"$conns" -d"$secs"s --timeout 5s "${hdr[@]}" "$url" 2>&1)
	c1=$(cpu_us "$@")
	if echo "$out" | grep -Eq 'Non-2xx|Socket errors: connect [1-9]|read [1-9][0-9]*, write|timeout [1-9]'; then
		echo "$url -c$conns $mode: $(echo "$out" | grep -E 'Non-2xx|Socket errors')" >>"$T/wrk.errors"
	fi
	RPS=$(echo "$out" | awk '/^Requests\/sec:/ { printf "%.0f\n", $2 }')
	n=$(echo "$out" | awk '/ requests in / { print $1 }')
	CPU=
	[ $# -gt 0 ] && [ -n "$n" ] && [ "$n" -gt 0 ] &&
		CPU=$(awk -v a="$c0" -v b="$c1" -v n="$n" 'BEGIN { printf "%.2f\n", (b - a) / n }')
}

# ---- the servers ------------------------------------------------------------------------

WWW=$T/www
mkdir -p "$WWW"
chmod 755 "$WWW"
# A small page (612 bytes, the size of nginx's welcome page) and, for the drain, a
# download far larger than loopback's socket buffers (sparse: it costs no disk).
{
	printf '<!DOCTYPE html>\n<html><head><title>serviced bench</title></head><body>\n'
	for i in $(seq 9); do
		printf '<p>line %d of a small static page served by every server.</p>\n' "$i"
	done
	printf '</body></html>\n'
} | head -c 612 >"$WWW/index.html"
truncate -s "${BIG_MIB}M" "$WWW/big.bin"
chmod 644 "$WWW"/*
FILE_BYTES=$(stat -c %s "$WWW/index.html")

NGX=$T/nginx
mkdir -p "$NGX/tmp"
NGINX_PORT=$("$SVCBENCH" free-port)
cat >"$NGX/nginx.conf" <<EOF
# Minimal: 2 workers, no access log; everything else is nginx's default.
worker_processes 2;
worker_rlimit_nofile $((MAXCONN + 64));
daemon off;
pid $NGX/nginx.pid;
error_log $NGX/error.log warn;
events { worker_connections $MAXCONN; }
http {
	types { text/html html; }
	access_log off;
	client_body_temp_path $NGX/tmp/body;
	proxy_temp_path $NGX/tmp/proxy;
	fastcgi_temp_path $NGX/tmp/fastcgi;
	uwsgi_temp_path $NGX/tmp/uwsgi;
	scgi_temp_path $NGX/tmp/scgi;
	server {
		listen 127.0.0.1:$NGINX_PORT;
		root $WWW;
	}
}
EOF

note "serviced vs nginx vs bare libmicrohttpd; $(nproc) CPUs; runs $RUNS x ${DURATION}s; $(date -u '+%Y-%m-%d %H:%M UTC')"
BUSY_BEFORE=$(background_busy)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
note "background CPU busy before: $BUSY_BEFORE cores (load average $LOAD_BEFORE)"
mark start

# Each server's command line (serviced's and its alternative's differ in the socket).
svc_cmd() { # svc_cmd BINARY SOCKET [ARGS...]
	local bin=$1 sock=$2
	shift 2
	echo "$bin" --root "$WWW" --listen 127.0.0.1:0 --control "$sock" "${SVC_MEM[@]}" "$@"
}
# shellcheck disable=SC2046 # the paths here hold no spaces: mktemp and make's
start_logged serviced $(svc_cmd "$SERVICED" "$T/c.sock" --max-connections "$MAXCONN")
SVC_PID=$PID SVC_PORT=$PORT
if [ -n "$ALT" ]; then
	# shellcheck disable=SC2046
	start_logged alt $(svc_cmd "$SERVICED_ALT" "$T/alt.sock" --max-connections "$MAXCONN")
	ALT_PID=$PID ALT_PORT=$PORT
fi
start_logged bare "$BARE" --file "$WWW/index.html" --listen 127.0.0.1:0 --max-connections "$MAXCONN" \
	"${BARE_MEM[@]}"
BARE_PID=$PID BARE_PORT=$PORT
nginx -p "$NGX" -c "$NGX/nginx.conf" -e "$NGX/error.log" >"$T/nginx.log" 2>&1 &
NGX_PID=$!
PIDS+=("$NGX_PID")
wait_port "$NGINX_PORT" || { cat "$NGX/error.log" "$T/nginx.log" >&2; skip_or_fail "nginx did not start"; }

declare -A URL=([serviced]=http://127.0.0.1:$SVC_PORT/index.html
	[nginx]=http://127.0.0.1:$NGINX_PORT/index.html
	[bare]=http://127.0.0.1:$BARE_PORT/index.html)
# The processes whose CPU time counts: nginx's master and its workers.
declare -A SPIDS=([serviced]=$SVC_PID [bare]=$BARE_PID
	[nginx]="$NGX_PID $(cat /proc/"$NGX_PID"/task/*/children 2>/dev/null)")
SERVERS=(serviced nginx bare)
if [ -n "$ALT" ]; then
	URL[alt]=http://127.0.0.1:$ALT_PORT/index.html
	SPIDS[alt]=$ALT_PID
	SERVERS=(serviced alt nginx bare)
fi
for s in "${SERVERS[@]}"; do
	len=$(curl -s -o /dev/null -w '%{size_download}' "${URL[$s]}" 2>/dev/null || echo "?")
	[ "$len" = "$FILE_BYTES" ] || [ "$len" = "?" ] || failed "$s served $len bytes, not $FILE_BYTES"
done

# Idle RSS of nginx: master and workers.
NGX_RSS=0
for p in ${SPIDS[nginx]}; do
	NGX_RSS=$((NGX_RSS + $(rss_kib "$p" || echo 0)))
done

# ---- throughput -------------------------------------------------------------------------

MODES=(keep:64 keep:1000 close:64 close:1000)
declare -A RPS CPUR STATUS_LOOP STATUS_PACED
if [ "$WARMUP" -gt 0 ]; then
	for s in "${SERVERS[@]}"; do wrk_run "${URL[$s]}" 64 keep "$WARMUP"; done
fi
for r in $(seq "$RUNS"); do
	for mi in "${!MODES[@]}"; do
		m=${MODES[$mi]}
		# Rotate the order every run and mode, so no server always follows the same one.
		for i in "${!SERVERS[@]}"; do
			s=${SERVERS[$(((i + r + mi) % ${#SERVERS[@]}))]}
			# shellcheck disable=SC2086 # SPIDS holds a list
			wrk_run "${URL[$s]}" "${m#*:}" "${m%%:*}" "$DURATION" ${SPIDS[$s]}
			[ -n "$RPS" ] || failed "wrk against $s ($m) gave no figure"
			RPS[$s,$m]="${RPS[$s,$m]:-} $RPS"
			CPUR[$s,$m]="${CPUR[$s,$m]:-} $CPU"
		done
	done
	note "throughput run $r/$RUNS done"
done

# ---- the control plane --------------------------------------------------------------------

STATUS_OK=1
"$SVCBENCH" status --socket "$T/c.sock" -n "$STATUS_N" >"$T/status.idle" || STATUS_OK=0
"$SVCBENCH" pingpong -n "$STATUS_N" >"$T/status.floor" || failed "svcbench pingpong"
if [ "$STATUS_OK" = 1 ]; then
	for r in $(seq "$RUNS"); do
		# Back to back: a status loop as fast as the socket answers, against wrk.
		"$SVCBENCH" status --socket "$T/c.sock" -d "$DURATION" >"$T/status.load.$r" &
		sp=$!
		wrk_run "${URL[serviced]}" 64 keep "$DURATION"
		wait "$sp" || failed "status under load"
		STATUS_LOOP[$r]=$RPS
		[ "$SMOKE" = 1 ] && continue # the same code path twice more: not worth 2 s
		# Paced: one status every 10 ms, the drain sampler's rate.
		"$SVCBENCH" status --socket "$T/c.sock" -d "$DURATION" --pace-us 10000 \
			>"$T/status.paced.$r" &
		sp=$!
		wrk_run "${URL[serviced]}" 64 keep "$DURATION"
		wait "$sp" || failed "paced status under load"
		STATUS_PACED[$r]=$RPS
		# And without, next to it.
		wrk_run "${URL[serviced]}" 64 keep "$DURATION"
		RPS[serviced,nostatus]="${RPS[serviced,nostatus]:-} $RPS"
	done
	note "control plane done"
else
	note "control socket status: $(cat "$T/status.idle") -- not measured"
fi

SVC_RSS_AFTER=$(rss_kib "$SVC_PID")
BARE_RSS_AFTER=$(rss_kib "$BARE_PID")
ALT_RSS_AFTER=
[ -n "$ALT" ] && ALT_RSS_AFTER=$(rss_kib "$ALT_PID") && stop "$ALT_PID"
stop "$SVC_PID"
stop "$BARE_PID"
stop "$NGX_PID"
mark throughput

# ---- shutdown latency and memory ------------------------------------------------------------

declare -A SH
# shut KEY FKEY SVCBENCH-ARGS...: runs svcbench, appends figure FKEY to SH[KEY], and any
# other figure K to SH[KEY.K].
shut() {
	local key=$1 fkey=$2 out=$T/shut.$1.$r k
	shift 2
	if "$SVCBENCH" "$@" >"$out" 2>"$out.err"; then
		SH[$key]="${SH[$key]:-} $(kv "$out" "$fkey")"
		for k in rss_kib_median exit_ms_median cpu_ms_median; do
			grep -q "^$k " "$out" && SH[$key.$k]="${SH[$key.$k]:-} $(kv "$out" "$k")"
		done
	else
		failed "svcbench $1: $(tail -n 3 "$out.err" | tr '\n' ' ')"
	fi
}
# The serviced builds under test: the tree's, and the alternative if there is one.
SVC_KEYS=(svc)
declare -A SVC_BIN=([svc]=$SERVICED) APP_BIN=([svc]=$TESTAPP)
if [ -n "$ALT" ]; then
	SVC_KEYS+=(alt)
	SVC_BIN[alt]=$SERVICED_ALT
	APP_BIN[alt]=${TESTAPP_ALT:-}
fi
for r in $(seq "$RUNS"); do
	for k in "${SVC_KEYS[@]}"; do
		# shellcheck disable=SC2046
		shut "idle.$k" exit_us_median stop-idle -n "$IDLE_REPS" -- \
			$(svc_cmd "${SVC_BIN[$k]}" "$T/i.sock")
		# shellcheck disable=SC2046
		shut "slow.$k" resp_to_exit_us_median stop-inflight -n "$INFLIGHT_REPS" \
			--slow "$SLEEP_MS" --path /index.html -- $(svc_cmd "${SVC_BIN[$k]}" "$T/i.sock")
		[ -n "${APP_BIN[$k]}" ] &&
			shut "sleep.$k" resp_to_exit_us_median stop-inflight -n "$INFLIGHT_REPS" \
				--begin 'testapp: sleep begin' --path "/sleep?ms=$SLEEP_MS" -- \
				"${APP_BIN[$k]}" --listen 127.0.0.1:0
		# shellcheck disable=SC2046
		shut "conns.$k" closed_ms_median stop-conns -n 1 -c "$CONNS" --path /index.html -- \
			$(svc_cmd "${SVC_BIN[$k]}" "$T/i.sock" --max-connections "$MAXCONN")
	done
	shut idle.bare exit_us_median stop-idle -n "$IDLE_REPS" -- \
		"$BARE" --file "$WWW/index.html" --listen 127.0.0.1:0 "${BARE_MEM[@]}"
	shut conns.bare closed_ms_median stop-conns -n 1 -c "$CONNS" --path /index.html -- \
		"$BARE" --file "$WWW/index.html" --listen 127.0.0.1:0 --max-connections "$MAXCONN" \
		"${BARE_MEM[@]}"
	shut floor.1 closed_ms_median close-floor -n 1 -c "$CONNS" --threads 1
	# What the libraries alone keep resident, in a process that starts nothing.
	for f in mhd deps; do
		v=$("$RSSFLOOR-$f" | awk '$1 == "rss_kib" { print $2 }')
		[ -n "$v" ] && SH[rss.$f]="${SH[rss.$f]:-} $v" || failed "rssfloor-$f"
	done
	shut floor.2 closed_ms_median close-floor -n 1 -c "$CONNS" --threads 2
	note "shutdown run $r/$RUNS done"
done
mark shutdown

# ---- the drain timeline ---------------------------------------------------------------------

DRAIN_TSV=$T/drain.tsv WATCH_JSON=$T/watch.jsonl DRAIN_OK=0
# shellcheck disable=SC2046
start_logged drain $(svc_cmd "$SERVICED" "$T/d.sock" --max-connections "$MAXCONN")
D_PID=$PID D_PORT=$PORT
"$SERVICECTL" -s "$T/d.sock" --json watch >"$WATCH_JSON" 2>"$T/watch.err" &
W_PID=$!
PIDS+=("$W_PID")
# Fast keep-alive load on the small page, next to the slow downloads of svcbench.
wrk -t1 -c16 -d60s "http://127.0.0.1:$D_PORT/index.html" >"$T/drain.wrk" 2>&1 &
L_PID=$!
PIDS+=("$L_PID")
if "$SVCBENCH" drain --socket "$T/d.sock" --pid "$D_PID" --port "$D_PORT" --path /big.bin \
	--clients "$DRAIN_CLIENTS" --rate-kib "$DRAIN_RATE" --before-ms "$DRAIN_BEFORE" \
	--interval-ms 10 --out "$DRAIN_TSV" >"$T/drain.out" 2>"$T/drain.err"; then
	DRAIN_OK=1
else
	failed "drain: $(cat "$T/drain.err")"
fi
reap "$D_PID" 20
D_STATUS=$STATUS
stop "$L_PID"
reap "$W_PID" 5
[ "$D_STATUS" = 0 ] || failed "the drained serviced exited with status $D_STATUS"
mark drain
GRACE_MS=$(sed -n 's/.*shutdown: .* grace \([0-9]*\)ms.*/\1/p' "$T/drain.log" | head -n 1)
awk -f "$here/watch.awk" "$WATCH_JSON" >"$T/watch.tsv"
PLOTTED="not drawn"
if [ "$DRAIN_OK" = 1 ] && [ -n "$PLOT" ]; then
	if command -v gnuplot >/dev/null 2>&1; then
		if gnuplot -e "samples='$DRAIN_TSV'; events='$T/watch.tsv'; out='$PLOT'" \
			"$here/drain.gp" 2>"$T/gnuplot.err"; then
			PLOTTED=$PLOT
		else
			failed "gnuplot: $(cat "$T/gnuplot.err")"
		fi
	else
		note "gnuplot not found: no plot"
	fi
fi

# ---- requests across a shutdown under load ----------------------------------------------------

# LOAD_CONNS keep-alive clients loop GETs with no think time, a fifth of them a 1 MiB file,
# the rest the small page; tests/loadc.py sends the trigger itself (SIGTERM to serviced,
# SIGQUIT, nginx's graceful stop, to nginx with its 2 workers) and accounts for every
# request against that moment. tests/drain-load.sh runs the same at 300 under make check.
head -c 1048576 /dev/zero >"$WWW/mib.bin"
chmod 644 "$WWW/mib.bin"
declare -A LD
LOAD_KEYS=(lost cut reset_after refused_after answered_after_trigger exit_ms)
# load_round NAME SIGNAL PID PORT: one shutdown of that server under the load.
load_round() {
	local out=$T/load.$1.$r k
	# Exit 1 means requests were lost or cut: a figure to report, not a failed run.
	python3 "$LOADC" "$4" "$3" --conns "$LOAD_CONNS" --small /index.html --big /mib.bin \
		--signal "$2" --wait-exit --json "$out.json" >"$out.out" 2>&1
	[ -s "$out.json" ] || failed "loadc against $1: $(tail -n 2 "$out.out" | tr '\n' ' ')"
	reap "$3" 30
	LD[$1.status]="${LD[$1.status]:-} $STATUS"
	for k in "${LOAD_KEYS[@]}"; do
		LD[$1.$k]="${LD[$1.$k]:-} $(python3 -c 'import json, sys
print(json.load(open(sys.argv[1])).get(sys.argv[2], ""))' "$out.json" "$k" 2>/dev/null)"
	done
}
for r in $(seq "$RUNS"); do
	# shellcheck disable=SC2046
	start_logged load $(svc_cmd "$SERVICED" "$T/l.sock" --max-connections "$MAXCONN")
	load_round serviced TERM "$PID" "$PORT"
	nginx -p "$NGX" -c "$NGX/nginx.conf" -e "$NGX/error.log" >"$T/nginx.load.log" 2>&1 &
	NP=$!
	PIDS+=("$NP")
	if wait_port "$NGINX_PORT"; then
		load_round nginx QUIT "$NP" "$NGINX_PORT"
	else
		failed "nginx did not start for the load round"
	fi
	note "shutdown under load run $r/$RUNS done"
done
mark load

BUSY_AFTER=$(background_busy)
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
note "background CPU busy after: $BUSY_AFTER cores (load average $LOAD_AFTER)"

# ---- the table ------------------------------------------------------------------------------

# ratio A B: A/B to two decimals.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "" && b != "" && b > 0) printf "%.2fx", a / b; else printf "-" }'; }
# verdict VALUE OP LIMIT: met / missed (OP is >= or <=); "not run" without a value.
verdict() {
	awk -v v="${1%x}" -v op="$2" -v l="$3" 'BEGIN { if (v == "" || v == "-") { print "not run"; exit }
		ok = op == ">=" ? v + 0 >= l + 0 : v + 0 <= l + 0; print ok ? "met" : "missed" }'
}
# fmt DIGITS VALUE [DIVISOR]: VALUE/DIVISOR with DIGITS decimals; "-" without a value.
fmt() { awk -v d="$1" -v v="$2" -v q="${3:-1}" 'BEGIN { if (v == "") printf "-"; else printf "%.*f", d, v / q }'; }
med() { median "$@"; }
# row LABEL SERVICED ALT NGINX BARE RATIO TARGET: the ALT column only when there is one.
row() {
	if [ -n "$ALT" ]; then
		printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$@"
	else
		printf '| %s | %s | %s | %s | %s | %s |\n' "$1" "$2" "$4" "$5" "$6" "$7"
	fi
}
# both KEY SUFFIX OP LIMIT [DIVISOR]: the verdict on SH[KEY.svc SUFFIX] (the median, over
# DIVISOR), and on the alternative's SH[KEY.alt SUFFIX].
both() {
	local v a
	v=$(fmt 6 "$(med ${SH[$1.svc$2]:-})" "${5:-1}")
	printf '%s' "$(verdict "$v" "$3" "$4")"
	if [ -n "$ALT" ]; then
		a=$(fmt 6 "$(med ${SH[$1.alt$2]:-})" "${5:-1}")
		printf '; %s: %s' "$ALT_LABEL" "$(verdict "$a" "$3" "$4")"
	fi
}
mode_label() { echo "$([ "${1%%:*}" = keep ] && echo keep-alive || echo 'Connection: close'), -c${1#*:}"; }
cell() { # cell FIGURE SPREAD-VALUES...: "figure (min-max)"
	local f=$1
	shift
	[ "$f" = - ] && { printf -- '-'; return; }
	printf '%s (%s)' "$f" "$(spread "$@")"
}

echo
echo "serviced benchmarks: $(nproc) CPUs ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), Linux $(uname -r)"
echo "$(date -u '+%Y-%m-%d %H:%M UTC'); medians of $RUNS interleaved runs, ${DURATION}s each; wrk -t2; a $FILE_BYTES-byte file; $CONNS idle connections; ${BARE_MEM[1]} bytes per connection$([ "$SMOKE" = 1 ] && echo '; SMOKE RUN: the figures mean nothing')"
[ -n "$ALT" ] && echo "$ALT_LABEL: $SERVICED_ALT"
echo "noise: other processes kept $BUSY_BEFORE of $(nproc) CPUs busy just before the run and $BUSY_AFTER just after; during it, on average, $(others start throughput) during the throughput and control runs, $(others throughput shutdown) during the shutdown runs, $(others shutdown drain) during the drain, $(others drain load) during the shutdowns under load (load average $LOAD_BEFORE before, $LOAD_AFTER after)"
echo
row "measurement" "serviced" "$ALT_LABEL" "nginx" "bare MHD" "ratio" "target: result"
row "---" "---:" "---:" "---:" "---:" "---" "---"
for m in "${MODES[@]}"; do
	sv=$(med ${RPS[serviced,$m]:-}) nv=$(med ${RPS[nginx,$m]:-}) bv=$(med ${RPS[bare,$m]:-})
	av=$([ -n "$ALT" ] && med ${RPS[alt,$m]:-})
	rt="$(ratio "$sv" "$nv") nginx, $(ratio "$sv" "$bv") bare"
	tg=">=1.30x nginx: $(verdict "$(ratio "$sv" "$nv")" '>=' 1.30); >=0.98x bare: $(verdict "$(ratio "$sv" "$bv")" '>=' 0.98)"
	if [ -n "$ALT" ]; then
		rt="$rt; $ALT_LABEL $(ratio "$av" "$nv") nginx, $(ratio "$av" "$bv") bare"
		tg="$tg; $ALT_LABEL: $(verdict "$(ratio "$av" "$nv")" '>=' 1.30), $(verdict "$(ratio "$av" "$bv")" '>=' 0.98)"
	fi
	row "req/s, $(mode_label "$m")" "$(cell "$(fmt 0 "$sv")" ${RPS[serviced,$m]:-})" \
		"$(cell "$(fmt 0 "$av")" ${RPS[alt,$m]:-})" "$(cell "$(fmt 0 "$nv")" ${RPS[nginx,$m]:-})" \
		"$(cell "$(fmt 0 "$bv")" ${RPS[bare,$m]:-})" "$rt" "$tg"
done
for m in "${MODES[@]}"; do
	sv=$(med ${CPUR[serviced,$m]:-}) nv=$(med ${CPUR[nginx,$m]:-}) bv=$(med ${CPUR[bare,$m]:-})
	av=$([ -n "$ALT" ] && med ${CPUR[alt,$m]:-})
	rt="$(ratio "$nv" "$sv") nginx, $(ratio "$bv" "$sv") bare"
	[ -n "$ALT" ] && rt="$rt; $ALT_LABEL $(ratio "$nv" "$av") nginx, $(ratio "$bv" "$av") bare"
	row "server CPU us per request, $(mode_label "$m")" "$(fmt 2 "$sv")" "$(fmt 2 "$av")" \
		"$(fmt 2 "$nv")" "$(fmt 2 "$bv")" "$rt (theirs / ours)" ""
done
row "idle SIGTERM -> exit, ms" "$(fmt 2 "$(med ${SH[idle.svc]:-})" 1000)" \
	"$(fmt 2 "$(med ${SH[idle.alt]:-})" 1000)" "" "$(fmt 2 "$(med ${SH[idle.bare]:-})" 1000)" \
	"" "<=2 ms: $(both idle '' '<=' 2 1000)"
row "last response -> exit, ms (slow client, ${SLEEP_MS} ms request)" \
	"$(fmt 2 "$(med ${SH[slow.svc]:-})" 1000)" "$(fmt 2 "$(med ${SH[slow.alt]:-})" 1000)" "" "" "" \
	"<=2 ms: $(both slow '' '<=' 2 1000)"
row "last response -> exit, ms (testapp /sleep?ms=$SLEEP_MS)" \
	"$(fmt 2 "$(med ${SH[sleep.svc]:-})" 1000)" "$(fmt 2 "$(med ${SH[sleep.alt]:-})" 1000)" "" "" "" \
	"<=2 ms: $(both sleep '' '<=' 2 1000)"
row "$CONNS idle keep-alive connections: SIGTERM -> all see EOF, ms" \
	"$(fmt 1 "$(med ${SH[conns.svc]:-})")" "$(fmt 1 "$(med ${SH[conns.alt]:-})")" "" \
	"$(fmt 1 "$(med ${SH[conns.bare]:-})") (MHD_stop_daemon)" \
	"kernel floor $(fmt 1 "$(med ${SH[floor.1]:-})") (1 thread), $(fmt 1 "$(med ${SH[floor.2]:-})") (2 threads)" \
	"<=50 ms: $(both conns '' '<=' 50)"
row "$CONNS idle keep-alive connections: SIGTERM -> exit, ms (server CPU ms)" \
	"$(fmt 1 "$(med ${SH[conns.svc.exit_ms_median]:-})") ($(fmt 0 "$(med ${SH[conns.svc.cpu_ms_median]:-})"))" \
	"$(fmt 1 "$(med ${SH[conns.alt.exit_ms_median]:-})") ($(fmt 0 "$(med ${SH[conns.alt.cpu_ms_median]:-})"))" "" \
	"$(fmt 1 "$(med ${SH[conns.bare.exit_ms_median]:-})") ($(fmt 0 "$(med ${SH[conns.bare.cpu_ms_median]:-})"))" "" ""
if [ "$STATUS_OK" = 1 ]; then
	lm=() lp=()
	for r in $(seq "$RUNS"); do
		lm+=("$(kv "$T/status.load.$r" rtt_us_median)")
		lp+=("$(kv "$T/status.load.$r" rtt_us_p99)")
	done
	v=$(kv "$T/status.idle" rtt_us_median)
	row "control: status round trip, idle, us (p99)" \
		"$(fmt 1 "$v") ($(fmt 1 "$(kv "$T/status.idle" rtt_us_p99)"))" "" "" "" \
		"floor: the same exchange over a Unix socket pair, $(fmt 1 "$(kv "$T/status.floor" rtt_us_median)") ($(fmt 1 "$(kv "$T/status.floor" rtt_us_p99)"))" \
		"median <=100 us: $(verdict "$v" '<=' 100)"
	v=$(med "${lm[@]}")
	row "control: status round trip under wrk -c64, us (p99)" \
		"$(fmt 1 "$v") ($(fmt 1 "$(med "${lp[@]}")"))" "" "" "" "" \
		"median <=100 us: $(verdict "$v" '<=' 100)"
	base=$(med ${RPS[serviced,nostatus]:-})
	v=$(med "${STATUS_LOOP[@]}")
	row "req/s keep-alive -c64, a status loop running (back to back)" "$(fmt 0 "$v")" "" "" "" \
		"$(ratio "$v" "$base") of $(fmt 0 "$base") without, same runs" ""
	v=$(med "${STATUS_PACED[@]:-}")
	row "req/s keep-alive -c64, a status every 10 ms" "$(fmt 0 "$v")" "" "" "" \
		"$(ratio "$v" "$base") of $(fmt 0 "$base") without, same runs" ""
else
	row "control: status round trip" "not run: $(cut -c1-60 "$T/status.idle")" "" "" "" "" "not run"
fi
row "idle RSS, MiB (a fresh process)" "$(fmt 1 "$(med ${SH[idle.svc.rss_kib_median]:-})" 1024)" \
	"$(fmt 1 "$(med ${SH[idle.alt.rss_kib_median]:-})" 1024)" "$(fmt 1 "$NGX_RSS" 1024) (3 processes)" \
	"$(fmt 1 "$(med ${SH[idle.bare.rss_kib_median]:-})" 1024)" \
	"floor: a process that only loads libmicrohttpd $(fmt 1 "$(med ${SH[rss.mhd]:-})" 1024), with libsystemd and jansson too $(fmt 1 "$(med ${SH[rss.deps]:-})" 1024)" \
	"<=4 MiB: $(both idle .rss_kib_median '<=' 4 1024)"
row "idle RSS after the throughput runs, MiB" "$(fmt 1 "$SVC_RSS_AFTER" 1024)" \
	"$(fmt 1 "$ALT_RSS_AFTER" 1024)" "" "$(fmt 1 "$BARE_RSS_AFTER" 1024)" "" ""
row "RSS with $CONNS idle connections, MiB" "$(fmt 1 "$(med ${SH[conns.svc.rss_kib_median]:-})" 1024)" \
	"$(fmt 1 "$(med ${SH[conns.alt.rss_kib_median]:-})" 1024)" "" \
	"$(fmt 1 "$(med ${SH[conns.bare.rss_kib_median]:-})" 1024)" "" ""
if [ "$DRAIN_OK" = 1 ]; then
	row "drain under load: SIGTERM -> exit, ms" "$(fmt 1 "$(kv "$T/drain.out" exit_ms)")" "" "" "" \
		"grace ${GRACE_MS:-?} ms; $(kv "$T/drain.out" downloads_completed) downloads done, $(kv "$T/drain.out" downloads_cut) cut; plot: $PLOTTED" ""
fi
sumof() { awk '{ s = 0; for (i = 1; i <= NF; i++) s += $i; print s }' <<<"$*"; }
for k in lost cut reset_after refused_after; do
	case $k in
	lost) what="requests sent before the trigger, no byte back (sum of $RUNS)"; tgt="0: $(verdict "$(sumof ${LD[serviced.lost]:-})" '<=' 0)" ;;
	cut) what="responses cut short (sum)"; tgt="0: $(verdict "$(sumof ${LD[serviced.cut]:-})" '<=' 0)" ;;
	reset_after) what="requests sent after the trigger on a connection being closed (sum; the client could not know)"
		tgt="fewer than nginx: $(verdict "$(sumof ${LD[serviced.reset_after]:-})" '<=' "$(($(sumof ${LD[nginx.reset_after]:-}) - 1))")" ;;
	refused_after) what="connects refused after the trigger (sum)"; tgt="" ;;
	esac
	row "$LOAD_CONNS clients across a shutdown: $what" "$(sumof ${LD[serviced.$k]:-})" "" \
		"$(sumof ${LD[nginx.$k]:-})" "" "" "$tgt"
done
row "$LOAD_CONNS clients across a shutdown: trigger -> exit, ms (exit status)" \
	"$(fmt 1 "$(med ${LD[serviced.exit_ms]:-})") ($(echo ${LD[serviced.status]:-}))" "" \
	"$(fmt 1 "$(med ${LD[nginx.exit_ms]:-})") ($(echo ${LD[nginx.status]:-}))" "" \
	"$(ratio "$(med ${LD[serviced.exit_ms]:-})" "$(med ${LD[nginx.exit_ms]:-})") nginx" ""
if [ -s "$T/wrk.errors" ]; then
	echo
	echo "wrk reported errors:"
	sed 's/^/  /' "$T/wrk.errors"
fi
echo
echo "raw: requests/s per run"
for m in "${MODES[@]}"; do
	for s in "${SERVERS[@]}"; do echo "  $m $s:${RPS[$s,$m]:-}"; done
done
echo "raw: server CPU us per request, per run"
for m in "${MODES[@]}"; do
	for s in "${SERVERS[@]}"; do echo "  $m $s:${CPUR[$s,$m]:-}"; done
done
echo "raw: requests across a shutdown, per run"
for k in $(printf '%s\n' "${!LD[@]}" | sort); do echo "  $k:${LD[$k]}"; done
echo "raw: shutdown and memory figures per run (us for idle/slow/sleep, ms for conns/floor)"
for k in $(printf '%s\n' "${!SH[@]}" | sort); do echo "  $k:${SH[$k]}"; done
exit "$FAILED"
