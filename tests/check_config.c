/*
 * check_config: the command line and the JSON config file, driven by tables of good inputs
 * (with the field they set) and bad inputs (with the words the error must contain), plus
 * one file per invalid document in tests/config-invalid/ (NAME.json, NAME.error).
 */
#include "autoconfig.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define MAXARGS 8

/* One field of c as text, so that table rows can name what they expect. */
static const char *field(const struct config *c, const char *name, char *buf, size_t size)
{
	const struct serviced_options *e = &c->engine;
	const struct {
		const char *name;
		const char *s;
	} strings[] = {
		{ "listen", e->listen },
		{ "root", c->root },
		{ "config", c->config_file },
		{ "control", c->control },
		{ "control-group", c->control_group },
		{ "admin-listen", c->admin_listen },
		{ "admin-token-file", c->admin_token_file },
	};
	const struct {
		const char *name;
		uint64_t v;
	} numbers[] = {
		{ "threads", e->threads },
		{ "drain-delay", e->drain_delay_ms },
		{ "grace", e->grace_ms },
		{ "mercy", e->mercy_ms },
		{ "force", e->force_ms },
		{ "signals", e->signals },
		{ "max-connections", e->connection_limit },
		{ "max-connections-per-ip", e->per_ip_connection_limit },
		{ "connection-timeout", e->connection_timeout_s },
		{ "connection-memory", e->connection_memory },
		{ "file-cache-max", c->file_cache_max },
		{ "control-mode", c->control_mode },
		{ "verbose", (uint64_t)c->verbose },
		{ "access-log", c->access_log },
		{ "help", c->show_help },
		{ "version", c->show_version },
	};
	size_t i;

	for (i = 0; i < N(strings); i++)
		if (strcmp(strings[i].name, name) == 0)
			return strings[i].s ? strings[i].s : "(null)";
	for (i = 0; i < N(numbers); i++)
		if (strcmp(numbers[i].name, name) == 0) {
			snprintf(buf, size, "%" PRIu64, numbers[i].v);
			return buf;
		}
	ck_abort_msg("test bug: no field '%s'", name);
	return NULL;
}

static int parse(struct config *c, const char *const *args, char *err, size_t size)
{
	char *argv[MAXARGS + 2] = { (char *)"serviced" };
	int argc = 1;

	while (args[argc - 1]) {
		ck_assert_int_lt(argc, MAXARGS + 1);
		argv[argc] = (char *)args[argc - 1];
		argc++;
	}
	err[0] = '\0';
	return config_parse_args(c, argc, argv, err, size);
}

/* SERVICED_SIG_* sets as the numbers field() prints. */
#define TERM "1"
#define TERM_INT "3"

static const struct {
	const char *args[MAXARGS];
	const char *field, *want;
} cli_good[] = {
	{ { NULL }, "listen", "127.0.0.1:8080" },
	{ { NULL }, "grace", "10000" },
	{ { NULL }, "mercy", "5000" },
	{ { NULL }, "force", "1000" },
	{ { NULL }, "drain-delay", "0" },
	{ { NULL }, "signals", TERM_INT },
	{ { NULL }, "control-mode", "384" }, /* 0600 */
	{ { NULL }, "connection-memory", "16384" },
	{ { NULL }, "connection-timeout", "60" },
	{ { NULL }, "max-connections", "1024" },
	{ { NULL }, "verbose", "0" },
	{ { NULL }, "root", "(null)" },
	{ { NULL }, "file-cache-max", "16777216" },
	{ { "--listen", "127.0.0.1:9000" }, "listen", "127.0.0.1:9000" },
	{ { "--listen=0.0.0.0:0" }, "listen", "0.0.0.0:0" },
	{ { "--listen", "[::1]:8080" }, "listen", "[::1]:8080" },
	{ { "--listen", "[::]:65535" }, "listen", "[::]:65535" },
	{ { "--listen", "[2001:db8::1]:443" }, "listen", "[2001:db8::1]:443" },
	{ { "--listen", "1.2.3.4:1", "--listen", "5.6.7.8:2" }, "listen", "5.6.7.8:2" },
	{ { "--root", "/srv/www" }, "root", "/srv/www" },
	{ { "--threads", "1" }, "threads", "1" },
	{ { "--threads", "256" }, "threads", "256" },
	{ { "--grace", "7s" }, "grace", "7000" },
	{ { "--grace=7" }, "grace", "7000" },
	{ { "--grace", "1.5s" }, "grace", "1500" },
	{ { "--grace", "0" }, "grace", "0" },
	{ { "--mercy", "250ms" }, "mercy", "250" },
	{ { "--drain-delay", "2m" }, "drain-delay", "120000" },
	{ { "--force", "1h" }, "force", "3600000" },
	{ { "--gra", "3s" }, "grace", "3000" }, /* getopt_long's unique prefixes */
	{ { "--signals", "term" }, "signals", TERM },
	{ { "--signals", "term,int,quit,hup,usr1,usr2" }, "signals", "63" },
	{ { "--signals", "SIGTERM,Hup" }, "signals", "9" },
	{ { "--no-ctrlc" }, "signals", TERM },
	{ { "--no-ctrlc", "--signals", "int,hup" }, "signals", "8" }, /* order does not matter */
	{ { "--control", "/run/x.sock" }, "control", "/run/x.sock" },
	{ { "--control-mode", "0660" }, "control-mode", "432" },
	{ { "--control-mode", "660" }, "control-mode", "432" },
	{ { "--control-mode", "0" }, "control-mode", "0" },
	{ { "--control-group", "wheel" }, "control-group", "wheel" },
	{ { "--admin-listen", "127.0.0.1:9090" }, "admin-listen", "127.0.0.1:9090" },
	{ { "--admin-token-file", "/etc/tok" }, "admin-token-file", "/etc/tok" },
	{ { "--max-connections", "1" }, "max-connections", "1" },
	{ { "--max-connections-per-ip", "0" }, "max-connections-per-ip", "0" },
	{ { "--max-connections-per-ip", "16" }, "max-connections-per-ip", "16" },
	{ { "--connection-timeout", "30" }, "connection-timeout", "30" },
	{ { "--connection-timeout", "2m" }, "connection-timeout", "120" },
	{ { "--connection-memory", "32k" }, "connection-memory", "32768" },
	{ { "--connection-memory", "64K" }, "connection-memory", "65536" },
	{ { "--connection-memory", "1M" }, "connection-memory", "1048576" },
	{ { "--connection-memory", "16M" }, "connection-memory", "16777216" },
	{ { "--connection-memory", "4096" }, "connection-memory", "4096" },
	{ { "--file-cache-max", "0" }, "file-cache-max", "0" },
	{ { "--file-cache-max", "64k" }, "file-cache-max", "65536" },
	{ { "--file-cache-max", "1M" }, "file-cache-max", "1048576" },
	{ { "--file-cache-max", "16M" }, "file-cache-max", "16777216" },
	{ { "--file-cache-max=100" }, "file-cache-max", "100" },
	{ { "--access-log" }, "access-log", "1" },
	{ { "-v" }, "verbose", "1" },
	{ { "-vv", "--verbose" }, "verbose", "3" },
	{ { "-vvvvv" }, "verbose", "3" },
	{ { "--help" }, "help", "1" },
	{ { "-h" }, "help", "1" },
	{ { "-V" }, "version", "1" },
	{ { "--grace", "abc", "--help" }, "help", "1" }, /* help answers without checking */
	{ { "--config", "/nonexistent/x.json", "--version" }, "version", "1" },
	{ { "--" }, "grace", "10000" },
};

static const struct {
	const char *args[MAXARGS];
	const char *want;
} cli_bad[] = {
	{ { "--grace", "abc" }, "option --grace: invalid duration 'abc'" },
	{ { "--grace", "" }, "option --grace: invalid duration ''" },
	{ { "--grace", "-5s" }, "option --grace: invalid duration '-5s'" },
	{ { "--grace", "5x" }, "option --grace: invalid duration '5x'" },
	{ { "--mercy", "25h" }, "option --mercy: duration '25h' is out of range (at most 24h)" },
	{ { "--force", "1.2345s" }, "option --force: invalid duration '1.2345s'" },
	{ { "--drain-delay", " 1s" }, "option --drain-delay: invalid duration ' 1s'" },
	{ { "--grace" }, "option --grace requires a value" },
	{ { "--access-log=yes" }, "option --access-log takes no value" },
	{ { "--listen", "127.0.0.1" }, "option --listen: invalid address '127.0.0.1'" },
	{ { "--listen", "127.0.0.1:65536" },
	  "option --listen: invalid port '65536' in '127.0.0.1:65536' (0-65535)" },
	{ { "--listen", "127.0.0.1:-1" }, "invalid port '-1'" },
	{ { "--listen", "127.0.0.1:" }, "invalid port ''" },
	{ { "--listen", "127.0.0.1:80x" }, "invalid port '80x'" },
	{ { "--listen", "127.0.0.1:99999999999999999999999" }, "invalid port" },
	{ { "--listen", "localhost:80" }, "invalid address 'localhost:80'" },
	{ { "--listen", "256.0.0.1:80" }, "invalid address" },
	{ { "--listen", "::1:8080" }, "invalid address '::1:8080'" },
	{ { "--listen", "[::1:8080" }, "invalid address" },
	{ { "--listen", "[]:8080" }, "invalid address" },
	{ { "--listen", "[127.0.0.1]:8080" }, "invalid address" },
	{ { "--listen", "[::1]:70000" }, "invalid port '70000'" },
	{ { "--listen", "" }, "option --listen: invalid address ''" },
	{ { "--admin-listen", "x:1" }, "option --admin-listen: invalid address 'x:1'" },
	{ { "--threads", "0" }, "option --threads: 0 is out of range (1-256)" },
	{ { "--threads", "257" }, "option --threads: 257 is out of range (1-256)" },
	{ { "--threads", "-1" }, "option --threads: invalid number '-1'" },
	{ { "--threads", "4x" }, "option --threads: invalid number '4x'" },
	{ { "--threads", " 4" }, "option --threads: invalid number ' 4'" },
	{ { "--threads", "99999999999999999999999" }, "is out of range" },
	{ { "--max-connections", "0" }, "option --max-connections: 0 is out of range" },
	{ { "--signals", "" }, "option --signals: empty signal list" },
	{ { "--signals", "term,kill" }, "option --signals: unknown signal 'kill' in 'term,kill'" },
	{ { "--signals", "term," }, "unknown signal '' in 'term,'" },
	{ { "--signals", "sig" }, "unknown signal 'sig'" },
	{ { "--signals", "int", "--no-ctrlc" }, "option --no-ctrlc: no shutdown signal is left" },
	{ { "--control-mode", "0888" }, "option --control-mode: invalid mode '0888'" },
	{ { "--file-cache-max", "17M" },
	  "option --file-cache-max: 17M is out of range (0-16777216)" },
	{ { "--file-cache-max", "off" }, "option --file-cache-max: invalid size 'off'" },
	{ { "--file-cache-max", "-1" }, "option --file-cache-max: invalid size '-1'" },
	{ { "--file-cache-max" }, "option --file-cache-max requires a value" },
	{ { "--control-mode", "1777" }, "invalid mode '1777'" },
	{ { "--control-mode", "" }, "invalid mode ''" },
	{ { "--control-mode", "rw" }, "invalid mode 'rw'" },
	{ { "--control", "" }, "option --control: empty value" },
	{ { "--control",
	    "/tmp/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.sock" },
	  "option --control: path too long" },
	{ { "--root", "" }, "option --root: empty value" },
	{ { "--config", "" }, "option --config: empty value" },
	{ { "--connection-timeout", "0" }, "option --connection-timeout: '0' is not a whole" },
	{ { "--connection-timeout", "1.5s" }, "'1.5s' is not a whole number of seconds" },
	{ { "--connection-timeout", "500ms" }, "'500ms' is not a whole number" },
	{ { "--connection-memory", "1k" }, "option --connection-memory: 1k is out of range" },
	{ { "--connection-memory", "17M" }, "17M is out of range (4096-16777216)" },
	{ { "--connection-memory", "32m" }, "invalid size '32m'" },
	{ { "--connection-memory", "32kb" }, "invalid size '32kb'" },
	{ { "--connection-memory", "k" }, "invalid size 'k'" },
	{ { "--connection-memory", "99999999999999999M" }, "is out of range" },
	{ { "--bogus" }, "unknown or ambiguous option '--bogus'" },
	{ { "--bogus=1" }, "unknown or ambiguous option '--bogus'" },
	{ { "--gracee", "5s" }, "unknown option '--gracee' (did you mean '--grace'?)" },
	{ { "--con", "x" }, "unknown or ambiguous option '--con'" },
	{ { "-x" }, "unknown option '-x'" },
	{ { "-vx" }, "unknown option '-x'" },
	{ { "extra" }, "unexpected argument 'extra'" },
	{ { "--grace", "5s", "extra", "--mercy", "1s" }, "unexpected argument 'extra'" },
	{ { "--", "extra" }, "unexpected argument 'extra'" },
	{ { "--config", "/nonexistent/x.json" },
	  "config file /nonexistent/x.json: No such file or directory" },
	/* Syntax errors come before the config file is read. */
	{ { "--config", "/nonexistent/x.json", "--bogus" }, "unknown or ambiguous option" },
};

/* Config documents that load, and one field each sets. */
static const struct {
	const char *json, *field, *want;
} json_good[] = {
	{ "{}", "grace", "10000" },
	{ " \n{ }\n ", "listen", "127.0.0.1:8080" },
	{ "{\"listen\": \"[::1]:0\"}", "listen", "[::1]:0" },
	{ "{\"root\": \"/srv\"}", "root", "/srv" },
	{ "{\"threads\": 8}", "threads", "8" },
	{ "{\"grace\": \"7s\"}", "grace", "7000" },
	{ "{\"grace\": 7}", "grace", "7" }, /* an integer is milliseconds */
	{ "{\"grace\": 0}", "grace", "0" },
	{ "{\"mercy\": 86400000}", "mercy", "86400000" },
	{ "{\"drain-delay\": \"1.5s\"}", "drain-delay", "1500" },
	{ "{\"force\": \"250ms\"}", "force", "250" },
	{ "{\"signals\": \"term,hup\"}", "signals", "9" },
	{ "{\"signals\": [\"term\", \"SIGUSR1\"]}", "signals", "17" },
	{ "{\"no-ctrlc\": true}", "signals", TERM },
	{ "{\"no-ctrlc\": false}", "signals", TERM_INT },
	{ "{\"no-ctrlc\": true, \"signals\": \"int,quit\"}", "signals", "4" },
	{ "{\"control\": \"/run/s.sock\"}", "control", "/run/s.sock" },
	{ "{\"control-mode\": \"0660\"}", "control-mode", "432" },
	{ "{\"control-group\": \"adm\"}", "control-group", "adm" },
	{ "{\"admin-listen\": \"127.0.0.1:9090\"}", "admin-listen", "127.0.0.1:9090" },
	{ "{\"admin-token-file\": \"/etc/t\"}", "admin-token-file", "/etc/t" },
	{ "{\"max-connections\": 100}", "max-connections", "100" },
	{ "{\"max-connections-per-ip\": 4}", "max-connections-per-ip", "4" },
	{ "{\"connection-timeout\": \"30s\"}", "connection-timeout", "30" },
	{ "{\"connection-timeout\": 30000}", "connection-timeout", "30" },
	{ "{\"connection-memory\": \"64k\"}", "connection-memory", "65536" },
	{ "{\"connection-memory\": 8192}", "connection-memory", "8192" },
	{ "{\"file-cache-max\": 0}", "file-cache-max", "0" },
	{ "{\"file-cache-max\": \"4M\"}", "file-cache-max", "4194304" },
	{ "{\"access-log\": true}", "access-log", "1" },
	{ "{\"access-log\": false}", "access-log", "0" },
	{ "{\"verbose\": 2}", "verbose", "2" },
	{ "{\"verbose\": true}", "verbose", "1" },
	{ "{\"verbose\": false}", "verbose", "0" },
};

/* Documents that do not load, with the words the error must contain. Whole-document
 * errors (syntax, duplicates, unknown keys) are files in tests/config-invalid/. */
#define EXPECT_DURATION "expected a duration (string like \"5s\" or milliseconds)"
static const struct {
	const char *json, *want;
} json_bad[] = {
	{ "{\"grace\": []}", "config file t.json: key 'grace': " EXPECT_DURATION ", got array" },
	{ "{\"grace\": {}}", "key 'grace': " EXPECT_DURATION ", got object" },
	{ "{\"grace\": 1.5}", "key 'grace': " EXPECT_DURATION ", got real number" },
	{ "{\"grace\": true}", "key 'grace': " EXPECT_DURATION ", got true" },
	{ "{\"grace\": null}", "key 'grace': " EXPECT_DURATION ", got null" },
	{ "{\"grace\": \"abc\"}", "config file t.json: key 'grace': invalid duration 'abc'" },
	{ "{\"grace\": \"\"}", "key 'grace': invalid duration ''" },
	{ "{\"grace\": -1}", "key 'grace': invalid duration -1" },
	{ "{\"mercy\": 86400001}", "key 'mercy': duration 86400001ms is out of range" },
	{ "{\"force\": \"25h\"}", "key 'force': duration '25h' is out of range" },
	{ "{\"listen\": 8080}", "key 'listen': expected an address string like "
				 "\"127.0.0.1:8080\", got integer" },
	{ "{\"listen\": \"127.0.0.1:65536\"}", "key 'listen': invalid port '65536'" },
	{ "{\"listen\": \"[::1]\"}", "key 'listen': invalid address '[::1]'" },
	{ "{\"root\": 1}", "key 'root': expected a string, got integer" },
	{ "{\"root\": \"\"}", "key 'root': empty value" },
	{ "{\"threads\": \"4\"}", "key 'threads': expected an integer, got string" },
	{ "{\"threads\": 0}", "key 'threads': 0 is out of range (1-256)" },
	{ "{\"threads\": -3}", "key 'threads': -3 is out of range" },
	{ "{\"threads\": 4.0}", "key 'threads': expected an integer, got real number" },
	{ "{\"max-connections\": 1000001}", "key 'max-connections': 1000001 is out of range" },
	{ "{\"signals\": 15}", "key 'signals': expected a signal list" },
	{ "{\"signals\": \"term,kill\"}", "key 'signals': unknown signal 'kill'" },
	{ "{\"signals\": []}", "key 'signals': empty signal list" },
	{ "{\"signals\": [\"term\", 2]}", "key 'signals': item 1: expected a signal name" },
	{ "{\"signals\": [\"term,int\"]}", "key 'signals': item 0: expected a signal name" },
	{ "{\"signals\": \"int\", \"no-ctrlc\": true}",
	  "key 'no-ctrlc': no shutdown signal is left" },
	{ "{\"no-ctrlc\": 1}", "key 'no-ctrlc': expected true or false, got integer" },
	{ "{\"access-log\": \"yes\"}", "key 'access-log': expected true or false, got string" },
	{ "{\"access-log\": 1}", "key 'access-log': expected true or false, got integer" },
	{ "{\"control-mode\": 432}", "key 'control-mode': expected an octal mode string" },
	{ "{\"control-mode\": \"999\"}", "key 'control-mode': invalid mode '999'" },
	{ "{\"control-group\": false}", "key 'control-group': expected a string, got false" },
	{ "{\"connection-timeout\": 1500}", "key 'connection-timeout': '1500ms' is not a whole" },
	{ "{\"connection-timeout\": 0}", "key 'connection-timeout': '0ms' is not a whole" },
	{ "{\"connection-memory\": 100}", "key 'connection-memory': 100 is out of range" },
	{ "{\"connection-memory\": \"1G\"}", "key 'connection-memory': invalid size '1G'" },
	{ "{\"connection-memory\": true}", "key 'connection-memory': expected a size" },
	{ "{\"file-cache-max\": false}", "key 'file-cache-max': expected a size" },
	{ "{\"file-cache-max\": 16777217}", "key 'file-cache-max': 16777217 is out of range" },
	{ "{\"file-cache-max\": -1}", "key 'file-cache-max': -1 is out of range" },
	{ "{\"verbose\": 4}", "key 'verbose': 4 is out of range (0-3)" },
	{ "{\"verbose\": -1}", "key 'verbose': -1 is out of range" },
	{ "{\"verbose\": \"2\"}", "key 'verbose': expected a verbosity" },
	{ "{\"config\": \"/etc/x.json\"}", "key 'config': only allowed on the command line" },
	{ "{\"help\": true}", "key 'help': only allowed on the command line" },
	/* The first bad key is reported, in the file's order. */
	{ "{\"grace\": \"1s\", \"mercy\": \"x\", \"force\": \"y\"}", "key 'mercy'" },
};

START_TEST(cli_good_table)
{
	struct config c;
	char err[512], buf[64];

	config_init(&c);
	ck_assert_msg(parse(&c, cli_good[_i].args, err, sizeof err) == CONFIG_OK,
		      "row %d: %s", _i, err);
	ck_assert_str_eq(field(&c, cli_good[_i].field, buf, sizeof buf), cli_good[_i].want);
	config_free(&c);
}
END_TEST

START_TEST(cli_bad_table)
{
	struct config c;
	char err[512];

	config_init(&c);
	ck_assert_msg(parse(&c, cli_bad[_i].args, err, sizeof err) == CONFIG_ERROR,
		      "row %d ('%s'): accepted", _i, cli_bad[_i].args[0]);
	ck_assert_msg(strstr(err, cli_bad[_i].want), "row %d: error '%s' lacks '%s'", _i, err,
		      cli_bad[_i].want);
	config_free(&c);
}
END_TEST

START_TEST(json_good_table)
{
	struct config c;
	char err[512], buf[64];
	const char *j = json_good[_i].json;

	config_init(&c);
	ck_assert_msg(config_load_json(&c, j, strlen(j), "t.json", err, sizeof err) == CONFIG_OK,
		      "%s: %s", j, err);
	ck_assert_str_eq(field(&c, json_good[_i].field, buf, sizeof buf), json_good[_i].want);
	config_free(&c);
}
END_TEST

START_TEST(json_bad_table)
{
	struct config c;
	char err[512];
	const char *j = json_bad[_i].json;

	config_init(&c);
	ck_assert_msg(config_load_json(&c, j, strlen(j), "t.json", err, sizeof err) ==
			      CONFIG_ERROR,
		      "%s: accepted", j);
	ck_assert_msg(strstr(err, json_bad[_i].want), "%s: error '%s' lacks '%s'", j, err,
		      json_bad[_i].want);
	config_free(&c);
}
END_TEST

/* getopt keeps global state; parsing twice in one process must give the same result. */
START_TEST(cli_parse_twice)
{
	const char *const args[] = { "--grace", "3s", "-v", NULL };
	struct config c;
	char err[512];
	int i;

	for (i = 0; i < 2; i++) {
		config_init(&c);
		ck_assert_msg(parse(&c, args, err, sizeof err) == CONFIG_OK, "%s", err);
		ck_assert_uint_eq(c.engine.grace_ms, 3000);
		ck_assert_int_eq(c.verbose, 1);
		config_free(&c);
	}
}
END_TEST

START_TEST(free_null)
{
	config_free(NULL);
}
END_TEST

/* --- config files, written under a private directory --- */

static char tmpdir[64];

static void tmp_setup(void)
{
	strcpy(tmpdir, "/tmp/check_config.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void tmp_teardown(void)
{
	DIR *d = opendir(tmpdir);
	struct dirent *de;
	char path[sizeof tmpdir + sizeof de->d_name + 1];

	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%s/%s", tmpdir, de->d_name);
		if (unlink(path) < 0)
			rmdir(path);
	}
	if (d)
		closedir(d);
	rmdir(tmpdir);
}

/* Writes text (len bytes) to a file in tmpdir; returns its path in a static buffer. */
static const char *write_file(const char *name, const char *text, size_t len)
{
	static char path[256];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(text, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
	return path;
}

START_TEST(file_command_line_wins)
{
	const char *text = "{\n  \"grace\": \"7s\",\n  \"mercy\": 2000,\n"
			   "  \"listen\": \"127.0.0.1:9000\",\n  \"verbose\": 2\n}\n";
	const char *path = write_file("a.json", text, strlen(text));
	const char *args[] = { "--grace", "3s", "--config", path, "-v", NULL };
	struct config c;
	char err[512];

	config_init(&c);
	ck_assert_msg(parse(&c, args, err, sizeof err) == CONFIG_OK, "%s", err);
	ck_assert_uint_eq(c.engine.grace_ms, 3000); /* the command line, though it came first */
	ck_assert_uint_eq(c.engine.mercy_ms, 2000); /* the file */
	ck_assert_str_eq(c.engine.listen, "127.0.0.1:9000");
	ck_assert_int_eq(c.verbose, 1); /* -v replaces the file's level */
	ck_assert_str_eq(c.config_file, path);
	config_free(&c);
}
END_TEST

START_TEST(file_equals_form)
{
	const char *text = "{\"no-ctrlc\": true, \"verbose\": 2}";
	char opt[300];
	const char *args[] = { opt, NULL };
	const char *args2[] = { opt, "--signals", "int,term", NULL };
	struct config c;
	char err[512];

	snprintf(opt, sizeof opt, "--config=%s", write_file("b.json", text, strlen(text)));
	config_init(&c);
	ck_assert_msg(parse(&c, args, err, sizeof err) == CONFIG_OK, "%s", err);
	ck_assert_uint_eq(c.engine.signals, SERVICED_SIG_TERM);
	ck_assert_int_eq(c.verbose, 2);
	config_free(&c);
	/* The file dropped SIGINT; the command line puts it back. */
	config_init(&c);
	ck_assert_msg(parse(&c, args2, err, sizeof err) == CONFIG_OK, "%s", err);
	ck_assert_uint_eq(c.engine.signals, SERVICED_SIG_TERM | SERVICED_SIG_INT);
	config_free(&c);
}
END_TEST

START_TEST(file_error_names_line)
{
	const char *text = "{\n  \"grace\": \"5s\",\n  oops\n}\n";
	const char *path = write_file("c.json", text, strlen(text));
	const char *args[] = { "--config", path, NULL };
	struct config c;
	char err[512], want[300];

	config_init(&c);
	ck_assert_int_eq(parse(&c, args, err, sizeof err), CONFIG_ERROR);
	snprintf(want, sizeof want, "config file %s line 3: ", path);
	ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "'%s' does not start with '%s'", err,
		      want);
	config_free(&c);
}
END_TEST

START_TEST(file_value_error_names_file)
{
	const char *text = "{\"grace\": [1]}";
	const char *path = write_file("d.json", text, strlen(text));
	struct config c;
	char err[512], want[400];

	config_init(&c);
	ck_assert_int_eq(config_load_file(&c, path, err, sizeof err), CONFIG_ERROR);
	snprintf(want, sizeof want, "config file %s: key 'grace': " EXPECT_DURATION ", got array",
		 path);
	ck_assert_str_eq(err, want);
	config_free(&c);
}
END_TEST

/* A file of exactly the limit loads; one byte more does not. */
START_TEST(file_size_limit)
{
	size_t limit = 1024 * 1024;
	char *text = malloc(limit + 1);
	struct config c;
	char err[512];

	ck_assert_ptr_nonnull(text);
	memset(text, ' ', limit + 1);
	memcpy(text, "{\"grace\": \"2s\"}", 15);
	config_init(&c);
	ck_assert_msg(config_load_file(&c, write_file("e.json", text, limit), err, sizeof err) ==
			      CONFIG_OK,
		      "%s", err);
	ck_assert_uint_eq(c.engine.grace_ms, 2000);
	ck_assert_int_eq(config_load_file(&c, write_file("f.json", text, limit + 1), err,
					  sizeof err),
			 CONFIG_ERROR);
	ck_assert_msg(strstr(err, "larger than 1048576 bytes"), "%s", err);
	config_free(&c);
	free(text);
}
END_TEST

START_TEST(file_is_directory)
{
	struct config c;
	char err[512];

	config_init(&c);
	ck_assert_int_eq(config_load_file(&c, tmpdir, err, sizeof err), CONFIG_ERROR);
	ck_assert_msg(strstr(err, tmpdir) && strstr(err, strerror(EISDIR)), "%s", err);
	config_free(&c);
}
END_TEST

/* Later sources replace strings set by earlier ones without leaking (run under ASan). */
START_TEST(file_then_cli_strings)
{
	const char *text = "{\"root\": \"/a\", \"control\": \"/b.sock\", \"admin-listen\": "
			   "\"127.0.0.1:1\", \"admin-token-file\": \"/t\", \"control-group\": \"g\"}";
	const char *path = write_file("g.json", text, strlen(text));
	const char *args[] = { "--config", path, "--root", "/c", "--control-group", "h", NULL };
	struct config c;
	char err[512];

	config_init(&c);
	ck_assert_msg(parse(&c, args, err, sizeof err) == CONFIG_OK, "%s", err);
	ck_assert_str_eq(c.root, "/c");
	ck_assert_str_eq(c.control, "/b.sock");
	ck_assert_str_eq(c.control_group, "h");
	ck_assert_str_eq(c.admin_listen, "127.0.0.1:1");
	config_free(&c);
	ck_assert_ptr_null(c.root);
}
END_TEST

/* tests/config-invalid/NAME.json must fail to load with NAME.error's line in the error. */
START_TEST(invalid_documents)
{
	const char *srcdir = getenv("top_srcdir");
	char dir[512], path[700], want[256];
	struct dirent *de;
	DIR *d;
	int cases = 0;

	snprintf(dir, sizeof dir, "%s/tests/config-invalid", srcdir ? srcdir : ".");
	d = opendir(dir);
	ck_assert_msg(d != NULL, "%s: %s", dir, strerror(errno));
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name);
		struct config c;
		char err[512];
		FILE *f;

		if (n < 6 || strcmp(de->d_name + n - 5, ".json") != 0)
			continue;
		snprintf(path, sizeof path, "%s/%.*s.error", dir, (int)(n - 5), de->d_name);
		f = fopen(path, "r");
		ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
		ck_assert_ptr_nonnull(fgets(want, sizeof want, f));
		fclose(f);
		want[strcspn(want, "\n")] = '\0';

		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		config_init(&c);
		ck_assert_msg(config_load_file(&c, path, err, sizeof err) == CONFIG_ERROR,
			      "%s: accepted", de->d_name);
		ck_assert_msg(strstr(err, want), "%s: error '%s' lacks '%s'", de->d_name, err,
			      want);
		config_free(&c);
		cases++;
	}
	closedir(d);
	ck_assert_int_ge(cases, 10); /* a moved directory must not pass by testing nothing */
}
END_TEST

START_TEST(usage_lists_every_option)
{
	static const char *const names[] = {
		"--listen ADDR:PORT", "--root DIR", "--threads N", "--config FILE", "--grace D",
		"--mercy D", "--drain-delay D", "--force D", "--signals LIST", "--no-ctrlc",
		"--control PATH", "--control-mode MODE", "--control-group GROUP",
		"--admin-listen ADDR:PORT", "--admin-token-file FILE", "--max-connections N",
		"--max-connections-per-ip N", "--connection-timeout D", "--connection-memory BYTES",
		"--access-log", "-v, --verbose", "-V, --version", "-h, --help",
		"--file-cache-max BYTES",
	};
	const char *u = config_usage(), *line;
	size_t i;

	for (i = 0; i < N(names); i++)
		ck_assert_msg(strstr(u, names[i]), "usage lacks '%s'", names[i]);
	/* Defaults come from the code, on the option's own line. */
	line = strstr(u, "--grace D");
	ck_assert_ptr_nonnull(line);
	ck_assert_msg(strstr(line, "(10s)") < strchr(line, '\n'), "grace default");
	ck_assert_ptr_nonnull(strstr(u, "(127.0.0.1:8080)"));
	ck_assert_ptr_nonnull(strstr(u, "(term,int)"));
	ck_assert_ptr_nonnull(strstr(u, "(0600)"));
	line = strstr(u, "--file-cache-max BYTES");
	ck_assert_ptr_nonnull(line);
	ck_assert_msg(strstr(line, "(16M)") < strchr(line, '\n'), "file-cache-max default");
	ck_assert_ptr_nonnull(strstr(u, "(16k)"));
	ck_assert_ptr_eq(u, config_usage());
}
END_TEST

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("command line");

	tcase_add_loop_test(tc, cli_good_table, 0, N(cli_good));
	tcase_add_loop_test(tc, cli_bad_table, 0, N(cli_bad));
	tcase_add_test(tc, cli_parse_twice);
	tcase_add_test(tc, free_null);
	tcase_add_test(tc, usage_lists_every_option);
	suite_add_tcase(s, tc);

	tc = tcase_create("json");
	tcase_add_loop_test(tc, json_good_table, 0, N(json_good));
	tcase_add_loop_test(tc, json_bad_table, 0, N(json_bad));
	tcase_add_test(tc, invalid_documents);
	suite_add_tcase(s, tc);

	tc = tcase_create("file");
	tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
	tcase_add_test(tc, file_command_line_wins);
	tcase_add_test(tc, file_equals_form);
	tcase_add_test(tc, file_error_names_line);
	tcase_add_test(tc, file_value_error_names_file);
	tcase_add_test(tc, file_size_limit);
	tcase_add_test(tc, file_is_directory);
	tcase_add_test(tc, file_then_cli_strings);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(config_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
