#!/bin/bash
# The HTTP admin endpoint against the real daemon, with curl: the daemon refuses to start it
# without a proper token file; missing, wrong and right tokens; every status code (200, 202,
# 400, 401, 404, 405, 409, 413, 415) with its JSON error; PATCH seen by the control socket
# too; a drain delay cancelled over HTTP; and the endpoint still answering during grace,
# while the main listener refuses, until the daemon exits 0.
. "$top_srcdir/tests/ctl-lib.sh"

# The token travels in a header file (curl -H @FILE), never on a command line.
TOKEN=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
printf '%s\n' "$TOKEN" >"$T/token"
chmod 600 "$T/token"
printf 'Authorization: Bearer %s\n' "$TOKEN" >"$T/auth"
printf 'Authorization: Bearer %s\n' "$(echo "$TOKEN" | tr 0-9a-f a-f0-9)" >"$T/wrong"

# admin_start [ARGS...]: the daemon with its admin endpoint on a free port; sets ADMIN_URL.
admin_start() {
	ctl_start --admin-listen 127.0.0.1:0 --admin-token-file "$T/token" "$@"
	wait_log 'admin endpoint on http://'
	ADMIN_URL=http://$(sed -n 's/.*admin endpoint on http:\/\/\([^ ]*\).*/\1/p' "$SVC_LOG" |
		head -n 1)
}

# req METHOD PATH [CURL ARGS...]: one request without a token; prints the status code, and
# leaves the body in $T/body and the headers in $T/headers.
req() {
	local method=$1 path=$2
	shift 2
	: >"$T/body"
	: >"$T/headers"
	curl -s -X "$method" -o "$T/body" -D "$T/headers" -w '%{http_code}' --max-time 10 "$@" \
		"$ADMIN_URL$path"
}

# adm METHOD PATH [CURL ARGS...]: req with the right token.
adm() {
	local method=$1 path=$2
	shift 2
	req "$method" "$path" -H @"$T/auth" "$@"
}

# json METHOD PATH BODY: adm with a JSON body.
json() {
	adm "$1" "$2" -H 'Content-Type: application/json' --data-binary "$3"
}

body() {
	cat "$T/body"
}

# header NAME: the value of a response header, without its CR.
header() {
	sed -n "s/^$1: *//Ip" "$T/headers" | tr -d '\r'
}

# expect_error WHAT STATUS CODE ACTUAL_STATUS: the status and the JSON error's code.
expect_error() {
	expect_eq "$1: status" "$2" "$4"
	expect_eq "$1: error" "False $3 True" \
		"$(jget "$(body)" '"%s %s %s" % (d["ok"], d["error"]["code"], d["error"]["message"] != "")')"
	expect_eq "$1: content type" application/json "$(header Content-Type)"
}

admin_state() {
	[ "$(adm GET /admin/status)" = 200 ] && [ "$(jget "$(body)" 'd["state"]')" = "$1" ]
}

admin_in_flight() {
	[ "$(adm GET /admin/status)" = 200 ] && [ "$(jget "$(body)" 'd["requests_in_flight"]')" = "$1" ]
}

receiving() {
	[ -s "$1" ]
}

# refused_start WHAT STATUS PATTERN ARGS...: the daemon exits with STATUS before serving,
# saying PATTERN, and never the token.
refused_start() {
	local what=$1 want=$2 pattern=$3 pid
	shift 3
	"$SERVICED" --listen 127.0.0.1:0 --control "$T/refused.sock" "$@" >"$T/refused.log" 2>&1 &
	pid=$!
	TEST_PIDS+=("$pid")
	wait_exit "$pid"
	expect_eq "$what: exit status" "$want" "$EXIT_STATUS"
	grep -Eq -- "$pattern" "$T/refused.log" || fail "$what: log: $(cat "$T/refused.log")"
	! grep -q "$TOKEN" "$T/refused.log" || fail "$what: the token was logged"
	! grep -q 'listening on' "$T/refused.log" || fail "$what: it listened first"
}

# --- A: no admin endpoint without a proper token file --------------------------------------
refused_start "no token file" 2 'admin-listen needs --admin-token-file' \
	--admin-listen 127.0.0.1:0
cp "$T/token" "$T/token.644"
chmod 644 "$T/token.644"
refused_start "world-readable token file" 1 "token.644: readable by others; chmod 600 it" \
	--admin-listen 127.0.0.1:0 --admin-token-file "$T/token.644"
: >"$T/token.empty"
chmod 600 "$T/token.empty"
refused_start "empty token file" 1 'token.empty: empty' \
	--admin-listen 127.0.0.1:0 --admin-token-file "$T/token.empty"
refused_start "missing token file" 1 'token.none: No such file' \
	--admin-listen 127.0.0.1:0 --admin-token-file "$T/token.none"

# --- B: tokens, routes, bodies and status codes --------------------------------------------
mkdir -p "$T/root"
head -c $((32 * 1024 * 1024)) /dev/urandom >"$T/root/big.bin"
admin_start --root "$T/root" --grace 60s

expect_error "no token" 401 unauthenticated "$(req GET /admin/status)"
expect_eq "no token: WWW-Authenticate" 'Bearer realm="serviced"' "$(header WWW-Authenticate)"
expect_error "wrong token" 401 unauthenticated "$(req GET /admin/status -H @"$T/wrong")"
expect_eq "wrong token: WWW-Authenticate" 'Bearer realm="serviced", error="invalid_token"' \
	"$(header WWW-Authenticate)"
expect_error "token with a suffix" 401 unauthenticated \
	"$(req GET /admin/status -H "Authorization: Bearer ${TOKEN}0")"
expect_error "basic auth" 401 unauthenticated "$(req GET /admin/status -u "admin:$TOKEN")"
expect_error "no token, unknown path" 401 unauthenticated "$(req GET /admin/nope)"
expect_error "no token, a body" 401 unauthenticated \
	"$(req POST /admin/shutdown -H 'Content-Type: application/json' -d '{}')"
log_has 'admin: GET /admin/status from 127.0.0.1: 401' || fail "refused token not logged"

expect_eq "right token" 200 "$(adm GET /admin/status)"
expect_eq "status content type" application/json "$(header Content-Type)"
jrun "$(body)" '
assert d["ok"] is True and d["state"] == "running", d
assert d["requests_in_flight"] == 0 and d["trigger"] == "none", d
assert d["grace_ms"] == 60000 and isinstance(d["connections_open"], int), d'
expect_eq "lower-case scheme" 200 "$(req GET /admin/status -H "Authorization: bearer $TOKEN")"

expect_error "unknown path" 404 not_found "$(adm GET /admin/nope)"
expect_error "DELETE status" 405 method_not_allowed "$(adm DELETE /admin/status)"
expect_eq "DELETE status: Allow" "GET, HEAD" "$(header Allow)"
expect_error "GET shutdown" 405 method_not_allowed "$(adm GET /admin/shutdown)"
expect_eq "GET shutdown: Allow" POST "$(header Allow)"
expect_error "POST config" 405 method_not_allowed "$(json POST /admin/config '{}')"
expect_eq "POST config: Allow" "GET, HEAD, PATCH" "$(header Allow)"

expect_error "text/plain body" 415 unsupported_media_type \
	"$(adm POST /admin/shutdown -H 'Content-Type: text/plain' --data-binary '{}')"
expect_error "form body" 415 unsupported_media_type \
	"$(adm PATCH /admin/config -d 'grace=1s')"

head -c 65537 /dev/zero | tr '\0' ' ' >"$T/big.json"
expect_error "body over 64 KiB" 413 too_large \
	"$(adm POST /admin/shutdown -H 'Content-Type: application/json' --data-binary @"$T/big.json")"
expect_error "chunked body over 64 KiB" 413 too_large \
	"$(adm POST /admin/shutdown -H 'Content-Type: application/json' \
		-H 'Transfer-Encoding: chunked' --data-binary @"$T/big.json")"
# An endless chunked body is cut off; the endpoint carries on.
head -c $((2 * 1024 * 1024)) /dev/zero >"$T/huge.json"
adm POST /admin/shutdown -H 'Content-Type: application/json' -H 'Transfer-Encoding: chunked' \
	--data-binary @"$T/huge.json" >/dev/null
expect_eq "after an endless body" 200 "$(adm GET /admin/status)"

expect_error "bad JSON" 400 bad_json "$(json POST /admin/shutdown '{"grace":')"
expect_error "not an object" 400 not_object "$(json POST /admin/shutdown '["30s"]')"
expect_error "unknown field" 400 bad_argument "$(json POST /admin/shutdown '{"bogus":1}')"
expect_error "negative duration" 400 bad_argument "$(json POST /admin/shutdown '{"grace":-1}')"
expect_error "negative duration text" 400 bad_argument \
	"$(json POST /admin/shutdown '{"grace":"-5s"}')"
expect_error "command in the body" 400 bad_argument \
	"$(json POST /admin/shutdown '{"command":"reload"}')"
expect_error "PATCH without a body" 400 bad_argument "$(adm PATCH /admin/config)"
expect_error "PATCH unknown key" 400 bad_argument "$(json PATCH /admin/config '{"speed":1}')"
expect_eq "still running after the bad requests" True \
	"$(jget "$(ctl --json status)" 'd["state"] == "running" and d["grace_ms"] == 60000')"

# PATCH: all or nothing; the change is the same one the control socket sees.
expect_error "PATCH half bad" 400 bad_argument \
	"$(json PATCH /admin/config '{"grace":"42s","mercy":"later"}')"
expect_eq "nothing changed" 60000 "$(jget "$(ctl --json get grace)" 'd["grace_ms"]')"
expect_eq "PATCH config" 200 "$(json PATCH /admin/config '{"grace":"42s","mercy":2500}')"
expect_eq "PATCH reply" "42000 2500" "$(jget "$(body)" '"%d %d" % (d["grace_ms"], d["mercy_ms"])')"
expect_eq "GET config" 200 "$(adm GET /admin/config)"
expect_eq "GET config: grace" 42000 "$(jget "$(body)" 'd["grace_ms"]')"
expect_eq "servicectl get grace" 42000 "$(jget "$(ctl --json get grace)" 'd["grace_ms"]')"
log_has 'admin: PATCH /admin/config from 127.0.0.1: 200' || fail "the change was not logged"
json PATCH /admin/config '{"grace":"60s"}' >/dev/null

# --- C: a drain delay, steered over HTTP ---------------------------------------------------
expect_error "cancel while running" 409 wrong_state "$(adm POST /admin/cancel)"
expect_eq "shutdown with a drain delay" 202 "$(json POST /admin/shutdown '{"drain_delay":"30s"}')"
expect_eq "shutdown reply" "drain_delay admin" \
	"$(jget "$(body)" '"%s %s" % (d["state"], d["trigger"])')"
expect_eq "/readyz during the drain delay" 503 "$(http_code "$SVC_URL/readyz")"
expect_eq "admin status during the drain delay" 200 "$(adm GET /admin/status)"
expect_eq "state during the drain delay" drain_delay "$(jget "$(body)" 'd["state"]')"
expect_eq "servicectl agrees" drain_delay "$(ctl_state)"
expect_eq "cancel" 200 "$(adm POST /admin/cancel)"
expect_eq "cancel reply" running "$(jget "$(body)" 'd["state"]')"
expect_eq "/readyz after cancel" 200 "$(http_code "$SVC_URL/readyz")"

# --- D: the endpoint answers through grace while the main listener refuses ----------------
# A paced client with a small receive buffer: curl's could absorb the whole file into the
# kernel's loopback buffers and leave nothing in flight (see tests/httpc.py).
python3 "$top_srcdir/tests/httpc.py" download "$SVC_PORT" /big.bin "$T/out" 8000000 &
curl_pid=$!
TEST_PIDS+=("$curl_pid")
wait_until "the download to be receiving" receiving "$T/out"
wait_until "one request in flight" admin_in_flight 1

expect_eq "shutdown" 202 "$(json POST /admin/shutdown '{"drain_delay":0}')"
expect_eq "shutdown reply" grace "$(jget "$(body)" 'd["state"]')"
rc=0
curl -s -o /dev/null --max-time 10 "$SVC_URL/healthz" || rc=$?
expect_eq "main listener during grace (curl: connection refused)" 7 "$rc"
expect_eq "admin status during grace" 200 "$(adm GET /admin/status)"
jrun "$(body)" '
assert d["state"] == "grace" and d["trigger"] == "admin", d
assert d["requests_in_flight"] == 1, d'
expect_error "cancel during grace" 409 wrong_state "$(adm POST /admin/cancel)"

wait_exit "$SVC_PID" 60
expect_eq "daemon exit status" 0 "$EXIT_STATUS"
rc=0
wait "$curl_pid" || rc=$?
expect_eq "download exit status" 0 "$rc"
cmp -s "$T/root/big.bin" "$T/out" || fail "the download is not byte-exact"
log_has 'state running -> grace \(trigger admin' || fail "no grace by admin in the log"
rc=0
curl -s -o /dev/null --max-time 10 "$ADMIN_URL/admin/status" || rc=$?
expect_eq "admin endpoint after exit (curl: connection refused)" 7 "$rc"
pass
