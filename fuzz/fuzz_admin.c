/*
 * fuzz_admin: the HTTP admin endpoint's request handling, admin_handle(), without sockets.
 *
 * The input is a request in lines: method, path, Authorization, Content-Type,
 * Transfer-Encoding, then the body
 * (the rest, any bytes). Each input gets an engine of its own that is never started, so
 * shutdowns and changed durations do not leak into the next input.
 * Properties: the status is one the endpoint documents; without the token it is 401 with a
 * challenge; 405 names the allowed methods; every reply body is one JSON object.
 */
#include "autoconfig.h"

#include <jansson.h>
#include <string.h>

#include "admin.h"
#include "fuzz.h"

#define FUZZ_TOKEN "fuzz-token"

/* The engine is never started, so its handler is never called. */
static enum MHD_Result fuzz_no_handler(void *cls, struct MHD_Connection *c, const char *url,
				       const char *method, const char *version, const char *up,
				       size_t *up_size, void **req_cls)
{
	(void)cls, (void)c, (void)url, (void)method, (void)version, (void)up, (void)up_size;
	(void)req_cls;
	return MHD_NO;
}

/* Takes the next line of [*p, end) into a NUL-terminated copy. */
static char *fuzz_line(const uint8_t **p, const uint8_t *end)
{
	const uint8_t *nl = memchr(*p, '\n', (size_t)(end - *p));
	size_t n = nl ? (size_t)(nl - *p) : (size_t)(end - *p);
	char *s = malloc(n + 1);

	if (!s)
		abort();
	memcpy(s, *p, n);
	s[n] = '\0';
	*p += nl ? n + 1 : n;
	return s;
}

static bool fuzz_status_known(unsigned st)
{
	static const unsigned ok[] = { 200, 202, 400, 401, 403, 404, 405, 409, 413, 415, 500, 501 };

	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
		if (ok[i] == st)
			return true;
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data, *end = data + size;
	char *method = fuzz_line(&p, end), *path = fuzz_line(&p, end);
	char *auth = fuzz_line(&p, end), *type = fuzz_line(&p, end), *coding = fuzz_line(&p, end);
	struct admin_http in = {
		.method = method,
		.path = path,
		.authorization = auth[0] ? auth : NULL,
		.content_type = type[0] ? type : NULL,
		.body = (const char *)p,
		.body_len = (size_t)(end - p),
		.transfer_encoding = coding[0] ? coding : NULL,
	};
	struct admin_reply out;
	serviced *s;

	memset(&out, 0, sizeof out);
	if (serviced_new(&s, NULL, fuzz_no_handler, NULL, NULL) < 0)
		abort();
	if (admin_handle(s, FUZZ_TOKEN, &in, &out) == 0) {
		FUZZ_CHECK(fuzz_status_known(out.status), "status %u", out.status);
		if (!admin_authorized(FUZZ_TOKEN, in.authorization))
			FUZZ_CHECK(out.status == 401 && out.authenticate[0], "unauthenticated: %u",
				   out.status);
		if (out.status == 405)
			FUZZ_CHECK(out.allow[0] != '\0', "405 without Allow");
		if (out.json) {
			json_error_t e;
			json_t *j = json_loadb(out.json, out.json_len, 0, &e);

			FUZZ_CHECK(j && json_is_object(j), "reply is not a JSON object: %.200s",
				   out.json);
			json_decref(j);
		}
	}
	free(out.json);
	serviced_free(s);
	free(method);
	free(path);
	free(auth);
	free(type);
	free(coding);
	return 0;
}
