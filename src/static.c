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
 * Small files are answered from a cache kept exact by inotify (filecache.c, which says how,
 * and what it cannot see); this file asks it first and fills it on a miss.
 */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
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

#include "filecache.h"
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

struct static_root {
	int fd;       /* the root directory, O_RDONLY|O_DIRECTORY */
	bool beneath; /* openat2(RESOLVE_BENEATH) works on this kernel */
	struct MHD_Response *reply[STATIC_REPLY_COUNT_];
	struct filecache *cache; /* the small-file cache; NULL when it is off */
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

/* Adds the headers a file's 200 carries besides its body: Last-Modified and Content-Type.
 * The cache builds its answers with it too (filecache_headers_fn), so that a cached answer
 * and one sent from the descriptor are alike. */
static int static_file_headers(struct MHD_Response *resp, const char *name, time_t mtime)
{
	char date[64];

	static_format_date(mtime, date, sizeof date);
	if (MHD_add_response_header(resp, MHD_HTTP_HEADER_LAST_MODIFIED, date) != MHD_YES ||
	    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, static_mime_type(name)) !=
		    MHD_YES)
		return -ENOMEM;
	return 0;
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
	if (cache_bytes > 0) {
		rc = filecache_new(&r->cache, r->fd, cache_bytes, static_file_headers);
		if (rc < 0)
			goto fail;
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
	filecache_free(r->cache); /* before the root it watches closes */
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

/* The request's If-Modified-Since, parsed into *since when it counts; NULL when it does
 * not. Per RFC 7232 it is ignored next to If-None-Match (we send no ETags, so that one never
 * matches) and when it does not parse. A file no newer than it is answered 304. */
static const time_t *static_if_modified_since(struct MHD_Connection *c, time_t *since)
{
	const char *ims =
		MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_MODIFIED_SINCE);

	/* Most requests carry neither header: one lookup settles them. */
	if (ims == NULL ||
	    MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH))
		return NULL;
	return static_parse_date(ims, since) ? since : NULL;
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

/* Sends an open regular file: 304 if the client's copy is current (since, from
 * static_if_modified_since), else the file from its descriptor (libmicrohttpd uses
 * sendfile). Takes ownership of fd. */
static enum MHD_Result static_send_file(struct static_root *r, struct MHD_Connection *c,
					const char *name, int fd, const struct stat *st,
					const time_t *since, unsigned *status_out)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	if (since != NULL && st->st_mtime <= *since) {
		close(fd);
		return static_send_not_modified(r, c, st->st_mtime, status_out);
	}
	resp = MHD_create_response_from_fd64((uint64_t)st->st_size, fd);
	if (resp == NULL) {
		close(fd);
		return static_reply(r, c, status_out, STATIC_500);
	}
	if (static_file_headers(resp, name, st->st_mtime) < 0) {
		MHD_destroy_response(resp);
		return static_reply(r, c, status_out, STATIC_500);
	}
	*status_out = MHD_HTTP_OK;
	ret = MHD_queue_response(c, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* Answers from the cache if path (the clean path of the file the request names) is there;
 * false when the caller must take the uncached path. */
static bool static_serve_cached(struct static_root *r, struct MHD_Connection *c,
				const char *path, const time_t *since, unsigned *status_out,
				enum MHD_Result *ret)
{
	time_t mtime;

	switch (filecache_serve(r->cache, c, path, since, &mtime, ret)) {
	case FILECACHE_SENT:
		*status_out = MHD_HTTP_OK;
		return true;
	case FILECACHE_CURRENT:
		*ret = static_send_not_modified(r, c, mtime, status_out);
		return true;
	case FILECACHE_MISS:
	default:
		return false;
	}
}

void static_cache_stop(struct static_root *r)
{
	if (r != NULL)
		filecache_stop(r->cache);
}

void static_cache_idle(struct static_root *r)
{
	if (r != NULL)
		filecache_idle(r->cache);
}

enum MHD_Result static_serve(struct static_root *r, struct MHD_Connection *c, const char *url,
			     const char *method, unsigned *status_out)
{
	char path[STATIC_PATH_MAX + sizeof "/" STATIC_INDEX];
	const time_t *since;
	time_t since_buf;
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
	/* Looked up once, outside the cache's lock: a cached answer and an uncached one both
	 * compare the file's time with it. */
	since = static_if_modified_since(c, &since_buf);
	if (r->cache != NULL) {
		/* The file the request names: a path ending in "/" can only mean the index of a
		 * directory, as below. */
		char index_file[sizeof path + sizeof "/" STATIC_INDEX];
		const char *file = path;
		enum MHD_Result ret;

		if (slash) {
			snprintf(index_file, sizeof index_file, "%s%s%s", path,
				 path[0] != '\0' ? "/" : "", STATIC_INDEX);
			file = index_file;
		}
		if (static_serve_cached(r, c, file, since, status_out, &ret))
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
	if (r->cache != NULL && (uint64_t)st.st_size <= FILECACHE_FILE_MAX)
		(void)filecache_fill(r->cache, path);
	return static_send_file(r, c, path, fd, &st, since, status_out);
}
