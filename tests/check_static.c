/*
 * check_static: unit tests of the static module's path, type, date and open logic (the
 * small-file cache has its own, check_filecache). It includes static.c itself to reach the
 * file's internal functions, and to run the component walk (the fallback for kernels
 * without openat2) on this kernel too.
 */
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

static Suite *static_suite(void)
{
	Suite *s = suite_create("static");
	TCase *tc = tcase_create("text");
	TCase *fs = tcase_create("files");

	tcase_add_loop_test(tc, test_clean_path, 0, sizeof clean_cases / sizeof clean_cases[0]);
	tcase_add_test(tc, test_clean_path_limits);
	tcase_add_test(tc, test_mime);
	tcase_add_test(tc, test_dates);
	suite_add_tcase(s, tc);
	tcase_add_checked_fixture(fs, tree_setup, tree_teardown);
	tcase_add_test(fs, test_open_errors);
	tcase_add_loop_test(fs, test_resolve, 0, 2);
	suite_add_tcase(s, fs);
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
