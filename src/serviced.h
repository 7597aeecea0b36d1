/*
 * serviced.h: the one public header of libserviced, a graceful-shutdown engine for
 * libmicrohttpd applications.
 *
 * An application hands its access handler to the engine instead of to MHD_start_daemon().
 * The engine runs libmicrohttpd, counts requests and connections exactly, and owns the
 * shutdown lifecycle:
 *
 *   running -> drain delay -> grace -> mercy -> force -> stopped
 *
 * drain delay: readiness fails (serviced_is_ready() is false), everything is still served;
 * grace:       the listener is closed, idle keep-alive connections are closed at once,
 *              responses carry "Connection: close", in-flight requests run to completion;
 * mercy:       streams end, suspended requests are answered 503, connections are closed;
 * force:       libmicrohttpd is stopped; a handler stuck past the force bound cannot keep
 *              the process alive: it exits with SERVICED_EXIT_FORCED.
 *
 * Library functions never print. They return 0 or a negative errno, and fill a
 * struct serviced_error where the reason needs words. Log lines (state transitions, the
 * shutdown summary) go to the log callback set with serviced_set_logger().
 */
#ifndef SERVICED_H
#define SERVICED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <microhttpd.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SERVICED_VERSION "0.1.0"

/* Exit statuses of a process whose lifetime the engine ran (serviced_run()'s result). */
#define SERVICED_EXIT_CLEAN 0  /* every request accepted before shutdown was answered */
#define SERVICED_EXIT_FAILURE 1 /* could not start, or a runtime error */
#define SERVICED_EXIT_USAGE 2  /* bad command line or configuration (daemon only) */
#define SERVICED_EXIT_CUT 3    /* grace ran out (or was skipped) with requests in flight */
#define SERVICED_EXIT_FORCED 4 /* a stuck handler outlived the force bound */

enum serviced_state {
	SERVICED_STATE_RUNNING = 0,
	SERVICED_STATE_DRAIN_DELAY,
	SERVICED_STATE_GRACE,
	SERVICED_STATE_MERCY,
	SERVICED_STATE_FORCE,
	SERVICED_STATE_STOPPED,
	SERVICED_STATE_COUNT_
};

/* Who asked for the shutdown. */
enum serviced_trigger {
	SERVICED_TRIGGER_NONE = 0,
	SERVICED_TRIGGER_SIGNAL,
	SERVICED_TRIGGER_API,
	SERVICED_TRIGGER_CONTROL,
	SERVICED_TRIGGER_ADMIN,
	SERVICED_TRIGGER_COUNT_
};

/* The durations that can be read and changed at any time, during a drain too. */
enum serviced_knob {
	SERVICED_KNOB_DRAIN_DELAY = 0,
	SERVICED_KNOB_GRACE,
	SERVICED_KNOB_MERCY,
	SERVICED_KNOB_FORCE,
	SERVICED_KNOB_COUNT_
};

/* Shutdown signals, as a bit set in serviced_options.signals. */
#define SERVICED_SIG_TERM (1u << 0)
#define SERVICED_SIG_INT (1u << 1)
#define SERVICED_SIG_QUIT (1u << 2)
#define SERVICED_SIG_HUP (1u << 3)
#define SERVICED_SIG_USR1 (1u << 4)
#define SERVICED_SIG_USR2 (1u << 5)

struct serviced_error {
	int code;          /* negative errno, 0 when none */
	char message[256]; /* what failed, with context; "" when none */
};

struct serviced_options {
	const char *listen;      /* "ADDR:PORT", "[V6ADDR]:PORT", port 0 = any; default 127.0.0.1:8080 */
	int listen_fd;           /* an inherited listening socket (socket activation), or -1 */
	unsigned threads;        /* worker threads; 0 = one per CPU */
	uint64_t drain_delay_ms; /* default 0 */
	uint64_t grace_ms;       /* default 10000 */
	uint64_t mercy_ms;       /* default 5000 */
	uint64_t force_ms;       /* default 1000 */
	unsigned signals;        /* SERVICED_SIG_* that begin a shutdown; default TERM|INT */
	/* The starting limits (serviced_set_limits() changes them later; ranges there): */
	unsigned connection_limit;       /* default 1024 */
	unsigned per_ip_connection_limit; /* default 0 = no limit */
	unsigned connection_timeout_s;   /* idle timeout, default 60 */
	unsigned header_timeout_s;       /* request-header deadline, default 10 */
	/* Fixed at start: */
	size_t connection_memory;        /* bytes per connection for headers, default 16 KiB */
};

/* Exact counts. Safe to read from any thread at any time. */
struct serviced_counts {
	uint64_t requests_in_flight;
	uint64_t connections_open;
	uint64_t connections_idle; /* open, with no request in flight */
	uint64_t streams_open;     /* responses made with serviced_stream_response() */
	uint64_t requests_suspended;
	uint64_t requests_total;   /* completed since start, however they ended */
	uint64_t connections_total;
	uint64_t connections_refused; /* closed at once: a connection limit was reached */
	/* Requests that ended, in each state: answered whole; cut short by the server (the
	 * drain closed their connection, or the process stopped: any of these during a
	 * shutdown makes its exit status SERVICED_EXIT_CUT); aborted by the client (it went
	 * away, or was slower than the idle timeout). */
	uint64_t completed[SERVICED_STATE_COUNT_];
	uint64_t cut[SERVICED_STATE_COUNT_];
	uint64_t aborted[SERVICED_STATE_COUNT_];
};

/* A snapshot of the lifecycle, for status displays. */
struct serviced_status {
	enum serviced_state state;
	enum serviced_trigger trigger;
	int64_t phase_remaining_ms; /* -1 when the phase has no deadline */
	uint64_t phase_elapsed_ms;
	uint64_t uptime_ms;
	uint64_t knobs_ms[SERVICED_KNOB_COUNT_];
	struct serviced_counts counts;
	pid_t pid;
	/* Once stopped, the exit status the shutdown earned (what serviced_run() returns:
	 * SERVICED_EXIT_CLEAN or _CUT); -1 before. _CUT whenever a request was cut during the
	 * shutdown; requests whose clients went away are "aborted" and leave it clean. */
	int exit_status;
};

typedef struct serviced serviced;

/* The application's access handler: libmicrohttpd's, unchanged. *req_cls is the
 * application's own per-request pointer. Queue the response on the second call, not the
 * first: libmicrohttpd closes the connection when a response is queued on the first. */
typedef enum MHD_Result (*serviced_handler)(void *cls, struct MHD_Connection *connection,
					    const char *url, const char *method,
					    const char *version, const char *upload_data,
					    size_t *upload_data_size, void **req_cls);
/* Called once for every request the handler saw, however it ended. */
typedef void (*serviced_completed)(void *cls, struct MHD_Connection *connection,
				   void **req_cls, enum MHD_RequestTerminationCode code);
/* Log sink. priority is a syslog level (LOG_ERR ... LOG_DEBUG). */
typedef void (*serviced_logger)(void *cls, int priority, const char *message);
/* Called on the engine thread after every state change (from is the previous state), and
 * with from == to after a duration was changed (a deadline may have moved). */
typedef void (*serviced_on_state)(void *cls, serviced *s, enum serviced_state from,
				  enum serviced_state to);
/* A shutdown hook: runs once connections are gone, last registered first. */
typedef void (*serviced_hook)(void *cls);

/* Fills o with the defaults above. */
void serviced_options_init(struct serviced_options *o);

/* Creates an engine; nothing is bound yet. Returns 0 or -errno (err says why). */
int serviced_new(serviced **out, const struct serviced_options *o, serviced_handler handler,
		 void *handler_cls, struct serviced_error *err);
/* Destroys an engine that is stopped or was never started. Accepts NULL. */
void serviced_free(serviced *s);

/* Changes the handler's cls (for instance to the engine itself, once it exists). */
void serviced_set_handler_cls(serviced *s, void *cls);
void serviced_set_logger(serviced *s, serviced_logger fn, void *cls);
void serviced_set_completed(serviced *s, serviced_completed fn, void *cls);
/* Several observers may be added (up to 8); each sees every transition. */
int serviced_add_state_observer(serviced *s, serviced_on_state fn, void *cls);
/* Hooks run with a time bound each (timeout_ms; 0 = the force bound). Up to 16. */
int serviced_add_hook(serviced *s, const char *name, serviced_hook fn, void *cls,
		      uint64_t timeout_ms);

/* Binds and starts serving. Signals in o->signals are blocked in the calling thread:
 * call it before starting other threads so they inherit the mask. */
int serviced_start(serviced *s, struct serviced_error *err);
/* Runs the lifecycle on the calling thread until stopped; returns an exit status
 * (SERVICED_EXIT_*). Extra fds may be watched with serviced_watch_fd() before. */
int serviced_run(serviced *s);

/* Begins a shutdown, or skips to the next phase if one is under way; the third request
 * forces. now = skip to the next phase even on the first request. Thread-safe.
 * Returns 0, or -EALREADY when stopped. */
int serviced_shutdown(serviced *s, enum serviced_trigger by, bool now);
/* Cancels a shutdown still in its drain delay (back to running). Thread-safe.
 * Returns 0, or -EBUSY when past the drain delay, -ENOENT when not shutting down. */
int serviced_cancel(serviced *s);

/* Reads and changes a duration; a change during a drain moves the live deadline, computed
 * from the start of the current phase. Thread-safe. */
uint64_t serviced_get_knob(serviced *s, enum serviced_knob k);
int serviced_set_knob(serviced *s, enum serviced_knob k, uint64_t ms);

/* The connection limits and the timeouts, which may change while the engine runs.
 * A connection beyond a limit is accepted and closed at once, unanswered; connections
 * already open stay open when a limit is lowered. A new idle timeout applies to new
 * connections, and to open ones from their next request. The request-header deadline
 * bounds the time from a connection's accept (or the idle timeout after its last request)
 * to its next request's complete headers, however slowly they trickle in: past it the
 * connection is closed (after a 408 when its request line had come). A new one applies
 * at once. */
#define SERVICED_LIMIT_MAX 1000000u /* connections, and connections per client address */
#define SERVICED_TIMEOUT_MAX 86400u /* seconds */
struct serviced_limits {
	unsigned connections;        /* open at once: 1 to SERVICED_LIMIT_MAX */
	unsigned connections_per_ip; /* per client address: 0 (no limit) to SERVICED_LIMIT_MAX */
	unsigned timeout_s;          /* idle timeout: 0 (none) to SERVICED_TIMEOUT_MAX seconds */
	unsigned header_timeout_s;   /* request-header deadline: 0 (none) to SERVICED_TIMEOUT_MAX */
};
void serviced_get_limits(serviced *s, struct serviced_limits *l);
/* Changes them all, from any thread. Returns 0, or -EINVAL (nothing changed) when a
 * value is out of range. */
int serviced_set_limits(serviced *s, const struct serviced_limits *l);

/* For handlers: has the shutdown (grace) begun? Cheap enough for every request. */
bool serviced_shutting_down(const serviced *s);
/* False from the drain delay on: what /readyz should report. */
bool serviced_is_ready(const serviced *s);
/* A file descriptor that becomes readable when grace begins (poll it). */
int serviced_shutdown_fd(const serviced *s);

void serviced_get_counts(const serviced *s, struct serviced_counts *c);
void serviced_get_status(const serviced *s, struct serviced_status *st);
enum serviced_state serviced_state(const serviced *s);
const char *serviced_state_name(enum serviced_state st);
const char *serviced_trigger_name(enum serviced_trigger t);
const char *serviced_knob_name(enum serviced_knob k);
/* The address actually bound, as "ADDR:PORT" (useful with port 0). */
const char *serviced_listen_address(const serviced *s);

/* Streams: a response whose body comes from reader, counted as a stream. With
 * SERVICED_STREAM_CANCEL_ON_SHUTDOWN it ends cleanly when grace begins (SSE, long polls);
 * without, it ends when mercy begins. */
#define SERVICED_STREAM_CANCEL_ON_SHUTDOWN (1u << 0)
struct MHD_Response *serviced_stream_response(serviced *s, unsigned flags,
					      MHD_ContentReaderCallback reader, void *cls,
					      MHD_ContentReaderFreeCallback free_cb);

/* Suspends a request for asynchronous work (instead of MHD_suspend_connection). At mercy
 * the engine answers it 503 and resumes it; the handler is not called again for it. */
void serviced_suspend(serviced *s, struct MHD_Connection *connection);
/* Resumes a request suspended with serviced_suspend(); a no-op if the engine already did. */
void serviced_resume(serviced *s, struct MHD_Connection *connection);

/* Reload: re-reads the application's configuration. fn returns 0, or -errno with err
 * holding the reason (the running configuration then stays). SIGHUP triggers it when it is
 * not a shutdown signal. */
typedef int (*serviced_reload_fn)(void *cls, serviced *s, char *err, size_t errsize);
void serviced_set_reload(serviced *s, serviced_reload_fn fn, void *cls);
/* Runs the reload function now, on the calling thread; -ENOTSUP when none is set. */
int serviced_reload(serviced *s, char *err, size_t errsize);

/* Runs fn on the engine thread whenever fd is readable (for control sockets and the
 * like). Call before serviced_run(). */
typedef void (*serviced_fd_cb)(void *cls, int fd, uint32_t events);
int serviced_watch_fd(serviced *s, int fd, uint32_t events, serviced_fd_cb fn, void *cls);
int serviced_unwatch_fd(serviced *s, int fd);
/* Runs fn on the engine thread every interval_ms, for heartbeats and rate-limited
 * reports (up to 8 ticks). Ticks keep running through a drain. */
typedef void (*serviced_tick_cb)(void *cls);
int serviced_add_tick(serviced *s, uint64_t interval_ms, serviced_tick_cb fn, void *cls);

/* The control socket: newline-delimited JSON commands (see serviced-control(7)). */
struct serviced_control_options {
	const char *path; /* NULL = the default path (serviced_control_default_path()) */
	unsigned mode;    /* file mode, default 0600 */
	gid_t group;      /* group owner and allowed to change state; (gid_t)-1 = none */
	unsigned max_clients; /* default 32 */
};
void serviced_control_options_init(struct serviced_control_options *o);
/* Binds the control socket (refusing if a live daemon answers there, replacing a stale
 * file) and serves it from the engine thread; the file is removed when the engine is
 * freed. Call after serviced_start(). */
int serviced_control_listen(serviced *s, const struct serviced_control_options *o,
			    struct serviced_error *err);
/* The default control socket path: $RUNTIME_DIRECTORY/control.sock, else
 * $XDG_RUNTIME_DIR/serviced.sock, else /run/serviced/control.sock. Writes into buf. */
const char *serviced_control_default_path(char *buf, size_t size);

/* The HTTP admin endpoint: the control commands over HTTP with a bearer token, on a
 * listener of its own that keeps answering through a drain (see serviced(8), HTTP ADMIN
 * ENDPOINT). */
struct serviced_admin_options {
	const char *listen;   /* "ADDR:PORT" or "[V6ADDR]:PORT", port 0 = any; required */
	const char *token;    /* the bearer token, printable ASCII; required */
	unsigned max_clients; /* connections at once, default 16 */
};
void serviced_admin_options_init(struct serviced_admin_options *o);
/* Binds and serves the admin endpoint on a thread of its own, stopped when the engine is
 * freed; logs "admin endpoint on http://ADDR:PORT". -EINVAL without a token. */
int serviced_admin_listen(serviced *s, const struct serviced_admin_options *o,
			  struct serviced_error *err);

/* systemd: when NOTIFY_SOCKET is set, sends READY=1 now and from then on STATUS=,
 * STOPPING=1, EXTEND_TIMEOUT_USEC= through a drain, WATCHDOG=1 when asked, and
 * RELOADING=1 around reloads. Call once everything is listening. Returns 1 when enabled,
 * 0 when not under systemd, or -errno. */
int serviced_systemd_enable(serviced *s);
/* systemd socket activation: 1 with *fd the one inherited listening TCP socket, 0 when
 * none was passed, or -errno (err says why: several sockets, or not a listening one). */
int serviced_systemd_listen_fd(int *fd, struct serviced_error *err);

/* Parses "5", "5s", "1500ms", "2m", "1.5s", "1h" into milliseconds (a bare number is
 * seconds). Returns 0, -EINVAL (junk, empty, negative) or -ERANGE (over a day). */
int serviced_parse_duration(const char *text, uint64_t *ms);
/* Writes ms as "1.5s", "250ms", "2m" into buf. */
const char *serviced_format_duration(uint64_t ms, char *buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif
