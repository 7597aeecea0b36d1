/*
 * log: the daemon's log lines on stderr. Under systemd (JOURNAL_STREAM set) each line
 * starts with its sd-daemon priority prefix ("<6>") so journald keeps the level.
 */
#ifndef SERVICED_LOG_H
#define SERVICED_LOG_H

#include <syslog.h>

/* Reads the environment once; verbosity: 0 = info and above, 1+ = debug. */
void log_init(int verbosity);
void log_set_verbosity(int verbosity);
void log_msg(int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The engine's logger callback (serviced_logger signature). */
void log_engine(void *cls, int priority, const char *message);

#endif
