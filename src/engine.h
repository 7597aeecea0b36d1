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

/* Something to release when the engine is freed (the control socket, say). */
typedef void (*engine_cleanup_fn)(void *cls);
int engine_add_cleanup(serviced *s, engine_cleanup_fn fn, void *cls);

/* Told before (begin = true) and after a reload, for RELOADING=1 / READY=1. */
typedef void (*engine_reload_observer)(void *cls, serviced *s, bool begin);
int engine_add_reload_observer(serviced *s, engine_reload_observer fn, void *cls);

#endif
