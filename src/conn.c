/*
 * conn: the connection registry (see conn.h). The lock is taken once per connection
 * opened or closed and by the engine's sweeps, never per request: requests only touch
 * their own record's atomic phase.
 */
#include "autoconfig.h"

#include <stdint.h>
#include <stdlib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"

void conn_registry_init(struct conn_registry *r)
{
	pthread_mutex_init(&r->lock, NULL);
	r->head.prev = r->head.next = &r->head;
	r->count = 0;
	atomic_init(&r->fresh, 0);
}

void conn_registry_destroy(struct conn_registry *r)
{
	struct conn *c, *next;

	/* libmicrohttpd reports every close before it stops; anything left is freed here. */
	for (c = r->head.next; c != &r->head; c = next) {
		next = c->next;
		free(c);
	}
	r->head.prev = r->head.next = &r->head;
	r->count = 0;
	pthread_mutex_destroy(&r->lock);
}

struct conn *conn_add(struct conn_registry *r, struct MHD_Connection *mhd, int fd,
		      uint64_t now_ms)
{
	struct conn *c = calloc(1, sizeof *c);

	if (!c)
		return NULL;
	c->mhd = mhd;
	c->fd = fd;
	atomic_init(&c->fresh_ms, now_ms);
	atomic_init(&c->since_ms, now_ms);
	atomic_init(&c->phase, CONN_FRESH);
	atomic_fetch_add(&r->fresh, 1);
	pthread_mutex_lock(&r->lock);
	c->prev = r->head.prev;
	c->next = &r->head;
	r->head.prev->next = c;
	r->head.prev = c;
	r->count++;
	pthread_mutex_unlock(&r->lock);
	return c;
}

/* Moves c to phase to, keeping the count of fresh connections; returns the old phase. */
static int conn_leave(struct conn_registry *r, struct conn *c, int to)
{
	int old = atomic_exchange(&c->phase, to);

	if (old == CONN_FRESH)
		atomic_fetch_sub(&r->fresh, 1);
	return old;
}

bool conn_remove(struct conn_registry *r, struct conn *c)
{
	bool fresh;

	if (!c)
		return false;
	pthread_mutex_lock(&r->lock);
	c->prev->next = c->next;
	c->next->prev = c->prev;
	r->count--;
	fresh = conn_leave(r, c, CONN_CLOSING) == CONN_FRESH;
	pthread_mutex_unlock(&r->lock);
	free(c);
	return fresh;
}

bool conn_begin_request(struct conn_registry *r, struct conn *c)
{
	int expected = CONN_IDLE;

	if (atomic_compare_exchange_strong(&c->phase, &expected, CONN_BUSY))
		return true;
	if (expected != CONN_FRESH ||
	    !atomic_compare_exchange_strong(&c->phase, &expected, CONN_BUSY))
		return false;
	atomic_fetch_sub(&r->fresh, 1);
	return true;
}

void conn_end_request(struct conn *c, uint64_t now_ms)
{
	int expected = CONN_BUSY;

	atomic_store_explicit(&c->since_ms, now_ms, memory_order_relaxed);
	atomic_store_explicit(&c->reused, true, memory_order_relaxed);
	atomic_store_explicit(&c->line_seen, false, memory_order_relaxed);
	atomic_store_explicit(&c->has_stream, false, memory_order_relaxed);
	atomic_compare_exchange_strong(&c->phase, &expected, CONN_IDLE);
}

void conn_line_seen(struct conn *c, uint64_t now_ms)
{
	atomic_store_explicit(&c->since_ms, now_ms, memory_order_relaxed);
	atomic_store_explicit(&c->line_seen, true, memory_order_relaxed);
}

/* Shuts down a connection whose request will not come in time. While its headers are
 * incomplete libmicrohttpd only reads it, so the answer can be written here: a client that
 * has sent a request line learns why (408), one that sent nothing gets a plain close. (Had
 * libmicrohttpd just refused the headers itself, 400 or 431, its answer and this one may
 * both go out: the connection is closing either way.) */
static void conn_shut_late(struct conn *c)
{
	static const char late[] = "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n"
				   "Content-Length: 0\r\n\r\n";

	if (atomic_load_explicit(&c->line_seen, memory_order_relaxed) &&
	    send(c->fd, late, sizeof late - 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		(void)0; /* a full buffer: the close says enough */
	shutdown(c->fd, SHUT_RDWR);
}

size_t conn_close_late(struct conn_registry *r, uint64_t now_ms, uint64_t header_ms,
		       uint64_t idle_ms)
{
	size_t n = 0;

	pthread_mutex_lock(&r->lock);
	for (struct conn *c = r->head.next; c != &r->head; c = c->next) {
		int phase = atomic_load(&c->phase);
		uint64_t due = atomic_load_explicit(&c->since_ms, memory_order_relaxed) + header_ms;

		if (phase != CONN_FRESH && phase != CONN_IDLE)
			continue;
		/* Kept alive and quiet, it is the idle timeout's (none: it may stay); once its
		 * next request line has come, the deadline runs from that. */
		if (atomic_load_explicit(&c->reused, memory_order_relaxed) &&
		    !atomic_load_explicit(&c->line_seen, memory_order_relaxed)) {
			if (idle_ms == 0)
				continue;
			due += idle_ms;
		}
		if (now_ms < due || !atomic_compare_exchange_strong(&c->phase, &phase, CONN_CLOSING))
			continue;
		if (phase == CONN_FRESH)
			atomic_fetch_sub(&r->fresh, 1);
		conn_shut_late(c);
		n++;
	}
	pthread_mutex_unlock(&r->lock);
	return n;
}

/* Makes an idle connection fresh again (grace waits for its request); false when it was
 * not idle. The count goes up first, so that no reader sees it below the truth. */
static bool conn_make_fresh(struct conn_registry *r, struct conn *c, uint64_t now_ms)
{
	int expected = CONN_IDLE;

	atomic_fetch_add(&r->fresh, 1);
	if (!atomic_compare_exchange_strong(&c->phase, &expected, CONN_FRESH)) {
		atomic_fetch_sub(&r->fresh, 1);
		return false;
	}
	atomic_store_explicit(&c->fresh_ms, now_ms, memory_order_relaxed);
	return true;
}

/* Whether a request may be on its way in c: its line has come, or bytes wait unread. */
static bool conn_pending(const struct conn *c)
{
	int n = 0;

	return atomic_load_explicit(&c->line_seen, memory_order_relaxed) ||
	       (ioctl(c->fd, FIONREAD, &n) == 0 && n > 0);
}

/* Whether c's worker is inside the application's code from before to after the test of c's
 * socket (test): a worker busy there is reading no socket, so c's request cannot be half
 * read by libmicrohttpd then; and it may stay busy long (a synchronous handler). */
static bool conn_worker_away(const struct conn *c, bool (*test)(const struct conn *))
{
	uint64_t g;

	if (c->worker_app == NULL || ((g = atomic_load(c->worker_app)) & 1) == 0)
		return false;
	return !test(c) && atomic_load(c->worker_app) == g;
}

size_t conn_close_idle(struct conn_registry *r, uint64_t now_ms)
{
	size_t n = 0;

	pthread_mutex_lock(&r->lock);
	for (struct conn *c = r->head.next; c != &r->head; c = c->next) {
		/* Idle to us may still hold a request: in the socket, or read by libmicrohttpd
		 * and not parsed yet. The connection becomes fresh again, so grace waits for
		 * it, and only its read side is shut: what arrived is still read, then the
		 * worker sees EOF. With nothing waiting it closes the connection at once (the
		 * client sees a clean FIN); a request waiting is run and answered with
		 * "Connection: close". One whose request is visibly under way (its line has
		 * come, or bytes are unread) is not shut at all: a request split over segments
		 * would be cut by the EOF; it gets the fresh connection's bound and its 408.
		 * SHUT_RD sends no packet, so one thread does them all. The EOF is the
		 * worker's to see: one busy in a long handler would leave the client waiting
		 * until it returns; a connection of such a worker with nothing in its socket
		 * cannot hold a request libmicrohttpd has read, and is shut both ways now. */
		if (!conn_make_fresh(r, c, now_ms))
			continue;
		if (conn_worker_away(c, conn_pending)) {
			int fresh = CONN_FRESH;

			if (atomic_compare_exchange_strong(&c->phase, &fresh, CONN_CLOSING))
				atomic_fetch_sub(&r->fresh, 1);
			shutdown(c->fd, SHUT_RDWR);
		} else if (!conn_pending(c)) {
			shutdown(c->fd, SHUT_RD);
		}
		n++;
	}
	pthread_mutex_unlock(&r->lock);
	return n;
}

bool conn_refresh(struct conn_registry *r, struct conn *c, uint64_t now_ms)
{
	if (!conn_make_fresh(r, c, now_ms))
		return false;
	/* As grace does to an idle connection: what was sent is still read, then EOF. */
	if (!conn_pending(c))
		shutdown(c->fd, SHUT_RD);
	return true;
}

size_t conn_kick_busy(struct conn_registry *r, uint64_t cutoff_ms)
{
	static const int unset = 0; /* the system's default, as it was: nothing else sets it */
	size_t n = 0;

	pthread_mutex_lock(&r->lock);
	for (struct conn *c = r->head.next; c != &r->head; c = c->next) {
		if (atomic_load(&c->phase) != CONN_BUSY ||
		    atomic_load_explicit(&c->since_ms, memory_order_relaxed) > cutoff_ms)
			continue;
		/* Setting it makes the kernel call the socket's write-space callback, which
		 * wakes an epoll waiting for EPOLLOUT: a new edge for libmicrohttpd. */
		if (setsockopt(c->fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &unset, sizeof unset) == 0)
			n++;
	}
	pthread_mutex_unlock(&r->lock);
	return n;
}

void conn_close(struct conn_registry *r, struct conn *c)
{
	conn_leave(r, c, CONN_CLOSING);
	shutdown(c->fd, SHUT_RDWR);
}

size_t conn_close_stale_fresh(struct conn_registry *r, uint64_t cutoff_ms, uint64_t *oldest_ms)
{
	size_t n = 0;

	*oldest_ms = UINT64_MAX;
	pthread_mutex_lock(&r->lock);
	for (struct conn *c = r->head.next; c != &r->head; c = c->next) {
		int expected = CONN_FRESH;

		if (atomic_load(&c->phase) != CONN_FRESH)
			continue;
		uint64_t since = atomic_load_explicit(&c->fresh_ms, memory_order_relaxed);

		if (since > cutoff_ms) {
			if (since < *oldest_ms)
				*oldest_ms = since;
			continue;
		}
		/* Silent (or slow) too long: its request was not going to come in time. */
		if (atomic_compare_exchange_strong(&c->phase, &expected, CONN_CLOSING)) {
			atomic_fetch_sub(&r->fresh, 1);
			conn_shut_late(c);
			n++;
		}
	}
	pthread_mutex_unlock(&r->lock);
	return n;
}

size_t conn_close_all(struct conn_registry *r, bool except_streams)
{
	size_t n = 0;

	pthread_mutex_lock(&r->lock);
	for (struct conn *c = r->head.next; c != &r->head; c = c->next) {
		if ((except_streams && c->has_stream) || atomic_load(&c->cancelled))
			continue;
		conn_leave(r, c, CONN_CLOSING);
		shutdown(c->fd, SHUT_RDWR);
		n++;
	}
	pthread_mutex_unlock(&r->lock);
	return n;
}

size_t conn_cancel_suspended(struct conn_registry *r)
{
	size_t n = 0;

	pthread_mutex_lock(&r->lock);
	for (struct conn *c = r->head.next; c != &r->head; c = c->next) {
		if (!c->suspended)
			continue;
		c->suspended = false;
		atomic_store(&c->cancelled, true);
		MHD_resume_connection(c->mhd);
		n++;
	}
	pthread_mutex_unlock(&r->lock);
	return n;
}
