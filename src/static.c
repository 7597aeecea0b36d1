/*
 * static: serves the files below one root directory, for GET and HEAD.
 *
 * Safety comes in two layers. First the request path is decoded and checked as text:
 * NUL bytes, backslashes, "." and ".." segments are refused before anything touches the
 * file system. Then the clean path is opened relative to a descriptor of the root, never
 * as an absolute path: with openat2(RESOLVE_BENEATH) where the kernel has it (symlinks
 * are followed only while they stay below the root), else one component at a time with
 * O_NOFOLLOW (every symlink is refused). Either way nothing outside the root is opened,
 * even if the text check had a hole.
 *
 * Status codes, and why:
 *   400  the path cannot be a file name: NUL (%00), backslash (\ or %5c), a "." or ".."
 *        segment however encoded (%2e%2e, ..%2f), a broken %-escape, no leading "/";
 *   403  the name exists but may not be served: a symlink leading outside the root (or any
 *        symlink without openat2), a directory without index.html (no listings), a fifo,
 *        device or socket, a permission error;
 *   404  no such file, a file asked for with a trailing slash, or a dotfile: names starting
 *        with "." (.git, .env, .htpasswd) are treated as absent, since a web root holds them
 *        by accident and nothing here needs them;
 *   405  a method other than GET and HEAD (with "Allow: GET, HEAD");
 *   414  a path longer than STATIC_PATH_MAX;
 *   301  a directory named without its trailing slash, as nginx does, so that relative
 *        links inside its index.html resolve;
 *   304  If-Modified-Since is not older than the file;
 *   500  anything else that kept a file from opening (out of descriptors, say).
 *
 * Small files are answered from a cache kept exact by inotify; see "The small-file cache"
 * below for how, and for what it cannot see.
 */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<linux/openat2.h>) && defined(SYS_openat2)
#include <linux/openat2.h>
#define STATIC_HAVE_OPENAT2 1
#endif
#endif

#include "static.h"

/* The longest request path accepted, before and after decoding. */
#define STATIC_PATH_MAX 4096
#define STATIC_INDEX "index.html"

/* The error answers, built once per root and shared by every thread: a response that is
 * never changed after creation may be queued on many connections at once. */
enum static_reply {
	STATIC_400,
	STATIC_403,
	STATIC_404,
	STATIC_405,
	STATIC_414,
	STATIC_500,
	STATIC_REPLY_COUNT_
};

static const struct {
	unsigned status;
	const char *body;
} static_replies[STATIC_REPLY_COUNT_] = {
	[STATIC_400] = { MHD_HTTP_BAD_REQUEST, "400 Bad Request\n" },
	[STATIC_403] = { MHD_HTTP_FORBIDDEN, "403 Forbidden\n" },
	[STATIC_404] = { MHD_HTTP_NOT_FOUND, "404 Not Found\n" },
	[STATIC_405] = { MHD_HTTP_METHOD_NOT_ALLOWED, "405 Method Not Allowed\n" },
	[STATIC_414] = { MHD_HTTP_URI_TOO_LONG, "414 URI Too Long\n" },
	[STATIC_500] = { MHD_HTTP_INTERNAL_SERVER_ERROR, "500 Internal Server Error\n" },
};

/*
 * The small-file cache. A regular file of at most STATIC_CACHE_FILE_MAX bytes, reached from
 * the root without any symlink, is answered from a response built once (its bytes,
 * Last-Modified, Content-Type) and shared by every request for it, until anything changes.
 *
 * Change is seen by inotify, not by looking at the file: before an entry is made, one
 * inotify instance gets a watch on the root, on every directory on the file's path and on
 * the file itself. Any event from any of them (a write, truncate, chmod, rename, create,
 * unlink, a directory moved or removed) or a queue overflow empties the whole cache. The
 * kernel queues an inotify event inside the changing system call, before it returns; every
 * request that could be answered from the cache first reads the instance (non-blocking)
 * under the cache lock. So a request that begins after a write(), rename(), unlink() or
 * chmod() has returned never gets the file as it was before: it finds the event, empties
 * the cache and takes the uncached path. The read and the emptying share the lock so that
 * no request can find the queue drained by another whose emptying has not happened yet.
 *
 * The instance outlives an emptying: closing one, or watching an inode whose last watch
 * was just dropped, waits for the kernel's mark reaper (milliseconds here), which must not
 * stall requests. Instead its watches stay, and only fills (under watch_lock, which
 * requests never take) add watches or replace the instance.
 *
 * What inotify does not report, the cache cannot see: changes made through a shared
 * writable mmap, by another host on a network file system (NFS, SMB), inside FUSE, or a
 * file system mounted over a directory below the root. For those, --file-cache-max 0 turns
 * the cache off.
 *
 * An entry is made on a miss, and must not race with a change (static_cache_fill): the
 * watches are added first and the cache's generation noted (every emptying bumps it); then
 * the path is walked again and must reach the same directories and file, the file is
 * reopened (so permissions are checked as now) and read, and it is inserted only if the
 * generation has not moved meanwhile. A change before the watches existed is in what the
 * second walk and the read see; a change after them is an event.
 *
 * Bounds: STATIC_CACHE_SLOTS entries (direct-mapped by a hash of the path, so a colliding
 * file replaces the one before), file bytes in all at most the configured budget (default
 * and maximum 256 x 64 KiB = 16 MiB), STATIC_CACHE_WATCH_MAX watch descriptors per
 * instance: past that the cache is emptied and the instance made anew, which drops the
 * watches of files no longer cached.
 */
#define STATIC_CACHE_SLOTS 256
#define STATIC_CACHE_FILE_MAX ((size_t)64 * 1024)
#define STATIC_CACHE_WATCH_MAX 1024
#define STATIC_CACHE_BYTES_MAX (STATIC_CACHE_SLOTS * STATIC_CACHE_FILE_MAX)
#define STATIC_CACHE_DEPTH 16 /* path components of a cached file, itself included */
#define STATIC_CACHE_DRAIN_READS 16 /* reads of the queue per drain; the rest wait */
#define STATIC_CACHE_EVENTS                                                              \
	(IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | \
	 IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF)

/* Tests hook in between the steps of filling an entry, to change files there. */
#ifndef STATIC_CACHE_HOOK
#define STATIC_CACHE_HOOK(step) ((void)0)
#endif

struct static_cached {
	char *path;                /* the clean path of the file; NULL when the slot is free */
	struct MHD_Response *resp; /* holds one reference; queued as it is */
	const char *bytes;         /* the body, owned by resp */
	size_t size;
	time_t mtime;              /* for If-Modified-Since */
};

struct static_cache {
	size_t budget;               /* file bytes allowed in all; 0 = no cache */
	pthread_mutex_t watch_lock;  /* taken by fills only, before lock */
	int watch_top;               /* the highest watch descriptor (under watch_lock) */
	int watch_low;               /* the lowest that may still be live (under watch_lock) */
	bool stopped;                /* no more fills: shutting down (under watch_lock) */
	pthread_mutex_t lock;        /* guards what follows */
	int inotify;                 /* -1 until the first fill; replaced under both locks */
	uint64_t generation;         /* bumped by every emptying */
	size_t bytes;                /* file bytes held */
	bool used;                   /* a lookup or fill since the last static_cache_idle() */
	unsigned entries;
	struct static_cached slot[STATIC_CACHE_SLOTS];
};

static void static_cache_flush(struct static_cache *k);

struct static_root {
	int fd;       /* the root directory, O_RDONLY|O_DIRECTORY */
	bool beneath; /* openat2(RESOLVE_BENEATH) works on this kernel */
	struct MHD_Response *reply[STATIC_REPLY_COUNT_];
	struct static_cache cache;
};

static const struct {
	const char *ext;
	const char *type;
} static_types[] = {
	{ "html", "text/html; charset=utf-8" },
	{ "htm", "text/html; charset=utf-8" },
	{ "css", "text/css; charset=utf-8" },
	{ "js", "text/javascript; charset=utf-8" },
	{ "mjs", "text/javascript; charset=utf-8" },
	{ "json", "application/json" },
	{ "map", "application/json" },
	{ "txt", "text/plain; charset=utf-8" },
	{ "md", "text/markdown; charset=utf-8" },
	{ "xml", "text/xml; charset=utf-8" },
	{ "svg", "image/svg+xml" },
	{ "png", "image/png" },
	{ "jpg", "image/jpeg" },
	{ "jpeg", "image/jpeg" },
	{ "gif", "image/gif" },
	{ "webp", "image/webp" },
	{ "ico", "image/x-icon" },
	{ "wasm", "application/wasm" },
	{ "pdf", "application/pdf" },
	{ "woff", "font/woff" },
	{ "woff2", "font/woff2" },
	{ "mp4", "video/mp4" },
	{ "webm", "video/webm" },
};

const char *static_mime_type(const char *name)
{
	const char *base = strrchr(name, '/');
	const char *dot;
	size_t i;

	base = base ? base + 1 : name;
	dot = strrchr(base, '.');
	/* ".bashrc" is a name, not an extension. */
	if (dot != NULL && dot != base) {
		for (i = 0; i < sizeof static_types / sizeof static_types[0]; i++)
			if (strcasecmp(dot + 1, static_types[i].ext) == 0)
				return static_types[i].type;
	}
	return "application/octet-stream";
}

static const char static_days[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
static const char static_months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

/* Writes t as an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"). The names come from our
 * own tables: strftime's %a and %b follow the locale, HTTP's do not. */
static void static_format_date(time_t t, char *buf, size_t size)
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL)
		gmtime_r(&(time_t){ 0 }, &tm);
	snprintf(buf, size, "%s, %02d %s %04d %02d:%02d:%02d GMT", static_days[tm.tm_wday % 7],
		 tm.tm_mday, static_months[tm.tm_mon % 12], (tm.tm_year + 1900) % 10000,
		 tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* Reads n digits at s; -1 if any is not a digit. */
static int static_digits(const char *s, int n)
{
	int v = 0;

	while (n-- > 0) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s++ - '0');
	}
	return v;
}

/* Parses an IMF-fixdate exactly (RFC 7231 7.1.1.1). The obsolete RFC 850 and asctime
 * forms are not accepted: the caller then ignores the header, which only costs a 200. */
static bool static_parse_date(const char *s, time_t *out)
{
	struct tm tm = { 0 }, check;
	int day = -1, mon = -1, i;
	time_t t;

	if (strlen(s) != 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' ||
	    s[16] != ' ' || s[19] != ':' || s[22] != ':' || strcmp(s + 25, " GMT") != 0)
		return false;
	for (i = 0; i < 7; i++)
		if (strncmp(s, static_days[i], 3) == 0)
			day = i;
	for (i = 0; i < 12; i++)
		if (strncmp(s + 8, static_months[i], 3) == 0)
			mon = i;
	tm.tm_mday = static_digits(s + 5, 2);
	tm.tm_year = static_digits(s + 12, 4) - 1900;
	tm.tm_hour = static_digits(s + 17, 2);
	tm.tm_min = static_digits(s + 20, 2);
	tm.tm_sec = static_digits(s + 23, 2);
	tm.tm_mon = mon;
	if (day < 0 || mon < 0 || tm.tm_mday < 1 || tm.tm_year < 0 || tm.tm_hour < 0 ||
	    tm.tm_hour > 23 || tm.tm_min < 0 || tm.tm_min > 59 || tm.tm_sec < 0 ||
	    tm.tm_sec > 60)
		return false;
	check = tm;
	t = timegm(&tm);
	/* timegm turns 31 Feb into 3 Mar (in place); a date that moves is bogus. */
	if (t == (time_t)-1 || tm.tm_mday != check.tm_mday || tm.tm_mon != check.tm_mon)
		return false;
	*out = t;
	return true;
}

static int static_hex(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Turns a request path into a clean path relative to the root: "/a//b/c.txt" -> "a/b/c.txt",
 * "/" -> "". *slash tells whether the request ended in "/". Returns 0 or the HTTP status
 * to refuse with.
 *
 * The path is percent-decoded here. libmicrohttpd 0.9.75 normally decodes the URL before
 * the handler sees it (its default MHD_OPTION_UNESCAPE_CALLBACK), so this may be a second
 * decoding. That cannot open a hole: every check below runs on the final bytes, and they
 * are what gets opened. It only means a file whose name holds "%XX" cannot be reached.
 * (A %00 that MHD decoded has already cut its string short; only a raw URL lets us see it.)
 */
static unsigned static_clean_path(const char *url, char *out, size_t size, bool *slash)
{
	char dec[STATIC_PATH_MAX + 1];
	size_t n = 0, o = 0;
	const char *p;
	char *seg, *next;

	if (url[0] != '/')
		return MHD_HTTP_BAD_REQUEST;
	if (strlen(url) > STATIC_PATH_MAX)
		return MHD_HTTP_URI_TOO_LONG;
	for (p = url; *p != '\0'; p++) {
		int c = (unsigned char)*p;

		if (c == '%') {
			int hi = static_hex(p[1]), lo = hi < 0 ? -1 : static_hex(p[2]);

			if (lo < 0)
				return MHD_HTTP_BAD_REQUEST;
			c = hi * 16 + lo;
			p += 2;
		}
		/* A NUL would cut the name short; a backslash is a separator to some servers
		 * and tools and never part of a name worth serving. */
		if (c == '\0' || c == '\\')
			return MHD_HTTP_BAD_REQUEST;
		dec[n++] = (char)c;
	}
	dec[n] = '\0';
	*slash = n > 0 && dec[n - 1] == '/';

	/* Rebuild from the segments: empty ones ("//") collapse, "." and ".." are refused
	 * rather than interpreted, and dotfiles are treated as absent. */
	for (seg = dec; seg != NULL; seg = next) {
		size_t len;

		next = strchr(seg, '/');
		if (next != NULL)
			*next++ = '\0';
		len = strlen(seg);
		if (len == 0)
			continue;
		if (strcmp(seg, ".") == 0 || strcmp(seg, "..") == 0)
			return MHD_HTTP_BAD_REQUEST;
		if (seg[0] == '.')
			return MHD_HTTP_NOT_FOUND;
		if (len > NAME_MAX)
			return MHD_HTTP_NOT_FOUND;
		if (o + len + 2 > size)
			return MHD_HTTP_URI_TOO_LONG;
		if (o > 0)
			out[o++] = '/';
		memcpy(out + o, seg, len);
		o += len;
	}
	out[o] = '\0';
	return 0;
}

/* Opens a clean relative path one component at a time, refusing every symlink: without
 * openat2 the kernel cannot tell us whether a link stays below the root, so none is
 * followed. Returns an fd or -errno (-ELOOP for a symlink). */
static int static_walk(int root, const char *path, int flags)
{
	char name[NAME_MAX + 1];
	int dir = root, fd, rc = 0;
	struct stat st;

	for (;;) {
		const char *sep = strchr(path, '/');
		size_t len = sep != NULL ? (size_t)(sep - path) : strlen(path);
		bool last = sep == NULL;

		if (len > NAME_MAX) {
			rc = -ENAMETOOLONG;
			break;
		}
		memcpy(name, path, len);
		name[len] = '\0';
		/* O_NOFOLLOW with O_PATH opens the link itself instead of failing, so every
		 * component is checked with fstat. */
		fd = openat(dir, name, (last ? flags : O_PATH) | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			rc = -errno;
			break;
		}
		if (fstat(fd, &st) < 0)
			rc = -errno;
		else if (S_ISLNK(st.st_mode))
			rc = -ELOOP;
		else if (!last && !S_ISDIR(st.st_mode))
			rc = -ENOTDIR;
		if (rc < 0) {
			close(fd);
			break;
		}
		if (dir != root)
			close(dir);
		if (last)
			return fd;
		dir = fd;
		path = sep + 1;
	}
	if (dir != root)
		close(dir);
	return rc;
}

#ifdef STATIC_HAVE_OPENAT2
static int static_openat2(int root, const char *path, int flags)
{
	/* RESOLVE_BENEATH refuses "..", absolute symlinks and any link leading out of the
	 * root; NO_MAGICLINKS keeps /proc-style links from being a way out. */
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
	};
	long fd = syscall(SYS_openat2, root, path, &how, sizeof how);

	return fd < 0 ? -errno : (int)fd;
}
#endif

/* Opens a clean relative path ("" is the root itself) below the root. Returns an fd or
 * -errno. */
static int static_resolve(const struct static_root *r, const char *path, int flags)
{
	if (path[0] == '\0')
		path = ".";
#ifdef STATIC_HAVE_OPENAT2
	if (r->beneath)
		return static_openat2(r->fd, path, flags);
#endif
	return static_walk(r->fd, path, flags);
}

/* Does openat2(RESOLVE_BENEATH) work here? Old kernels say ENOSYS; some seccomp filters
 * (older container runtimes) say EPERM. Anything but success means: walk instead. */
static bool static_probe_openat2(int root)
{
#ifdef STATIC_HAVE_OPENAT2
	int fd = static_openat2(root, ".", O_PATH | O_DIRECTORY);

	if (fd >= 0) {
		close(fd);
		return true;
	}
#endif
	(void)root;
	return false;
}

/* Every worker takes the cache lock once per request, for a few hundred nanoseconds (one
 * read() that finds nothing): a short spin before sleeping beats a futex round trip here.
 * Profiled with two workers under wrk, the plain mutex spent about 4% of the daemon's CPU
 * in futex calls, the adaptive one under 1%. */
static void static_cache_lock_init(pthread_mutex_t *m)
{
#ifdef PTHREAD_MUTEX_ADAPTIVE_NP
	pthread_mutexattr_t a;

	pthread_mutexattr_init(&a);
	pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ADAPTIVE_NP);
	pthread_mutex_init(m, &a);
	pthread_mutexattr_destroy(&a);
#else
	pthread_mutex_init(m, NULL);
#endif
}

int static_open(struct static_root **out, const char *dir, size_t cache_bytes, char *err,
		size_t errsize)
{
	struct static_root *r;
	int i, rc;

	*out = NULL;
	r = calloc(1, sizeof *r);
	if (r == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	r->fd = -1;
	static_cache_lock_init(&r->cache.lock);
	pthread_mutex_init(&r->cache.watch_lock, NULL);
	r->cache.inotify = -1;
	r->cache.watch_low = 1;
	r->cache.budget = cache_bytes < STATIC_CACHE_BYTES_MAX ? cache_bytes :
								 STATIC_CACHE_BYTES_MAX;
	/* O_RDONLY rather than O_PATH, so that an unreadable root fails here, at start. */
	r->fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (r->fd < 0) {
		rc = -errno;
		goto fail;
	}
	if (faccessat(r->fd, ".", R_OK | X_OK, AT_EACCESS) < 0) {
		rc = -errno;
		goto fail;
	}
	r->beneath = static_probe_openat2(r->fd);
	for (i = 0; i < STATIC_REPLY_COUNT_; i++) {
		const char *body = static_replies[i].body;

		r->reply[i] = MHD_create_response_from_buffer(strlen(body), (void *)body,
							      MHD_RESPMEM_PERSISTENT);
		if (r->reply[i] == NULL ||
		    MHD_add_response_header(r->reply[i], MHD_HTTP_HEADER_CONTENT_TYPE,
					    "text/plain; charset=utf-8") != MHD_YES ||
		    (i == STATIC_405 &&
		     MHD_add_response_header(r->reply[i], MHD_HTTP_HEADER_ALLOW, "GET, HEAD") !=
			     MHD_YES)) {
			rc = -ENOMEM;
			goto fail;
		}
	}
	*out = r;
	return 0;
fail:
	snprintf(err, errsize, "root %s: %s", dir, strerror(-rc));
	static_close(r);
	return rc;
}

void static_close(struct static_root *r)
{
	int i;

	if (r == NULL)
		return;
	for (i = 0; i < STATIC_REPLY_COUNT_; i++)
		if (r->reply[i] != NULL)
			MHD_destroy_response(r->reply[i]);
	static_cache_flush(&r->cache);
	if (r->cache.inotify >= 0)
		close(r->cache.inotify);
	pthread_mutex_destroy(&r->cache.lock);
	pthread_mutex_destroy(&r->cache.watch_lock);
	if (r->fd >= 0)
		close(r->fd);
	free(r);
}

static enum MHD_Result static_reply(struct static_root *r, struct MHD_Connection *c,
				    unsigned *status_out,
				    enum static_reply which)
{
	*status_out = static_replies[which].status;
	return MHD_queue_response(c, static_replies[which].status, r->reply[which]);
}

/* Maps a failed open to the answer: absent is 404, present but not ours to serve is 403. */
static enum static_reply static_errno_reply(int err)
{
	switch (err) {
	case -ENOENT:
	case -ENOTDIR:
	case -ENAMETOOLONG:
		return STATIC_404;
	case -EXDEV:  /* openat2: the path (through a symlink) leads out of the root */
	case -ELOOP:  /* a symlink we will not follow, or a loop */
	case -EACCES:
	case -EPERM:
		return STATIC_403;
	default:
		return STATIC_500;
	}
}

/* Answers 301 to the slash form of a directory. The Location is built from the clean path,
 * percent-encoded again: the request's own bytes may hold anything. */
static enum MHD_Result static_redirect(struct MHD_Connection *c, const char *path,
				       unsigned *status_out)
{
	static const char hex[] = "0123456789ABCDEF";
	static const char body[] = "301 Moved Permanently\n";
	struct MHD_Response *resp;
	enum MHD_Result ret = MHD_NO;
	char *loc = malloc(strlen(path) * 3 + 3), *o = loc;
	const char *p;

	if (loc == NULL)
		return MHD_NO;
	*o++ = '/';
	for (p = path; *p != '\0'; p++) {
		unsigned char ch = (unsigned char)*p;

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || strchr("/-._~!$&'()*+,;=:@", ch) != NULL) {
			*o++ = (char)ch;
		} else {
			*o++ = '%';
			*o++ = hex[ch >> 4];
			*o++ = hex[ch & 15];
		}
	}
	*o++ = '/';
	*o = '\0';
	resp = MHD_create_response_from_buffer(sizeof body - 1, (void *)body,
					       MHD_RESPMEM_PERSISTENT);
	if (resp != NULL && MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, loc) == MHD_YES &&
	    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				    "text/plain; charset=utf-8") == MHD_YES) {
		*status_out = MHD_HTTP_MOVED_PERMANENTLY;
		ret = MHD_queue_response(c, MHD_HTTP_MOVED_PERMANENTLY, resp);
	}
	MHD_destroy_response(resp);
	free(loc);
	return ret;
}

/* True when the request's If-Modified-Since says its copy is current. Per RFC 7232 it is
 * ignored next to If-None-Match (we send no ETags, so that one never matches) and when it
 * does not parse. */
static bool static_not_modified(struct MHD_Connection *c, time_t mtime)
{
	const char *ims =
		MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_MODIFIED_SINCE);
	time_t since;

	/* Most requests carry neither header: one lookup settles them. */
	if (ims == NULL ||
	    MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH))
		return false;
	return static_parse_date(ims, &since) && mtime <= since;
}

/* Answers 304 for a file last modified at mtime. */
static enum MHD_Result static_send_not_modified(struct static_root *r, struct MHD_Connection *c,
						time_t mtime, unsigned *status_out)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ret;
	char date[64]; /* 30 suffice; the slack keeps -Wformat-truncation quiet */

	static_format_date(mtime, date, sizeof date);
	if (resp == NULL ||
	    MHD_add_response_header(resp, MHD_HTTP_HEADER_LAST_MODIFIED, date) != MHD_YES) {
		MHD_destroy_response(resp);
		return static_reply(r, c, status_out, STATIC_500);
	}
	*status_out = MHD_HTTP_NOT_MODIFIED;
	ret = MHD_queue_response(c, MHD_HTTP_NOT_MODIFIED, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* Sends an open regular file: 304 if the client's copy is current, else the file from its
 * descriptor (libmicrohttpd uses sendfile). Takes ownership of fd. */
static enum MHD_Result static_send_file(struct static_root *r, struct MHD_Connection *c,
					const char *name, int fd, const struct stat *st,
					unsigned *status_out)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	char date[64];

	if (static_not_modified(c, st->st_mtime)) {
		close(fd);
		return static_send_not_modified(r, c, st->st_mtime, status_out);
	}
	resp = MHD_create_response_from_fd64((uint64_t)st->st_size, fd);
	if (resp == NULL) {
		close(fd);
		return static_reply(r, c, status_out, STATIC_500);
	}
	static_format_date(st->st_mtime, date, sizeof date);
	if (MHD_add_response_header(resp, MHD_HTTP_HEADER_LAST_MODIFIED, date) != MHD_YES ||
	    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, static_mime_type(name)) !=
		    MHD_YES) {
		MHD_destroy_response(resp);
		return static_reply(r, c, status_out, STATIC_500);
	}
	*status_out = MHD_HTTP_OK;
	ret = MHD_queue_response(c, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return ret;
}

static unsigned static_cache_slot(const char *path)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (; *path != '\0'; path++)
		h = (h ^ (unsigned char)*path) * 16777619u;
	return h % STATIC_CACHE_SLOTS;
}

/* Empties the cache: every entry goes (requests that queued one keep it alive until they
 * are done), and the generation moves, so that no fill begun before can insert. The
 * watches stay. Called with the lock held. */
static void static_cache_flush(struct static_cache *k)
{
	unsigned i;

	for (i = 0; i < STATIC_CACHE_SLOTS; i++) {
		struct static_cached *e = &k->slot[i];

		if (e->path == NULL)
			continue;
		MHD_destroy_response(e->resp);
		free(e->path);
		*e = (struct static_cached){ 0 };
	}
	k->bytes = 0;
	k->entries = 0;
	k->generation++;
}

/* Takes what the inotify queue holds: any event, an overflow or an error empties the cache.
 * Which file changed is not looked at, since any change empties everything. The queue is
 * read until it is empty, so that old events do not empty the cache again later; a writer
 * faster than that leaves some for the next drain, which empties again. Called with the
 * lock held. */
static void static_cache_drain(struct static_cache *k)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool changed = false;
	int i;

	if (k->inotify < 0)
		return;
	for (i = 0; i < STATIC_CACHE_DRAIN_READS; i++) {
		if (read(k->inotify, buf, sizeof buf) < 0 && errno == EAGAIN)
			break;
		changed = true;
	}
	if (changed)
		static_cache_flush(k);
}

/* The entry for path, after taking the pending events; NULL if there is none. With no
 * entries there is nothing an event could make stale: the read waits for the next fill,
 * which drains before it inserts. Called with the lock held. */
static const struct static_cached *static_cache_find(struct static_cache *k, const char *path)
{
	const struct static_cached *e = &k->slot[static_cache_slot(path)];

	if (k->entries == 0)
		return NULL;
	static_cache_drain(k);
	return e->path != NULL && strcmp(e->path, path) == 0 ? e : NULL;
}

/* Answers from the cache if path (the clean path of the file the request names) is there;
 * false when the caller must take the uncached path. */
static bool static_cache_serve(struct static_root *r, struct MHD_Connection *c,
			       const char *path, unsigned *status_out, enum MHD_Result *ret)
{
	struct static_cache *k = &r->cache;
	const struct static_cached *e;
	bool hit, not_modified = false;
	time_t mtime = 0;

	pthread_mutex_lock(&k->lock);
	k->used = true;
	e = static_cache_find(k, path);
	hit = e != NULL;
	if (hit && static_not_modified(c, e->mtime)) {
		not_modified = true;
		mtime = e->mtime;
	} else if (hit) {
		/* Queued under the lock, so that an emptying cannot free it meanwhile; once
		 * queued, libmicrohttpd holds a reference of its own. */
		*status_out = MHD_HTTP_OK;
		*ret = MHD_queue_response(c, MHD_HTTP_OK, e->resp);
	}
	pthread_mutex_unlock(&k->lock);
	if (not_modified)
		*ret = static_send_not_modified(r, c, mtime, status_out);
	return hit;
}

/* The directories and the file that a clean path names, each opened O_PATH from the root
 * without following any symlink, with their identities. */
struct static_chain {
	int n;                      /* components opened; fd[n - 1] is the file */
	int fd[STATIC_CACHE_DEPTH];
	dev_t dev[STATIC_CACHE_DEPTH];
	ino_t ino[STATIC_CACHE_DEPTH];
};

static void static_chain_close(struct static_chain *ch)
{
	while (ch->n > 0)
		close(ch->fd[--ch->n]);
}

/* Opens the chain of path. Returns 0 when every component but the last is a directory and
 * the last a regular file of at most max bytes; else -errno (-ELOOP for a symlink), with
 * nothing left open. A path through a symlink is never cached: a watch on a link's
 * directory does not see changes where it leads. */
static int static_chain_open(int root, const char *path, size_t max, struct static_chain *ch)
{
	char name[NAME_MAX + 1];
	int rc = 0, fd;

	ch->n = 0;
	for (;;) {
		const char *sep = strchr(path, '/');
		size_t len = sep != NULL ? (size_t)(sep - path) : strlen(path);
		struct stat st;

		if (ch->n == STATIC_CACHE_DEPTH || len == 0 || len > NAME_MAX) {
			rc = -ENAMETOOLONG;
			break;
		}
		memcpy(name, path, len);
		name[len] = '\0';
		fd = openat(ch->n > 0 ? ch->fd[ch->n - 1] : root, name,
			    O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			rc = -errno;
			break;
		}
		ch->fd[ch->n++] = fd;
		if (fstat(fd, &st) < 0) {
			rc = -errno;
			break;
		}
		ch->dev[ch->n - 1] = st.st_dev;
		ch->ino[ch->n - 1] = st.st_ino;
		if (S_ISLNK(st.st_mode)) {
			rc = -ELOOP;
			break;
		}
		if (sep == NULL) {
			if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > max)
				rc = -EFBIG;
			break;
		}
		if (!S_ISDIR(st.st_mode)) {
			rc = -ENOTDIR;
			break;
		}
		path = sep + 1;
	}
	if (rc < 0)
		static_chain_close(ch);
	return rc;
}

static bool static_chain_same(const struct static_chain *a, const struct static_chain *b)
{
	int i;

	if (a->n != b->n)
		return false;
	for (i = 0; i < a->n; i++)
		if (a->dev[i] != b->dev[i] || a->ino[i] != b->ino[i])
			return false;
	return true;
}

/* Watches what fd refers to. By its /proc/self/fd link, not by name: a name could lead
 * somewhere else by now. Called with watch_lock held. */
static int static_cache_watch(struct static_cache *k, int fd)
{
	char link[32];
	int wd;

	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	wd = inotify_add_watch(k->inotify, link, STATIC_CACHE_EVENTS);
	if (wd < 0)
		return -errno;
	if (wd > k->watch_top)
		k->watch_top = wd;
	return 0;
}

/* Reads a whole small file: up to size bytes; fewer at its end. */
static ssize_t static_read_all(int fd, char *buf, size_t size)
{
	size_t got = 0;

	while (got < size) {
		ssize_t n = pread(fd, buf + got, size - got, (off_t)got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

static bool static_stat_same(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* Builds the shared answer for a file's bytes (taking them) as the uncached path would
 * send it: Last-Modified and Content-Type. */
static struct MHD_Response *static_cache_response(const char *path, char *bytes, size_t size,
						  time_t mtime)
{
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(size, bytes, MHD_RESPMEM_MUST_FREE);
	char date[64];

	if (resp == NULL) {
		free(bytes);
		return NULL;
	}
	static_format_date(mtime, date, sizeof date);
	if (MHD_add_response_header(resp, MHD_HTTP_HEADER_LAST_MODIFIED, date) != MHD_YES ||
	    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, static_mime_type(path)) !=
		    MHD_YES) {
		MHD_destroy_response(resp);
		return NULL;
	}
	return resp;
}

/* Makes sure there is an instance with room for a fill's watches: past the bound, a new
 * one replaces it (and the cache is emptied, its entries being watched by the old one).
 * The old one is closed with only watch_lock held: that close can take milliseconds.
 * Called with watch_lock held. */
static int static_cache_instance(struct static_cache *k)
{
	int fd, old = -1;

	if (k->inotify >= 0 && k->watch_top <= STATIC_CACHE_WATCH_MAX)
		return 0;
	fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (fd < 0)
		return -errno;
	pthread_mutex_lock(&k->lock);
	old = k->inotify;
	k->inotify = fd;
	static_cache_flush(k);
	pthread_mutex_unlock(&k->lock);
	k->watch_top = 0;
	k->watch_low = 1;
	if (old >= 0)
		close(old);
	return 0;
}

/* Empties the cache and removes every watch, keeping the instance. The kernel frees a
 * removed watch after an SRCU grace period (about 15 ms here), in the background; closing an
 * instance that still has watches waits for that period instead, and at exit the process
 * closes it before its parent can see it gone. Removing the watches ahead of the exit keeps
 * that wait off the shutdown. Each removal queues an IN_IGNORED event, which the next fill
 * drains before it notes the generation. Called with watch_lock held. */
static void static_cache_release(struct static_cache *k)
{
	int wd;

	pthread_mutex_lock(&k->lock);
	static_cache_flush(k);
	k->used = false;
	pthread_mutex_unlock(&k->lock);
	for (wd = k->watch_low; k->inotify >= 0 && wd <= k->watch_top; wd++)
		inotify_rm_watch(k->inotify, wd);
	k->watch_low = k->watch_top + 1;
}

void static_cache_stop(struct static_root *r)
{
	if (r == NULL)
		return;
	pthread_mutex_lock(&r->cache.watch_lock);
	r->cache.stopped = true;
	static_cache_release(&r->cache);
	pthread_mutex_unlock(&r->cache.watch_lock);
}

void static_cache_idle(struct static_root *r)
{
	struct static_cache *k;
	bool used;

	if (r == NULL)
		return;
	k = &r->cache;
	pthread_mutex_lock(&k->watch_lock);
	pthread_mutex_lock(&k->lock);
	used = k->used;
	k->used = false;
	pthread_mutex_unlock(&k->lock);
	if (!used && k->watch_top >= k->watch_low)
		static_cache_release(k);
	pthread_mutex_unlock(&k->watch_lock);
}

/*
 * Makes the cache entry for path, the clean path of a small regular file the uncached path
 * just found. Returns 0 once inserted, else -errno; a failure only leaves the file
 * uncached. The order is what makes it exact:
 *   1. open the chain (root, directories, file), refusing symlinks;
 *   2. add a watch on each (under watch_lock), then under the lock drain and note the
 *      generation. From here on any change to them is an event;
 *   3. open the chain again: it must reach the same directories and the same file, so that
 *      a rename or replacement made before the watches existed is seen; the file is
 *      reopened for reading, which checks its permissions as they are now;
 *   4. read it, and check that fstat() did not change across the read;
 *   5. under the lock: drain, and insert only if the generation has not moved: a change
 *      during 3 or 4 was an event.
 */
static int static_cache_fill(struct static_root *r, const char *path)
{
	struct static_cache *k = &r->cache;
	size_t max = k->budget < STATIC_CACHE_FILE_MAX ? k->budget : STATIC_CACHE_FILE_MAX;
	struct static_chain first, again;
	struct static_cached e = { 0 }, old = { 0 }, *slot;
	struct stat before, after;
	uint64_t generation;
	char link[32], *bytes = NULL;
	int fd = -1, i, rc;

	rc = static_chain_open(r->fd, path, max, &first);
	if (rc < 0)
		return rc;
	STATIC_CACHE_HOOK(1);
	pthread_mutex_lock(&k->watch_lock);
	rc = k->stopped ? -ECANCELED : static_cache_instance(k);
	if (rc == 0)
		rc = static_cache_watch(k, r->fd);
	for (i = 0; rc == 0 && i < first.n; i++)
		rc = static_cache_watch(k, first.fd[i]);
	pthread_mutex_lock(&k->lock);
	static_cache_drain(k);
	generation = k->generation;
	pthread_mutex_unlock(&k->lock);
	pthread_mutex_unlock(&k->watch_lock);
	if (rc < 0)
		goto out;
	STATIC_CACHE_HOOK(2);

	rc = static_chain_open(r->fd, path, max, &again);
	if (rc < 0)
		goto out;
	if (static_chain_same(&first, &again)) {
		snprintf(link, sizeof link, "/proc/self/fd/%d", again.fd[again.n - 1]);
		fd = open(link, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
		rc = fd < 0 ? -errno : 0;
	} else {
		rc = -ESTALE;
	}
	static_chain_close(&again);
	if (rc < 0)
		goto out;
	if (fstat(fd, &before) < 0 || !S_ISREG(before.st_mode) || (uint64_t)before.st_size > max) {
		rc = -ESTALE;
		goto out;
	}
	e.size = (size_t)before.st_size;
	e.mtime = before.st_mtime;
	/* One byte more than the size, to see a file that grew. */
	bytes = malloc(e.size + 1);
	e.path = strdup(path);
	if (bytes == NULL || e.path == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	if (static_read_all(fd, bytes, e.size + 1) != (ssize_t)e.size || fstat(fd, &after) < 0 ||
	    !static_stat_same(&before, &after)) {
		rc = -ESTALE;
		goto out;
	}
	STATIC_CACHE_HOOK(3);
	e.bytes = bytes;
	e.resp = static_cache_response(path, bytes, e.size, e.mtime);
	bytes = NULL; /* the response owns it now, or freed it */
	if (e.resp == NULL) {
		rc = -ENOMEM;
		goto out;
	}

	pthread_mutex_lock(&k->lock);
	static_cache_drain(k);
	slot = &k->slot[static_cache_slot(path)];
	if (k->generation != generation) {
		rc = -ESTALE;
	} else if (k->bytes - slot->size + e.size > k->budget) {
		rc = -ENOSPC; /* full: this file waits for the next emptying */
	} else {
		old = *slot;
		*slot = e;
		k->bytes = k->bytes - old.size + e.size;
		k->entries += old.path == NULL;
		k->used = true;
		e = (struct static_cached){ 0 };
		rc = 0;
	}
	pthread_mutex_unlock(&k->lock);
out:
	/* What did not go into the cache, and what an insert replaced. */
	MHD_destroy_response(e.resp);
	MHD_destroy_response(old.resp);
	free(e.path);
	free(old.path);
	free(bytes);
	if (fd >= 0)
		close(fd);
	static_chain_close(&first);
	return rc;
}

enum MHD_Result static_serve(struct static_root *r, struct MHD_Connection *c, const char *url,
			     const char *method, unsigned *status_out)
{
	char path[STATIC_PATH_MAX + sizeof "/" STATIC_INDEX];
	bool slash, index;
	unsigned bad;
	struct stat st;
	int fd;

	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return static_reply(r, c, status_out, STATIC_405);
	bad = static_clean_path(url, path, STATIC_PATH_MAX + 1, &slash);
	if (bad != 0)
		return static_reply(r, c, status_out, bad == MHD_HTTP_URI_TOO_LONG ? STATIC_414 :
					  bad == MHD_HTTP_NOT_FOUND   ? STATIC_404 :
									STATIC_400);
	if (r->cache.budget > 0) {
		/* The file the request names: a path ending in "/" can only mean the index of a
		 * directory, as below. */
		char file[sizeof path];
		size_t n = strlen(path);
		enum MHD_Result ret;

		memcpy(file, path, n + 1);
		if (slash)
			snprintf(file + n, sizeof file - n, "%s%s", n > 0 ? "/" : "", STATIC_INDEX);
		if (static_cache_serve(r, c, file, status_out, &ret))
			return ret;
	}

	/* Look with O_PATH first: opening a fifo or a device for reading could block or
	 * have side effects, so only a regular file is ever opened for reading. */
	fd = static_resolve(r, path, O_PATH);
	if (fd < 0)
		return static_reply(r, c, status_out, static_errno_reply(fd));
	if (fstat(fd, &st) < 0) {
		close(fd);
		return static_reply(r, c, status_out, STATIC_500);
	}
	close(fd);
	index = S_ISDIR(st.st_mode);
	if (index) {
		if (!slash)
			return static_redirect(c, path, status_out);
		/* Resolved again from the root, so an index.html symlink obeys the same rules. */
		strcat(path, path[0] != '\0' ? "/" STATIC_INDEX : STATIC_INDEX);
	} else if (slash) {
		return static_reply(r, c, status_out, STATIC_404);
	}

	/* O_NONBLOCK: if the name was swapped for a fifo since the look, do not hang on it. */
	fd = static_resolve(r, path, O_RDONLY | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) /* a directory without index.html: 403, there are no listings */
		return static_reply(r, c, status_out, index && fd == -ENOENT ? STATIC_403 :
							   static_errno_reply(fd));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return static_reply(r, c, status_out, STATIC_403);
	}
	/* This request still goes out from its descriptor: the entry is for the next ones. */
	if (r->cache.budget > 0 && (uint64_t)st.st_size <= STATIC_CACHE_FILE_MAX)
		(void)static_cache_fill(r, path);
	return static_send_file(r, c, path, fd, &st, status_out);
}
