/*
 * fuzz_proto_decode: the control protocol's decoders (src/proto.c) on one message.
 *
 * The input is one line as the framer hands it over (without the newline; it may hold NUL
 * bytes). Server side, proto_decode_request():
 *   - the result is a known code and the status says the same; an error has a message;
 *   - the error reply built from that status is valid JSON (the message quotes client
 *     input, cut at a byte count), encodes to one line, and the client reads the same code
 *     back from it;
 *   - a decoded request carries only fields its command takes, all it requires, each in
 *     range; encoded again (proto_request_to_json, proto_encode) it is one line that
 *     decodes to the same request.
 * Client side, the same bytes as a line from the daemon: proto_parse_message() and
 * proto_status_from_json() must not crash or leak, and a status read back, written out
 * with proto_add_status() and read again, must not change.
 */
#include "autoconfig.h"

#include <errno.h>
#include <string.h>

#include "proto.h"
#include "fuzz.h"

static void check_error_reply(const struct proto_status *st)
{
	struct proto_status back;
	json_t *reply, *parsed = NULL;
	char *enc;
	size_t len = 0;
	int kind;

	reply = proto_reply_error(st);
	FUZZ_CHECK(reply != NULL, "error reply for '%s' cannot be built (invalid UTF-8?)",
		   st->message);
	enc = proto_encode(reply, &len);
	FUZZ_CHECK(enc != NULL, "error reply for '%s' does not encode", st->message);
	FUZZ_CHECK(len > 1 && enc[len - 1] == '\n' && memchr(enc, '\n', len - 1) == NULL,
		   "error reply is not one line");
	kind = proto_parse_message(enc, len - 1, &parsed, &back);
	FUZZ_CHECK(kind == PROTO_MSG_ERROR && back.code == st->code,
		   "error reply '%.*s' reads back as kind %d code %d", (int)len - 1, enc, kind,
		   back.code);
	json_decref(parsed);
	json_decref(reply);
	free(enc);
}

static void check_request(const struct proto_request *req)
{
	const struct proto_command_def *def = req->def;
	struct proto_request again;
	struct proto_status st;
	json_t *obj;
	char *enc;
	size_t len = 0;

	FUZZ_CHECK(def != NULL && (unsigned)def->id < PROTO_CMD_COUNT_ &&
			   def == &proto_commands[def->id],
		   "request without a command from the table");
	FUZZ_CHECK((req->have & ~def->fields) == 0, "%s: fields 0x%x, allowed 0x%x", def->name,
		   req->have, def->fields);
	FUZZ_CHECK((def->required & ~req->have) == 0, "%s: fields 0x%x, required 0x%x",
		   def->name, req->have, def->required);
	FUZZ_CHECK(req->grace_ms <= PROTO_MAX_DURATION_MS &&
			   req->mercy_ms <= PROTO_MAX_DURATION_MS &&
			   req->drain_delay_ms <= PROTO_MAX_DURATION_MS &&
			   req->value_ms <= PROTO_MAX_DURATION_MS,
		   "%s: a duration is over the limit", def->name);
	FUZZ_CHECK((unsigned)req->key < SERVICED_KNOB_COUNT_, "%s: key %d", def->name,
		   (int)req->key);

	obj = proto_request_to_json(req);
	FUZZ_CHECK(obj != NULL, "%s: request does not build", def->name);
	enc = proto_encode(obj, &len);
	FUZZ_CHECK(enc != NULL && len > 1 && enc[len - 1] == '\n' &&
			   memchr(enc, '\n', len - 1) == NULL,
		   "%s: request does not encode to one line", def->name);
	FUZZ_CHECK(proto_decode_request(enc, len - 1, &again, &st) == PROTO_OK,
		   "re-encoded request '%.*s' does not decode: %s", (int)len - 1, enc, st.message);
	FUZZ_CHECK(again.def == req->def && again.have == req->have && again.now == req->now &&
			   again.key == req->key && again.grace_ms == req->grace_ms &&
			   again.mercy_ms == req->mercy_ms &&
			   again.drain_delay_ms == req->drain_delay_ms &&
			   again.value_ms == req->value_ms,
		   "request changes through encode and decode: '%.*s'", (int)len - 1, enc);
	json_decref(obj);
	free(enc);
}

/* The client reading these bytes as a line from the daemon. */
static void check_client(const char *line, size_t size)
{
	struct serviced_status a, b;
	struct proto_status st;
	json_t *msg = NULL, *obj;
	json_int_t pid_sent;
	int kind;

	memset(st.message, 'X', sizeof st.message);
	kind = proto_parse_message(line, size, &msg, &st);
	FUZZ_CHECK(kind >= PROTO_MSG_INVALID && kind <= PROTO_MSG_EVENT, "kind %d", kind);
	FUZZ_CHECK((kind == PROTO_MSG_INVALID) == (msg == NULL), "kind %d with message %p",
		   kind, (void *)msg);
	if (kind == PROTO_MSG_INVALID || kind == PROTO_MSG_ERROR)
		FUZZ_CHECK(fuzz_terminated(st.message, sizeof st.message) &&
				   st.code > PROTO_OK && st.code < PROTO_E_COUNT_,
			   "kind %d: code %d or message not terminated", kind, st.code);
	if (msg == NULL)
		return;
	if (proto_status_from_json(msg, &a) == 0) {
		FUZZ_CHECK((unsigned)a.state < SERVICED_STATE_COUNT_ &&
				   (unsigned)a.trigger < SERVICED_TRIGGER_COUNT_,
			   "status with state %d trigger %d", a.state, a.trigger);
		/* A value is taken as sent or the status is refused, never changed on the way:
		 * the pid must be the one in the message (F1 in fuzz/RESULTS.md). */
		pid_sent = json_integer_value(json_object_get(msg, "pid"));
		FUZZ_CHECK(pid_sent == (json_int_t)a.pid,
			   "the daemon sent pid %" JSON_INTEGER_FORMAT ", the status holds %d",
			   pid_sent, (int)a.pid);
		obj = json_object();
		FUZZ_CHECK(obj != NULL && proto_add_status(obj, &a) == 0, "status does not build");
		FUZZ_CHECK(proto_status_from_json(obj, &b) == 0, "a status written out by "
			   "proto_add_status() does not read back");
		FUZZ_CHECK(memcmp(&a.counts, &b.counts, sizeof a.counts) == 0 &&
				   memcmp(a.knobs_ms, b.knobs_ms, sizeof a.knobs_ms) == 0 &&
				   a.state == b.state && a.trigger == b.trigger &&
				   a.phase_remaining_ms == b.phase_remaining_ms &&
				   a.phase_elapsed_ms == b.phase_elapsed_ms &&
				   a.uptime_ms == b.uptime_ms && a.pid == b.pid,
			   "status changes through proto_add_status() and back");
		json_decref(obj);
	}
	json_decref(msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *line = (const char *)data;
	struct proto_request req;
	struct proto_status st;
	enum proto_error rc;

	memset(&st, 'X', sizeof st);
	rc = proto_decode_request(line, size, &req, &st);
	FUZZ_CHECK((unsigned)rc < PROTO_E_COUNT_ && st.code == rc, "result %d, status %d", rc,
		   st.code);
	FUZZ_CHECK(fuzz_terminated(st.message, sizeof st.message), "message not terminated");
	if (rc == PROTO_OK) {
		check_request(&req);
	} else {
		FUZZ_CHECK(st.message[0] != '\0', "error %s without a message",
			   proto_error_name(rc));
		check_error_reply(&st);
	}
	check_client(line, size);
	return 0;
}
