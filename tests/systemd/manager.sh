# tests/systemd/manager.sh: a private, real systemd manager (PID 1 of its own namespaces) for
# one test. Sourced by a test; it sources tests/lib.sh itself when the test has not.
#
# The manager runs /lib/systemd/systemd with a unit path that holds only the test's units, is
# driven from outside with systemctl through nsenter, and is torn down when the test exits,
# however it exits. The recipe, and why each step is needed: /work/shared/SYSTEMD-TESTING.md.
#
#   mgr_stub_units DIR [TARGET]   writes the units every manager needs into DIR (stub targets,
#                                 journald, exit); TARGET (default test.target) is left alone
#                                 if the test wrote it already
#   mgr_boot DIR [TARGET]         boots a manager on DIR (after mgr_stub_units) and waits until
#                                 it runs; sets MGR_PID (host pid of its PID 1). Skips (77) when
#                                 not root or when namespaces or cgroups are refused
#   mgr_ctl ARGS...               systemctl ARGS inside the manager
#   mgr_run COMMAND...            any command inside (journalctl, busctl, ...)
#   mgr_install FILE              copies a program where sandboxed units can run it; prints
#                                 the path to put in ExecStart=
#   mgr_prop UNIT PROPERTY        prints one property of UNIT
#   mgr_wait_prop UNIT PROPERTY GLOB   waits until the property matches GLOB (bounded)
#   mgr_wait_running              waits until the manager reports running or degraded
#   mgr_journal [ARGS...]         journalctl --no-pager ARGS inside
#   mgr_shutdown                  stops the manager and removes its cgroup; the exit trap does
#                                 this too, and dumps the journal when the test failed
#
# One manager per test at a time; any number of tests in parallel (every name is unique to
# the test's $T). The network namespace is shared with the host: use unique ports. The
# harness owns the EXIT trap (it calls lib.sh's cleanup): a test must not set its own.
# shellcheck shell=bash

MGR_SELF=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")
MGR_SYSTEMD=/lib/systemd/systemd
MGR_UNITS_DIST=/lib/systemd/system

# --- Inside the namespaces. mgr_boot runs this file as a program for the two init stages. ---

# Stage 1, PID 1 of fresh pid, mount and uts namespaces. Gives systemd a private /proc and
# /run, a tty for /dev/console (it insists on one), a journal that never touches the host's,
# then moves into the test's cgroup and starts a cgroup namespace rooted there.
mgr__init1() {
	local dir=$1 cgroup=$2 hostpid
	set -e
	read -r hostpid _ </proc/self/stat # /proc is still the host's: this is our host pid
	mount -t proc proc /proc
	mount -t tmpfs -o mode=0755 tmpfs /run
	mount --bind "$(tty)" /dev/console
	mount --bind "$dir/journald.conf" /etc/systemd/journald.conf
	if [ -d /var/log/journal ]; then mount -t tmpfs tmpfs /var/log/journal; fi
	echo 0 >"$cgroup/cgroup.procs"
	echo "$hostpid" >"$dir/pid.new"
	mv "$dir/pid.new" "$dir/pid"
	exec unshare --cgroup -- bash "$MGR_SELF" init2 "$@"
}

# Stage 2, same process, now in its own cgroup namespace: systemd wants a writable cgroup2
# at /sys/fs/cgroup. A clean environment and empty generator paths keep the host's
# configuration out; only the test's units are visible.
mgr__init2() {
	local dir=$1 units=$3 target=$4
	mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup
	exec env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin container=serviced-test \
		SYSTEMD_UNIT_PATH="$units" \
		SYSTEMD_GENERATOR_PATH="$dir/empty" \
		SYSTEMD_ENVIRONMENT_GENERATOR_PATH="$dir/empty" \
		"$MGR_SYSTEMD" --system --unit="$target" --log-target=journal --show-status=no
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	stage=$1
	shift
	case $stage in
	init1) mgr__init1 "$@" ;;
	init2) mgr__init2 "$@" ;;
	esac
	echo "manager.sh: stage '$stage' failed" >&2
	exit 1
fi

# --- Outside: the test's side. ---

# shellcheck source=tests/lib.sh
declare -F wait_until >/dev/null || . "$(dirname "$MGR_SELF")/../lib.sh"

MGR_PID=      # host pid of the manager's PID 1, while one runs
MGR_UNITS=    # its unit directory: write units there, then "mgr_ctl daemon-reload"
MGR_CG=       # its cgroup (on the host)
MGR_SCRIPT=   # the script(1) process holding its console, a child of the test
MGR_N=0

# mgr_stub_units DIR [TARGET]: without the stub targets the distribution's sysinit units
# (tmpfiles, udev, sysusers) would be pulled in and run against the host's file system.
mgr_stub_units() {
	local dir=$1 target=${2:-test.target} t u
	mkdir -p "$dir"
	for t in basic sockets timers paths slices local-fs remote-fs network \
		network-online nss-lookup multi-user; do
		[ -e "$dir/$t.target" ] ||
			printf '[Unit]\nDescription=%s (test stub)\n' "$t" >"$dir/$t.target"
	done
	# The test's target pulls sysinit.target in, as multi-user.target does on a real system,
	# so that booting to it means the journal runs.
	[ -e "$dir/$target" ] ||
		printf '[Unit]\nDescription=%s\nWants=sysinit.target\nAfter=sysinit.target\n' \
			"$target (test)" >"$dir/$target"
	# journald is what a real system's sysinit.target.wants/ starts; the stub asks for it,
	# so that services' output and the manager's own log can be read with mgr_journal.
	printf '[Unit]\nDescription=sysinit (test stub)\nWants=%s\n' \
		"systemd-journald.service systemd-journald.socket systemd-journald-dev-log.socket" \
		>"$dir/sysinit.target"
	for u in systemd-journald.service systemd-journald.socket \
		systemd-journald-dev-log.socket exit.target systemd-exit.service \
		shutdown.target umount.target final.target; do
		ln -sfn "$MGR_UNITS_DIST/$u" "$dir/$u"
	done
	# /dev is the host's devtmpfs, one instance shared by every mount of it: without this
	# the manager would leave a /dev/log symlink to its private /run on the host.
	mkdir -p "$dir/systemd-journald-dev-log.socket.d"
	printf '[Socket]\nSymlinks=\n' >"$dir/systemd-journald-dev-log.socket.d/test.conf"
}

# mgr_boot DIR [TARGET]
mgr_boot() {
	local units=$1 target=${2:-test.target} root cmd deadline c
	[ -z "$MGR_PID" ] || fail "mgr_boot: a manager is already running"
	[ "$(id -u)" = 0 ] || skip "a private systemd manager needs root"
	[ -x "$MGR_SYSTEMD" ] || skip "no $MGR_SYSTEMD"
	for c in script setpriv unshare nsenter; do
		command -v "$c" >/dev/null || skip "needs $c"
	done
	units=$(cd "$units" && pwd) || fail "mgr_boot: no unit directory $1"
	# shellcheck disable=SC2034 # for the tests
	MGR_UNITS=$units

	# The cgroup v2 hierarchy: /sys/fs/cgroup on a pure v2 host, .../unified on a hybrid one.
	if [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ]; then
		root=/sys/fs/cgroup
	elif [ "$(stat -fc %T /sys/fs/cgroup/unified 2>/dev/null)" = cgroup2fs ]; then
		root=/sys/fs/cgroup/unified
	else
		skip "no cgroup v2 hierarchy"
	fi
	MGR_N=$((MGR_N + 1))
	MGR_CG=$root/$(basename "$T").$MGR_N
	mkdir -p "$MGR_CG/payload" 2>/dev/null || skip "cannot create a cgroup under $root"

	MGR_DIR=$T/manager.$MGR_N
	mkdir -p "$MGR_DIR/empty"
	printf '[Journal]\nStorage=volatile\nReadKMsg=no\nForwardToSyslog=no\n' \
		>"$MGR_DIR/journald.conf"

	# script gives PID 1 a pty; what the manager prints before journald runs lands in
	# console.log. --pdeathsig on each link of the chain brings the manager down with the
	# test even when the test is SIGKILLed and no trap runs.
	cmd=$(printf '%q ' exec setpriv --pdeathsig KILL \
		unshare --pid --kill-child --mount --uts --propagation private -- \
		bash "$MGR_SELF" init1 "$MGR_DIR" "$MGR_CG/payload" "$units" "$target")
	SHELL=$BASH setpriv --pdeathsig KILL script -qfec "$cmd" "$MGR_DIR/console.log" \
		</dev/null >/dev/null 2>&1 &
	MGR_SCRIPT=$!

	deadline=$((SECONDS + WAIT_BOUND))
	until [ -s "$MGR_DIR/pid" ]; do
		kill -0 "$MGR_SCRIPT" 2>/dev/null || mgr__died
		[ "$SECONDS" -lt "$deadline" ] || fail "manager did not start within ${WAIT_BOUND}s"
		sleep 0.01
	done
	MGR_PID=$(cat "$MGR_DIR/pid")
	mgr_wait_running
}

# The manager exited while booting. A container without the privilege refuses unshare or
# one of the mounts: that is the machine's limit, not the test's failure.
mgr__died() {
	local why
	wait "$MGR_SCRIPT"
	MGR_PID=
	why=$(grep -m1 'not permitted\|denied' "$MGR_DIR/console.log") && skip "namespaces refused: $why"
	fail "manager exited while booting: $(tail -n 5 "$MGR_DIR/console.log")"
}

mgr_run() {
	nsenter -t "$MGR_PID" -m -u -p -C -- "$@"
}

mgr_ctl() {
	SYSTEMD_PAGER=cat SYSTEMD_COLORS=0 mgr_run systemctl "$@"
}

mgr_journal() {
	SYSTEMD_COLORS=0 mgr_run journalctl --no-pager "$@"
}

# mgr_install FILE: copies FILE into the manager's private /run/test-bin and prints its path
# there. A sandboxed unit (PrivateTmp=, ProtectHome=, DynamicUser=) cannot run a program
# from the build tree under /tmp, /root or a 0700 $T; from there it can.
mgr_install() {
	mgr_run install -D -m 0755 "$1" "/run/test-bin/$(basename "$1")" &&
		echo "/run/test-bin/$(basename "$1")"
}

# mgr_prop UNIT PROPERTY: a unit that stopped cleanly is garbage-collected at once, and then
# shows defaults (zeros, empty strings): record results with ExecStopPost= instead.
mgr_prop() {
	mgr_ctl show -P "$2" "$1"
}

mgr_wait_prop() {
	local unit=$1 prop=$2 want=$3 got deadline=$((SECONDS + WAIT_BOUND))
	# shellcheck disable=SC2053 # want is a glob on purpose
	while got=$(mgr_prop "$unit" "$prop"); [[ $got != $want ]]; do
		[ "$SECONDS" -lt "$deadline" ] ||
			fail "$unit: $prop is '$got' after ${WAIT_BOUND}s, waited for '$want'"
		sleep 0.01
	done
}

mgr_wait_running() {
	local state deadline=$((SECONDS + WAIT_BOUND))
	while :; do
		state=$(mgr_ctl is-system-running 2>/dev/null)
		case $state in running | degraded) return 0 ;; esac
		kill -0 "$MGR_SCRIPT" 2>/dev/null || mgr__died
		[ "$SECONDS" -lt "$deadline" ] ||
			fail "manager not running after ${WAIT_BOUND}s (state '$state')"
		sleep 0.01
	done
}

# mgr_shutdown: SIGTERM would only make PID 1 re-execute; "systemctl exit" stops it. When
# that does not work within the bound, SIGKILL of PID 1 ends the whole pid namespace.
mgr_shutdown() {
	if [ -n "$MGR_PID" ]; then
		# Bounded: a wedged manager must not hang the test's exit.
		timeout 5 nsenter -t "$MGR_PID" -m -u -p -C -- systemctl --no-block exit 0 \
			>/dev/null 2>&1
		if ! mgr__gone_within 10; then
			echo "manager.sh: manager ignored 'systemctl exit', killing it" >&2
			kill -9 "$MGR_PID" 2>/dev/null
			mgr__gone_within 5 || echo "manager.sh: manager $MGR_PID survived SIGKILL" >&2
		fi
		wait "$MGR_SCRIPT" 2>/dev/null
		MGR_PID=
	elif [ -n "$MGR_SCRIPT" ] && kill -0 "$MGR_SCRIPT" 2>/dev/null; then
		# Still booting: --pdeathsig takes everything below script(1) down with it.
		kill -9 "$MGR_SCRIPT"
		wait "$MGR_SCRIPT" 2>/dev/null
	fi
	MGR_SCRIPT=
	mgr__remove_cgroup
}

mgr__gone_within() {
	local deadline=$((SECONDS + $1))
	while kill -0 "$MGR_SCRIPT" 2>/dev/null; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.01
	done
}

# The cgroups are empty once the pid namespace is gone, but a dying task can hold one for a
# moment (EBUSY): retry, deepest first, within a bound.
mgr__remove_cgroup() {
	local deadline=$((SECONDS + 5))
	while [ -n "$MGR_CG" ] && [ -d "$MGR_CG" ]; do
		find "$MGR_CG" -depth -type d -exec rmdir {} + 2>/dev/null && break
		[ "$SECONDS" -lt "$deadline" ] || {
			echo "manager.sh: cannot remove cgroup $MGR_CG" >&2
			return 1
		}
		sleep 0.01
	done
	MGR_CG=
}

# The exit trap: on failure show what the manager saw, then tear it down before lib.sh
# removes $T (the manager's state and unit directories live there).
mgr__on_exit() {
	local rc=$?
	# Subshells inherit the trap (a background job killed before it execs runs it): only
	# the test's own shell may stop the manager.
	[ "$BASHPID" = "$$" ] || return 0
	if [ -n "$MGR_PID" ] && [ "$rc" != 0 ] && [ "$rc" != 77 ]; then
		echo "--- journal of the test's manager ---" >&2
		timeout 5 nsenter -t "$MGR_PID" -m -u -p -C -- \
			journalctl --no-pager -n 80 -o short-monotonic >&2 2>&1
	fi
	mgr_shutdown
	cleanup
}
trap mgr__on_exit EXIT
