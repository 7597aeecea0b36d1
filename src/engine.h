/*
 * engine: internals of the libserviced engine shared with its sibling modules (control
 * socket, admin endpoint, systemd notifier). Applications use serviced.h only.
 */
#ifndef SERVICED_ENGINE_H
#define SERVICED_ENGINE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include "serviced.h"

/* Monotonic milliseconds. */
uint64_t engine_now_ms(void);
/* Formats a line and hands it to the application's logger (library code never prints). */
void engine_log(serviced *s, int priority, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Fills err (may be NULL) and returns code. */
int engine_error(struct serviced_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Binds and listens on "ADDR:PORT" or "[V6ADDR]:PORT" (no ADDR or "*": every address; port
 * 0: any). Returns the socket, or -errno with err saying why, each message starting with
 * what ("listen", "admin endpoint"). */
int engine_listen(const char *spec, const char *what, int backlog, struct serviced_error *err);
/* The address a socket is bound to, as "ADDR:PORT" or "[V6ADDR]:PORT". */
void engine_describe_socket(int fd, char *buf, size_t size);

/* A connection's client address as text ("127.0.0.1", "::1"), or "-" when unknown. */
#define ENGINE_ADDR_MAX 46 /* INET6_ADDRSTRLEN */
const char *engine_client_address(struct MHD_Connection *c, char *buf, size_t size);

/* now + ms on CLOCK_MONOTONIC, for pthread_cond_timedwait on a monotonic condvar. */
struct timespec;
void engine_deadline(struct timespec *until, uint64_t ms);

/* Something to release when the engine is freed (the control socket, say). */
typedef void (*engine_cleanup_fn)(void *cls);
int engine_add_cleanup(serviced *s, engine_cleanup_fn fn, void *cls);

/* Told before (begin = true) and after a reload, for RELOADING=1 / READY=1. */
typedef void (*engine_reload_observer)(void *cls, serviced *s, bool begin);
int engine_add_reload_observer(serviced *s, engine_reload_observer fn, void *cls);

#endif
