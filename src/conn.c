/*
 * conn: the connection registry (see conn.h). The lock is taken once per connection
 * opened or closed and by the engine's sweeps, never per request: requests only touch
 * their own record's atomic phase.
 */
#include "autoconfig.h"

#include <stdint.h>
#include <stdlib.h>
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
	c->fresh_ms = now_ms;
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
	atomic_compare_exchange_strong(&c->phase, &expected, CONN_IDLE);
}

/* Shuts down a connection whose request will not come in time. While its headers are
 * incomplete libmicrohttpd only reads it, so the answer can be written here: a client that
 * has sent a request line learns why (408), one that sent nothing gets a plain close. */
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
		if (atomic_load_explicit(&c->reused, memory_order_relaxed))
			due += idle_ms;
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

/* Idle connections are shut down by one thread below this many, by one thread per CPU
 * (at most CONN_SWEEP_THREADS) from there: each shutdown() sends a FIN, and on loopback
 * delivers it too, some microseconds apiece. */
#define CONN_SWEEP_PARALLEL 512
#define CONN_SWEEP_THREADS 8

struct conn_sweep {
	const int *fds;
	size_t n, first, step;
};

static void *conn_sweep_part(void *arg)
{
	const struct conn_sweep *p = arg;

	for (size_t i = p->first; i < p->n; i += p->step)
		shutdown(p->fds[i], SHUT_RD);
	return NULL;
}

size_t conn_close_idle(struct conn_registry *r, uint64_t now_ms)
{
	struct conn_sweep part[CONN_SWEEP_THREADS];
	pthread_t tid[CONN_SWEEP_THREADS];
	bool started[CONN_SWEEP_THREADS] = { false };
	size_t n = 0, k;
	long cpus;
	int *fds;

	pthread_mutex_lock(&r->lock);
	fds = r->count >= CONN_SWEEP_PARALLEL ? malloc(r->count * sizeof *fds) : NULL;
	for (struct conn *c = r->head.next; c != &r->head; c = c->next) {
		int expected = CONN_IDLE;

		/* Idle to us may still hold a request: in the socket, or read by libmicrohttpd
		 * and not parsed yet. Only the read side is shut: what arrived is still read,
		 * after it the worker sees EOF. With nothing waiting it closes the connection
		 * at once (the client sees a clean FIN); a request waiting is run and answered,
		 * with "Connection: close". Until one or the other, the connection is fresh
		 * again, and grace waits for it. */
		if (atomic_compare_exchange_strong(&c->phase, &expected, CONN_FRESH)) {
			atomic_fetch_add(&r->fresh, 1);
			c->fresh_ms = now_ms; /* the wait for its request starts now */
			if (fds != NULL)
				fds[n] = c->fd;
			else
				shutdown(c->fd, SHUT_RD);
			n++;
		}
	}
	if (fds != NULL) {
		/* The lock stays held while the threads work: no record can go, so no fd
		 * can be closed and reused under them. */
		cpus = sysconf(_SC_NPROCESSORS_ONLN);
		k = cpus < 1 ? 1 : cpus > CONN_SWEEP_THREADS ? CONN_SWEEP_THREADS : (size_t)cpus;
		for (size_t i = 0; i < k; i++) {
			part[i] = (struct conn_sweep){ .fds = fds, .n = n, .first = i, .step = k };
			if (i > 0)
				started[i] = pthread_create(&tid[i], NULL, conn_sweep_part, &part[i]) == 0;
		}
		conn_sweep_part(&part[0]);
		for (size_t i = 1; i < k; i++) {
			if (started[i])
				pthread_join(tid[i], NULL);
			else
				conn_sweep_part(&part[i]);
		}
		free(fds);
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
		if (c->fresh_ms > cutoff_ms) {
			if (c->fresh_ms < *oldest_ms)
				*oldest_ms = c->fresh_ms;
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
