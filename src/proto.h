/*
 * proto: the control protocol, the one wire contract shared by the daemon and servicectl.
 *
 * A SOCK_STREAM Unix socket carries newline-delimited JSON: one object per message, at most
 * PROTO_MAX_MESSAGE bytes including the newline. A client sends requests
 *
 *   {"command":"shutdown","grace":"7s","now":false}
 *
 * and the server answers each, in order, with {"ok":true, ...} or
 * {"ok":false,"error":{"code":"bad_argument","message":"..."}}. After a successful "watch"
 * the server also sends event objects ({"event":"state", ...}, {"event":"counts", ...}).
 * serviced-control(7) is the prose version of this header; keep the two in step, and bump
 * PROTO_VERSION on any change an old peer would misread.
 *
 * This module is a pure codec: no sockets, no engine calls beyond the name tables. It
 * decodes and validates requests, builds replies and events, frames a byte stream into
 * lines, and parses replies back for the client. It also defines
 * serviced_control_default_path() (serviced.h): where the socket is, both sides must agree.
 */
#ifndef SERVICED_PROTO_H
#define SERVICED_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "serviced.h"

#define PROTO_VERSION 1
#define PROTO_MAX_MESSAGE 65536             /* bytes per message, newline included */
#define PROTO_MAX_DURATION_MS 86400000ull   /* 24 h: the largest duration accepted */

/* Error codes, the "code" member of an error reply. */
enum proto_error {
	PROTO_OK = 0,
	PROTO_E_BAD_JSON,        /* not JSON (or not UTF-8, an embedded NUL, an empty line) */
	PROTO_E_NOT_OBJECT,      /* JSON, but not an object */
	PROTO_E_UNKNOWN_COMMAND, /* "command" missing, not a string, or not a known name */
	PROTO_E_BAD_ARGUMENT,    /* an unknown field, a wrong type, a value out of range */
	PROTO_E_TOO_LARGE,       /* a message over PROTO_MAX_MESSAGE: the server then closes */
	PROTO_E_DENIED,          /* the peer may not run a command that changes state */
	PROTO_E_WRONG_STATE,     /* the command does not apply in the current state */
	PROTO_E_NOT_SUPPORTED,   /* the daemon does not do this (reload without a reload
				  * function; watch over a transport that cannot stream) */
	PROTO_E_FAILED,          /* the command ran and failed (a reload the application
				  * refused: its configuration stays) */
	PROTO_E_BUSY,            /* too many clients: the server then closes */
	PROTO_E_INTERNAL,        /* the server failed (out of memory and the like) */
	PROTO_E_COUNT_
};

/* What a failed decode or command says: a code and a sentence for humans. */
struct proto_status {
	enum proto_error code;
	char message[256];
};

enum proto_command {
	PROTO_CMD_STATUS = 0,
	PROTO_CMD_SHUTDOWN,
	PROTO_CMD_CANCEL,
	PROTO_CMD_GET,
	PROTO_CMD_SET,
	PROTO_CMD_WATCH,
	PROTO_CMD_PING,
	PROTO_CMD_VERSION,
	PROTO_CMD_RELOAD,
	PROTO_CMD_COUNT_
};

/* Request fields, as a bit set. */
enum proto_field {
	PROTO_F_GRACE = 1u << 0,       /* duration */
	PROTO_F_MERCY = 1u << 1,       /* duration */
	PROTO_F_DRAIN_DELAY = 1u << 2, /* duration */
	PROTO_F_NOW = 1u << 3,         /* boolean */
	PROTO_F_KEY = 1u << 4,         /* "grace" | "mercy" | "drain_delay" | "force" */
	PROTO_F_VALUE = 1u << 5,       /* duration */
};

/* Command flags. */
#define PROTO_CMD_MUTATES (1u << 0) /* changes state: only privileged peers may run it */
#define PROTO_CMD_STREAMS (1u << 1) /* the reply is followed by events */

/* One entry of the command table. */
struct proto_command_def {
	enum proto_command id;
	const char *name;
	unsigned flags;    /* PROTO_CMD_* */
	unsigned fields;   /* PROTO_F_* the request may carry */
	unsigned required; /* PROTO_F_* the request must carry */
	const char *summary;
};

/* A decoded, validated request. Durations are in milliseconds, at most
 * PROTO_MAX_DURATION_MS; a field is set only if its bit is in have. */
struct proto_request {
	const struct proto_command_def *def;
	unsigned have; /* PROTO_F_* present */
	uint64_t grace_ms, mercy_ms, drain_delay_ms;
	bool now;
	enum serviced_knob key;
	uint64_t value_ms;
};

/* The command table, PROTO_CMD_COUNT_ entries in enum order. */
extern const struct proto_command_def proto_commands[PROTO_CMD_COUNT_];

/* Looks a command up by its wire name; NULL if there is none. */
const struct proto_command_def *proto_command_find(const char *name);
/* "bad_json", "denied", ...; NULL for PROTO_OK or out of range. */
const char *proto_error_name(enum proto_error code);
/* The error code for a wire name; PROTO_E_COUNT_ if unknown. */
enum proto_error proto_error_from_name(const char *name);
/* The wire name of a knob ("drain_delay") and of its reply member ("drain_delay_ms"). */
const char *proto_knob_name(enum serviced_knob k);
const char *proto_knob_member(enum serviced_knob k);
/* The knob for a wire name; -1 if unknown. */
int proto_knob_find(const char *name);
/* The request field for a knob (SERVICED_KNOB_GRACE -> PROTO_F_GRACE); 0 for force. */
unsigned proto_knob_field(enum serviced_knob k);

/* Fills st; returns st->code for chaining. */
enum proto_error proto_status_set(struct proto_status *st, enum proto_error code,
				  const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Decodes one message (without its newline; len bytes, which may hold NULs) into req.
 * Returns PROTO_OK, or an error code with st saying why. */
enum proto_error proto_decode_request(const char *line, size_t len, struct proto_request *req,
				      struct proto_status *st);
/* Decodes a duration value: a string for serviced_parse_duration() or a non-negative
 * integer of milliseconds (an integral real is accepted too). Returns PROTO_OK or
 * PROTO_E_BAD_ARGUMENT, with st naming field. */
enum proto_error proto_decode_duration(const json_t *v, const char *field, uint64_t *ms,
				       struct proto_status *st);

/* Builds the request object for req (durations as integer milliseconds). NULL on ENOMEM. */
json_t *proto_request_to_json(const struct proto_request *req);
/* Sets up req for a command with no fields. */
void proto_request_init(struct proto_request *req, enum proto_command cmd);

/* Replies and events. Each returns a new object, or NULL when out of memory. */
json_t *proto_reply_ok(void);
json_t *proto_reply_error(const struct proto_status *st);
/* Adds the status members (state, trigger, counts, knobs, pid, protocol, version) to obj.
 * Returns 0 or -ENOMEM. */
int proto_add_status(json_t *obj, const struct serviced_status *st);
/* Adds the knob members ("grace_ms", ...); only knob k, or all when k is -1. */
int proto_add_knobs(json_t *obj, const struct serviced_status *st, int k);
/* A transition from -> to. The status members are a snapshot taken as the event is sent:
 * when phases pass quickly, "state" may already be past "to". */
json_t *proto_event_state(enum serviced_state from, enum serviced_state to,
			  const struct serviced_status *st);
json_t *proto_event_counts(const struct serviced_status *st);
/* A duration changed (set, or a shutdown's overrides): the phase's deadline may have moved. */
json_t *proto_event_durations(const struct serviced_status *st);

/* Encodes msg compactly with the newline. Returns a malloc'ed buffer and its length in
 * *len, or NULL (out of memory, or over PROTO_MAX_MESSAGE). */
char *proto_encode(const json_t *msg, size_t *len);

/*
 * The framer: accumulates bytes from a stream and yields whole lines. A line longer than
 * PROTO_MAX_MESSAGE (newline included) is too large; the stream cannot be resynchronised
 * after one, so the reader stays in that state.
 */
struct proto_reader {
	size_t start; /* first unconsumed byte */
	size_t len;   /* bytes held, from 0 */
	size_t scan;  /* bytes from start already known to hold no newline */
	bool too_large;
	char buf[PROTO_MAX_MESSAGE];
};

enum proto_read {
	PROTO_READ_MORE = 0,  /* no whole line yet */
	PROTO_READ_LINE = 1,  /* *line holds one message, NUL-terminated in place */
	PROTO_READ_TOO_LARGE = -1,
};

void proto_reader_init(struct proto_reader *r);
/* Where the next bytes go: returns a pointer and *room > 0, or NULL when the reader
 * holds a whole message's worth with no newline (then proto_reader_next says too large). */
char *proto_reader_space(struct proto_reader *r, size_t *room);
/* Records n bytes written at proto_reader_space(). */
void proto_reader_commit(struct proto_reader *r, size_t n);
/* Copies up to len bytes in; returns how many were taken (fewer when the buffer fills). */
size_t proto_reader_feed(struct proto_reader *r, const void *data, size_t len);
/* Yields the next line (without its newline, valid until the next call that changes r).
 * Returns enum proto_read. */
int proto_reader_next(struct proto_reader *r, char **line, size_t *len);
/* At end of stream: yields a last unterminated line, if any (PROTO_READ_LINE), else
 * PROTO_READ_MORE. */
int proto_reader_finish(struct proto_reader *r, char **line, size_t *len);
/* Bytes held that are not yet a whole line. */
size_t proto_reader_pending(const struct proto_reader *r);

/*
 * Client side: what servicectl uses to read the server's messages.
 */
enum proto_message {
	PROTO_MSG_INVALID = -1, /* not a protocol message */
	PROTO_MSG_OK = 0,       /* {"ok":true, ...} */
	PROTO_MSG_ERROR,        /* {"ok":false, "error":{...}}: st holds code and message */
	PROTO_MSG_EVENT,        /* {"event":"...", ...} */
};

/* Parses one line from the server into *out (a new reference, also for errors and
 * events). Returns enum proto_message; for PROTO_MSG_ERROR and PROTO_MSG_INVALID st says
 * why. */
int proto_parse_message(const char *line, size_t len, json_t **out, struct proto_status *st);
/* Reads the status members of a reply or event back into st. Returns 0, or -EINVAL when
 * a member is missing or has the wrong type. */
int proto_status_from_json(const json_t *obj, struct serviced_status *st);
/* The state for a name from serviced_state_name(); -1 if unknown. */
int proto_state_find(const char *name);

#endif
