/*
 * fuzz_duration: serviced_parse_duration() and serviced_format_duration().
 *
 * The input is the text to parse (cut at its first NUL, as a C caller would see it).
 * Properties:
 *   - the result is 0, -EINVAL or -ERANGE, and a success is at most a day;
 *   - it agrees with a second parser written here from the documented grammar, which
 *     works on the digits as text instead of accumulating them (a differential oracle);
 *   - format(parse(x)) parses back to the same value, and formatting is canonical:
 *     format(parse(format(v))) == format(v);
 *   - formatting any 64-bit value into any buffer size stays inside the buffer and gives a
 *     prefix of the untruncated text.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "serviced.h"
#include "fuzz.h"

#define MAX_MS UINT64_C(86400000)
#define TEXT_MAX 256

/* The oracle's verdict: 0 with *ms, -EINVAL or -ERANGE; BOTH when the value is neither a
 * whole number of milliseconds nor in range, where either error is a fair answer. */
#define ORACLE_BOTH 1

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* number [ "." digits ] [ "ms" | "s" | "m" | "h" ], a bare number being seconds. The value
 * is whole + frac, frac being F / 10^k once the fraction's trailing zeros are gone. */
static int oracle_parse(const char *s, uint64_t *ms)
{
	const char *w = s, *we, *f = NULL, *fe = NULL, *u;
	unsigned __int128 whole = 0, value;
	uint64_t unit, F = 0, pow10 = 1;
	bool whole_big = false, frac_ok = true;
	size_t k;

	while (is_digit(*s))
		s++;
	we = s;
	if (we == w)
		return -EINVAL;
	if (*s == '.') {
		f = ++s;
		while (is_digit(*s))
			s++;
		fe = s;
		if (fe == f)
			return -EINVAL;
	}
	u = s;
	if (strcmp(u, "") == 0 || strcmp(u, "s") == 0)
		unit = 1000;
	else if (strcmp(u, "ms") == 0)
		unit = 1;
	else if (strcmp(u, "m") == 0)
		unit = 60000;
	else if (strcmp(u, "h") == 0)
		unit = 3600000;
	else
		return -EINVAL;

	while (w < we && *w == '0')
		w++;
	if (we - w > 15)
		whole_big = true; /* >= 1e15 of any unit is far past a day */
	for (; !whole_big && w < we; w++)
		whole = whole * 10 + (unsigned)(*w - '0');

	if (f != NULL) {
		while (fe > f && fe[-1] == '0')
			fe--;
		k = (size_t)(fe - f);
		/* Past nine significant decimals no unit (at most 3.6e6 ms) can make a whole
		 * number of milliseconds: 10^k would have to divide F * 3.6e6 with F's last
		 * digit not 0. */
		if (k > 9) {
			frac_ok = false;
		} else {
			for (; f < fe; f++) {
				F = F * 10 + (uint64_t)(*f - '0');
				pow10 *= 10;
			}
			frac_ok = F * unit % pow10 == 0;
		}
	}
	value = whole * unit + (frac_ok ? F * unit / pow10 : 0);
	if (whole_big || value > MAX_MS)
		return frac_ok ? -ERANGE : ORACLE_BOTH;
	if (!frac_ok)
		return -EINVAL;
	*ms = (uint64_t)value;
	return 0;
}

static void check_format(uint64_t v)
{
	char full[64], small[64], again[64];
	uint64_t back = 0;
	size_t n, len;
	int r;

	serviced_format_duration(v, full, sizeof full);
	len = strlen(full);
	FUZZ_CHECK(len > 0 && len < sizeof full, "format(%llu) is empty", (unsigned long long)v);

	/* Every buffer size: inside the buffer, NUL-terminated, a prefix of the whole. */
	for (n = 1; n <= len + 1; n++) {
		memset(small, 'X', sizeof small);
		serviced_format_duration(v, small, n);
		FUZZ_CHECK(memchr(small, '\0', n) != NULL,
			   "format(%llu, size %zu) is not terminated", (unsigned long long)v, n);
		FUZZ_CHECK(small[n] == 'X', "format(%llu, size %zu) wrote past the buffer",
			   (unsigned long long)v, n);
		FUZZ_CHECK(strncmp(small, full, n - 1) == 0,
			   "format(%llu, size %zu) = '%s' is not a prefix of '%s'",
			   (unsigned long long)v, n, small, full);
	}

	if (v > MAX_MS)
		return;
	r = serviced_parse_duration(full, &back);
	FUZZ_CHECK(r == 0 && back == v, "format(%llu) = '%s' parses back as %d, %llu",
		   (unsigned long long)v, full, r, (unsigned long long)back);
	serviced_format_duration(back, again, sizeof again);
	FUZZ_CHECK(strcmp(again, full) == 0, "format is not canonical: '%s' then '%s'", full,
		   again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[TEXT_MAX + 1];
	uint64_t ms = UINT64_C(0xdeadbeef), oms = 0, raw = 0;
	size_t n = size < TEXT_MAX ? size : TEXT_MAX, i;
	int r, o;

	memcpy(text, data, n);
	text[n] = '\0';

	r = serviced_parse_duration(text, &ms);
	FUZZ_CHECK(r == 0 || r == -EINVAL || r == -ERANGE, "'%s': result %d", text, r);
	if (r != 0)
		FUZZ_CHECK(ms == UINT64_C(0xdeadbeef), "'%s': failed (%d) but wrote %llu", text,
			   r, (unsigned long long)ms);

	o = oracle_parse(text, &oms);
	if (o == ORACLE_BOTH)
		FUZZ_CHECK(r == -EINVAL || r == -ERANGE, "'%s': expected an error, got %d", text,
			   r);
	else
		FUZZ_CHECK(r == o && (r != 0 || ms == oms),
			   "'%s': parser says %d (%llu ms), oracle says %d (%llu ms)", text, r,
			   (unsigned long long)ms, o, (unsigned long long)oms);

	if (r == 0) {
		FUZZ_CHECK(ms <= MAX_MS, "'%s': %llu ms is over a day", text,
			   (unsigned long long)ms);
		check_format(ms);
	}

	/* The same bytes as a number: any value through the formatter, and one in range
	 * through the round trip. */
	for (i = 0; i < size && i < 8; i++)
		raw = raw << 8 | data[i];
	check_format(raw);
	check_format(raw % (MAX_MS + 1));
	return 0;
}
