/*
 * hello: the smallest libserviced application. It answers "hello" on every path, tells
 * clients when it is shutting down, and closes its "database" in a shutdown hook.
 *
 *   cc hello.c $(pkg-config --cflags --libs libserviced) -o hello
 *   ./hello 127.0.0.1:8080
 *
 * SIGTERM or Ctrl-C starts a graceful shutdown: requests in flight finish (grace, 10 s),
 * then connections are closed (mercy, 5 s); the exit status says whether any were cut.
 */
#include <stdio.h>
#include <string.h>

#include <serviced.h>

static char first_call;

static enum MHD_Result hello(void *cls, struct MHD_Connection *c, const char *url,
			     const char *method, const char *version, const char *upload,
			     size_t *upload_size, void **req_cls)
{
	serviced *s = cls;
	const char *text = serviced_shutting_down(s) ? "hello (shutting down)\n" : "hello\n";
	struct MHD_Response *r;
	enum MHD_Result ret;

	(void)url, (void)method, (void)version, (void)upload, (void)upload_size;
	/* Answer on the second call: libmicrohttpd closes the connection otherwise. */
	if (*req_cls == NULL) {
		*req_cls = &first_call;
		return MHD_YES;
	}
	r = MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
	ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

static void log_line(void *cls, int priority, const char *message)
{
	(void)cls, (void)priority;
	fprintf(stderr, "hello: %s\n", message);
}

static void close_database(void *cls)
{
	fprintf(stderr, "hello: %s closed\n", (const char *)cls);
}

int main(int argc, char **argv)
{
	struct serviced_options o;
	struct serviced_error err;
	serviced *s;
	int status;

	serviced_options_init(&o);
	if (argc > 1)
		o.listen = argv[1];
	/* The handler's cls is the engine itself, so it can ask about the shutdown. */
	if (serviced_new(&s, &o, hello, NULL, &err) < 0) {
		fprintf(stderr, "hello: %s\n", err.message);
		return SERVICED_EXIT_FAILURE;
	}
	serviced_set_handler_cls(s, s);
	serviced_set_logger(s, log_line, NULL);
	serviced_add_hook(s, "database", close_database, "database", 2000);
	if (serviced_start(s, &err) < 0) {
		fprintf(stderr, "hello: %s\n", err.message);
		serviced_free(s);
		return SERVICED_EXIT_FAILURE;
	}
	status = serviced_run(s);
	serviced_free(s);
	return status;
}
