#!/bin/bash
# Peer credentials: on a socket others may open, commands that change state are refused
# ("denied") to a peer that is neither root, nor the daemon's user, nor in the control
# group; reading is allowed. The group may be the peer's primary or a supplementary one.
. "$top_srcdir/tests/ctl-lib.sh"

[ "$(id -u)" = 0 ] || skip "needs root to run servicectl as another user"
command -v setpriv >/dev/null || skip "needs setpriv (util-linux)"
group=$(getent group users | cut -d: -f1)
gid=$(getent group users | cut -d: -f3)

# The socket lives in $T: let other users reach it.
chmod 755 "$T"
as_nobody() {
	setpriv --reuid 65534 --regid 65534 --clear-groups "$SERVICECTL" -s "$CTL_SOCK" "$@"
}
setpriv --reuid 65534 --regid 65534 --clear-groups test -x "$SERVICECTL" ||
	skip "$SERVICECTL is not executable by uid 65534"

ctl_start --control-mode 0666
expect_eq "socket mode" 666 "$(stat -c %a "$CTL_SOCK")"

# Reading is for everyone who can connect.
expect_eq "nobody: status" 0 "$(rc_of as_nobody status)"
expect_eq "nobody: get" 0 "$(rc_of as_nobody get grace)"
expect_eq "nobody: ping" 0 "$(rc_of as_nobody ping)"
expect_eq "nobody: version" 0 "$(rc_of as_nobody version)"

# Changing state is not, and the refusal comes before any other check.
for args in "shutdown" "shutdown --now" "cancel" "set grace 1s"; do
	# shellcheck disable=SC2086
	expect_eq "nobody: $args" 1 "$(rc_of as_nobody $args)"
done
err=$(as_nobody shutdown 2>&1 >/dev/null)
case $err in *"(denied)"*) ;; *) fail "denied message: $err" ;; esac
out=$(as_nobody --json set grace 1s)
expect_eq "nobody: set --json code" denied "$(jget "$out" 'd["error"]["code"]')"
python3 - "$CTL_SOCK" <<'EOF' || fail "reload by nobody was not denied"
import json, os, socket, sys
os.setgroups([]); os.setgid(65534); os.setuid(65534)
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b'{"command":"reload"}\n')
sys.exit(0 if json.loads(s.makefile().readline())["error"]["code"] == "denied" else 1)
EOF

# Nothing changed; root still may.
expect_eq "state" running "$(ctl_state)"
expect_eq "grace unchanged" 10000 "$(jget "$(ctl --json get grace)" 'd["grace_ms"]')"
expect_eq "root: set" 0 "$(rc_of ctl set grace 3s)"
ctl -q shutdown
wait_exit "$SVC_PID"
expect_eq "daemon exit status" 0 "$EXIT_STATUS"

# The control group: the file belongs to it, and its members may change state.
[ -n "$group" ] || skip "no group 'users' to test --control-group with"
ctl_start --control-mode 0660 --control-group "$group"
expect_eq "socket group" "$gid" "$(stat -c %g "$CTL_SOCK")"
expect_eq "socket mode" 660 "$(stat -c %a "$CTL_SOCK")"
expect_eq "nobody, outside the group, cannot connect" 3 "$(rc_of as_nobody ping)"
expect_eq "supplementary member: set" 0 \
	"$(rc_of setpriv --reuid 65534 --regid 65534 --groups "$gid" "$SERVICECTL" -s "$CTL_SOCK" set grace 4s)"
expect_eq "primary member: set" 0 \
	"$(rc_of setpriv --reuid 65534 --regid "$gid" --clear-groups "$SERVICECTL" -s "$CTL_SOCK" set grace 5s)"
expect_eq "grace set by the members" 5000 "$(jget "$(ctl --json get grace)" 'd["grace_ms"]')"
ctl -q shutdown
wait_exit "$SVC_PID"
pass
