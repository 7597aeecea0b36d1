/*
 * conn: the registry of open connections. libmicrohttpd owns the connections; the registry
 * holds what the engine must know to close them from its own thread: the socket, whether a
 * request is in flight, whether it is suspended or carries a stream.
 *
 * A record is created in NOTIFY_CONNECTION STARTED and freed in CLOSED, which
 * libmicrohttpd delivers before close(): so the fd in a record is never a reused one.
 */
#ifndef SERVICED_CONN_H
#define SERVICED_CONN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <microhttpd.h>

#include "admit.h"

/* A connection's activity. A new connection is fresh until its first request: its client
 * connected before the shutdown and is about to ask, so grace waits for it (for a while)
 * rather than closing it like an idle keep-alive connection. The changes fresh/idle -> busy
 * (a request arrived) race with the engine's -> closing (grace or mercy); a compare-and-swap
 * decides, so a connection is never closed under a request it has accepted. */
enum conn_phase { CONN_FRESH = 0, CONN_IDLE, CONN_BUSY, CONN_CLOSING };

/* How long grace waits for a fresh connection's first request. */
#define CONN_FRESH_MAX_MS 5000

struct conn {
	struct conn *prev, *next;
	struct MHD_Connection *mhd;
	int fd;
	_Atomic uint64_t fresh_ms; /* when it became fresh: accepted, or made so again in grace */
	_Atomic int phase;
	/* For the request-header deadline (conn_close_late): */
	_Atomic uint64_t since_ms; /* accepted, the last request ended, or the next one's line came */
	_Atomic bool reused;       /* a request has ended on it */
	_Atomic bool line_seen;    /* the next request's line has come, not all its headers */
	/* Its worker's count of entries into and exits from the application's code, odd
	 * while inside: set when it starts, on that worker (a thread-local that lives as long
	 * as the worker, which outlives its connections). NULL: unknown. */
	_Atomic uint64_t *worker_app;
	/* Only the connection's own worker thread touches these: */
	bool close_marked; /* "Connection: close" was set for the current request */
	bool counted;      /* the current request's headers came whole: it is in flight */
	bool ended_early;  /* its stream was ended by mercy: the answer was cut short */
	_Atomic bool has_stream; /* the current response is a serviced stream */
	void *app_cls;     /* the application's per-request pointer */
	unsigned timeout_s; /* the idle timeout libmicrohttpd applies to it */
	bool refused;      /* over a limit when it started: closed at once, never served */
	bool admitted;     /* counted by the admission policy (under key, when has_key) */
	bool has_key;
	struct admit_key key;
	/* Under the registry lock: */
	bool suspended; /* suspended by the application */
	_Atomic bool cancelled; /* resumed by the engine at mercy: answer 503, then close */
};

struct conn_registry {
	pthread_mutex_t lock;
	struct conn head; /* sentinel of a circular list */
	size_t count;
	_Atomic uint64_t fresh; /* connections still waiting for their first request */
};

void conn_registry_init(struct conn_registry *r);
void conn_registry_destroy(struct conn_registry *r);

/* Makes and links a fresh record; NULL when out of memory. */
struct conn *conn_add(struct conn_registry *r, struct MHD_Connection *mhd, int fd,
		      uint64_t now_ms);
/* Unlinks and frees a record. Accepts NULL. Returns true when it was still fresh. */
bool conn_remove(struct conn_registry *r, struct conn *c);

/* A request arrived on c: fresh or idle -> busy. False when the engine is already closing
 * it. */
bool conn_begin_request(struct conn_registry *r, struct conn *c);
/* The request on c ended at now_ms (or its headers never came whole): busy -> idle. */
void conn_end_request(struct conn *c, uint64_t now_ms);
/* The next request's line has come on c, at now_ms: its header deadline runs from now. */
void conn_line_seen(struct conn *c, uint64_t now_ms);
/* Makes an idle connection fresh again and shuts its read side unless a request is under
 * way, so that grace serves a request it may hold and then sees it close (a response built
 * before grace carried no "Connection: close"); false when not idle. */
bool conn_refresh(struct conn_registry *r, struct conn *c, uint64_t now_ms);

/* Wakes the worker of every connection busy with a request begun at or before cutoff_ms, as
 * if its socket had just become writable; returns how many. libmicrohttpd 0.9.75 takes a
 * short send() or sendfile() for a full socket buffer and waits for an edge-triggered
 * EPOLLOUT; when the send was cut short by anything else (the process stopped and
 * continued, a debugger, a freezer) the buffer drains, no edge comes, and the response
 * stalls for good. A wake-up where nothing stalled costs libmicrohttpd one look. */
size_t conn_kick_busy(struct conn_registry *r, uint64_t cutoff_ms);
/* Shuts down one connection (mercy reaching a connection that arrived late). */
void conn_close(struct conn_registry *r, struct conn *c);
/* Makes every idle connection (one that has finished a request and carries none) fresh
 * again and shuts its read side, so that a request already sent on it is still served and
 * with nothing waiting it closes; one whose request is under way keeps its read side.
 * Returns how many. Fresh connections are left alone. */
size_t conn_close_idle(struct conn_registry *r, uint64_t now_ms);
/* Shuts down the fresh connections accepted at or before cutoff_ms; returns how many. Sets
 * *oldest_ms to the acceptance time of the oldest fresh connection left, or UINT64_MAX. */
size_t conn_close_stale_fresh(struct conn_registry *r, uint64_t cutoff_ms, uint64_t *oldest_ms);
/* Shuts down the connections whose next request's headers are late: header_ms after its
 * accept or after its request line came, or on a kept-alive connection still without one,
 * idle_ms + header_ms after its last request ended (the idle timeout is libmicrohttpd's,
 * which a byte now and then keeps from firing; idle_ms 0: no bound there). One whose
 * request line had come is answered 408 first. Connections with a request in flight are
 * left alone. Returns how many. */
size_t conn_close_late(struct conn_registry *r, uint64_t now_ms, uint64_t header_ms,
		       uint64_t idle_ms);
/* Shuts down every connection; with except_streams, those carrying a stream are left to
 * end their stream. Connections answering 503 after a cancelled suspension are always left
 * to send it (the answer carries "Connection: close"). Returns how many. */
size_t conn_close_all(struct conn_registry *r, bool except_streams);
/* Marks every suspended connection cancelled and resumes it; returns how many. */
size_t conn_cancel_suspended(struct conn_registry *r);

#endif
