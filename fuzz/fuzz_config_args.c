/*
 * fuzz_config_args: config_parse_args(), the command line, on a fresh struct config each
 * time.
 *
 * The input is argv[1..] separated by NUL bytes (at most 32 arguments; an empty input is
 * no argument at all); argv[0] is "serviced". --config is left out (an argument beginning with "--conf", the shortest
 * unambiguous prefix): it would open whatever path the fuzzer made up; config_load_json()
 * has its own target. Properties: an error leaves a terminated, non-empty message; a
 * success leaves every field in range; nothing leaks; getopt's global state does not carry
 * from one call to the next (the same argv twice gives the same verdict).
 */
#include "autoconfig.h"

#include <string.h>

#include "config.h"
#include "fuzz.h"

#define MAX_ARGS 32
#define MAX_MS UINT64_C(86400000)

static int parse(char **argv, int argc, struct config *c, char *err, size_t size)
{
	char *copy[MAX_ARGS + 2];

	/* getopt may permute argv; each call gets its own copy of the pointers. */
	memcpy(copy, argv, (size_t)(argc + 1) * sizeof *copy);
	config_init(c);
	memset(err, 'X', size);
	return config_parse_args(c, argc, copy, err, size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf, *argv[MAX_ARGS + 2], err[256];
	struct config c;
	const struct serviced_options *e = &c.engine;
	size_t i, start = 0;
	int argc = 1, r, r2;

	buf = malloc(size + 1);
	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	argv[0] = (char *)"serviced";
	for (i = 0; size > 0 && i <= size && argc <= MAX_ARGS; i++) {
		if (buf[i] != '\0')
			continue;
		if (strncmp(buf + start, "--conf", 6) == 0) {
			free(buf);
			return 0;
		}
		argv[argc++] = buf + start;
		start = i + 1;
	}
	argv[argc] = NULL;

	r = parse(argv, argc, &c, err, sizeof err);
	FUZZ_CHECK(r == CONFIG_OK || r == CONFIG_ERROR, "result %d", r);
	if (r != CONFIG_OK) {
		FUZZ_CHECK(fuzz_terminated(err, sizeof err) && err[0] != '\0',
			   "error without a terminated message");
	} else if (!c.show_help && !c.show_version) {
		FUZZ_CHECK(e->listen == c.listen || (c.listen == NULL && e->listen != NULL),
			   "engine.listen does not point at the owned copy");
		FUZZ_CHECK(e->threads <= 256, "threads %u", e->threads);
		FUZZ_CHECK(e->drain_delay_ms <= MAX_MS && e->grace_ms <= MAX_MS &&
				   e->mercy_ms <= MAX_MS && e->force_ms <= MAX_MS,
			   "a duration is over a day");
		FUZZ_CHECK(e->signals != 0 && (e->signals & ~0x3fu) == 0, "signals 0x%x",
			   e->signals);
		FUZZ_CHECK(e->connection_limit >= 1 && e->connection_limit <= 1000000,
			   "max-connections %u", e->connection_limit);
		FUZZ_CHECK(e->connection_timeout_s >= 1 && e->connection_timeout_s <= 86400,
			   "connection-timeout %u", e->connection_timeout_s);
		FUZZ_CHECK(e->connection_memory >= 4096 &&
				   e->connection_memory <= 16 * 1024 * 1024,
			   "connection-memory %zu", e->connection_memory);
		FUZZ_CHECK(c.control_mode <= 0777, "control-mode %o", c.control_mode);
		FUZZ_CHECK(c.verbose >= 0 && c.verbose <= 3, "verbose %d", c.verbose);
		FUZZ_CHECK(c.control == NULL || (c.control[0] && strlen(c.control) < 108),
			   "control path");
	}
	config_free(&c);

	r2 = parse(argv, argc, &c, err, sizeof err);
	FUZZ_CHECK(r2 == r, "the same argv gives %d, then %d", r, r2);
	config_free(&c);
	free(buf);
	return 0;
}
