/*
 * testapp: a server built on libserviced the way a third-party application would build
 * one, with routes that misbehave on purpose so the end-to-end tests can watch the engine
 * cope. It takes serviced's own options (parsed by the daemon's config module).
 *
 *   /                 "hello"
 *   /sleep?ms=N       the handler blocks N ms before answering (a stuck handler when large)
 *   /sse              a stream marked cancel-on-shutdown: one event every 50 ms
 *   /stream           an unmarked stream: ends only at mercy
 *   /suspend          suspended and never resumed by the application
 *   /api/shutdown     serviced_shutdown(API) from a handler thread (?now=1 escalates)
 *   /api/cancel       serviced_cancel()
 *   /api/set?knob=K&ms=N   serviced_set_knob()
 * Every handler that begins long work logs "testapp: ROUTE begin" so tests can wait for it.
 * Two shutdown hooks, "first" and "second", log when they run.
 */
#include "autoconfig.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "serviced.h"

static serviced *app;
static char first_call;

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *text)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), (void *)text,
								 MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret = MHD_queue_response(c, status, r);

	MHD_destroy_response(r);
	return ret;
}

static uint64_t arg_u64(struct MHD_Connection *c, const char *key)
{
	const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, key);

	return v ? strtoull(v, NULL, 10) : 0;
}

struct ticker {
	unsigned n;
	bool cancel_on_shutdown;
};

/* Emits an event every 50 ms. The cancellable stream also wakes on the engine's
 * shutdown fd, so it ends promptly when grace begins. */
static ssize_t tick_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct ticker *t = cls;
	struct pollfd p = { .fd = serviced_shutdown_fd(app), .events = POLLIN };

	(void)pos;
	poll(&p, t->cancel_on_shutdown ? 1 : 0, 50);
	return snprintf(buf, max, "data: tick %u\n\n", t->n++);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
			       const char *method, const char *version, const char *upload,
			       size_t *upload_size, void **req_cls)
{
	(void)cls;
	(void)method;
	(void)version;
	(void)upload;
	if (*req_cls == NULL) {
		*req_cls = &first_call;
		return MHD_YES;
	}
	if (*upload_size) {
		*upload_size = 0;
		return MHD_YES;
	}
	if (strcmp(url, "/sleep") == 0) {
		uint64_t ms = arg_u64(c, "ms");
		struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };

		log_msg(LOG_INFO, "testapp: sleep begin");
		/* Deliberately deaf to shutdown: this is the stuck handler. */
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
		return reply(c, MHD_HTTP_OK, "slept\n");
	}
	if (strcmp(url, "/sse") == 0 || strcmp(url, "/stream") == 0) {
		struct ticker *t = calloc(1, sizeof *t);
		struct MHD_Response *r;
		enum MHD_Result ret;

		t->cancel_on_shutdown = url[2] == 's';
		r = serviced_stream_response(app,
					     t->cancel_on_shutdown ? SERVICED_STREAM_CANCEL_ON_SHUTDOWN : 0,
					     tick_read, t, free);
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
		log_msg(LOG_INFO, "testapp: %s begin", url + 1);
		ret = MHD_queue_response(c, MHD_HTTP_OK, r);
		MHD_destroy_response(r);
		return ret;
	}
	if (strcmp(url, "/suspend") == 0) {
		if (*req_cls == &first_call) {
			*req_cls = &app; /* second call: suspend once */
			log_msg(LOG_INFO, "testapp: suspend begin");
			serviced_suspend(app, c);
			return MHD_YES;
		}
		return reply(c, MHD_HTTP_OK, "resumed by the application\n");
	}
	if (strcmp(url, "/api/shutdown") == 0) {
		int r = serviced_shutdown(app, SERVICED_TRIGGER_API, arg_u64(c, "now") != 0);

		return reply(c, r == 0 ? MHD_HTTP_ACCEPTED : MHD_HTTP_CONFLICT, "shutdown\n");
	}
	if (strcmp(url, "/api/cancel") == 0) {
		int r = serviced_cancel(app);

		return reply(c, r == 0 ? MHD_HTTP_OK : MHD_HTTP_CONFLICT, r == 0 ? "cancelled\n" :
						 r == -EBUSY ? "too late\n" : "not shutting down\n");
	}
	if (strcmp(url, "/api/set") == 0) {
		const char *k = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "knob");

		for (int i = 0; k && i < SERVICED_KNOB_COUNT_; i++)
			if (strcmp(k, serviced_knob_name(i)) == 0) {
				serviced_set_knob(app, i, arg_u64(c, "ms"));
				return reply(c, MHD_HTTP_OK, "set\n");
			}
		return reply(c, MHD_HTTP_BAD_REQUEST, "unknown knob\n");
	}
	if (strcmp(url, "/readyz") == 0)
		return reply(c, serviced_is_ready(app) ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
			     "readyz\n");
	return reply(c, MHD_HTTP_OK, "hello\n");
}

static void hook(void *cls)
{
	log_msg(LOG_INFO, "testapp: hook %s ran", (const char *)cls);
}

int main(int argc, char **argv)
{
	struct config cfg;
	struct serviced_error err = { 0 };
	char text[512];
	int status;

	log_init(0);
	config_init(&cfg);
	if (config_parse_args(&cfg, argc, argv, text, sizeof text) < 0) {
		fprintf(stderr, "testapp: %s\n", text);
		return SERVICED_EXIT_USAGE;
	}
	log_set_verbosity(cfg.verbose);
	if (serviced_new(&app, &cfg.engine, handler, NULL, &err) < 0 ||
	    (serviced_set_logger(app, log_engine, NULL), serviced_start(app, &err)) < 0) {
		log_msg(LOG_ERR, "%s", err.message);
		return SERVICED_EXIT_FAILURE;
	}
	serviced_add_hook(app, "first", hook, "first", 0);
	serviced_add_hook(app, "second", hook, "second", 0);
	status = serviced_run(app);
	serviced_free(app);
	config_free(&cfg);
	return status;
}
