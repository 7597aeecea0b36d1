/*
 * check_duration: serviced_parse_duration() and serviced_format_duration(), driven by
 * tables of inputs. Every row is its own loop iteration, so a failure names the input.
 */
#include "autoconfig.h"

#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "serviced.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const struct {
	const char *text;
	uint64_t ms;
} good[] = {
	{ "0", 0 },
	{ "0s", 0 },
	{ "0ms", 0 },
	{ "0h", 0 },
	{ "5", 5000 },
	{ "5s", 5000 },
	{ "1500ms", 1500 },
	{ "2m", 120000 },
	{ "1.5s", 1500 },
	{ "1.5", 1500 },
	{ "1h", 3600000 },
	{ "0.001s", 1 },
	{ "1.250s", 1250 },
	{ "1.5m", 90000 },
	{ "0.5h", 1800000 },
	{ "0.0001h", 360 },
	{ "1.0ms", 1 },
	{ "007s", 7000 },
	{ "1.5000000000000s", 1500 }, /* trailing zeros beyond any precision */
	{ "24h", 86400000 },
	{ "1440m", 86400000 },
	{ "86400", 86400000 },
	{ "86400000ms", 86400000 },
	{ "23.5h", 84600000 },
};

static const struct {
	const char *text;
	int error;
} bad[] = {
	{ "", -EINVAL },
	{ "-1", -EINVAL },
	{ "-1s", -EINVAL },
	{ "+5s", -EINVAL },
	{ "5x", -EINVAL },
	{ "5 s", -EINVAL },
	{ " 5s", -EINVAL },
	{ "5s ", -EINVAL },
	{ "\t5", -EINVAL },
	{ "5\n", -EINVAL },
	{ "s", -EINVAL },
	{ "ms", -EINVAL },
	{ ".5s", -EINVAL },
	{ "1.", -EINVAL },
	{ "1.s", -EINVAL },
	{ "1.2.3s", -EINVAL },
	{ "1..2s", -EINVAL },
	{ "1.2345s", -EINVAL }, /* finer than a millisecond: rejected, not rounded */
	{ "1.5ms", -EINVAL },
	{ "0.0000000001h", -EINVAL },
	{ "nan", -EINVAL },
	{ "inf", -EINVAL },
	{ "infinity", -EINVAL },
	{ "5S", -EINVAL },
	{ "5sec", -EINVAL },
	{ "5ss", -EINVAL },
	{ "5msx", -EINVAL },
	{ "1m30s", -EINVAL },
	{ "0x10", -EINVAL },
	{ "1e3", -EINVAL },
	{ "1,5s", -EINVAL },
	{ "5d", -EINVAL },
	{ "99999999999999999999999x", -EINVAL }, /* syntax is checked before range */
	{ "25h", -ERANGE },
	{ "1441m", -ERANGE },
	{ "86401", -ERANGE },
	{ "86400001ms", -ERANGE },
	{ "86400.001s", -ERANGE },
	{ "24.0001h", -ERANGE },
	{ "18446744073709551616ms", -ERANGE },
	{ "99999999999999999999999999999999999999s", -ERANGE },
};

static const struct {
	uint64_t ms;
	const char *text;
} formats[] = {
	{ 0, "0s" },
	{ 1, "1ms" },
	{ 250, "250ms" },
	{ 999, "999ms" },
	{ 1000, "1s" },
	{ 1005, "1.005s" },
	{ 1050, "1.05s" },
	{ 1500, "1.5s" },
	{ 59999, "59.999s" },
	{ 90000, "90s" },
	{ 120000, "2m" },
	{ 3600000, "1h" },
	{ 5400000, "90m" },
	{ 86400000, "24h" },
};

START_TEST(parse_good)
{
	uint64_t ms = 12345;
	int r = serviced_parse_duration(good[_i].text, &ms);

	ck_assert_msg(r == 0, "'%s': returned %d", good[_i].text, r);
	ck_assert_msg(ms == good[_i].ms, "'%s': %llu ms, expected %llu", good[_i].text,
		      (unsigned long long)ms, (unsigned long long)good[_i].ms);
}
END_TEST

START_TEST(parse_bad)
{
	uint64_t ms = 12345;
	int r = serviced_parse_duration(bad[_i].text, &ms);

	ck_assert_msg(r == bad[_i].error, "'%s': returned %d, expected %d", bad[_i].text, r,
		      bad[_i].error);
	ck_assert_msg(ms == 12345, "'%s': output written on error", bad[_i].text);
}
END_TEST

START_TEST(parse_null)
{
	uint64_t ms;

	ck_assert_int_eq(serviced_parse_duration(NULL, &ms), -EINVAL);
}
END_TEST

START_TEST(format_table)
{
	char buf[32];

	ck_assert_str_eq(serviced_format_duration(formats[_i].ms, buf, sizeof buf),
			 formats[_i].text);
}
END_TEST

/* Whatever format writes, parse reads back as the same value, across the whole range. */
START_TEST(format_round_trip)
{
	char buf[32];
	uint64_t ms, back;

	for (ms = (uint64_t)_i; ms <= 86400000; ms += 7919 * 13) {
		serviced_format_duration(ms, buf, sizeof buf);
		ck_assert_msg(serviced_parse_duration(buf, &back) == 0, "%llu -> '%s' not parsed",
			      (unsigned long long)ms, buf);
		ck_assert_msg(back == ms, "%llu -> '%s' -> %llu", (unsigned long long)ms, buf,
			      (unsigned long long)back);
	}
}
END_TEST

START_TEST(format_truncates)
{
	char buf[4];

	ck_assert_str_eq(serviced_format_duration(1500, buf, sizeof buf), "1.5");
	ck_assert_str_eq(serviced_format_duration(123456, buf, 1), "");
}
END_TEST

static Suite *duration_suite(void)
{
	Suite *s = suite_create("duration");
	TCase *tc = tcase_create("parse");

	tcase_add_loop_test(tc, parse_good, 0, N(good));
	tcase_add_loop_test(tc, parse_bad, 0, N(bad));
	tcase_add_test(tc, parse_null);
	suite_add_tcase(s, tc);
	tc = tcase_create("format");
	tcase_add_loop_test(tc, format_table, 0, N(formats));
	tcase_add_loop_test(tc, format_round_trip, 0, 64);
	tcase_add_test(tc, format_truncates);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(duration_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
