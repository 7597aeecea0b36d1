/*
 * notify: every libsystemd call of serviced lives here. The notifier reacts to the
 * lifecycle like any observer: READY=1 when enabled, STATUS= at every transition and once a
 * second, STOPPING=1 when grace begins, EXTEND_TIMEOUT_USEC= covering what is left of the
 * shutdown (sent again whenever a deadline moves and every second, since systemd extends
 * only the state the unit is in when the message arrives), WATCHDOG=1 at half the interval,
 * and RELOADING=1 / READY=1 around a reload.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "engine.h"

/* Slack on top of the shutdown's own budget: hooks and the final exit. */
#define NOTIFY_SLACK_MS 2000

struct notify {
	serviced *s;
	char last_status[256];
};

static void notify_send(const char *msg)
{
	/* A notification that cannot be sent changes nothing for serving. */
	sd_notify(0, msg);
}

static void notify_status_text(const struct serviced_status *st, char *buf, size_t size)
{
	char left[32];
	const struct serviced_counts *c = &st->counts;

	if (st->state == SERVICED_STATE_RUNNING) {
		snprintf(buf, size, "serving: %llu connections, %llu requests in flight",
			 (unsigned long long)c->connections_open,
			 (unsigned long long)c->requests_in_flight);
		return;
	}
	if (st->phase_remaining_ms >= 0)
		snprintf(left, sizeof left, ", %s %s left", serviced_state_name(st->state),
			 serviced_format_duration((uint64_t)st->phase_remaining_ms, (char[24]){ 0 },
						  24));
	else
		left[0] = '\0';
	snprintf(buf, size, "draining (%s): %llu requests in flight, %llu connections open%s",
		 serviced_state_name(st->state), (unsigned long long)c->requests_in_flight,
		 (unsigned long long)c->connections_open, left);
}

/* What is left of the shutdown at most: this phase's remainder and every later phase. */
static uint64_t notify_budget_ms(const struct serviced_status *st)
{
	uint64_t ms = st->phase_remaining_ms > 0 ? (uint64_t)st->phase_remaining_ms : 0;

	switch (st->state) {
	case SERVICED_STATE_RUNNING:
	case SERVICED_STATE_DRAIN_DELAY:
		ms += st->knobs_ms[SERVICED_KNOB_GRACE];
		/* fall through */
	case SERVICED_STATE_GRACE:
		ms += st->knobs_ms[SERVICED_KNOB_MERCY];
		/* fall through */
	case SERVICED_STATE_MERCY:
	case SERVICED_STATE_FORCE:
		ms += st->knobs_ms[SERVICED_KNOB_FORCE];
		break;
	default:
		break;
	}
	return ms + NOTIFY_SLACK_MS;
}

static void notify_update(struct notify *n, bool force_status)
{
	struct serviced_status st;
	char text[256], msg[400];

	serviced_get_status(n->s, &st);
	notify_status_text(&st, text, sizeof text);
	if (st.state >= SERVICED_STATE_DRAIN_DELAY && st.state < SERVICED_STATE_STOPPED) {
		snprintf(msg, sizeof msg, "STATUS=%s\nEXTEND_TIMEOUT_USEC=%llu", text,
			 (unsigned long long)notify_budget_ms(&st) * 1000ull);
		notify_send(msg);
	} else if (force_status || strcmp(text, n->last_status) != 0) {
		snprintf(msg, sizeof msg, "STATUS=%s", text);
		notify_send(msg);
	}
	snprintf(n->last_status, sizeof n->last_status, "%s", text);
}

static void notify_on_state(void *cls, serviced *s, enum serviced_state from,
			    enum serviced_state to)
{
	struct notify *n = cls;

	(void)s;
	/* STOPPING=1 is final for systemd, so it waits for grace: a drain delay can still be
	 * cancelled. */
	if (to == SERVICED_STATE_GRACE && from != to)
		notify_send("STOPPING=1");
	if (to == SERVICED_STATE_STOPPED)
		notify_send("STATUS=stopped");
	else
		notify_update(n, true);
}

static void notify_tick(void *cls)
{
	notify_update(cls, false);
}

static void notify_watchdog(void *cls)
{
	(void)cls;
	notify_send("WATCHDOG=1");
}

static void notify_on_reload(void *cls, serviced *s, bool begin)
{
	struct notify *n = cls;
	struct timespec ts;
	char msg[96];

	(void)s;
	if (begin) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		snprintf(msg, sizeof msg, "RELOADING=1\nMONOTONIC_USEC=%llu",
			 (unsigned long long)ts.tv_sec * 1000000ull +
				 (unsigned long long)ts.tv_nsec / 1000ull);
		notify_send(msg);
	} else {
		notify_send("READY=1");
		notify_update(n, true);
	}
}

static void notify_free(void *cls)
{
	free(cls);
}

int serviced_systemd_enable(serviced *s)
{
	struct notify *n;
	uint64_t usec = 0;

	if (!getenv("NOTIFY_SOCKET"))
		return 0;
	n = calloc(1, sizeof *n);
	if (!n)
		return -ENOMEM;
	n->s = s;
	if (engine_add_cleanup(s, notify_free, n) < 0) {
		free(n);
		return -ENOSPC;
	}
	if (serviced_add_state_observer(s, notify_on_state, n) < 0 ||
	    serviced_add_tick(s, 1000, notify_tick, n) < 0 ||
	    engine_add_reload_observer(s, notify_on_reload, n) < 0)
		return -ENOSPC;
	if (sd_watchdog_enabled(0, &usec) > 0 && usec >= 2000 &&
	    serviced_add_tick(s, usec / 2000, notify_watchdog, n) < 0)
		return -ENOSPC;
	notify_send("READY=1");
	notify_update(n, true);
	return 1;
}

int serviced_systemd_listen_fd(int *fd, struct serviced_error *err)
{
	int n = sd_listen_fds(1);

	*fd = -1;
	if (n < 0)
		return engine_error(err, n, "socket activation: %s", strerror(-n));
	if (n == 0)
		return 0;
	if (n > 1)
		return engine_error(err, -EINVAL,
				    "socket activation: %d sockets passed, expected one", n);
	if (sd_is_socket_inet(SD_LISTEN_FDS_START, AF_UNSPEC, SOCK_STREAM, 1, 0) <= 0)
		return engine_error(err, -EINVAL,
				    "socket activation: fd %d is not a listening TCP socket",
				    SD_LISTEN_FDS_START);
	*fd = SD_LISTEN_FDS_START;
	return 1;
}
