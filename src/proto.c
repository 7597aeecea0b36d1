/*
 * proto: the control protocol's codec (see proto.h and serviced-control(7)). It turns bytes
 * into validated requests and replies into bytes, and nothing else: the socket server is
 * control.c, the meaning of each command is command.c, the client is servicectl.
 */
#include "autoconfig.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

const struct proto_command_def proto_commands[PROTO_CMD_COUNT_] = {
	[PROTO_CMD_STATUS] = { PROTO_CMD_STATUS, "status", 0, 0, 0,
			       "show the lifecycle state, counts and durations" },
	[PROTO_CMD_SHUTDOWN] = { PROTO_CMD_SHUTDOWN, "shutdown", PROTO_CMD_MUTATES,
				 PROTO_F_GRACE | PROTO_F_MERCY | PROTO_F_DRAIN_DELAY | PROTO_F_NOW, 0,
				 "begin a graceful shutdown, or move on to the next phase" },
	[PROTO_CMD_CANCEL] = { PROTO_CMD_CANCEL, "cancel", PROTO_CMD_MUTATES, 0, 0,
			       "cancel a shutdown still in its drain delay" },
	[PROTO_CMD_GET] = { PROTO_CMD_GET, "get", 0, PROTO_F_KEY, 0,
			    "show one duration, or all of them" },
	[PROTO_CMD_SET] = { PROTO_CMD_SET, "set", PROTO_CMD_MUTATES, PROTO_F_KEY | PROTO_F_VALUE,
			    PROTO_F_KEY | PROTO_F_VALUE, "change a duration, during a drain too" },
	[PROTO_CMD_WATCH] = { PROTO_CMD_WATCH, "watch", PROTO_CMD_STREAMS, 0, 0,
			      "stream state changes and counts until the daemon exits" },
	[PROTO_CMD_PING] = { PROTO_CMD_PING, "ping", 0, 0, 0, "check that the daemon answers" },
	[PROTO_CMD_VERSION] = { PROTO_CMD_VERSION, "version", 0, 0, 0,
				"show the daemon's version and protocol" },
	[PROTO_CMD_RELOAD] = { PROTO_CMD_RELOAD, "reload", PROTO_CMD_MUTATES, 0, 0,
			       "re-read the configuration" },
};

enum proto_type { PROTO_T_DURATION, PROTO_T_BOOL, PROTO_T_KNOB };

static const struct proto_field_def {
	unsigned bit;
	const char *name;
	enum proto_type type;
} proto_fields[] = {
	{ PROTO_F_GRACE, "grace", PROTO_T_DURATION },
	{ PROTO_F_MERCY, "mercy", PROTO_T_DURATION },
	{ PROTO_F_DRAIN_DELAY, "drain_delay", PROTO_T_DURATION },
	{ PROTO_F_NOW, "now", PROTO_T_BOOL },
	{ PROTO_F_KEY, "key", PROTO_T_KNOB },
	{ PROTO_F_VALUE, "value", PROTO_T_DURATION },
};
#define PROTO_NFIELDS (sizeof proto_fields / sizeof proto_fields[0])

static const char *const proto_error_names[PROTO_E_COUNT_] = {
	[PROTO_OK] = NULL,
	[PROTO_E_BAD_JSON] = "bad_json",
	[PROTO_E_NOT_OBJECT] = "not_object",
	[PROTO_E_UNKNOWN_COMMAND] = "unknown_command",
	[PROTO_E_BAD_ARGUMENT] = "bad_argument",
	[PROTO_E_TOO_LARGE] = "too_large",
	[PROTO_E_DENIED] = "denied",
	[PROTO_E_WRONG_STATE] = "wrong_state",
	[PROTO_E_NOT_SUPPORTED] = "not_supported",
	[PROTO_E_FAILED] = "failed",
	[PROTO_E_BUSY] = "busy",
	[PROTO_E_INTERNAL] = "internal",
};

/* The knobs on the wire; the engine's own names are for its logs. */
static const struct {
	const char *name;
	const char *member;
	unsigned field;
} proto_knobs[SERVICED_KNOB_COUNT_] = {
	[SERVICED_KNOB_DRAIN_DELAY] = { "drain_delay", "drain_delay_ms", PROTO_F_DRAIN_DELAY },
	[SERVICED_KNOB_GRACE] = { "grace", "grace_ms", PROTO_F_GRACE },
	[SERVICED_KNOB_MERCY] = { "mercy", "mercy_ms", PROTO_F_MERCY },
	[SERVICED_KNOB_FORCE] = { "force", "force_ms", 0 },
};

const struct proto_command_def *proto_command_find(const char *name)
{
	size_t i;

	for (i = 0; i < PROTO_CMD_COUNT_; i++)
		if (strcmp(proto_commands[i].name, name) == 0)
			return &proto_commands[i];
	return NULL;
}

const char *proto_error_name(enum proto_error code)
{
	if ((unsigned)code >= PROTO_E_COUNT_)
		return NULL;
	return proto_error_names[code];
}

enum proto_error proto_error_from_name(const char *name)
{
	unsigned i;

	for (i = 1; i < PROTO_E_COUNT_; i++)
		if (strcmp(proto_error_names[i], name) == 0)
			return (enum proto_error)i;
	return PROTO_E_COUNT_;
}

const char *proto_knob_name(enum serviced_knob k)
{
	return (unsigned)k < SERVICED_KNOB_COUNT_ ? proto_knobs[k].name : NULL;
}

const char *proto_knob_member(enum serviced_knob k)
{
	return (unsigned)k < SERVICED_KNOB_COUNT_ ? proto_knobs[k].member : NULL;
}

unsigned proto_knob_field(enum serviced_knob k)
{
	return (unsigned)k < SERVICED_KNOB_COUNT_ ? proto_knobs[k].field : 0;
}

int proto_knob_find(const char *name)
{
	int k;

	for (k = 0; k < SERVICED_KNOB_COUNT_; k++)
		if (strcmp(proto_knobs[k].name, name) == 0)
			return k;
	return -1;
}

int proto_state_find(const char *name)
{
	int i;

	for (i = 0; i < SERVICED_STATE_COUNT_; i++) {
		const char *n = serviced_state_name((enum serviced_state)i);

		if (n != NULL && strcmp(n, name) == 0)
			return i;
	}
	return -1;
}

/* Replaces every byte that does not start a whole UTF-8 sequence with '?'. Messages quote
 * client input, cut to a length that may split a character; a reply must stay valid JSON. */
static void proto_utf8_sanitize(char *s)
{
	unsigned char *p = (unsigned char *)s;
	size_t need, i;

	while (*p != '\0') {
		if (*p < 0x80)
			need = 0;
		else if (*p >= 0xc2 && *p <= 0xdf)
			need = 1;
		else if (*p >= 0xe0 && *p <= 0xef)
			need = 2;
		else if (*p >= 0xf0 && *p <= 0xf4)
			need = 3;
		else
			need = (size_t)-1;
		for (i = 1; need != (size_t)-1 && i <= need; i++)
			if ((p[i] & 0xc0) != 0x80)
				need = (size_t)-1;
		if (need == (size_t)-1) {
			*p++ = '?';
			continue;
		}
		p += need + 1;
	}
}

enum proto_error proto_status_set(struct proto_status *st, enum proto_error code,
				  const char *fmt, ...)
{
	va_list ap;

	st->code = code;
	va_start(ap, fmt);
	vsnprintf(st->message, sizeof st->message, fmt, ap);
	va_end(ap);
	proto_utf8_sanitize(st->message);
	return code;
}

void proto_request_init(struct proto_request *req, enum proto_command cmd)
{
	memset(req, 0, sizeof *req);
	req->def = &proto_commands[cmd];
}

/*
 * Decoding.
 */

enum proto_error proto_decode_duration(const json_t *v, const char *field, uint64_t *ms,
				       struct proto_status *st)
{
	uint64_t out;

	if (json_is_string(v)) {
		const char *text = json_string_value(v);
		int r;

		/* Jansson refuses \u0000 unless asked, but check rather than trust that. */
		if (strlen(text) != json_string_length(v))
			return proto_status_set(st, PROTO_E_BAD_ARGUMENT,
						"field '%s': duration contains a NUL byte", field);
		r = serviced_parse_duration(text, &out);
		if (r == -ERANGE)
			return proto_status_set(st, PROTO_E_BAD_ARGUMENT,
						"field '%s': duration '%.64s' is over 24h", field, text);
		if (r < 0)
			return proto_status_set(st, PROTO_E_BAD_ARGUMENT,
						"field '%s': invalid duration '%.64s'", field, text);
	} else if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);

		if (i < 0)
			return proto_status_set(st, PROTO_E_BAD_ARGUMENT,
						"field '%s': duration is negative", field);
		out = (uint64_t)i;
	} else if (json_is_real(v)) {
		double d = json_real_value(v);

		if (!isfinite(d))
			return proto_status_set(st, PROTO_E_BAD_ARGUMENT,
						"field '%s': duration is not finite", field);
		if (d < 0)
			return proto_status_set(st, PROTO_E_BAD_ARGUMENT,
						"field '%s': duration is negative", field);
		if (d > (double)PROTO_MAX_DURATION_MS)
			return proto_status_set(st, PROTO_E_BAD_ARGUMENT,
						"field '%s': duration is over 24h", field);
		if (d != floor(d))
			return proto_status_set(st, PROTO_E_BAD_ARGUMENT,
						"field '%s': duration is not a whole number of "
						"milliseconds", field);
		out = (uint64_t)d;
	} else {
		return proto_status_set(st, PROTO_E_BAD_ARGUMENT,
					"field '%s': expected a duration (\"7s\", \"1500ms\") or "
					"integer milliseconds", field);
	}
	if (out > PROTO_MAX_DURATION_MS)
		return proto_status_set(st, PROTO_E_BAD_ARGUMENT, "field '%s': duration is over 24h",
					field);
	*ms = out;
	return PROTO_OK;
}

static enum proto_error proto_decode_field(const struct proto_field_def *f, json_t *v,
					   struct proto_request *req, struct proto_status *st)
{
	uint64_t ms;
	int k;

	switch (f->type) {
	case PROTO_T_BOOL:
		if (!json_is_boolean(v))
			return proto_status_set(st, PROTO_E_BAD_ARGUMENT,
						"field '%s': expected true or false", f->name);
		req->now = json_is_true(v);
		return PROTO_OK;
	case PROTO_T_KNOB:
		if (!json_is_string(v))
			return proto_status_set(st, PROTO_E_BAD_ARGUMENT,
						"field '%s': expected one of grace, mercy, "
						"drain_delay, force", f->name);
		k = proto_knob_find(json_string_value(v));
		if (k < 0 || strlen(json_string_value(v)) != json_string_length(v))
			return proto_status_set(st, PROTO_E_BAD_ARGUMENT,
						"field '%s': unknown key '%.64s' (grace, mercy, "
						"drain_delay, force)", f->name, json_string_value(v));
		req->key = (enum serviced_knob)k;
		return PROTO_OK;
	case PROTO_T_DURATION:
		if (proto_decode_duration(v, f->name, &ms, st) != PROTO_OK)
			return st->code;
		if (f->bit == PROTO_F_GRACE)
			req->grace_ms = ms;
		else if (f->bit == PROTO_F_MERCY)
			req->mercy_ms = ms;
		else if (f->bit == PROTO_F_DRAIN_DELAY)
			req->drain_delay_ms = ms;
		else
			req->value_ms = ms;
		return PROTO_OK;
	}
	return proto_status_set(st, PROTO_E_INTERNAL, "field '%s': no decoder", f->name);
}

static const struct proto_field_def *proto_field_find(const char *name)
{
	size_t i;

	for (i = 0; i < PROTO_NFIELDS; i++)
		if (strcmp(proto_fields[i].name, name) == 0)
			return &proto_fields[i];
	return NULL;
}

static const char *proto_json_type(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
		return "null";
	default:
		return "an object";
	}
}

/* Validates the shape of an object already parsed: a known command, only the fields that
 * command takes, each of the right type and range, the required ones present. */
static enum proto_error proto_decode_object(json_t *root, struct proto_request *req,
					    struct proto_status *st)
{
	const struct proto_command_def *def;
	const char *name, *key;
	json_t *cmd, *v;
	unsigned missing;
	size_t i;

	cmd = json_object_get(root, "command");
	if (cmd == NULL)
		return proto_status_set(st, PROTO_E_UNKNOWN_COMMAND, "message has no \"command\"");
	if (!json_is_string(cmd))
		return proto_status_set(st, PROTO_E_UNKNOWN_COMMAND,
					"\"command\" is %s, not a string", proto_json_type(cmd));
	name = json_string_value(cmd);
	def = strlen(name) == json_string_length(cmd) ? proto_command_find(name) : NULL;
	if (def == NULL)
		return proto_status_set(st, PROTO_E_UNKNOWN_COMMAND, "unknown command '%.64s'", name);

	memset(req, 0, sizeof *req);
	req->def = def;
	json_object_foreach(root, key, v) {
		const struct proto_field_def *f;

		if (strcmp(key, "command") == 0)
			continue;
		f = proto_field_find(key);
		if (f == NULL || !(def->fields & f->bit))
			return proto_status_set(st, PROTO_E_BAD_ARGUMENT,
						"unknown field '%.64s' for command '%s'", key,
						def->name);
		if (proto_decode_field(f, v, req, st) != PROTO_OK)
			return st->code;
		req->have |= f->bit;
	}
	missing = def->required & ~req->have;
	for (i = 0; i < PROTO_NFIELDS; i++)
		if (missing & proto_fields[i].bit)
			return proto_status_set(st, PROTO_E_BAD_ARGUMENT,
						"command '%s' needs field '%s'", def->name,
						proto_fields[i].name);
	return PROTO_OK;
}

enum proto_error proto_decode_request(const char *line, size_t len, struct proto_request *req,
				      struct proto_status *st)
{
	json_error_t jerr;
	json_t *root;
	enum proto_error rc;
	size_t i;

	st->code = PROTO_OK;
	st->message[0] = '\0';
	if (len >= PROTO_MAX_MESSAGE)
		return proto_status_set(st, PROTO_E_TOO_LARGE,
					"message is over %d bytes", PROTO_MAX_MESSAGE);
	if (memchr(line, '\0', len) != NULL)
		return proto_status_set(st, PROTO_E_BAD_JSON, "message contains a NUL byte");
	for (i = 0; i < len && strchr(" \t\r", line[i]) != NULL; i++)
		;
	if (i == len)
		return proto_status_set(st, PROTO_E_BAD_JSON, "empty message");

	/* Duplicate keys are refused: which of two "grace" values was meant is a guess. */
	root = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (root == NULL)
		return proto_status_set(st, PROTO_E_BAD_JSON, "invalid JSON at column %d: %s",
					jerr.column, jerr.text);
	if (!json_is_object(root))
		rc = proto_status_set(st, PROTO_E_NOT_OBJECT, "message is %s, not an object",
				      proto_json_type(root));
	else
		rc = proto_decode_object(root, req, st);
	json_decref(root);
	return rc;
}

/*
 * Encoding.
 */

json_t *proto_request_to_json(const struct proto_request *req)
{
	json_t *o = json_object();
	int r = 0;

	if (o == NULL)
		return NULL;
	r |= json_object_set_new(o, "command", json_string(req->def->name));
	if (req->have & PROTO_F_KEY)
		r |= json_object_set_new(o, "key", json_string(proto_knob_name(req->key)));
	if (req->have & PROTO_F_VALUE)
		r |= json_object_set_new(o, "value", json_integer((json_int_t)req->value_ms));
	if (req->have & PROTO_F_GRACE)
		r |= json_object_set_new(o, "grace", json_integer((json_int_t)req->grace_ms));
	if (req->have & PROTO_F_MERCY)
		r |= json_object_set_new(o, "mercy", json_integer((json_int_t)req->mercy_ms));
	if (req->have & PROTO_F_DRAIN_DELAY)
		r |= json_object_set_new(o, "drain_delay",
					 json_integer((json_int_t)req->drain_delay_ms));
	if (req->have & PROTO_F_NOW)
		r |= json_object_set_new(o, "now", json_boolean(req->now));
	if (r != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *proto_reply_ok(void)
{
	json_t *o = json_object();

	if (o != NULL && json_object_set_new(o, "ok", json_true()) != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *proto_reply_error(const struct proto_status *st)
{
	const char *code = proto_error_name(st->code);
	json_t *o = json_object(), *e = json_object();
	int r = 0;

	if (o == NULL || e == NULL) {
		json_decref(o);
		json_decref(e);
		return NULL;
	}
	r |= json_object_set_new(e, "code", json_string(code != NULL ? code : "internal"));
	r |= json_object_set_new(e, "message", json_string(st->message));
	r |= json_object_set_new(o, "ok", json_false());
	r |= json_object_set_new(o, "error", e);
	if (r != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static int proto_set_uint(json_t *o, const char *key, uint64_t v)
{
	if (v > (uint64_t)INT64_MAX)
		v = (uint64_t)INT64_MAX;
	return json_object_set_new(o, key, json_integer((json_int_t)v));
}

int proto_add_knobs(json_t *obj, const struct serviced_status *st, int k)
{
	int i, r = 0;

	for (i = 0; i < SERVICED_KNOB_COUNT_; i++)
		if (k < 0 || k == i)
			r |= proto_set_uint(obj, proto_knobs[i].member, st->knobs_ms[i]);
	return r != 0 ? -ENOMEM : 0;
}

static json_t *proto_per_state(const uint64_t v[SERVICED_STATE_COUNT_])
{
	json_t *o = json_object();
	int i, r = 0;

	if (o == NULL)
		return NULL;
	for (i = 0; i < SERVICED_STATE_COUNT_; i++)
		r |= proto_set_uint(o, serviced_state_name((enum serviced_state)i), v[i]);
	if (r != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

int proto_add_status(json_t *o, const struct serviced_status *st)
{
	const struct serviced_counts *c = &st->counts;
	json_t *completed = proto_per_state(c->completed), *cut = proto_per_state(c->cut);
	json_t *aborted = proto_per_state(c->aborted);
	int r = 0;

	if (completed == NULL || cut == NULL || aborted == NULL) {
		json_decref(completed);
		json_decref(cut);
		json_decref(aborted);
		return -ENOMEM;
	}
	r |= json_object_set_new(o, "state", json_string(serviced_state_name(st->state)));
	r |= json_object_set_new(o, "trigger", json_string(serviced_trigger_name(st->trigger)));
	r |= json_object_set_new(o, "phase_remaining_ms",
				 json_integer(st->phase_remaining_ms < 0 ? -1 :
					      (json_int_t)st->phase_remaining_ms));
	r |= proto_set_uint(o, "phase_elapsed_ms", st->phase_elapsed_ms);
	r |= proto_set_uint(o, "uptime_ms", st->uptime_ms);
	r |= proto_set_uint(o, "requests_in_flight", c->requests_in_flight);
	r |= proto_set_uint(o, "connections_open", c->connections_open);
	r |= proto_set_uint(o, "connections_idle", c->connections_idle);
	r |= proto_set_uint(o, "streams_open", c->streams_open);
	r |= proto_set_uint(o, "requests_suspended", c->requests_suspended);
	r |= proto_set_uint(o, "requests_total", c->requests_total);
	r |= proto_set_uint(o, "connections_total", c->connections_total);
	r |= proto_set_uint(o, "connections_refused", c->connections_refused);
	r |= json_object_set_new(o, "completed", completed);
	r |= json_object_set_new(o, "cut", cut);
	r |= json_object_set_new(o, "aborted", aborted);
	r |= proto_add_knobs(o, st, -1);
	r |= json_object_set_new(o, "pid", json_integer(st->pid));
	if (st->exit_status >= 0) /* only once stopped */
		r |= json_object_set_new(o, "exit_status", json_integer(st->exit_status));
	r |= json_object_set_new(o, "protocol", json_integer(PROTO_VERSION));
	r |= json_object_set_new(o, "version", json_string(SERVICED_VERSION));
	return r != 0 ? -ENOMEM : 0;
}

static json_t *proto_event(const char *name, const struct serviced_status *st)
{
	json_t *o = json_object();

	if (o == NULL)
		return NULL;
	if (json_object_set_new(o, "event", json_string(name)) != 0 ||
	    proto_add_status(o, st) != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *proto_event_state(enum serviced_state from, enum serviced_state to,
			  const struct serviced_status *st)
{
	json_t *o = proto_event("state", st);
	int r = 0;

	if (o == NULL)
		return NULL;
	r |= json_object_set_new(o, "from", json_string(serviced_state_name(from)));
	r |= json_object_set_new(o, "to", json_string(serviced_state_name(to)));
	if (r != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *proto_event_counts(const struct serviced_status *st)
{
	return proto_event("counts", st);
}

json_t *proto_event_durations(const struct serviced_status *st)
{
	return proto_event("durations", st);
}

char *proto_encode(const json_t *msg, size_t *len)
{
	char *text, *out;
	size_t n;

	text = json_dumps(msg, JSON_COMPACT);
	if (text == NULL)
		return NULL;
	n = strlen(text);
	if (n + 1 > PROTO_MAX_MESSAGE || (out = realloc(text, n + 2)) == NULL) {
		free(text);
		return NULL;
	}
	out[n] = '\n';
	out[n + 1] = '\0';
	*len = n + 1;
	return out;
}

/*
 * The framer.
 */

void proto_reader_init(struct proto_reader *r)
{
	r->start = r->len = r->scan = 0;
	r->too_large = false;
}

size_t proto_reader_pending(const struct proto_reader *r)
{
	return r->len - r->start;
}

char *proto_reader_space(struct proto_reader *r, size_t *room)
{
	if (r->start > 0) {
		memmove(r->buf, r->buf + r->start, r->len - r->start);
		r->len -= r->start;
		r->start = 0;
	}
	if (r->too_large || r->len == sizeof r->buf) {
		*room = 0;
		return NULL;
	}
	*room = sizeof r->buf - r->len;
	return r->buf + r->len;
}

void proto_reader_commit(struct proto_reader *r, size_t n)
{
	if (n > sizeof r->buf - r->len)
		n = sizeof r->buf - r->len;
	r->len += n;
}

size_t proto_reader_feed(struct proto_reader *r, const void *data, size_t len)
{
	size_t room;
	char *p = proto_reader_space(r, &room);

	if (p == NULL)
		return 0;
	if (len > room)
		len = room;
	memcpy(p, data, len);
	proto_reader_commit(r, len);
	return len;
}

int proto_reader_next(struct proto_reader *r, char **line, size_t *len)
{
	char *base = r->buf + r->start, *nl;
	size_t held = r->len - r->start;

	if (r->too_large)
		return PROTO_READ_TOO_LARGE;
	nl = memchr(base + r->scan, '\n', held - r->scan);
	if (nl == NULL) {
		r->scan = held;
		if (held == sizeof r->buf) {
			/* A whole message's worth and no newline: it can only be too large. */
			r->too_large = true;
			return PROTO_READ_TOO_LARGE;
		}
		return PROTO_READ_MORE;
	}
	*nl = '\0';
	*line = base;
	*len = (size_t)(nl - base);
	r->start += *len + 1;
	r->scan = 0;
	return PROTO_READ_LINE;
}

int proto_reader_finish(struct proto_reader *r, char **line, size_t *len)
{
	size_t held;

	if (r->too_large)
		return PROTO_READ_TOO_LARGE;
	held = r->len - r->start;
	if (held == 0)
		return PROTO_READ_MORE;
	if (r->start == 0 && held == sizeof r->buf) {
		r->too_large = true;
		return PROTO_READ_TOO_LARGE;
	}
	if (r->len == sizeof r->buf) {
		/* Make room for the terminator. */
		memmove(r->buf, r->buf + r->start, held);
		r->start = 0;
		r->len = held;
	}
	r->buf[r->len] = '\0';
	*line = r->buf + r->start;
	*len = held;
	r->start = r->len;
	r->scan = 0;
	return PROTO_READ_LINE;
}

/*
 * Where the socket is. Both sides must agree on the default, so it lives in the contract.
 */

const char *serviced_control_default_path(char *buf, size_t size)
{
	const char *dir = getenv("RUNTIME_DIRECTORY");
	int n;

	if (dir != NULL && dir[0] == '/') {
		/* systemd joins several RuntimeDirectory= entries with colons: use the first. */
		n = snprintf(buf, size, "%.*s/control.sock", (int)strcspn(dir, ":"), dir);
	} else if ((dir = getenv("XDG_RUNTIME_DIR")) != NULL && dir[0] == '/') {
		n = snprintf(buf, size, "%s/serviced.sock", dir);
	} else {
		n = snprintf(buf, size, "/run/serviced/control.sock");
	}
	if (n < 0 || (size_t)n >= size)
		return NULL;
	return buf;
}

/*
 * Client side.
 */

int proto_parse_message(const char *line, size_t len, json_t **out, struct proto_status *st)
{
	json_error_t jerr;
	json_t *root, *ok, *ev, *err;
	const char *code, *message;

	*out = NULL;
	st->code = PROTO_OK;
	st->message[0] = '\0';
	root = json_loadb(line, len, 0, &jerr);
	if (root == NULL) {
		proto_status_set(st, PROTO_E_BAD_JSON, "invalid JSON from the daemon: %s",
				 jerr.text);
		return PROTO_MSG_INVALID;
	}
	ev = json_object_get(root, "event");
	ok = json_object_get(root, "ok");
	if (json_is_string(ev)) {
		*out = root;
		return PROTO_MSG_EVENT;
	}
	if (json_is_true(ok)) {
		*out = root;
		return PROTO_MSG_OK;
	}
	if (json_is_false(ok)) {
		err = json_object_get(root, "error");
		code = json_string_value(json_object_get(err, "code"));
		message = json_string_value(json_object_get(err, "message"));
		st->code = code != NULL ? proto_error_from_name(code) : PROTO_E_COUNT_;
		if (st->code == PROTO_E_COUNT_)
			st->code = PROTO_E_INTERNAL;
		/* Keep the daemon's words, and its code even when this client does not know it. */
		snprintf(st->message, sizeof st->message, "%s%s%s", code != NULL ? code : "error",
			 message != NULL ? ": " : "", message != NULL ? message : "");
		*out = root;
		return PROTO_MSG_ERROR;
	}
	json_decref(root);
	proto_status_set(st, PROTO_E_BAD_JSON, "the daemon sent neither a reply nor an event");
	return PROTO_MSG_INVALID;
}

static int proto_get_uint(const json_t *o, const char *key, uint64_t *v)
{
	json_t *j = json_object_get(o, key);

	if (!json_is_integer(j) || json_integer_value(j) < 0)
		return -EINVAL;
	*v = (uint64_t)json_integer_value(j);
	return 0;
}

static int proto_get_per_state(const json_t *o, const char *key,
			       uint64_t v[SERVICED_STATE_COUNT_])
{
	json_t *j = json_object_get(o, key);
	int i;

	if (!json_is_object(j))
		return -EINVAL;
	for (i = 0; i < SERVICED_STATE_COUNT_; i++)
		if (proto_get_uint(j, serviced_state_name((enum serviced_state)i), &v[i]) < 0)
			v[i] = 0; /* a state this client does not know counts nothing here */
	return 0;
}

int proto_status_from_json(const json_t *o, struct serviced_status *st)
{
	struct serviced_counts *c = &st->counts;
	const char *state, *trigger;
	json_t *rem;
	uint64_t pid = 0;
	int i, r = 0;

	memset(st, 0, sizeof *st);
	state = json_string_value(json_object_get(o, "state"));
	trigger = json_string_value(json_object_get(o, "trigger"));
	if (state == NULL || proto_state_find(state) < 0)
		return -EINVAL;
	st->state = (enum serviced_state)proto_state_find(state);
	st->trigger = SERVICED_TRIGGER_NONE;
	for (i = 0; trigger != NULL && i < SERVICED_TRIGGER_COUNT_; i++) {
		const char *n = serviced_trigger_name((enum serviced_trigger)i);

		if (n != NULL && strcmp(n, trigger) == 0)
			st->trigger = (enum serviced_trigger)i;
	}
	/* Values are taken as sent or refused, never changed on the way in. */
	rem = json_object_get(o, "phase_remaining_ms");
	if (!json_is_integer(rem) || json_integer_value(rem) < -1)
		return -EINVAL;
	st->phase_remaining_ms = json_integer_value(rem);
	r |= proto_get_uint(o, "phase_elapsed_ms", &st->phase_elapsed_ms);
	r |= proto_get_uint(o, "uptime_ms", &st->uptime_ms);
	r |= proto_get_uint(o, "requests_in_flight", &c->requests_in_flight);
	r |= proto_get_uint(o, "connections_open", &c->connections_open);
	r |= proto_get_uint(o, "connections_idle", &c->connections_idle);
	r |= proto_get_uint(o, "streams_open", &c->streams_open);
	r |= proto_get_uint(o, "requests_suspended", &c->requests_suspended);
	r |= proto_get_uint(o, "requests_total", &c->requests_total);
	r |= proto_get_uint(o, "connections_total", &c->connections_total);
	/* Added within protocol 1: a daemon from before it refused none it would count. */
	if (json_object_get(o, "connections_refused") != NULL)
		r |= proto_get_uint(o, "connections_refused", &c->connections_refused);
	r |= proto_get_per_state(o, "completed", c->completed);
	r |= proto_get_per_state(o, "cut", c->cut);
	/* Added within protocol 1: before it, a daemon counted these as cut. */
	if (json_object_get(o, "aborted") != NULL)
		r |= proto_get_per_state(o, "aborted", c->aborted);
	for (i = 0; i < SERVICED_KNOB_COUNT_; i++)
		r |= proto_get_uint(o, proto_knobs[i].member, &st->knobs_ms[i]);
	r |= proto_get_uint(o, "pid", &pid);
	if (pid == 0 || pid > INT_MAX) /* pid_t is an int, and no process is 0 */
		return -EINVAL;
	st->pid = (pid_t)pid;
	{
		const json_t *x = json_object_get(o, "exit_status");

		st->exit_status = -1;
		if (x && (!json_is_integer(x) || json_integer_value(x) < 0 ||
			  json_integer_value(x) > 255))
			return -EINVAL;
		if (x)
			st->exit_status = (int)json_integer_value(x);
	}
	return r != 0 ? -EINVAL : 0;
}
