/*
 * main: the serviced daemon's entry point. It only reads the configuration and hands it to
 * daemon_run(); a bad command line or config file ends the process before anything is bound.
 */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>

#include "config.h"
#include "daemon.h"
#include "log.h"

/* Writes text to stdout; a failed write (a closed pipe, a full disk) is an error. */
static int print_stdout(const char *text)
{
	if (fputs(text, stdout) == EOF || fflush(stdout) == EOF) {
		perror("serviced: stdout");
		return SERVICED_EXIT_FAILURE;
	}
	return SERVICED_EXIT_CLEAN;
}

int main(int argc, char **argv)
{
	struct config cfg;
	char err[1024];
	int rc;

	log_init(0);
	config_init(&cfg);
	if (config_parse_args(&cfg, argc, argv, err, sizeof err) != CONFIG_OK) {
		fprintf(stderr, "serviced: %s\nTry 'serviced --help'.\n", err);
		config_free(&cfg);
		return SERVICED_EXIT_USAGE;
	}
	if (cfg.show_help)
		rc = print_stdout(config_usage());
	else if (cfg.show_version)
		rc = print_stdout("serviced " PACKAGE_VERSION "\n");
	else {
		log_set_verbosity(cfg.verbose);
		rc = daemon_run(&cfg, argc, argv);
	}
	config_free(&cfg);
	return rc;
}
