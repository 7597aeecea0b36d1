/*
 * check_admit: the admission policy's unit tests: client address keys (an IPv4-mapped IPv6
 * address is the IPv4 one), the limits and live changes to them, the per-address table's
 * counts, growth, shrinking and removal (checked against a plain array over a random
 * sequence), its bound, the rate limit of refusal lines, and exactness under threads.
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "admit.h"

static struct admit a;

static void setup(void)
{
	ck_assert_int_eq(admit_init(&a, 4, 2), 0);
}

static void teardown(void)
{
	admit_destroy(&a);
}

static struct admit_key v4(const char *text)
{
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons(1234) };
	struct admit_key k;

	ck_assert_int_eq(inet_pton(AF_INET, text, &in.sin_addr), 1);
	ck_assert(admit_key_from((struct sockaddr *)&in, sizeof in, &k));
	return k;
}

static struct admit_key v6(const char *text)
{
	struct sockaddr_in6 in6 = { .sin6_family = AF_INET6, .sin6_port = htons(1234) };
	struct admit_key k;

	ck_assert_int_eq(inet_pton(AF_INET6, text, &in6.sin6_addr), 1);
	ck_assert(admit_key_from((struct sockaddr *)&in6, sizeof in6, &k));
	return k;
}

/* The i-th of many distinct addresses, half IPv4 and half IPv6. */
static struct admit_key many(unsigned i)
{
	struct admit_key k;

	memset(&k, 0, sizeof k);
	if (i % 2) {
		k.addr[10] = k.addr[11] = 0xff;
		k.addr[12] = 10;
		k.addr[13] = (uint8_t)(i >> 16);
		k.addr[14] = (uint8_t)(i >> 8);
		k.addr[15] = (uint8_t)i;
	} else {
		k.addr[0] = 0x20;
		k.addr[1] = 0x01;
		k.addr[15] = (uint8_t)i;
		k.addr[14] = (uint8_t)(i >> 8);
		k.addr[13] = (uint8_t)(i >> 16);
	}
	return k;
}

START_TEST(keys)
{
	struct admit_key a4 = v4("192.0.2.7"), mapped = v6("::ffff:192.0.2.7"), other = v6("::1");
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	struct sockaddr_in in = { .sin_family = AF_INET };
	struct admit_key k;
	char buf[ADMIT_KEY_TEXT];

	ck_assert_mem_eq(&a4, &mapped, sizeof a4);
	ck_assert(memcmp(&a4, &other, sizeof a4) != 0);
	ck_assert_str_eq(admit_key_format(&a4, buf, sizeof buf), "192.0.2.7");
	ck_assert_str_eq(admit_key_format(&mapped, buf, sizeof buf), "192.0.2.7");
	ck_assert_str_eq(admit_key_format(&other, buf, sizeof buf), "::1");
	k = v6("2001:db8::1");
	ck_assert_str_eq(admit_key_format(&k, buf, sizeof buf), "2001:db8::1");
	/* Not an IP address, or too short to hold one. */
	ck_assert(!admit_key_from((struct sockaddr *)&un, sizeof un, &k));
	ck_assert(!admit_key_from((struct sockaddr *)&in, sizeof in - 1, &k));
	ck_assert(!admit_key_from(NULL, 0, &k));
}
END_TEST

START_TEST(counts_and_limits)
{
	struct admit_key one = v4("127.0.0.1"), two = v4("127.0.0.2"), two6 = v6("::ffff:127.0.0.2");
	unsigned limit, per;

	/* Per address: 2 each; the mapped form is the same client. */
	ck_assert_int_eq(admit_check(&a, &one), ADMIT_OK);
	ck_assert_uint_eq(admit_total(&a), 0); /* a check changes nothing */
	ck_assert_int_eq(admit_enter(&a, &one), ADMIT_OK);
	ck_assert_int_eq(admit_enter(&a, &one), ADMIT_OK);
	ck_assert_int_eq(admit_check(&a, &one), ADMIT_ADDRESS_FULL);
	ck_assert_int_eq(admit_enter(&a, &one), ADMIT_ADDRESS_FULL);
	ck_assert_uint_eq(admit_count(&a, &one), 2);
	ck_assert_int_eq(admit_enter(&a, &two), ADMIT_OK);
	ck_assert_int_eq(admit_enter(&a, &two6), ADMIT_OK);
	ck_assert_uint_eq(admit_count(&a, &two), 2);
	ck_assert_uint_eq(admit_addresses(&a), 2);
	/* In all: 4. */
	ck_assert_uint_eq(admit_total(&a), 4);
	ck_assert_int_eq(admit_check(&a, NULL), ADMIT_FULL);
	ck_assert_int_eq(admit_enter(&a, NULL), ADMIT_FULL);

	/* Raised: room again; per-address 0 is no limit. */
	admit_set_limits(&a, 6, 0);
	admit_get_limits(&a, &limit, &per);
	ck_assert_uint_eq(limit, 6);
	ck_assert_uint_eq(per, 0);
	ck_assert_int_eq(admit_enter(&a, &one), ADMIT_OK);
	ck_assert_int_eq(admit_enter(&a, NULL), ADMIT_OK); /* not IP: the total only */
	ck_assert_uint_eq(admit_total(&a), 6);
	ck_assert_uint_eq(admit_count(&a, &one), 3);
	ck_assert_int_eq(admit_enter(&a, &two), ADMIT_FULL);

	/* Lowered below what is open: nothing open is touched, new ones wait for the count
	 * to fall below the limit. */
	admit_set_limits(&a, 2, 1);
	ck_assert_uint_eq(admit_total(&a), 6);
	admit_leave(&a, NULL);
	admit_leave(&a, &one);
	admit_leave(&a, &one);
	admit_leave(&a, &two);
	ck_assert_uint_eq(admit_total(&a), 2);
	ck_assert_int_eq(admit_check(&a, NULL), ADMIT_FULL);
	admit_leave(&a, &two);
	ck_assert_uint_eq(admit_count(&a, &two), 0);
	ck_assert_uint_eq(admit_addresses(&a), 1);
	ck_assert_int_eq(admit_check(&a, &one), ADMIT_ADDRESS_FULL); /* one still has 1 */
	ck_assert_int_eq(admit_enter(&a, &two), ADMIT_OK);
	admit_leave(&a, &one);
	admit_leave(&a, &two);
	ck_assert_uint_eq(admit_total(&a), 0);
	ck_assert_uint_eq(admit_addresses(&a), 0);
	/* A stray leave never wraps the total. */
	admit_leave(&a, &one);
	ck_assert_uint_eq(admit_total(&a), 0);
}
END_TEST

/* The table grows past its first size and shrinks back once the crowd has gone. */
START_TEST(growth_and_shrinking)
{
	const unsigned n = 20000;
	size_t first = a.cap;
	struct admit_key k;

	admit_set_limits(&a, 2 * n, 2);
	for (unsigned i = 0; i < n; i++) {
		k = many(i);
		ck_assert_int_eq(admit_enter(&a, &k), ADMIT_OK);
	}
	k = many(7);
	ck_assert_int_eq(admit_enter(&a, &k), ADMIT_OK);
	ck_assert_int_eq(admit_enter(&a, &k), ADMIT_ADDRESS_FULL);
	ck_assert_uint_eq(admit_addresses(&a), n);
	ck_assert_uint_eq(admit_total(&a), n + 1);
	ck_assert_uint_gt(a.cap, first);
	ck_assert_uint_le(2 * a.used, a.cap); /* at most half full */
	for (unsigned i = 0; i < n; i++) {
		k = many(i);
		ck_assert_uint_eq(admit_count(&a, &k), i == 7 ? 2 : 1);
	}
	for (unsigned i = 0; i < n; i++) {
		k = many(i);
		admit_leave(&a, &k);
	}
	k = many(7);
	ck_assert_uint_eq(admit_count(&a, &k), 1);
	admit_leave(&a, &k);
	ck_assert_uint_eq(admit_addresses(&a), 0);
	ck_assert_uint_eq(admit_total(&a), 0);
	ck_assert_uint_eq(a.cap, first);
}
END_TEST

/* Removal shifts entries back along their run: a random walk of entries and leaves over a
 * few hundred addresses, in a table kept small, must agree with a plain array at every
 * step. */
START_TEST(removal_against_a_model)
{
	enum { N = 300 };
	unsigned model[N] = { 0 }, open = 0;
	unsigned seed = 12345;

	admit_set_limits(&a, 100000, 5);
	for (int step = 0; step < 200000; step++) {
		unsigned i, r;
		struct admit_key k;

		seed = seed * 1103515245u + 12345u;
		r = seed >> 8;
		i = r % N;
		k = many(i);
		if ((r >> 12) % 2 == 0 && model[i] > 0) {
			admit_leave(&a, &k);
			model[i]--;
			open--;
		} else {
			enum admit_verdict v = admit_enter(&a, &k);

			ck_assert_int_eq(v, model[i] < 5 ? ADMIT_OK : ADMIT_ADDRESS_FULL);
			if (v == ADMIT_OK) {
				model[i]++;
				open++;
			}
		}
		if (step % 997 == 0 || step > 199000) {
			unsigned used = 0;

			for (unsigned j = 0; j < N; j++) {
				struct admit_key kj = many(j);

				ck_assert_uint_eq(admit_count(&a, &kj), model[j]);
				used += model[j] > 0;
			}
			ck_assert_uint_eq(admit_addresses(&a), used);
			ck_assert_uint_eq(admit_total(&a), open);
		}
	}
}
END_TEST

/* The table holds at most ADMIT_MAX_SLOTS slots, half of them used: past that, a new
 * address is refused (the largest connection limit never gets there). */
START_TEST(table_bound)
{
	const unsigned most = ADMIT_MAX_SLOTS / 2;
	struct admit_key k;

	admit_set_limits(&a, most + 10, 0);
	for (unsigned i = 0; i < most; i++) {
		k = many(i);
		ck_assert_int_eq(admit_enter(&a, &k), ADMIT_OK);
	}
	ck_assert_uint_eq(a.cap, ADMIT_MAX_SLOTS);
	k = many(most);
	ck_assert_int_eq(admit_enter(&a, &k), ADMIT_NO_MEMORY);
	ck_assert_uint_eq(admit_total(&a), most);
	k = many(0);
	ck_assert_int_eq(admit_enter(&a, &k), ADMIT_OK); /* a known address still counts */
	ck_assert_int_eq(admit_enter(&a, NULL), ADMIT_OK);
}
END_TEST

START_TEST(refusals_are_rate_limited)
{
	unsigned unlogged = 99;

	ck_assert(admit_refused(&a, 5000, &unlogged));
	ck_assert_uint_eq(unlogged, 0);
	for (int i = 0; i < 5; i++)
		ck_assert(!admit_refused(&a, 5500 + (uint64_t)i, &unlogged));
	ck_assert(!admit_refused(&a, 5999, &unlogged));
	ck_assert(admit_refused(&a, 6000, &unlogged));
	ck_assert_uint_eq(unlogged, 6);
	ck_assert(admit_refused(&a, 9000, &unlogged));
	ck_assert_uint_eq(unlogged, 0);
	ck_assert_uint_eq(admit_refused_total(&a), 9);
}
END_TEST

/* Threads entering and leaving at once never get more than the limit admitted. */
static _Atomic unsigned inside, most_inside;

static void *churn(void *arg)
{
	struct admit_key k = many((unsigned)(uintptr_t)arg % 3);

	for (int i = 0; i < 20000; i++) {
		unsigned now, seen;

		if (admit_enter(&a, &k) != ADMIT_OK)
			continue;
		now = atomic_fetch_add(&inside, 1) + 1;
		seen = atomic_load(&most_inside);
		while (now > seen && !atomic_compare_exchange_weak(&most_inside, &seen, now))
			;
		atomic_fetch_sub(&inside, 1);
		admit_leave(&a, &k);
	}
	return NULL;
}

START_TEST(exact_under_threads)
{
	pthread_t t[6];

	admit_set_limits(&a, 3, 2);
	for (uintptr_t i = 0; i < 6; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, churn, (void *)i), 0);
	for (int i = 0; i < 6; i++)
		pthread_join(t[i], NULL);
	ck_assert_uint_le(atomic_load(&most_inside), 3);
	ck_assert_uint_eq(admit_total(&a), 0);
	ck_assert_uint_eq(admit_addresses(&a), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("admit");
	TCase *tc = tcase_create("admit");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, keys);
	tcase_add_test(tc, counts_and_limits);
	tcase_add_test(tc, growth_and_shrinking);
	tcase_add_test(tc, removal_against_a_model);
	tcase_add_test(tc, table_bound);
	tcase_add_test(tc, refusals_are_rate_limited);
	tcase_add_test(tc, exact_under_threads);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
