/*
 * duration: the text form of every time bound ("5s", "1500ms", "1.5s", "2m", "1h").
 *
 * Parsing uses integers only: strtod() would make "1,5s" valid in some locales and "1.5s"
 * invalid, and would accept "nan", "inf" and hex. A value must come out as a whole number of
 * milliseconds; anything finer is rejected rather than silently rounded.
 */
#include "autoconfig.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "serviced.h"

#define DURATION_MAX_MS UINT64_C(86400000) /* one day: longer bounds are typos, not intent */
#define DURATION_FRAC_MAX UINT64_C(1000000000) /* nine decimals: finer than 1ms in any unit */

static const struct {
	const char *suffix;
	uint64_t ms;
} duration_units[] = {
	{ "", 1000 }, /* a bare number is seconds, like sleep(1) and systemd */
	{ "ms", 1 },
	{ "s", 1000 },
	{ "m", 60 * 1000 },
	{ "h", 60 * 60 * 1000 },
};

static int duration_digit(char c)
{
	return c >= '0' && c <= '9';
}

int serviced_parse_duration(const char *text, uint64_t *ms)
{
	const char *p = text;
	uint64_t whole = 0, frac = 0, scale = 1, unit = 0;
	size_t i;

	/* A digit first: this alone rejects "", " 5", "-5", "+5", ".5", "nan" and "inf". */
	if (!p || !duration_digit(*p))
		return -EINVAL;
	for (; duration_digit(*p); p++) {
		/* Stop growing once past the limit, so that long inputs cannot wrap around. */
		if (whole <= DURATION_MAX_MS)
			whole = whole * 10 + (uint64_t)(*p - '0');
	}
	if (*p == '.') {
		p++;
		if (!duration_digit(*p))
			return -EINVAL;
		for (; duration_digit(*p); p++) {
			if (scale < DURATION_FRAC_MAX) {
				frac = frac * 10 + (uint64_t)(*p - '0');
				scale *= 10;
			} else if (*p != '0') {
				return -EINVAL; /* finer than a millisecond in any unit */
			}
		}
	}
	for (i = 0; i < sizeof duration_units / sizeof duration_units[0]; i++) {
		if (strcmp(p, duration_units[i].suffix) == 0) {
			unit = duration_units[i].ms;
			break;
		}
	}
	if (unit == 0)
		return -EINVAL;
	if (whole > DURATION_MAX_MS)
		return -ERANGE;
	/* Both products fit easily: whole <= 8.64e7, frac < 1e9, unit <= 3.6e6. */
	if (frac * unit % scale != 0)
		return -EINVAL;
	whole = whole * unit + frac * unit / scale;
	if (whole > DURATION_MAX_MS)
		return -ERANGE;
	*ms = whole;
	return 0;
}

/* The largest unit that divides ms exactly, so the result parses back to the same value:
 * 90000 is "90s", not "1m30s", which the parser does not accept. */
const char *serviced_format_duration(uint64_t ms, char *buf, size_t size)
{
	uint64_t frac = ms % 1000;
	int digits = 3;

	if (ms == 0)
		snprintf(buf, size, "0s");
	else if (ms % (60 * 60 * 1000) == 0)
		snprintf(buf, size, "%" PRIu64 "h", ms / (60 * 60 * 1000));
	else if (ms % (60 * 1000) == 0)
		snprintf(buf, size, "%" PRIu64 "m", ms / (60 * 1000));
	else if (frac == 0)
		snprintf(buf, size, "%" PRIu64 "s", ms / 1000);
	else if (ms < 1000)
		snprintf(buf, size, "%" PRIu64 "ms", ms);
	else {
		for (; frac % 10 == 0; frac /= 10)
			digits--;
		snprintf(buf, size, "%" PRIu64 ".%0*" PRIu64 "s", ms / 1000, digits, frac);
	}
	return buf;
}
