/*
 * command: the meaning of each control request (see command.h). One handler per command,
 * found by the command's id in a table; the privilege check is made once, from the flags
 * the protocol's command table carries, before any handler runs.
 */
#include "autoconfig.h"

#include <errno.h>
#include <string.h>

#include "command.h"

/* A handler fills an ok reply it was given, or st for an error reply. */
typedef enum proto_error (*command_fn)(const struct command_ctx *ctx,
				       const struct proto_request *req, json_t *reply,
				       struct proto_status *st);

/* What an engine error means to the client. Messages do not repeat the command's name:
 * the client knows what it asked, and says so itself. */
static enum proto_error command_errno(struct proto_status *st, int err, const char *what)
{
	switch (err) {
	case -EINVAL:
	case -ERANGE:
		return proto_status_set(st, PROTO_E_BAD_ARGUMENT, "%s: %s", what, strerror(-err));
	case -EALREADY:
		return proto_status_set(st, PROTO_E_WRONG_STATE, "the daemon is stopping");
	case -EBUSY:
	case -ENOENT:
		return proto_status_set(st, PROTO_E_WRONG_STATE, "%s: %s", what, strerror(-err));
	default:
		return proto_status_set(st, PROTO_E_INTERNAL, "%s: %s", what, strerror(-err));
	}
}

static enum proto_error command_add_status(const struct command_ctx *ctx, json_t *reply,
					   struct proto_status *st)
{
	struct serviced_status status;

	serviced_get_status(ctx->s, &status);
	if (proto_add_status(reply, &status) < 0)
		return proto_status_set(st, PROTO_E_INTERNAL, "out of memory");
	return PROTO_OK;
}

static enum proto_error command_status(const struct command_ctx *ctx,
				       const struct proto_request *req, json_t *reply,
				       struct proto_status *st)
{
	return command_add_status(ctx, reply, st);
}

/* Applies the durations a shutdown request carries, then triggers it. The durations go
 * first so that the phase the trigger starts already runs on them. */
static enum proto_error command_shutdown(const struct command_ctx *ctx,
					 const struct proto_request *req, json_t *reply,
					 struct proto_status *st)
{
	const struct {
		unsigned field;
		enum serviced_knob knob;
		uint64_t ms;
	} overrides[] = {
		{ PROTO_F_DRAIN_DELAY, SERVICED_KNOB_DRAIN_DELAY, req->drain_delay_ms },
		{ PROTO_F_GRACE, SERVICED_KNOB_GRACE, req->grace_ms },
		{ PROTO_F_MERCY, SERVICED_KNOB_MERCY, req->mercy_ms },
	};
	size_t i;
	int r;

	if (serviced_state(ctx->s) == SERVICED_STATE_STOPPED)
		return proto_status_set(st, PROTO_E_WRONG_STATE, "the daemon has stopped");
	for (i = 0; i < sizeof overrides / sizeof overrides[0]; i++) {
		if (!(req->have & overrides[i].field))
			continue;
		r = serviced_set_knob(ctx->s, overrides[i].knob, overrides[i].ms);
		if (r < 0)
			return command_errno(st, r, proto_knob_name(overrides[i].knob));
	}
	r = serviced_shutdown(ctx->s, ctx->trigger, req->now);
	if (r < 0)
		return command_errno(st, r, "shutdown");
	return command_add_status(ctx, reply, st);
}

static enum proto_error command_cancel(const struct command_ctx *ctx,
				       const struct proto_request *req, json_t *reply,
				       struct proto_status *st)
{
	int r = serviced_cancel(ctx->s);

	if (r == -EBUSY)
		return proto_status_set(st, PROTO_E_WRONG_STATE,
					"the shutdown is past its drain delay");
	if (r == -ENOENT)
		return proto_status_set(st, PROTO_E_WRONG_STATE, "no shutdown to cancel");
	if (r < 0)
		return command_errno(st, r, "cancel");
	return command_add_status(ctx, reply, st);
}

static enum proto_error command_add_knobs(const struct command_ctx *ctx, json_t *reply, int k,
					  struct proto_status *st)
{
	struct serviced_status status;
	int i;

	memset(&status, 0, sizeof status);
	for (i = 0; i < SERVICED_KNOB_COUNT_; i++)
		status.knobs_ms[i] = serviced_get_knob(ctx->s, (enum serviced_knob)i);
	if (proto_add_knobs(reply, &status, k) < 0)
		return proto_status_set(st, PROTO_E_INTERNAL, "out of memory");
	return PROTO_OK;
}

static enum proto_error command_get(const struct command_ctx *ctx,
				    const struct proto_request *req, json_t *reply,
				    struct proto_status *st)
{
	return command_add_knobs(ctx, reply, req->have & PROTO_F_KEY ? (int)req->key : -1, st);
}

static enum proto_error command_set(const struct command_ctx *ctx,
				    const struct proto_request *req, json_t *reply,
				    struct proto_status *st)
{
	int r = serviced_set_knob(ctx->s, req->key, req->value_ms);

	if (r < 0)
		return command_errno(st, r, proto_knob_name(req->key));
	return command_add_knobs(ctx, reply, -1, st);
}

static enum proto_error command_watch(const struct command_ctx *ctx,
				      const struct proto_request *req, json_t *reply,
				      struct proto_status *st)
{
	if (!ctx->can_watch)
		return proto_status_set(st, PROTO_E_NOT_SUPPORTED,
					"this transport cannot stream events");
	if (json_object_set_new(reply, "watching", json_true()) != 0)
		return proto_status_set(st, PROTO_E_INTERNAL, "out of memory");
	return command_add_status(ctx, reply, st);
}

static enum proto_error command_ping(const struct command_ctx *ctx,
				     const struct proto_request *req, json_t *reply,
				     struct proto_status *st)
{
	return PROTO_OK;
}

static enum proto_error command_version(const struct command_ctx *ctx,
					const struct proto_request *req, json_t *reply,
					struct proto_status *st)
{
	int r = 0;

	r |= json_object_set_new(reply, "version", json_string(SERVICED_VERSION));
	r |= json_object_set_new(reply, "protocol", json_integer(PROTO_VERSION));
	if (r != 0)
		return proto_status_set(st, PROTO_E_INTERNAL, "out of memory");
	return PROTO_OK;
}

static enum proto_error command_reload(const struct command_ctx *ctx,
				       const struct proto_request *req, json_t *reply,
				       struct proto_status *st)
{
	char err[sizeof st->message - 32] = "";
	int r = serviced_reload(ctx->s, err, sizeof err);

	if (r == -ENOTSUP)
		return proto_status_set(st, PROTO_E_NOT_SUPPORTED, "%s",
					err[0] ? err : "reload is not supported");
	if (r < 0)
		return proto_status_set(st, PROTO_E_FAILED, "configuration unchanged: %s",
					err[0] ? err : strerror(-r));
	return PROTO_OK;
}

static const command_fn command_handlers[PROTO_CMD_COUNT_] = {
	[PROTO_CMD_STATUS] = command_status,
	[PROTO_CMD_SHUTDOWN] = command_shutdown,
	[PROTO_CMD_CANCEL] = command_cancel,
	[PROTO_CMD_GET] = command_get,
	[PROTO_CMD_SET] = command_set,
	[PROTO_CMD_WATCH] = command_watch,
	[PROTO_CMD_PING] = command_ping,
	[PROTO_CMD_VERSION] = command_version,
	[PROTO_CMD_RELOAD] = command_reload,
};

int command_execute(const struct command_ctx *ctx, const struct proto_request *req,
		    json_t **reply)
{
	const struct proto_command_def *def = req->def;
	struct proto_status st = { PROTO_OK, "" };
	json_t *ok;

	*reply = NULL;
	if (def == NULL || (unsigned)def->id >= PROTO_CMD_COUNT_ ||
	    command_handlers[def->id] == NULL)
		proto_status_set(&st, PROTO_E_UNKNOWN_COMMAND, "no handler for this command");
	else if ((def->flags & PROTO_CMD_MUTATES) && !ctx->privileged)
		proto_status_set(&st, PROTO_E_DENIED,
				 "permission denied: '%s' changes the daemon's state", def->name);
	if (st.code != PROTO_OK) {
		*reply = proto_reply_error(&st);
		return *reply != NULL ? 0 : -ENOMEM;
	}

	ok = proto_reply_ok();
	if (ok == NULL)
		return -ENOMEM;
	if (command_handlers[def->id](ctx, req, ok, &st) != PROTO_OK) {
		json_decref(ok);
		*reply = proto_reply_error(&st);
		return *reply != NULL ? 0 : -ENOMEM;
	}
	*reply = ok;
	return 0;
}
