/*
 * config: the daemon's settings, from defaults, a JSON config file and the command line
 * (in that order; the command line wins). Parsing never prints: errors come back as text.
 */
#ifndef SERVICED_CONFIG_H
#define SERVICED_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "serviced.h"

struct config {
	struct serviced_options engine; /* listen, threads, durations, signals, limits */
	char *listen;                   /* owned copy behind engine.listen */
	char *root;                     /* static files; NULL = built-in page */
	size_t file_cache_max;          /* --file-cache-max: small-file cache bytes; 0 = off */
	char *config_file;              /* --config */
	char *control;                  /* --control; NULL = the default path */
	unsigned control_mode;          /* --control-mode, default 0600 */
	char *control_group;            /* --control-group: may change state; NULL = none */
	char *admin_listen;             /* --admin-listen ADDR:PORT; NULL = off */
	char *admin_token_file;         /* --admin-token-file */
	int verbose;                    /* --verbose, repeatable */
	bool access_log;                /* --access-log */
	bool show_help, show_version;   /* what to print instead of running */
};

/* Outcome of parsing: CONFIG_OK, or an error that config_error holds the words for. */
enum config_result { CONFIG_OK = 0, CONFIG_ERROR = -1 };

/* Fills c with the defaults. */
void config_init(struct config *c);
/* Frees what c owns (not c itself). Accepts NULL. */
void config_free(struct config *c);

/* Parses argv over c: first finds --config and loads that file, then applies the command
 * line on top. On error returns CONFIG_ERROR with err holding
 * "option --grace: invalid duration 'abc'"-style text. */
int config_parse_args(struct config *c, int argc, char **argv, char *err, size_t errsize);
/* Loads a JSON config file over c (keys are the long option names). */
int config_load_file(struct config *c, const char *path, char *err, size_t errsize);
/* Loads a JSON config document from memory (what the file loader and the fuzzer use). */
int config_load_json(struct config *c, const char *text, size_t len, const char *origin,
		     char *err, size_t errsize);
/* The --help text. */
const char *config_usage(void);

#endif
