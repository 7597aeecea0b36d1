/*
 * log: one writer of the daemon's log lines. A line is formatted whole and written with
 * a single write() so lines from several threads never interleave.
 */
#include "autoconfig.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static int log_verbosity;
static int log_journal; /* stderr is connected to the journal: use "<N>" prefixes */

void log_init(int verbosity)
{
	log_verbosity = verbosity;
	log_journal = getenv("JOURNAL_STREAM") != NULL;
}

void log_set_verbosity(int verbosity)
{
	log_verbosity = verbosity;
}

static void log_write(int priority, const char *text)
{
	char line[1024];
	int n;

	if (priority >= LOG_DEBUG && log_verbosity < 1)
		return;
	if (log_journal)
		n = snprintf(line, sizeof line, "<%d>%s\n", priority, text);
	else
		n = snprintf(line, sizeof line, "serviced: %s\n", text);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof line) {
		n = sizeof line - 1;
		line[n - 1] = '\n';
	}
	/* A log line that cannot be written has nowhere else to go. */
	if (write(STDERR_FILENO, line, (size_t)n) < 0)
		return;
}

void log_msg(int priority, const char *fmt, ...)
{
	char text[900];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	log_write(priority, text);
}

void log_engine(void *cls, int priority, const char *message)
{
	(void)cls;
	log_write(priority, message);
}
