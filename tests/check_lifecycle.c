/*
 * check_lifecycle: the shutdown state machine driven by an injected clock and load. Every
 * transition in lifecycle.h's diagram is taken at least once here.
 */
#include "autoconfig.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>

#include "lifecycle.h"

#define S_RUN SERVICED_STATE_RUNNING
#define S_DELAY SERVICED_STATE_DRAIN_DELAY
#define S_GRACE SERVICED_STATE_GRACE
#define S_MERCY SERVICED_STATE_MERCY
#define S_FORCE SERVICED_STATE_FORCE
#define S_STOP SERVICED_STATE_STOPPED

/* The observer records every transition. */
static enum serviced_state seen[64][2];
static int n_seen;

static void record(void *cls, const struct lifecycle *lc, enum serviced_state from,
		   enum serviced_state to)
{
	(void)cls;
	ck_assert_int_eq(lc->state, to);
	ck_assert_int_lt(n_seen, 64);
	seen[n_seen][0] = from;
	seen[n_seen][1] = to;
	n_seen++;
}

static struct lifecycle lc;
static struct lifecycle_load busy = { .requests_in_flight = 2, .connections_open = 2 };
static struct lifecycle_load conns_only = { .requests_in_flight = 0, .connections_open = 1 };
static struct lifecycle_load fresh_only = { .connections_open = 1, .connections_fresh = 1 };
static struct lifecycle_load idle = { .requests_in_flight = 0 };

/* delay 0 or 5 s, grace 10 s, mercy 5 s, force 1 s; the clock starts at 1000. */
static void setup_with(uint64_t delay)
{
	uint64_t knobs[SERVICED_KNOB_COUNT_] = { delay, 10000, 5000, 1000 };

	n_seen = 0;
	lifecycle_init(&lc, knobs, 1000, record, NULL);
}

static void expect_path(const enum serviced_state *path, int n)
{
	ck_assert_int_eq(n_seen, n);
	for (int i = 0; i < n; i++) {
		ck_assert_int_eq(seen[i][0], path[i]);
		ck_assert_int_eq(seen[i][1], path[i + 1]);
	}
}

START_TEST(no_delay_goes_to_grace)
{
	setup_with(0);
	ck_assert_int_eq(lifecycle_trigger(&lc, SERVICED_TRIGGER_SIGNAL, false, 1000, &busy), 0);
	ck_assert_int_eq(lc.state, S_GRACE);
	ck_assert_int_eq(lc.trigger, SERVICED_TRIGGER_SIGNAL);
	ck_assert_uint_eq(lifecycle_deadline(&lc), 11000);
	ck_assert_int_eq(lifecycle_remaining(&lc, 4000), 7000);
}
END_TEST

START_TEST(delay_then_grace_at_deadline)
{
	setup_with(5000);
	lifecycle_trigger(&lc, SERVICED_TRIGGER_CONTROL, false, 2000, &busy);
	ck_assert_int_eq(lc.state, S_DELAY);
	lifecycle_advance(&lc, 6999, &busy);
	ck_assert_int_eq(lc.state, S_DELAY);
	lifecycle_advance(&lc, 7000, &busy);
	ck_assert_int_eq(lc.state, S_GRACE);
	/* Grace is measured from its own start. */
	ck_assert_uint_eq(lifecycle_deadline(&lc), 17000);
}
END_TEST

START_TEST(delay_holds_even_when_idle)
{
	/* A lame duck keeps serving for its whole delay, idle or not. */
	setup_with(5000);
	lifecycle_trigger(&lc, SERVICED_TRIGGER_SIGNAL, false, 1000, &idle);
	lifecycle_advance(&lc, 3000, &idle);
	ck_assert_int_eq(lc.state, S_DELAY);
}
END_TEST

START_TEST(cancel_only_in_delay)
{
	setup_with(5000);
	ck_assert_int_eq(lifecycle_cancel(&lc, 1000), -ENOENT);
	lifecycle_trigger(&lc, SERVICED_TRIGGER_SIGNAL, false, 1000, &busy);
	ck_assert_int_eq(lifecycle_cancel(&lc, 2000), 0);
	ck_assert_int_eq(lc.state, S_RUN);
	ck_assert_int_eq(lc.trigger, SERVICED_TRIGGER_NONE);
	/* After a cancel the count of requests starts again: one trigger is one step. */
	lifecycle_trigger(&lc, SERVICED_TRIGGER_SIGNAL, false, 3000, &busy);
	ck_assert_int_eq(lc.state, S_DELAY);
	lifecycle_advance(&lc, 8000, &busy);
	ck_assert_int_eq(lc.state, S_GRACE);
	ck_assert_int_eq(lifecycle_cancel(&lc, 8001), -EBUSY);
	{
		const enum serviced_state path[] = { S_RUN, S_DELAY, S_RUN, S_DELAY, S_GRACE };

		expect_path(path, 4);
	}
}
END_TEST

START_TEST(grace_ends_when_work_is_done)
{
	setup_with(0);
	lifecycle_trigger(&lc, SERVICED_TRIGGER_SIGNAL, false, 1000, &busy);
	lifecycle_advance(&lc, 1500, &busy);
	ck_assert_int_eq(lc.state, S_GRACE);
	lifecycle_advance(&lc, 1600, &conns_only);
	ck_assert_int_eq(lc.state, S_MERCY);
	ck_assert(!lc.cut);
	lifecycle_advance(&lc, 1700, &idle);
	ck_assert_int_eq(lc.state, S_FORCE);
	lifecycle_stopped(&lc, 1701);
	ck_assert_int_eq(lc.state, S_STOP);
	ck_assert_int_eq(lifecycle_exit_status(&lc), SERVICED_EXIT_CLEAN);
	ck_assert_uint_eq(lifecycle_time_in(&lc, S_GRACE, 2000), 600);
	ck_assert_uint_eq(lifecycle_time_in(&lc, S_MERCY, 2000), 100);
	ck_assert_uint_eq(lifecycle_time_in(&lc, S_DELAY, 2000), 0);
	{
		const enum serviced_state path[] = { S_RUN, S_GRACE, S_MERCY, S_FORCE, S_STOP };

		expect_path(path, 4);
	}
}
END_TEST

START_TEST(grace_waits_for_fresh_connections)
{
	/* A connection accepted before the listener closed will send its request: grace is not
	 * over while it has not (the engine bounds how long it waits). */
	setup_with(0);
	lifecycle_trigger(&lc, SERVICED_TRIGGER_SIGNAL, false, 1000, &fresh_only);
	ck_assert_int_eq(lc.state, S_GRACE);
	lifecycle_advance(&lc, 2000, &busy);
	ck_assert_int_eq(lc.state, S_GRACE);
	lifecycle_advance(&lc, 2500, &idle);
	ck_assert_int_eq(lc.state, S_FORCE);
	ck_assert(!lc.cut);
}
END_TEST

START_TEST(grace_holds_while_the_listener_is_open)
{
	/* Until the engine has closed the listener, a connection accepted before the shutdown
	 * may still be handed over: grace does not end, however idle the server is. */
	struct lifecycle_load open_listener = { .connections_open = 1, .accepting = true };

	setup_with(0);
	lifecycle_trigger(&lc, SERVICED_TRIGGER_SIGNAL, false, 1000, &open_listener);
	ck_assert_int_eq(lc.state, S_GRACE);
	lifecycle_advance(&lc, 1001, &idle);
	ck_assert_int_eq(lc.state, S_FORCE);
	/* Grace's own deadline still ends it. */
	setup_with(0);
	lifecycle_trigger(&lc, SERVICED_TRIGGER_SIGNAL, false, 1000, &open_listener);
	lifecycle_advance(&lc, 11000, &open_listener);
	ck_assert_int_eq(lc.state, S_MERCY);
}
END_TEST

START_TEST(idle_server_stops_at_once)
{
	setup_with(0);
	lifecycle_trigger(&lc, SERVICED_TRIGGER_SIGNAL, false, 1000, &idle);
	ck_assert_int_eq(lc.state, S_FORCE);
}
END_TEST

START_TEST(grace_expiry_cuts)
{
	setup_with(0);
	lifecycle_trigger(&lc, SERVICED_TRIGGER_SIGNAL, false, 1000, &busy);
	lifecycle_advance(&lc, 10999, &busy);
	ck_assert_int_eq(lc.state, S_GRACE);
	lifecycle_advance(&lc, 11000, &busy);
	ck_assert_int_eq(lc.state, S_MERCY);
	ck_assert(lc.cut);
	ck_assert_uint_eq(lifecycle_deadline(&lc), 16000);
	lifecycle_advance(&lc, 16000, &busy);
	ck_assert_int_eq(lc.state, S_FORCE);
	ck_assert_int_eq(lifecycle_exit_status(&lc), SERVICED_EXIT_CUT);
	ck_assert_uint_eq(lifecycle_deadline(&lc), LIFECYCLE_NEVER);
	ck_assert_int_eq(lifecycle_remaining(&lc, 16000), -1);
}
END_TEST

START_TEST(second_trigger_skips_third_forces)
{
	setup_with(5000);
	lifecycle_trigger(&lc, SERVICED_TRIGGER_SIGNAL, false, 1000, &busy);
	ck_assert_int_eq(lc.state, S_DELAY);
	lifecycle_trigger(&lc, SERVICED_TRIGGER_SIGNAL, false, 1100, &busy);
	ck_assert_int_eq(lc.state, S_GRACE);
	lifecycle_trigger(&lc, SERVICED_TRIGGER_CONTROL, false, 1200, &busy);
	ck_assert_int_eq(lc.state, S_FORCE);
	/* The first trigger's author is kept. */
	ck_assert_int_eq(lc.trigger, SERVICED_TRIGGER_SIGNAL);
	ck_assert(lc.cut);
	ck_assert_int_eq(lifecycle_trigger(&lc, SERVICED_TRIGGER_SIGNAL, false, 1300, &busy),
			 -EALREADY);
}
END_TEST

START_TEST(second_trigger_from_grace_goes_to_mercy)
{
	setup_with(0);
	lifecycle_trigger(&lc, SERVICED_TRIGGER_SIGNAL, false, 1000, &busy);
	lifecycle_trigger(&lc, SERVICED_TRIGGER_SIGNAL, false, 1100, &busy);
	ck_assert_int_eq(lc.state, S_MERCY);
	ck_assert(lc.cut);
}
END_TEST

START_TEST(now_skips_the_delay)
{
	setup_with(5000);
	lifecycle_trigger(&lc, SERVICED_TRIGGER_ADMIN, true, 1000, &busy);
	ck_assert_int_eq(lc.state, S_GRACE);
	ck_assert_int_eq(lc.trigger, SERVICED_TRIGGER_ADMIN);
}
END_TEST

START_TEST(raising_grace_moves_the_deadline)
{
	setup_with(0);
	lifecycle_trigger(&lc, SERVICED_TRIGGER_SIGNAL, false, 1000, &busy);
	lifecycle_set_knob(&lc, SERVICED_KNOB_GRACE, 60000, 9000, &busy);
	ck_assert_uint_eq(lifecycle_deadline(&lc), 61000);
	lifecycle_advance(&lc, 20000, &busy);
	ck_assert_int_eq(lc.state, S_GRACE);
}
END_TEST

START_TEST(lowering_grace_past_moves_on_at_once)
{
	setup_with(0);
	lifecycle_trigger(&lc, SERVICED_TRIGGER_SIGNAL, false, 1000, &busy);
	lifecycle_set_knob(&lc, SERVICED_KNOB_GRACE, 2000, 5000, &busy);
	ck_assert_int_eq(lc.state, S_MERCY);
	ck_assert(lc.cut);
}
END_TEST

START_TEST(changing_delay_and_mercy_live)
{
	setup_with(5000);
	lifecycle_trigger(&lc, SERVICED_TRIGGER_SIGNAL, false, 1000, &busy);
	lifecycle_set_knob(&lc, SERVICED_KNOB_DRAIN_DELAY, 0, 1500, &busy);
	ck_assert_int_eq(lc.state, S_GRACE);
	lifecycle_advance(&lc, 11500, &busy);
	ck_assert_int_eq(lc.state, S_MERCY);
	lifecycle_set_knob(&lc, SERVICED_KNOB_MERCY, 100000, 12000, &busy);
	lifecycle_advance(&lc, 20000, &busy);
	ck_assert_int_eq(lc.state, S_MERCY);
	lifecycle_set_knob(&lc, SERVICED_KNOB_MERCY, 1000, 20000, &busy);
	ck_assert_int_eq(lc.state, S_FORCE);
	ck_assert_int_eq(lifecycle_set_knob(&lc, SERVICED_KNOB_COUNT_, 1, 20000, &busy), -EINVAL);
}
END_TEST

START_TEST(knobs_change_while_running)
{
	setup_with(0);
	lifecycle_set_knob(&lc, SERVICED_KNOB_GRACE, 1234, 1000, &idle);
	ck_assert_int_eq(lc.state, S_RUN);
	ck_assert_uint_eq(lc.knobs[SERVICED_KNOB_GRACE], 1234);
	ck_assert_int_eq(n_seen, 0);
}
END_TEST

START_TEST(huge_durations_do_not_overflow)
{
	setup_with(0);
	lifecycle_set_knob(&lc, SERVICED_KNOB_GRACE, UINT64_MAX - 5, 1000, &busy);
	lifecycle_trigger(&lc, SERVICED_TRIGGER_SIGNAL, false, 1000, &busy);
	ck_assert_uint_eq(lifecycle_deadline(&lc), LIFECYCLE_NEVER);
	lifecycle_advance(&lc, UINT64_MAX - 1, &busy);
	ck_assert_int_eq(lc.state, S_GRACE);
}
END_TEST

START_TEST(names)
{
	ck_assert_str_eq(serviced_state_name(S_DELAY), "drain_delay");
	ck_assert_str_eq(serviced_state_name(S_STOP), "stopped");
	ck_assert_str_eq(serviced_state_name(SERVICED_STATE_COUNT_), "unknown");
	ck_assert_str_eq(serviced_trigger_name(SERVICED_TRIGGER_CONTROL), "control");
	ck_assert_str_eq(serviced_knob_name(SERVICED_KNOB_DRAIN_DELAY), "drain_delay");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("lifecycle");
	TCase *tc = tcase_create("transitions");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, no_delay_goes_to_grace);
	tcase_add_test(tc, delay_then_grace_at_deadline);
	tcase_add_test(tc, delay_holds_even_when_idle);
	tcase_add_test(tc, cancel_only_in_delay);
	tcase_add_test(tc, grace_ends_when_work_is_done);
	tcase_add_test(tc, grace_waits_for_fresh_connections);
	tcase_add_test(tc, grace_holds_while_the_listener_is_open);
	tcase_add_test(tc, idle_server_stops_at_once);
	tcase_add_test(tc, grace_expiry_cuts);
	tcase_add_test(tc, second_trigger_skips_third_forces);
	tcase_add_test(tc, second_trigger_from_grace_goes_to_mercy);
	tcase_add_test(tc, now_skips_the_delay);
	tcase_add_test(tc, raising_grace_moves_the_deadline);
	tcase_add_test(tc, lowering_grace_past_moves_on_at_once);
	tcase_add_test(tc, changing_delay_and_mercy_live);
	tcase_add_test(tc, knobs_change_while_running);
	tcase_add_test(tc, huge_durations_do_not_overflow);
	tcase_add_test(tc, names);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
