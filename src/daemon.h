/*
 * daemon: the serviced daemon's HTTP routes on top of the engine: /healthz, /readyz, the
 * built-in page or static files from --root, and the optional access log.
 */
#ifndef SERVICED_DAEMON_H
#define SERVICED_DAEMON_H

#include "config.h"
#include "serviced.h"

/* Runs the daemon with an already parsed configuration; returns the process exit status.
 * argc and argv are kept to read the configuration again on reload. */
int daemon_run(struct config *cfg, int argc, char **argv);

#endif
