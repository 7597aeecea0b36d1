/*
 * check_static: unit tests of the static module's path, type, date and open logic, and of
 * the small-file cache. It includes static.c itself to reach the file's internal functions,
 * to run the component walk (the fallback for kernels without openat2) on this kernel too,
 * and to change files between the steps of a cache fill (STATIC_CACHE_HOOK).
 */
static void cache_hook(int step);
#define STATIC_CACHE_HOOK(step) cache_hook(step)

#include "static.c"

#include <check.h>
#include <sys/types.h>

/* Path cleaning: one row per request path. */
static const struct {
	const char *url;
	unsigned status; /* 0 = accepted */
	const char *path;
	bool slash;
} clean_cases[] = {
	{ "/", 0, "", true },
	{ "//", 0, "", true },
	{ "/a.txt", 0, "a.txt", false },
	{ "/a/b/", 0, "a/b", true },
	{ "//a///b", 0, "a/b", false },
	{ "/with%20space", 0, "with space", false },
	{ "/a%2fb", 0, "a/b", false },
	{ "/%2fetc%2fpasswd", 0, "etc/passwd", false },
	{ "/caf%C3%A9", 0, "caf\xc3\xa9", false },
	{ "/a..b", 0, "a..b", false },
	{ "/a.", 0, "a.", false },
	{ "/...", MHD_HTTP_NOT_FOUND, NULL, false },
	{ "/.env", MHD_HTTP_NOT_FOUND, NULL, false },
	{ "/a/.git/config", MHD_HTTP_NOT_FOUND, NULL, false },
	{ "/%2egit", MHD_HTTP_NOT_FOUND, NULL, false },
	{ "/..", MHD_HTTP_BAD_REQUEST, NULL, false },
	{ "/../etc/passwd", MHD_HTTP_BAD_REQUEST, NULL, false },
	{ "/a/../b", MHD_HTTP_BAD_REQUEST, NULL, false },
	{ "/./a", MHD_HTTP_BAD_REQUEST, NULL, false },
	{ "/a/.", MHD_HTTP_BAD_REQUEST, NULL, false },
	{ "/%2e%2e/", MHD_HTTP_BAD_REQUEST, NULL, false },
	{ "/%2E%2E%2F", MHD_HTTP_BAD_REQUEST, NULL, false },
	{ "/.%2e/x", MHD_HTTP_BAD_REQUEST, NULL, false },
	{ "/a/..%2f..%2f", MHD_HTTP_BAD_REQUEST, NULL, false },
	{ "/..%5c", MHD_HTTP_BAD_REQUEST, NULL, false },
	{ "/a\\b", MHD_HTTP_BAD_REQUEST, NULL, false },
	{ "/%00", MHD_HTTP_BAD_REQUEST, NULL, false },
	{ "/a.txt%00.html", MHD_HTTP_BAD_REQUEST, NULL, false },
	{ "/%", MHD_HTTP_BAD_REQUEST, NULL, false },
	{ "/%4", MHD_HTTP_BAD_REQUEST, NULL, false },
	{ "/%zz", MHD_HTTP_BAD_REQUEST, NULL, false },
	{ "/%%32e", MHD_HTTP_BAD_REQUEST, NULL, false },
	{ "a.txt", MHD_HTTP_BAD_REQUEST, NULL, false },
	{ "", MHD_HTTP_BAD_REQUEST, NULL, false },
	{ "*", MHD_HTTP_BAD_REQUEST, NULL, false },
	{ "http://host/a", MHD_HTTP_BAD_REQUEST, NULL, false },
};

START_TEST(test_clean_path)
{
	char out[STATIC_PATH_MAX + 16];
	bool slash = false;
	unsigned st = static_clean_path(clean_cases[_i].url, out, STATIC_PATH_MAX + 1, &slash);

	ck_assert_msg(st == clean_cases[_i].status, "%s: status %u, expected %u",
		      clean_cases[_i].url, st, clean_cases[_i].status);
	if (st == 0) {
		ck_assert_str_eq(out, clean_cases[_i].path);
		ck_assert_msg(slash == clean_cases[_i].slash, "%s: slash", clean_cases[_i].url);
	}
}
END_TEST

START_TEST(test_clean_path_limits)
{
	static char url[STATIC_PATH_MAX + 2], out[STATIC_PATH_MAX + 16];
	bool slash;

	/* At the limit: accepted as long as each name fits NAME_MAX. */
	for (size_t i = 0; i < STATIC_PATH_MAX; i++)
		url[i] = i % 100 == 0 ? '/' : 'a';
	url[STATIC_PATH_MAX] = '\0';
	ck_assert_uint_eq(static_clean_path(url, out, STATIC_PATH_MAX + 1, &slash), 0);
	url[STATIC_PATH_MAX] = 'a';
	url[STATIC_PATH_MAX + 1] = '\0';
	ck_assert_uint_eq(static_clean_path(url, out, STATIC_PATH_MAX + 1, &slash),
			  MHD_HTTP_URI_TOO_LONG);
	/* A name longer than any file system allows cannot exist. */
	memset(url + 1, 'b', NAME_MAX + 1);
	url[0] = '/';
	url[NAME_MAX + 2] = '\0';
	ck_assert_uint_eq(static_clean_path(url, out, STATIC_PATH_MAX + 1, &slash),
			  MHD_HTTP_NOT_FOUND);
}
END_TEST

START_TEST(test_mime)
{
	static const char *const cases[][2] = {
		{ "index.html", "text/html; charset=utf-8" },
		{ "a/b/page.HTM", "text/html; charset=utf-8" },
		{ "s.css", "text/css; charset=utf-8" },
		{ "a.js", "text/javascript; charset=utf-8" },
		{ "a.mjs", "text/javascript; charset=utf-8" },
		{ "a.json", "application/json" },
		{ "a.js.map", "application/json" },
		{ "a.txt", "text/plain; charset=utf-8" },
		{ "a.xml", "text/xml; charset=utf-8" },
		{ "a.svg", "image/svg+xml" },
		{ "a.png", "image/png" },
		{ "a.JPG", "image/jpeg" },
		{ "a.jpeg", "image/jpeg" },
		{ "a.gif", "image/gif" },
		{ "a.webp", "image/webp" },
		{ "favicon.ico", "image/x-icon" },
		{ "a.wasm", "application/wasm" },
		{ "a.pdf", "application/pdf" },
		{ "a.woff", "font/woff" },
		{ "a.woff2", "font/woff2" },
		{ "a.mp4", "video/mp4" },
		{ "a.webm", "video/webm" },
		{ "README.md", "text/markdown; charset=utf-8" },
		{ "Makefile", "application/octet-stream" },
		{ ".html", "application/octet-stream" },
		{ "dir.html/file", "application/octet-stream" },
		{ "a.", "application/octet-stream" },
		{ "a.htmlx", "application/octet-stream" },
		{ "", "application/octet-stream" },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		ck_assert_str_eq(static_mime_type(cases[i][0]), cases[i][1]);
}
END_TEST

START_TEST(test_dates)
{
	static const char *const bad[] = {
		"", "yesterday", "Sun, 06 Nov 1994 08:49:37 UTC", "Sun, 06 Nov 1994 08:49:37 GMT ",
		"Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994",
		"Sun, 31 Feb 1994 08:49:37 GMT", "Sun, 00 Nov 1994 08:49:37 GMT",
		"Sun, 06 Foo 1994 08:49:37 GMT", "Sun, 06 Nov 1994 24:00:00 GMT",
		"Xyz, 06 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 19x4 08:49:37 GMT",
		"Sun, 6 Nov 1994 08:49:37 GMT",
	};
	char buf[64];
	time_t t;

	ck_assert(static_parse_date("Sun, 06 Nov 1994 08:49:37 GMT", &t));
	ck_assert_int_eq((long long)t, 784111777LL);
	static_format_date(t, buf, sizeof buf);
	ck_assert_str_eq(buf, "Sun, 06 Nov 1994 08:49:37 GMT");
	ck_assert(static_parse_date("Thu, 29 Feb 2024 00:00:00 GMT", &t));
	static_format_date(0, buf, sizeof buf);
	ck_assert_str_eq(buf, "Thu, 01 Jan 1970 00:00:00 GMT");
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ck_assert_msg(!static_parse_date(bad[i], &t), "accepted '%s'", bad[i]);
}
END_TEST

START_TEST(test_open_errors)
{
	struct static_root *r = (struct static_root *)1;
	char err[256];

	ck_assert_int_eq(static_open(&r, "/nonexistent-serviced-root", 0, err, sizeof err), -ENOENT);
	ck_assert_ptr_null(r);
	ck_assert_str_eq(err, "root /nonexistent-serviced-root: No such file or directory");
	ck_assert_int_eq(static_open(&r, "/etc/passwd", 0, err, sizeof err), -ENOTDIR);
	ck_assert_str_eq(err, "root /etc/passwd: Not a directory");
	static_close(NULL);
}
END_TEST

/* A tree with links in and out, built fresh for each resolve test. */
static char tree[64];
static char outside[128];

static void tree_setup(void)
{
	char p[256];
	int fd;

	strcpy(tree, "/tmp/check_static.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tree));
	snprintf(outside, sizeof outside, "%s/outside", tree);
	ck_assert_int_eq(mkdir(outside, 0755), 0);
	snprintf(p, sizeof p, "%s/root", tree);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	snprintf(p, sizeof p, "%s/root/sub", tree);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	snprintf(p, sizeof p, "%s/root/a.txt", tree);
	fd = open(p, O_CREAT | O_WRONLY, 0644);
	ck_assert_int_ge(fd, 0);
	close(fd);
	snprintf(p, sizeof p, "%s/root/fifo", tree);
	ck_assert_int_eq(mkfifo(p, 0644), 0);
	snprintf(p, sizeof p, "%s/root/in", tree);
	ck_assert_int_eq(symlink("a.txt", p), 0);
	snprintf(p, sizeof p, "%s/root/sub/up", tree);
	ck_assert_int_eq(symlink("../a.txt", p), 0);
	snprintf(p, sizeof p, "%s/root/indir", tree);
	ck_assert_int_eq(symlink("sub", p), 0);
	snprintf(p, sizeof p, "%s/root/out", tree);
	ck_assert_int_eq(symlink("../outside", p), 0);
	snprintf(p, sizeof p, "%s/root/abs", tree);
	ck_assert_int_eq(symlink("/etc/passwd", p), 0);
}

static void tree_teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tree);
	ck_assert_int_eq(system(cmd), 0);
}

/* Resolves path with O_PATH and reports 0 (opened) or -errno. */
static int try_resolve(const struct static_root *r, const char *path)
{
	int fd = static_resolve(r, path, O_PATH);

	if (fd >= 0)
		close(fd);
	return fd >= 0 ? 0 : fd;
}

START_TEST(test_resolve)
{
	struct static_root *r;
	char root[128], err[256];
	bool beneath;

	snprintf(root, sizeof root, "%s/root", tree);
	ck_assert_int_eq(static_open(&r, root, STATIC_CACHE_DEFAULT, err, sizeof err), 0);
	beneath = r->beneath;
	/* _i == 0: the mode this kernel gives; _i == 1: the walk, forced. */
	if (_i == 1)
		r->beneath = false;
	else if (!beneath)
		fprintf(stderr, "check_static: no openat2 here, testing the walk only\n");

	ck_assert_int_eq(try_resolve(r, ""), 0);
	ck_assert_int_eq(try_resolve(r, "a.txt"), 0);
	ck_assert_int_eq(try_resolve(r, "sub"), 0);
	ck_assert_int_eq(try_resolve(r, "fifo"), 0); /* O_PATH looks without opening */
	ck_assert_int_eq(try_resolve(r, "nope"), -ENOENT);
	ck_assert_int_eq(try_resolve(r, "a.txt/x"), -ENOTDIR);
	/* Out of the root: refused in both modes. */
	ck_assert_int_lt(try_resolve(r, "out"), 0);
	ck_assert_int_lt(try_resolve(r, "out/x"), 0);
	ck_assert_int_lt(try_resolve(r, "abs"), 0);
	ck_assert(static_errno_reply(try_resolve(r, "out")) == STATIC_403);
	ck_assert(static_errno_reply(try_resolve(r, "abs")) == STATIC_403);
	/* Links inside: followed with openat2, refused by the walk. */
	if (r->beneath) {
		ck_assert_int_eq(try_resolve(r, "in"), 0);
		ck_assert_int_eq(try_resolve(r, "sub/up"), 0);
		ck_assert_int_eq(try_resolve(r, "indir/up"), 0);
	} else {
		ck_assert_int_eq(try_resolve(r, "in"), -ELOOP);
		ck_assert_int_eq(try_resolve(r, "sub/up"), -ELOOP);
		ck_assert_int_eq(try_resolve(r, "indir/up"), -ELOOP);
	}
	/* Reading a regular file through the walk works too. */
	{
		int fd = static_resolve(r, "a.txt", O_RDONLY | O_NONBLOCK | O_NOCTTY);

		ck_assert_int_ge(fd, 0);
		close(fd);
	}
	static_close(r);
}
END_TEST

/* The cache: a tree made fresh for each test, a root opened on it, and changes applied
 * either between tests' steps or from inside a fill (cache_hook). */
static char ctree[64];
static struct static_root *croot;
static int hook_step;             /* the fill step to change things at; 0 = none */
static void (*hook_change)(void); /* the change */

static void cache_hook(int step)
{
	if (step == hook_step && hook_change != NULL) {
		hook_change();
		hook_step = 0; /* once */
	}
}

/* cpath("d/e/f.txt"): a path in the tree's root, in a rotating buffer. */
static const char *cpath(const char *rel)
{
	static char buf[4][256];
	static unsigned n;
	char *p = buf[n++ % 4];

	snprintf(p, sizeof buf[0], "%s/root/%s", ctree, rel);
	return p;
}

static void put(const char *rel, const char *text)
{
	FILE *f = fopen(cpath(rel), "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fputs(text, f) >= 0, 1);
	ck_assert_int_eq(fclose(f), 0);
}

/* Overwrites in place, keeping the size, then sets the old mtime back: a change only the
 * inode's ctime (and inotify) would show. */
static void rewrite_same(const char *rel, const char *text)
{
	struct stat st;
	struct timespec t[2];
	int fd;

	ck_assert_int_eq(stat(cpath(rel), &st), 0);
	fd = open(cpath(rel), O_WRONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, text, strlen(text), 0), (ssize_t)strlen(text));
	close(fd);
	t[0] = st.st_atim;
	t[1] = st.st_mtim;
	ck_assert_int_eq(utimensat(AT_FDCWD, cpath(rel), t, 0), 0);
}

static void cache_setup(void)
{
	char err[256];

	strcpy(ctree, "/tmp/check_static.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(ctree));
	ck_assert_int_eq(mkdir(cpath(""), 0755), 0);
	ck_assert_int_eq(mkdir(cpath("d"), 0755), 0);
	ck_assert_int_eq(mkdir(cpath("d/e"), 0755), 0);
	put("d/e/f.txt", "one\n");
	put("g.txt", "gee\n");
	ck_assert_int_eq(symlink("g.txt", cpath("link")), 0);
	ck_assert_int_eq(symlink("d", cpath("dlink")), 0);
	hook_step = 0;
	hook_change = NULL;
	ck_assert_int_eq(static_open(&croot, cpath(""), STATIC_CACHE_DEFAULT, err, sizeof err), 0);
}

static void cache_teardown(void)
{
	char cmd[128];

	static_close(croot);
	croot = NULL;
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", ctree);
	ck_assert_int_eq(system(cmd), 0);
}

/* What a request for rel would get from the cache now: a copy of the bytes, or NULL. */
static char *cached(const char *rel)
{
	const struct static_cached *e;
	char *copy = NULL;

	pthread_mutex_lock(&croot->cache.lock);
	e = static_cache_find(&croot->cache, rel);
	if (e != NULL) {
		copy = malloc(e->size + 1);
		ck_assert_ptr_nonnull(copy);
		memcpy(copy, e->bytes, e->size);
		copy[e->size] = '\0';
	}
	pthread_mutex_unlock(&croot->cache.lock);
	return copy;
}

/* The file's bytes as they are on disk; NULL if it cannot be read. */
static char *on_disk(const char *rel)
{
	char buf[256], *copy;
	int fd = open(cpath(rel), O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return NULL;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	ck_assert_int_ge(n, 0);
	buf[n] = '\0';
	copy = strdup(buf);
	ck_assert_ptr_nonnull(copy);
	return copy;
}

START_TEST(test_cache_hit)
{
	char *b;

	ck_assert_ptr_null(cached("d/e/f.txt"));
	ck_assert_int_eq(static_cache_fill(croot, "d/e/f.txt"), 0);
	ck_assert_int_eq(static_cache_fill(croot, "g.txt"), 0);
	b = cached("d/e/f.txt");
	ck_assert_str_eq(b, "one\n");
	free(b);
	b = cached("g.txt");
	ck_assert_str_eq(b, "gee\n");
	free(b);
	ck_assert_uint_eq(croot->cache.entries, 2);
	ck_assert_uint_eq(croot->cache.bytes, 8);
	/* Reading, as requests do, is no change. */
	free(on_disk("d/e/f.txt"));
	b = cached("d/e/f.txt");
	ck_assert_str_eq(b, "one\n");
	free(b);
}
END_TEST

/* Changes a cached file could miss without inotify; each must empty the cache. */
static void change_same_size(void) { rewrite_same("d/e/f.txt", "two\n"); }
static void change_rename_over(void)
{
	put("d/e/new", "new content\n");
	ck_assert_int_eq(rename(cpath("d/e/new"), cpath("d/e/f.txt")), 0);
}
static void change_truncate(void) { ck_assert_int_eq(truncate(cpath("d/e/f.txt"), 0), 0); }
static void change_unlink(void) { ck_assert_int_eq(unlink(cpath("d/e/f.txt")), 0); }
static void change_chmod(void) { ck_assert_int_eq(chmod(cpath("d/e/f.txt"), 0), 0); }
static void change_chmod_dir(void) { ck_assert_int_eq(chmod(cpath("d"), 0), 0); }
static void change_move_dir(void)
{
	/* The middle directory goes, and a new one with another f.txt takes its name. */
	ck_assert_int_eq(rename(cpath("d/e"), cpath("old-e")), 0);
	ck_assert_int_eq(mkdir(cpath("d/e"), 0755), 0);
	put("d/e/f.txt", "other\n");
}
static void change_move_top(void)
{
	ck_assert_int_eq(rename(cpath("d"), cpath("old-d")), 0);
	ck_assert_int_eq(mkdir(cpath("d"), 0755), 0);
	ck_assert_int_eq(mkdir(cpath("d/e"), 0755), 0);
	put("d/e/f.txt", "top\n");
}
static void change_symlink_dir(void)
{
	/* d becomes a link to a copy: the path now goes through a symlink. */
	ck_assert_int_eq(rename(cpath("d"), cpath("real")), 0);
	ck_assert_int_eq(symlink("real", cpath("d")), 0);
}
static void change_hard_link(void)
{
	/* A write through another name of the same inode, in a directory nobody watches. */
	char other[256];
	int fd;

	snprintf(other, sizeof other, "%s/elsewhere", ctree);
	ck_assert_int_eq(link(cpath("d/e/f.txt"), other), 0);
	fd = open(other, O_WRONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, "HRD\n", 4, 0), 4);
	close(fd);
	unlink(other);
}
static void change_sibling(void) { put("g.txt", "gee!\n"); }

static const struct {
	const char *name;
	void (*fn)(void);
} changes[] = {
	{ "same size, old mtime", change_same_size },
	{ "rename over", change_rename_over },
	{ "truncate", change_truncate },
	{ "unlink", change_unlink },
	{ "chmod file", change_chmod },
	{ "chmod directory", change_chmod_dir },
	{ "directory replaced", change_move_dir },
	{ "top directory replaced", change_move_top },
	{ "directory becomes a symlink", change_symlink_dir },
	{ "write through a hard link", change_hard_link },
	{ "a sibling changes", change_sibling },
};

/* A change after the entry was made empties the cache. */
START_TEST(test_cache_change_after)
{
	char *b;
	int instance;

	ck_assert_int_eq(static_cache_fill(croot, "d/e/f.txt"), 0);
	b = cached("d/e/f.txt");
	ck_assert_str_eq(b, "one\n");
	free(b);
	instance = croot->cache.inotify;
	changes[_i].fn();
	ck_assert_msg(cached("d/e/f.txt") == NULL, "%s: still cached", changes[_i].name);
	ck_assert_uint_eq(croot->cache.entries, 0);
	ck_assert_uint_eq(croot->cache.bytes, 0);
	/* Emptied, not closed: a close waits for the kernel's mark reaper. */
	ck_assert_int_eq(croot->cache.inotify, instance);
	chmod(cpath("d"), 0755); /* for the teardown */
}
END_TEST

/* A change in the middle of a fill: whatever the fill did, the cache must not hold anything
 * but the file as it is now. Step 1 is before the watches (the second walk or the read must
 * see it), steps 2 and 3 after (an event: nothing is inserted). */
START_TEST(test_cache_change_during)
{
	unsigned step = 1 + (unsigned)_i / (sizeof changes / sizeof changes[0]);
	unsigned which = (unsigned)_i % (sizeof changes / sizeof changes[0]);
	char *b, *disk;
	int rc;

	hook_step = (int)step;
	hook_change = changes[which].fn;
	rc = static_cache_fill(croot, "d/e/f.txt");
	ck_assert_int_eq(hook_step, 0); /* the change ran */
	b = cached("d/e/f.txt");
	/* root reads whatever the mode; so does the check */
	disk = on_disk("d/e/f.txt");
	if (step >= 2)
		ck_assert_msg(rc < 0 && b == NULL, "%s at step %u: inserted (rc %d)",
			      changes[which].name, step, rc);
	if (b != NULL) {
		ck_assert_msg(rc == 0, "%s at step %u", changes[which].name, step);
		ck_assert_msg(disk != NULL && strcmp(b, disk) == 0,
			      "%s at step %u: cached '%s', on disk '%s'", changes[which].name, step,
			      b, disk ? disk : "(none)");
	}
	free(b);
	free(disk);
	/* And an entry made anyway must be watched where the file now is. */
	if (changes[which].fn == change_chmod_dir)
		chmod(cpath("d"), 0755);
	if (access(cpath("d/e"), F_OK) == 0) {
		put("d/e/f.txt", "after\n");
		b = cached("d/e/f.txt");
		ck_assert_msg(b == NULL || strcmp(b, "after\n") == 0,
			      "%s at step %u: '%s' after a later change", changes[which].name, step, b);
		free(b);
	}
}
END_TEST

START_TEST(test_cache_refusals)
{
	static char big[STATIC_CACHE_FILE_MAX + 2];
	char err[256];
	struct static_root *small;

	/* Symlinks anywhere on the path: served, never cached. */
	ck_assert_int_eq(static_cache_fill(croot, "link"), -ELOOP);
	ck_assert_int_eq(static_cache_fill(croot, "dlink/e/f.txt"), -ELOOP);
	/* Not a regular file, not there. */
	ck_assert_int_eq(static_cache_fill(croot, "d"), -EFBIG);
	ck_assert_int_eq(static_cache_fill(croot, "nope"), -ENOENT);
	/* The size limit, exactly. */
	memset(big, 'x', STATIC_CACHE_FILE_MAX);
	put("max.bin", big);
	ck_assert_int_eq(static_cache_fill(croot, "max.bin"), 0);
	big[STATIC_CACHE_FILE_MAX] = 'x';
	put("over.bin", big);
	ck_assert_int_eq(static_cache_fill(croot, "over.bin"), -EFBIG);
	ck_assert_ptr_null(cached("over.bin"));
	ck_assert_uint_eq(croot->cache.bytes, 0); /* put() emptied the cache */

	/* A budget of 6 bytes: "one\n" fits, "gee\n" then does not. */
	ck_assert_int_eq(static_open(&small, cpath(""), 6, err, sizeof err), 0);
	ck_assert_int_eq(static_cache_fill(small, "d/e/f.txt"), 0);
	ck_assert_int_eq(static_cache_fill(small, "g.txt"), -ENOSPC);
	ck_assert_uint_eq(small->cache.bytes, 4);
	ck_assert_int_eq(static_cache_fill(small, "max.bin"), -EFBIG);
	static_close(small);
}
END_TEST

/* Past the watch bound the cache starts afresh, and the fill still inserts. */
START_TEST(test_cache_watch_bound)
{
	uint64_t gen;
	char *b;

	ck_assert_int_eq(static_cache_fill(croot, "g.txt"), 0);
	gen = croot->cache.generation;
	croot->cache.watch_top = STATIC_CACHE_WATCH_MAX + 1;
	ck_assert_int_eq(static_cache_fill(croot, "d/e/f.txt"), 0);
	ck_assert_uint_gt(croot->cache.generation, gen);
	ck_assert_ptr_null(cached("g.txt"));
	b = cached("d/e/f.txt");
	ck_assert_str_eq(b, "one\n");
	free(b);
	/* root, d, d/e and the file: the new instance's watches */
	ck_assert_int_le(croot->cache.watch_top, 4);
}
END_TEST

/* An idle cache lets go of its entries and watches, and fills again as before; a stopped
 * one (shutting down) makes no more entries. */
START_TEST(test_cache_idle_and_stop)
{
	char *b;

	ck_assert_int_eq(static_cache_fill(croot, "g.txt"), 0);
	static_cache_idle(croot); /* used since the last look: kept */
	ck_assert_uint_eq(croot->cache.entries, 1);
	static_cache_idle(croot); /* unused since: emptied, the watches removed */
	ck_assert_uint_eq(croot->cache.entries, 0);
	ck_assert_int_gt(croot->cache.watch_low, croot->cache.watch_top);
	ck_assert_int_eq(static_cache_fill(croot, "g.txt"), 0);
	b = cached("g.txt");
	ck_assert_str_eq(b, "gee\n");
	free(b);
	/* The new watches see a change as the first ones did. */
	rewrite_same("g.txt", "GEE\n");
	ck_assert_ptr_null(cached("g.txt"));
	ck_assert_int_eq(static_cache_fill(croot, "g.txt"), 0);
	static_cache_stop(croot);
	ck_assert_uint_eq(croot->cache.entries, 0);
	ck_assert_int_gt(croot->cache.watch_low, croot->cache.watch_top);
	ck_assert_int_eq(static_cache_fill(croot, "g.txt"), -ECANCELED);
	ck_assert_ptr_null(cached("g.txt"));
}
END_TEST

static Suite *static_suite(void)
{
	Suite *s = suite_create("static");
	TCase *tc = tcase_create("text");
	TCase *fs = tcase_create("files");
	TCase *cache = tcase_create("cache");

	tcase_add_loop_test(tc, test_clean_path, 0, sizeof clean_cases / sizeof clean_cases[0]);
	tcase_add_test(tc, test_clean_path_limits);
	tcase_add_test(tc, test_mime);
	tcase_add_test(tc, test_dates);
	suite_add_tcase(s, tc);
	tcase_add_checked_fixture(fs, tree_setup, tree_teardown);
	tcase_add_test(fs, test_open_errors);
	tcase_add_loop_test(fs, test_resolve, 0, 2);
	suite_add_tcase(s, fs);
	tcase_add_checked_fixture(cache, cache_setup, cache_teardown);
	tcase_add_test(cache, test_cache_hit);
	tcase_add_loop_test(cache, test_cache_change_after, 0,
			    sizeof changes / sizeof changes[0]);
	tcase_add_loop_test(cache, test_cache_change_during, 0,
			    3 * (sizeof changes / sizeof changes[0]));
	tcase_add_test(cache, test_cache_refusals);
	tcase_add_test(cache, test_cache_watch_bound);
	tcase_add_test(cache, test_cache_idle_and_stop);
	suite_add_tcase(s, cache);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(static_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
