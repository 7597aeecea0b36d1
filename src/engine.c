/*
 * engine: runs libmicrohttpd under the shutdown lifecycle.
 *
 * Threads: libmicrohttpd's workers (an epoll thread pool) run the application's handler;
 * the engine thread (the caller of serviced_run()) owns the lifecycle's reactions. Workers
 * only count (atomics) and, while draining, wake the engine through an eventfd when the
 * last request or connection is gone, so a phase ends the moment its work is done.
 *
 * The lifecycle is guarded by one mutex and changed from any thread (signals, API, control
 * socket). Each transition is queued; the engine thread takes the queue and performs the
 * reactions (closing the listener, closing idle connections, ending streams, stopping MHD)
 * outside the lock, because stopping MHD joins the very threads that may call us.
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <linux/filter.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "admit.h"
#include "conn.h"
#include "counts.h"
#include "engine.h"
#include "lifecycle.h"

#define ENGINE_MAX_OBSERVERS 8
#define ENGINE_MAX_HOOKS 16
#define ENGINE_MAX_WATCHES 256
#define ENGINE_MAX_TICKS 8
#define ENGINE_MAX_CLEANUPS 8
#define ENGINE_RING 64
#define ENGINE_BACKLOG 1024
#define ENGINE_HANDOVER_MS 1000 /* how long a worker may take to make an accepted connection */

struct engine_watch {
	int fd; /* -1 when the slot is free */
	uint32_t generation;
	serviced_fd_cb fn;
	void *cls;
};

struct engine_tick {
	uint64_t interval_ms, next_ms;
	serviced_tick_cb fn;
	void *cls;
};

struct engine_hook {
	char name[64];
	serviced_hook fn;
	void *cls;
	uint64_t timeout_ms;
};

struct engine_transition {
	enum serviced_state from, to;
};

struct serviced {
	struct serviced_options opt;
	char *listen_spec;
	char bound[INET6_ADDRSTRLEN + 16];
	serviced_handler handler;
	void *handler_cls;
	serviced_completed completed;
	void *completed_cls;
	serviced_logger logger;
	void *logger_cls;

	struct MHD_Daemon *mhd;
	struct MHD_Response *resp_503;
	struct MHD_Response *resp_501; /* a transfer coding other than chunked */
	int listen_fd;
	bool listen_owned; /* we bound it: we may shut it down; an inherited one never */
	bool quiesced;
	_Atomic bool accepting; /* until grace's reaction has closed the listener */
	/* Connections the accept policy let in that have not reached the connect notifier
	 * yet (engine_unreported), and when the policy last let one in. */
	_Atomic unsigned handing_over;
	_Atomic uint64_t handed_ms;
	bool started;
	sigset_t sigmask;
	int epfd, sigfd, wakefd, shutfd;
	int last_signal;

	/* The lifecycle and its queue of transitions, under lock. */
	pthread_mutex_t lock;
	struct lifecycle lc;
	struct engine_transition ring[ENGINE_RING];
	unsigned ring_head, ring_tail;
	enum serviced_state acted; /* the last state the engine has reacted to */

	/* Counts, written by the workers. */
	_Atomic int state;
	_Atomic uint64_t conns_open, streams, suspended, connections_total;
	struct counts counts; /* per request, sharded by worker */
	struct conn_registry reg;
	struct admit admit;                /* the connection limits, enforced at accept */
	_Atomic unsigned timeout_s;        /* the idle timeout now */
	_Atomic unsigned header_timeout_s; /* the request-header deadline now, 0: none */
	uint64_t conn_sweep_ms;            /* when engine_sweep_conns() looks next */
	unsigned timeout_start_s;          /* libmicrohttpd's: fixed when it starts */
	_Atomic uint64_t nofile_logged_ms; /* the last "out of descriptors" line logged */
	_Atomic unsigned nofile_dropped;    /* and the ones not logged since */

	struct { serviced_on_state fn; void *cls; } observers[ENGINE_MAX_OBSERVERS];
	unsigned n_observers;
	struct engine_hook hooks[ENGINE_MAX_HOOKS];
	unsigned n_hooks;
	struct engine_watch watches[ENGINE_MAX_WATCHES];
	struct engine_tick ticks[ENGINE_MAX_TICKS];
	unsigned n_ticks;
	struct { engine_cleanup_fn fn; void *cls; } cleanups[ENGINE_MAX_CLEANUPS];
	unsigned n_cleanups;
	uint64_t started_ms;
	int exit_status;
	_Atomic bool knobs_changed; /* tell the observers on the engine thread */
	serviced_reload_fn reload;
	void *reload_cls;
	pthread_mutex_t reload_lock; /* one reload at a time, from any door */
	bool hup_reloads;            /* SIGHUP is in the signalfd for reloads */
	struct { engine_reload_observer fn; void *cls; } reload_observers[ENGINE_MAX_OBSERVERS];
	unsigned n_reload_observers;
};

/* The connection whose handler is running on this thread, for stream bookkeeping. */
static _Thread_local struct conn *engine_current;
/* Connections owned by the libmicrohttpd worker running on this thread. */
static _Thread_local unsigned engine_worker_conns;
/* Odd while this thread runs the application's code (conn.h, worker_app). */
static _Thread_local _Atomic uint64_t engine_app_gen;

static const struct { unsigned bit; int signo; const char *name; } engine_signals[] = {
	{ SERVICED_SIG_TERM, SIGTERM, "SIGTERM" }, { SERVICED_SIG_INT, SIGINT, "SIGINT" },
	{ SERVICED_SIG_QUIT, SIGQUIT, "SIGQUIT" }, { SERVICED_SIG_HUP, SIGHUP, "SIGHUP" },
	{ SERVICED_SIG_USR1, SIGUSR1, "SIGUSR1" }, { SERVICED_SIG_USR2, SIGUSR2, "SIGUSR2" },
};

/* ---- small helpers ---------------------------------------------------------------- */

static const char *engine_signal_name(int signo)
{
	for (size_t i = 0; i < sizeof engine_signals / sizeof engine_signals[0]; i++)
		if (engine_signals[i].signo == signo)
			return engine_signals[i].name;
	return "signal";
}

uint64_t engine_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void engine_log(serviced *s, int priority, const char *fmt, ...)
{
	char line[768];
	va_list ap;

	if (!s->logger)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	s->logger(s->logger_cls, priority, line);
}

int engine_error(struct serviced_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (err) {
		err->code = code;
		va_start(ap, fmt);
		vsnprintf(err->message, sizeof err->message, fmt, ap);
		va_end(ap);
	}
	return code;
}

const char *engine_client_address(struct MHD_Connection *c, char *buf, size_t size)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;

	snprintf(buf, size, "-");
	if (sa && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf, (socklen_t)size);
	else if (sa && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, buf,
			  (socklen_t)size);
	return buf;
}

void engine_deadline(struct timespec *until, uint64_t ms)
{
	clock_gettime(CLOCK_MONOTONIC, until);
	until->tv_sec += (time_t)(ms / 1000);
	until->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (until->tv_nsec >= 1000000000L) {
		until->tv_sec++;
		until->tv_nsec -= 1000000000L;
	}
}

int engine_add_cleanup(serviced *s, engine_cleanup_fn fn, void *cls)
{
	if (s->n_cleanups >= ENGINE_MAX_CLEANUPS)
		return -ENOSPC;
	s->cleanups[s->n_cleanups].fn = fn;
	s->cleanups[s->n_cleanups].cls = cls;
	s->n_cleanups++;
	return 0;
}

static void engine_wake(serviced *s)
{
	uint64_t one = 1;

	/* Only fails when the counter is saturated: then the engine is awake anyway. */
	if (write(s->wakefd, &one, sizeof one) < 0)
		return;
}

static uint64_t engine_unreported(serviced *s);

/* What the lifecycle needs to know. A connection passes from fresh to in flight (a request
 * came: in flight is counted up before fresh down) and from in flight back to fresh (a
 * response built before grace ended: fresh up before in flight down); from unreported to
 * fresh (fresh up before it is counted open). So the in-flight count is read before and
 * after the fresh one, and libmicrohttpd's unreported connections before both: whichever
 * way a connection is passing, one of the reads sees it. unreported: on the engine thread
 * only, in grace (engine_unreported). */
static void engine_load(serviced *s, struct lifecycle_load *load, bool unreported)
{
	uint64_t in_flight = counts_in_flight(&s->counts), again;

	load->connections_fresh = unreported ? engine_unreported(s) : 0;
	load->connections_fresh += atomic_load(&s->reg.fresh);
	again = counts_in_flight(&s->counts);
	load->requests_in_flight = again > in_flight ? again : in_flight;
	load->connections_open = atomic_load(&s->conns_open);
	load->accepting = atomic_load(&s->accepting);
}

static struct conn *engine_conn_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci ? ci->socket_context : NULL;
}

/* Around every call into the application's code on a worker: for the force bound, and
 * for grace's sweep, which may close at once an idle connection whose worker is busy in
 * it (conn_close_idle). */
static void engine_enter_app(serviced *s)
{
	counts_enter_app(counts_mine(&s->counts));
	atomic_store(&engine_app_gen, atomic_load_explicit(&engine_app_gen, memory_order_relaxed) + 1);
}

static void engine_leave_app(serviced *s)
{
	atomic_store(&engine_app_gen, atomic_load_explicit(&engine_app_gen, memory_order_relaxed) + 1);
	counts_leave_app(counts_mine(&s->counts));
}

/* ---- the lifecycle's observer: runs under s->lock, from any thread ---------------- */

static void engine_on_transition(void *cls, const struct lifecycle *lc, enum serviced_state from,
				 enum serviced_state to)
{
	serviced *s = cls;
	unsigned next = (s->ring_tail + 1) % ENGINE_RING;

	(void)lc;
	atomic_store(&s->state, to);
	if (to == SERVICED_STATE_GRACE) {
		uint64_t one = 1;

		/* Handlers polling serviced_shutdown_fd() learn of it now, not at the next tick. */
		if (write(s->shutfd, &one, sizeof one) < 0)
			(void)0;
	}
	if (next == s->ring_head) /* full: a reaction is lost, the state itself is not */
		s->ring_head = (s->ring_head + 1) % ENGINE_RING;
	s->ring[s->ring_tail].from = from;
	s->ring[s->ring_tail].to = to;
	s->ring_tail = next;
	engine_wake(s);
}

/* ---- libmicrohttpd callbacks: run on worker threads ------------------------------- */

/* The length of a socket address libmicrohttpd kept (it copied what accept() returned). */
static socklen_t engine_addr_len(const struct sockaddr *sa)
{
	return sa->sa_family == AF_INET6 ? (socklen_t)sizeof(struct sockaddr_in6) :
	       sa->sa_family == AF_INET	 ? (socklen_t)sizeof(struct sockaddr_in) :
					   (socklen_t)sizeof(struct sockaddr);
}

/* Counts a refused connection and logs it, at most once a second. */
static void engine_refused(serviced *s, const struct admit_key *k, enum admit_verdict v)
{
	char addr[ADMIT_KEY_TEXT] = "-", why[96], more[48] = "";
	unsigned limit, per_address, unlogged;

	if (!admit_refused(&s->admit, engine_now_ms(), &unlogged))
		return;
	admit_get_limits(&s->admit, &limit, &per_address);
	if (k)
		admit_key_format(k, addr, sizeof addr);
	if (v == ADMIT_FULL)
		snprintf(why, sizeof why, "connection limit (%u) reached", limit);
	else if (v == ADMIT_ADDRESS_FULL)
		snprintf(why, sizeof why, "per-address connection limit (%u) reached", per_address);
	else
		snprintf(why, sizeof why, "out of memory counting client addresses");
	if (unlogged)
		snprintf(more, sizeof more, " (and %u more since the last such line)", unlogged);
	engine_log(s, LOG_WARNING, "refused a connection from %s: %s%s", addr, why, more);
}

/* Gives the connection the idle timeout now in force, when it has another. Connections
 * whose timeout differs from the one libmicrohttpd started with go on its "manual" timeout
 * list, which each worker scans whole at every wake-up (the normal list is sorted and
 * looked at from its end): so a connection is moved only when the value has changed, and a
 * changed timeout costs that scan until the next start. Only ever called from the
 * connection's own callbacks: from another thread, MHD_set_connection_option() corrupts
 * the lists (MHD-NOTES, trap 4). */
static void engine_conn_timeout(serviced *s, struct conn *c, struct MHD_Connection *connection)
{
	unsigned t = atomic_load_explicit(&s->timeout_s, memory_order_relaxed);

	if (t == c->timeout_s)
		return;
	MHD_set_connection_option(connection, MHD_CONNECTION_OPTION_TIMEOUT, t);
	c->timeout_s = t;
}

/* libmicrohttpd's accept policy: runs on the accept path of a worker, before libmicrohttpd
 * makes the connection; a refusal closes the socket at once. No allocation here. */
static enum MHD_Result engine_accept_policy(void *cls, const struct sockaddr *addr,
					    socklen_t addrlen)
{
	serviced *s = cls;
	struct admit_key k;
	bool ip = admit_key_from(addr, addrlen, &k);
	enum admit_verdict v = admit_check(&s->admit, ip ? &k : NULL);

	if (v == ADMIT_OK) {
		atomic_fetch_add(&s->handing_over, 1);
		atomic_store(&s->handed_ms, engine_now_ms());
		return MHD_YES;
	}
	engine_refused(s, ip ? &k : NULL, v);
	return MHD_NO;
}

static void engine_notify_connection(void *cls, struct MHD_Connection *connection,
				     void **socket_context, enum MHD_ConnectionNotificationCode toe)
{
	serviced *s = cls;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		atomic_fetch_sub(&s->handing_over, 1);
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
		struct conn *c = conn_add(&s->reg, connection, ci ? ci->connect_fd : -1,
					  engine_now_ms());
		enum admit_verdict v;

		*socket_context = c;
		engine_worker_conns++;
		if (c)
			c->worker_app = &engine_app_gen; /* this worker's: it owns the connection */
		atomic_fetch_add(&s->conns_open, 1);
		if (!c) {
			/* Untracked, it would be served by no one (engine_access refuses it). */
			engine_log(s, LOG_ERR, "out of memory tracking a connection");
			if (ci)
				shutdown(ci->connect_fd, SHUT_RDWR);
			return;
		}
		/* The authoritative count: two workers may both have passed the accept policy
		 * for the last place; the one that comes second is closed here, unserved. */
		ci = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		c->has_key = ci && ci->client_addr &&
			     admit_key_from(ci->client_addr, engine_addr_len(ci->client_addr),
					    &c->key);
		v = admit_enter(&s->admit, c->has_key ? &c->key : NULL);
		if (v != ADMIT_OK) {
			c->refused = true;
			conn_close(&s->reg, c);
			engine_refused(s, c->has_key ? &c->key : NULL, v);
			return;
		}
		c->admitted = true;
		atomic_fetch_add(&s->connections_total, 1);
		/* libmicrohttpd has put the connection on its timeout list already. */
		c->timeout_s = s->timeout_start_s;
		engine_conn_timeout(s, c, connection);
		/* Accepted during grace (before the listener closed), it is fresh and grace waits
		 * for its request; from mercy on, every connection is closed. */
		if (atomic_load(&s->state) >= SERVICED_STATE_MERCY)
			conn_close(&s->reg, c);
	} else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
		struct conn *c = *socket_context;
		bool fresh, last;

		if (c && c->admitted)
			admit_leave(&s->admit, c->has_key ? &c->key : NULL);
		fresh = conn_remove(&s->reg, c);
		last = atomic_fetch_sub(&s->conns_open, 1) == 1;

		if (engine_worker_conns > 0)
			engine_worker_conns--;
		*socket_context = NULL;
		/* A drain waits for the last connection (mercy) or the last fresh one (grace). */
		if (atomic_load(&s->state) >= SERVICED_STATE_GRACE &&
		    (last || (fresh && atomic_load(&s->reg.fresh) == 0)))
			engine_wake(s);
	}
}

/* The first callback of a request: it begins the request's accounting. Its result
 * becomes the request's context: the connection's record, so no allocation per request. */
static void *engine_uri_log(void *cls, const char *uri, struct MHD_Connection *connection)
{
	serviced *s = cls;
	struct conn *c = engine_conn_of(connection);

	(void)uri;
	if (!c || c->refused) /* no context: the access handler refuses, the handler never runs */
		return NULL;
	/* Only the request line has come: the request is not in flight until its headers are
	 * complete (engine_access), and the header deadline still runs. */
	conn_line_seen(c, engine_now_ms());
	c->counted = false;
	c->ended_early = false;
	engine_conn_timeout(s, c, connection);
	if (atomic_load_explicit(&c->cancelled, memory_order_relaxed))
		atomic_store(&c->cancelled, false);
	c->close_marked = false;
	atomic_store_explicit(&c->has_stream, false, memory_order_relaxed);
	c->app_cls = NULL;
	return c;
}

static void engine_completed(void *cls, struct MHD_Connection *connection, void **req_cls,
			     enum MHD_RequestTerminationCode toe)
{
	serviced *s = cls;
	struct conn *c = *req_cls;
	enum counts_outcome how = COUNTS_COMPLETED;
	uint64_t now;
	int st;

	if (!c)
		return;
	*req_cls = NULL;
	if (!c->counted) { /* its headers never came whole: no request began */
		conn_end_request(c, engine_now_ms());
		return;
	}
	if (s->completed) {
		engine_enter_app(s);
		s->completed(s->completed_cls, connection, &c->app_cls, toe);
		engine_leave_app(s);
	}
	/* Not sent whole: the server's doing when the drain had closed the connection under
	 * the request (mercy) or libmicrohttpd stopped; otherwise the client's (it went away,
	 * or outlasted the idle timeout). The drain closes a busy connection no other way.
	 * Sent whole but ended by the drain (a stream at mercy, a suspended request answered
	 * 503) is cut too: the application's answer was not given. */
	if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
		how = toe == MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN ||
				      atomic_load(&c->phase) == CONN_CLOSING ?
			      COUNTS_CUT :
			      COUNTS_ABORTED;
	else if (c->ended_early || atomic_load(&c->cancelled))
		how = COUNTS_CUT;
	now = engine_now_ms();
	conn_end_request(c, now);
	/* Read once the request has left busy: grace's sweep of idle connections either saw
	 * it idle or began before this read. A response built before grace carried no
	 * "Connection: close", and the client may have sent its next request already: the
	 * connection is made fresh again and its read side shut (as grace does to an idle
	 * one), before this request stops counting, so grace cannot end between the two. */
	st = atomic_load(&s->state);
	if (st >= SERVICED_STATE_GRACE && !c->close_marked && c->fd >= 0)
		conn_refresh(&s->reg, c, now);
	counts_end(counts_mine(&s->counts), st, how);
	/* Of two workers ending their last requests at once, the later sees both ends. */
	if (st >= SERVICED_STATE_GRACE && counts_in_flight(&s->counts) == 0)
		engine_wake(s);
}

/* From grace on, every response carries "Connection: close". libmicrohttpd honours a
 * request's "close" token when it builds the reply; adding it to this request's headers
 * touches only this connection, unlike changing a shared response. */
static void engine_mark_close(serviced *s, struct conn *c, struct MHD_Connection *connection)
{
	if (c->close_marked ||
	    atomic_load_explicit(&s->state, memory_order_relaxed) < SERVICED_STATE_GRACE)
		return;
	c->close_marked = MHD_set_connection_value(connection, MHD_HEADER_KIND,
						   MHD_HTTP_HEADER_CONNECTION, "close") == MHD_YES;
}

static enum MHD_Result engine_access(void *cls, struct MHD_Connection *connection,
				     const char *url, const char *method, const char *version,
				     const char *upload_data, size_t *upload_data_size,
				     void **req_cls)
{
	serviced *s = cls;
	struct conn *c = *req_cls;
	enum MHD_Result r;

	if (!c) /* no URI callback ran: cannot happen with libmicrohttpd >= 0.9.71 */
		return MHD_NO;
	if (!c->counted) {
		const char *te;

		/* The first call: the headers are complete, the request is in flight now. A
		 * connection the drain has shut down takes none: a request that reached it
		 * after that is refused unanswered, never run and left with no way to answer. */
		counts_begin(counts_mine(&s->counts)); /* before it stops being fresh: engine_load */
		if (!conn_begin_request(&s->reg, c)) {
			counts_cancel(counts_mine(&s->counts));
			return MHD_NO;
		}
		c->counted = true;
		/* libmicrohttpd 0.9.75 takes any other coding for a body of unknown length and
		 * hands it the rest of the connection: the request would never end. Queued on
		 * the first call, the answer closes the connection and its body is dropped. */
		te = MHD_lookup_connection_value(connection, MHD_HEADER_KIND,
						 MHD_HTTP_HEADER_TRANSFER_ENCODING);
		if (te && strcasecmp(te, "chunked") != 0)
			return MHD_queue_response(connection, MHD_HTTP_NOT_IMPLEMENTED, s->resp_501);
	}
	if (atomic_load(&c->cancelled)) {
		/* Resumed by the engine at mercy: the application is not called again. The flag
		 * stays until the next request, so mercy's sweep leaves the answer to go out. */
		return MHD_queue_response(connection, MHD_HTTP_SERVICE_UNAVAILABLE, s->resp_503);
	}
	engine_mark_close(s, c, connection);
	engine_current = c;
	engine_enter_app(s);
	r = s->handler(s->handler_cls, connection, url, method, version, upload_data,
		       upload_data_size, &c->app_cls);
	engine_leave_app(s);
	engine_current = NULL;
	/* Grace may have begun while the handler ran; the reply is built after it returns. */
	engine_mark_close(s, c, connection);
	return r;
}

static bool engine_nofile(int err)
{
	return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
}

/* libmicrohttpd (0.9.75) pauses accept() on EMFILE only in a worker that has connections
 * of its own, resuming when one closes; a worker with none retries at once, forever, and
 * logs every failure. That worker has nothing else to do: its retry waits here, 100 ms or
 * until grace begins (the listener is quiesced then, and accept() no longer tried). Lines
 * about the shortage are logged once a second, with the count of those left out. */
static void engine_mhd_log(void *cls, const char *fmt, va_list ap)
{
	serviced *s = cls;
	int err = errno; /* the failed call's, when the message is about one */
	uint64_t now;
	unsigned dropped;
	char line[512];
	size_t n;

	if (engine_nofile(err)) {
		if (engine_worker_conns == 0) {
			struct pollfd p = { .fd = s->shutfd, .events = POLLIN };

			poll(&p, 1, 100);
		}
		now = engine_now_ms();
		if (now - atomic_load(&s->nofile_logged_ms) < 1000) {
			atomic_fetch_add(&s->nofile_dropped, 1);
			errno = err;
			return;
		}
		atomic_store(&s->nofile_logged_ms, now);
	}
	vsnprintf(line, sizeof line, fmt, ap);
	n = strlen(line);
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	dropped = engine_nofile(err) ? atomic_exchange(&s->nofile_dropped, 0) : 0;
	if (dropped)
		engine_log(s, LOG_WARNING, "libmicrohttpd: %s (and %u more)", line, dropped);
	else
		engine_log(s, LOG_WARNING, "libmicrohttpd: %s", line);
	errno = err; /* MHD may log twice about one failure: the second sees it too */
}

/* ---- streams and suspension ------------------------------------------------------ */

struct engine_stream {
	serviced *s;
	struct conn *c; /* the connection it answers, when made by its handler */
	unsigned flags;
	MHD_ContentReaderCallback reader;
	void *cls;
	MHD_ContentReaderFreeCallback free_cb;
};

static ssize_t engine_stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct engine_stream *st = cls;
	int state = atomic_load_explicit(&st->s->state, memory_order_relaxed);
	ssize_t n;

	/* Ending the stream (rather than erroring) sends the chunked terminator: the client
	 * sees a complete response. */
	if (state >= SERVICED_STATE_MERCY ||
	    (state >= SERVICED_STATE_GRACE && (st->flags & SERVICED_STREAM_CANCEL_ON_SHUTDOWN))) {
		/* Asked to end at grace, it has done what it promised; ended by mercy, it was
		 * cut short (read on the connection's own thread, like the reader). */
		if (state >= SERVICED_STATE_MERCY && !(st->flags & SERVICED_STREAM_CANCEL_ON_SHUTDOWN) &&
		    st->c)
			st->c->ended_early = true;
		return MHD_CONTENT_READER_END_OF_STREAM;
	}
	engine_enter_app(st->s);
	n = st->reader(st->cls, pos, buf, max);
	engine_leave_app(st->s);
	return n;
}

static void engine_stream_free(void *cls)
{
	struct engine_stream *st = cls;

	if (st->free_cb) {
		engine_enter_app(st->s);
		st->free_cb(st->cls);
		engine_leave_app(st->s);
	}
	atomic_fetch_sub(&st->s->streams, 1);
	free(st);
}

struct MHD_Response *serviced_stream_response(serviced *s, unsigned flags,
					      MHD_ContentReaderCallback reader, void *cls,
					      MHD_ContentReaderFreeCallback free_cb)
{
	struct engine_stream *st = calloc(1, sizeof *st);
	struct MHD_Response *r;

	if (!st)
		return NULL;
	st->s = s;
	st->flags = flags;
	st->reader = reader;
	st->cls = cls;
	st->free_cb = free_cb;
	r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, engine_stream_read, st,
					      engine_stream_free);
	if (!r) {
		free(st);
		return NULL;
	}
	atomic_fetch_add(&s->streams, 1);
	st->c = engine_current;
	if (engine_current)
		atomic_store(&engine_current->has_stream, true);
	return r;
}

void serviced_suspend(serviced *s, struct MHD_Connection *connection)
{
	struct conn *c = engine_conn_of(connection);

	if (!c)
		return;
	pthread_mutex_lock(&s->reg.lock);
	if (atomic_load(&s->state) >= SERVICED_STATE_MERCY) {
		/* Too late to wait: the next handler call answers 503 instead. */
		atomic_store(&c->cancelled, true);
	} else {
		c->suspended = true;
		atomic_fetch_add(&s->suspended, 1);
		MHD_suspend_connection(connection);
	}
	pthread_mutex_unlock(&s->reg.lock);
}

void serviced_resume(serviced *s, struct MHD_Connection *connection)
{
	struct conn *c = engine_conn_of(connection);

	if (!c)
		return;
	pthread_mutex_lock(&s->reg.lock);
	if (c->suspended) {
		c->suspended = false;
		atomic_fetch_sub(&s->suspended, 1);
		MHD_resume_connection(connection);
	}
	pthread_mutex_unlock(&s->reg.lock);
}

/* ---- options, creation ------------------------------------------------------------ */

void serviced_options_init(struct serviced_options *o)
{
	memset(o, 0, sizeof *o);
	o->listen = "127.0.0.1:8080";
	o->listen_fd = -1;
	o->grace_ms = 10000;
	o->mercy_ms = 5000;
	o->force_ms = 1000;
	o->signals = SERVICED_SIG_TERM | SERVICED_SIG_INT;
	o->connection_limit = 1024;
	o->connection_timeout_s = 60;
	o->header_timeout_s = 10;
	/* libmicrohttpd zeroes the whole pool after every request: its size is paid per
	 * request, and per idle connection. 16 KiB still takes 14 KiB of headers. */
	o->connection_memory = 16 * 1024;
}

/* -EINVAL with err saying which value is out of range, or 0. */
static int engine_check_limits(const struct serviced_limits *l, struct serviced_error *err)
{
	if (l->connections < 1 || l->connections > SERVICED_LIMIT_MAX)
		return engine_error(err, -EINVAL, "connection limit %u: expected 1 to %u",
				    l->connections, SERVICED_LIMIT_MAX);
	if (l->connections_per_ip > SERVICED_LIMIT_MAX)
		return engine_error(err, -EINVAL, "connection limit per address %u: expected 0 to %u",
				    l->connections_per_ip, SERVICED_LIMIT_MAX);
	if (l->timeout_s > SERVICED_TIMEOUT_MAX)
		return engine_error(err, -EINVAL, "idle timeout %us: expected 0 to %u",
				    l->timeout_s, SERVICED_TIMEOUT_MAX);
	if (l->header_timeout_s > SERVICED_TIMEOUT_MAX)
		return engine_error(err, -EINVAL, "request-header deadline %us: expected 0 to %u",
				    l->header_timeout_s, SERVICED_TIMEOUT_MAX);
	return 0;
}

int serviced_new(serviced **out, const struct serviced_options *o, serviced_handler handler,
		 void *handler_cls, struct serviced_error *err)
{
	struct serviced_limits limits;
	serviced *s;
	int r;

	*out = NULL;
	if (!handler)
		return engine_error(err, -EINVAL, "no access handler given");
	if (o) {
		limits = (struct serviced_limits){ .connections = o->connection_limit,
						   .connections_per_ip = o->per_ip_connection_limit,
						   .timeout_s = o->connection_timeout_s,
						   .header_timeout_s = o->header_timeout_s };
		if ((r = engine_check_limits(&limits, err)) < 0)
			return r;
	}
	/* Aligned for the counter shards, each on cache lines of its own. */
	s = aligned_alloc(_Alignof(serviced), sizeof *s);
	if (!s)
		return engine_error(err, -ENOMEM, "out of memory");
	memset(s, 0, sizeof *s);
	if (o)
		s->opt = *o;
	else
		serviced_options_init(&s->opt);
	s->listen_spec = strdup(s->opt.listen ? s->opt.listen : "127.0.0.1:8080");
	if (!s->listen_spec) {
		free(s);
		return engine_error(err, -ENOMEM, "out of memory");
	}
	s->opt.listen = s->listen_spec;
	s->handler = handler;
	s->handler_cls = handler_cls;
	s->listen_fd = -1;
	atomic_init(&s->accepting, true);
	s->epfd = s->sigfd = s->wakefd = s->shutfd = -1;
	for (int i = 0; i < ENGINE_MAX_WATCHES; i++)
		s->watches[i].fd = -1;
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->reload_lock, NULL);
	conn_registry_init(&s->reg);
	if (admit_init(&s->admit, s->opt.connection_limit, s->opt.per_ip_connection_limit) < 0) {
		serviced_free(s);
		return engine_error(err, -ENOMEM, "out of memory");
	}
	s->timeout_start_s = s->opt.connection_timeout_s;
	atomic_init(&s->timeout_s, s->timeout_start_s);
	atomic_init(&s->header_timeout_s, s->opt.header_timeout_s);
	{
		uint64_t knobs[SERVICED_KNOB_COUNT_] = {
			[SERVICED_KNOB_DRAIN_DELAY] = s->opt.drain_delay_ms,
			[SERVICED_KNOB_GRACE] = s->opt.grace_ms,
			[SERVICED_KNOB_MERCY] = s->opt.mercy_ms,
			[SERVICED_KNOB_FORCE] = s->opt.force_ms,
		};
		s->started_ms = engine_now_ms();
		lifecycle_init(&s->lc, knobs, s->started_ms, engine_on_transition, s);
	}
	/* The eventfd for "grace began" exists from the start, so handlers may poll it. */
	s->shutfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	s->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->shutfd < 0 || s->wakefd < 0) {
		int e = -errno;

		serviced_free(s);
		return engine_error(err, e, "eventfd: %s", strerror(-e));
	}
	*out = s;
	return 0;
}

void serviced_free(serviced *s)
{
	if (!s)
		return;
	for (unsigned i = s->n_cleanups; i-- > 0;)
		s->cleanups[i].fn(s->cleanups[i].cls);
	if (s->mhd) {
		/* Never stop an unquiesced daemon on an inherited socket: MHD would shut the
		 * shared socket down for the next instance. */
		if (!s->quiesced)
			MHD_quiesce_daemon(s->mhd);
		MHD_stop_daemon(s->mhd);
	}
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	if (s->resp_503)
		MHD_destroy_response(s->resp_503);
	if (s->resp_501)
		MHD_destroy_response(s->resp_501);
	for (int fd_i = 0; fd_i < 4; fd_i++) {
		int fd = fd_i == 0 ? s->epfd : fd_i == 1 ? s->sigfd : fd_i == 2 ? s->wakefd : s->shutfd;

		if (fd >= 0)
			close(fd);
	}
	conn_registry_destroy(&s->reg);
	admit_destroy(&s->admit);
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->reload_lock);
	free(s->listen_spec);
	free(s);
}

void serviced_set_handler_cls(serviced *s, void *cls)
{
	s->handler_cls = cls;
}

void serviced_set_logger(serviced *s, serviced_logger fn, void *cls)
{
	s->logger = fn;
	s->logger_cls = cls;
}

void serviced_set_completed(serviced *s, serviced_completed fn, void *cls)
{
	s->completed = fn;
	s->completed_cls = cls;
}

int serviced_add_state_observer(serviced *s, serviced_on_state fn, void *cls)
{
	if (s->n_observers >= ENGINE_MAX_OBSERVERS)
		return -ENOSPC;
	s->observers[s->n_observers].fn = fn;
	s->observers[s->n_observers].cls = cls;
	s->n_observers++;
	return 0;
}

int serviced_add_hook(serviced *s, const char *name, serviced_hook fn, void *cls,
		      uint64_t timeout_ms)
{
	struct engine_hook *h;

	if (!fn)
		return -EINVAL;
	if (s->n_hooks >= ENGINE_MAX_HOOKS)
		return -ENOSPC;
	h = &s->hooks[s->n_hooks++];
	snprintf(h->name, sizeof h->name, "%s", name ? name : "hook");
	h->fn = fn;
	h->cls = cls;
	h->timeout_ms = timeout_ms;
	return 0;
}

/* ---- binding ---------------------------------------------------------------------- */

/* Splits "ADDR:PORT" or "[V6]:PORT" into a socket address. */
static int engine_parse_listen(const char *spec, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon, *h;
	size_t hl;
	struct addrinfo hints, *ai;
	char *end;
	long port;

	if (spec[0] == '[') {
		const char *close = strchr(spec, ']');

		if (!close || close[1] != ':')
			return -EINVAL;
		h = spec + 1;
		hl = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(spec, ':');
		if (!colon)
			return -EINVAL;
		h = spec;
		hl = (size_t)(colon - spec);
	}
	if (hl >= sizeof host)
		return -EINVAL;
	memcpy(host, h, hl);
	host[hl] = '\0';
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno || *end || end == colon + 1 || port < 0 || port > 65535)
		return -EINVAL;
	memset(&hints, 0, sizeof hints);
	hints.ai_flags = AI_NUMERICHOST | AI_PASSIVE | AI_NUMERICSERV;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(hl == 0 || strcmp(host, "*") == 0 ? NULL : host, colon + 1, &hints, &ai))
		return -EINVAL;
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

int engine_listen(const char *spec, const char *what, int backlog, struct serviced_error *err)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1;

	if (engine_parse_listen(spec, &ss, &len) < 0)
		return engine_error(err, -EINVAL, "%s address '%s': expected ADDR:PORT or [ADDR]:PORT",
				    what, spec);
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return engine_error(err, -errno, "%s %s: socket: %s", what, spec, strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, backlog) < 0) {
		int e = errno;

		close(fd);
		return engine_error(err, -e, "%s %s: %s", what, spec, strerror(e));
	}
	return fd;
}

void engine_describe_socket(int fd, char *buf, size_t size)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	char host[INET6_ADDRSTRLEN];

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
		snprintf(buf, size, "fd %d", fd);
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
		snprintf(buf, size, "[%s]:%u", host, ntohs(a->sin6_port));
	} else if (ss.ss_family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
		snprintf(buf, size, "%s:%u", host, ntohs(a->sin_port));
	} else {
		snprintf(buf, size, "fd %d", fd);
	}
}

const char *serviced_listen_address(const serviced *s)
{
	return s->bound;
}

/* libmicrohttpd's own connection limit: only a ceiling, the admission policy enforces the
 * live one. In a thread pool libmicrohttpd gives each worker an equal share of it, and a
 * worker at its share stops accepting: so each share must reach the most connections the
 * process could ever hold, which is at least its descriptor limit. A live limit raised past
 * that would be bounded by descriptors first (EMFILE, see engine_mhd_log). */
static unsigned engine_mhd_limit(unsigned limit, unsigned threads)
{
	struct rlimit rl;
	uint64_t share = limit;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur > share)
		share = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > UINT_MAX ? UINT_MAX :
										  rl.rlim_cur;
	share *= threads;
	return share > UINT_MAX ? UINT_MAX : (unsigned)share;
}

static unsigned engine_threads(const serviced *s)
{
	long n;

	if (s->opt.threads > 0)
		return s->opt.threads;
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1;
}

int serviced_start(serviced *s, struct serviced_error *err)
{
	struct epoll_event ev = { .events = EPOLLIN };
	unsigned threads = engine_threads(s);
	static const char busy[] = "Service Unavailable: shutting down\n";
	static const char coding[] = "Not Implemented: transfer coding\n";
	struct serviced_limits limits;
	int r;

	if (s->started)
		return engine_error(err, -EALREADY, "already started");
	/* Signals arrive through a signalfd on the engine thread; blocking them here, before
	 * MHD makes its workers, keeps any worker from taking them. */
	sigemptyset(&s->sigmask);
	for (size_t i = 0; i < sizeof engine_signals / sizeof engine_signals[0]; i++)
		if (s->opt.signals & engine_signals[i].bit)
			sigaddset(&s->sigmask, engine_signals[i].signo);
	/* After a stop (SIGSTOP, a debugger), responses cut short mid-send are woken at once
	 * (conn_kick_busy); continuing does not wait for the signal to be read. */
	sigaddset(&s->sigmask, SIGCONT);
	/* SIGHUP reloads, by the habit of every daemon, unless it was made a shutdown signal. */
	if (s->reload && !(s->opt.signals & SERVICED_SIG_HUP)) {
		sigaddset(&s->sigmask, SIGHUP);
		s->hup_reloads = true;
	}
	if (pthread_sigmask(SIG_BLOCK, &s->sigmask, NULL) != 0)
		return engine_error(err, -EINVAL, "cannot block signals");
	/* A write to a peer that has gone (a log on a closed pipe, a client) must fail with
	 * EPIPE, not end the process mid-drain. An application's own choice stays. */
	{
		struct sigaction pipe_sa;

		if (sigaction(SIGPIPE, NULL, &pipe_sa) == 0 && pipe_sa.sa_handler == SIG_DFL) {
			pipe_sa.sa_handler = SIG_IGN;
			sigaction(SIGPIPE, &pipe_sa, NULL);
		}
	}
	s->sigfd = signalfd(-1, &s->sigmask, SFD_CLOEXEC | SFD_NONBLOCK);
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (s->sigfd < 0 || s->epfd < 0)
		return engine_error(err, -errno, "signalfd/epoll: %s", strerror(errno));
	ev.data.u64 = UINT64_MAX;
	epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->sigfd, &ev);
	ev.data.u64 = UINT64_MAX - 1;
	epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->wakefd, &ev);

	if (s->opt.listen_fd >= 0) {
		s->listen_fd = s->opt.listen_fd;
		s->listen_owned = false;
	} else if ((r = engine_listen(s->listen_spec, "listen", ENGINE_BACKLOG, err)) < 0) {
		return r;
	} else {
		s->listen_fd = r;
		s->listen_owned = true;
	}
	engine_describe_socket(s->listen_fd, s->bound, sizeof s->bound);

	s->resp_503 = MHD_create_response_from_buffer(sizeof busy - 1, (void *)busy,
						      MHD_RESPMEM_PERSISTENT);
	s->resp_501 = MHD_create_response_from_buffer(sizeof coding - 1, (void *)coding,
						      MHD_RESPMEM_PERSISTENT);
	if (!s->resp_503 || !s->resp_501 ||
	    MHD_add_response_header(s->resp_503, MHD_HTTP_HEADER_CONNECTION, "close") != MHD_YES ||
	    MHD_add_response_header(s->resp_501, MHD_HTTP_HEADER_CONNECTION, "close") != MHD_YES)
		return engine_error(err, -ENOMEM, "out of memory");
	/* The limits as they are now (serviced_set_limits() may have run since serviced_new()). */
	serviced_get_limits(s, &limits);
	s->timeout_start_s = limits.timeout_s;

	{
		struct MHD_OptionItem ops[] = {
			/* The logger first, or MHD reports the options before it on stderr. */
			{ MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)engine_mhd_log, s },
			{ MHD_OPTION_LISTEN_SOCKET, s->listen_fd, NULL },
			{ MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)engine_notify_connection, s },
			{ MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)engine_completed, s },
			{ MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)engine_uri_log, s },
			/* The limits are the engine's (engine_accept_policy); libmicrohttpd's
			 * per-address limit stays 0 (none). */
			{ MHD_OPTION_CONNECTION_LIMIT, engine_mhd_limit(limits.connections, threads),
			  NULL },
			{ MHD_OPTION_CONNECTION_TIMEOUT, s->timeout_start_s, NULL },
			{ MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t)s->opt.connection_memory, NULL },
			{ threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, threads, NULL },
			{ MHD_OPTION_END, 0, NULL },
		};
		/* The fast mode of MHD-NOTES: an epoll thread pool; ITC so that quiesce works;
		 * suspend/resume for asynchronous handlers. */
		unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC |
				 MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;

		sigset_t all, mine;

		/* The workers inherit a mask that blocks every signal: a signal handled on a
		 * worker interrupts its sendfile(), which libmicrohttpd 0.9.75 takes for a full
		 * socket buffer, and the download then waits for good. Signals for the process
		 * go to a thread that does no I/O for libmicrohttpd. */
		sigfillset(&all);
		pthread_sigmask(SIG_BLOCK, &all, &mine);
		s->mhd = MHD_start_daemon(flags, 0, engine_accept_policy, s, engine_access, s,
					  MHD_OPTION_ARRAY, ops, MHD_OPTION_END);
		pthread_sigmask(SIG_SETMASK, &mine, NULL);
	}
	if (!s->mhd)
		return engine_error(err, -EIO, "listen %s: libmicrohttpd failed to start", s->bound);
	s->started = true;
	engine_log(s, LOG_INFO, "listening on http://%s (%u threads)", s->bound, threads);
	return 0;
}

/* ---- the lifecycle, from any thread ----------------------------------------------- */

int serviced_shutdown(serviced *s, enum serviced_trigger by, bool now)
{
	struct lifecycle_load load;
	int r;

	engine_load(s, &load, false);
	pthread_mutex_lock(&s->lock);
	r = lifecycle_trigger(&s->lc, by, now, engine_now_ms(), &load);
	pthread_mutex_unlock(&s->lock);
	return r;
}

int serviced_cancel(serviced *s)
{
	int r;

	pthread_mutex_lock(&s->lock);
	r = lifecycle_cancel(&s->lc, engine_now_ms());
	pthread_mutex_unlock(&s->lock);
	return r;
}

uint64_t serviced_get_knob(serviced *s, enum serviced_knob k)
{
	uint64_t v;

	if ((unsigned)k >= SERVICED_KNOB_COUNT_)
		return 0;
	pthread_mutex_lock(&s->lock);
	v = s->lc.knobs[k];
	pthread_mutex_unlock(&s->lock);
	return v;
}

int serviced_set_knob(serviced *s, enum serviced_knob k, uint64_t ms)
{
	struct lifecycle_load load;
	int r;

	engine_load(s, &load, false);
	pthread_mutex_lock(&s->lock);
	r = lifecycle_set_knob(&s->lc, k, ms, engine_now_ms(), &load);
	pthread_mutex_unlock(&s->lock);
	/* The engine thread's wait was computed from the old deadline, and observers (the
	 * systemd notifier's stop timeout) must hear of the change. */
	atomic_store(&s->knobs_changed, true);
	engine_wake(s);
	return r;
}

void serviced_get_limits(serviced *s, struct serviced_limits *l)
{
	admit_get_limits(&s->admit, &l->connections, &l->connections_per_ip);
	l->timeout_s = atomic_load(&s->timeout_s);
	l->header_timeout_s = atomic_load(&s->header_timeout_s);
}

int serviced_set_limits(serviced *s, const struct serviced_limits *l)
{
	if (engine_check_limits(l, NULL) < 0)
		return -EINVAL;
	/* The accept policy and the connection-start check read the new limits at once;
	 * connections pick up the timeout at their next request (engine_uri_log). */
	admit_set_limits(&s->admit, l->connections, l->connections_per_ip);
	atomic_store(&s->timeout_s, l->timeout_s);
	atomic_store(&s->header_timeout_s, l->header_timeout_s);
	engine_wake(s); /* a new header deadline is kept from the next sweep */
	return 0;
}

void serviced_set_reload(serviced *s, serviced_reload_fn fn, void *cls)
{
	s->reload = fn;
	s->reload_cls = cls;
}

int serviced_reload(serviced *s, char *err, size_t errsize)
{
	int r;

	if (!s->reload) {
		snprintf(err, errsize, "reload is not supported by this application");
		return -ENOTSUP;
	}
	pthread_mutex_lock(&s->reload_lock);
	engine_log(s, LOG_INFO, "reloading configuration");
	for (unsigned i = 0; i < s->n_reload_observers; i++)
		s->reload_observers[i].fn(s->reload_observers[i].cls, s, true);
	r = s->reload(s->reload_cls, s, err, errsize);
	if (r < 0)
		engine_log(s, LOG_ERR, "reload failed, configuration unchanged: %s", err);
	else
		engine_log(s, LOG_NOTICE, "configuration reloaded");
	for (unsigned i = 0; i < s->n_reload_observers; i++)
		s->reload_observers[i].fn(s->reload_observers[i].cls, s, false);
	pthread_mutex_unlock(&s->reload_lock);
	return r;
}

int engine_add_reload_observer(serviced *s, engine_reload_observer fn, void *cls)
{
	if (s->n_reload_observers >= ENGINE_MAX_OBSERVERS)
		return -ENOSPC;
	s->reload_observers[s->n_reload_observers].fn = fn;
	s->reload_observers[s->n_reload_observers].cls = cls;
	s->n_reload_observers++;
	return 0;
}

bool serviced_shutting_down(const serviced *s)
{
	return atomic_load_explicit(&s->state, memory_order_relaxed) >= SERVICED_STATE_GRACE;
}

bool serviced_is_ready(const serviced *s)
{
	return atomic_load_explicit(&s->state, memory_order_relaxed) == SERVICED_STATE_RUNNING;
}

int serviced_shutdown_fd(const serviced *s)
{
	return s->shutfd;
}

enum serviced_state serviced_state(const serviced *s)
{
	return atomic_load(&s->state);
}

void serviced_get_counts(const serviced *s, struct serviced_counts *c)
{
	uint64_t in_flight = counts_in_flight(&s->counts), open = atomic_load(&s->conns_open);

	memset(c, 0, sizeof *c);
	c->requests_in_flight = in_flight;
	c->connections_open = open;
	/* A connection carries at most one request at a time; the two reads are not one
	 * instant, so clamp rather than report a negative count. */
	c->connections_idle = open > in_flight ? open - in_flight : 0;
	c->streams_open = atomic_load(&s->streams);
	c->requests_suspended = atomic_load(&s->suspended);
	counts_totals(&s->counts, &c->requests_total, c->completed, c->cut, c->aborted);
	c->connections_total = atomic_load(&s->connections_total);
	c->connections_refused = admit_refused_total(&((serviced *)s)->admit);
}

void serviced_get_status(const serviced *s, struct serviced_status *st)
{
	uint64_t now = engine_now_ms();
	serviced *m = (serviced *)s; /* the lock is not part of the observable state */

	memset(st, 0, sizeof *st);
	pthread_mutex_lock(&m->lock);
	st->state = s->lc.state;
	st->trigger = s->lc.trigger;
	st->phase_remaining_ms = lifecycle_remaining(&s->lc, now);
	st->phase_elapsed_ms = now - s->lc.entered_ms[s->lc.state];
	memcpy(st->knobs_ms, s->lc.knobs, sizeof st->knobs_ms);
	st->exit_status = s->lc.state == SERVICED_STATE_STOPPED ? lifecycle_exit_status(&s->lc) : -1;
	pthread_mutex_unlock(&m->lock);
	st->uptime_ms = now - s->started_ms;
	st->pid = getpid();
	serviced_get_counts(s, &st->counts);
}

/* ---- watches and ticks ------------------------------------------------------------ */

int serviced_watch_fd(serviced *s, int fd, uint32_t events, serviced_fd_cb fn, void *cls)
{
	for (int i = 0; i < ENGINE_MAX_WATCHES; i++) {
		struct engine_watch *w = &s->watches[i];
		struct epoll_event ev;

		if (w->fd >= 0)
			continue;
		w->generation++;
		ev.events = events;
		ev.data.u64 = ((uint64_t)w->generation << 32) | (uint64_t)i;
		if (s->epfd < 0 || epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
			return s->epfd < 0 ? -EBADF : -errno;
		w->fd = fd;
		w->fn = fn;
		w->cls = cls;
		return 0;
	}
	return -ENOSPC;
}

int serviced_unwatch_fd(serviced *s, int fd)
{
	for (int i = 0; i < ENGINE_MAX_WATCHES; i++) {
		struct engine_watch *w = &s->watches[i];

		if (w->fd != fd)
			continue;
		epoll_ctl(s->epfd, EPOLL_CTL_DEL, fd, NULL);
		/* A new generation makes an event already fetched for this slot stale. */
		w->generation++;
		w->fd = -1;
		return 0;
	}
	return -ENOENT;
}

int serviced_add_tick(serviced *s, uint64_t interval_ms, serviced_tick_cb fn, void *cls)
{
	if (!fn || interval_ms == 0)
		return -EINVAL;
	if (s->n_ticks >= ENGINE_MAX_TICKS)
		return -ENOSPC;
	s->ticks[s->n_ticks].interval_ms = interval_ms;
	s->ticks[s->n_ticks].next_ms = engine_now_ms() + interval_ms;
	s->ticks[s->n_ticks].fn = fn;
	s->ticks[s->n_ticks].cls = cls;
	s->n_ticks++;
	return 0;
}

/* ---- reactions, on the engine thread ---------------------------------------------- */

struct engine_watchdog {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
	uint64_t bound_ms;
	serviced *s;
};

static void engine_summary(serviced *s);

/* Ends the process from the watchdog, with the summary first. */
static _Noreturn void engine_watchdog_exit(struct engine_watchdog *w, int status)
{
	w->s->exit_status = status;
	engine_summary(w->s);
	_exit(status);
}

/* Waits for the engine to finish stopping MHD. At the force bound, a handler still running
 * (MHD joins its thread, for as long as it runs) ends the process with exit status 4. With
 * none running, MHD is only closing connections, which takes a moment even at a bound of
 * 0: the watchdog looks again every ENGINE_WATCHDOG_STEP_MS, and only a stop that has not
 * ended ENGINE_WATCHDOG_SLACK_MS past the bound ends the process (status 1: no handler was
 * to blame). */
#define ENGINE_WATCHDOG_STEP_MS 10
#define ENGINE_WATCHDOG_SLACK_MS 5000
static void *engine_watchdog_main(void *arg)
{
	struct engine_watchdog *w = arg;
	struct timespec until;
	uint64_t waited = w->bound_ms;

	engine_deadline(&until, w->bound_ms);
	pthread_mutex_lock(&w->lock);
	while (!w->done) {
		if (pthread_cond_timedwait(&w->cond, &w->lock, &until) != ETIMEDOUT)
			continue;
		if (counts_in_app(&w->s->counts)) {
			engine_log(w->s, LOG_ERR,
				   "force: a handler is still running %llums after the stop began; "
				   "exiting with status %d",
				   (unsigned long long)waited, SERVICED_EXIT_FORCED);
			engine_watchdog_exit(w, SERVICED_EXIT_FORCED);
		}
		if (waited >= w->bound_ms + ENGINE_WATCHDOG_SLACK_MS) {
			engine_log(w->s, LOG_ERR,
				   "force: libmicrohttpd has not stopped %llums after the stop "
				   "began, with no handler running; exiting with status %d",
				   (unsigned long long)waited, SERVICED_EXIT_FAILURE);
			engine_watchdog_exit(w, SERVICED_EXIT_FAILURE);
		}
		waited += ENGINE_WATCHDOG_STEP_MS;
		engine_deadline(&until, ENGINE_WATCHDOG_STEP_MS);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

/* Closes the listener we own without losing what is in its accept queue: those clients
 * connected before the shutdown, and may have sent their request already. Closing (or
 * shutting down) a listening socket resets every connection still queued on it; they are
 * accepted here and handed to libmicrohttpd instead, which serves them as fresh
 * connections. A filter that drops every packet goes on first, so that no handshake can
 * complete between the last accept() and close(): a client whose SYN it dropped tries
 * again about a second later and is refused then. The socket is never shut down (that
 * would also make systemd drop it from a descriptor store). Returns how many were handed
 * over. */
static size_t engine_drain_listener(serviced *s)
{
	struct sock_filter drop = BPF_STMT(BPF_RET | BPF_K, 0);
	struct sock_fprog prog = { .len = 1, .filter = &drop };
	size_t n = 0;

	if (setsockopt(s->listen_fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) < 0)
		engine_log(s, LOG_WARNING, "listener: cannot attach a filter (%s): a connection "
			   "made while it closes may be reset", strerror(errno));
	for (;;) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof ss;
		int fd = accept4(s->listen_fd, (struct sockaddr *)&ss, &len,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				engine_log(s, LOG_WARNING, "listener: accept: %s; connections still "
					   "queued are reset", strerror(errno));
			break;
		}
		/* A connection made as the filter went on inherited it (a child socket copies
		 * its listener's): it would drop its own request. */
		if (setsockopt(fd, SOL_SOCKET, SO_DETACH_FILTER, NULL, 0) < 0 && errno != ENOENT)
			(void)0; /* no filter on it: nothing to take off */
		/* libmicrohttpd closes the socket itself when it cannot take it. */
		if (MHD_add_connection(s->mhd, fd, (struct sockaddr *)&ss, len) == MHD_YES)
			n++;
	}
	/* The listener goes now; its descriptor number stays taken until libmicrohttpd has
	 * stopped (a placeholder socket is put in its place, closed at force): a worker
	 * that read the listener's number just before the quiesce may still use it, and a
	 * reused number would be a live connection of ours. */
	{
		int placeholder = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (placeholder >= 0 && dup3(placeholder, s->listen_fd, O_CLOEXEC) >= 0) {
			close(placeholder);
		} else {
			if (placeholder >= 0)
				close(placeholder);
			close(s->listen_fd);
			s->listen_fd = -1;
		}
	}
	return n;
}

static void engine_quiesce(serviced *s)
{
	if (s->quiesced || !s->mhd)
		return;
	if (MHD_quiesce_daemon(s->mhd) >= 0) {
		s->quiesced = true;
		/* A quiesced socket still completes handshakes and leaves clients hanging: one
		 * we own is closed, its queue served. An inherited socket belongs to the next
		 * instance too: its queue waits for it. */
		if (s->listen_owned) {
			size_t n = engine_drain_listener(s);

			if (n)
				engine_log(s, LOG_DEBUG, "grace: %zu connections taken from the "
					   "accept queue", n);
		}
	}
	atomic_store(&s->accepting, false);
}

/* Connections libmicrohttpd has accepted but not yet reported to us. A worker that
 * accept()ed just before the listener closed is still making the connection: our accept
 * policy has let it in (handing_over) before libmicrohttpd counts it, and it counts it
 * before it calls the connect notifier. It also uncounts one only after the close
 * notifier, so a closing connection can show here for a moment. Nothing wakes us when
 * either settles, so while this is not 0 the engine looks again shortly (engine_timeout).
 * libmicrohttpd may fail to make a connection the policy let in (out of memory), and then
 * never reports it: handing_over is believed for ENGINE_HANDOVER_MS after the policy last
 * let one in, enough for a worker to make a connection. Engine thread only (the info call
 * writes into the daemon). */
static uint64_t engine_unreported(serviced *s)
{
	const union MHD_DaemonInfo *di;
	uint64_t ours = atomic_load(&s->conns_open), n = 0;
	unsigned handing = atomic_load(&s->handing_over);

	if (!s->mhd)
		return 0;
	di = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
	if (di && di->num_connections > ours)
		n = di->num_connections - ours;
	if (handing > 0 && engine_now_ms() - atomic_load(&s->handed_ms) < ENGINE_HANDOVER_MS)
		n += handing;
	return n;
}

static void engine_stop_mhd(serviced *s)
{
	struct engine_watchdog w = { .done = false, .s = s };
	pthread_condattr_t attr;
	pthread_t tid;
	bool watching;

	engine_quiesce(s);
	/* MHD aborts if stopped with a suspended connection. */
	conn_cancel_suspended(&s->reg);
	pthread_mutex_lock(&s->lock);
	w.bound_ms = s->lc.knobs[SERVICED_KNOB_FORCE];
	pthread_mutex_unlock(&s->lock);
	pthread_mutex_init(&w.lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&w.cond, &attr);
	pthread_condattr_destroy(&attr);
	watching = pthread_create(&tid, NULL, engine_watchdog_main, &w) == 0;
	MHD_stop_daemon(s->mhd);
	s->mhd = NULL;
	if (watching) {
		pthread_mutex_lock(&w.lock);
		w.done = true;
		pthread_cond_signal(&w.cond);
		pthread_mutex_unlock(&w.lock);
		pthread_join(tid, NULL);
	}
	pthread_cond_destroy(&w.cond);
	pthread_mutex_destroy(&w.lock);
}

struct engine_hook_run {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
	const struct engine_hook *hook;
};

static void *engine_hook_main(void *arg)
{
	struct engine_hook_run *run = arg;

	run->hook->fn(run->hook->cls);
	pthread_mutex_lock(&run->lock);
	run->done = true;
	pthread_cond_signal(&run->cond);
	pthread_mutex_unlock(&run->lock);
	return NULL;
}

/* Runs the hooks last-registered-first, each on a thread of its own with its bound: a
 * hook that overstays is left behind (the process is about to exit) and the next runs. */
static void engine_run_hooks(serviced *s)
{
	for (unsigned i = s->n_hooks; i-- > 0;) {
		const struct engine_hook *h = &s->hooks[i];
		uint64_t bound = h->timeout_ms ? h->timeout_ms :
						 serviced_get_knob(s, SERVICED_KNOB_FORCE);
		struct engine_hook_run *run = calloc(1, sizeof *run);
		pthread_condattr_t attr;
		struct timespec until;
		pthread_t tid;
		bool done;

		if (!run) {
			h->fn(h->cls);
			continue;
		}
		run->hook = h;
		pthread_mutex_init(&run->lock, NULL);
		pthread_condattr_init(&attr);
		pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
		pthread_cond_init(&run->cond, &attr);
		pthread_condattr_destroy(&attr);
		if (pthread_create(&tid, NULL, engine_hook_main, run) != 0) {
			h->fn(h->cls);
			run->done = true;
		}
		engine_deadline(&until, bound);
		pthread_mutex_lock(&run->lock);
		while (!run->done)
			if (pthread_cond_timedwait(&run->cond, &run->lock, &until) == ETIMEDOUT)
				break;
		done = run->done;
		pthread_mutex_unlock(&run->lock);
		if (done) {
			pthread_join(tid, NULL);
			pthread_cond_destroy(&run->cond);
			pthread_mutex_destroy(&run->lock);
			free(run);
			engine_log(s, LOG_DEBUG, "shutdown hook '%s' done", h->name);
		} else {
			/* The thread still uses run: it is abandoned with it. */
			pthread_detach(tid);
			engine_log(s, LOG_WARNING, "shutdown hook '%s' still running after %llums; "
				   "moving on", h->name, (unsigned long long)bound);
		}
	}
}

static void engine_summary(serviced *s)
{
	struct serviced_counts c;
	struct lifecycle lc;
	uint64_t now = engine_now_ms(), completed = 0, cut = 0, aborted = 0;
	char sig[32] = "";

	pthread_mutex_lock(&s->lock);
	lc = s->lc;
	pthread_mutex_unlock(&s->lock);
	serviced_get_counts(s, &c);
	for (int st = SERVICED_STATE_DRAIN_DELAY; st < SERVICED_STATE_COUNT_; st++) {
		completed += c.completed[st];
		cut += c.cut[st];
		aborted += c.aborted[st];
	}
	if (lc.trigger == SERVICED_TRIGGER_SIGNAL && s->last_signal)
		snprintf(sig, sizeof sig, " (%s)", engine_signal_name(s->last_signal));
	engine_log(s, LOG_NOTICE,
		   "shutdown: trigger %s%s; drain_delay %llums, grace %llums, mercy %llums, "
		   "force %llums; during shutdown %llu requests completed, %llu cut, "
		   "%llu aborted by their clients; %llu requests served in all; exit status %d",
		   serviced_trigger_name(lc.trigger), sig,
		   (unsigned long long)lifecycle_time_in(&lc, SERVICED_STATE_DRAIN_DELAY, now),
		   (unsigned long long)lifecycle_time_in(&lc, SERVICED_STATE_GRACE, now),
		   (unsigned long long)lifecycle_time_in(&lc, SERVICED_STATE_MERCY, now),
		   (unsigned long long)lifecycle_time_in(&lc, SERVICED_STATE_FORCE, now),
		   (unsigned long long)completed, (unsigned long long)cut,
		   (unsigned long long)aborted, (unsigned long long)c.requests_total,
		   s->exit_status);
}

/* Whether any request was cut since the shutdown began. */
static bool engine_cut_in_shutdown(const serviced *s)
{
	struct serviced_counts c;

	serviced_get_counts(s, &c);
	for (int st = SERVICED_STATE_DRAIN_DELAY; st < SERVICED_STATE_COUNT_; st++)
		if (c.cut[st] > 0)
			return true;
	return false;
}

/* What entering a state means for the server. */
static void engine_enter(serviced *s, enum serviced_state from, enum serviced_state to)
{
	struct serviced_status st;
	struct serviced_counts c;
	size_t n;

	serviced_get_status(s, &st);
	c = st.counts;
	engine_log(s, LOG_NOTICE, "state %s -> %s (trigger %s; %llu requests in flight, "
		   "%llu connections open)",
		   serviced_state_name(from), serviced_state_name(to),
		   serviced_trigger_name(st.trigger), (unsigned long long)c.requests_in_flight,
		   (unsigned long long)c.connections_open);
	switch (to) {
	case SERVICED_STATE_GRACE:
		engine_quiesce(s);
		n = conn_close_idle(&s->reg, engine_now_ms());
		engine_log(s, LOG_DEBUG, "grace: listener closed, %zu idle connections closed", n);
		/* Grace could not end while the listener was open; it may be over now. */
		engine_wake(s);
		break;
	case SERVICED_STATE_MERCY:
		engine_quiesce(s); /* when grace was skipped */
		n = conn_cancel_suspended(&s->reg);
		if (n)
			engine_log(s, LOG_INFO, "mercy: %zu suspended requests answered 503", n);
		/* Streams end themselves (their reader sees mercy) and keep their connection
		 * until their terminator is out; every other connection is closed now. */
		conn_close_all(&s->reg, true);
		break;
	case SERVICED_STATE_FORCE:
		engine_stop_mhd(s);
		if (s->listen_fd >= 0 && s->listen_owned) {
			close(s->listen_fd);
			s->listen_fd = -1;
		}
		engine_run_hooks(s);
		pthread_mutex_lock(&s->lock);
		/* Every request has ended now (libmicrohttpd has stopped): one cut during the
		 * shutdown, however it happened, makes the exit status say so. */
		if (engine_cut_in_shutdown(s))
			lifecycle_note_cut(&s->lc);
		lifecycle_stopped(&s->lc, engine_now_ms());
		s->exit_status = lifecycle_exit_status(&s->lc);
		pthread_mutex_unlock(&s->lock);
		break;
	case SERVICED_STATE_STOPPED:
		engine_summary(s);
		break;
	default:
		break;
	}
	for (unsigned i = 0; i < s->n_observers; i++)
		s->observers[i].fn(s->observers[i].cls, s, from, to);
}

/* Takes the queued transitions and reacts to each, in order. */
static void engine_react(serviced *s)
{
	for (;;) {
		struct engine_transition t;

		pthread_mutex_lock(&s->lock);
		if (s->ring_head == s->ring_tail) {
			pthread_mutex_unlock(&s->lock);
			return;
		}
		t = s->ring[s->ring_head];
		s->ring_head = (s->ring_head + 1) % ENGINE_RING;
		pthread_mutex_unlock(&s->lock);
		s->acted = t.to;
		engine_enter(s, t.from, t.to);
	}
}

static void engine_read_signals(serviced *s)
{
	struct signalfd_siginfo si;

	while (read(s->sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
		if ((int)si.ssi_signo == SIGCONT) {
			size_t n = conn_kick_busy(&s->reg, UINT64_MAX);

			engine_log(s, LOG_DEBUG, "continued: %zu requests in progress woken", n);
			continue;
		}
		if ((int)si.ssi_signo == SIGHUP && s->hup_reloads) {
			char err[256];

			/* serviced_reload() logs the outcome. */
			serviced_reload(s, err, sizeof err);
			continue;
		}
		s->last_signal = (int)si.ssi_signo;
		engine_log(s, LOG_INFO, "received %s", engine_signal_name((int)si.ssi_signo));
		serviced_shutdown(s, SERVICED_TRIGGER_SIGNAL, false);
	}
}

/* In grace, closes fresh connections silent for too long; returns when the next one would
 * be, or LIFECYCLE_NEVER. */
static uint64_t engine_sweep_fresh(serviced *s, uint64_t now)
{
	uint64_t oldest;

	if (atomic_load(&s->state) != SERVICED_STATE_GRACE || atomic_load(&s->reg.fresh) == 0)
		return LIFECYCLE_NEVER;
	if (conn_close_stale_fresh(&s->reg, now >= CONN_FRESH_MAX_MS ? now - CONN_FRESH_MAX_MS : 0,
				   &oldest) > 0)
		engine_log(s, LOG_DEBUG, "grace: closed connections that sent no request");
	return oldest == UINT64_MAX ? LIFECYCLE_NEVER : oldest + CONN_FRESH_MAX_MS;
}

/* Once a second (the header deadline is in whole seconds): closes connections whose
 * request headers are late (see serviced_limits), and wakes the workers of requests busy
 * for over a second, lest one of their responses has stalled (conn_kick_busy). Returns when
 * it looks next. */
#define ENGINE_CONN_SWEEP_MS 1000
static uint64_t engine_sweep_conns(serviced *s, uint64_t now)
{
	uint64_t header_ms = (uint64_t)atomic_load(&s->header_timeout_s) * 1000;
	size_t n;

	if (now < s->conn_sweep_ms)
		return s->conn_sweep_ms;
	s->conn_sweep_ms = now + ENGINE_CONN_SWEEP_MS;
	conn_kick_busy(&s->reg, now - ENGINE_CONN_SWEEP_MS);
	if (header_ms == 0)
		return s->conn_sweep_ms;
	n = conn_close_late(&s->reg, now, header_ms, (uint64_t)atomic_load(&s->timeout_s) * 1000);
	if (n)
		engine_log(s, LOG_INFO, "closed %zu connections whose request headers did not "
			   "come whole within %us", n, atomic_load(&s->header_timeout_s));
	return s->conn_sweep_ms;
}

/* How long the engine may sleep: until the phase's deadline, the next tick, or the moment a
 * fresh connection has been silent too long. */
static int engine_timeout(serviced *s, uint64_t now)
{
	uint64_t next = LIFECYCLE_NEVER, fresh;

	pthread_mutex_lock(&s->lock);
	next = lifecycle_deadline(&s->lc);
	pthread_mutex_unlock(&s->lock);
	fresh = engine_sweep_fresh(s, now);
	if (fresh < next)
		next = fresh;
	fresh = engine_sweep_conns(s, now);
	if (fresh < next)
		next = fresh;
	if (atomic_load(&s->state) == SERVICED_STATE_GRACE && engine_unreported(s) > 0 &&
	    now + 2 < next)
		next = now + 2;
	for (unsigned i = 0; i < s->n_ticks; i++)
		if (s->ticks[i].next_ms < next)
			next = s->ticks[i].next_ms;
	if (next == LIFECYCLE_NEVER)
		return -1;
	if (next <= now)
		return 0;
	return next - now > 60000 ? 60000 : (int)(next - now);
}

static void engine_run_ticks(serviced *s, uint64_t now)
{
	for (unsigned i = 0; i < s->n_ticks; i++) {
		struct engine_tick *t = &s->ticks[i];

		if (t->next_ms > now)
			continue;
		t->next_ms = now + t->interval_ms;
		t->fn(t->cls);
	}
}

int serviced_run(serviced *s)
{
	struct epoll_event evs[32];

	if (!s->started)
		return SERVICED_EXIT_FAILURE;
	for (;;) {
		struct lifecycle_load load;
		uint64_t now;
		int n;

		engine_react(s);
		if (atomic_load(&s->state) == SERVICED_STATE_STOPPED && s->acted == SERVICED_STATE_STOPPED)
			break;
		if (atomic_exchange(&s->knobs_changed, false))
			for (unsigned i = 0; i < s->n_observers; i++)
				s->observers[i].fn(s->observers[i].cls, s, s->acted, s->acted);
		now = engine_now_ms();
		n = epoll_wait(s->epfd, evs, 32, engine_timeout(s, now));
		if (n < 0 && errno != EINTR) {
			engine_log(s, LOG_ERR, "epoll_wait: %s", strerror(errno));
			return SERVICED_EXIT_FAILURE;
		}
		for (int i = 0; i < n; i++) {
			uint64_t tag = evs[i].data.u64, v;

			if (tag == UINT64_MAX) {
				engine_read_signals(s);
			} else if (tag == UINT64_MAX - 1) {
				if (read(s->wakefd, &v, sizeof v) < 0)
					(void)0; /* EAGAIN: another wake already consumed it */
			} else {
				struct engine_watch *w = &s->watches[tag & 0xffffffffu];

				if (w->fd >= 0 && w->generation == (uint32_t)(tag >> 32))
					w->fn(w->cls, w->fd, evs[i].events);
			}
		}
		now = engine_now_ms();
		engine_run_ticks(s, now);
		engine_load(s, &load, atomic_load(&s->state) == SERVICED_STATE_GRACE);
		pthread_mutex_lock(&s->lock);
		lifecycle_advance(&s->lc, now, &load);
		pthread_mutex_unlock(&s->lock);
	}
	return s->exit_status;
}
