/*
 * check_admin: unit tests of the HTTP admin endpoint's pure core (admin_handle) and of its
 * token file loader. The engine is created but never started: the lifecycle, the knobs
 * and the command table all work without a socket.
 */
#include "autoconfig.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "admin.h"
#include "serviced.h"

#define TOKEN "s3cret-Token_42"
#define AUTH "Bearer " TOKEN

static serviced *engine;

static enum MHD_Result no_handler(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *data,
				  size_t *size, void **req_cls)
{
	return MHD_NO;
}

static void setup(void)
{
	struct serviced_error err;

	ck_assert_int_eq(serviced_new(&engine, NULL, no_handler, NULL, &err), 0);
}

static void teardown(void)
{
	serviced_free(engine);
	engine = NULL;
}

/* One request; returns the reply, its body parsed into *body (a new reference). */
static struct admin_reply ask(const char *method, const char *path, const char *auth,
			      const char *type, const char *body, json_t **parsed)
{
	struct admin_http in = { method, path, auth, type, body, body ? strlen(body) : 0, NULL };
	struct admin_reply out;
	json_error_t jerr;

	ck_assert_int_eq(admin_handle(engine, TOKEN, &in, &out), 0);
	ck_assert_ptr_nonnull(out.json);
	ck_assert_uint_gt(out.json_len, 0);
	ck_assert_int_eq(out.json[out.json_len - 1], '\n');
	*parsed = json_loadb(out.json, out.json_len, 0, &jerr);
	ck_assert_msg(*parsed != NULL, "not JSON: %s", out.json);
	free(out.json);
	out.json = NULL;
	return out;
}

/* Asserts status and, for errors, the error code; returns nothing. */
static void expect(const char *method, const char *path, const char *auth, const char *type,
		   const char *body, unsigned status, const char *code)
{
	json_t *j;
	struct admin_reply out = ask(method, path, auth, type, body, &j);

	ck_assert_msg(out.status == status, "%s %s %s: status %u, want %u", method, path,
		      body ? body : "", out.status, status);
	if (code == NULL) {
		ck_assert(json_is_true(json_object_get(j, "ok")));
	} else {
		ck_assert(json_is_false(json_object_get(j, "ok")));
		ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "error"),
								   "code")),
				 code);
		ck_assert(json_is_string(json_object_get(json_object_get(j, "error"), "message")));
	}
	json_decref(j);
}

START_TEST(test_token_compare)
{
	ck_assert(admin_authorized(TOKEN, AUTH));
	ck_assert(admin_authorized(TOKEN, "bearer " TOKEN));
	ck_assert(admin_authorized(TOKEN, "BEARER   " TOKEN));
	ck_assert(!admin_authorized(TOKEN, NULL));
	ck_assert(!admin_authorized(TOKEN, ""));
	ck_assert(!admin_authorized(TOKEN, "Bearer"));
	ck_assert(!admin_authorized(TOKEN, "Bearer "));
	ck_assert(!admin_authorized(TOKEN, "Basic " TOKEN));
	ck_assert(!admin_authorized(TOKEN, "Bearer" TOKEN));
	ck_assert(!admin_authorized(TOKEN, "Bearer " TOKEN "x"));
	ck_assert(!admin_authorized(TOKEN, "Bearer s3cret-Token_4"));
	ck_assert(!admin_authorized(TOKEN, "Bearer s3cret-Token_43"));
	ck_assert(!admin_authorized(TOKEN, "Bearer S3cret-Token_42"));
	ck_assert(!admin_authorized(NULL, AUTH));
}
END_TEST

START_TEST(test_unauthenticated)
{
	json_t *j;
	struct admin_reply out;

	out = ask("GET", "/admin/status", NULL, NULL, NULL, &j);
	ck_assert_uint_eq(out.status, 401);
	ck_assert_str_eq(out.authenticate, "Bearer realm=\"serviced\"");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "error"), "code")),
			 "unauthenticated");
	json_decref(j);

	out = ask("GET", "/admin/status", "Bearer nope", NULL, NULL, &j);
	ck_assert_uint_eq(out.status, 401);
	ck_assert_str_eq(out.authenticate, "Bearer realm=\"serviced\", error=\"invalid_token\"");
	json_decref(j);

	/* Before anything else: no path, method, size or body is looked at. */
	expect("GET", "/nowhere", NULL, NULL, NULL, 401, "unauthenticated");
	expect("DELETE", "/admin/status", "Bearer x", NULL, NULL, 401, "unauthenticated");
	expect("POST", "/admin/shutdown", NULL, "text/plain", "{", 401, "unauthenticated");
	ck_assert_int_eq(serviced_state(engine), SERVICED_STATE_RUNNING);
}
END_TEST

START_TEST(test_routes)
{
	json_t *j;
	struct admin_reply out;

	out = ask("GET", "/admin/status", AUTH, NULL, NULL, &j);
	ck_assert_uint_eq(out.status, 200);
	ck_assert_str_eq(out.allow, "");
	ck_assert_str_eq(out.authenticate, "");
	ck_assert_str_eq(json_string_value(json_object_get(j, "state")), "running");
	ck_assert(json_is_integer(json_object_get(j, "requests_in_flight")));
	json_decref(j);

	expect("HEAD", "/admin/status", AUTH, NULL, NULL, 200, NULL);
	/* A GET's body is ignored, whatever its type. */
	expect("GET", "/admin/status", AUTH, "text/plain", "junk", 200, NULL);

	out = ask("GET", "/admin/config", AUTH, NULL, NULL, &j);
	ck_assert_uint_eq(out.status, 200);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "grace_ms")), 10000);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "force_ms")), 1000);
	json_decref(j);

	expect("GET", "/", AUTH, NULL, NULL, 404, "not_found");
	expect("GET", "/admin/status/", AUTH, NULL, NULL, 404, "not_found");
	expect("GET", "/admin", AUTH, NULL, NULL, 404, "not_found");
	expect("GET", "/admin/\xff\xfe", AUTH, NULL, NULL, 404, "not_found");
}
END_TEST

START_TEST(test_method_not_allowed)
{
	json_t *j;
	struct admin_reply out;

	out = ask("DELETE", "/admin/status", AUTH, NULL, NULL, &j);
	ck_assert_uint_eq(out.status, 405);
	ck_assert_str_eq(out.allow, "GET, HEAD");
	json_decref(j);
	out = ask("POST", "/admin/config", AUTH, NULL, NULL, &j);
	ck_assert_uint_eq(out.status, 405);
	ck_assert_str_eq(out.allow, "GET, HEAD, PATCH");
	json_decref(j);
	out = ask("GET", "/admin/shutdown", AUTH, NULL, NULL, &j);
	ck_assert_uint_eq(out.status, 405);
	ck_assert_str_eq(out.allow, "POST");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "error"), "code")),
			 "method_not_allowed");
	json_decref(j);
	ck_assert_int_eq(serviced_state(engine), SERVICED_STATE_RUNNING);
}
END_TEST

/* A transfer coding other than chunked: 501, after the token (libmicrohttpd 0.9.75 would
 * read the rest of the connection as its body). */
START_TEST(test_transfer_coding)
{
	struct admin_http in = { "POST", "/admin/shutdown", AUTH, "application/json", "{}", 2,
				 "xchunked" };
	struct admin_reply out;

	ck_assert_int_eq(admin_handle(engine, TOKEN, &in, &out), 0);
	ck_assert_uint_eq(out.status, 501);
	ck_assert_ptr_nonnull(strstr(out.json, "not_implemented"));
	free(out.json);
	in.transfer_encoding = "Chunked";
	ck_assert_int_eq(admin_handle(engine, TOKEN, &in, &out), 0);
	ck_assert_uint_ne(out.status, 501);
	free(out.json);
	in.transfer_encoding = "xchunked";
	in.authorization = NULL;
	ck_assert_int_eq(admin_handle(engine, TOKEN, &in, &out), 0);
	ck_assert_uint_eq(out.status, 401);
	free(out.json);
}
END_TEST

START_TEST(test_media_type_and_size)
{
	struct admin_http in = { "POST", "/admin/shutdown", AUTH, "application/json", NULL,
				 ADMIN_MAX_BODY + 1, NULL };
	struct admin_reply out;

	expect("POST", "/admin/shutdown", AUTH, NULL, "{}", 415, "unsupported_media_type");
	expect("POST", "/admin/shutdown", AUTH, "text/plain", "{}", 415, "unsupported_media_type");
	expect("PATCH", "/admin/config", AUTH, "application/jsonx", "{}", 415,
	       "unsupported_media_type");
	expect("PATCH", "/admin/config", AUTH, "Application/JSON; charset=utf-8", "{}", 200, NULL);
	expect("PATCH", "/admin/config", AUTH, "application/json ;charset=utf-8", "{}", 200, NULL);

	/* Too large is decided from the length alone: the body is not looked at. */
	ck_assert_int_eq(admin_handle(engine, TOKEN, &in, &out), 0);
	ck_assert_uint_eq(out.status, 413);
	ck_assert_ptr_nonnull(strstr(out.json, "\"too_large\""));
	free(out.json);
	ck_assert_int_eq(serviced_state(engine), SERVICED_STATE_RUNNING);
}
END_TEST

START_TEST(test_bad_bodies)
{
	const char *J = "application/json";

	expect("POST", "/admin/shutdown", AUTH, J, "{", 400, "bad_json");
	expect("POST", "/admin/shutdown", AUTH, J, "   ", 400, "bad_json");
	expect("POST", "/admin/shutdown", AUTH, J, "[]", 400, "not_object");
	expect("POST", "/admin/shutdown", AUTH, J, "\"30s\"", 400, "not_object");
	expect("POST", "/admin/shutdown", AUTH, J, "{\"bogus\":1}", 400, "bad_argument");
	expect("POST", "/admin/shutdown", AUTH, J, "{\"grace\":-1}", 400, "bad_argument");
	expect("POST", "/admin/shutdown", AUTH, J, "{\"grace\":\"soon\"}", 400, "bad_argument");
	expect("POST", "/admin/shutdown", AUTH, J, "{\"grace\":\"25h\"}", 400, "bad_argument");
	expect("POST", "/admin/shutdown", AUTH, J, "{\"now\":\"yes\"}", 400, "bad_argument");
	expect("POST", "/admin/shutdown", AUTH, J, "{\"grace\":1,\"grace\":2}", 400, "bad_json");
	/* The path names the command; a body cannot name another. */
	expect("POST", "/admin/shutdown", AUTH, J, "{\"command\":\"reload\"}", 400, "bad_argument");
	expect("POST", "/admin/cancel", AUTH, J, "{\"grace\":\"1s\"}", 400, "bad_argument");
	expect("PATCH", "/admin/config", AUTH, J, NULL, 400, "bad_argument");
	expect("PATCH", "/admin/config", AUTH, J, "{\"key\":\"grace\"}", 400, "bad_argument");
	expect("PATCH", "/admin/config", AUTH, J, "{\"grace\":true}", 400, "bad_argument");
	expect("PATCH", "/admin/config", AUTH, J, "[1]", 400, "not_object");

	{ /* an embedded NUL */
		struct admin_http in = { "POST", "/admin/shutdown", AUTH, J, "{}\0", 3, NULL };
		struct admin_reply out;

		ck_assert_int_eq(admin_handle(engine, TOKEN, &in, &out), 0);
		ck_assert_uint_eq(out.status, 400);
		free(out.json);
	}
	/* None of it changed anything. */
	ck_assert_int_eq(serviced_state(engine), SERVICED_STATE_RUNNING);
	ck_assert_uint_eq(serviced_get_knob(engine, SERVICED_KNOB_GRACE), 10000);
}
END_TEST

START_TEST(test_patch_all_or_nothing)
{
	const char *J = "application/json";
	json_t *j;
	struct admin_reply out;

	expect("PATCH", "/admin/config", AUTH, J, "{\"grace\":\"7s\",\"mercy\":\"later\"}", 400,
	       "bad_argument");
	expect("PATCH", "/admin/config", AUTH, J, "{\"grace\":\"7s\",\"speed\":1}", 400,
	       "bad_argument");
	ck_assert_uint_eq(serviced_get_knob(engine, SERVICED_KNOB_GRACE), 10000);

	out = ask("PATCH", "/admin/config", AUTH, J,
		  "{\"grace\":\"7s\",\"mercy\":2500,\"drain_delay\":\"0\",\"force\":\"2s\"}", &j);
	ck_assert_uint_eq(out.status, 200);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "grace_ms")), 7000);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "mercy_ms")), 2500);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "force_ms")), 2000);
	json_decref(j);
	ck_assert_uint_eq(serviced_get_knob(engine, SERVICED_KNOB_GRACE), 7000);

	/* An empty object changes nothing and shows the values. */
	out = ask("PATCH", "/admin/config", AUTH, J, "{}", &j);
	ck_assert_uint_eq(out.status, 200);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "grace_ms")), 7000);
	json_decref(j);
}
END_TEST

START_TEST(test_shutdown_and_cancel)
{
	const char *J = "application/json";
	json_t *j;
	struct admin_reply out;

	expect("POST", "/admin/cancel", AUTH, NULL, NULL, 409, "wrong_state");

	out = ask("POST", "/admin/shutdown", AUTH, J, "{\"drain_delay\":\"30s\"}", &j);
	ck_assert_uint_eq(out.status, 202);
	ck_assert_str_eq(json_string_value(json_object_get(j, "state")), "drain_delay");
	ck_assert_str_eq(json_string_value(json_object_get(j, "trigger")), "admin");
	json_decref(j);
	ck_assert_uint_eq(serviced_get_knob(engine, SERVICED_KNOB_DRAIN_DELAY), 30000);

	out = ask("POST", "/admin/cancel", AUTH, J, "{}", &j);
	ck_assert_uint_eq(out.status, 200);
	ck_assert_str_eq(json_string_value(json_object_get(j, "state")), "running");
	json_decref(j);

	/* No body at all is a shutdown with the configured durations. */
	expect("POST", "/admin/shutdown", AUTH, NULL, NULL, 202, NULL);
	ck_assert_int_eq(serviced_state(engine), SERVICED_STATE_DRAIN_DELAY);
	/* A second one moves on, as on the control socket; then cancel is too late. */
	expect("POST", "/admin/shutdown", AUTH, NULL, NULL, 202, NULL);
	/* (Past grace at once: nothing is in flight in an engine that never started.) */
	ck_assert_int_gt(serviced_state(engine), SERVICED_STATE_DRAIN_DELAY);
	expect("POST", "/admin/cancel", AUTH, NULL, NULL, 409, "wrong_state");
	expect("GET", "/admin/status", AUTH, NULL, NULL, 200, NULL);
}
END_TEST

/*
 * The token file.
 */

static char dir[] = "/tmp/check_admin.XXXXXX";

static const char *token_file(const char *content, size_t len, mode_t mode)
{
	static char path[64];
	int fd;

	snprintf(path, sizeof path, "%s/token", dir);
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, content, len), (ssize_t)len);
	close(fd);
	ck_assert_int_eq(chmod(path, mode), 0);
	return path;
}

static int load(const char *content, size_t len, mode_t mode, char **token,
		struct serviced_error *err)
{
	memset(err, 0, sizeof *err);
	return admin_token_load(token_file(content, len, mode), token, err);
}

START_TEST(test_token_file)
{
	struct serviced_error err;
	char *token, big[ADMIN_MAX_TOKEN + 2];

	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(load("abc\n", 4, 0600, &token, &err), 0);
	ck_assert_str_eq(token, "abc");
	admin_token_free(token);
	ck_assert_int_eq(load("abc\r\n", 5, 0400, &token, &err), 0);
	ck_assert_str_eq(token, "abc");
	admin_token_free(token);
	ck_assert_int_eq(load("abc", 3, 0640, &token, &err), 0); /* the group may read it */
	ck_assert_str_eq(token, "abc");
	admin_token_free(token);

	ck_assert_int_eq(load("abc\n", 4, 0644, &token, &err), -EPERM);
	ck_assert_ptr_null(token);
	ck_assert_ptr_nonnull(strstr(err.message, "readable by others; chmod 600 it"));
	ck_assert_ptr_null(strstr(err.message, "abc"));
	ck_assert_int_eq(load("abc\n", 4, 0602, &token, &err), -EPERM);
	ck_assert_int_eq(load("", 0, 0600, &token, &err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.message, "empty"));
	ck_assert_int_eq(load("\n", 1, 0600, &token, &err), -EINVAL);
	ck_assert_int_eq(load("abc\n\n", 5, 0600, &token, &err), -EINVAL);
	ck_assert_int_eq(load("a bc", 4, 0600, &token, &err), -EINVAL);
	ck_assert_int_eq(load("ab\0c", 4, 0600, &token, &err), -EINVAL);

	memset(big, 'x', sizeof big);
	ck_assert_int_eq(load(big, ADMIN_MAX_TOKEN, 0600, &token, &err), 0);
	ck_assert_uint_eq(strlen(token), ADMIN_MAX_TOKEN);
	admin_token_free(token);
	ck_assert_int_eq(load(big, ADMIN_MAX_TOKEN + 1, 0600, &token, &err), -EFBIG);

	memset(&err, 0, sizeof err);
	ck_assert_int_eq(admin_token_load("/nonexistent/token", &token, &err), -ENOENT);
	ck_assert_int_eq(admin_token_load(dir, &token, &err), -EINVAL);

	unlink(token_file("", 0, 0600));
	rmdir(dir);
}
END_TEST

START_TEST(test_listen_needs_token)
{
	struct serviced_admin_options o;
	struct serviced_error err = { 0 };

	serviced_admin_options_init(&o);
	ck_assert_uint_eq(o.max_clients, 16);
	o.listen = "127.0.0.1:0";
	ck_assert_int_eq(serviced_admin_listen(engine, &o, &err), -EINVAL);
	ck_assert_str_eq(err.message, "admin endpoint needs a token");
	o.token = "";
	ck_assert_int_eq(serviced_admin_listen(engine, &o, &err), -EINVAL);
	o.token = "with space";
	ck_assert_int_eq(serviced_admin_listen(engine, &o, &err), -EINVAL);
	o.token = TOKEN;
	o.listen = "nowhere";
	ck_assert_int_eq(serviced_admin_listen(engine, &o, &err), -EINVAL);
	/* A good one binds, and the engine stops it when freed. */
	o.listen = "127.0.0.1:0";
	ck_assert_int_eq(serviced_admin_listen(engine, &o, &err), 0);
}
END_TEST

static Suite *admin_suite(void)
{
	Suite *s = suite_create("admin");
	TCase *tc;

	tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_token_compare);
	tcase_add_test(tc, test_unauthenticated);
	tcase_add_test(tc, test_routes);
	tcase_add_test(tc, test_transfer_coding);
	tcase_add_test(tc, test_method_not_allowed);
	tcase_add_test(tc, test_media_type_and_size);
	tcase_add_test(tc, test_bad_bodies);
	tcase_add_test(tc, test_patch_all_or_nothing);
	tcase_add_test(tc, test_shutdown_and_cancel);
	tcase_add_test(tc, test_listen_needs_token);
	suite_add_tcase(s, tc);

	tc = tcase_create("token file");
	tcase_add_test(tc, test_token_file);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(admin_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
