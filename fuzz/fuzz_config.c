/*
 * fuzz_config: config_load_json(), the config file parser, on a fresh struct config each
 * time (config_init() ... config_free(), so ASan's leak check sees every allocation).
 *
 * The input is the file's bytes. Properties:
 *   - an error leaves a NUL-terminated, non-empty message in the error buffer, even a small
 *     one (a second load into a 24-byte buffer checks the truncation);
 *   - a success leaves every field inside the range the option table promises, and the
 *     engine's listen pointer on the owned copy;
 *   - loading the same document twice over one config (the second load replaces strings
 *     the first one set) gives the same verdict and does not leak.
 */
#include "autoconfig.h"

#include <string.h>

#include "config.h"
#include "fuzz.h"

#define MAX_MS UINT64_C(86400000)

static void check_string(const char *name, const char *s)
{
	if (s != NULL)
		FUZZ_CHECK(s[0] != '\0', "%s was set to an empty string", name);
}

/* What a successful load promises, whatever the input was. */
static void check_config(const struct config *c)
{
	const struct serviced_options *e = &c->engine;

	FUZZ_CHECK(e->listen == c->listen || (c->listen == NULL && e->listen != NULL),
		   "engine.listen does not point at the owned copy");
	FUZZ_CHECK(e->threads <= 256, "threads %u", e->threads);
	FUZZ_CHECK(e->drain_delay_ms <= MAX_MS && e->grace_ms <= MAX_MS && e->mercy_ms <= MAX_MS &&
			   e->force_ms <= MAX_MS,
		   "a duration is over a day");
	FUZZ_CHECK(e->signals != 0 && (e->signals & ~0x3fu) == 0, "signals 0x%x", e->signals);
	FUZZ_CHECK(e->connection_limit >= 1 && e->connection_limit <= 1000000,
		   "max-connections %u", e->connection_limit);
	FUZZ_CHECK(e->per_ip_connection_limit <= 1000000, "max-connections-per-ip %u",
		   e->per_ip_connection_limit);
	FUZZ_CHECK(e->connection_timeout_s >= 1 && e->connection_timeout_s <= 86400,
		   "connection-timeout %u", e->connection_timeout_s);
	FUZZ_CHECK(e->connection_memory >= 4096 && e->connection_memory <= 16 * 1024 * 1024,
		   "connection-memory %zu", e->connection_memory);
	FUZZ_CHECK(c->control_mode <= 0777, "control-mode %o", c->control_mode);
	FUZZ_CHECK(c->verbose >= 0 && c->verbose <= 3, "verbose %d", c->verbose);
	FUZZ_CHECK(c->config_file == NULL && !c->show_help && !c->show_version,
		   "a command-line-only option was set from a file");
	check_string("listen", c->listen);
	check_string("root", c->root);
	check_string("control", c->control);
	check_string("control-group", c->control_group);
	check_string("admin-listen", c->admin_listen);
	check_string("admin-token-file", c->admin_token_file);
	if (c->control != NULL)
		FUZZ_CHECK(strlen(c->control) < 108, "control path of %zu bytes",
			   strlen(c->control));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	char err[512], tiny[24];
	struct config c;
	int r, r2;

	config_init(&c);
	memset(err, 'X', sizeof err);
	r = config_load_json(&c, text, size, "fuzz.json", err, sizeof err);
	FUZZ_CHECK(r == CONFIG_OK || r == CONFIG_ERROR, "result %d", r);
	if (r == CONFIG_OK) {
		check_config(&c);
	} else {
		FUZZ_CHECK(fuzz_terminated(err, sizeof err), "error message not terminated");
		FUZZ_CHECK(err[0] != '\0', "error without a message");
	}

	/* The same document again over the same config: strings are replaced, not leaked. */
	memset(tiny, 'X', sizeof tiny);
	r2 = config_load_json(&c, text, size, "fuzz.json", tiny, sizeof tiny);
	/* Every key is applied the same way again, and no-ctrlc only drops SIGINT once more,
	 * so the verdict cannot change. */
	FUZZ_CHECK(r2 == r, "loading the document twice gives %d, then %d", r, r2);
	if (r2 == CONFIG_OK)
		check_config(&c);
	else
		FUZZ_CHECK(fuzz_terminated(tiny, sizeof tiny), "small error buffer not terminated");
	config_free(&c);
	config_free(NULL);
	return 0;
}
