/*
 * admin: the HTTP admin endpoint (see admin.h). A small libmicrohttpd server of its own,
 * on its own socket and thread, apart from the engine's: the engine neither counts nor
 * closes it, so it keeps answering through the drain delay, grace and mercy, and the
 * operator can still look and steer. It stops when the engine is freed.
 *
 * Every resource a client controls is bounded: connections (max_clients), header memory
 * per connection, idle time, the time its request headers take (the engine's
 * request-header deadline, kept with the engine's connection registry), and the body
 * (ADMIN_MAX_BODY, answered 413). A body is read only from a client that showed the token.
 */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "admin.h"
#include "command.h"
#include "conn.h"
#include "engine.h"
#include "proto.h"

#define ADMIN_DISCARD_MAX (1u << 20) /* an oversized chunked body is dropped up to this */
#define ADMIN_TIMEOUT_S 10           /* idle connections */
#define ADMIN_CONN_MEMORY (32 * 1024) /* headers and read buffer, per connection */
#define ADMIN_FLUSH_MS 1000          /* at stop: answers under way get this long */
#define ADMIN_REALM "Bearer realm=\"serviced\""

/*
 * The pure core: a request's words in, a status and a JSON body out.
 */

enum admin_body {
	ADMIN_BODY_NONE,   /* a body is ignored (GET) */
	ADMIN_BODY_FIELDS, /* optional: a JSON object of the command's request fields */
	ADMIN_BODY_KNOBS,  /* required: a JSON object of durations to set */
};

/* The routes, each onto one command of the control protocol's table. */
static const struct admin_route {
	const char *path;
	const char *method;
	enum proto_command command;
	enum admin_body body;
	unsigned ok; /* the status of a success */
} admin_routes[] = {
	{ "/admin/status", "GET", PROTO_CMD_STATUS, ADMIN_BODY_NONE, 200 },
	/* 202: the shutdown has begun, it has not happened yet. */
	{ "/admin/shutdown", "POST", PROTO_CMD_SHUTDOWN, ADMIN_BODY_FIELDS, 202 },
	{ "/admin/cancel", "POST", PROTO_CMD_CANCEL, ADMIN_BODY_FIELDS, 200 },
	{ "/admin/config", "GET", PROTO_CMD_GET, ADMIN_BODY_NONE, 200 },
	{ "/admin/config", "PATCH", PROTO_CMD_SET, ADMIN_BODY_KNOBS, 200 },
};

#define ADMIN_NROUTES (sizeof admin_routes / sizeof admin_routes[0])

/* The HTTP status for a protocol error code. */
static unsigned admin_http_status(enum proto_error code)
{
	switch (code) {
	case PROTO_E_BAD_JSON:
	case PROTO_E_NOT_OBJECT:
	case PROTO_E_UNKNOWN_COMMAND:
	case PROTO_E_BAD_ARGUMENT:
		return 400;
	case PROTO_E_DENIED:
		return 403;
	case PROTO_E_WRONG_STATE:
		return 409;
	case PROTO_E_TOO_LARGE:
		return 413;
	case PROTO_E_NOT_SUPPORTED:
		return 501;
	case PROTO_E_BUSY:
		return 503;
	default:
		return 500;
	}
}

/* Encodes reply (taking the reference) as out's body. Returns 0 or -ENOMEM. */
static int admin_set(struct admin_reply *out, unsigned status, json_t *reply)
{
	out->status = status;
	out->json = reply != NULL ? proto_encode(reply, &out->json_len) : NULL;
	json_decref(reply);
	return out->json != NULL ? 0 : -ENOMEM;
}

/* An error of HTTP's own (no protocol code fits), in the control protocol's shape:
 * {"ok":false,"error":{"code":...,"message":...}}. */
static int admin_fail(struct admin_reply *out, unsigned status, const char *code,
		      const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int admin_fail(struct admin_reply *out, unsigned status, const char *code,
		      const char *fmt, ...)
{
	struct proto_status st;
	char message[sizeof st.message];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof message, fmt, ap);
	va_end(ap);
	/* The message may quote the client's path: proto_status_set keeps it valid UTF-8. */
	proto_status_set(&st, PROTO_E_INTERNAL, "%s", message);
	return admin_set(out, status,
			 json_pack("{s:b, s:{s:s, s:s}}", "ok", 0, "error", "code", code,
				   "message", st.message));
}

static int admin_fail_proto(struct admin_reply *out, const struct proto_status *st)
{
	return admin_set(out, admin_http_status(st->code), proto_reply_error(st));
}

/* Compares every byte of the secret whatever the other string holds, so the time taken
 * depends on the secret's length only. A wrong length compares the secret with itself. */
static bool admin_token_equal(const char *secret, size_t secret_len, const char *given,
			      size_t given_len)
{
	const volatile unsigned char *a = (const unsigned char *)secret;
	const volatile unsigned char *b =
		(const unsigned char *)(given_len == secret_len ? given : secret);
	unsigned char diff = given_len != secret_len;
	size_t i;

	for (i = 0; i < secret_len; i++)
		diff |= (unsigned char)(a[i] ^ b[i]);
	return diff == 0;
}

bool admin_authorized(const char *token, const char *authorization)
{
	const char *given;

	/* "Bearer" is case-insensitive, like every HTTP authentication scheme. */
	if (token == NULL || authorization == NULL || strncasecmp(authorization, "Bearer", 6) != 0 ||
	    (authorization[6] != ' ' && authorization[6] != '\t'))
		return false;
	for (given = authorization + 7; *given == ' ' || *given == '\t'; given++)
		;
	return admin_token_equal(token, strlen(token), given, strlen(given));
}

/* "application/json" in any case, with or without parameters ("; charset=utf-8"). */
static bool admin_is_json(const char *type)
{
	static const char want[] = "application/json";

	if (type == NULL || strncasecmp(type, want, sizeof want - 1) != 0)
		return false;
	for (type += sizeof want - 1; *type == ' ' || *type == '\t'; type++)
		;
	return *type == '\0' || *type == ';';
}

/* Parses a body as the control protocol parses a message: no NULs, no duplicate keys,
 * an object. */
static enum proto_error admin_parse_object(const char *body, size_t len, json_t **out,
					   struct proto_status *st)
{
	json_error_t jerr;
	json_t *o;

	*out = NULL;
	if (memchr(body, '\0', len) != NULL)
		return proto_status_set(st, PROTO_E_BAD_JSON, "body contains a NUL byte");
	o = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (o == NULL)
		return proto_status_set(st, PROTO_E_BAD_JSON, "invalid JSON at column %d: %s",
					jerr.column, jerr.text);
	if (!json_is_object(o)) {
		json_decref(o);
		return proto_status_set(st, PROTO_E_NOT_OBJECT, "body is not a JSON object");
	}
	*out = o;
	return PROTO_OK;
}

/* A body of request fields becomes the command's request through the protocol's own
 * decoder, so both doors accept exactly the same fields. No body means no fields. */
static enum proto_error admin_decode_fields(enum proto_command cmd, const char *body,
					    size_t len, struct proto_request *req,
					    struct proto_status *st)
{
	enum proto_error rc;
	char *text = NULL;
	json_t *o;

	proto_request_init(req, cmd);
	if (len == 0)
		return PROTO_OK;
	if ((rc = admin_parse_object(body, len, &o, st)) != PROTO_OK)
		return rc;
	if (json_object_get(o, "command") != NULL)
		rc = proto_status_set(st, PROTO_E_BAD_ARGUMENT,
				      "unknown field 'command': the path names the command");
	else if (json_object_set_new(o, "command", json_string(proto_commands[cmd].name)) != 0 ||
		 (text = json_dumps(o, JSON_COMPACT)) == NULL)
		rc = proto_status_set(st, PROTO_E_INTERNAL, "out of memory");
	else
		rc = proto_decode_request(text, strlen(text), req, st);
	free(text);
	json_decref(o);
	return rc;
}

/* A PATCH body ({"grace":"30s", ...}) becomes one "set" per key. Every value is decoded
 * before any is set, so a PATCH applies whole or not at all. */
static enum proto_error admin_decode_knobs(const char *body, size_t len,
					   struct proto_request reqs[SERVICED_KNOB_COUNT_],
					   size_t *n, struct proto_status *st)
{
	enum proto_error rc;
	const char *key;
	json_t *o, *v;
	int k;

	*n = 0;
	if (len == 0)
		return proto_status_set(st, PROTO_E_BAD_ARGUMENT,
					"a JSON object of durations is required, such as "
					"{\"grace\":\"30s\"}");
	if ((rc = admin_parse_object(body, len, &o, st)) != PROTO_OK)
		return rc;
	json_object_foreach(o, key, v) {
		/* Duplicates were refused, so there are at most SERVICED_KNOB_COUNT_ keys. */
		if ((k = proto_knob_find(key)) < 0) {
			rc = proto_status_set(st, PROTO_E_BAD_ARGUMENT,
					      "unknown field '%.64s' (grace, mercy, drain_delay, "
					      "force)", key);
			break;
		}
		proto_request_init(&reqs[*n], PROTO_CMD_SET);
		reqs[*n].have = PROTO_F_KEY | PROTO_F_VALUE;
		reqs[*n].key = (enum serviced_knob)k;
		if ((rc = proto_decode_duration(v, key, &reqs[*n].value_ms, st)) != PROTO_OK)
			break;
		(*n)++;
	}
	json_decref(o);
	return rc;
}

static bool admin_method_is(const char *method, const struct admin_route *r)
{
	/* HEAD is GET without the body, which libmicrohttpd leaves out by itself. */
	return strcmp(method, r->method) == 0 ||
	       (strcmp(r->method, "GET") == 0 && strcmp(method, "HEAD") == 0);
}

static void admin_allow_add(char *allow, size_t size, const char *method)
{
	size_t n = strlen(allow);

	snprintf(allow + n, size - n, "%s%s", n > 0 ? ", " : "", method);
}

int admin_handle(serviced *s, const char *token, const struct admin_http *in,
		 struct admin_reply *out)
{
	struct command_ctx ctx = {
		.s = s,
		.trigger = SERVICED_TRIGGER_ADMIN,
		.privileged = true, /* the token authenticated the peer */
		.can_watch = false,
	};
	struct proto_request reqs[SERVICED_KNOB_COUNT_];
	struct proto_status st = { PROTO_OK, "" };
	const struct admin_route *route = NULL;
	bool path_known = false;
	enum proto_error rc;
	json_t *reply = NULL;
	size_t i, n = 1;

	memset(out, 0, sizeof *out);
	/* The token first: a client without it learns nothing, not even which paths exist. */
	if (!admin_authorized(token, in->authorization)) {
		snprintf(out->authenticate, sizeof out->authenticate, "%s%s", ADMIN_REALM,
			 in->authorization != NULL ? ", error=\"invalid_token\"" : "");
		return admin_fail(out, 401, "unauthenticated", "%s",
				  in->authorization != NULL
					  ? "the Authorization header lacks the right bearer token"
					  : "an Authorization: Bearer token is required");
	}
	for (i = 0; i < ADMIN_NROUTES; i++) {
		if (strcmp(in->path, admin_routes[i].path) != 0)
			continue;
		path_known = true;
		admin_allow_add(out->allow, sizeof out->allow, admin_routes[i].method);
		if (strcmp(admin_routes[i].method, "GET") == 0)
			admin_allow_add(out->allow, sizeof out->allow, "HEAD");
		if (admin_method_is(in->method, &admin_routes[i]))
			route = &admin_routes[i];
	}
	if (!path_known)
		return admin_fail(out, 404, "not_found", "no such path '%.64s'", in->path);
	if (route == NULL)
		return admin_fail(out, 405, "method_not_allowed", "%.16s is not allowed here (%s)",
				  in->method, out->allow);
	out->allow[0] = '\0';
	/* libmicrohttpd 0.9.75 reads any other coding as a body that never ends. */
	if (in->transfer_encoding != NULL && strcasecmp(in->transfer_encoding, "chunked") != 0)
		return admin_fail(out, 501, "not_implemented", "transfer coding '%.32s' is not "
				  "supported", in->transfer_encoding);
	if (in->body_len > ADMIN_MAX_BODY)
		return admin_fail(out, 413, "too_large", "the body is over %d bytes",
				  ADMIN_MAX_BODY);
	if (route->body != ADMIN_BODY_NONE && in->body_len > 0 && !admin_is_json(in->content_type))
		return admin_fail(out, 415, "unsupported_media_type",
				  "the body must be application/json");

	if (route->body == ADMIN_BODY_NONE) {
		proto_request_init(&reqs[0], route->command);
		rc = PROTO_OK;
	} else if (route->body == ADMIN_BODY_FIELDS) {
		rc = admin_decode_fields(route->command, in->body, in->body_len, &reqs[0], &st);
	} else {
		rc = admin_decode_knobs(in->body, in->body_len, reqs, &n, &st);
		if (rc == PROTO_OK && n == 0) { /* {}: nothing to change, show what is */
			proto_request_init(&reqs[0], PROTO_CMD_GET);
			n = 1;
		}
	}
	if (rc != PROTO_OK)
		return admin_fail_proto(out, &st);

	for (i = 0; i < n; i++) {
		json_decref(reply);
		if (command_execute(&ctx, &reqs[i], &reply) < 0)
			return -ENOMEM;
		if (!json_is_true(json_object_get(reply, "ok")))
			break;
	}
	if (!json_is_true(json_object_get(reply, "ok"))) {
		const char *code = json_string_value(json_object_get(json_object_get(reply, "error"),
								      "code"));

		return admin_set(out, admin_http_status(code != NULL ? proto_error_from_name(code)
								     : PROTO_E_INTERNAL),
				 reply);
	}
	return admin_set(out, route->ok, reply);
}

/*
 * The token file.
 */

int admin_token_load(const char *path, char **token, struct serviced_error *err)
{
	char buf[ADMIN_MAX_TOKEN + 1];
	struct stat sb;
	size_t len = 0, i;
	ssize_t n;
	int fd, r = 0;

	*token = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return engine_error(err, -errno, "admin token file %s: %s", path, strerror(errno));
	if (fstat(fd, &sb) < 0)
		r = engine_error(err, -errno, "admin token file %s: %s", path, strerror(errno));
	else if (!S_ISREG(sb.st_mode))
		r = engine_error(err, -EINVAL, "admin token file %s: not a regular file", path);
	else if (sb.st_mode & 0007)
		r = engine_error(err, -EPERM, "admin token file %s: %s by others; chmod 600 it", path,
				 sb.st_mode & 0004 ? "readable" : "accessible");
	/* One byte more than allowed tells a full file from an oversized one. */
	while (r == 0 && len < sizeof buf) {
		n = read(fd, buf + len, sizeof buf - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			r = engine_error(err, -errno, "admin token file %s: %s", path, strerror(errno));
		else if (n == 0)
			break;
		else
			len += (size_t)n;
	}
	close(fd);
	if (r == 0 && len > ADMIN_MAX_TOKEN)
		r = engine_error(err, -EFBIG, "admin token file %s: over %d bytes", path,
				 ADMIN_MAX_TOKEN);
	if (r == 0 && len > 0 && buf[len - 1] == '\n')
		len--;
	if (r == 0 && len > 0 && buf[len - 1] == '\r')
		len--;
	if (r == 0 && len == 0)
		r = engine_error(err, -EINVAL, "admin token file %s: empty", path);
	/* A bearer token travels in a header: printable ASCII, no spaces. */
	for (i = 0; r == 0 && i < len; i++)
		if (buf[i] <= ' ' || buf[i] > '~')
			r = engine_error(err, -EINVAL, "admin token file %s: the token holds a space, "
					 "a control character or a non-ASCII byte", path);
	if (r == 0 && (*token = strndup(buf, len)) == NULL)
		r = engine_error(err, -ENOMEM, "admin token file %s: out of memory", path);
	explicit_bzero(buf, sizeof buf);
	return r;
}

void admin_token_free(char *token)
{
	if (token == NULL)
		return;
	explicit_bzero(token, strlen(token));
	free(token);
}

/*
 * The server.
 */

struct admin {
	serviced *s;
	char *token;
	struct MHD_Daemon *mhd;
	int fd;                /* the listening socket until MHD owns it */
	char bound[ENGINE_ADDR_MAX + 8]; /* "[ADDR]:PORT" */
	pthread_mutex_t lock;
	pthread_cond_t idle;
	unsigned active;       /* requests from their first handler call to completion */
	struct conn_registry reg; /* for the request-header deadline */
};

/* One request's body, collected up to ADMIN_MAX_BODY. */
struct admin_request {
	char *body;
	size_t len; /* bytes received, kept or not: over ADMIN_MAX_BODY none are kept */
	size_t cap;
};

void serviced_admin_options_init(struct serviced_admin_options *o)
{
	memset(o, 0, sizeof *o);
	o->max_clients = 16;
}

static void admin_count(struct admin *a, bool begin)
{
	pthread_mutex_lock(&a->lock);
	if (begin)
		a->active++;
	else if (--a->active == 0)
		pthread_cond_broadcast(&a->idle);
	pthread_mutex_unlock(&a->lock);
}

/* The audit trail: every refused token, and every request that may change state. */
static void admin_log(struct admin *a, struct MHD_Connection *c, const char *method,
		      const char *url, unsigned status)
{
	char addr[ENGINE_ADDR_MAX];

	if (status != 401 && (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0))
		return;
	engine_client_address(c, addr, sizeof addr);
	engine_log(a->s, status == 401 ? LOG_WARNING : LOG_NOTICE, "admin: %.16s %.64s from %s: %u",
		   method, url, addr, status);
}

static enum MHD_Result admin_answer(struct admin *a, struct MHD_Connection *c, const char *url,
				    const char *method, const char *body, size_t len)
{
	struct admin_http in = {
		.method = method,
		.path = url,
		.authorization = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
							     MHD_HTTP_HEADER_AUTHORIZATION),
		.content_type = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
							    MHD_HTTP_HEADER_CONTENT_TYPE),
		.transfer_encoding = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
								 MHD_HTTP_HEADER_TRANSFER_ENCODING),
		.body = body,
		.body_len = len,
	};
	struct admin_reply out;
	struct MHD_Response *resp;
	enum MHD_Result r;

	if (admin_handle(a->s, a->token, &in, &out) < 0)
		return MHD_NO;
	admin_log(a, c, method, url, out.status);
	resp = MHD_create_response_from_buffer(out.json_len, out.json, MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		free(out.json);
		return MHD_NO;
	}
	if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json") != MHD_YES ||
	    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store") != MHD_YES ||
	    (out.allow[0] != '\0' &&
	     MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, out.allow) != MHD_YES) ||
	    (out.authenticate[0] != '\0' &&
	     MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, out.authenticate) !=
		     MHD_YES)) {
		MHD_destroy_response(resp);
		return MHD_NO;
	}
	r = MHD_queue_response(c, out.status, resp);
	MHD_destroy_response(resp);
	return r;
}

/* Keeps up to ADMIN_MAX_BODY bytes; past that only counts, and hangs up past
 * ADMIN_DISCARD_MAX (a chunked body can be endless). */
static enum MHD_Result admin_take(struct admin_request *r, const char *data, size_t n)
{
	char *grown;
	size_t cap;

	if (r->len + n > ADMIN_MAX_BODY) {
		free(r->body);
		r->body = NULL;
		r->len += n;
		return r->len > ADMIN_DISCARD_MAX ? MHD_NO : MHD_YES;
	}
	if (r->len + n > r->cap) {
		for (cap = r->cap ? r->cap : 1024; cap < r->len + n; cap *= 2)
			;
		if ((grown = realloc(r->body, cap)) == NULL)
			return MHD_NO;
		r->body = grown;
		r->cap = cap;
	}
	memcpy(r->body + r->len, data, n);
	r->len += n;
	return MHD_YES;
}

static enum MHD_Result admin_access(void *cls, struct MHD_Connection *c, const char *url,
				    const char *method, const char *version,
				    const char *upload_data, size_t *upload_data_size,
				    void **req_cls)
{
	struct admin *a = cls;
	struct admin_request *r = *req_cls;
	const char *length, *chunked;
	unsigned long long declared;
	size_t n = *upload_data_size;

	if (r == NULL) {
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

		/* The headers are whole; past the deadline the connection was shut already. */
		if (ci == NULL || ci->socket_context == NULL ||
		    !conn_begin_request(&a->reg, ci->socket_context))
			return MHD_NO;
		if ((r = calloc(1, sizeof *r)) == NULL)
			return MHD_NO;
		*req_cls = r;
		admin_count(a, true);
		/* A body that will not be used (no token, or too large by its Content-Length)
		 * is refused now, before it is read. Answering on the first call makes
		 * libmicrohttpd close the connection, which is what a refused upload needs;
		 * any other request is answered on a later call, keeping the connection. */
		length = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_CONTENT_LENGTH);
		chunked = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						      MHD_HTTP_HEADER_TRANSFER_ENCODING);
		declared = length != NULL ? strtoull(length, NULL, 10) : 0;
		if ((declared > 0 || chunked != NULL) &&
		    (declared > ADMIN_MAX_BODY ||
		     (chunked != NULL && strcasecmp(chunked, "chunked") != 0) ||
		     !admin_authorized(a->token, MHD_lookup_connection_value(
							 c, MHD_HEADER_KIND,
							 MHD_HTTP_HEADER_AUTHORIZATION))))
			return admin_answer(a, c, url, method, NULL,
					    declared > ADMIN_MAX_BODY ? (size_t)declared : 0);
		return MHD_YES;
	}
	if (n > 0) {
		*upload_data_size = 0;
		return admin_take(r, upload_data, n);
	}
	return admin_answer(a, c, url, method, r->len > ADMIN_MAX_BODY ? NULL : r->body, r->len);
}

static void admin_completed(void *cls, struct MHD_Connection *c, void **req_cls,
			    enum MHD_RequestTerminationCode code)
{
	struct admin_request *r = *req_cls;
	const union MHD_ConnectionInfo *ci;

	(void)code;
	if (r == NULL)
		return;
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	if (ci != NULL && ci->socket_context != NULL)
		conn_end_request(ci->socket_context, engine_now_ms());
	free(r->body);
	free(r);
	*req_cls = NULL;
	admin_count(cls, false);
}

/* Connections are registered for the request-header deadline (admin_sweep). */
static void admin_notify_connection(void *cls, struct MHD_Connection *c, void **socket_context,
				    enum MHD_ConnectionNotificationCode toe)
{
	struct admin *a = cls;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);

		*socket_context = conn_add(&a->reg, c, ci ? ci->connect_fd : -1, engine_now_ms());
		if (*socket_context == NULL && ci != NULL) /* untracked, it cannot be bounded */
			shutdown(ci->connect_fd, SHUT_RDWR);
	} else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
		conn_remove(&a->reg, *socket_context);
		*socket_context = NULL;
	}
}

/* The request line has come: a late request gets a 408. Returns no request context, so
 * that admin_access still sees its first call. */
static void *admin_uri_log(void *cls, const char *uri, struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct conn *k = ci ? ci->socket_context : NULL;

	(void)cls;
	(void)uri;
	if (k != NULL)
		atomic_store_explicit(&k->line_seen, true, memory_order_relaxed);
	return NULL;
}

/* Once a second, on the engine's thread: closes connections whose request headers are
 * later than the engine's request-header deadline allows. */
static void admin_sweep(void *cls)
{
	struct admin *a = cls;
	struct serviced_limits l;
	size_t n;

	serviced_get_limits(a->s, &l);
	if (l.header_timeout_s == 0)
		return;
	n = conn_close_late(&a->reg, engine_now_ms(), (uint64_t)l.header_timeout_s * 1000,
			    ADMIN_TIMEOUT_S * 1000);
	if (n)
		engine_log(a->s, LOG_INFO, "admin endpoint: closed %zu connections whose request "
			   "headers did not come whole within %us", n, l.header_timeout_s);
}

static void admin_mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct admin *a = cls;
	char line[512];
	size_t n;

	vsnprintf(line, sizeof line, fmt, ap);
	n = strlen(line);
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	engine_log(a->s, LOG_WARNING, "admin endpoint: libmicrohttpd: %s", line);
}

/* Binds the endpoint's own listener and records the address bound (port 0: any). */
static int admin_bind(struct admin *a, const char *spec, struct serviced_error *err)
{
	int fd = engine_listen(spec, "admin endpoint", 64, err);

	if (fd < 0)
		return fd;
	a->fd = fd;
	engine_describe_socket(fd, a->bound, sizeof a->bound);
	return 0;
}

static int admin_start(struct admin *a, unsigned max_clients, struct serviced_error *err)
{
	struct MHD_OptionItem ops[] = {
		/* The logger first, or MHD reports the options before it on stderr. */
		{ MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)admin_mhd_log, a },
		{ MHD_OPTION_LISTEN_SOCKET, a->fd, NULL },
		{ MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)admin_completed, a },
		{ MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)admin_notify_connection, a },
		{ MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)admin_uri_log, a },
		{ MHD_OPTION_CONNECTION_LIMIT, max_clients, NULL },
		{ MHD_OPTION_CONNECTION_TIMEOUT, ADMIN_TIMEOUT_S, NULL },
		{ MHD_OPTION_CONNECTION_MEMORY_LIMIT, ADMIN_CONN_MEMORY, NULL },
		{ MHD_OPTION_END, 0, NULL },
	};
	sigset_t all, old;

	/* The server's thread takes no signals: they belong to the engine's signalfd, and
	 * this may be called before serviced_start() has blocked them. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	/* One thread, epoll, ITC so that quiesce works at stop; no thread pool, the admin
	 * endpoint is for one operator, not for load. */
	a->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC |
					  MHD_USE_ERROR_LOG,
				  0, NULL, NULL, admin_access, a, MHD_OPTION_ARRAY, ops,
				  MHD_OPTION_END);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (a->mhd == NULL)
		return engine_error(err, -EIO, "admin endpoint %s: libmicrohttpd failed to start",
				    a->bound);
	a->fd = -1; /* MHD's now */
	return 0;
}

/* Stops the server and frees a. Answers already decided get ADMIN_FLUSH_MS to go out:
 * the reply to the very request that stopped the daemon is one of them. Accepts NULL. */
static void admin_destroy(struct admin *a)
{
	struct timespec until;
	int fd;

	if (a == NULL)
		return;
	if (a->mhd != NULL) {
		fd = MHD_quiesce_daemon(a->mhd);
		engine_deadline(&until, ADMIN_FLUSH_MS);
		pthread_mutex_lock(&a->lock);
		while (a->active > 0 && pthread_cond_timedwait(&a->idle, &a->lock, &until) == 0)
			;
		pthread_mutex_unlock(&a->lock);
		MHD_stop_daemon(a->mhd);
		/* A quiesced socket is ours again, to close once MHD has stopped. */
		if (fd >= 0)
			close(fd);
	}
	if (a->fd >= 0)
		close(a->fd);
	pthread_cond_destroy(&a->idle);
	pthread_mutex_destroy(&a->lock);
	conn_registry_destroy(&a->reg);
	admin_token_free(a->token);
	free(a);
}

static void admin_cleanup(void *cls)
{
	admin_destroy(cls);
}

int serviced_admin_listen(serviced *s, const struct serviced_admin_options *o,
			  struct serviced_error *err)
{
	pthread_condattr_t ca;
	struct admin *a;
	const char *t;
	int r;

	if (o == NULL || o->listen == NULL || o->listen[0] == '\0')
		return engine_error(err, -EINVAL, "admin endpoint: no listen address");
	if (o->token == NULL || o->token[0] == '\0')
		return engine_error(err, -EINVAL, "admin endpoint needs a token");
	for (t = o->token; *t != '\0'; t++)
		if (*t <= ' ' || *t > '~' || t - o->token >= ADMIN_MAX_TOKEN)
			return engine_error(err, -EINVAL, "admin endpoint: the token must be up to "
					    "%d bytes of printable ASCII without spaces",
					    ADMIN_MAX_TOKEN);
	if (o->max_clients == 0)
		return engine_error(err, -EINVAL, "admin endpoint %s: max_clients is 0", o->listen);

	a = calloc(1, sizeof *a);
	if (a == NULL || (a->token = strdup(o->token)) == NULL) {
		free(a);
		return engine_error(err, -ENOMEM, "admin endpoint: out of memory");
	}
	a->s = s;
	a->fd = -1;
	pthread_mutex_init(&a->lock, NULL);
	conn_registry_init(&a->reg);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&a->idle, &ca);
	pthread_condattr_destroy(&ca);

	if ((r = admin_bind(a, o->listen, err)) < 0 || (r = admin_start(a, o->max_clients, err)) < 0) {
		admin_destroy(a);
		return r;
	}
	if ((r = engine_add_cleanup(s, admin_cleanup, a)) < 0) {
		admin_destroy(a);
		return engine_error(err, r, "admin endpoint %s: %s", o->listen, strerror(-r));
	}
	/* Without a tick the deadline is not kept: said once, and the endpoint serves on. */
	if ((r = serviced_add_tick(s, 1000, admin_sweep, a)) < 0)
		engine_log(s, LOG_WARNING, "admin endpoint: no request-header deadline: %s",
			   strerror(-r));
	engine_log(s, LOG_INFO, "admin endpoint on http://%s", a->bound);
	return 0;
}
