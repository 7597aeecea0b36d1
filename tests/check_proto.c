/*
 * check_proto: unit tests of the control protocol codec (src/proto.c).
 *
 * The invalid inputs are data: tests/proto-invalid/ holds one file per case, named
 * NNN-description.CODE, whose bytes are what a client sends; each must fail with CODE when
 * pushed through the framer and the decoder, exactly as the daemon does. Inputs too big to
 * commit (a 10 MB line) are made here.
 */
#include "autoconfig.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

#ifndef PROTO_INVALID_DIR
#define PROTO_INVALID_DIR "tests/proto-invalid"
#endif

/*
 * The data-driven cases.
 */

static char **invalid_names;
static size_t invalid_count;

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void invalid_load(void)
{
	DIR *d = opendir(PROTO_INVALID_DIR);
	struct dirent *e;
	size_t cap = 0;

	if (d == NULL) {
		fprintf(stderr, "check_proto: %s: %s\n", PROTO_INVALID_DIR, strerror(errno));
		exit(1);
	}
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		if (invalid_count == cap) {
			char **grown;

			cap = cap ? cap * 2 : 64;
			grown = realloc(invalid_names, cap * sizeof *invalid_names);
			if (grown == NULL) {
				fprintf(stderr, "check_proto: out of memory\n");
				exit(1);
			}
			invalid_names = grown;
		}
		invalid_names[invalid_count++] = strdup(e->d_name);
	}
	closedir(d);
	qsort(invalid_names, invalid_count, sizeof *invalid_names, name_cmp);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n;

	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	*len = 0;
	do {
		if (*len + 4096 > cap) {
			char *grown = realloc(buf, cap = cap * 2 + 4096);

			ck_assert_ptr_nonnull(grown);
			buf = grown;
		}
		n = fread(buf + *len, 1, cap - *len, f);
		*len += n;
	} while (n > 0);
	fclose(f);
	return buf;
}

/* What the daemon would answer to these bytes: the framer first, then the decoder. */
static enum proto_error pipeline(const char *data, size_t len, struct proto_status *st)
{
	static struct proto_reader r;
	struct proto_request req;
	size_t off = 0;
	char *line;
	size_t n;
	int rc;

	proto_reader_init(&r);
	for (;;) {
		rc = proto_reader_next(&r, &line, &n);
		if (rc == PROTO_READ_TOO_LARGE)
			return proto_status_set(st, PROTO_E_TOO_LARGE, "too large");
		if (rc == PROTO_READ_LINE)
			break;
		if (off == len) {
			rc = proto_reader_finish(&r, &line, &n);
			if (rc == PROTO_READ_TOO_LARGE)
				return proto_status_set(st, PROTO_E_TOO_LARGE, "too large");
			ck_assert_int_eq(rc, PROTO_READ_LINE);
			break;
		}
		off += proto_reader_feed(&r, data + off, len - off);
	}
	return proto_decode_request(line, n, &req, st);
}

START_TEST(test_invalid_case)
{
	const char *name = invalid_names[_i];
	const char *want = strrchr(name, '.') + 1;
	struct proto_status st, back;
	char path[4096], *data;
	json_t *reply, *parsed;
	size_t len, elen;
	char *enc;
	enum proto_error got;

	ck_assert_msg(proto_error_from_name(want) != PROTO_E_COUNT_, "%s: unknown code", name);
	snprintf(path, sizeof path, "%s/%s", PROTO_INVALID_DIR, name);
	data = slurp(path, &len);
	got = pipeline(data, len, &st);
	ck_assert_msg(got == proto_error_from_name(want), "%s: expected %s, got %s (%s)", name,
		      want, got == PROTO_OK ? "ok" : proto_error_name(got), st.message);
	ck_assert_msg(st.message[0] != '\0', "%s: no message", name);

	/* Whatever the input quoted, the error reply is valid JSON that parses back. */
	reply = proto_reply_error(&st);
	ck_assert_ptr_nonnull(reply);
	enc = proto_encode(reply, &elen);
	ck_assert_msg(enc != NULL, "%s: error reply does not encode: %s", name, st.message);
	ck_assert_int_eq(enc[elen - 1], '\n');
	ck_assert_int_eq(proto_parse_message(enc, elen - 1, &parsed, &back), PROTO_MSG_ERROR);
	ck_assert_int_eq(back.code, got);
	json_decref(parsed);
	json_decref(reply);
	free(enc);
	free(data);
}
END_TEST

START_TEST(test_invalid_count)
{
	/* The suite means something only with a real corpus behind it. */
	ck_assert_uint_ge(invalid_count, 50);
}
END_TEST

/*
 * Valid requests.
 */

static enum proto_error decode(const char *text, struct proto_request *req,
			       struct proto_status *st)
{
	return proto_decode_request(text, strlen(text), req, st);
}

START_TEST(test_every_command_decodes)
{
	struct proto_request req;
	struct proto_status st;
	char line[256];
	size_t i;

	for (i = 0; i < PROTO_CMD_COUNT_; i++) {
		const struct proto_command_def *d = &proto_commands[i];

		ck_assert_int_eq(d->id, (int)i);
		ck_assert_ptr_eq(proto_command_find(d->name), d);
		if (d->required)
			snprintf(line, sizeof line, "{\"command\":\"%s\",\"key\":\"grace\",\"value\":5}",
				 d->name);
		else
			snprintf(line, sizeof line, "{\"command\":\"%s\"}", d->name);
		ck_assert_msg(decode(line, &req, &st) == PROTO_OK, "%s: %s", line, st.message);
		ck_assert_ptr_eq(req.def, d);
	}
	ck_assert_ptr_null(proto_command_find("stat"));
	ck_assert_ptr_null(proto_command_find(""));
}
END_TEST

START_TEST(test_privilege_is_data)
{
	unsigned mutating = 0;
	size_t i;

	for (i = 0; i < PROTO_CMD_COUNT_; i++)
		if (proto_commands[i].flags & PROTO_CMD_MUTATES)
			mutating |= 1u << i;
	ck_assert_uint_eq(mutating, (1u << PROTO_CMD_SHUTDOWN) | (1u << PROTO_CMD_CANCEL) |
					    (1u << PROTO_CMD_SET) | (1u << PROTO_CMD_RELOAD));
	ck_assert(proto_commands[PROTO_CMD_WATCH].flags & PROTO_CMD_STREAMS);
}
END_TEST

START_TEST(test_shutdown_fields)
{
	struct proto_request req;
	struct proto_status st;

	ck_assert_int_eq(decode("{\"command\":\"shutdown\",\"grace\":\"7s\",\"mercy\":1500,"
				"\"drain_delay\":\"1500ms\",\"now\":true}", &req, &st), PROTO_OK);
	ck_assert_int_eq(req.def->id, PROTO_CMD_SHUTDOWN);
	ck_assert_uint_eq(req.have, PROTO_F_GRACE | PROTO_F_MERCY | PROTO_F_DRAIN_DELAY | PROTO_F_NOW);
	ck_assert_uint_eq(req.grace_ms, 7000);
	ck_assert_uint_eq(req.mercy_ms, 1500);
	ck_assert_uint_eq(req.drain_delay_ms, 1500);
	ck_assert(req.now);

	/* Order does not matter; absent fields stay absent. */
	ck_assert_int_eq(decode("{\"now\":false,\"command\":\"shutdown\"}", &req, &st), PROTO_OK);
	ck_assert_uint_eq(req.have, PROTO_F_NOW);
	ck_assert(!req.now);
}
END_TEST

START_TEST(test_durations)
{
	static const struct {
		const char *json;
		uint64_t ms;
	} ok[] = {
		{ "0", 0 },
		{ "1500", 1500 },
		{ "1500.0", 1500 },
		{ "0.0", 0 },
		{ "-0", 0 },
		{ "86400000", 86400000 },
		{ "8.64e7", 86400000 },
		{ "\"7s\"", 7000 },
		{ "\"1500ms\"", 1500 },
		{ "\"1.5s\"", 1500 },
		{ "\"2m\"", 120000 },
		{ "\"24h\"", 86400000 },
		{ "\"5\"", 5000 }, /* a bare number in a string is seconds, as on the command line */
	};
	struct proto_request req;
	struct proto_status st;
	char line[128];
	size_t i;

	for (i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		snprintf(line, sizeof line, "{\"command\":\"set\",\"key\":\"mercy\",\"value\":%s}",
			 ok[i].json);
		ck_assert_msg(decode(line, &req, &st) == PROTO_OK, "%s: %s", line, st.message);
		ck_assert_uint_eq(req.key, SERVICED_KNOB_MERCY);
		ck_assert_uint_eq(req.value_ms, ok[i].ms);
	}
}
END_TEST

START_TEST(test_keys)
{
	static const char *names[] = { "grace", "mercy", "drain_delay", "force" };
	struct proto_request req;
	struct proto_status st;
	char line[128];
	size_t i;

	for (i = 0; i < 4; i++) {
		snprintf(line, sizeof line, "{\"command\":\"get\",\"key\":\"%s\"}", names[i]);
		ck_assert_int_eq(decode(line, &req, &st), PROTO_OK);
		ck_assert(req.have & PROTO_F_KEY);
		ck_assert_str_eq(proto_knob_name(req.key), names[i]);
		ck_assert_int_eq(proto_knob_find(names[i]), (int)req.key);
	}
	ck_assert_int_eq(decode("{\"command\":\"get\"}", &req, &st), PROTO_OK);
	ck_assert_uint_eq(req.have, 0);
	ck_assert_str_eq(proto_knob_member(SERVICED_KNOB_DRAIN_DELAY), "drain_delay_ms");
}
END_TEST

START_TEST(test_whitespace_tolerated)
{
	struct proto_request req;
	struct proto_status st;

	ck_assert_int_eq(decode("  {\"command\" : \"ping\"}\t\r", &req, &st), PROTO_OK);
	ck_assert_int_eq(req.def->id, PROTO_CMD_PING);
}
END_TEST

START_TEST(test_error_messages_name_the_field)
{
	struct proto_request req;
	struct proto_status st;

	ck_assert_int_eq(decode("{\"command\":\"shutdown\",\"graec\":\"1s\"}", &req, &st),
			 PROTO_E_BAD_ARGUMENT);
	ck_assert_ptr_nonnull(strstr(st.message, "'graec'"));
	ck_assert_int_eq(decode("{\"command\":\"set\",\"key\":\"grace\"}", &req, &st),
			 PROTO_E_BAD_ARGUMENT);
	ck_assert_ptr_nonnull(strstr(st.message, "'value'"));
	ck_assert_int_eq(decode("{\"command\":\"shutdown\",\"mercy\":-5}", &req, &st),
			 PROTO_E_BAD_ARGUMENT);
	ck_assert_ptr_nonnull(strstr(st.message, "'mercy'"));
	ck_assert_int_eq(decode("{\"command\":\"frobnicate\"}", &req, &st),
			 PROTO_E_UNKNOWN_COMMAND);
	ck_assert_ptr_nonnull(strstr(st.message, "'frobnicate'"));
}
END_TEST

START_TEST(test_request_round_trip)
{
	struct proto_request in, out;
	struct proto_status st;
	json_t *j;
	char *enc;
	size_t len;

	proto_request_init(&in, PROTO_CMD_SHUTDOWN);
	in.have = PROTO_F_GRACE | PROTO_F_DRAIN_DELAY | PROTO_F_NOW;
	in.grace_ms = 4200;
	in.drain_delay_ms = 0;
	in.now = true;
	j = proto_request_to_json(&in);
	ck_assert_ptr_nonnull(j);
	enc = proto_encode(j, &len);
	ck_assert_str_eq(enc, "{\"command\":\"shutdown\",\"grace\":4200,\"drain_delay\":0,"
			      "\"now\":true}\n");
	ck_assert_int_eq(proto_decode_request(enc, len - 1, &out, &st), PROTO_OK);
	ck_assert_ptr_eq(out.def, in.def);
	ck_assert_uint_eq(out.have, in.have);
	ck_assert_uint_eq(out.grace_ms, 4200);
	ck_assert(out.now);
	json_decref(j);
	free(enc);

	proto_request_init(&in, PROTO_CMD_SET);
	in.have = PROTO_F_KEY | PROTO_F_VALUE;
	in.key = SERVICED_KNOB_FORCE;
	in.value_ms = 250;
	j = proto_request_to_json(&in);
	enc = proto_encode(j, &len);
	ck_assert_str_eq(enc, "{\"command\":\"set\",\"key\":\"force\",\"value\":250}\n");
	ck_assert_int_eq(proto_decode_request(enc, len - 1, &out, &st), PROTO_OK);
	ck_assert_uint_eq(out.key, SERVICED_KNOB_FORCE);
	ck_assert_uint_eq(out.value_ms, 250);
	json_decref(j);
	free(enc);
}
END_TEST

/*
 * Replies and events.
 */

static void sample_status(struct serviced_status *st)
{
	int i;

	memset(st, 0, sizeof *st);
	st->state = SERVICED_STATE_GRACE;
	st->trigger = SERVICED_TRIGGER_SIGNAL;
	st->phase_remaining_ms = 4200;
	st->phase_elapsed_ms = 5800;
	st->uptime_ms = 123456;
	st->knobs_ms[SERVICED_KNOB_GRACE] = 10000;
	st->knobs_ms[SERVICED_KNOB_MERCY] = 5000;
	st->knobs_ms[SERVICED_KNOB_DRAIN_DELAY] = 0;
	st->knobs_ms[SERVICED_KNOB_FORCE] = 1000;
	st->counts.requests_in_flight = 3;
	st->counts.connections_open = 5;
	st->counts.connections_idle = 2;
	st->counts.streams_open = 1;
	st->counts.requests_suspended = 1;
	st->counts.requests_total = 1000;
	st->counts.connections_total = 70;
	st->counts.connections_refused = 9;
	for (i = 0; i < SERVICED_STATE_COUNT_; i++) {
		st->counts.completed[i] = 100 + (uint64_t)i;
		st->counts.cut[i] = (uint64_t)i;
	}
	st->pid = 4242;
}

START_TEST(test_status_round_trip)
{
	static const char *members[] = {
		"state", "trigger", "phase_remaining_ms", "phase_elapsed_ms", "uptime_ms",
		"requests_in_flight", "connections_open", "connections_idle", "streams_open",
		"requests_suspended", "requests_total", "connections_total", "connections_refused",
		"completed", "cut", "grace_ms", "mercy_ms", "drain_delay_ms", "force_ms", "pid",
		"protocol", "version",
	};
	struct serviced_status in, out;
	json_t *o = proto_reply_ok();
	size_t i;

	sample_status(&in);
	ck_assert_int_eq(proto_add_status(o, &in), 0);
	for (i = 0; i < sizeof members / sizeof members[0]; i++)
		ck_assert_msg(json_object_get(o, members[i]) != NULL, "no %s", members[i]);
	ck_assert_str_eq(json_string_value(json_object_get(o, "state")), "grace");
	ck_assert_str_eq(json_string_value(json_object_get(o, "trigger")), "signal");
	ck_assert_int_eq(json_integer_value(json_object_get(o, "protocol")), PROTO_VERSION);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(o, "cut"), "mercy")),
			 SERVICED_STATE_MERCY);
	ck_assert_int_eq(proto_status_from_json(o, &out), 0);
	ck_assert_int_eq(memcmp(&in, &out, sizeof in), 0);

	in.phase_remaining_ms = -1;
	json_decref(o);
	o = json_object();
	proto_add_status(o, &in);
	ck_assert_int_eq(json_integer_value(json_object_get(o, "phase_remaining_ms")), -1);
	ck_assert_int_eq(proto_status_from_json(o, &out), 0);
	ck_assert_int_eq(out.phase_remaining_ms, -1);
	/* Values are taken as sent or refused: never truncated, wrapped or clamped. */
	json_object_set_new(o, "pid", json_integer(4294967296LL));
	ck_assert_int_eq(proto_status_from_json(o, &out), -EINVAL);
	json_object_set_new(o, "pid", json_integer(0));
	ck_assert_int_eq(proto_status_from_json(o, &out), -EINVAL);
	json_object_set_new(o, "pid", json_integer(4242));
	json_object_set_new(o, "phase_remaining_ms", json_integer(-2));
	ck_assert_int_eq(proto_status_from_json(o, &out), -EINVAL);
	json_object_set_new(o, "phase_remaining_ms", json_integer(-1));
	ck_assert_int_eq(proto_status_from_json(o, &out), 0);
	/* connections_refused came later within protocol 1: absent reads as 0, bad is refused. */
	json_object_set_new(o, "connections_refused", json_integer(-1));
	ck_assert_int_eq(proto_status_from_json(o, &out), -EINVAL);
	json_object_del(o, "connections_refused");
	ck_assert_int_eq(proto_status_from_json(o, &out), 0);
	ck_assert_uint_eq(out.counts.connections_refused, 0);
	json_object_del(o, "uptime_ms");
	ck_assert_int_eq(proto_status_from_json(o, &out), -EINVAL);
	json_decref(o);
}
END_TEST

START_TEST(test_replies_encode)
{
	struct proto_status st;
	json_t *o, *parsed;
	char *enc;
	size_t len;

	o = proto_reply_ok();
	enc = proto_encode(o, &len);
	ck_assert_str_eq(enc, "{\"ok\":true}\n");
	ck_assert_uint_eq(len, strlen(enc));
	ck_assert_int_eq(proto_parse_message(enc, len - 1, &parsed, &st), PROTO_MSG_OK);
	json_decref(parsed);
	json_decref(o);
	free(enc);

	proto_status_set(&st, PROTO_E_DENIED, "uid %d may not run '%s'", 65534, "shutdown");
	o = proto_reply_error(&st);
	enc = proto_encode(o, &len);
	ck_assert_str_eq(enc, "{\"ok\":false,\"error\":{\"code\":\"denied\",\"message\":"
			      "\"uid 65534 may not run 'shutdown'\"}}\n");
	ck_assert_int_eq(proto_parse_message(enc, len - 1, &parsed, &st), PROTO_MSG_ERROR);
	ck_assert_int_eq(st.code, PROTO_E_DENIED);
	ck_assert_str_eq(st.message, "denied: uid 65534 may not run 'shutdown'");
	json_decref(parsed);
	json_decref(o);
	free(enc);
}
END_TEST

START_TEST(test_events)
{
	struct serviced_status s;
	struct proto_status st;
	json_t *o, *parsed;
	char *enc;
	size_t len;

	sample_status(&s);
	o = proto_event_state(SERVICED_STATE_RUNNING, SERVICED_STATE_GRACE, &s);
	ck_assert_str_eq(json_string_value(json_object_get(o, "event")), "state");
	ck_assert_str_eq(json_string_value(json_object_get(o, "from")), "running");
	ck_assert_str_eq(json_string_value(json_object_get(o, "to")), "grace");
	ck_assert_str_eq(json_string_value(json_object_get(o, "trigger")), "signal");
	enc = proto_encode(o, &len);
	ck_assert_ptr_null(memchr(enc, '\n', len - 1));
	ck_assert_int_eq(proto_parse_message(enc, len - 1, &parsed, &st), PROTO_MSG_EVENT);
	json_decref(parsed);
	json_decref(o);
	free(enc);

	o = proto_event_counts(&s);
	ck_assert_str_eq(json_string_value(json_object_get(o, "event")), "counts");
	ck_assert_int_eq(json_integer_value(json_object_get(o, "requests_in_flight")), 3);
	json_decref(o);
}
END_TEST

START_TEST(test_parse_message_invalid)
{
	const char *newer = "{\"ok\":false,\"error\":{\"code\":\"shiny\",\"message\":\"m\"}}";
	struct proto_status st;
	json_t *o;

	ck_assert_int_eq(proto_parse_message("nope", 4, &o, &st), PROTO_MSG_INVALID);
	ck_assert_ptr_null(o);
	ck_assert_int_eq(proto_parse_message("{\"x\":1}", 7, &o, &st), PROTO_MSG_INVALID);
	ck_assert_int_eq(proto_parse_message("[]", 2, &o, &st), PROTO_MSG_INVALID);
	/* An error code from a newer daemon is kept in the words. */
	ck_assert_int_eq(proto_parse_message(newer, strlen(newer), &o, &st), PROTO_MSG_ERROR);
	ck_assert_str_eq(st.message, "shiny: m");
	json_decref(o);
}
END_TEST

START_TEST(test_error_names)
{
	unsigned i;

	ck_assert_ptr_null(proto_error_name(PROTO_OK));
	for (i = 1; i < PROTO_E_COUNT_; i++) {
		ck_assert_ptr_nonnull(proto_error_name((enum proto_error)i));
		ck_assert_uint_eq(proto_error_from_name(proto_error_name((enum proto_error)i)), i);
	}
	ck_assert_uint_eq(proto_error_from_name("nope"), PROTO_E_COUNT_);
	ck_assert_str_eq(proto_error_name(PROTO_E_TOO_LARGE), "too_large");
}
END_TEST

START_TEST(test_encode_refuses_oversize)
{
	char *big = malloc(PROTO_MAX_MESSAGE + 1);
	json_t *o = proto_reply_ok();
	size_t len;

	memset(big, 'x', PROTO_MAX_MESSAGE);
	big[PROTO_MAX_MESSAGE] = '\0';
	json_object_set_new(o, "pad", json_string(big));
	ck_assert_ptr_null(proto_encode(o, &len));
	json_decref(o);
	free(big);
}
END_TEST

START_TEST(test_utf8_in_messages)
{
	struct proto_request req;
	struct proto_status st;
	char line[512];
	json_t *o;
	char *enc;
	size_t len;

	/* A long command name of two-byte characters: the quoted part is cut mid-character. */
	strcpy(line, "{\"command\":\"");
	for (len = 0; len < 100; len++)
		strcat(line, "\xc3\xa9");
	strcat(line, "\"}");
	ck_assert_int_eq(decode(line, &req, &st), PROTO_E_UNKNOWN_COMMAND);
	o = proto_reply_error(&st);
	ck_assert_ptr_nonnull(o);
	enc = proto_encode(o, &len);
	ck_assert_ptr_nonnull(enc);
	json_decref(o);
	free(enc);
}
END_TEST

/*
 * The framer.
 */

static struct proto_reader reader;

static int next_line(char **line, size_t *len)
{
	return proto_reader_next(&reader, line, len);
}

START_TEST(test_framer_lines)
{
	char *line;
	size_t len;

	proto_reader_init(&reader);
	ck_assert_int_eq(next_line(&line, &len), PROTO_READ_MORE);
	proto_reader_feed(&reader, "a\nbc\n\nde", 8);
	ck_assert_int_eq(next_line(&line, &len), PROTO_READ_LINE);
	ck_assert_str_eq(line, "a");
	ck_assert_int_eq(next_line(&line, &len), PROTO_READ_LINE);
	ck_assert_str_eq(line, "bc");
	ck_assert_uint_eq(len, 2);
	ck_assert_int_eq(next_line(&line, &len), PROTO_READ_LINE);
	ck_assert_uint_eq(len, 0);
	ck_assert_int_eq(next_line(&line, &len), PROTO_READ_MORE);
	ck_assert_uint_eq(proto_reader_pending(&reader), 2);
	proto_reader_feed(&reader, "f\n", 2);
	ck_assert_int_eq(next_line(&line, &len), PROTO_READ_LINE);
	ck_assert_str_eq(line, "def");
	ck_assert_uint_eq(proto_reader_pending(&reader), 0);
}
END_TEST

START_TEST(test_framer_byte_by_byte)
{
	const char *msg = "{\"command\":\"ping\"}\n";
	char *line;
	size_t len, i, lines = 0;
	int round;

	proto_reader_init(&reader);
	for (round = 0; round < 5000; round++) {
		for (i = 0; msg[i] != '\0'; i++) {
			ck_assert_uint_eq(proto_reader_feed(&reader, msg + i, 1), 1);
			while (next_line(&line, &len) == PROTO_READ_LINE) {
				ck_assert_str_eq(line, "{\"command\":\"ping\"}");
				lines++;
			}
		}
	}
	ck_assert_uint_eq(lines, 5000);
}
END_TEST

START_TEST(test_framer_boundary)
{
	char *big = malloc(PROTO_MAX_MESSAGE + 1), *line;
	size_t len;

	/* The largest message: PROTO_MAX_MESSAGE bytes, newline included. */
	memset(big, 'x', PROTO_MAX_MESSAGE);
	big[PROTO_MAX_MESSAGE - 1] = '\n';
	proto_reader_init(&reader);
	ck_assert_uint_eq(proto_reader_feed(&reader, "y\n", 2), 2);
	ck_assert_int_eq(next_line(&line, &len), PROTO_READ_LINE);
	ck_assert_uint_eq(proto_reader_feed(&reader, big, PROTO_MAX_MESSAGE), PROTO_MAX_MESSAGE);
	ck_assert_int_eq(next_line(&line, &len), PROTO_READ_LINE);
	ck_assert_uint_eq(len, PROTO_MAX_MESSAGE - 1);

	/* One byte more is too large, and stays so. */
	proto_reader_init(&reader);
	big[PROTO_MAX_MESSAGE - 1] = 'x';
	ck_assert_uint_eq(proto_reader_feed(&reader, big, PROTO_MAX_MESSAGE), PROTO_MAX_MESSAGE);
	ck_assert_int_eq(next_line(&line, &len), PROTO_READ_TOO_LARGE);
	ck_assert_uint_eq(proto_reader_feed(&reader, "\n", 1), 0);
	ck_assert_int_eq(next_line(&line, &len), PROTO_READ_TOO_LARGE);
	ck_assert_int_eq(proto_reader_finish(&reader, &line, &len), PROTO_READ_TOO_LARGE);
	free(big);
}
END_TEST

START_TEST(test_framer_ten_megabytes)
{
	size_t total = 10u << 20, off = 0, chunk = 4096;
	char *buf = malloc(chunk), *line;
	struct proto_status st;
	size_t len;
	int rc = PROTO_READ_MORE;

	/* A 10 MB line is refused as soon as a message's worth has arrived. */
	memset(buf, 'a', chunk);
	buf[0] = '{';
	proto_reader_init(&reader);
	while (off < total) {
		size_t n = proto_reader_feed(&reader, buf, chunk);

		off += n;
		rc = next_line(&line, &len);
		if (rc == PROTO_READ_TOO_LARGE || n == 0)
			break;
		buf[0] = 'a';
	}
	ck_assert_int_eq(rc, PROTO_READ_TOO_LARGE);
	ck_assert_uint_le(off, PROTO_MAX_MESSAGE);
	free(buf);

	/* The same through the whole pipeline, newline at the end. */
	buf = malloc(total);
	memset(buf, ' ', total);
	memcpy(buf, "{\"command\":\"ping\"}", 18);
	buf[total - 1] = '\n';
	ck_assert_int_eq(pipeline(buf, total, &st), PROTO_E_TOO_LARGE);
	free(buf);
}
END_TEST

START_TEST(test_framer_finish)
{
	char *line;
	size_t len;

	proto_reader_init(&reader);
	proto_reader_feed(&reader, "{\"command\":\"ping\"}", 18);
	ck_assert_int_eq(next_line(&line, &len), PROTO_READ_MORE);
	ck_assert_int_eq(proto_reader_finish(&reader, &line, &len), PROTO_READ_LINE);
	ck_assert_str_eq(line, "{\"command\":\"ping\"}");
	ck_assert_int_eq(proto_reader_finish(&reader, &line, &len), PROTO_READ_MORE);
}
END_TEST

START_TEST(test_framer_space_commit)
{
	char *p, *line;
	size_t room, len;

	proto_reader_init(&reader);
	p = proto_reader_space(&reader, &room);
	ck_assert_uint_eq(room, PROTO_MAX_MESSAGE);
	memcpy(p, "ab\ncd", 5);
	proto_reader_commit(&reader, 5);
	ck_assert_int_eq(next_line(&line, &len), PROTO_READ_LINE);
	ck_assert_str_eq(line, "ab");
	ck_assert_int_eq(next_line(&line, &len), PROTO_READ_MORE);
	/* Space compacts what is left to the front. */
	p = proto_reader_space(&reader, &room);
	ck_assert_uint_eq(room, PROTO_MAX_MESSAGE - 2);
	memcpy(p, "\n", 1);
	proto_reader_commit(&reader, 1);
	ck_assert_int_eq(next_line(&line, &len), PROTO_READ_LINE);
	ck_assert_str_eq(line, "cd");
}
END_TEST

static Suite *proto_suite(void)
{
	Suite *s = suite_create("proto");
	TCase *tc;

	tc = tcase_create("invalid");
	tcase_add_test(tc, test_invalid_count);
	tcase_add_loop_test(tc, test_invalid_case, 0, (int)invalid_count);
	suite_add_tcase(s, tc);

	tc = tcase_create("requests");
	tcase_add_test(tc, test_every_command_decodes);
	tcase_add_test(tc, test_privilege_is_data);
	tcase_add_test(tc, test_shutdown_fields);
	tcase_add_test(tc, test_durations);
	tcase_add_test(tc, test_keys);
	tcase_add_test(tc, test_whitespace_tolerated);
	tcase_add_test(tc, test_error_messages_name_the_field);
	tcase_add_test(tc, test_request_round_trip);
	suite_add_tcase(s, tc);

	tc = tcase_create("replies");
	tcase_add_test(tc, test_status_round_trip);
	tcase_add_test(tc, test_replies_encode);
	tcase_add_test(tc, test_events);
	tcase_add_test(tc, test_parse_message_invalid);
	tcase_add_test(tc, test_error_names);
	tcase_add_test(tc, test_encode_refuses_oversize);
	tcase_add_test(tc, test_utf8_in_messages);
	suite_add_tcase(s, tc);

	tc = tcase_create("framer");
	tcase_add_test(tc, test_framer_lines);
	tcase_add_test(tc, test_framer_byte_by_byte);
	tcase_add_test(tc, test_framer_boundary);
	tcase_add_test(tc, test_framer_ten_megabytes);
	tcase_add_test(tc, test_framer_finish);
	tcase_add_test(tc, test_framer_space_commit);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	invalid_load();
	sr = srunner_create(proto_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
