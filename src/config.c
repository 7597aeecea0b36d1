/*
 * config: the daemon's settings from defaults, a JSON config file and the command line.
 *
 * One table describes every option: getopt_long(), the config file keys and the --help
 * text are all made from it, so the three cannot drift apart. A value is checked by the
 * same code whichever way it came in; only the prefix of an error differs ("option --grace"
 * or "config file F: key 'grace'").
 */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <jansson.h>

#include "config.h"
#include "static.h" /* STATIC_CACHE_DEFAULT */

#define CONFIG_FILE_MAX (1024 * 1024) /* a config file is small; a huge one is a mistake */
#define CONFIG_VERBOSE_MAX 3

enum opt_kind {
	OPT_ADDRESS,  /* "IPV4:PORT" or "[IPV6]:PORT" into a char * */
	OPT_STRING,   /* a non-empty string into a char * */
	OPT_SOCKET,   /* a path that must fit in sun_path, into a char * */
	OPT_COUNT,    /* a decimal integer in [min, max] into an unsigned */
	OPT_DURATION, /* a duration into a uint64_t of milliseconds */
	OPT_SECONDS,  /* a duration of whole seconds into an unsigned */
	OPT_BYTES,    /* a size with an optional k/K/M suffix into a size_t */
	OPT_MODE,     /* an octal file mode into an unsigned */
	OPT_SIGNALS,  /* a list of signal names into a SERVICED_SIG_* set */
	OPT_BOOL,     /* a flag into a bool */
	OPT_NO_CTRLC, /* a flag that drops SIGINT from the signal set once a source is read */
	OPT_VERBOSE,  /* repeatable on the command line; 0..3 or a boolean in a file */
	OPT_COMMAND,  /* --config, --help, --version: command line only, into a bool or char * */
};

struct opt {
	const char *name;  /* the long option and the config file key */
	char short_name;   /* 0 when none */
	enum opt_kind kind;
	size_t offset;     /* of the field in struct config */
	uint64_t min, max; /* for counts, sizes and seconds */
	const char *arg;   /* the value's name in --help; NULL for flags */
	const char *help;
	const char *unset; /* --help's default when the field is 0 or NULL */
};

#define F(field) offsetof(struct config, field)

static const struct opt config_opts[] = {
	{ "listen", 0, OPT_ADDRESS, F(listen), 0, 0, "ADDR:PORT", "HTTP address", NULL },
	{ "root", 0, OPT_STRING, F(root), 0, 0, "DIR", "serve files from DIR",
	  "built-in page" },
	{ "file-cache-max", 0, OPT_BYTES, F(file_cache_max), 0, STATIC_CACHE_DEFAULT, "BYTES",
	  "small-file cache size, 0 = off, up to 16M", NULL },
	{ "threads", 0, OPT_COUNT, F(engine.threads), 1, 256, "N", "worker threads, 1-256",
	  "one per CPU" },
	{ "config", 0, OPT_COMMAND, F(config_file), 0, 0, "FILE", "JSON config file",
	  "none" },
	{ "drain-delay", 0, OPT_DURATION, F(engine.drain_delay_ms), 0, 0, "D",
	  "unready time before closing the listener", NULL },
	{ "grace", 0, OPT_DURATION, F(engine.grace_ms), 0, 0, "D",
	  "time for in-flight requests to finish", NULL },
	{ "mercy", 0, OPT_DURATION, F(engine.mercy_ms), 0, 0, "D",
	  "time to end streams, close connections", NULL },
	{ "force", 0, OPT_DURATION, F(engine.force_ms), 0, 0, "D",
	  "time for stuck handlers before exit", NULL },
	{ "signals", 0, OPT_SIGNALS, F(engine.signals), 0, 0, "LIST",
	  "any of term,int,quit,hup,usr1,usr2", NULL },
	{ "no-ctrlc", 0, OPT_NO_CTRLC, 0, 0, 0, NULL, "no shutdown on SIGINT", NULL },
	{ "control", 0, OPT_SOCKET, F(control), 0, 0, "PATH", "control socket path",
	  "in the runtime directory" },
	{ "control-mode", 0, OPT_MODE, F(control_mode), 0, 0777, "MODE",
	  "control socket mode, octal", NULL },
	{ "control-group", 0, OPT_STRING, F(control_group), 0, 0, "GROUP",
	  "group allowed to change state", "none" },
	{ "admin-listen", 0, OPT_ADDRESS, F(admin_listen), 0, 0, "ADDR:PORT",
	  "admin HTTP API address", "off" },
	{ "admin-token-file", 0, OPT_STRING, F(admin_token_file), 0, 0, "FILE",
	  "admin API bearer token file", "none" },
	{ "max-connections", 0, OPT_COUNT, F(engine.connection_limit), 1, 1000000, "N",
	  "connection limit, 1-1000000", NULL },
	{ "max-connections-per-ip", 0, OPT_COUNT, F(engine.per_ip_connection_limit), 0, 1000000,
	  "N", "connection limit per client IP", "no limit" },
	{ "connection-timeout", 0, OPT_SECONDS, F(engine.connection_timeout_s), 1, 86400, "D",
	  "idle timeout, whole seconds", NULL },
	{ "request-header-timeout", 0, OPT_SECONDS, F(engine.header_timeout_s), 0, 86400, "D",
	  "time for a request's headers to come whole, whole seconds; 0 = none", NULL },
	{ "connection-memory", 0, OPT_BYTES, F(engine.connection_memory), 4096, 16 * 1024 * 1024,
	  "BYTES", "header memory per connection, 4k-16M", NULL },
	{ "access-log", 0, OPT_BOOL, F(access_log), 0, 0, NULL, "log every request", NULL },
	{ "verbose", 'v', OPT_VERBOSE, F(verbose), 0, CONFIG_VERBOSE_MAX, NULL,
	  "log more (repeatable)", NULL },
	{ "version", 'V', OPT_COMMAND, F(show_version), 0, 0, NULL, "print the version",
	  NULL },
	{ "help", 'h', OPT_COMMAND, F(show_help), 0, 0, NULL, "print this help", NULL },
};

#undef F

#define CONFIG_NOPTS (sizeof config_opts / sizeof config_opts[0])
#define OPT_VAL_BASE 256 /* getopt_long val of config_opts[i] is OPT_VAL_BASE + i */

static int config_fail(char *err, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int config_fail(char *err, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, size, fmt, ap);
	va_end(ap);
	return CONFIG_ERROR;
}

static void *config_field(struct config *c, const struct opt *o)
{
	return (char *)c + o->offset;
}

void config_init(struct config *c)
{
	memset(c, 0, sizeof *c);
	serviced_options_init(&c->engine);
	c->control_mode = 0600;
	c->file_cache_max = STATIC_CACHE_DEFAULT; /* also the most */
}

void config_free(struct config *c)
{
	if (!c)
		return;
	free(c->listen);
	free(c->root);
	free(c->config_file);
	free(c->control);
	free(c->control_group);
	free(c->admin_listen);
	free(c->admin_token_file);
	c->listen = c->root = c->config_file = c->control = c->control_group = NULL;
	c->admin_listen = c->admin_token_file = NULL;
	c->engine.listen = NULL;
}

static const struct opt *opt_by_name(const char *name)
{
	size_t i;

	for (i = 0; i < CONFIG_NOPTS; i++)
		if (strcmp(config_opts[i].name, name) == 0)
			return &config_opts[i];
	return NULL;
}

/* The option name closest to a misspelt one, for "did you mean": an edit distance of at
 * most 2 and at most a third of its length, so that short junk suggests nothing. */
static const char *opt_nearest(const char *name)
{
	size_t n = strlen(name), i, j, k;
	unsigned row[33], best_d = 3;
	const char *best = NULL;

	if (n + 1 > sizeof row / sizeof row[0])
		return NULL;
	for (k = 0; k < CONFIG_NOPTS; k++) {
		const char *cand = config_opts[k].name;

		for (j = 0; j <= n; j++)
			row[j] = (unsigned)j;
		for (i = 1; cand[i - 1]; i++) {
			unsigned diag = row[0], up;

			row[0] = (unsigned)i;
			for (j = 1; j <= n; j++) {
				up = row[j];
				row[j] = diag + (cand[i - 1] != name[j - 1]);
				if (up + 1 < row[j])
					row[j] = up + 1;
				if (row[j - 1] + 1 < row[j])
					row[j] = row[j - 1] + 1;
				diag = up;
			}
		}
		if (row[n] < best_d && row[n] * 3 <= n) {
			best_d = row[n];
			best = cand;
		}
	}
	return best;
}

/* Digits only, no sign or space: strtoul() would take " -1" as a huge number. */
static int parse_u64(const char *s, const char **end, uint64_t *out)
{
	uint64_t v = 0;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (v > (UINT64_MAX - 9) / 10)
			return -ERANGE;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*end = s;
	*out = v;
	return 0;
}

static int check_address(const char *text, const char *where, char *err, size_t size)
{
	char host[INET6_ADDRSTRLEN + 2];
	unsigned char bin[sizeof(struct in6_addr)];
	const char *colon = strrchr(text, ':'), *end;
	size_t hlen = colon ? (size_t)(colon - text) : 0;
	uint64_t port;
	int family = AF_INET;

	if (!colon || hlen == 0 || hlen >= sizeof host)
		goto bad;
	memcpy(host, text, hlen);
	host[hlen] = '\0';
	if (host[0] == '[') {
		if (hlen < 3 || host[hlen - 1] != ']')
			goto bad;
		host[hlen - 1] = '\0';
		family = AF_INET6;
	}
	if (inet_pton(family, family == AF_INET6 ? host + 1 : host, bin) != 1)
		goto bad;
	if (parse_u64(colon + 1, &end, &port) < 0 || *end || port > 65535)
		return config_fail(err, size, "%s: invalid port '%s' in '%s' (0-65535)", where,
				   colon + 1, text);
	return 0;
bad:
	return config_fail(err, size,
			   "%s: invalid address '%s' (expected IPV4:PORT or [IPV6]:PORT)", where,
			   text);
}

/* In the order of the SERVICED_SIG_* bits. */
static const char *const signal_names[] = { "term", "int", "quit", "hup", "usr1", "usr2" };
#define SIGNAL_NAMES (sizeof signal_names / sizeof signal_names[0])

/* "term" or "SIGTERM" (any case) into a SERVICED_SIG_* bit of *set. */
static int parse_signal(const char *name, size_t len, unsigned *set)
{
	size_t i;

	if (len > 3 && strncasecmp(name, "sig", 3) == 0) {
		name += 3;
		len -= 3;
	}
	for (i = 0; i < SIGNAL_NAMES; i++) {
		if (strlen(signal_names[i]) == len && strncasecmp(signal_names[i], name, len) == 0) {
			*set |= 1u << i;
			return 0;
		}
	}
	return -EINVAL;
}

static int parse_signals(const char *text, unsigned *set, const char *where, char *err,
			 size_t size)
{
	const char *p = text;

	if (!*text)
		return config_fail(err, size, "%s: empty signal list", where);
	for (;;) {
		size_t len = strcspn(p, ",");

		if (parse_signal(p, len, set) < 0)
			return config_fail(err, size,
					   "%s: unknown signal '%.*s' in '%s' (expected term, int, "
					   "quit, hup, usr1 or usr2)",
					   where, (int)len, p, text);
		if (!p[len])
			return 0;
		p += len + 1;
	}
}

static int store_string(struct config *c, const struct opt *o, const char *text, char *err,
			size_t size)
{
	char **field = config_field(c, o), *copy = strdup(text);

	if (!copy)
		return config_fail(err, size, "out of memory");
	free(*field);
	*field = copy;
	/* The engine reads the listen address through its own pointer. */
	if (field == &c->listen)
		c->engine.listen = c->listen;
	return 0;
}

static int store_duration(struct config *c, const struct opt *o, uint64_t ms, const char *text,
			  const char *where, char *err, size_t size)
{
	if (o->kind == OPT_SECONDS) {
		if (ms % 1000 != 0 || ms / 1000 < o->min)
			return config_fail(err, size,
					   "%s: '%s' is not a whole number of seconds, at least 1s",
					   where, text);
		*(unsigned *)config_field(c, o) = (unsigned)(ms / 1000);
	} else {
		*(uint64_t *)config_field(c, o) = ms;
	}
	return 0;
}

static int apply_count(struct config *c, const struct opt *o, uint64_t v, const char *text,
		       const char *where, char *err, size_t size)
{
	if (v < o->min || v > o->max)
		return config_fail(err, size, "%s: %s is out of range (%" PRIu64 "-%" PRIu64 ")",
				   where, text, o->min, o->max);
	if (o->kind == OPT_BYTES)
		*(size_t *)config_field(c, o) = (size_t)v;
	else
		*(unsigned *)config_field(c, o) = (unsigned)v;
	return 0;
}

/* Applies an option's value given as text (the command line, or a string in the file). */
static int apply_text(struct config *c, const struct opt *o, const char *text,
		      const char *where, char *err, size_t size)
{
	const char *end;
	uint64_t v;
	unsigned set = 0;
	int r;

	switch (o->kind) {
	case OPT_ADDRESS:
		if (check_address(text, where, err, size) < 0)
			return CONFIG_ERROR;
		return store_string(c, o, text, err, size);
	case OPT_SOCKET:
		if (strlen(text) >= sizeof(((struct sockaddr_un *)0)->sun_path))
			return config_fail(err, size,
					   "%s: path too long for a socket (at most %zu bytes)",
					   where, sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
		/* fall through */
	case OPT_STRING:
		if (!*text)
			return config_fail(err, size, "%s: empty value", where);
		return store_string(c, o, text, err, size);
	case OPT_COUNT:
		r = parse_u64(text, &end, &v);
		if (r == -EINVAL || (r == 0 && *end))
			return config_fail(err, size, "%s: invalid number '%s'", where, text);
		if (r < 0)
			v = UINT64_MAX;
		return apply_count(c, o, v, text, where, err, size);
	case OPT_BYTES:
		r = parse_u64(text, &end, &v);
		if (r == -EINVAL || (r == 0 && strcmp(end, "") && strcmp(end, "k") &&
				     strcmp(end, "K") && strcmp(end, "M")))
			return config_fail(err, size, "%s: invalid size '%s' (e.g. 32768, 32k, 1M)",
					   where, text);
		if (r < 0 || v > UINT64_MAX >> 20)
			v = UINT64_MAX;
		else if (*end == 'M')
			v <<= 20;
		else if (*end)
			v <<= 10;
		return apply_count(c, o, v, text, where, err, size);
	case OPT_DURATION:
	case OPT_SECONDS:
		r = serviced_parse_duration(text, &v);
		if (r == -ERANGE)
			return config_fail(err, size, "%s: duration '%s' is out of range (at most 24h)",
					   where, text);
		if (r < 0)
			return config_fail(err, size, "%s: invalid duration '%s'", where, text);
		return store_duration(c, o, v, text, where, err, size);
	case OPT_MODE:
		/* Octal digits only: "0660", "660", "0o660" is not a mode. */
		if (!*text || strlen(text) > 4 || strspn(text, "01234567") != strlen(text) ||
		    strtoul(text, NULL, 8) > o->max)
			return config_fail(err, size, "%s: invalid mode '%s' (octal, 0000-0777)",
					   where, text);
		*(unsigned *)config_field(c, o) = (unsigned)strtoul(text, NULL, 8);
		return 0;
	case OPT_SIGNALS:
		if (parse_signals(text, &set, where, err, size) < 0)
			return CONFIG_ERROR;
		*(unsigned *)config_field(c, o) = set;
		return 0;
	case OPT_BOOL:
	case OPT_NO_CTRLC:
	case OPT_VERBOSE:
	case OPT_COMMAND:
		break;
	}
	return config_fail(err, size, "%s: takes no value", where);
}

/* Drops SIGINT once a whole source is read, so that --no-ctrlc does not depend on whether
 * it comes before or after --signals. */
static int apply_no_ctrlc(struct config *c, const char *where, char *err, size_t size)
{
	c->engine.signals &= ~SERVICED_SIG_INT;
	if (c->engine.signals == 0)
		return config_fail(err, size, "%s: no shutdown signal is left", where);
	return 0;
}

static const char *json_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "object";
	case JSON_ARRAY: return "array";
	case JSON_STRING: return "string";
	case JSON_INTEGER: return "integer";
	case JSON_REAL: return "real number";
	case JSON_TRUE: return "true";
	case JSON_FALSE: return "false";
	case JSON_NULL: return "null";
	}
	return "unknown";
}

static const char *json_expected(enum opt_kind kind)
{
	switch (kind) {
	case OPT_ADDRESS: return "an address string like \"127.0.0.1:8080\"";
	case OPT_STRING:
	case OPT_SOCKET:
	case OPT_COMMAND: return "a string";
	case OPT_COUNT: return "an integer";
	case OPT_DURATION:
	case OPT_SECONDS: return "a duration (string like \"5s\" or milliseconds)";
	case OPT_BYTES: return "a size (integer bytes or string like \"32k\")";
	case OPT_MODE: return "an octal mode string like \"0660\"";
	case OPT_SIGNALS: return "a signal list (string like \"term,int\" or array of names)";
	case OPT_BOOL:
	case OPT_NO_CTRLC: return "true or false";
	case OPT_VERBOSE: return "a verbosity (integer 0-3 or true/false)";
	}
	return "?";
}

/* Applies one key of the config file. Strings go through apply_text(); the other JSON
 * types are accepted only where they mean one obvious thing. */
static int apply_json(struct config *c, const struct opt *o, json_t *v, bool *no_ctrlc,
		      const char *where, char *err, size_t size)
{
	char num[32];
	json_int_t i = json_is_integer(v) ? json_integer_value(v) : 0;
	size_t k;
	json_t *item;
	unsigned set = 0;

	snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, i);
	switch (o->kind) {
	case OPT_ADDRESS:
	case OPT_STRING:
	case OPT_SOCKET:
	case OPT_MODE:
		if (json_is_string(v))
			return apply_text(c, o, json_string_value(v), where, err, size);
		break;
	case OPT_COUNT:
	case OPT_BYTES:
		if (json_is_string(v) && o->kind == OPT_BYTES)
			return apply_text(c, o, json_string_value(v), where, err, size);
		if (json_is_integer(v))
			return apply_count(c, o, i < 0 ? UINT64_MAX : (uint64_t)i, num, where, err,
					   size);
		break;
	case OPT_DURATION:
	case OPT_SECONDS:
		if (json_is_string(v))
			return apply_text(c, o, json_string_value(v), where, err, size);
		if (json_is_integer(v)) {
			/* An integer is milliseconds, like every *_ms field of the engine. */
			if (i < 0)
				return config_fail(err, size, "%s: invalid duration %s", where, num);
			if ((uint64_t)i > 86400000)
				return config_fail(err, size,
						   "%s: duration %sms is out of range (at most 24h)",
						   where, num);
			strcat(num, "ms");
			return store_duration(c, o, (uint64_t)i, num, where, err, size);
		}
		break;
	case OPT_SIGNALS:
		if (json_is_string(v))
			return apply_text(c, o, json_string_value(v), where, err, size);
		if (!json_is_array(v))
			break;
		if (json_array_size(v) == 0)
			return config_fail(err, size, "%s: empty signal list", where);
		json_array_foreach(v, k, item) {
			const char *s = json_string_value(item);

			if (!s || !*s || parse_signal(s, strlen(s), &set) < 0)
				return config_fail(err, size,
						   "%s: item %zu: expected a signal name (term, int, "
						   "quit, hup, usr1 or usr2)",
						   where, k);
		}
		*(unsigned *)config_field(c, o) = set;
		return 0;
	case OPT_BOOL:
		if (json_is_boolean(v)) {
			*(bool *)config_field(c, o) = json_is_true(v);
			return 0;
		}
		break;
	case OPT_NO_CTRLC:
		if (json_is_boolean(v)) {
			*no_ctrlc = json_is_true(v);
			return 0;
		}
		break;
	case OPT_VERBOSE:
		if (json_is_boolean(v)) {
			c->verbose = json_is_true(v);
			return 0;
		}
		if (json_is_integer(v)) {
			if (i < 0 || i > CONFIG_VERBOSE_MAX)
				return config_fail(err, size, "%s: %s is out of range (0-%d)", where,
						   num, CONFIG_VERBOSE_MAX);
			c->verbose = (int)i;
			return 0;
		}
		break;
	case OPT_COMMAND:
		return config_fail(err, size, "%s: only allowed on the command line", where);
	}
	return config_fail(err, size, "%s: expected %s, got %s", where, json_expected(o->kind),
			   json_type_name(v));
}

int config_load_json(struct config *c, const char *text, size_t len, const char *origin,
		     char *err, size_t errsize)
{
	char where[512];
	json_error_t jerr;
	json_t *root, *v;
	const char *key;
	bool no_ctrlc = false;
	int r = CONFIG_OK;

	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		if (jerr.line > 0)
			return config_fail(err, errsize, "config file %s line %d: %s", origin,
					   jerr.line, jerr.text);
		return config_fail(err, errsize, "config file %s: %s", origin, jerr.text);
	}
	if (!json_is_object(root)) {
		r = config_fail(err, errsize, "config file %s: expected a JSON object, got %s",
				origin, json_type_name(root));
		goto out;
	}
	/* jansson keeps the file's order, so the first bad key in the file is reported. */
	json_object_foreach(root, key, v) {
		const struct opt *o = opt_by_name(key);
		const char *near;

		if (!o) {
			near = opt_nearest(key);
			if (near)
				r = config_fail(err, errsize,
						"config file %s: unknown key '%s' (did you mean '%s'?)",
						origin, key, near);
			else
				r = config_fail(err, errsize, "config file %s: unknown key '%s'", origin,
						key);
			goto out;
		}
		snprintf(where, sizeof where, "config file %s: key '%s'", origin, key);
		r = apply_json(c, o, v, &no_ctrlc, where, err, errsize);
		if (r != CONFIG_OK)
			goto out;
	}
	if (no_ctrlc) {
		snprintf(where, sizeof where, "config file %s: key 'no-ctrlc'", origin);
		r = apply_no_ctrlc(c, where, err, errsize);
	}
out:
	json_decref(root);
	return r;
}

int config_load_file(struct config *c, const char *path, char *err, size_t errsize)
{
	char *buf;
	size_t len = 0;
	ssize_t n;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return config_fail(err, errsize, "config file %s: %s", path, strerror(errno));
	buf = malloc(CONFIG_FILE_MAX + 1);
	if (!buf) {
		close(fd);
		return config_fail(err, errsize, "out of memory");
	}
	/* Read one byte past the limit to tell "exactly 1 MiB" from "more". */
	while (len <= CONFIG_FILE_MAX) {
		n = read(fd, buf + len, CONFIG_FILE_MAX + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	if (n < 0)
		r = config_fail(err, errsize, "config file %s: %s", path, strerror(errno));
	else if (len > CONFIG_FILE_MAX)
		r = config_fail(err, errsize, "config file %s: larger than %d bytes", path,
				CONFIG_FILE_MAX);
	else
		r = config_load_json(c, buf, len, path, err, errsize);
	free(buf);
	close(fd);
	return r;
}

/* Runs getopt_long() over argv once. The first pass (apply = false) only checks the syntax
 * and finds --config, --help and --version; the second applies every value. */
static int config_getopt(struct config *c, int argc, char **argv, bool apply,
			 const char **config_path, char *err, size_t size)
{
	struct option longopts[CONFIG_NOPTS + 1];
	char shorts[2 + 2 * CONFIG_NOPTS + 1] = "+:", where[128];
	size_t i, ns = 2;
	int ch, verbose = 0;
	bool no_ctrlc = false;

	for (i = 0; i < CONFIG_NOPTS; i++) {
		const struct opt *o = &config_opts[i];

		longopts[i] = (struct option){ o->name, o->arg ? required_argument : no_argument,
					       NULL, OPT_VAL_BASE + (int)i };
		if (o->short_name) {
			shorts[ns++] = o->short_name;
			if (o->arg)
				shorts[ns++] = ':';
		}
	}
	memset(&longopts[CONFIG_NOPTS], 0, sizeof longopts[0]);
	shorts[ns] = '\0';

	/* optind = 0 makes glibc start afresh: this runs twice per call, and tests call it
	 * many times. "+" stops at the first non-option instead of reordering argv. */
	opterr = 0;
	optind = 0;
	while ((ch = getopt_long(argc, argv, shorts, longopts, NULL)) != -1) {
		const struct opt *o = NULL;

		if (ch == '?' || ch == ':') {
			const char *arg = argv[optind - 1], *near;

			if (optopt >= OPT_VAL_BASE)
				o = &config_opts[optopt - OPT_VAL_BASE];
			else if (optopt)
				for (i = 0; i < CONFIG_NOPTS && !o; i++)
					if (config_opts[i].short_name == optopt)
						o = &config_opts[i];
			if (o && ch == ':')
				return config_fail(err, size, "option --%s requires a value", o->name);
			if (o)
				return config_fail(err, size, "option --%s takes no value", o->name);
			if (optopt)
				return config_fail(err, size, "unknown option '-%c'", optopt);
			if (strncmp(arg, "--", 2) == 0) {
				char name[64];

				snprintf(name, sizeof name, "%.*s", (int)strcspn(arg + 2, "="),
					 arg + 2);
				near = opt_nearest(name);
				if (near)
					return config_fail(err, size,
							   "unknown option '--%s' (did you mean '--%s'?)",
							   name, near);
				return config_fail(err, size, "unknown or ambiguous option '--%s'",
						   name);
			}
			return config_fail(err, size, "unknown option '%s'", arg);
		}
		if (ch >= OPT_VAL_BASE)
			o = &config_opts[ch - OPT_VAL_BASE];
		else
			for (i = 0; i < CONFIG_NOPTS && !o; i++)
				if (config_opts[i].short_name == ch)
					o = &config_opts[i];
		if (!o)
			return config_fail(err, size, "internal error: option %d", ch);

		if (!apply) {
			if (strcmp(o->name, "config") == 0)
				*config_path = optarg;
			else if (o->kind == OPT_COMMAND)
				*(bool *)config_field(c, o) = true;
			continue;
		}
		snprintf(where, sizeof where, "option --%s", o->name);
		switch (o->kind) {
		case OPT_COMMAND:
			break; /* handled by the first pass */
		case OPT_BOOL:
			*(bool *)config_field(c, o) = true;
			break;
		case OPT_NO_CTRLC:
			no_ctrlc = true;
			break;
		case OPT_VERBOSE:
			verbose++;
			break;
		default:
			if (apply_text(c, o, optarg, where, err, size) != CONFIG_OK)
				return CONFIG_ERROR;
		}
	}
	if (optind < argc)
		return config_fail(err, size, "unexpected argument '%s'", argv[optind]);
	/* -v on the command line replaces the file's level rather than adding to it. */
	if (verbose)
		c->verbose = verbose > CONFIG_VERBOSE_MAX ? CONFIG_VERBOSE_MAX : verbose;
	if (no_ctrlc)
		return apply_no_ctrlc(c, "option --no-ctrlc", err, size);
	return CONFIG_OK;
}

int config_parse_args(struct config *c, int argc, char **argv, char *err, size_t errsize)
{
	const char *path = NULL;

	if (config_getopt(c, argc, argv, false, &path, err, errsize) != CONFIG_OK)
		return CONFIG_ERROR;
	/* --help and --version answer even when the rest would not load. */
	if (c->show_help || c->show_version)
		return CONFIG_OK;
	if (path) {
		if (!*path)
			return config_fail(err, errsize, "option --config: empty value");
		free(c->config_file);
		c->config_file = strdup(path);
		if (!c->config_file)
			return config_fail(err, errsize, "out of memory");
		if (config_load_file(c, path, err, errsize) != CONFIG_OK)
			return CONFIG_ERROR;
	}
	return config_getopt(c, argc, argv, true, NULL, err, errsize);
}

/* The default of one option as --help shows it, read from a freshly initialised config so
 * that the help cannot disagree with the code. */
static void opt_default(const struct config *d, const struct opt *o, char *buf, size_t size)
{
	const void *field = (const char *)d + o->offset;
	unsigned u = 0;
	size_t n = 0, i;

	switch (o->kind) {
	case OPT_ADDRESS:
	case OPT_STRING:
	case OPT_SOCKET:
	case OPT_COMMAND:
		if (strcmp(o->name, "listen") == 0)
			snprintf(buf, size, "%s", d->engine.listen ? d->engine.listen : "?");
		else if (o->arg)
			snprintf(buf, size, "%s", *(char *const *)field ? *(char *const *)field
									 : o->unset);
		else
			buf[0] = '\0';
		return;
	case OPT_COUNT:
	case OPT_SECONDS:
	case OPT_MODE:
		u = *(const unsigned *)field;
		if (u == 0 && o->unset)
			snprintf(buf, size, "%s", o->unset);
		else
			snprintf(buf, size, o->kind == OPT_MODE ? "%04o" : "%u%s", u,
				 o->kind == OPT_SECONDS ? "s" : "");
		return;
	case OPT_DURATION:
		serviced_format_duration(*(const uint64_t *)field, buf, size);
		return;
	case OPT_BYTES:
		n = *(const size_t *)field;
		if (n != 0 && n % (1024 * 1024) == 0)
			snprintf(buf, size, "%zuM", n / (1024 * 1024));
		else if (n != 0 && n % 1024 == 0)
			snprintf(buf, size, "%zuk", n / 1024);
		else
			snprintf(buf, size, "%zu", n);
		return;
	case OPT_SIGNALS:
		buf[0] = '\0';
		u = *(const unsigned *)field;
		for (i = 0; i < SIGNAL_NAMES; i++)
			if (u & (1u << i) && n < size)
				n += (size_t)snprintf(buf + n, size - n, "%s%s", n ? "," : "",
						      signal_names[i]);
		return;
	case OPT_BOOL:
	case OPT_NO_CTRLC:
		snprintf(buf, size, "off");
		return;
	case OPT_VERBOSE:
		buf[0] = '\0';
		return;
	}
}

const char *config_usage(void)
{
	static char text[4096];
	struct config d;
	size_t i, n;

	if (text[0])
		return text;
	config_init(&d);
	n = (size_t)snprintf(text, sizeof text,
			     "Usage: serviced [OPTION]...\n"
			     "Serve HTTP; shut down gracefully on a signal or a control command.\n"
			     "D is a duration (5s, 1500ms, 2m, 1.5s, 1h). Defaults in parentheses.\n"
			     "\n");
	for (i = 0; i < CONFIG_NOPTS && n < sizeof text; i++) {
		const struct opt *o = &config_opts[i];
		char left[64], def[64];

		snprintf(left, sizeof left, "%c%c%c --%s%s%s", o->short_name ? '-' : ' ',
			 o->short_name ? o->short_name : ' ', o->short_name ? ',' : ' ', o->name,
			 o->arg ? " " : "", o->arg ? o->arg : "");
		opt_default(&d, o, def, sizeof def);
		n += (size_t)snprintf(text + n, sizeof text - n, "  %-31s %s%s%s%s\n", left, o->help,
				      def[0] ? " (" : "", def, def[0] ? ")" : "");
	}
	config_free(&d);
	return text;
}
