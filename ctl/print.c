/*
 * print: servicectl's two printers over the daemon's replies. The JSON printer writes each
 * message exactly as the daemon sent it, one per line; the human printer reads the same
 * message through the shared codec and lays it out as aligned key/value lines.
 */
#include "autoconfig.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "ctl.h"

#define LABEL "%-14s "

bool print_quiet;

const char *print_duration(uint64_t ms, char *buf, size_t size)
{
	if (ms == 0)
		snprintf(buf, size, "0s");
	else if (ms < 1000)
		snprintf(buf, size, "%" PRIu64 "ms", ms);
	else if (ms < 60000 && ms % 1000 / 100 == 0)
		snprintf(buf, size, "%" PRIu64 "s", ms / 1000);
	else if (ms < 60000)
		snprintf(buf, size, "%" PRIu64 ".%" PRIu64 "s", ms / 1000, ms % 1000 / 100);
	else if (ms < 3600000 && ms / 1000 % 60 == 0)
		snprintf(buf, size, "%" PRIu64 "m", ms / 60000);
	else if (ms < 3600000)
		snprintf(buf, size, "%" PRIu64 "m%" PRIu64 "s", ms / 60000, ms / 1000 % 60);
	else if (ms / 60000 % 60 == 0)
		snprintf(buf, size, "%" PRIu64 "h", ms / 3600000);
	else
		snprintf(buf, size, "%" PRIu64 "h%" PRIu64 "m", ms / 3600000, ms / 60000 % 60);
	return buf;
}

uint64_t print_sum(const json_t *per_state)
{
	const char *key;
	uint64_t sum = 0;
	json_t *v;

	/* Only the shutdown's own states: a request cut while running (its client went away)
	 * says nothing about how the shutdown went. */
	json_object_foreach((json_t *)per_state, key, v)
		if (strcmp(key, serviced_state_name(SERVICED_STATE_RUNNING)) != 0 &&
		    json_is_integer(v) && json_integer_value(v) > 0)
			sum += (uint64_t)json_integer_value(v);
	return sum;
}

/* "running 900, grace 100", or "none". */
static void print_per_state(const char *label, const uint64_t v[SERVICED_STATE_COUNT_])
{
	bool any = false;
	int i;

	printf(LABEL, label);
	for (i = 0; i < SERVICED_STATE_COUNT_; i++) {
		if (v[i] == 0)
			continue;
		printf("%s%s %" PRIu64, any ? ", " : "", serviced_state_name((enum serviced_state)i),
		       v[i]);
		any = true;
	}
	printf("%s\n", any ? "" : "none");
}

static const char *print_or(const char *s, const char *otherwise)
{
	return s != NULL ? s : otherwise;
}

static const char *print_plural(uint64_t n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

/* "grace (by signal)" */
static void print_state(const struct serviced_status *st, char *buf, size_t size)
{
	if (st->trigger != SERVICED_TRIGGER_NONE && st->state != SERVICED_STATE_RUNNING)
		snprintf(buf, size, "%s (by %s)", serviced_state_name(st->state),
			 serviced_trigger_name(st->trigger));
	else
		snprintf(buf, size, "%s", serviced_state_name(st->state));
}

static void print_knob(const json_t *o, enum serviced_knob k)
{
	json_t *v = json_object_get(o, proto_knob_member(k));
	char label[32], d[32];
	size_t i;

	if (!json_is_integer(v))
		return;
	snprintf(label, sizeof label, "%s", proto_knob_name(k));
	for (i = 0; label[i] != '\0'; i++)
		if (label[i] == '_')
			label[i] = ' ';
	printf(LABEL "%s\n", label,
	       print_duration((uint64_t)json_integer_value(v), d, sizeof d));
}

static void print_knobs(const json_t *o)
{
	static const enum serviced_knob order[] = { SERVICED_KNOB_DRAIN_DELAY, SERVICED_KNOB_GRACE,
						    SERVICED_KNOB_MERCY, SERVICED_KNOB_FORCE };
	size_t i;

	for (i = 0; i < sizeof order / sizeof order[0]; i++)
		print_knob(o, order[i]);
}

static void print_status(const json_t *o)
{
	struct serviced_status st;
	const struct serviced_counts *c = &st.counts;
	char state[64], a[32], b[32];

	if (proto_status_from_json(o, &st) < 0) {
		printf("(the daemon's status reply was not understood)\n");
		return;
	}
	print_state(&st, state, sizeof state);
	printf(LABEL "%s\n", "state", state);
	if (st.state != SERVICED_STATE_RUNNING && st.phase_remaining_ms >= 0)
		printf(LABEL "%s left, %s elapsed\n", "phase",
		       print_duration((uint64_t)st.phase_remaining_ms, a, sizeof a),
		       print_duration(st.phase_elapsed_ms, b, sizeof b));
	else if (st.state != SERVICED_STATE_RUNNING)
		printf(LABEL "%s elapsed\n", "phase", print_duration(st.phase_elapsed_ms, a, sizeof a));
	printf(LABEL "%" PRIu64 " %s, %" PRIu64 " suspended, %" PRIu64 " %s\n", "in flight",
	       c->requests_in_flight, print_plural(c->requests_in_flight, "request", "requests"),
	       c->requests_suspended, c->streams_open,
	       print_plural(c->streams_open, "stream", "streams"));
	printf(LABEL "%" PRIu64 " open, %" PRIu64 " idle\n", "connections", c->connections_open,
	       c->connections_idle);
	printf(LABEL "%" PRIu64 " %s, %" PRIu64 " %s, %" PRIu64 " refused\n", "totals",
	       c->requests_total, print_plural(c->requests_total, "request", "requests"),
	       c->connections_total, print_plural(c->connections_total, "connection", "connections"),
	       c->connections_refused);
	print_per_state("completed", c->completed);
	print_per_state("cut", c->cut);
	print_per_state("aborted", c->aborted);
	print_knobs(o);
	printf(LABEL "%s\n", "uptime", print_duration(st.uptime_ms, a, sizeof a));
	printf(LABEL "%ld\n", "pid", (long)st.pid);
	printf(LABEL "%s (protocol %" JSON_INTEGER_FORMAT ")\n", "version",
	       print_or(json_string_value(json_object_get(o, "version")), "?"),
	       json_integer_value(json_object_get(o, "protocol")));
}

static void human_reply(enum proto_command cmd, const struct ctl_message *m)
{
	struct serviced_status st;
	json_int_t protocol;
	char state[64];

	if (print_quiet)
		return;
	switch (cmd) {
	case PROTO_CMD_STATUS:
		print_status(m->obj);
		break;
	case PROTO_CMD_SHUTDOWN:
	case PROTO_CMD_CANCEL:
		if (proto_status_from_json(m->obj, &st) < 0)
			snprintf(state, sizeof state, "?");
		else
			print_state(&st, state, sizeof state);
		printf("%s: %s\n", cmd == PROTO_CMD_CANCEL ? "shutdown cancelled" : "shutdown requested",
		       state);
		break;
	case PROTO_CMD_GET:
	case PROTO_CMD_SET:
		print_knobs(m->obj);
		break;
	case PROTO_CMD_WATCH:
		if (proto_status_from_json(m->obj, &st) < 0)
			printf("watching\n");
		else
			printf("watching serviced pid %ld, state %s\n", (long)st.pid,
			       serviced_state_name(st.state));
		break;
	case PROTO_CMD_PING:
		printf("pong\n");
		break;
	case PROTO_CMD_RELOAD:
		printf("configuration reloaded\n");
		break;
	case PROTO_CMD_VERSION:
		protocol = json_integer_value(json_object_get(m->obj, "protocol"));
		printf("serviced %s, protocol %" JSON_INTEGER_FORMAT "\n",
		       print_or(json_string_value(json_object_get(m->obj, "version")), "?"), protocol);
		printf("servicectl %s, protocol %d\n", SERVICED_VERSION, PROTO_VERSION);
		break;
	default:
		printf("ok\n");
		break;
	}
	fflush(stdout);
}

static void human_error(const char *what, const struct ctl_message *m, const char *text)
{
	json_t *err;
	const char *code, *message;

	fflush(stdout);
	if (m == NULL) {
		fprintf(stderr, "servicectl: %s%s%s\n", what ? what : "", what ? ": " : "", text);
		return;
	}
	err = json_object_get(m->obj, "error");
	code = json_string_value(json_object_get(err, "code"));
	message = json_string_value(json_object_get(err, "message"));
	fprintf(stderr, "servicectl: %s: %s (%s)\n", what, message ? message : "refused",
		code ? code : "error");
}

static void print_clock(void)
{
	struct timeval tv;
	struct tm tm;

	gettimeofday(&tv, NULL);
	localtime_r(&tv.tv_sec, &tm);
	printf("%02d:%02d:%02d.%03ld ", tm.tm_hour, tm.tm_min, tm.tm_sec, (long)tv.tv_usec / 1000);
}

static void human_event(const struct ctl_message *m)
{
	const char *ev = json_string_value(json_object_get(m->obj, "event"));
	struct serviced_status st;
	const struct serviced_counts *c = &st.counts;
	bool current = true;
	char left[32];

	if (print_quiet)
		return;
	print_clock();
	if (ev == NULL || proto_status_from_json(m->obj, &st) < 0) {
		printf("%.*s\n", (int)m->len, m->line);
		fflush(stdout);
		return;
	}
	if (strcmp(ev, "state") == 0) {
		const char *to = print_or(json_string_value(json_object_get(m->obj, "to")), "?");

		printf("%s -> %s", print_or(json_string_value(json_object_get(m->obj, "from")), "?"),
		       to);
		if (st.trigger != SERVICED_TRIGGER_NONE &&
		    strcmp(to, serviced_state_name(SERVICED_STATE_RUNNING)) != 0)
			printf(" (by %s)", serviced_trigger_name(st.trigger));
		if (strcmp(to, serviced_state_name(SERVICED_STATE_STOPPED)) == 0) {
			printf(": %" PRIu64 " requests completed, %" PRIu64 " cut\n",
			       print_sum(json_object_get(m->obj, "completed")),
			       print_sum(json_object_get(m->obj, "cut")));
			fflush(stdout);
			return;
		}
		/* The counts are a snapshot: the daemon may be a phase further already. */
		current = strcmp(to, serviced_state_name(st.state)) == 0;
		printf(": ");
	} else if (strcmp(ev, "durations") == 0) {
		printf("durations: drain delay %s, ",
		       print_duration(st.knobs_ms[SERVICED_KNOB_DRAIN_DELAY], left, sizeof left));
		printf("grace %s, ", print_duration(st.knobs_ms[SERVICED_KNOB_GRACE], left, sizeof left));
		printf("mercy %s, ", print_duration(st.knobs_ms[SERVICED_KNOB_MERCY], left, sizeof left));
		printf("force %s; %s: ", print_duration(st.knobs_ms[SERVICED_KNOB_FORCE], left, sizeof left),
		       serviced_state_name(st.state));
	} else {
		printf("%s: ", ev);
	}
	printf("%" PRIu64 " in flight, %" PRIu64 " connections (%" PRIu64 " idle), %" PRIu64
	       " streams",
	       c->requests_in_flight, c->connections_open, c->connections_idle, c->streams_open);
	if (current && st.phase_remaining_ms >= 0 && st.state != SERVICED_STATE_RUNNING)
		printf(", %s left",
		       print_duration((uint64_t)st.phase_remaining_ms, left, sizeof left));
	printf("\n");
	fflush(stdout);
}

const struct printer print_human = {
	.reply = human_reply,
	.error = human_error,
	.event = human_event,
};

static void json_line(const struct ctl_message *m)
{
	fwrite(m->line, 1, m->len, stdout);
	fputc('\n', stdout);
	fflush(stdout);
}

static void json_reply(enum proto_command cmd, const struct ctl_message *m)
{
	if (!print_quiet)
		json_line(m);
}

static void json_error(const char *what, const struct ctl_message *m, const char *text)
{
	/* The daemon's refusal is data, printed as it came; servicectl's own failures are not
	 * the daemon's words and go to stderr. */
	if (m != NULL)
		json_line(m);
	else
		human_error(what, NULL, text);
}

static void json_event(const struct ctl_message *m)
{
	if (!print_quiet)
		json_line(m);
}

const struct printer print_json = {
	.reply = json_reply,
	.error = json_error,
	.event = json_event,
};
