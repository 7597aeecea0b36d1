/*
 * bare: the cost floor. A bare libmicrohttpd server in serviced's threading mode (an epoll
 * thread pool of one thread per CPU, with ITC and suspend/resume allowed) that answers
 * every request with one shared, prebuilt response holding the bytes of a file and the
 * same headers serviced's static module sends (Content-Type, Last-Modified). No counting,
 * no registry, no lifecycle: whatever serviced costs beyond this is the price of its
 * shutdown engine and its file serving.
 *
 *   bare --file PATH [--listen ADDR:PORT] [--threads N] [--max-connections N]
 *        [--connection-memory BYTES]
 *
 * Logs "listening on http://ADDR:PORT" on stderr once serving, as serviced does, and stops
 * on SIGTERM or SIGINT (MHD_stop_daemon, nothing graceful).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#define BARE_BACKLOG 1024 /* serviced's */

static char bare_first_call;

static enum MHD_Result bare_handler(void *cls, struct MHD_Connection *c, const char *url,
				    const char *method, const char *version,
				    const char *upload_data, size_t *upload_data_size,
				    void **req_cls)
{
	(void)url;
	(void)method;
	(void)version;
	(void)upload_data;
	/* Queuing on the first call would cost keep-alive: answer on the second. */
	if (*req_cls == NULL) {
		*req_cls = &bare_first_call;
		return MHD_YES;
	}
	if (*upload_data_size != 0) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	return MHD_queue_response(c, MHD_HTTP_OK, cls);
}

static int bare_die(const char *what)
{
	fprintf(stderr, "bare: %s: %s\n", what, strerror(errno));
	return 1;
}

/* Binds ADDR:PORT (IPv4 only: the bench runs on loopback). Returns the fd or -1. */
static int bare_bind(const char *spec, char *bound, size_t size)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof sa;
	char host[64];
	const char *colon = strrchr(spec, ':');
	int fd, one = 1;

	if (!colon || (size_t)(colon - spec) >= sizeof host) {
		errno = EINVAL;
		return -1;
	}
	memcpy(host, spec, (size_t)(colon - spec));
	host[colon - spec] = '\0';
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		errno = EINVAL;
		return -1;
	}
	sa.sin_port = htons((unsigned short)atoi(colon + 1));
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, BARE_BACKLOG) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
		close(fd);
		return -1;
	}
	snprintf(bound, size, "%s:%u", host, ntohs(sa.sin_port));
	return fd;
}

/* The Last-Modified value serviced would send for this file. */
static void bare_http_date(time_t t, char *buf, size_t size)
{
	static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;

	gmtime_r(&t, &tm);
	snprintf(buf, size, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday],
		 tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
		 tm.tm_sec);
}

int main(int argc, char **argv)
{
	const char *file = NULL, *listen_spec = "127.0.0.1:0";
	unsigned threads = 0, limit = 1024;
	size_t memory = 32 * 1024; /* serviced's default, and libmicrohttpd's */
	struct MHD_Response *resp;
	struct MHD_Daemon *d;
	char bound[96], date[64], *body;
	struct stat st;
	sigset_t set;
	int fd, sig;

	for (int i = 1; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (v && strcmp(argv[i], "--file") == 0)
			file = v;
		else if (v && strcmp(argv[i], "--listen") == 0)
			listen_spec = v;
		else if (v && strcmp(argv[i], "--threads") == 0)
			threads = (unsigned)strtoul(v, NULL, 10);
		else if (v && strcmp(argv[i], "--max-connections") == 0)
			limit = (unsigned)strtoul(v, NULL, 10);
		else if (v && strcmp(argv[i], "--connection-memory") == 0)
			memory = (size_t)strtoul(v, NULL, 10);
		else {
			fprintf(stderr, "usage: bare --file PATH [--listen ADDR:PORT] [--threads N] "
					"[--max-connections N] [--connection-memory BYTES]\n");
			return 2;
		}
		i++;
	}
	if (!file) {
		fprintf(stderr, "bare: --file is required\n");
		return 2;
	}
	if (threads == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		threads = n > 0 ? (unsigned)n : 1;
	}

	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0)
		return bare_die(file);
	body = malloc((size_t)st.st_size + 1);
	if (!body || read(fd, body, (size_t)st.st_size) != (ssize_t)st.st_size)
		return bare_die(file);
	close(fd);
	bare_http_date(st.st_mtime, date, sizeof date);
	resp = MHD_create_response_from_buffer((size_t)st.st_size, body, MHD_RESPMEM_PERSISTENT);
	if (!resp || MHD_add_response_header(resp, MHD_HTTP_HEADER_LAST_MODIFIED, date) != MHD_YES ||
	    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				    "text/html; charset=utf-8") != MHD_YES) {
		fprintf(stderr, "bare: cannot build the response\n");
		return 1;
	}

	/* Signals are taken with sigwait() on this thread; the workers inherit the mask. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	fd = bare_bind(listen_spec, bound, sizeof bound);
	if (fd < 0)
		return bare_die(listen_spec);
	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC |
				     MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG,
			     0, NULL, NULL, bare_handler, resp,
			     MHD_OPTION_LISTEN_SOCKET, fd,
			     MHD_OPTION_CONNECTION_LIMIT, limit,
			     MHD_OPTION_CONNECTION_TIMEOUT, 60u,
			     MHD_OPTION_CONNECTION_MEMORY_LIMIT, memory,
			     threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, threads,
			     MHD_OPTION_END);
	if (!d) {
		fprintf(stderr, "bare: libmicrohttpd failed to start\n");
		return 1;
	}
	fprintf(stderr, "bare: listening on http://%s (%u threads)\n", bound, threads);
	while (sigwait(&set, &sig) != 0)
		;
	MHD_stop_daemon(d);
	close(fd);
	MHD_destroy_response(resp);
	free(body);
	return 0;
}
