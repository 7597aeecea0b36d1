/*
 * admin: the HTTP admin endpoint, the second door onto the control command table. The
 * routes map onto the same commands (command.c) and answer with the same JSON as the
 * control socket; HTTP adds a bearer token, status codes and media types.
 *
 * The core, admin_handle(), is pure: it takes what a request said and decides the status
 * and the body, with no socket in sight, so the Check suite and fuzzers can drive it. The
 * libmicrohttpd server around it lives in admin.c too, behind serviced_admin_listen().
 */
#ifndef SERVICED_ADMIN_H
#define SERVICED_ADMIN_H

#include <stdbool.h>
#include <stddef.h>

#include "serviced.h"

#define ADMIN_MAX_BODY 65536    /* bytes of request body; more is answered 413 */
#define ADMIN_MAX_TOKEN 4096    /* bytes of token file */

/* What a request said. method and path are required; the headers may be NULL when absent.
 * body holds body_len bytes (not NUL-terminated, may hold NULs); it may be NULL when
 * body_len is 0 or over ADMIN_MAX_BODY (then only the length is looked at). */
struct admin_http {
	const char *method;
	const char *path;
	const char *authorization;
	const char *content_type;
	const char *body;
	size_t body_len;
	const char *transfer_encoding; /* NULL when absent */
};

/* What to answer. json is malloc'ed (json_len bytes, newline-terminated) and the caller's
 * to free; allow and authenticate are "" unless the status needs them (405, 401). */
struct admin_reply {
	unsigned status;
	char *json;
	size_t json_len;
	char allow[32];
	char authenticate[64];
};

/* Decides the answer to one request against engine s, whose token is token (NUL-terminated).
 * Runs the command it maps onto, so it may change the engine's state. Order of checks:
 * token (401) before anything else, then path (404), method (405), size (413), media type
 * (415), body (400), state (409). Returns 0, or -ENOMEM with out->json NULL. */
int admin_handle(serviced *s, const char *token, const struct admin_http *in,
		 struct admin_reply *out);

/* Does the Authorization header value carry token? In time that depends on the token's
 * length only, not on where a wrong one differs. */
bool admin_authorized(const char *token, const char *authorization);

/* Reads a token file: at most ADMIN_MAX_TOKEN bytes, not empty, not accessible to others,
 * printable ASCII without spaces, one trailing newline dropped. Returns 0 with *token
 * malloc'ed (free it with admin_token_free()), or -errno with err saying why (never
 * quoting the file's contents). */
int admin_token_load(const char *path, char **token, struct serviced_error *err);
/* Wipes and frees a token. Accepts NULL. */
void admin_token_free(char *token);

#endif
