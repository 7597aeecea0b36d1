/*
 * daemon: the serviced daemon's HTTP side on top of the engine. Routes: /healthz (alive),
 * /readyz (accepting work: 503 from the drain delay on), then static files from --root or
 * the built-in page. Responses that never change are made once and shared; libmicrohttpd
 * responses may be queued from many threads as long as nobody modifies them.
 */
#include "autoconfig.h"

#include <errno.h>
#include <grp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "daemon.h"
#include "engine.h"
#include "log.h"
#include "static.h"

/* A file cache unused this long drops its entries and watches. */
#define DAEMON_CACHE_IDLE_MS 10000

struct daemon {
	serviced *engine;
	struct static_root *root;
	_Atomic bool access_log; /* a reload may turn it on or off */
	struct config *cfg;      /* as started: a reload compares against it */
	int argc;
	char **argv;
	struct MHD_Response *page, *alive, *ready, *not_ready, *not_found, *not_allowed;
};

static const char daemon_page[] =
	"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>serviced</title></head>\n"
	"<body><h1>serviced is running</h1>\n"
	"<p>Serve your own files with <code>serviced --root DIR</code>.</p></body></html>\n";

/* Marks the first handler call of a request: libmicrohttpd closes the connection if a
 * response is queued on the first call, so every route answers on the second. */
static char daemon_first_call;

static struct MHD_Response *daemon_fixed(const char *body, const char *type)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);

	if (r && type)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	return r;
}

static void daemon_free_responses(struct daemon *d)
{
	struct MHD_Response *all[] = { d->page,      d->alive,     d->ready,
				       d->not_ready, d->not_found, d->not_allowed };

	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
		if (all[i])
			MHD_destroy_response(all[i]);
}

static int daemon_make_responses(struct daemon *d)
{
	d->page = daemon_fixed(daemon_page, "text/html; charset=utf-8");
	d->alive = daemon_fixed("ok\n", "text/plain; charset=utf-8");
	d->ready = daemon_fixed("ready\n", "text/plain; charset=utf-8");
	d->not_ready = daemon_fixed("draining\n", "text/plain; charset=utf-8");
	d->not_found = daemon_fixed("Not Found\n", "text/plain; charset=utf-8");
	d->not_allowed = daemon_fixed("Method Not Allowed\n", "text/plain; charset=utf-8");
	if (!d->page || !d->alive || !d->ready || !d->not_ready || !d->not_found ||
	    !d->not_allowed)
		return -ENOMEM;
	if (MHD_add_response_header(d->not_allowed, MHD_HTTP_HEADER_ALLOW, "GET, HEAD") != MHD_YES)
		return -ENOMEM;
	return 0;
}

static void daemon_access_log(struct MHD_Connection *c, const char *method, const char *url,
			      unsigned status)
{
	char addr[ENGINE_ADDR_MAX];

	engine_client_address(c, addr, sizeof addr);
	log_msg(LOG_INFO, "access: %s \"%s %.300s\" %u", addr, method, url, status);
}

static enum MHD_Result daemon_queue(struct daemon *d, struct MHD_Connection *c,
				    const char *method, const char *url, unsigned status,
				    struct MHD_Response *r)
{
	if (atomic_load_explicit(&d->access_log, memory_order_relaxed))
		daemon_access_log(c, method, url, status);
	return MHD_queue_response(c, status, r);
}

static bool daemon_method_ok(const char *method)
{
	return strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
}

static enum MHD_Result daemon_handler(void *cls, struct MHD_Connection *c, const char *url,
				      const char *method, const char *version,
				      const char *upload_data, size_t *upload_data_size,
				      void **req_cls)
{
	struct daemon *d = cls;

	(void)version;
	(void)upload_data;
	if (*req_cls == NULL) {
		/* No route takes a body, and only GET and HEAD are served: any other method is
		 * answered at once, before its body is read. Answering on the first call makes
		 * libmicrohttpd close the connection, which is what an unread body needs. */
		if (!daemon_method_ok(method))
			return daemon_queue(d, c, method, url, MHD_HTTP_METHOD_NOT_ALLOWED,
					    d->not_allowed);
		*req_cls = &daemon_first_call;
		return MHD_YES;
	}
	/* A GET or HEAD with a body: the body is read and dropped, a chunk at a time. */
	if (*upload_data_size != 0) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (strcmp(url, "/healthz") == 0 || strcmp(url, "/readyz") == 0) {
		if (!daemon_method_ok(method))
			return daemon_queue(d, c, method, url, MHD_HTTP_METHOD_NOT_ALLOWED,
					    d->not_allowed);
		if (url[1] == 'h')
			return daemon_queue(d, c, method, url, MHD_HTTP_OK, d->alive);
		if (serviced_is_ready(d->engine))
			return daemon_queue(d, c, method, url, MHD_HTTP_OK, d->ready);
		return daemon_queue(d, c, method, url, MHD_HTTP_SERVICE_UNAVAILABLE, d->not_ready);
	}
	if (d->root) {
		unsigned status = 0;
		enum MHD_Result r = static_serve(d->root, c, url, method, &status);

		if (atomic_load_explicit(&d->access_log, memory_order_relaxed))
			daemon_access_log(c, method, url, status);
		return r;
	}
	if (!daemon_method_ok(method))
		return daemon_queue(d, c, method, url, MHD_HTTP_METHOD_NOT_ALLOWED, d->not_allowed);
	if (strcmp(url, "/") == 0 || strcmp(url, "/index.html") == 0)
		return daemon_queue(d, c, method, url, MHD_HTTP_OK, d->page);
	return daemon_queue(d, c, method, url, MHD_HTTP_NOT_FOUND, d->not_found);
}

/* The settings a reload cannot change, each named in the log with both values: the
 * sockets, root, threads and cache are how the daemon started (the sockets stay open
 * across a reload on purpose), and libmicrohttpd sizes every connection's memory from one
 * value fixed at start, with no call to change it. */
static void daemon_restart_only(const struct config *running, const struct config *fresh)
{
	static const char next[] = "reload: %s takes effect at the next start (running %s, "
				   "configured %s)";
	const struct {
		const char *name, *was, *now;
	} texts[] = {
		{ "listen", running->engine.listen, fresh->engine.listen },
		{ "root", running->root, fresh->root },
		{ "control", running->control, fresh->control },
		{ "control-group", running->control_group, fresh->control_group },
		{ "admin-listen", running->admin_listen, fresh->admin_listen },
		{ "admin-token-file", running->admin_token_file, fresh->admin_token_file },
	};
	const struct {
		const char *name;
		unsigned long long was, now;
	} numbers[] = {
		{ "threads", running->engine.threads, fresh->engine.threads },
		{ "connection-memory", running->engine.connection_memory,
		  fresh->engine.connection_memory },
		{ "file-cache-max", running->file_cache_max, fresh->file_cache_max },
		{ "control-mode", running->control_mode, fresh->control_mode },
	};
	char a[32], b[32];

	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
		const char *was = texts[i].was ? texts[i].was : "(none)";
		const char *now = texts[i].now ? texts[i].now : "(none)";

		if (strcmp(was, now) != 0)
			log_msg(LOG_WARNING, next, texts[i].name, was, now);
	}
	for (size_t i = 0; i < sizeof numbers / sizeof numbers[0]; i++) {
		if (numbers[i].was == numbers[i].now)
			continue;
		snprintf(a, sizeof a, "%llu", numbers[i].was);
		snprintf(b, sizeof b, "%llu", numbers[i].now);
		log_msg(LOG_WARNING, next, numbers[i].name, a, b);
	}
}

/* Logs each connection limit the reload changed. */
static void daemon_log_limits(const struct serviced_limits *was, const struct serviced_limits *now)
{
	if (was->connections != now->connections)
		log_msg(LOG_NOTICE, "reload: max-connections %u -> %u", was->connections,
			now->connections);
	if (was->connections_per_ip != now->connections_per_ip)
		log_msg(LOG_NOTICE, "reload: max-connections-per-ip %u -> %u",
			was->connections_per_ip, now->connections_per_ip);
	if (was->timeout_s != now->timeout_s)
		log_msg(LOG_NOTICE, "reload: connection-timeout %us -> %us", was->timeout_s,
			now->timeout_s);
	if (was->header_timeout_s != now->header_timeout_s)
		log_msg(LOG_NOTICE, "reload: request-header-timeout %us -> %us",
			was->header_timeout_s, now->header_timeout_s);
}

/* Reload: the configuration is read again exactly as at start (file, then command line),
 * and what can change live is applied: durations, connection limits, idle timeout, log
 * level, access log. What needs a restart is named in the log. */
static int daemon_reload(void *cls, serviced *s, char *err, size_t errsize)
{
	struct daemon *d = cls;
	struct config fresh;
	struct serviced_limits was, now;
	static const enum serviced_knob knobs[] = { SERVICED_KNOB_DRAIN_DELAY, SERVICED_KNOB_GRACE,
						    SERVICED_KNOB_MERCY, SERVICED_KNOB_FORCE };

	config_init(&fresh);
	if (config_parse_args(&fresh, d->argc, d->argv, err, errsize) != CONFIG_OK) {
		config_free(&fresh);
		return -EINVAL;
	}
	/* The one step that can refuse comes first, so that a refusal changes nothing. The
	 * parser has checked the ranges already; the engine checks them again. */
	serviced_get_limits(s, &was);
	now = (struct serviced_limits){ .connections = fresh.engine.connection_limit,
					.connections_per_ip = fresh.engine.per_ip_connection_limit,
					.timeout_s = fresh.engine.connection_timeout_s,
					.header_timeout_s = fresh.engine.header_timeout_s };
	if (serviced_set_limits(s, &now) < 0) {
		snprintf(err, errsize, "connection limits out of range");
		config_free(&fresh);
		return -EINVAL;
	}
	for (size_t i = 0; i < sizeof knobs / sizeof knobs[0]; i++) {
		const uint64_t *ms[] = { &fresh.engine.drain_delay_ms, &fresh.engine.grace_ms,
					 &fresh.engine.mercy_ms, &fresh.engine.force_ms };

		serviced_set_knob(s, knobs[i], *ms[i]);
	}
	log_set_verbosity(fresh.verbose);
	atomic_store(&d->access_log, fresh.access_log);
	daemon_log_limits(&was, &now);
	daemon_restart_only(d->cfg, &fresh);
	config_free(&fresh);
	return 0;
}

/* The file cache's part in a shutdown: it stops when the drain begins (grace), so that its
 * inotify watches are gone well before the exit (see static_cache_stop). */
static void daemon_on_state(void *cls, serviced *s, enum serviced_state from,
			    enum serviced_state to)
{
	struct daemon *d = cls;

	(void)s;
	if (to == SERVICED_STATE_GRACE && from != to)
		static_cache_stop(d->root);
}

static void daemon_tick(void *cls)
{
	struct daemon *d = cls;

	static_cache_idle(d->root);
}

static int daemon_control(struct daemon *d, struct serviced_error *err)
{
	struct serviced_control_options o;

	serviced_control_options_init(&o);
	o.path = d->cfg->control;
	o.mode = d->cfg->control_mode;
	if (d->cfg->control_group) {
		struct group *g = getgrnam(d->cfg->control_group);

		if (!g) {
			snprintf(err->message, sizeof err->message, "control group '%s': no such group",
				 d->cfg->control_group);
			return -ENOENT;
		}
		o.group = g->gr_gid;
	}
	return serviced_control_listen(d->engine, &o, err);
}

int daemon_run(struct config *cfg, int argc, char **argv)
{
	struct daemon d = { .cfg = cfg, .argc = argc, .argv = argv };
	struct serviced_error err = { 0 };
	char errbuf[512], *admin_token = NULL;
	int status, fd;

	/* The admin token comes from a file, never the command line: no file, no endpoint. */
	if (cfg->admin_listen && !cfg->admin_token_file) {
		log_msg(LOG_ERR, "--admin-listen needs --admin-token-file");
		return SERVICED_EXIT_USAGE;
	}
	atomic_init(&d.access_log, cfg->access_log);
	if (cfg->root &&
	    static_open(&d.root, cfg->root, cfg->file_cache_max, errbuf, sizeof errbuf) < 0) {
		log_msg(LOG_ERR, "%s", errbuf);
		return SERVICED_EXIT_FAILURE;
	}
	/* Read before anything is bound, so that a bad token file refuses the start. */
	if (cfg->admin_listen && admin_token_load(cfg->admin_token_file, &admin_token, &err) < 0) {
		log_msg(LOG_ERR, "%s", err.message);
		status = SERVICED_EXIT_FAILURE;
		goto out;
	}
	if (daemon_make_responses(&d) < 0) {
		log_msg(LOG_ERR, "out of memory");
		status = SERVICED_EXIT_FAILURE;
		goto out;
	}
	/* Under socket activation the inherited socket replaces --listen. */
	switch (serviced_systemd_listen_fd(&fd, &err)) {
	case 1:
		cfg->engine.listen_fd = fd;
		log_msg(LOG_INFO, "using the socket-activated listener (fd %d)", fd);
		break;
	case 0:
		break;
	default:
		log_msg(LOG_ERR, "%s", err.message);
		status = SERVICED_EXIT_FAILURE;
		goto out;
	}
	if (serviced_new(&d.engine, &cfg->engine, daemon_handler, &d, &err) < 0) {
		log_msg(LOG_ERR, "%s", err.message);
		status = SERVICED_EXIT_FAILURE;
		goto out;
	}
	serviced_set_logger(d.engine, log_engine, NULL);
	serviced_set_reload(d.engine, daemon_reload, &d);
	if (d.root && (serviced_add_state_observer(d.engine, daemon_on_state, &d) < 0 ||
		       serviced_add_tick(d.engine, DAEMON_CACHE_IDLE_MS, daemon_tick, &d) < 0)) {
		log_msg(LOG_ERR, "out of memory");
		status = SERVICED_EXIT_FAILURE;
		goto out;
	}
	if (serviced_start(d.engine, &err) < 0 || daemon_control(&d, &err) < 0) {
		log_msg(LOG_ERR, "%s", err.message);
		status = SERVICED_EXIT_FAILURE;
		goto out;
	}
	if (cfg->admin_listen) {
		struct serviced_admin_options ao;

		serviced_admin_options_init(&ao);
		ao.listen = cfg->admin_listen;
		ao.token = admin_token;
		if (serviced_admin_listen(d.engine, &ao, &err) < 0) {
			log_msg(LOG_ERR, "%s", err.message);
			status = SERVICED_EXIT_FAILURE;
			goto out;
		}
	}
	if (serviced_systemd_enable(d.engine) < 0)
		log_msg(LOG_WARNING, "systemd notification could not be set up");
	status = serviced_run(d.engine);
out:
	serviced_free(d.engine);
	daemon_free_responses(&d);
	static_close(d.root);
	admin_token_free(admin_token);
	return status;
}
