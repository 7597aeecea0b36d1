/*
 * counts: sharded per-request counters; see counts.h.
 */
#include "autoconfig.h"

#include "counts.h"

/* Each thread's shard number, 1 + a count taken at its first use (0: none yet), shared by
 * every engine in the process: consecutive threads (a daemon's workers) get different
 * shards. */
static atomic_uint counts_threads;
static _Thread_local unsigned counts_thread;

struct counts_shard *counts_mine(struct counts *c)
{
	if (counts_thread == 0)
		counts_thread =
			atomic_fetch_add_explicit(&counts_threads, 1, memory_order_relaxed) + 1;
	return &c->shard[(counts_thread - 1) % COUNTS_SHARDS];
}

uint64_t counts_in_flight(const struct counts *c)
{
	int64_t n = 0;

	for (int i = 0; i < COUNTS_SHARDS; i++)
		n += atomic_load(&c->shard[i].in_flight);
	/* Shards are read one after another: a request that began on one thread and ended on
	 * another between two reads can show as -1. */
	return n > 0 ? (uint64_t)n : 0;
}

bool counts_in_app(const struct counts *c)
{
	int64_t n = 0;

	for (int i = 0; i < COUNTS_SHARDS; i++)
		n += atomic_load_explicit(&c->shard[i].in_app, memory_order_relaxed);
	return n > 0;
}

void counts_totals(const struct counts *c, uint64_t *total, uint64_t *completed, uint64_t *cut,
		   uint64_t *aborted)
{
	*total = 0;
	for (int st = 0; st < SERVICED_STATE_COUNT_; st++)
		completed[st] = cut[st] = aborted[st] = 0;
	for (int i = 0; i < COUNTS_SHARDS; i++) {
		const struct counts_shard *sh = &c->shard[i];

		*total += atomic_load_explicit(&sh->total, memory_order_relaxed);
		for (int st = 0; st < SERVICED_STATE_COUNT_; st++) {
			completed[st] += atomic_load_explicit(&sh->completed[st], memory_order_relaxed);
			cut[st] += atomic_load_explicit(&sh->cut[st], memory_order_relaxed);
			aborted[st] += atomic_load_explicit(&sh->aborted[st], memory_order_relaxed);
		}
	}
}
