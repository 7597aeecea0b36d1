/*
 * counts: the per-request counters (in flight, completed and cut by state, total), kept in
 * shards by thread so that two workers never write one cache line on every request.
 *
 * With one shared atomic counter each, every request moved the counters' cache lines from
 * core to core four times; measured with two workers at 1000 keep-alive connections that
 * was about 4% of the daemon's CPU per request. A worker now writes only its own shard; a
 * reader (status, the drain's wait) adds the shards up.
 *
 * A thread's shard is fixed at its first count (counts_mine). Threads beyond COUNTS_SHARDS
 * share shards, which is only slower: every update is an atomic read-modify-write. A
 * request may end on another thread than it began on; the sum is still exact, and a shard's
 * own in-flight figure may then go below 0.
 */
#ifndef SERVICED_COUNTS_H
#define SERVICED_COUNTS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "serviced.h"

#define COUNTS_SHARDS 16

struct counts_shard {
	/* Sequentially consistent, unlike the rest, for counts_end's "was that the last?":
	 * on x86 that costs nothing more than a relaxed read-modify-write. */
	_Atomic int64_t in_flight;
	_Atomic uint64_t total;
	_Atomic uint64_t completed[SERVICED_STATE_COUNT_];
	_Atomic uint64_t cut[SERVICED_STATE_COUNT_];
	_Atomic uint64_t aborted[SERVICED_STATE_COUNT_];
	/* The application's code running on this thread now (a handler, a stream reader):
	 * the force bound ends the process only for that. */
	_Atomic int64_t in_app;
} __attribute__((aligned(64)));

struct counts {
	struct counts_shard shard[COUNTS_SHARDS];
};

/* The calling thread's shard. */
struct counts_shard *counts_mine(struct counts *c);

/* A request began. */
static inline void counts_begin(struct counts_shard *sh)
{
	atomic_fetch_add(&sh->in_flight, 1);
}

/* How a request ended: its response handed to the kernel whole; cut short by the server
 * (its connection closed under it by the drain, or the daemon stopping); or given up by the
 * client (it went away, or was slower than the idle timeout). */
enum counts_outcome { COUNTS_COMPLETED, COUNTS_CUT, COUNTS_ABORTED };

/* A request ended in state st. */
static inline void counts_end(struct counts_shard *sh, int st, enum counts_outcome how)
{
	_Atomic uint64_t *n = how == COUNTS_COMPLETED ? &sh->completed[st] :
			      how == COUNTS_CUT	      ? &sh->cut[st] :
							&sh->aborted[st];

	atomic_fetch_add_explicit(n, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&sh->total, 1, memory_order_relaxed);
	atomic_fetch_sub(&sh->in_flight, 1);
}

/* A request counted in flight by counts_begin() did not begin after all. */
static inline void counts_cancel(struct counts_shard *sh)
{
	atomic_fetch_sub(&sh->in_flight, 1);
}

/* The calling worker enters or leaves the application's code. */
static inline void counts_enter_app(struct counts_shard *sh)
{
	atomic_fetch_add_explicit(&sh->in_app, 1, memory_order_relaxed);
}

static inline void counts_leave_app(struct counts_shard *sh)
{
	atomic_fetch_sub_explicit(&sh->in_app, 1, memory_order_relaxed);
}

/* Whether any thread is in the application's code now. */
bool counts_in_app(const struct counts *c);

/* Requests in flight now. Read after a counts_end of this thread, 0 means that no request
 * is in flight: every shard's last change is seen, by sequential consistency. */
uint64_t counts_in_flight(const struct counts *c);

/* The totals: requests ended, and by the state they ended in (arrays of
 * SERVICED_STATE_COUNT_). */
void counts_totals(const struct counts *c, uint64_t *total, uint64_t *completed, uint64_t *cut,
		   uint64_t *aborted);

#endif
