/*
 * lifecycle: the shutdown state machine (see lifecycle.h for the diagram). Only
 * lifecycle_set_state() changes the state.
 */
#include "autoconfig.h"

#include <errno.h>
#include <string.h>

#include "lifecycle.h"

static const char *const lifecycle_state_names[SERVICED_STATE_COUNT_] = {
	[SERVICED_STATE_RUNNING] = "running",
	[SERVICED_STATE_DRAIN_DELAY] = "drain_delay",
	[SERVICED_STATE_GRACE] = "grace",
	[SERVICED_STATE_MERCY] = "mercy",
	[SERVICED_STATE_FORCE] = "force",
	[SERVICED_STATE_STOPPED] = "stopped",
};

static const char *const lifecycle_trigger_names[SERVICED_TRIGGER_COUNT_] = {
	[SERVICED_TRIGGER_NONE] = "none",
	[SERVICED_TRIGGER_SIGNAL] = "signal",
	[SERVICED_TRIGGER_API] = "api",
	[SERVICED_TRIGGER_CONTROL] = "control",
	[SERVICED_TRIGGER_ADMIN] = "admin",
};

static const char *const lifecycle_knob_names[SERVICED_KNOB_COUNT_] = {
	[SERVICED_KNOB_DRAIN_DELAY] = "drain_delay",
	[SERVICED_KNOB_GRACE] = "grace",
	[SERVICED_KNOB_MERCY] = "mercy",
	[SERVICED_KNOB_FORCE] = "force",
};

const char *serviced_state_name(enum serviced_state st)
{
	return (unsigned)st < SERVICED_STATE_COUNT_ ? lifecycle_state_names[st] : "unknown";
}

const char *serviced_trigger_name(enum serviced_trigger t)
{
	return (unsigned)t < SERVICED_TRIGGER_COUNT_ ? lifecycle_trigger_names[t] : "unknown";
}

const char *serviced_knob_name(enum serviced_knob k)
{
	return (unsigned)k < SERVICED_KNOB_COUNT_ ? lifecycle_knob_names[k] : "unknown";
}

/* The one place the state changes. It records the entry time, notes whether requests are
 * being cut, and tells the observer. */
static void lifecycle_set_state(struct lifecycle *lc, enum serviced_state to, uint64_t now,
				const struct lifecycle_load *load)
{
	enum serviced_state from = lc->state;

	if (from == to)
		return;
	/* Leaving grace (or skipping it) with work in flight means that work is cut. */
	if (load && load->requests_in_flight > 0 && to >= SERVICED_STATE_MERCY &&
	    from < SERVICED_STATE_MERCY && from != SERVICED_STATE_RUNNING)
		lc->cut = true;
	if (load && load->requests_in_flight > 0 && to == SERVICED_STATE_FORCE)
		lc->cut = true;
	lc->state = to;
	lc->entered_ms[to] = now;
	if (to == SERVICED_STATE_RUNNING) {
		lc->trigger = SERVICED_TRIGGER_NONE;
		lc->requests = 0;
		for (int st = SERVICED_STATE_DRAIN_DELAY; st < SERVICED_STATE_COUNT_; st++)
			lc->entered_ms[st] = LIFECYCLE_NEVER;
	}
	if (lc->observer)
		lc->observer(lc->observer_cls, lc, from, to);
}

void lifecycle_init(struct lifecycle *lc, const uint64_t knobs[SERVICED_KNOB_COUNT_],
		    uint64_t now, lifecycle_observer fn, void *cls)
{
	memset(lc, 0, sizeof *lc);
	memcpy(lc->knobs, knobs, sizeof lc->knobs);
	for (int st = 0; st < SERVICED_STATE_COUNT_; st++)
		lc->entered_ms[st] = LIFECYCLE_NEVER;
	lc->state = SERVICED_STATE_RUNNING;
	lc->trigger = SERVICED_TRIGGER_NONE;
	lc->started_ms = now;
	lc->entered_ms[SERVICED_STATE_RUNNING] = now;
	lc->observer = fn;
	lc->observer_cls = cls;
}

uint64_t lifecycle_deadline(const struct lifecycle *lc)
{
	enum serviced_knob k;

	switch (lc->state) {
	case SERVICED_STATE_DRAIN_DELAY:
		k = SERVICED_KNOB_DRAIN_DELAY;
		break;
	case SERVICED_STATE_GRACE:
		k = SERVICED_KNOB_GRACE;
		break;
	case SERVICED_STATE_MERCY:
		k = SERVICED_KNOB_MERCY;
		break;
	default:
		return LIFECYCLE_NEVER; /* force is bounded by the engine's watchdog */
	}
	if (lc->knobs[k] > LIFECYCLE_NEVER - lc->entered_ms[lc->state])
		return LIFECYCLE_NEVER;
	return lc->entered_ms[lc->state] + lc->knobs[k];
}

int64_t lifecycle_remaining(const struct lifecycle *lc, uint64_t now)
{
	uint64_t d = lifecycle_deadline(lc);

	if (d == LIFECYCLE_NEVER)
		return -1;
	return d > now ? (int64_t)(d - now) : 0;
}

void lifecycle_advance(struct lifecycle *lc, uint64_t now, const struct lifecycle_load *load)
{
	for (;;) {
		enum serviced_state st = lc->state;
		bool expired = now >= lifecycle_deadline(lc);

		switch (st) {
		case SERVICED_STATE_DRAIN_DELAY:
			if (expired)
				lifecycle_set_state(lc, SERVICED_STATE_GRACE, now, load);
			break;
		case SERVICED_STATE_GRACE:
			/* The moment nothing is in flight, grace has done its work. */
			if ((load->requests_in_flight == 0 && load->connections_fresh == 0 &&
			     !load->accepting) ||
			    expired)
				lifecycle_set_state(lc, SERVICED_STATE_MERCY, now, load);
			break;
		case SERVICED_STATE_MERCY:
			if (load->connections_open == 0 || expired)
				lifecycle_set_state(lc, SERVICED_STATE_FORCE, now, load);
			break;
		default:
			break;
		}
		if (lc->state == st)
			return;
	}
}

int lifecycle_trigger(struct lifecycle *lc, enum serviced_trigger by, bool now_flag,
		      uint64_t now, const struct lifecycle_load *load)
{
	enum serviced_state to;

	if (lc->state >= SERVICED_STATE_FORCE)
		return -EALREADY;
	lc->requests++;
	if (lc->state == SERVICED_STATE_RUNNING) {
		lc->trigger = by;
		/* "now" on a first request skips the drain delay, the phase it would enter. */
		to = (now_flag || lc->knobs[SERVICED_KNOB_DRAIN_DELAY] == 0) ?
			     SERVICED_STATE_GRACE : SERVICED_STATE_DRAIN_DELAY;
	} else if (lc->requests >= 3) {
		to = SERVICED_STATE_FORCE;
	} else {
		to = lc->state + 1;
	}
	lifecycle_set_state(lc, to, now, load);
	lifecycle_advance(lc, now, load);
	return 0;
}

int lifecycle_cancel(struct lifecycle *lc, uint64_t now)
{
	if (lc->state == SERVICED_STATE_RUNNING)
		return -ENOENT;
	if (lc->state != SERVICED_STATE_DRAIN_DELAY)
		return -EBUSY;
	lifecycle_set_state(lc, SERVICED_STATE_RUNNING, now, NULL);
	return 0;
}

int lifecycle_set_knob(struct lifecycle *lc, enum serviced_knob k, uint64_t ms, uint64_t now,
		       const struct lifecycle_load *load)
{
	if ((unsigned)k >= SERVICED_KNOB_COUNT_)
		return -EINVAL;
	lc->knobs[k] = ms;
	lifecycle_advance(lc, now, load);
	return 0;
}

void lifecycle_note_cut(struct lifecycle *lc)
{
	lc->cut = true;
}

void lifecycle_stopped(struct lifecycle *lc, uint64_t now)
{
	if (lc->state == SERVICED_STATE_FORCE)
		lifecycle_set_state(lc, SERVICED_STATE_STOPPED, now, NULL);
}

uint64_t lifecycle_time_in(const struct lifecycle *lc, enum serviced_state st, uint64_t now)
{
	uint64_t start = lc->entered_ms[st], end = now;

	if (start == LIFECYCLE_NEVER)
		return 0;
	/* A state ended when the next entered state began. */
	for (int next = st + 1; next < SERVICED_STATE_COUNT_; next++) {
		if (lc->entered_ms[next] != LIFECYCLE_NEVER) {
			end = lc->entered_ms[next];
			break;
		}
	}
	return end > start ? end - start : 0;
}

int lifecycle_exit_status(const struct lifecycle *lc)
{
	return lc->cut ? SERVICED_EXIT_CUT : SERVICED_EXIT_CLEAN;
}
