/*
 * conn: the connection registry (see conn.h). The lock is taken once per connection
 * opened or closed and by the engine's sweeps, never per request: requests only touch
 * their own record's atomic phase.
 */
#include "autoconfig.h"

#include <stdlib.h>
#include <sys/socket.h>

#include "conn.h"

void conn_registry_init(struct conn_registry *r)
{
	pthread_mutex_init(&r->lock, NULL);
	r->head.prev = r->head.next = &r->head;
	r->count = 0;
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

struct conn *conn_add(struct conn_registry *r, struct MHD_Connection *mhd, int fd)
{
	struct conn *c = calloc(1, sizeof *c);

	if (!c)
		return NULL;
	c->mhd = mhd;
	c->fd = fd;
	atomic_init(&c->phase, CONN_IDLE);
	pthread_mutex_lock(&r->lock);
	c->prev = r->head.prev;
	c->next = &r->head;
	r->head.prev->next = c;
	r->head.prev = c;
	r->count++;
	pthread_mutex_unlock(&r->lock);
	return c;
}

void conn_remove(struct conn_registry *r, struct conn *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&r->lock);
	c->prev->next = c->next;
	c->next->prev = c->prev;
	r->count--;
	pthread_mutex_unlock(&r->lock);
	free(c);
}

bool conn_begin_request(struct conn *c)
{
	int expected = CONN_IDLE;

	return atomic_compare_exchange_strong(&c->phase, &expected, CONN_BUSY);
}

void conn_end_request(struct conn *c)
{
	int expected = CONN_BUSY;

	atomic_compare_exchange_strong(&c->phase, &expected, CONN_IDLE);
}

size_t conn_close_idle(struct conn_registry *r)
{
	size_t n = 0;

	pthread_mutex_lock(&r->lock);
	for (struct conn *c = r->head.next; c != &r->head; c = c->next) {
		int expected = CONN_IDLE;

		if (atomic_compare_exchange_strong(&c->phase, &expected, CONN_CLOSING)) {
			/* The worker sees EOF and closes it; the client sees a clean FIN. */
			shutdown(c->fd, SHUT_RDWR);
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
		atomic_store(&c->phase, CONN_CLOSING);
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
