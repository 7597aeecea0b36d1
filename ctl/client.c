/*
 * client: servicectl's end of the control socket. Blocking writes, reads with a deadline;
 * framing and encoding are the shared codec's (src/proto.c).
 */
#include "autoconfig.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl.h"

int client_open(struct client *c, const char *path)
{
	struct sockaddr_un sun;
	int r;

	c->fd = -1;
	c->path = path;
	proto_reader_init(&c->in);
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun.sun_path)
		return -ENAMETOOLONG;
	strcpy(sun.sun_path, path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -errno;
	do
		r = connect(c->fd, (struct sockaddr *)&sun, sizeof sun);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		r = -errno;
		client_close(c);
		return r;
	}
	return 0;
}

void client_close(struct client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

int client_send(struct client *c, const struct proto_request *req)
{
	json_t *msg = proto_request_to_json(req);
	size_t len = 0, off = 0;
	char *text = msg != NULL ? proto_encode(msg, &len) : NULL;
	ssize_t n;
	int r = 0;

	json_decref(msg);
	if (text == NULL)
		return -ENOMEM;
	while (off < len) {
		n = send(c->fd, text + off, len - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			break;
		}
		off += (size_t)n;
	}
	free(text);
	return r;
}

int client_read(struct client *c, int timeout_ms, char **line, size_t *len)
{
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
	size_t room;
	ssize_t n;
	char *p;
	int r;

	for (;;) {
		r = proto_reader_next(&c->in, line, len);
		if (r == PROTO_READ_LINE)
			return 1;
		if (r == PROTO_READ_TOO_LARGE)
			return -EMSGSIZE;
		r = poll(&pfd, 1, timeout_ms);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return 0;
		p = proto_reader_space(&c->in, &room);
		if (p == NULL)
			return -EMSGSIZE;
		n = recv(c->fd, p, room, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == ECONNRESET ? -EPIPE : -errno;
		if (n == 0)
			return -EPIPE;
		proto_reader_commit(&c->in, (size_t)n);
	}
}
