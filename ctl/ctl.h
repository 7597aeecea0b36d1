/*
 * servicectl's modules: the grammar and main (servicectl.c), the connection to the daemon
 * (client.c), and two printers over the same replies, one for people and one for programs
 * (print.c).
 */
#ifndef SERVICECTL_CTL_H
#define SERVICECTL_CTL_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "proto.h"

/* Exit statuses. */
#define CTL_EXIT_OK 0
#define CTL_EXIT_REFUSED 1    /* the daemon answered ok:false (or requests were cut) */
#define CTL_EXIT_USAGE 2
#define CTL_EXIT_UNREACHABLE 3 /* cannot connect, or the daemon went away mid-answer */

/* One connection to the daemon. */
struct client {
	int fd;
	const char *path;
	struct proto_reader in;
};

/* Connects to path. Returns 0 or -errno. */
int client_open(struct client *c, const char *path);
/* Accepts a client that was never opened (fd -1). */
void client_close(struct client *c);
/* Sends one request. Returns 0 or -errno. */
int client_send(struct client *c, const struct proto_request *req);
/* Waits up to timeout_ms (-1: for ever) for the next message. Returns 1 with the line in
 * *line (valid until the next read), 0 on timeout, -EPIPE at end of stream, -EMSGSIZE
 * for a message over the limit, or another -errno. */
int client_read(struct client *c, int timeout_ms, char **line, size_t *len);

/* One message from the daemon, as received and as parsed. */
struct ctl_message {
	const char *line; /* the bytes, without the newline */
	size_t len;
	json_t *obj;
	int kind;               /* enum proto_message */
	struct proto_status st; /* for PROTO_MSG_ERROR */
};

/* A printer shows replies and events; print.c has the human one and the JSON one. */
struct printer {
	/* The reply to a successful cmd. */
	void (*reply)(enum proto_command cmd, const struct ctl_message *m);
	/* An error reply, or a failure of servicectl itself (m NULL: text says it). */
	void (*error)(const char *what, const struct ctl_message *m, const char *text);
	/* An event of a watch (not used for shutdown --wait on a terminal). */
	void (*event)(const struct ctl_message *m);
};

extern const struct printer print_human;
extern const struct printer print_json;

/* Whether successful output is shown at all (-q turns it off). */
extern bool print_quiet;

/* Formats ms for people: "4.2s", "250ms", "2m", "1h3m"; rounded to tenths past a second. */
const char *print_duration(uint64_t ms, char *buf, size_t size);
/* Sum of a per-state count object ("cut") over the shutdown states (not running). */
uint64_t print_sum(const json_t *per_state);

#endif
