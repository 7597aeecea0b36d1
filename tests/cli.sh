#!/bin/bash
# tests/cli.sh: the daemon refuses a bad command line or config file with exit status 2 and
# one message naming the option (or key) and the value, before it binds anything; --help
# and --version answer on stdout with status 0.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

# run NAME ARGS...: runs the daemon to its end, bounded: one that starts serving instead of
# refusing is killed and fails the test. Sets RC; output goes to $T/NAME.out and .err.
run() {
	local name=$1
	shift
	RC=0
	timeout -s KILL "$WAIT_BOUND" "$SERVICED" "$@" >"$T/$name.out" 2>"$T/$name.err" || RC=$?
	[ "$RC" -ne 137 ] || fail "$name: still running after ${WAIT_BOUND}s: serviced $*"
}

# refused NAME WANT ARGS...: status 2, nothing on stdout, and on stderr exactly the error
# (which contains WANT) and the hint.
refused() {
	local name=$1 want=$2 err
	shift 2
	run "$name" "$@"
	err=$(cat "$T/$name.err")
	expect_eq "$name: exit status (stderr: $err)" 2 "$RC"
	[ ! -s "$T/$name.out" ] || fail "$name: wrote to stdout: $(cat "$T/$name.out")"
	expect_eq "$name: stderr lines" 2 "$(wc -l <"$T/$name.err")"
	case $(head -n 1 "$T/$name.err") in
	"serviced: "*"$want"*) ;;
	*) fail "$name: stderr lacks '$want': $err" ;;
	esac
	expect_eq "$name: hint" "Try 'serviced --help'." "$(tail -n 1 "$T/$name.err")"
}

# The command line.
refused bad-grace "option --grace: invalid duration 'abc'" --grace abc
refused bad-grace-eq "option --grace: invalid duration '5 s'" "--grace=5 s"
refused long-grace "option --mercy: duration '25h' is out of range (at most 24h)" --mercy 25h
refused no-value "option --force requires a value" --force
refused flag-value "option --access-log takes no value" --access-log=1
refused bad-port "option --listen: invalid port '65536' in '127.0.0.1:65536'" \
	--listen 127.0.0.1:65536
refused bad-v6 "option --listen: invalid address '::1:80'" --listen ::1:80
refused bad-v6-port "option --listen: invalid port 'x' in '[::1]:x'" --listen '[::1]:x'
refused hostname "option --admin-listen: invalid address 'localhost:9'" --admin-listen localhost:9
refused threads "option --threads: 0 is out of range (1-256)" --threads 0
refused signals "option --signals: unknown signal 'kill'" --signals term,kill
refused no-ctrlc "option --no-ctrlc: no shutdown signal is left" --signals int --no-ctrlc
refused mode "option --control-mode: invalid mode '0999'" --control-mode 0999
refused memory "option --connection-memory: 1k is out of range" --connection-memory 1k
refused unknown "unknown or ambiguous option '--bogus'" --bogus
refused typo "unknown option '--gracee' (did you mean '--grace'?)" --gracee 5s
refused short "unknown option '-q'" -q
refused positional "unexpected argument 'extra'" --grace 5s extra
refused after-dashes "unexpected argument 'extra'" -- extra

# The config file.
refused no-file "config file $T/none.json: No such file or directory" --config "$T/none.json"
refused dir-file "config file $T: Is a directory" --config "$T"
printf '{\n  "grace": "5s",\n}\n' >"$T/syntax.json"
refused syntax "config file $T/syntax.json line 3: " --config "$T/syntax.json"
printf '{"listen": "127.0.0.1:0", "colour": "red"}' >"$T/unknown.json"
refused unknown-key "config file $T/unknown.json: unknown key 'colour'" --config "$T/unknown.json"
printf '{"grace": [5]}' >"$T/type.json"
refused wrong-type "config file $T/type.json: key 'grace': expected a duration" \
	--config="$T/type.json"
# A bad file is refused even when the command line sets the same key.
refused file-under-cli "key 'grace': expected a duration" --config "$T/type.json" --grace 5s
# Every invalid document of the unit tests is refused by the daemon too.
n=0
for f in "$top_srcdir"/tests/config-invalid/*.json; do
	refused "invalid-$(basename "$f" .json)" "$(head -n 1 "${f%.json}.error")" --config "$f"
	n=$((n + 1))
done
[ "$n" -ge 10 ] || fail "only $n files in tests/config-invalid"

# --help and --version answer on stdout, even next to values that would be refused.
run help --help --grace abc
expect_eq "--help exit status" 0 "$RC"
[ ! -s "$T/help.err" ] || fail "--help wrote to stderr: $(cat "$T/help.err")"
options=$(sed -n 's/^ *\(-[a-zA-Z], \)\{0,1\}--\([a-z-]*\).*/\2/p' "$T/help.out")
for o in listen root threads config drain-delay grace mercy force signals no-ctrlc control \
	control-mode control-group admin-listen admin-token-file max-connections \
	max-connections-per-ip connection-timeout connection-memory access-log verbose version \
	help; do
	grep -qx -- "$o" <<<"$options" || fail "--help does not list --$o"
done
grep -q -- '--grace D .*(10s)$' "$T/help.out" || fail "--help does not show grace's default"
# Every setting --help lists has an entry in serviced.conf(5), so the two cannot drift.
for o in $options; do
	case $o in config | help | version) continue ;; esac
	grep -qx "\.B $o" "$top_srcdir/man/serviced.conf.5" || fail "serviced.conf.5 lacks key '$o'"
done
run short-help -h
expect_eq "-h exit status" 0 "$RC"
cmp -s "$T/help.out" "$T/short-help.out" || fail "-h and --help differ"

run version --version
expect_eq "--version exit status" 0 "$RC"
want=$(sed -n 's/^#define PACKAGE_VERSION "\(.*\)"$/\1/p' "$top_builddir/autoconfig.h")
expect_eq "--version output" "serviced $want" "$(cat "$T/version.out")"

# Nothing is bound before the command line is accepted: with its port held by a live
# daemon, a second one given a bad --grace still says "bad --grace" (status 2), not
# "address in use" (status 1), and the first keeps serving.
svc_start
refused held-port "option --grace: invalid duration 'abc'" --listen "127.0.0.1:$SVC_PORT" \
	--grace abc
expect_eq "first daemon still serving" 200 "$(http_code "$SVC_URL/healthz")"
kill -TERM "$SVC_PID"
gone() { ! kill -0 "$SVC_PID" 2>/dev/null; }
wait_until "serviced to exit" gone
wait "$SVC_PID"
expect_eq "first daemon's exit status" 0 "$?"

pass
