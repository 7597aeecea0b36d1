/*
 * check_filecache: unit tests of the small-file cache: hits, every change that must empty
 * it (after a fill and between a fill's steps), what it refuses to hold, its budget, its
 * watch bound, idling and stopping, that no thread is signalled of changes, and two
 * threads on their own shards. It includes
 * filecache.c itself to reach the cache's insides and to change files between the steps of
 * a fill (FILECACHE_HOOK). A test's thread fills and serves one shard: the one sh() gives.
 */
static void cache_hook(int step);
#define FILECACHE_HOOK(step) cache_hook(step)

#include "filecache.c"

#include <check.h>
#include <sched.h>
#include <sys/syscall.h>
#include <sys/types.h>

/* The calling thread's shard of k: what its fills and lookups use. */
static struct filecache_shard *sh(struct filecache *k)
{
	return filecache_shard(k);
}

/* The cache: a tree made fresh for each test, a root opened on it, and changes applied
 * either between tests' steps or from inside a fill (cache_hook). */
static char ctree[64];
static int croot = -1;            /* the root directory */
static struct filecache *cache;
/* What this thread's last cached answer was built for. */
static _Thread_local char headers_path[256];
static int hook_step;             /* the fill step to change things at; 0 = none */
static void (*hook_change)(void); /* the change */

/* The headers static.c adds (Last-Modified, Content-Type) are its own business: here the
 * hook notes which file it was asked about, and adds none. */
static int note_headers(struct MHD_Response *resp, const char *path, time_t mtime)
{
	(void)resp;
	(void)mtime;
	snprintf(headers_path, sizeof headers_path, "%s", path);
	return 0;
}

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
	strcpy(ctree, "/tmp/check_filecache.XXXXXX");
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
	headers_path[0] = '\0';
	croot = open(cpath(""), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(croot, 0);
	ck_assert_int_eq(filecache_new(&cache, croot, FILECACHE_BYTES_MAX, note_headers), 0);
}

static void cache_teardown(void)
{
	char cmd[128];

	filecache_free(cache);
	cache = NULL;
	close(croot);
	croot = -1;
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", ctree);
	ck_assert_int_eq(system(cmd), 0);
}

/* What a request for rel would get from the cache now: a copy of the bytes, or NULL. */
static char *cached(const char *rel)
{
	struct filecache_shard *s = sh(cache);
	const struct filecache_entry *e;
	char *copy = NULL;

	pthread_mutex_lock(&s->lock);
	e = filecache_find(s, rel);
	if (e != NULL) {
		copy = malloc(e->size + 1);
		ck_assert_ptr_nonnull(copy);
		memcpy(copy, e->bytes, e->size);
		copy[e->size] = '\0';
	}
	pthread_mutex_unlock(&s->lock);
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
	ck_assert_int_eq(filecache_fill(cache, "d/e/f.txt"), 0);
	ck_assert_int_eq(filecache_fill(cache, "g.txt"), 0);
	ck_assert_str_eq(headers_path, "g.txt");
	b = cached("d/e/f.txt");
	ck_assert_str_eq(b, "one\n");
	free(b);
	b = cached("g.txt");
	ck_assert_str_eq(b, "gee\n");
	free(b);
	ck_assert_uint_eq(sh(cache)->entries, 2);
	ck_assert_uint_eq(sh(cache)->bytes, 8);
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

	ck_assert_int_eq(filecache_fill(cache, "d/e/f.txt"), 0);
	b = cached("d/e/f.txt");
	ck_assert_str_eq(b, "one\n");
	free(b);
	instance = sh(cache)->inotify;
	changes[_i].fn();
	ck_assert_msg(cached("d/e/f.txt") == NULL, "%s: still cached", changes[_i].name);
	ck_assert_uint_eq(sh(cache)->entries, 0);
	ck_assert_uint_eq(sh(cache)->bytes, 0);
	/* Emptied, not closed: a close waits for the kernel's mark reaper. */
	ck_assert_int_eq(sh(cache)->inotify, instance);
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
	rc = filecache_fill(cache, "d/e/f.txt");
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
	static char big[FILECACHE_FILE_MAX + 2];
	struct filecache *small;

	/* Symlinks anywhere on the path: served, never cached. */
	ck_assert_int_eq(filecache_fill(cache, "link"), -ELOOP);
	ck_assert_int_eq(filecache_fill(cache, "dlink/e/f.txt"), -ELOOP);
	/* Not a regular file, not there. */
	ck_assert_int_eq(filecache_fill(cache, "d"), -EFBIG);
	ck_assert_int_eq(filecache_fill(cache, "nope"), -ENOENT);
	/* The size limit, exactly. */
	memset(big, 'x', FILECACHE_FILE_MAX);
	put("max.bin", big);
	ck_assert_int_eq(filecache_fill(cache, "max.bin"), 0);
	big[FILECACHE_FILE_MAX] = 'x';
	put("over.bin", big);
	ck_assert_int_eq(filecache_fill(cache, "over.bin"), -EFBIG);
	ck_assert_ptr_null(cached("over.bin"));
	ck_assert_uint_eq(sh(cache)->bytes, 0); /* put() emptied the cache */

	/* A budget of 6 bytes: "one\n" fits, "gee\n" then does not. */
	ck_assert_int_eq(filecache_new(&small, croot, 6, note_headers), 0);
	ck_assert_int_eq(filecache_fill(small, "d/e/f.txt"), 0);
	ck_assert_int_eq(filecache_fill(small, "g.txt"), -ENOSPC);
	ck_assert_uint_eq(sh(small)->bytes, 4);
	ck_assert_int_eq(filecache_fill(small, "max.bin"), -EFBIG);
	ck_assert_uint_eq(small->nshards, 1);
	filecache_free(small);

	/* The budget is split between the shards, each able to hold a largest file. */
	ck_assert_uint_eq(cache->nshards, FILECACHE_SHARDS);
	ck_assert_uint_eq(sh(cache)->budget, FILECACHE_BYTES_MAX / FILECACHE_SHARDS);
	ck_assert_int_eq(filecache_new(&small, croot, 2 * FILECACHE_FILE_MAX + 1, note_headers), 0);
	ck_assert_uint_eq(small->nshards, 2);
	ck_assert_int_eq(filecache_fill(small, "max.bin"), 0);
	ck_assert_int_eq(filecache_fill(small, "g.txt"), -ENOSPC);
	filecache_free(small);
}
END_TEST

/* Past the watch bound the cache starts afresh, and the fill still inserts. */
START_TEST(test_cache_watch_bound)
{
	uint64_t gen;
	char *b;

	ck_assert_int_eq(filecache_fill(cache, "g.txt"), 0);
	gen = sh(cache)->generation;
	sh(cache)->watch_top = FILECACHE_WATCH_MAX + 1;
	ck_assert_int_eq(filecache_fill(cache, "d/e/f.txt"), 0);
	ck_assert_uint_gt(sh(cache)->generation, gen);
	ck_assert_ptr_null(cached("g.txt"));
	b = cached("d/e/f.txt");
	ck_assert_str_eq(b, "one\n");
	free(b);
	/* root, d, d/e and the file: the new instance's watches */
	ck_assert_int_le(sh(cache)->watch_top, 4);
}
END_TEST

/* An idle cache lets go of its entries and watches, and fills again as before; a stopped
 * one (shutting down) makes no more entries. */
START_TEST(test_cache_idle_and_stop)
{
	char *b;

	ck_assert_int_eq(filecache_fill(cache, "g.txt"), 0);
	filecache_idle(cache); /* used since the last look: kept */
	ck_assert_uint_eq(sh(cache)->entries, 1);
	filecache_idle(cache); /* unused since: emptied, the watches removed */
	ck_assert_uint_eq(sh(cache)->entries, 0);
	ck_assert_int_gt(sh(cache)->watch_low, sh(cache)->watch_top);
	ck_assert_int_eq(filecache_fill(cache, "g.txt"), 0);
	b = cached("g.txt");
	ck_assert_str_eq(b, "gee\n");
	free(b);
	/* The new watches see a change as the first ones did. */
	rewrite_same("g.txt", "GEE\n");
	ck_assert_ptr_null(cached("g.txt"));
	ck_assert_int_eq(filecache_fill(cache, "g.txt"), 0);
	filecache_stop(cache);
	ck_assert_uint_eq(sh(cache)->entries, 0);
	ck_assert_int_gt(sh(cache)->watch_low, sh(cache)->watch_top);
	ck_assert_int_eq(filecache_fill(cache, "g.txt"), -ECANCELED);
	ck_assert_ptr_null(cached("g.txt"));
}
END_TEST

/* A change made by another thread, on its own. */
static void *change_thread_run(void *arg)
{
	(void)arg;
	rewrite_same("d/e/f.txt", "two\n");
	return NULL;
}

static void change_from_thread(void)
{
	pthread_t t;

	ck_assert_int_eq(pthread_create(&t, NULL, change_thread_run, NULL), 0);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
}

/* No change is signalled to a thread (a signal inside a worker's sendfile() stalls its
 * download): the instance has no owner and does not raise SIGIO, and a change made from
 * another thread is still seen by the next lookup. */
START_TEST(test_cache_no_signals)
{
	struct f_owner_ex o = { .type = F_OWNER_TID, .pid = -1 };

	ck_assert_int_eq(filecache_fill(cache, "d/e/f.txt"), 0);
	ck_assert_int_eq(fcntl(sh(cache)->inotify, F_GETFL) & O_ASYNC, 0);
	ck_assert_int_eq(fcntl(sh(cache)->inotify, F_GETOWN_EX, &o), 0);
	ck_assert_int_eq(o.pid, 0);
	free(cached("d/e/f.txt"));
	change_from_thread();
	ck_assert_ptr_null(cached("d/e/f.txt"));
}
END_TEST

static void *fill_thread_run(void *arg)
{
	*(unsigned *)arg = filecache_me();
	ck_assert_int_eq(filecache_fill(cache, "d/e/f.txt"), 0);
	return NULL;
}

/* A shard another thread filled (one shard for all, that thread gone): this thread's
 * lookups see a change. */
START_TEST(test_cache_shared_shard)
{
	pthread_t t;
	unsigned other = 0;
	char *b;

	filecache_free(cache);
	ck_assert_int_eq(filecache_new(&cache, croot, FILECACHE_FILE_MAX, note_headers), 0);
	ck_assert_uint_eq(cache->nshards, 1);
	ck_assert_int_eq(pthread_create(&t, NULL, fill_thread_run, &other), 0);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_uint_ne(other, filecache_me());
	b = cached("d/e/f.txt");
	ck_assert_str_eq(b, "one\n");
	free(b);
	rewrite_same("d/e/f.txt", "two\n");
	ck_assert_ptr_null(cached("d/e/f.txt"));
}
END_TEST

/* Two threads, each on its own shard, look up and fill one file while this one replaces it
 * again and again: a lookup that begins after a rename() returned must never get an older
 * version. A version is published (version) only once its rename() has returned. */
#define THREAD_VERSIONS 100

static atomic_int version;
static atomic_bool threads_done;

struct cache_thread {
	pthread_t id;
	struct filecache_shard *shard; /* the one it used */
	atomic_uint lookups;
	unsigned hits, stale;          /* read once it is joined */
};

static void *cache_thread_run(void *arg)
{
	struct cache_thread *t = arg;

	t->shard = sh(cache);
	while (!atomic_load(&threads_done)) {
		int v = atomic_load(&version), got;
		char *b;

		/* In the daemon a request reaches its worker through a system call (the recv()
		 * that reads it), and the cache counts on that (filecache_quiet): so here too. */
		(void)syscall(SYS_getppid);
		b = cached("d/e/f.txt");

		if (b != NULL) {
			if (sscanf(b, "v%d", &got) != 1 || got < v)
				t->stale++;
			t->hits++;
			free(b);
		}
		atomic_fetch_add(&t->lookups, 1);
		(void)filecache_fill(cache, "d/e/f.txt");
	}
	return NULL;
}

START_TEST(test_cache_threads)
{
	struct cache_thread t[2] = { 0 };
	char text[32];
	unsigned i, j, seen[2];

	put("d/e/f.txt", "v0\n");
	atomic_store(&version, 0);
	atomic_store(&threads_done, false);
	for (j = 0; j < 2; j++)
		ck_assert_int_eq(pthread_create(&t[j].id, NULL, cache_thread_run, &t[j]), 0);
	for (i = 1; i <= THREAD_VERSIONS; i++) {
		/* Let each thread look a few times at this version: a miss, a fill, hits. */
		for (j = 0; j < 2; j++)
			seen[j] = atomic_load(&t[j].lookups);
		for (j = 0; j < 2; j++)
			while (atomic_load(&t[j].lookups) < seen[j] + 4)
				sched_yield();
		snprintf(text, sizeof text, "v%u\n", i);
		put("d/e/new", text);
		ck_assert_int_eq(rename(cpath("d/e/new"), cpath("d/e/f.txt")), 0);
		atomic_store(&version, (int)i);
	}
	atomic_store(&threads_done, true);
	for (j = 0; j < 2; j++)
		ck_assert_int_eq(pthread_join(t[j].id, NULL), 0);
	ck_assert_ptr_ne(t[0].shard, t[1].shard);
	for (j = 0; j < 2; j++) {
		ck_assert_msg(t[j].stale == 0, "thread %u: %u stale answers", j, t[j].stale);
		ck_assert_msg(t[j].hits > 0, "thread %u: no hits", j);
	}
	/* Stopping, from yet another thread, empties every shard and removes its watches. */
	filecache_stop(cache);
	for (j = 0; j < 2; j++) {
		ck_assert_uint_eq(t[j].shard->entries, 0);
		ck_assert_int_gt(t[j].shard->watch_low, t[j].shard->watch_top);
	}
}
END_TEST

static Suite *filecache_suite(void)
{
	Suite *s = suite_create("filecache");
	TCase *tc = tcase_create("cache");

	tcase_add_checked_fixture(tc, cache_setup, cache_teardown);
	tcase_add_test(tc, test_cache_hit);
	tcase_add_loop_test(tc, test_cache_change_after, 0,
			    sizeof changes / sizeof changes[0]);
	tcase_add_loop_test(tc, test_cache_change_during, 0,
			    3 * (sizeof changes / sizeof changes[0]));
	tcase_add_test(tc, test_cache_refusals);
	tcase_add_test(tc, test_cache_watch_bound);
	tcase_add_test(tc, test_cache_idle_and_stop);
	tcase_add_test(tc, test_cache_no_signals);
	tcase_add_test(tc, test_cache_shared_shard);
	tcase_add_test(tc, test_cache_threads);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(filecache_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
