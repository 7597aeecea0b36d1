/*
 * admit: the admission policy (see admit.h). One mutex guards the limits, the total and the
 * address table; it is taken once per accepted connection by the accept policy, once when
 * the connection starts and once when it closes, never per request.
 *
 * The table is open addressing with linear probing, kept at most half full so a lookup ends
 * quickly; removal shifts the following entries back instead of leaving tombstones, so a
 * long-running daemon's table never fills with dead slots. It grows when an address is
 * added (at connection start, never on the accept path) and shrinks when mostly empty.
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "admit.h"

#define ADMIT_MIN_SLOTS 64
#define ADMIT_LOG_INTERVAL_MS 1000

bool admit_key_from(const struct sockaddr *sa, socklen_t len, struct admit_key *k)
{
	memset(k, 0, sizeof *k);
	if (sa == NULL)
		return false;
	if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		k->addr[10] = k->addr[11] = 0xff;
		memcpy(&k->addr[12], &in->sin_addr, 4);
		return true;
	}
	if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

		memcpy(k->addr, &in6->sin6_addr, 16);
		return true;
	}
	return false;
}

static bool admit_key_is_v4(const struct admit_key *k)
{
	static const uint8_t prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	return memcmp(k->addr, prefix, sizeof prefix) == 0;
}

const char *admit_key_format(const struct admit_key *k, char *buf, size_t size)
{
	if (!inet_ntop(admit_key_is_v4(k) ? AF_INET : AF_INET6,
		       admit_key_is_v4(k) ? &k->addr[12] : k->addr, buf, (socklen_t)size))
		snprintf(buf, size, "?");
	return buf;
}

/* splitmix64's finaliser: every input bit moves every output bit. */
static uint64_t admit_mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* Keyed with a per-process seed: the addresses a client can choose (a whole IPv6 prefix)
 * cannot be picked offline to land in one run of the table. */
static size_t admit_hash(const struct admit *a, const struct admit_key *k)
{
	uint64_t lo, hi;

	memcpy(&lo, k->addr, 8);
	memcpy(&hi, k->addr + 8, 8);
	return (size_t)admit_mix(admit_mix(a->seed ^ lo) ^ hi);
}

/* The slot holding k, or the free slot where it would go (*found tells which). */
static size_t admit_find(const struct admit *a, const struct admit_key *k, bool *found)
{
	size_t mask = a->cap - 1, i = admit_hash(a, k) & mask;

	while (a->slots[i].count != 0) {
		if (memcmp(&a->slots[i].key, k, sizeof *k) == 0) {
			*found = true;
			return i;
		}
		i = (i + 1) & mask;
	}
	*found = false;
	return i;
}

/* Moves the entries into a table of cap slots. -ENOMEM leaves the table as it was. */
static int admit_resize(struct admit *a, size_t cap)
{
	struct admit_slot *old = a->slots;
	size_t old_cap = a->cap;
	struct admit_slot *fresh = calloc(cap, sizeof *fresh);

	if (fresh == NULL)
		return -ENOMEM;
	a->slots = fresh;
	a->cap = cap;
	for (size_t i = 0; i < old_cap; i++) {
		bool found;

		if (old[i].count != 0)
			a->slots[admit_find(a, &old[i].key, &found)] = old[i];
	}
	free(old);
	return 0;
}

/* Empties slot i, moving back each following entry of the run that may fill it: an entry
 * may move into i when its home slot is not cyclically within (i, j]. */
static void admit_remove_at(struct admit *a, size_t i)
{
	size_t mask = a->cap - 1, j = i;

	for (;;) {
		size_t home;
		bool stays;

		j = (j + 1) & mask;
		if (a->slots[j].count == 0)
			break;
		home = admit_hash(a, &a->slots[j].key) & mask;
		stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
		if (!stays) {
			a->slots[i] = a->slots[j];
			i = j;
		}
	}
	a->slots[i].count = 0;
	a->used--;
}

static uint64_t admit_seed(const struct admit *a)
{
	uint64_t seed;
	struct timespec ts;

	if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) == (ssize_t)sizeof seed)
		return seed;
	/* No entropy yet (early boot): weaker, still not known in advance. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return admit_mix((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^
			 (uint64_t)getpid() ^ (uint64_t)(uintptr_t)a);
}

int admit_init(struct admit *a, unsigned limit, unsigned per_address)
{
	memset(a, 0, sizeof *a);
	a->slots = calloc(ADMIT_MIN_SLOTS, sizeof *a->slots);
	if (a->slots == NULL)
		return -ENOMEM;
	a->cap = ADMIT_MIN_SLOTS;
	a->limit = limit;
	a->per_address = per_address;
	a->seed = admit_seed(a);
	atomic_init(&a->refused, 0);
	atomic_init(&a->logged_ms, 0);
	atomic_init(&a->unlogged, 0);
	pthread_mutex_init(&a->lock, NULL);
	return 0;
}

void admit_destroy(struct admit *a)
{
	if (a->slots == NULL)
		return;
	free(a->slots);
	a->slots = NULL;
	pthread_mutex_destroy(&a->lock);
}

void admit_set_limits(struct admit *a, unsigned limit, unsigned per_address)
{
	pthread_mutex_lock(&a->lock);
	a->limit = limit;
	a->per_address = per_address;
	pthread_mutex_unlock(&a->lock);
}

void admit_get_limits(struct admit *a, unsigned *limit, unsigned *per_address)
{
	pthread_mutex_lock(&a->lock);
	*limit = a->limit;
	*per_address = a->per_address;
	pthread_mutex_unlock(&a->lock);
}

/* The verdict for k, under the lock; *slot and *found locate k in the table. */
static enum admit_verdict admit_judge(const struct admit *a, const struct admit_key *k,
				      size_t *slot, bool *found)
{
	*found = false;
	if (a->total >= a->limit)
		return ADMIT_FULL;
	if (k == NULL)
		return ADMIT_OK;
	*slot = admit_find(a, k, found);
	if (a->per_address != 0 && *found && a->slots[*slot].count >= a->per_address)
		return ADMIT_ADDRESS_FULL;
	return ADMIT_OK;
}

enum admit_verdict admit_check(struct admit *a, const struct admit_key *k)
{
	enum admit_verdict v;
	size_t slot;
	bool found;

	pthread_mutex_lock(&a->lock);
	v = admit_judge(a, k, &slot, &found);
	pthread_mutex_unlock(&a->lock);
	return v;
}

enum admit_verdict admit_enter(struct admit *a, const struct admit_key *k)
{
	enum admit_verdict v;
	size_t slot = 0;
	bool found;

	pthread_mutex_lock(&a->lock);
	v = admit_judge(a, k, &slot, &found);
	if (v == ADMIT_OK && k != NULL && !found && (a->used + 1) * 2 > a->cap) {
		/* Half full: double, so that probing stays short. */
		if (a->cap * 2 > ADMIT_MAX_SLOTS || admit_resize(a, a->cap * 2) < 0)
			v = ADMIT_NO_MEMORY;
		else
			slot = admit_find(a, k, &found);
	}
	if (v == ADMIT_OK) {
		if (k != NULL && !found) {
			a->slots[slot].key = *k;
			a->used++;
		}
		if (k != NULL)
			a->slots[slot].count++;
		a->total++;
	}
	pthread_mutex_unlock(&a->lock);
	return v;
}

void admit_leave(struct admit *a, const struct admit_key *k)
{
	size_t slot;
	bool found;

	pthread_mutex_lock(&a->lock);
	if (a->total > 0)
		a->total--;
	if (k != NULL) {
		slot = admit_find(a, k, &found);
		if (found && --a->slots[slot].count == 0) {
			admit_remove_at(a, slot);
			/* Mostly empty after a crowd left: give the memory back (a failure to
			 * allocate the smaller table just keeps the larger one). */
			if (a->cap > ADMIT_MIN_SLOTS && a->used * 8 < a->cap)
				admit_resize(a, a->cap / 2);
		}
	}
	pthread_mutex_unlock(&a->lock);
}

size_t admit_total(struct admit *a)
{
	size_t n;

	pthread_mutex_lock(&a->lock);
	n = a->total;
	pthread_mutex_unlock(&a->lock);
	return n;
}

unsigned admit_count(struct admit *a, const struct admit_key *k)
{
	unsigned n = 0;
	size_t slot;
	bool found;

	pthread_mutex_lock(&a->lock);
	slot = admit_find(a, k, &found);
	if (found)
		n = a->slots[slot].count;
	pthread_mutex_unlock(&a->lock);
	return n;
}

size_t admit_addresses(struct admit *a)
{
	size_t n;

	pthread_mutex_lock(&a->lock);
	n = a->used;
	pthread_mutex_unlock(&a->lock);
	return n;
}

bool admit_refused(struct admit *a, uint64_t now_ms, unsigned *unlogged)
{
	uint64_t last = atomic_load(&a->logged_ms);

	atomic_fetch_add(&a->refused, 1);
	/* One thread wins the right to log this second; the others are counted for it. */
	if ((last != 0 && now_ms - last < ADMIT_LOG_INTERVAL_MS) ||
	    !atomic_compare_exchange_strong(&a->logged_ms, &last, now_ms)) {
		atomic_fetch_add(&a->unlogged, 1);
		return false;
	}
	*unlogged = atomic_exchange(&a->unlogged, 0);
	return true;
}

uint64_t admit_refused_total(struct admit *a)
{
	return atomic_load(&a->refused);
}
