/*
 * control: the control socket server. It listens on a Unix socket, frames each client's
 * bytes into requests (proto.c), runs them (command.c) and streams events to clients that
 * asked to watch. Everything runs on the engine thread, from serviced_watch_fd() callbacks,
 * one tick and one state observer, so nothing here needs a lock.
 *
 * Every resource a client controls is bounded: clients (max_clients), input (one message,
 * PROTO_MAX_MESSAGE), output (CONTROL_OUT_MAX queued bytes), and time (CONTROL_IDLE_MS for a
 * client that neither sends nor watches). A client over a bound is dropped; the daemon
 * carries on.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include "command.h"
#include "engine.h"
#include "proto.h"
#include "serviced.h"

#define CONTROL_TICK_MS 100        /* counts events, idle sweeps, accept backoff */
#define CONTROL_IDLE_MS 30000      /* a client that neither sends nor watches */
#define CONTROL_BACKOFF_MS 1000    /* accept paused after EMFILE / ENFILE */
#define CONTROL_OUT_MAX (1u << 20) /* queued output: a watcher that does not read */
#define CONTROL_OUT_PAUSE (1u << 16) /* stop reading requests while this much is queued */
#define CONTROL_ACCEPT_BATCH 64    /* accepts per wake-up, to stay fair to other work */

struct control;

struct control_client {
	TAILQ_ENTRY(control_client) entry;
	struct control *ctl;
	int fd;
	uint32_t events;       /* what the engine watches for it now */
	pid_t pid;
	uid_t uid;
	gid_t gid;
	bool privileged;       /* decided once, at accept */
	bool watching;
	bool closing;          /* close once the output is flushed */
	uint64_t active_ms;    /* last request, or accept */
	char *out;             /* queued output: out[out_off, out_len) */
	size_t out_off, out_len, out_cap;
	struct proto_reader in;
};

struct control {
	serviced *s;
	char *path;
	ino_t ino;             /* the socket file we made, so we never remove another's */
	dev_t dev;
	int fd;
	bool accepting;        /* the listening socket is watched */
	uint64_t resume_ms;    /* when to accept again after EMFILE; 0 = not paused */
	unsigned max_clients, nclients;
	gid_t group;
	uid_t euid;
	struct serviced_counts sent_counts; /* what the last counts event said */
	TAILQ_HEAD(control_clients, control_client) clients;
};

static void control_client_cb(void *cls, int fd, uint32_t events);
static void control_accept_cb(void *cls, int fd, uint32_t events);

void serviced_control_options_init(struct serviced_control_options *o)
{
	memset(o, 0, sizeof *o);
	o->path = NULL;
	o->mode = 0600;
	o->group = (gid_t)-1;
	o->max_clients = 32;
}

/*
 * Clients.
 */

/* The one place a client is freed. */
static void control_close(struct control_client *c)
{
	struct control *ctl = c->ctl;

	serviced_unwatch_fd(ctl->s, c->fd);
	close(c->fd);
	TAILQ_REMOVE(&ctl->clients, c, entry);
	ctl->nclients--;
	free(c->out);
	free(c);
	/* A slot is free: if accept was paused for want of descriptors, try again now. */
	if (ctl->resume_ms != 0)
		ctl->resume_ms = 1;
}

static size_t control_queued(const struct control_client *c)
{
	return c->out_len - c->out_off;
}

/* Writes what is queued. Returns 0, or -1 when the client is gone (closed here). */
static int control_flush(struct control_client *c)
{
	ssize_t n;

	while (control_queued(c) > 0) {
		n = send(c->fd, c->out + c->out_off, control_queued(c), MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			control_close(c);
			return -1;
		}
		c->out_off += (size_t)n;
	}
	c->out_off = c->out_len = 0;
	return 0;
}

/* Watches for what the client needs next: input unless it is closing or has too much
 * output queued, output while some is queued. Returns -1 when the client is gone. */
static int control_arm(struct control_client *c)
{
	uint32_t want = 0;

	if (c->closing && control_queued(c) == 0) {
		control_close(c);
		return -1;
	}
	if (!c->closing && control_queued(c) < CONTROL_OUT_PAUSE)
		want |= EPOLLIN;
	if (control_queued(c) > 0)
		want |= EPOLLOUT;
	if (want == c->events)
		return 0;
	serviced_unwatch_fd(c->ctl->s, c->fd);
	c->events = want;
	if (serviced_watch_fd(c->ctl->s, c->fd, want, control_client_cb, c) < 0) {
		control_close(c);
		return -1;
	}
	return 0;
}

/* Queues one message and tries to write it at once. Returns -1 when the client is gone:
 * a client whose queue passes CONTROL_OUT_MAX is not reading, and is dropped. */
static int control_send(struct control_client *c, const json_t *msg)
{
	char *text, *grown;
	size_t len, cap;

	text = proto_encode(msg, &len);
	if (text == NULL) {
		control_close(c);
		return -1;
	}
	if (control_queued(c) + len > CONTROL_OUT_MAX) {
		engine_log(c->ctl->s, LOG_WARNING,
			   "control: dropping client pid %ld uid %lu: %zu bytes unread",
			   (long)c->pid, (unsigned long)c->uid, control_queued(c));
		free(text);
		control_close(c);
		return -1;
	}
	if (c->out_off > 0 && c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	if (c->out_len + len > c->out_cap) {
		if (c->out_off > 0) {
			memmove(c->out, c->out + c->out_off, control_queued(c));
			c->out_len -= c->out_off;
			c->out_off = 0;
		}
		cap = c->out_cap ? c->out_cap : 4096;
		while (cap < c->out_len + len)
			cap *= 2;
		if (cap != c->out_cap) {
			grown = realloc(c->out, cap);
			if (grown == NULL) {
				free(text);
				control_close(c);
				return -1;
			}
			c->out = grown;
			c->out_cap = cap;
		}
	}
	memcpy(c->out + c->out_len, text, len);
	c->out_len += len;
	free(text);
	if (control_flush(c) < 0)
		return -1;
	return control_arm(c);
}

/* Answers one message. Returns -1 when the client is gone. */
static int control_dispatch(struct control_client *c, const char *line, size_t len)
{
	struct command_ctx ctx = {
		.s = c->ctl->s,
		.trigger = SERVICED_TRIGGER_CONTROL,
		.privileged = c->privileged,
		.can_watch = true,
	};
	struct proto_request req;
	struct proto_status st;
	json_t *reply = NULL;
	int r;

	c->active_ms = engine_now_ms();
	if (proto_decode_request(line, len, &req, &st) != PROTO_OK)
		reply = proto_reply_error(&st);
	else if (command_execute(&ctx, &req, &reply) == 0 && req.def->id == PROTO_CMD_WATCH &&
		 json_is_true(json_object_get(reply, "ok")))
		c->watching = true;
	if (reply == NULL) {
		control_close(c);
		return -1;
	}
	r = control_send(c, reply);
	json_decref(reply);
	return r;
}

/* Answers the messages already read, as long as the client keeps up with the replies.
 * Returns -1 when the client is gone. */
static int control_process(struct control_client *c)
{
	struct proto_status st;
	json_t *reply;
	char *line;
	size_t len;
	int rc;

	while (!c->closing && control_queued(c) < CONTROL_OUT_PAUSE) {
		rc = proto_reader_next(&c->in, &line, &len);
		if (rc == PROTO_READ_MORE)
			break;
		if (rc == PROTO_READ_LINE) {
			if (control_dispatch(c, line, len) < 0)
				return -1;
			continue;
		}
		/* Too large: the stream cannot be resynchronised. Say so, then hang up. */
		proto_status_set(&st, PROTO_E_TOO_LARGE, "message is over %d bytes",
				 PROTO_MAX_MESSAGE);
		reply = proto_reply_error(&st);
		c->closing = true;
		rc = reply != NULL ? control_send(c, reply) : control_arm(c);
		json_decref(reply);
		return rc;
	}
	return control_arm(c);
}

/* End of input: a last message without its newline still counts. */
static int control_eof(struct control_client *c)
{
	char *line;
	size_t len;

	if (control_queued(c) < CONTROL_OUT_PAUSE &&
	    proto_reader_finish(&c->in, &line, &len) == PROTO_READ_LINE &&
	    control_dispatch(c, line, len) < 0)
		return -1;
	c->closing = true;
	return control_arm(c);
}

static void control_client_cb(void *cls, int fd, uint32_t events)
{
	struct control_client *c = cls;
	size_t room;
	ssize_t n;
	char *p;

	if ((events & EPOLLOUT) && control_flush(c) < 0)
		return;
	/* Read only when input is wanted; otherwise the flush may have made room for the
	 * requests already buffered, or finished a closing client. */
	if (!(c->events & EPOLLIN) || !(events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
		control_process(c);
		return;
	}
	p = proto_reader_space(&c->in, &room);
	if (p == NULL) {
		control_process(c); /* a message's worth without a newline: too large */
		return;
	}
	n = recv(fd, p, room, MSG_DONTWAIT);
	if (n < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			control_close(c);
		return;
	}
	if (n == 0) {
		control_eof(c);
		return;
	}
	proto_reader_commit(&c->in, (size_t)n);
	control_process(c);
}

/* Is group among the groups in /proc/PID/status? For kernels without SO_PEERGROUPS. */
static bool control_proc_in_group(pid_t pid, gid_t group)
{
	char path[64], line[4096], *tok, *save;
	bool found = false;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
	if ((f = fopen(path, "re")) == NULL)
		return false;
	while (fgets(line, sizeof line, f) != NULL) {
		if (strncmp(line, "Groups:", 7) != 0)
			continue;
		for (tok = strtok_r(line + 7, " \t\n", &save); tok != NULL;
		     tok = strtok_r(NULL, " \t\n", &save))
			if (strtoul(tok, NULL, 10) == group)
				found = true;
	}
	fclose(f);
	return found;
}

/* Is group among the peer's supplementary groups? SO_PEERGROUPS gives the groups the peer
 * had when it connected, which is what a check made once at accept wants. */
static bool control_peer_in_group(int fd, pid_t pid, gid_t group)
{
	gid_t stack[64], *groups = stack;
	socklen_t len = sizeof stack;
	bool found = false;
	size_t i;
	int r;

	r = getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len);
	if (r < 0 && errno == ERANGE && (groups = malloc(len)) != NULL)
		r = getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len);
	if (r < 0 && errno == ENOPROTOOPT)
		found = control_proc_in_group(pid, group);
	for (i = 0; r == 0 && i < len / sizeof(gid_t); i++)
		if (groups[i] == group)
			found = true;
	if (groups != stack)
		free(groups);
	return found;
}

/* Privilege is settled once, from the credentials the kernel recorded at connect. */
static bool control_privileged(const struct control *ctl, int fd, const struct ucred *cr)
{
	if (cr->uid == 0 || cr->uid == ctl->euid)
		return true;
	if (ctl->group == (gid_t)-1)
		return false;
	return cr->gid == ctl->group || control_peer_in_group(fd, cr->pid, ctl->group);
}

/* Tells a client over the limit why, as well as a full socket buffer allows, and hangs up. */
static void control_refuse(struct control *ctl, int fd)
{
	struct proto_status st;
	json_t *reply;
	char *text;
	size_t len;

	proto_status_set(&st, PROTO_E_BUSY, "too many control clients (%u)", ctl->max_clients);
	reply = proto_reply_error(&st);
	text = reply != NULL ? proto_encode(reply, &len) : NULL;
	if (text != NULL && send(fd, text, len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
		/* Nothing more to do for a client we are turning away. */
	}
	free(text);
	json_decref(reply);
	close(fd);
}

static void control_pause_accept(struct control *ctl)
{
	if (ctl->accepting)
		serviced_unwatch_fd(ctl->s, ctl->fd);
	ctl->accepting = false;
	ctl->resume_ms = engine_now_ms() + CONTROL_BACKOFF_MS;
}

static void control_resume_accept(struct control *ctl)
{
	if (ctl->accepting || ctl->fd < 0)
		return;
	if (serviced_watch_fd(ctl->s, ctl->fd, EPOLLIN, control_accept_cb, ctl) < 0) {
		ctl->resume_ms = engine_now_ms() + CONTROL_BACKOFF_MS;
		return;
	}
	ctl->accepting = true;
	ctl->resume_ms = 0;
}

static void control_accept_cb(void *cls, int lfd, uint32_t events)
{
	struct control *ctl = cls;
	struct control_client *c;
	struct ucred cr;
	socklen_t len;
	int fd, i;

	for (i = 0; i < CONTROL_ACCEPT_BATCH; i++) {
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE) {
				/* Out of descriptors: the pending connection would wake us at once,
				 * forever. Stop listening for a while instead of spinning. */
				engine_log(ctl->s, LOG_WARNING, "control socket %s: accept: %s",
					   ctl->path, strerror(errno));
				control_pause_accept(ctl);
			} else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
				   errno != ECONNABORTED) {
				engine_log(ctl->s, LOG_WARNING, "control socket %s: accept: %s",
					   ctl->path, strerror(errno));
			}
			return;
		}
		if (ctl->nclients >= ctl->max_clients) {
			control_refuse(ctl, fd);
			continue;
		}
		len = sizeof cr;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0 ||
		    (c = calloc(1, sizeof *c)) == NULL) {
			close(fd);
			continue;
		}
		c->ctl = ctl;
		c->fd = fd;
		c->pid = cr.pid;
		c->uid = cr.uid;
		c->gid = cr.gid;
		c->privileged = control_privileged(ctl, fd, &cr);
		c->active_ms = engine_now_ms();
		proto_reader_init(&c->in);
		TAILQ_INSERT_TAIL(&ctl->clients, c, entry);
		ctl->nclients++;
		c->events = EPOLLIN;
		if (serviced_watch_fd(ctl->s, fd, EPOLLIN, control_client_cb, c) < 0) {
			c->events = 0;
			control_close(c);
		}
	}
}

/*
 * Events for watchers.
 */

static void control_broadcast(struct control *ctl, const json_t *ev)
{
	struct control_client *c, *next;

	/* control_send may free c: take the next one first. */
	for (c = TAILQ_FIRST(&ctl->clients); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (c->watching && !c->closing)
			control_send(c, ev);
	}
}

static bool control_have_watchers(const struct control *ctl)
{
	const struct control_client *c;

	TAILQ_FOREACH(c, &ctl->clients, entry)
		if (c->watching)
			return true;
	return false;
}

static void control_on_state(void *cls, serviced *s, enum serviced_state from,
			     enum serviced_state to)
{
	struct control *ctl = cls;
	struct control_client *c, *next;
	struct serviced_status st;
	json_t *ev;

	if (ctl->fd < 0 || !control_have_watchers(ctl))
		return;
	serviced_get_status(s, &st);
	/* from == to: no transition, a duration changed and the deadline may have moved. */
	ev = from == to ? proto_event_durations(&st) : proto_event_state(from, to, &st);
	if (ev == NULL)
		return;
	control_broadcast(ctl, ev);
	json_decref(ev);
	ctl->sent_counts = st.counts;
	if (from == to || to != SERVICED_STATE_STOPPED)
		return;
	/* The last event: watchers get it (as far as their socket buffer takes it), then EOF. */
	for (c = TAILQ_FIRST(&ctl->clients); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (c->watching && control_flush(c) == 0)
			control_close(c);
	}
}

static void control_tick(void *cls)
{
	struct control *ctl = cls;
	struct control_client *c, *next;
	struct serviced_status st;
	uint64_t now = engine_now_ms();
	json_t *ev;

	if (ctl->fd < 0)
		return;
	if (ctl->resume_ms != 0 && now >= ctl->resume_ms)
		control_resume_accept(ctl);

	for (c = TAILQ_FIRST(&ctl->clients); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (!c->watching && now - c->active_ms > CONTROL_IDLE_MS)
			control_close(c);
	}

	/* Counts, at most once a tick, and only when they changed. */
	if (!control_have_watchers(ctl))
		return;
	serviced_get_status(ctl->s, &st);
	if (memcmp(&st.counts, &ctl->sent_counts, sizeof st.counts) == 0)
		return;
	ctl->sent_counts = st.counts;
	ev = proto_event_counts(&st);
	if (ev == NULL)
		return;
	control_broadcast(ctl, ev);
	json_decref(ev);
}

/*
 * The listening socket.
 */

/* Is a live server answering at path? A stale socket file refuses the connection. A
 * non-blocking connect, so a server with a full backlog counts as live, not as a hang. */
static int control_check(const char *path, const struct sockaddr_un *sun,
			 struct serviced_error *err)
{
	struct stat sb;
	int fd, r;

	if (lstat(path, &sb) < 0) {
		if (errno == ENOENT)
			return 0;
		return engine_error(err, -errno, "control socket %s: %s", path, strerror(errno));
	}
	if (!S_ISSOCK(sb.st_mode))
		return engine_error(err, -EEXIST, "control socket %s: exists and is not a socket",
				    path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return engine_error(err, -errno, "control socket %s: socket: %s", path,
				    strerror(errno));
	r = connect(fd, (const struct sockaddr *)sun, sizeof *sun);
	if (r == 0 || errno == EAGAIN || errno == EINPROGRESS) {
		close(fd);
		return engine_error(err, -EADDRINUSE,
				    "control socket %s: another serviced is running", path);
	}
	r = errno;
	close(fd);
	if (r != ECONNREFUSED && r != ENOENT)
		return engine_error(err, -r, "control socket %s: %s", path, strerror(r));
	/* Stale: left by a daemon that died. */
	if (unlink(path) < 0 && errno != ENOENT)
		return engine_error(err, -errno, "control socket %s: unlink: %s", path,
				    strerror(errno));
	return 0;
}

/* Makes the socket's directory (the last level only: /run/serviced for the default path
 * when no service manager made it). Returns 0 or -1 with errno set. */
static int control_mkdir_parent(const char *path)
{
	char *dir = strdup(path), *slash;
	int r = -1, saved;

	if (dir == NULL)
		return -1;
	slash = strrchr(dir, '/');
	if (slash != NULL && slash != dir) {
		*slash = '\0';
		r = mkdir(dir, 0700);
		if (r == 0)
			r = chmod(dir, 0755);
	}
	saved = errno;
	free(dir);
	if (r < 0)
		errno = saved == EEXIST ? ENOENT : saved;
	return r;
}

static int control_bind(struct control *ctl, const struct serviced_control_options *o,
			struct serviced_error *err)
{
	struct sockaddr_un sun;
	struct stat sb;
	mode_t old;
	int r;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(ctl->path) >= sizeof sun.sun_path)
		return engine_error(err, -ENAMETOOLONG, "control socket %s: path too long",
				    ctl->path);
	strcpy(sun.sun_path, ctl->path);

	r = control_check(ctl->path, &sun, err);
	if (r < 0)
		return r;
	ctl->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (ctl->fd < 0)
		return engine_error(err, -errno, "control socket %s: socket: %s", ctl->path,
				    strerror(errno));
	/* The file is born owner-only; chmod widens it only once it is ours. */
	old = umask(0177);
	r = bind(ctl->fd, (struct sockaddr *)&sun, sizeof sun);
	if (r < 0 && errno == ENOENT && control_mkdir_parent(ctl->path) == 0)
		r = bind(ctl->fd, (struct sockaddr *)&sun, sizeof sun);
	umask(old);
	if (r < 0)
		return engine_error(err, -errno, "control socket %s: bind: %s", ctl->path,
				    strerror(errno));
	if (stat(ctl->path, &sb) == 0) {
		ctl->dev = sb.st_dev;
		ctl->ino = sb.st_ino;
	}
	if (chmod(ctl->path, o->mode & 07777) < 0)
		return engine_error(err, -errno, "control socket %s: chmod: %s", ctl->path,
				    strerror(errno));
	if (o->group != (gid_t)-1 && chown(ctl->path, (uid_t)-1, o->group) < 0)
		return engine_error(err, -errno, "control socket %s: chown to group %lu: %s",
				    ctl->path, (unsigned long)o->group, strerror(errno));
	if (listen(ctl->fd, 128) < 0)
		return engine_error(err, -errno, "control socket %s: listen: %s", ctl->path,
				    strerror(errno));
	return 0;
}

/* Removes the socket file, if it is still the one we made. */
static void control_unlink(struct control *ctl)
{
	struct stat sb;

	if (ctl->ino == 0)
		return;
	if (lstat(ctl->path, &sb) == 0 && sb.st_ino == ctl->ino && sb.st_dev == ctl->dev)
		unlink(ctl->path);
	ctl->ino = 0;
}

/* Closes every client and the listening socket, and removes the socket file. */
static void control_shut(struct control *ctl)
{
	while (!TAILQ_EMPTY(&ctl->clients))
		control_close(TAILQ_FIRST(&ctl->clients));
	if (ctl->fd >= 0) {
		if (ctl->accepting)
			serviced_unwatch_fd(ctl->s, ctl->fd);
		close(ctl->fd);
	}
	ctl->fd = -1;
	ctl->accepting = false;
	ctl->resume_ms = 0;
	control_unlink(ctl);
}

/* Accepts NULL. */
static void control_destroy(struct control *ctl)
{
	if (ctl == NULL)
		return;
	control_shut(ctl);
	free(ctl->path);
	free(ctl);
}

static void control_cleanup(void *cls)
{
	control_destroy(cls);
}

int serviced_control_listen(serviced *s, const struct serviced_control_options *o,
			    struct serviced_error *err)
{
	struct serviced_control_options defaults;
	struct control *ctl;
	char buf[sizeof ((struct sockaddr_un *)0)->sun_path + 64];
	const char *path;
	int r;

	if (o == NULL) {
		serviced_control_options_init(&defaults);
		o = &defaults;
	}
	path = o->path;
	if (path == NULL && (path = serviced_control_default_path(buf, sizeof buf)) == NULL)
		return engine_error(err, -ENAMETOOLONG, "control socket: default path too long");
	if (path[0] == '\0')
		return engine_error(err, -EINVAL, "control socket: empty path");
	if (o->max_clients == 0)
		return engine_error(err, -EINVAL, "control socket %s: max_clients is 0", path);

	ctl = calloc(1, sizeof *ctl);
	if (ctl == NULL || (ctl->path = strdup(path)) == NULL) {
		free(ctl);
		return engine_error(err, -ENOMEM, "control socket %s: out of memory", path);
	}
	ctl->s = s;
	ctl->fd = -1;
	ctl->max_clients = o->max_clients;
	ctl->group = o->group;
	ctl->euid = geteuid();
	TAILQ_INIT(&ctl->clients);

	r = control_bind(ctl, o, err);
	if (r < 0) {
		control_destroy(ctl);
		return r;
	}
	/* From here the engine owns ctl and frees it. A tick or an observer cannot be taken
	 * back, so a failure below only closes the socket; they then find it closed. */
	r = engine_add_cleanup(s, control_cleanup, ctl);
	if (r < 0) {
		control_destroy(ctl);
		return engine_error(err, r, "control socket %s: %s", path, strerror(-r));
	}
	r = serviced_watch_fd(s, ctl->fd, EPOLLIN, control_accept_cb, ctl);
	if (r == 0) {
		ctl->accepting = true;
		r = serviced_add_tick(s, CONTROL_TICK_MS, control_tick, ctl);
	}
	if (r == 0)
		r = serviced_add_state_observer(s, control_on_state, ctl);
	if (r < 0) {
		control_shut(ctl);
		return engine_error(err, r, "control socket %s: cannot register with the engine: %s",
				    path, strerror(-r));
	}
	return 0;
}
