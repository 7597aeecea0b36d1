/*
 * command: what each control request does. It maps a decoded request (proto.h) onto the
 * engine's public API and builds the reply. The transport is someone else's: the control
 * socket (control.c) calls it, and so will the HTTP admin endpoint, each with its own
 * trigger and its own idea of who is privileged.
 */
#ifndef SERVICED_COMMAND_H
#define SERVICED_COMMAND_H

#include <stdbool.h>

#include <jansson.h>

#include "proto.h"
#include "serviced.h"

/* Who is asking, as the transport established it. */
struct command_ctx {
	serviced *s;
	enum serviced_trigger trigger; /* SERVICED_TRIGGER_CONTROL or _ADMIN */
	bool privileged;               /* may run PROTO_CMD_MUTATES commands */
	bool can_watch;                /* the transport can stream events after the reply */
};

/* Runs req and sets *reply to a new reply object, {"ok":true,...} or an error reply. The
 * privilege check happens here, once, before dispatch. Returns 0, or -ENOMEM when not even
 * an error reply could be built (*reply is then NULL). For "watch" the reply only says
 * {"ok":true,"watching":true,...}: streaming the events is the transport's job. */
int command_execute(const struct command_ctx *ctx, const struct proto_request *req,
		    json_t **reply);

#endif
