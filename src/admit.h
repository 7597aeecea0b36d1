/*
 * admit: the engine's admission policy for HTTP connections. It holds the live limits (open
 * connections, connections per client address), the count of admitted connections, a
 * table of counts per client address, and the count of refusals.
 *
 * libmicrohttpd asks first (its accept policy callback, admit_check(), on the accept path:
 * one lock, one lookup, no allocation); the engine then counts the connection when
 * libmicrohttpd reports it started (admit_enter()), which checks again under the same lock:
 * two workers may both pass admit_check() for the last place, and admit_enter() admits
 * exactly one of them. Limits change at any time; connections already admitted stay.
 */
#ifndef SERVICED_ADMIT_H
#define SERVICED_ADMIT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* A client address: IPv6, with IPv4 as its IPv4-mapped form (::ffff:a.b.c.d), so a client
 * counts once whichever way it reached a dual-stack socket. */
struct admit_key {
	uint8_t addr[16];
};

/* Fills k from a socket address; false when it is not an IP address (it is then counted in
 * the total only). */
bool admit_key_from(const struct sockaddr *sa, socklen_t len, struct admit_key *k);
/* k as text, "192.0.2.1" for an IPv4 client, for log lines. Returns buf. */
#define ADMIT_KEY_TEXT 46 /* INET6_ADDRSTRLEN */
const char *admit_key_format(const struct admit_key *k, char *buf, size_t size);

enum admit_verdict {
	ADMIT_OK = 0,
	ADMIT_FULL,         /* the open connections are at the limit */
	ADMIT_ADDRESS_FULL, /* this address's connections are at the per-address limit */
	ADMIT_NO_MEMORY,    /* the address table could not grow */
};

/* One slot of the address table; free when count is 0. */
struct admit_slot {
	struct admit_key key;
	uint32_t count;
};

struct admit {
	pthread_mutex_t lock;
	/* Under lock: */
	unsigned limit, per_address; /* per_address 0 = no limit */
	size_t total;                /* admitted connections open */
	struct admit_slot *slots;    /* open addressing, linear probing, a power of two */
	size_t cap, used;
	uint64_t seed; /* keys the hash: a client cannot aim its addresses at one chain */
	/* Refusals, from any thread: */
	_Atomic uint64_t refused;
	_Atomic uint64_t logged_ms;  /* when a refusal was last logged */
	_Atomic unsigned unlogged;   /* refusals since, not logged */
};

/* The table grows to at most this many slots: twice the most addresses the largest
 * connection limit (SERVICED_LIMIT_MAX) can admit, rounded up to a power of two. */
#define ADMIT_MAX_SLOTS ((size_t)1 << 21)

/* Sets up a with the limits. Returns 0 or -ENOMEM. */
int admit_init(struct admit *a, unsigned limit, unsigned per_address);
/* Frees the table. */
void admit_destroy(struct admit *a);

void admit_set_limits(struct admit *a, unsigned limit, unsigned per_address);
void admit_get_limits(struct admit *a, unsigned *limit, unsigned *per_address);

/* Would a connection from k (NULL: not an IP address) be admitted now? Changes nothing. */
enum admit_verdict admit_check(struct admit *a, const struct admit_key *k);
/* Admits a connection from k (NULL: not an IP address) and counts it, or refuses it. */
enum admit_verdict admit_enter(struct admit *a, const struct admit_key *k);
/* An admitted connection from k closed. */
void admit_leave(struct admit *a, const struct admit_key *k);

/* Open admitted connections: in all, and from k. */
size_t admit_total(struct admit *a);
unsigned admit_count(struct admit *a, const struct admit_key *k);
/* Addresses with at least one connection open. */
size_t admit_addresses(struct admit *a);

/* Counts a refusal. Returns true when it should be logged (at most once a second), with
 * *unlogged set to the refusals left out since the last line logged. */
bool admit_refused(struct admit *a, uint64_t now_ms, unsigned *unlogged);
uint64_t admit_refused_total(struct admit *a);

#endif
