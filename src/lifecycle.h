/*
 * lifecycle: the shutdown state machine, and nothing else. It is pure: it owns no threads,
 * sockets or clocks. Callers pass the time and the current load; the machine decides the
 * state. Every change goes through one function, which reports it to one observer; the
 * engine reacts to those reports (closing the listener, ending streams, stopping MHD).
 *
 *   running --trigger--> drain_delay --delay over--> grace --nothing in flight--> mercy
 *      ^                    |  (delay 0: straight to grace)       or grace over
 *      +------cancel--------+
 *   mercy --no connection left, or mercy over--> force --engine stopped MHD--> stopped
 *
 * "Nothing in flight" also means no fresh connection (one accepted before the listener
 * closed whose first request has not arrived yet; the engine bounds how long it waits),
 * and a listener already closed: until the engine has closed it, a connection may still
 * arrive that was accepted before the shutdown.
 *
 * A second trigger (or "now") skips to the next phase; the third forces.
 */
#ifndef SERVICED_LIFECYCLE_H
#define SERVICED_LIFECYCLE_H

#include <stdbool.h>
#include <stdint.h>

#include "serviced.h"

#define LIFECYCLE_NEVER UINT64_MAX

/* What the machine needs to know of the server's work. */
struct lifecycle_load {
	uint64_t requests_in_flight;
	uint64_t connections_open;
	uint64_t connections_fresh; /* accepted, first request not yet arrived */
	bool accepting;             /* the listener may still hand over connections */
};

struct lifecycle;
typedef void (*lifecycle_observer)(void *cls, const struct lifecycle *lc,
				   enum serviced_state from, enum serviced_state to);

struct lifecycle {
	enum serviced_state state;
	enum serviced_trigger trigger; /* who began the current shutdown */
	unsigned requests;             /* shutdown requests since it began */
	bool cut;                      /* requests were in flight when grace ended */
	uint64_t knobs[SERVICED_KNOB_COUNT_];
	uint64_t started_ms;                        /* when the machine was made */
	uint64_t entered_ms[SERVICED_STATE_COUNT_]; /* last entry into each state, or NEVER */
	lifecycle_observer observer;
	void *observer_cls;
};

void lifecycle_init(struct lifecycle *lc, const uint64_t knobs[SERVICED_KNOB_COUNT_],
		    uint64_t now, lifecycle_observer fn, void *cls);

/* A shutdown request. Returns 0, or -EALREADY when force or stopped was reached. */
int lifecycle_trigger(struct lifecycle *lc, enum serviced_trigger by, bool now_flag,
		      uint64_t now, const struct lifecycle_load *load);
/* Back to running from the drain delay. -ENOENT when running, -EBUSY when past it. */
int lifecycle_cancel(struct lifecycle *lc, uint64_t now);
/* Changes a duration; the current phase's deadline moves with it (from the phase's start),
 * and a deadline already past moves the machine on at once. -EINVAL for a bad knob. */
int lifecycle_set_knob(struct lifecycle *lc, enum serviced_knob k, uint64_t ms, uint64_t now,
		       const struct lifecycle_load *load);
/* Moves on for time and load: call whenever either may have changed. */
void lifecycle_advance(struct lifecycle *lc, uint64_t now, const struct lifecycle_load *load);
/* A request was cut during the shutdown, however grace ended: the exit status says so. */
void lifecycle_note_cut(struct lifecycle *lc);
/* The engine has stopped libmicrohttpd: force -> stopped. */
void lifecycle_stopped(struct lifecycle *lc, uint64_t now);

/* When the current phase ends by time, or LIFECYCLE_NEVER. */
uint64_t lifecycle_deadline(const struct lifecycle *lc);
/* Milliseconds left in the current phase, or -1 when it has no deadline. */
int64_t lifecycle_remaining(const struct lifecycle *lc, uint64_t now);
/* How long a state lasted in the shutdown (0 if never entered). */
uint64_t lifecycle_time_in(const struct lifecycle *lc, enum serviced_state st, uint64_t now);
/* The process exit status the shutdown earned (SERVICED_EXIT_CLEAN or _CUT). */
int lifecycle_exit_status(const struct lifecycle *lc);

#endif
