/*
 * svcbench: the measurements wrk cannot make. Each mode starts (or watches) a server and
 * prints its figures as "key value" lines on stdout, for bench/run.sh to collect.
 *
 *   svcbench stop-idle     [-n REPS] [SERVER] -- CMD...   SIGTERM -> exit of an idle server
 *   svcbench stop-inflight [-n REPS] [SERVER] (--begin TEXT | --slow MS) --path PATH -- CMD...
 *                          last in-flight response (complete at the client) -> exit
 *   svcbench stop-conns    [-n REPS] [SERVER] -c CONNS --path PATH -- CMD...
 *                          CONNS idle keep-alive connections: RSS, SIGTERM -> all EOF -> exit
 *   svcbench close-floor   [-n REPS] -c CONNS [--threads N]
 *                          the kernel's part of stop-conns: plain sockets, shutdown() each
 *   svcbench status        --socket PATH [-n COUNT | -d SECONDS] [--pace-us US]
 *                          control socket "status" round trips, back to back (or one
 *                          every US microseconds)
 *   svcbench pingpong      [-n COUNT]
 *                          the floor under a status round trip: the same exchange with a
 *                          child that answers at once, over a Unix socket pair
 *   svcbench free-port     prints a loopback port that was free a moment ago
 *   svcbench drain         --socket PATH --pid PID --port PORT --path PATH [--clients N]
 *                          [--before-ms MS] [--interval-ms MS] [--rate-kib MIN:MAX]
 *                          [--out FILE]
 *                          slow downloads (each client at its own rate, from MIN to MAX
 *                          KiB/s), SIGTERM after MS, and a status sample every interval
 *
 * SERVER options say how a started server announces itself: by default it logs
 * "listening on http://ADDR:PORT" on stderr (serviced, testapp, bench/bare); with
 * --ready-port PORT the port is polled until it accepts (nginx).
 *
 * Times are CLOCK_MONOTONIC, taken in this process: "exit" is when the server's pidfd
 * becomes readable (or waitpid returns), "closed" when the connection reports the peer's
 * FIN (EPOLLRDHUP). SVCBENCH_PRE_KILL, a shell command run just before each measured
 * SIGTERM with SVCBENCH_PID set, is for attaching a profiler; SVCBENCH_ECHO=1 copies the
 * server's log to stderr.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <dirent.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#define BENCH_READY_MS 10000 /* a server must announce itself within this */
#define BENCH_WAIT_MS 30000  /* any other wait is bounded by this */
#define BENCH_SETTLE_MS 20   /* "idle": how long a server is left alone before a measurement */

/* ---- small helpers ------------------------------------------------------------------ */

static double bench_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void bench_sleep_ms(double ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)((ms - (double)(long)(ms / 1000) * 1000) * 1e6) };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void bench_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void bench_die(const char *fmt, ...)
{
	va_list ap;

	fputs("svcbench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The q-quantile (0..1) of n samples, nearest rank; sorts v. */
static double bench_quantile(double *v, size_t n, double q)
{
	size_t i;

	if (n == 0)
		return 0;
	qsort(v, n, sizeof *v, bench_cmp_double);
	if (q <= 0)
		return v[0];
	i = (size_t)(q * (double)n + 0.999999);
	return v[(i ? i : 1) - 1];
}

static void bench_print_stats(const char *prefix, double *v, size_t n, double scale)
{
	if (n == 0) {
		printf("%s_n 0\n", prefix);
		return;
	}
	printf("%s_n %zu\n", prefix, n);
	printf("%s_median %.3f\n", prefix, bench_quantile(v, n, 0.5) * scale);
	printf("%s_p90 %.3f\n", prefix, bench_quantile(v, n, 0.9) * scale);
	printf("%s_p99 %.3f\n", prefix, bench_quantile(v, n, 0.99) * scale);
	printf("%s_min %.3f\n", prefix, v[0] * scale);
	printf("%s_max %.3f\n", prefix, v[n - 1] * scale);
}

/* Raises the open-file limit as far as the hard limit allows; children inherit it. */
static rlim_t bench_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 1024;
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	getrlimit(RLIMIT_NOFILE, &rl);
	return rl.rlim_cur;
}

/* A /proc/PID/status field in kB ("VmRSS"), or -1. */
static long bench_status_kib(pid_t pid, const char *field)
{
	char path[64], line[256];
	size_t fl = strlen(field);
	long v = -1;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (strncmp(line, field, fl) == 0 && line[fl] == ':') {
			v = strtol(line + fl + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

/* CPU time a process has used so far, in µs: the sum over its threads of the scheduler's
 * own account (nanoseconds, unlike the clock ticks of /proc/PID/stat). */
static double bench_cpu_us(pid_t pid)
{
	char path[64];
	double sum = 0;
	struct dirent *e;
	DIR *d;

	snprintf(path, sizeof path, "/proc/%ld/task", (long)pid);
	d = opendir(path);
	if (!d)
		return 0;
	while ((e = readdir(d)) != NULL) {
		char p2[400];
		unsigned long long ns;
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(p2, sizeof p2, "%s/%s/schedstat", path, e->d_name);
		f = fopen(p2, "r");
		if (f && fscanf(f, "%llu", &ns) == 1)
			sum += (double)ns / 1000.0;
		if (f)
			fclose(f);
	}
	closedir(d);
	return sum;
}

/* A profiling aid: SVCBENCH_PRE_KILL is run by the shell, with SVCBENCH_PID set, just
 * before a measured SIGTERM (to attach perf, say). */
static void bench_pre_kill_hook(pid_t pid)
{
	const char *cmd = getenv("SVCBENCH_PRE_KILL");
	char v[32];

	if (!cmd || !*cmd)
		return;
	snprintf(v, sizeof v, "%ld", (long)pid);
	setenv("SVCBENCH_PID", v, 1);
	if (system(cmd) != 0)
		fprintf(stderr, "svcbench: SVCBENCH_PRE_KILL failed\n");
}

static int bench_pidfd_open(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

static int bench_connect_tcp(unsigned port, bool nonblock, int rcvbuf)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);

	if (fd < 0)
		return -errno;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (rcvbuf > 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS) {
		int e = -errno;

		close(fd);
		return e;
	}
	return fd;
}

static int bench_write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				struct pollfd pf = { .fd = fd, .events = POLLOUT };

				poll(&pf, 1, 1000);
				continue;
			}
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* ---- an HTTP response, read incrementally ------------------------------------------- */

struct bench_resp {
	char head[8192];
	size_t hlen;     /* header bytes held */
	long body_left;  /* -1 until the header is complete */
	unsigned status;
};

static void bench_resp_init(struct bench_resp *r)
{
	r->hlen = 0;
	r->body_left = -1;
	r->status = 0;
}

/* Consumes n bytes of a Content-Length response. Returns 1 when complete, 0 for more,
 * -1 when it cannot be parsed (no Content-Length, junk, or bytes past the end). */
static int bench_resp_feed(struct bench_resp *r, const char *p, size_t n)
{
	if (r->body_left < 0) {
		size_t take = n < sizeof r->head - 1 - r->hlen ? n : sizeof r->head - 1 - r->hlen;
		char *end, *cl;

		memcpy(r->head + r->hlen, p, take);
		r->hlen += take;
		r->head[r->hlen] = '\0';
		end = strstr(r->head, "\r\n\r\n");
		if (!end)
			return r->hlen >= sizeof r->head - 1 ? -1 : 0;
		*end = '\0';
		if (sscanf(r->head, "HTTP/1.%*d %u", &r->status) != 1)
			return -1;
		cl = strcasestr(r->head, "\r\ncontent-length:");
		if (!cl)
			return -1;
		r->body_left = strtol(cl + 17, NULL, 10);
		/* The body bytes that came with the header. */
		{
			size_t used = (size_t)(end + 4 - r->head) - (r->hlen - take);

			n -= used;
		}
	}
	r->body_left -= (long)n;
	if (r->body_left < 0)
		return -1;
	return r->body_left == 0;
}

/* ---- a server under test ---------------------------------------------------------- */

struct bench_server {
	pid_t pid;
	int pidfd;
	int err;       /* its stderr, non-blocking */
	unsigned port; /* where it serves */
	char line[4096];
	size_t llen;
	bool exited;
	int status;
	double cpu_us; /* CPU time of its whole life, once reaped */
};

struct bench_server_opts {
	unsigned ready_port; /* 0: read "listening on http://ADDR:PORT" from stderr */
	char **argv;
};

/* Reads whatever the server logged; returns true when a line containing want (if not
 * NULL) was among it. Lines are matched whole; a partial line is kept. */
static bool bench_server_read_log(struct bench_server *s, const char *want, char *match,
				  size_t msize)
{
	bool found = false;

	for (;;) {
		ssize_t n = read(s->err, s->line + s->llen, sizeof s->line - 1 - s->llen);
		char *nl;

		if (n <= 0)
			break;
		s->llen += (size_t)n;
		s->line[s->llen] = '\0';
		while ((nl = memchr(s->line, '\n', s->llen)) != NULL) {
			*nl = '\0';
			if (getenv("SVCBENCH_ECHO"))
				fprintf(stderr, "  server: %s\n", s->line);
			if (want && !found && strstr(s->line, want)) {
				found = true;
				if (match)
					snprintf(match, msize, "%s", s->line);
			}
			s->llen -= (size_t)(nl + 1 - s->line);
			memmove(s->line, nl + 1, s->llen);
		}
		if (s->llen >= sizeof s->line - 1) /* an overlong line: drop it */
			s->llen = 0;
	}
	return found;
}

/* Waits until the server logs a line containing want; false after timeout_ms or if it
 * exits first. */
static bool bench_server_wait_log(struct bench_server *s, const char *want, char *match,
				  size_t msize, int timeout_ms)
{
	double until = bench_now_us() + timeout_ms * 1000.0;

	for (;;) {
		struct pollfd pf = { .fd = s->err, .events = POLLIN };
		double left = (until - bench_now_us()) / 1000.0;

		if (bench_server_read_log(s, want, match, msize))
			return true;
		if (left <= 0)
			return false;
		if (poll(&pf, 1, (int)left + 1) > 0 && (pf.revents & (POLLHUP | POLLERR)) &&
		    !(pf.revents & POLLIN))
			return false;
	}
}

static bool bench_port_accepts(unsigned port)
{
	int fd = bench_connect_tcp(port, false, 0);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

static void bench_server_start(struct bench_server *s, const struct bench_server_opts *o)
{
	int pfd[2];
	char match[4096];

	memset(s, 0, sizeof *s);
	if (pipe2(pfd, O_CLOEXEC) < 0)
		bench_die("pipe: %s", strerror(errno));
	s->pid = fork();
	if (s->pid < 0)
		bench_die("fork: %s", strerror(errno));
	if (s->pid == 0) {
		int null = open("/dev/null", O_RDWR);
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		dup2(null, 0);
		dup2(null, 1);
		dup2(pfd[1], 2);
		execvp(o->argv[0], o->argv);
		fprintf(stderr, "svcbench: exec %s: %s\n", o->argv[0], strerror(errno));
		_exit(127);
	}
	close(pfd[1]);
	s->err = pfd[0];
	fcntl(s->err, F_SETFL, O_NONBLOCK);
	s->pidfd = bench_pidfd_open(s->pid);
	if (s->pidfd < 0)
		bench_die("pidfd_open: %s", strerror(errno));
	if (o->ready_port) {
		double until = bench_now_us() + BENCH_READY_MS * 1000.0;

		s->port = o->ready_port;
		while (!bench_port_accepts(s->port)) {
			if (bench_now_us() > until || waitpid(s->pid, NULL, WNOHANG) == s->pid)
				bench_die("%s did not accept on port %u", o->argv[0], s->port);
			bench_server_read_log(s, NULL, NULL, 0);
			bench_sleep_ms(2);
		}
		return;
	}
	if (!bench_server_wait_log(s, "listening on http://", match, sizeof match,
				   BENCH_READY_MS)) {
		kill(s->pid, SIGKILL);
		waitpid(s->pid, NULL, 0);
		bench_die("%s did not announce its port", o->argv[0]);
	}
	{
		char *p = strstr(match, "listening on http://") + strlen("listening on http://");
		char *colon = strchr(p, ']');

		colon = strchr(colon ? colon : p, ':');
		if (!colon || sscanf(colon + 1, "%u", &s->port) != 1)
			bench_die("cannot read the port from: %s", match);
	}
}

/* Reaps the server (it must have exited or be about to). */
static void bench_server_reap(struct bench_server *s)
{
	struct rusage ru;
	int st;

	if (wait4(s->pid, &st, 0, &ru) == s->pid) {
		s->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		s->cpu_us = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
			    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
	}
	bench_server_read_log(s, NULL, NULL, 0);
	close(s->pidfd);
	close(s->err);
	s->exited = true;
}

/* Ends a server that must not linger: SIGKILL and reap. */
static void bench_server_kill(struct bench_server *s)
{
	if (s->exited)
		return;
	kill(s->pid, SIGKILL);
	bench_server_reap(s);
}

/* Parses the common options; returns the index of the command after "--". */
static int bench_parse_server(int argc, char **argv, int i, struct bench_server_opts *o,
			      bool (*own)(int argc, char **argv, int *i, void *cls), void *cls)
{
	for (; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			if (i + 1 >= argc)
				break;
			o->argv = argv + i + 1;
			return i + 1;
		}
		if (strcmp(argv[i], "--ready-port") == 0 && i + 1 < argc)
			o->ready_port = (unsigned)atoi(argv[++i]);
		else if (!own(argc, argv, &i, cls))
			bench_die("unknown option %s", argv[i]);
	}
	bench_die("no server command given (after --)");
}

/* ---- stop-idle ------------------------------------------------------------------- */

struct bench_reps {
	int reps;
	int conns;
	const char *path, *begin;
	double slow_ms;
};

static bool bench_own_opts(int argc, char **argv, int *i, void *cls)
{
	struct bench_reps *r = cls;

	if (*i + 1 >= argc)
		return false;
	if (strcmp(argv[*i], "-n") == 0)
		r->reps = atoi(argv[++*i]);
	else if (strcmp(argv[*i], "-c") == 0)
		r->conns = atoi(argv[++*i]);
	else if (strcmp(argv[*i], "--path") == 0)
		r->path = argv[++*i];
	else if (strcmp(argv[*i], "--begin") == 0)
		r->begin = argv[++*i];
	else if (strcmp(argv[*i], "--slow") == 0)
		r->slow_ms = atof(argv[++*i]);
	else
		return false;
	return true;
}

static int bench_stop_idle(int argc, char **argv)
{
	struct bench_reps r = { .reps = 20 };
	struct bench_server_opts o = { 0 };
	double *lat, *rss;
	int bad = 0;

	bench_parse_server(argc, argv, 2, &o, bench_own_opts, &r);
	lat = calloc((size_t)r.reps, sizeof *lat);
	rss = calloc((size_t)r.reps, sizeof *rss);
	for (int i = 0; i < r.reps; i++) {
		struct bench_server s;
		double t0, t1;

		bench_server_start(&s, &o);
		bench_sleep_ms(BENCH_SETTLE_MS);
		bench_server_read_log(&s, NULL, NULL, 0);
		rss[i] = (double)bench_status_kib(s.pid, "VmRSS");
		bench_pre_kill_hook(s.pid);
		t0 = bench_now_us();
		kill(s.pid, SIGTERM);
		bench_server_reap(&s);
		t1 = bench_now_us();
		lat[i] = t1 - t0;
		if (s.status != 0)
			bad++;
	}
	bench_print_stats("exit_us", lat, (size_t)r.reps, 1);
	bench_print_stats("rss_kib", rss, (size_t)r.reps, 1);
	printf("unclean_exits %d\n", bad);
	return 0;
}

/* ---- stop-inflight ---------------------------------------------------------------- */

/* One repetition. Returns the time from the response's last byte at the client to the
 * server's exit (µs; negative if it exited first), or NAN with *why set. */
static double bench_inflight_once(const struct bench_server_opts *o, const struct bench_reps *r,
				  double *kill_to_exit, const char **why)
{
	struct bench_server s;
	struct bench_resp resp;
	char req[1024], rest[] = "Host: bench\r\nUser-Agent: svcbench\r\n\r\n";
	double t_send, t_kill, t_resp = 0, t_exit = 0, until;
	int fd, ep;
	struct epoll_event ev;
	bool rest_sent = r->slow_ms <= 0;

	*why = NULL;
	bench_server_start(&s, o);
	fd = bench_connect_tcp(s.port, false, 0);
	if (fd < 0)
		bench_die("connect: %s", strerror(-fd));
	bench_resp_init(&resp);
	t_send = bench_now_us();
	if (r->slow_ms > 0) {
		/* A slow client: the request line now (the request is in flight from here),
		 * the rest of the header after slow_ms. */
		snprintf(req, sizeof req, "GET %s HTTP/1.1\r\n", r->path);
		bench_write_all(fd, req, strlen(req));
		/* The server reads the line within microseconds; the shutdown log confirms
		 * the request was counted ("1 requests in flight"). */
		bench_sleep_ms(5);
	} else {
		snprintf(req, sizeof req, "GET %s HTTP/1.1\r\n%s", r->path, rest);
		bench_write_all(fd, req, strlen(req));
		if (!bench_server_wait_log(&s, r->begin, NULL, 0, BENCH_WAIT_MS)) {
			bench_server_kill(&s);
			bench_die("the server never logged \"%s\"", r->begin);
		}
	}
	bench_pre_kill_hook(s.pid);
	t_kill = bench_now_us();
	kill(s.pid, SIGTERM);

	ep = epoll_create1(EPOLL_CLOEXEC);
	ev.events = EPOLLIN;
	ev.data.u32 = 0;
	epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
	ev.data.u32 = 1;
	epoll_ctl(ep, EPOLL_CTL_ADD, s.pidfd, &ev);
	ev.data.u32 = 2;
	epoll_ctl(ep, EPOLL_CTL_ADD, s.err, &ev);
	until = bench_now_us() + BENCH_WAIT_MS * 1000.0;
	while ((t_resp == 0 || t_exit == 0) && !*why) {
		struct epoll_event evs[4];
		double now = bench_now_us();
		int timeout = (int)((until - now) / 1000) + 1, n;

		if (!rest_sent) {
			double at = t_send + r->slow_ms * 1000.0;

			if (now >= at) {
				bench_write_all(fd, rest, strlen(rest));
				rest_sent = true;
				continue;
			}
			timeout = (int)((at - now) / 1000) + 1;
		} else if (now > until) {
			*why = "timed out";
			break;
		}
		n = epoll_wait(ep, evs, 4, timeout);
		for (int i = 0; i < n; i++) {
			double t = bench_now_us();

			if (evs[i].data.u32 == 0) {
				char buf[16384];
				ssize_t got = read(fd, buf, sizeof buf);
				int done;

				if (got <= 0) {
					epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
					if (t_resp == 0)
						*why = "connection closed before the response";
					continue;
				}
				done = bench_resp_feed(&resp, buf, (size_t)got);
				if (done < 0)
					*why = "unparsable response";
				else if (done == 1) {
					t_resp = t;
					if (resp.status != 200)
						*why = "response status was not 200";
				}
			} else if (evs[i].data.u32 == 1) {
				t_exit = t;
				epoll_ctl(ep, EPOLL_CTL_DEL, s.pidfd, NULL);
			} else {
				if (!bench_server_read_log(&s, NULL, NULL, 0))
					(void)0;
				/* EOF on the log pipe: stop watching it. */
				{
					struct pollfd pf = { .fd = s.err, .events = POLLIN };

					if (poll(&pf, 1, 0) > 0 && (pf.revents & POLLHUP) &&
					    !(pf.revents & POLLIN))
						epoll_ctl(ep, EPOLL_CTL_DEL, s.err, NULL);
				}
			}
		}
	}
	close(ep);
	close(fd);
	if (*why) {
		bench_server_kill(&s);
		return NAN;
	}
	bench_server_reap(&s);
	*kill_to_exit = t_exit - t_kill;
	return t_exit - t_resp;
}

static int bench_stop_inflight(int argc, char **argv)
{
	struct bench_reps r = { .reps = 10, .path = "/" };
	struct bench_server_opts o = { 0 };
	double *lat, *k2e;
	size_t n = 0;
	int failed = 0;

	bench_parse_server(argc, argv, 2, &o, bench_own_opts, &r);
	if (!r.begin && r.slow_ms <= 0)
		bench_die("stop-inflight needs --begin TEXT or --slow MS");
	lat = calloc((size_t)r.reps, sizeof *lat);
	k2e = calloc((size_t)r.reps, sizeof *k2e);
	for (int i = 0; i < r.reps; i++) {
		const char *why;
		double k, v = bench_inflight_once(&o, &r, &k, &why);

		if (why) {
			fprintf(stderr, "svcbench: stop-inflight: repetition %d: %s\n", i + 1, why);
			failed++;
			continue;
		}
		lat[n] = v;
		k2e[n++] = k;
	}
	bench_print_stats("resp_to_exit_us", lat, n, 1);
	bench_print_stats("kill_to_exit_us", k2e, n, 1);
	printf("failed %d\n", failed);
	return n > 0 ? 0 : 1;
}

/* ---- stop-conns ----------------------------------------------------------------- */

enum bench_cstate { BC_CONNECTING, BC_READING, BC_IDLE, BC_CLOSED };

struct bench_conn {
	int fd;
	enum bench_cstate st;
	struct bench_resp resp;
};

/* Opens n connections that have each done one keep-alive request. Returns false on
 * failure (with why). */
static bool bench_open_idle(struct bench_conn *c, int n, unsigned port, const char *path,
			    int ep, const char **why)
{
	char req[1024];
	int opened = 0, pending = 0, idle = 0;
	double until = bench_now_us() + BENCH_WAIT_MS * 1000.0;
	struct epoll_event evs[256];

	snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: bench\r\n\r\n", path);
	while (idle < n) {
		/* Keep a bounded number connecting: the listen backlog is 1024. */
		while (opened < n && pending < 256) {
			struct epoll_event ev = { .events = EPOLLOUT, .data.u32 = (uint32_t)opened };
			int fd = bench_connect_tcp(port, true, 0);

			if (fd < 0) {
				*why = strerror(-fd);
				return false;
			}
			c[opened].fd = fd;
			c[opened].st = BC_CONNECTING;
			bench_resp_init(&c[opened].resp);
			epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
			opened++;
			pending++;
		}
		if (bench_now_us() > until) {
			*why = "timed out opening connections";
			return false;
		}
		int k = epoll_wait(ep, evs, 256, 1000);

		for (int i = 0; i < k; i++) {
			struct bench_conn *cc = &c[evs[i].data.u32];

			if (cc->st == BC_CONNECTING) {
				int err = 0;
				socklen_t len = sizeof err;
				struct epoll_event ev = { .events = EPOLLIN,
							  .data.u32 = evs[i].data.u32 };

				getsockopt(cc->fd, SOL_SOCKET, SO_ERROR, &err, &len);
				if (err) {
					*why = strerror(err);
					return false;
				}
				if (bench_write_all(cc->fd, req, strlen(req)) < 0) {
					*why = "write failed";
					return false;
				}
				cc->st = BC_READING;
				epoll_ctl(ep, EPOLL_CTL_MOD, cc->fd, &ev);
			} else if (cc->st == BC_READING) {
				char buf[4096];
				ssize_t got = read(cc->fd, buf, sizeof buf);
				int done;

				if (got < 0 && errno == EAGAIN)
					continue;
				if (got <= 0) {
					*why = "connection closed before its response";
					return false;
				}
				done = bench_resp_feed(&cc->resp, buf, (size_t)got);
				if (done < 0) {
					*why = "unparsable response";
					return false;
				}
				if (done == 1) {
					cc->st = BC_IDLE;
					idle++;
					pending--;
				}
			}
		}
	}
	return true;
}

/* Arms every idle connection for its close and waits until all have seen EOF and (if
 * exit_fd >= 0) exit_fd is readable. Watching EPOLLRDHUP with EPOLLONESHOT costs no read()
 * per connection, so the client adds as little as it can to what is measured. Returns how
 * many closed; *t_last is when the last one did, *t_exit when exit_fd fired. */
static int bench_wait_eofs(struct bench_conn *c, int n, int ep, int exit_fd, double *t_last,
			   double *t_exit, int *stray)
{
	struct epoll_event ev;
	double until;
	int closed = 0;

	for (int i = 0; i < n; i++) {
		ev.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT;
		ev.data.u32 = (uint32_t)i;
		epoll_ctl(ep, EPOLL_CTL_MOD, c[i].fd, &ev);
	}
	if (exit_fd >= 0) {
		ev.events = EPOLLIN;
		ev.data.u32 = (uint32_t)n;
		epoll_ctl(ep, EPOLL_CTL_ADD, exit_fd, &ev);
	}
	*t_exit = exit_fd >= 0 ? 0 : -1;
	until = bench_now_us() + BENCH_WAIT_MS * 1000.0;
	while ((closed < n || *t_exit == 0) && bench_now_us() < until) {
		struct epoll_event evs[1024];
		int k = epoll_wait(ep, evs, 1024, 1000);
		double t = bench_now_us();

		for (int i = 0; i < k; i++) {
			uint32_t id = evs[i].data.u32;

			if (id == (uint32_t)n) {
				*t_exit = t;
				epoll_ctl(ep, EPOLL_CTL_DEL, exit_fd, NULL);
			} else if (evs[i].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
				c[id].st = BC_CLOSED;
				closed++;
				*t_last = t;
			} else {
				/* Bytes on an idle connection: not a close. Drain, re-arm. */
				char buf[512];

				while (read(c[id].fd, buf, sizeof buf) > 0)
					;
				(*stray)++;
				ev.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT;
				ev.data.u32 = id;
				epoll_ctl(ep, EPOLL_CTL_MOD, c[id].fd, &ev);
			}
		}
	}
	return closed;
}

static void bench_close_conns(struct bench_conn *c, int n)
{
	for (int i = 0; i < n; i++)
		if (c[i].fd >= 0) {
			close(c[i].fd);
			c[i].fd = -1;
		}
}

static int bench_stop_conns(int argc, char **argv)
{
	struct bench_reps r = { .reps = 3, .conns = 10000, .path = "/" };
	struct bench_server_opts o = { 0 };
	double *close_ms, *exit_ms, *cpu_ms, *rss, *rss0;
	rlim_t lim = bench_raise_nofile();
	struct bench_conn *c;
	size_t n = 0;
	int failed = 0;

	bench_parse_server(argc, argv, 2, &o, bench_own_opts, &r);
	if ((rlim_t)r.conns + 64 > lim)
		bench_die("%d connections need a higher open-file limit (have %llu)", r.conns,
			  (unsigned long long)lim);
	c = calloc((size_t)r.conns, sizeof *c);
	close_ms = calloc((size_t)r.reps, sizeof(double));
	exit_ms = calloc((size_t)r.reps, sizeof(double));
	rss = calloc((size_t)r.reps, sizeof(double));
	rss0 = calloc((size_t)r.reps, sizeof(double));
	cpu_ms = calloc((size_t)r.reps, sizeof(double));
	for (int rep = 0; rep < r.reps; rep++) {
		struct bench_server s;
		const char *why = NULL;
		int ep = epoll_create1(EPOLL_CLOEXEC), closed, stray = 0;
		double t0, t_last = 0, t_exit = 0, cpu0;

		bench_server_start(&s, &o);
		bench_sleep_ms(BENCH_SETTLE_MS);
		rss0[n] = (double)bench_status_kib(s.pid, "VmRSS");
		if (!bench_open_idle(c, r.conns, s.port, r.path, ep, &why)) {
			fprintf(stderr, "svcbench: stop-conns: %s\n", why);
			bench_server_kill(&s);
			for (int i = 0; i < r.conns; i++)
				if (c[i].fd > 0)
					close(c[i].fd);
			close(ep);
			failed++;
			continue;
		}
		bench_sleep_ms(BENCH_SETTLE_MS);
		bench_server_read_log(&s, NULL, NULL, 0);
		rss[n] = (double)bench_status_kib(s.pid, "VmRSS");
		cpu0 = bench_cpu_us(s.pid);
		bench_pre_kill_hook(s.pid);
		t0 = bench_now_us();
		kill(s.pid, SIGTERM);
		closed = bench_wait_eofs(c, r.conns, ep, s.pidfd, &t_last, &t_exit, &stray);
		close(ep);
		if (closed < r.conns || t_exit == 0) {
			fprintf(stderr, "svcbench: stop-conns: %d of %d closed, %s\n", closed,
				r.conns, t_exit ? "server exited" : "server still running");
			bench_close_conns(c, r.conns);
			bench_server_kill(&s);
			failed++;
			continue;
		}
		bench_close_conns(c, r.conns);
		bench_server_reap(&s);
		if (stray)
			fprintf(stderr, "svcbench: stop-conns: %d idle connections got data\n", stray);
		close_ms[n] = (t_last - t0) / 1000.0;
		exit_ms[n] = (t_exit - t0) / 1000.0;
		cpu_ms[n] = (s.cpu_us - cpu0) / 1000.0;
		n++;
	}
	printf("conns %d\n", r.conns);
	bench_print_stats("closed_ms", close_ms, n, 1);
	bench_print_stats("exit_ms", exit_ms, n, 1);
	bench_print_stats("cpu_ms", cpu_ms, n, 1);
	bench_print_stats("rss_kib", rss, n, 1);
	bench_print_stats("rss_idle_kib", rss0, n, 1);
	printf("failed %d\n", failed);
	return n > 0 ? 0 : 1;
}

/* ---- close-floor: what closing idle connections costs the kernel ------------------- */

struct bench_floor_part {
	int *fds;
	int n, step, first;
};

static void *bench_floor_shut(void *arg)
{
	struct bench_floor_part *p = arg;

	for (int i = p->first; i < p->n; i += p->step)
		shutdown(p->fds[i], SHUT_RDWR);
	return NULL;
}

/* The reference for stop-conns: a child process accepts CONNS plain TCP connections and,
 * on cue, calls shutdown(SHUT_RDWR) on each from THREADS threads, doing nothing else;
 * this process waits for every EOF exactly as stop-conns does. */
static int bench_close_floor(int argc, char **argv)
{
	int conns = 10000, threads = 1, reps = 3;
	rlim_t lim = bench_raise_nofile();
	struct bench_conn *c;
	double *v;
	size_t nv = 0;

	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			conns = atoi(argv[++i]);
		else if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
			reps = atoi(argv[++i]);
		else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
			threads = atoi(argv[++i]);
		else
			bench_die("unknown option %s", argv[i]);
	}
	if ((rlim_t)conns + 64 > lim)
		bench_die("%d connections need a higher open-file limit (have %llu)", conns,
			  (unsigned long long)lim);
	c = calloc((size_t)conns, sizeof *c);
	v = calloc((size_t)reps, sizeof *v);
	for (int rep = 0; rep < reps; rep++) {
		struct sockaddr_in sa = { .sin_family = AF_INET };
		socklen_t len = sizeof sa;
		int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), go[2], ready[2];
		int ep = epoll_create1(EPOLL_CLOEXEC), stray = 0, closed;
		double t0, t_last = 0, t_exit;
		char ch;
		pid_t pid;

		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (bind(ls, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(ls, 4096) < 0 ||
		    getsockname(ls, (struct sockaddr *)&sa, &len) < 0 || pipe(go) < 0 ||
		    pipe(ready) < 0)
			bench_die("close-floor: %s", strerror(errno));
		pid = fork();
		if (pid == 0) {
			int *fds = malloc((size_t)conns * sizeof *fds);
			struct bench_floor_part part[16];
			pthread_t tid[16];
			int t = threads < 1 ? 1 : threads > 16 ? 16 : threads;

			close(go[1]);
			close(ready[0]);
			for (int i = 0; i < conns; i++)
				fds[i] = accept(ls, NULL, NULL);
			if (write(ready[1], "r", 1) != 1 || read(go[0], &ch, 1) != 1)
				_exit(1);
			for (int i = 0; i < t; i++) {
				part[i] = (struct bench_floor_part){ fds, conns, t, i };
				if (i > 0)
					pthread_create(&tid[i], NULL, bench_floor_shut, &part[i]);
			}
			bench_floor_shut(&part[0]);
			for (int i = 1; i < t; i++)
				pthread_join(tid[i], NULL);
			/* Stay until the client has seen everything: exit would close too. */
			if (read(go[0], &ch, 1) < 0)
				_exit(1);
			_exit(0);
		}
		close(ls);
		close(go[0]);
		close(ready[1]);
		for (int i = 0; i < conns; i++) {
			struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i };

			c[i].fd = bench_connect_tcp(ntohs(sa.sin_port), false, 0);
			if (c[i].fd < 0)
				bench_die("close-floor: connect: %s", strerror(-c[i].fd));
			c[i].st = BC_IDLE;
			epoll_ctl(ep, EPOLL_CTL_ADD, c[i].fd, &ev);
		}
		if (read(ready[0], &ch, 1) != 1)
			bench_die("close-floor: the child failed");
		bench_sleep_ms(BENCH_SETTLE_MS);
		t0 = bench_now_us();
		if (write(go[1], "g", 1) != 1)
			bench_die("close-floor: the child failed");
		closed = bench_wait_eofs(c, conns, ep, -1, &t_last, &t_exit, &stray);
		close(go[1]);
		waitpid(pid, NULL, 0);
		close(ready[0]);
		close(ep);
		bench_close_conns(c, conns);
		if (closed == conns)
			v[nv++] = (t_last - t0) / 1000.0;
	}
	printf("conns %d\nthreads %d\n", conns, threads);
	bench_print_stats("closed_ms", v, nv, 1);
	free(c);
	free(v);
	return nv > 0 ? 0 : 1;
}

/* ---- the control socket -------------------------------------------------------------- */

struct bench_ctl {
	int fd;
	char buf[70000];
	size_t len;
};

static int bench_ctl_connect(struct bench_ctl *c, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	c->len = 0;
	if (strlen(path) >= sizeof sa.sun_path)
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -errno;
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		int e = -errno;

		close(c->fd);
		c->fd = -1;
		return e;
	}
	return 0;
}

/* Sends one status request and reads its one-line reply into c->buf (NUL-terminated).
 * Returns the line length, or -1 (EOF, error, or no reply within timeout_ms). */
static ssize_t bench_ctl_status(struct bench_ctl *c, int timeout_ms)
{
	static const char req[] = "{\"command\":\"status\"}\n";

	c->len = 0;
	if (bench_write_all(c->fd, req, sizeof req - 1) < 0)
		return -1;
	for (;;) {
		char *nl;
		ssize_t n;

		if (timeout_ms >= 0) {
			struct pollfd pf = { .fd = c->fd, .events = POLLIN };

			if (poll(&pf, 1, timeout_ms) <= 0)
				return -1;
		}
		n = read(c->fd, c->buf + c->len, sizeof c->buf - 1 - c->len);
		if (n <= 0)
			return -1;
		c->len += (size_t)n;
		nl = memchr(c->buf, '\n', c->len);
		if (nl) {
			*nl = '\0';
			return nl - c->buf;
		}
		if (c->len >= sizeof c->buf - 1)
			return -1;
	}
}

static int bench_status(int argc, char **argv)
{
	const char *path = NULL;
	long count = 0;
	double secs = 0, pace_us = 0, *v, t_end, t_begin, next;
	size_t n = 0, cap;
	struct bench_ctl c;
	int r;

	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--socket") == 0 && i + 1 < argc)
			path = argv[++i];
		else if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
			count = atol(argv[++i]);
		else if (strcmp(argv[i], "-d") == 0 && i + 1 < argc)
			secs = atof(argv[++i]);
		else if (strcmp(argv[i], "--pace-us") == 0 && i + 1 < argc)
			pace_us = atof(argv[++i]);
		else
			bench_die("unknown option %s", argv[i]);
	}
	if (!path)
		bench_die("status needs --socket PATH");
	if (count <= 0 && secs <= 0)
		count = 10000;
	r = bench_ctl_connect(&c, path);
	if (r < 0) {
		printf("unavailable %s\n", strerror(-r));
		return 3;
	}
	cap = count > 0 ? (size_t)count : 1u << 20;
	v = malloc(cap * sizeof *v);
	t_begin = bench_now_us();
	t_end = secs > 0 ? t_begin + secs * 1e6 : 0;
	next = t_begin;
	while (n < cap && (count > 0 ? (long)n < count : bench_now_us() < t_end)) {
		double t0, t1;
		ssize_t len;

		if (pace_us > 0) {
			double d = next - bench_now_us();

			if (d > 0)
				bench_sleep_ms(d / 1000.0);
			next += pace_us;
		}
		t0 = bench_now_us();
		len = bench_ctl_status(&c, 5000);

		t1 = bench_now_us();
		if (len < 0 || strncmp(c.buf, "{\"ok\":true", 10) != 0) {
			printf("unavailable %s\n", len < 0 ? "no reply" : c.buf);
			return 3;
		}
		v[n++] = t1 - t0;
	}
	printf("rate_per_s %.0f\n", (double)n / ((bench_now_us() - t_begin) / 1e6));
	bench_print_stats("rtt_us", v, n, 1);
	close(c.fd);
	return 0;
}

/* The floor under a status round trip: the same exchange (a short line out, a status-sized
 * line back) with a child process that answers at once, over a Unix socket pair. */
static int bench_pingpong(int argc, char **argv)
{
	static const char req[] = "{\"command\":\"status\"}\n";
	long count = 20000;
	int sv[2];
	double *v;
	pid_t pid;

	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
			count = atol(argv[++i]);
		else
			bench_die("unknown option %s", argv[i]);
	}
	if (count < 1 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		bench_die("pingpong: %s", count < 1 ? "-n must be positive" : strerror(errno));
	pid = fork();
	if (pid == 0) {
		char in[256], out[640];

		close(sv[0]);
		memset(out, 'x', sizeof out);
		out[sizeof out - 1] = '\n';
		while (read(sv[1], in, sizeof in) > 0)
			if (bench_write_all(sv[1], out, sizeof out) < 0)
				break;
		_exit(0);
	}
	close(sv[1]);
	v = malloc((size_t)count * sizeof *v);
	for (long i = 0; i < count; i++) {
		char buf[1024];
		size_t got = 0;
		double t0 = bench_now_us();

		if (bench_write_all(sv[0], req, sizeof req - 1) < 0)
			bench_die("pingpong: write: %s", strerror(errno));
		while (got == 0 || buf[got - 1] != '\n') {
			ssize_t n = read(sv[0], buf + got, sizeof buf - got);

			if (n <= 0)
				bench_die("pingpong: the child went away");
			got += (size_t)n;
		}
		v[i] = bench_now_us() - t0;
	}
	close(sv[0]);
	waitpid(pid, NULL, 0);
	bench_print_stats("rtt_us", v, (size_t)count, 1);
	return 0;
}

/* ---- drain: slow downloads through a shutdown, sampled ------------------------------ */

struct bench_slow {
	int fd;
	bool active;      /* a download is in progress */
	unsigned chunk;   /* bytes read per tick */
	struct bench_resp resp;
	bool got_head;
	long body_total;
};

static int bench_drain(int argc, char **argv)
{
	const char *sock = NULL, *path = NULL, *out = NULL;
	unsigned port = 0;
	pid_t pid = 0;
	int clients = 32, before_ms = 500, interval_ms = 10, tick_ms = 2;
	double rate_min = 2048, rate_max = 16384; /* KiB/s per client */
	double t_kill, t_gone = 0, until;
	struct bench_slow *cl;
	struct bench_ctl ctl;
	bool sampling = true, killed = false, refused = false;
	long completed = 0, cut = 0, samples = 0;
	double next_sample, next_tick;
	FILE *f;
	int pidfd, r;
	char req[1024];

	for (int i = 2; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!v)
			bench_die("option %s needs a value", a);
		if (strcmp(a, "--socket") == 0)
			sock = v;
		else if (strcmp(a, "--pid") == 0)
			pid = (pid_t)atol(v);
		else if (strcmp(a, "--port") == 0)
			port = (unsigned)atoi(v);
		else if (strcmp(a, "--path") == 0)
			path = v;
		else if (strcmp(a, "--clients") == 0)
			clients = atoi(v);
		else if (strcmp(a, "--before-ms") == 0)
			before_ms = atoi(v);
		else if (strcmp(a, "--interval-ms") == 0)
			interval_ms = atoi(v);
		else if (strcmp(a, "--out") == 0)
			out = v;
		else if (strcmp(a, "--rate-kib") == 0) {
			if (sscanf(v, "%lf:%lf", &rate_min, &rate_max) != 2 || rate_min <= 0 ||
			    rate_max < rate_min)
				bench_die("--rate-kib wants MIN:MAX (KiB/s per client)");
		}
		else
			bench_die("unknown option %s", a);
		i++;
	}
	if (!sock || !pid || !port || !path)
		bench_die("drain needs --socket, --pid, --port and --path");
	r = bench_ctl_connect(&ctl, sock);
	if (r < 0) {
		printf("unavailable %s\n", strerror(-r));
		return 3;
	}
	pidfd = bench_pidfd_open(pid);
	if (pidfd < 0)
		bench_die("pidfd_open %ld: %s", (long)pid, strerror(errno));
	f = out ? fopen(out, "w") : stdout;
	if (!f)
		bench_die("%s: %s", out, strerror(errno));
	fprintf(f, "# t_ms\tstate\trequests_in_flight\tconnections_open\tslow_downloads\n");

	snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: bench\r\n\r\n", path);
	srand(42);
	cl = calloc((size_t)clients, sizeof *cl);
	for (int i = 0; i < clients; i++) {
		/* Rates spread evenly over [min, max]: the downloads end at different times. */
		double kib = rate_min + (rate_max - rate_min) * (clients > 1 ? (double)i / (clients - 1) : 0);

		cl[i].fd = -1;
		cl[i].chunk = (unsigned)(kib * 1024 * tick_ms / 1000);
		if (cl[i].chunk == 0)
			cl[i].chunk = 1;
	}

	t_kill = bench_now_us() + before_ms * 1000.0;
	next_sample = next_tick = bench_now_us();
	until = t_kill + BENCH_WAIT_MS * 1000.0;
	for (;;) {
		double now = bench_now_us();
		int active = 0;

		if (!killed && now >= t_kill) {
			kill(pid, SIGTERM);
			t_kill = bench_now_us();
			killed = true;
		}
		if (now >= next_tick) {
			next_tick += tick_ms * 1000.0;
			for (int i = 0; i < clients; i++) {
				struct bench_slow *s = &cl[i];
				char buf[65536];
				ssize_t got;

				if (!s->active) {
					if (refused || killed)
						continue;
					/* A new download: before the shutdown only. A fixed receive
					 * buffer (autotuning off), so that what is not read yet waits
					 * in the server's send buffer and its request stays in flight. */
					s->fd = bench_connect_tcp(port, false, 65536);
					if (s->fd < 0) {
						refused = true;
						continue;
					}
					if (bench_write_all(s->fd, req, strlen(req)) < 0) {
						close(s->fd);
						continue;
					}
					fcntl(s->fd, F_SETFL, O_NONBLOCK);
					bench_resp_init(&s->resp);
					s->active = true;
				}
				/* This tick's share of the client's rate, as far as it has arrived. */
				{
					size_t want = s->chunk;
					int done = 0;

					got = 0;
					while (want > 0 && done == 0) {
						got = read(s->fd, buf, want < sizeof buf ? want : sizeof buf);
						if (got <= 0)
							break;
						want -= (size_t)got;
						done = bench_resp_feed(&s->resp, buf, (size_t)got);
					}
					if (done == 0 && (got > 0 || (got < 0 && errno == EAGAIN))) {
						active++;
						continue;
					}
					if (done == 1) {
						completed++;
						/* Keep-alive: another download on the same connection. */
						if (!killed && bench_write_all(s->fd, req, strlen(req)) == 0) {
							bench_resp_init(&s->resp);
							active++;
							continue;
						}
					} else if (done < 0) {
						cut++;
					}
					if (done == 0 && s->resp.body_left != 0)
						cut++; /* EOF or an error mid-response */
				}
				close(s->fd);
				s->fd = -1;
				s->active = false;
			}
		} else {
			for (int i = 0; i < clients; i++)
				active += cl[i].active;
		}
		if (sampling && now >= next_sample) {
			ssize_t len;
			json_t *o;

			next_sample += interval_ms * 1000.0;
			len = bench_ctl_status(&ctl, 1000);
			if (len < 0) {
				sampling = false; /* the server is gone */
			} else if ((o = json_loadb(ctl.buf, (size_t)len, 0, NULL)) != NULL) {
				fprintf(f, "%.2f\t%s\t%lld\t%lld\t%d\n", (bench_now_us() - t_kill) / 1000.0,
					json_string_value(json_object_get(o, "state")) ?: "?",
					(long long)json_integer_value(json_object_get(o, "requests_in_flight")),
					(long long)json_integer_value(json_object_get(o, "connections_open")),
					active);
				samples++;
				json_decref(o);
			}
		}
		if (killed && t_gone == 0) {
			struct pollfd pf = { .fd = pidfd, .events = POLLIN };

			if (poll(&pf, 1, 0) > 0)
				t_gone = bench_now_us();
		}
		if (killed && t_gone != 0 && active == 0)
			break;
		if (bench_now_us() > until) {
			fprintf(stderr, "svcbench: drain: timed out\n");
			break;
		}
		{
			double wake = next_tick < next_sample || !sampling ? next_tick : next_sample;
			double d = wake - bench_now_us();

			if (d > 0)
				bench_sleep_ms(d / 1000.0);
		}
	}
	if (t_gone != 0)
		fprintf(f, "%.2f\texited\t0\t0\t0\n", (t_gone - t_kill) / 1000.0);
	if (out)
		fclose(f);
	printf("samples %ld\n", samples);
	printf("downloads_completed %ld\n", completed);
	printf("downloads_cut %ld\n", cut);
	printf("exit_ms %.3f\n", t_gone ? (t_gone - t_kill) / 1000.0 : -1.0);
	close(pidfd);
	close(ctl.fd);
	free(cl);
	return 0;
}

/* Prints a port that was free a moment ago (for servers that cannot bind port 0 and say
 * which they got, like nginx). */
static int bench_free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof sa;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
		bench_die("free-port: %s", strerror(errno));
	printf("%u\n", ntohs(sa.sin_port));
	close(fd);
	return 0;
}

static void bench_usage(void)
{
	fputs("usage: svcbench stop-idle|stop-inflight|stop-conns [OPTIONS] -- CMD...\n"
	      "       svcbench pingpong [-n COUNT]\n"
	      "       svcbench free-port\n"
	      "       svcbench close-floor [-n REPS] [-c CONNS] [--threads N]\n"
	      "       svcbench status --socket PATH [-n COUNT | -d SECONDS]\n"
	      "       svcbench drain --socket PATH --pid PID --port PORT --path PATH [...]\n"
	      "(see the comment at the top of bench/svcbench.c)\n",
	      stderr);
	exit(2);
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2)
		bench_usage();
	if (strcmp(argv[1], "stop-idle") == 0)
		return bench_stop_idle(argc, argv);
	if (strcmp(argv[1], "stop-inflight") == 0)
		return bench_stop_inflight(argc, argv);
	if (strcmp(argv[1], "stop-conns") == 0)
		return bench_stop_conns(argc, argv);
	if (strcmp(argv[1], "free-port") == 0)
		return bench_free_port();
	if (strcmp(argv[1], "close-floor") == 0)
		return bench_close_floor(argc, argv);
	if (strcmp(argv[1], "status") == 0)
		return bench_status(argc, argv);
	if (strcmp(argv[1], "pingpong") == 0)
		return bench_pingpong(argc, argv);
	if (strcmp(argv[1], "drain") == 0)
		return bench_drain(argc, argv);
	bench_usage();
}
