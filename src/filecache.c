/*
 * filecache: the small-file cache. A regular file of at most FILECACHE_FILE_MAX bytes,
 * reached from the root without any symlink, is answered from a response built once (its
 * bytes, and the headers the caller adds: Last-Modified, Content-Type) and shared by every
 * request for it, until anything changes.
 *
 * Change is seen by inotify, not by looking at the file: before an entry is made, one
 * inotify instance gets a watch on the root, on every directory on the file's path and on
 * the file itself. Any event from any of them (a write, truncate, chmod, rename, create,
 * unlink, a directory moved or removed) or a queue overflow empties the whole cache. The
 * kernel queues an inotify event inside the changing system call, before it returns; every
 * request that could be answered from the cache first takes the pending events under the
 * cache lock. So a request that begins after a write(), rename(), unlink() or chmod() has
 * returned never gets the file as it was before: it finds the event, empties the cache and
 * takes the uncached path. Taking the events and emptying share the lock so that no
 * request can find the queue drained by another whose emptying has not happened yet.
 *
 * Taking the events costs a read() per cached answer (one that finds nothing, a few
 * hundred nanoseconds). An earlier version skipped it by having each event signal the
 * worker that owned the instance (SIGIO): a signal that lands inside sendfile() makes it
 * return short, libmicrohttpd 0.9.75 takes a short send for a full socket buffer and
 * waits for an edge that never comes, so a download stalled for good whenever a file
 * changed under the root. No signal is ever directed at a thread that does
 * libmicrohttpd's I/O; exactness is worth the read.
 *
 * The cache is sharded by worker thread: up to FILECACHE_SHARDS shards, each a whole cache
 * of its own (lock, inotify instance, watches, generation, entries, a share of the budget),
 * and a thread fills and serves only its own (filecache_shard). Every request takes a lock
 * and reads an inotify queue; with one shared lock the workers waited on each other for
 * it back to back (about 5% of the daemon's CPU in futex calls at 1000 keep-alive
 * connections; sharded, the daemon spends about 5% less CPU per request there). Everything said here holds per shard: the kernel queues an event in every
 * instance that watches the inode, each inside the changing call. The price: a file can
 * be held once per shard, so the budget holds fewer distinct files, and a file is read
 * once per shard before every worker answers it from memory.
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
 * An entry is made on a miss, and must not race with a change (filecache_fill): the
 * watches are added first and the cache's generation noted (every emptying bumps it); then
 * the path is walked again and must reach the same directories and file, the file is
 * reopened (so permissions are checked as now) and read, and it is inserted only if the
 * generation has not moved meanwhile. A change before the watches existed is in what the
 * second walk and the read see; a change after them is an event.
 *
 * Bounds, per shard: FILECACHE_SLOTS entries (direct-mapped by a hash of the path, so a
 * colliding file replaces the one before), file bytes at most the shard's share of the
 * budget (the budget, default and maximum 256 x 64 KiB = 16 MiB, split evenly; a budget
 * below FILECACHE_SHARDS x 64 KiB makes fewer shards, so that each can hold a largest
 * file), FILECACHE_WATCH_MAX watch descriptors per instance: past that the shard is
 * emptied and its instance made anew, which drops the watches of files no longer cached.
 * In all: the budget's bytes, and at most FILECACHE_SHARDS instances and
 * FILECACHE_SHARDS x FILECACHE_WATCH_MAX watches.
 */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "filecache.h"

#define FILECACHE_SHARDS 4 /* at most; threads beyond share them */
#define FILECACHE_SLOTS 256
#define FILECACHE_WATCH_MAX 1024
#define FILECACHE_BYTES_MAX (FILECACHE_SLOTS * FILECACHE_FILE_MAX)
#define FILECACHE_DEPTH 16 /* path components of a cached file, itself included */
#define FILECACHE_DRAIN_READS 16 /* reads of the queue per drain; the rest wait */
#define FILECACHE_EVENTS                                                               \
	(IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | \
	 IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF)

/* Tests hook in between the steps of filling an entry, to change files there. */
#ifndef FILECACHE_HOOK
#define FILECACHE_HOOK(step) ((void)0)
#endif

struct filecache_entry {
	char *path;                /* the clean path of the file; NULL when the slot is free */
	struct MHD_Response *resp; /* holds one reference; queued as it is */
	const char *bytes;         /* the body, owned by resp */
	size_t size;
	time_t mtime;              /* for If-Modified-Since */
};

/* A whole cache of its own, used by the threads that filecache_shard() maps to it. */
struct filecache_shard {
	size_t budget;               /* file bytes allowed in this shard */
	pthread_mutex_t watch_lock;  /* taken by fills only, before lock */
	int watch_top;               /* the highest watch descriptor (under watch_lock) */
	int watch_low;               /* the lowest that may still be live (under watch_lock) */
	bool stopped;                /* no more fills: shutting down (under watch_lock) */
	pthread_mutex_t lock;        /* guards what follows */
	int inotify;                 /* -1 until the first fill; replaced under both locks */
	uint64_t generation;         /* bumped by every emptying */
	size_t bytes;                /* file bytes held */
	bool used;                   /* a lookup or fill since the last filecache_idle() */
	unsigned entries;
	struct filecache_entry slot[FILECACHE_SLOTS];
};

struct filecache {
	int root;                    /* the root directory, the caller's descriptor */
	filecache_headers_fn *headers; /* what a cached answer carries besides its body */
	unsigned nshards;            /* 1 to FILECACHE_SHARDS */
	struct filecache_shard shard[FILECACHE_SHARDS];
};

/* Each thread's shard number, 1 + a count taken on its first use (0: none yet); shared by
 * every cache in the process. Consecutive threads get different shards. */
static atomic_uint filecache_threads;
static _Thread_local unsigned filecache_thread;
/* The calling thread's number: never 0, and never another thread's, even after one ends. */
static unsigned filecache_me(void)
{
	if (filecache_thread == 0)
		filecache_thread = atomic_fetch_add_explicit(&filecache_threads, 1,
							     memory_order_relaxed) + 1;
	return filecache_thread;
}

/* The calling thread's shard of k. */
static struct filecache_shard *filecache_shard(struct filecache *k)
{
	return &k->shard[(filecache_me() - 1) % k->nshards];
}

static unsigned filecache_slot(const char *path)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (; *path != '\0'; path++)
		h = (h ^ (unsigned char)*path) * 16777619u;
	return h % FILECACHE_SLOTS;
}

/* Empties the cache: every entry goes (requests that queued one keep it alive until they
 * are done), and the generation moves, so that no fill begun before can insert. The
 * watches stay. Called with the lock held. */
static void filecache_flush(struct filecache_shard *s)
{
	unsigned i;

	for (i = 0; i < FILECACHE_SLOTS; i++) {
		struct filecache_entry *e = &s->slot[i];

		if (e->path == NULL)
			continue;
		MHD_destroy_response(e->resp);
		free(e->path);
		*e = (struct filecache_entry){ 0 };
	}
	s->bytes = 0;
	s->entries = 0;
	s->generation++;
}

/* Takes what the inotify queue holds: any event, an overflow or an error empties the cache.
 * Which file changed is not looked at, since any change empties everything. The queue is
 * read until it is empty, so that old events do not empty the cache again later; a writer
 * faster than that leaves some for the next drain, which empties again. Called with the
 * lock held. */
static void filecache_drain(struct filecache_shard *s)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool changed = false;
	int i;

	if (s->inotify < 0)
		return;
	for (i = 0; i < FILECACHE_DRAIN_READS; i++) {
		if (read(s->inotify, buf, sizeof buf) < 0 && errno == EAGAIN)
			break;
		changed = true;
	}
	if (changed)
		filecache_flush(s);
}

/* The entry for path, after taking the pending events; NULL if there is none. With no
 * entries there is nothing an event could make stale: the read waits for the next fill,
 * which drains before it inserts. Called with the lock held. */
static const struct filecache_entry *filecache_find(struct filecache_shard *s, const char *path)
{
	const struct filecache_entry *e = &s->slot[filecache_slot(path)];

	if (s->entries == 0)
		return NULL;
	filecache_drain(s);
	return e->path != NULL && strcmp(e->path, path) == 0 ? e : NULL;
}

/* Every worker takes its shard's lock once per request, for a few hundred nanoseconds (one
 * read() that finds nothing). With more threads than shards, or a filecache_idle() from
 * another thread, two can meet there: a short spin before sleeping beats a futex round
 * trip. (With one lock for all, profiled with two workers under wrk, the plain mutex spent
 * about 4% of the daemon's CPU in futex calls, the adaptive one under 1%.) */
static void filecache_lock_init(pthread_mutex_t *m)
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

/* The shards share the budget evenly, and there are no more of them than can each hold a
 * largest file: a small budget makes one shard with all of it. */
int filecache_new(struct filecache **out, int root, size_t budget, filecache_headers_fn *headers)
{
	struct filecache *k = calloc(1, sizeof *k);
	unsigned i;

	*out = NULL;
	if (k == NULL)
		return -ENOMEM;
	if (budget > FILECACHE_BYTES_MAX)
		budget = FILECACHE_BYTES_MAX;
	k->root = root;
	k->headers = headers;
	k->nshards = budget / FILECACHE_FILE_MAX < FILECACHE_SHARDS
			     ? (unsigned)(budget / FILECACHE_FILE_MAX)
			     : FILECACHE_SHARDS;
	if (k->nshards == 0)
		k->nshards = 1;
	for (i = 0; i < k->nshards; i++) {
		struct filecache_shard *s = &k->shard[i];

		filecache_lock_init(&s->lock);
		pthread_mutex_init(&s->watch_lock, NULL);
		s->inotify = -1;
		s->watch_low = 1;
		s->budget = budget / k->nshards;
	}
	*out = k;
	return 0;
}

void filecache_free(struct filecache *k)
{
	unsigned i;

	if (k == NULL)
		return;
	for (i = 0; i < k->nshards; i++) {
		struct filecache_shard *s = &k->shard[i];

		filecache_flush(s);
		if (s->inotify >= 0)
			close(s->inotify);
		pthread_mutex_destroy(&s->lock);
		pthread_mutex_destroy(&s->watch_lock);
	}
	free(k);
}

enum filecache_result filecache_serve(struct filecache *k, struct MHD_Connection *c,
				      const char *path, const time_t *since, time_t *mtime,
				      enum MHD_Result *ret)
{
	struct filecache_shard *s = filecache_shard(k);
	const struct filecache_entry *e;
	enum filecache_result res = FILECACHE_MISS;

	pthread_mutex_lock(&s->lock);
	s->used = true;
	e = filecache_find(s, path);
	if (e != NULL && since != NULL && e->mtime <= *since) {
		*mtime = e->mtime;
		res = FILECACHE_CURRENT;
	} else if (e != NULL) {
		/* Queued under the lock, so that an emptying cannot free it meanwhile; once
		 * queued, libmicrohttpd holds a reference of its own. */
		*ret = MHD_queue_response(c, MHD_HTTP_OK, e->resp);
		res = FILECACHE_SENT;
	}
	pthread_mutex_unlock(&s->lock);
	return res;
}

/* The directories and the file that a clean path names, each opened O_PATH from the root
 * without following any symlink, with their identities. */
struct filecache_chain {
	int n;                      /* components opened; fd[n - 1] is the file */
	int fd[FILECACHE_DEPTH];
	dev_t dev[FILECACHE_DEPTH];
	ino_t ino[FILECACHE_DEPTH];
};

static void filecache_chain_close(struct filecache_chain *ch)
{
	while (ch->n > 0)
		close(ch->fd[--ch->n]);
}

/* Opens the chain of path. Returns 0 when every component but the last is a directory and
 * the last a regular file of at most max bytes; else -errno (-ELOOP for a symlink), with
 * nothing left open. A path through a symlink is never cached: a watch on a link's
 * directory does not see changes where it leads. */
static int filecache_chain_open(int root, const char *path, size_t max,
				struct filecache_chain *ch)
{
	char name[NAME_MAX + 1];
	int rc = 0, fd;

	ch->n = 0;
	for (;;) {
		const char *sep = strchr(path, '/');
		size_t len = sep != NULL ? (size_t)(sep - path) : strlen(path);
		struct stat st;

		if (ch->n == FILECACHE_DEPTH || len == 0 || len > NAME_MAX) {
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
		filecache_chain_close(ch);
	return rc;
}

static bool filecache_chain_same(const struct filecache_chain *a,
				 const struct filecache_chain *b)
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
static int filecache_watch(struct filecache_shard *s, int fd)
{
	char link[32];
	int wd;

	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	wd = inotify_add_watch(s->inotify, link, FILECACHE_EVENTS);
	if (wd < 0)
		return -errno;
	if (wd > s->watch_top)
		s->watch_top = wd;
	return 0;
}

/* Reads a whole small file: up to size bytes; fewer at its end. */
static ssize_t filecache_read_all(int fd, char *buf, size_t size)
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

static bool filecache_stat_same(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* Builds the shared answer for a file's bytes (taking them) as the uncached path would
 * send it: the caller's headers (Last-Modified and Content-Type) say how. */
static struct MHD_Response *filecache_response(struct filecache *k, const char *path,
					       char *bytes, size_t size, time_t mtime)
{
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(size, bytes, MHD_RESPMEM_MUST_FREE);

	if (resp == NULL) {
		free(bytes);
		return NULL;
	}
	if (k->headers(resp, path, mtime) < 0) {
		MHD_destroy_response(resp);
		return NULL;
	}
	return resp;
}

/* Makes sure there is an instance with room for a fill's watches: past the bound, a new
 * one replaces it (and the cache is emptied, its entries being watched by the old one).
 * The old one is closed with only watch_lock held: that close can take milliseconds.
 * Called with watch_lock held. */
static int filecache_instance(struct filecache_shard *s)
{
	int fd, old = -1;

	if (s->inotify >= 0 && s->watch_top <= FILECACHE_WATCH_MAX)
		return 0;
	fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (fd < 0)
		return -errno;
	pthread_mutex_lock(&s->lock);
	old = s->inotify;
	s->inotify = fd;
	filecache_flush(s);
	pthread_mutex_unlock(&s->lock);
	s->watch_top = 0;
	s->watch_low = 1;
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
static void filecache_release(struct filecache_shard *s)
{
	int wd;

	pthread_mutex_lock(&s->lock);
	filecache_flush(s);
	s->used = false;
	pthread_mutex_unlock(&s->lock);
	for (wd = s->watch_low; s->inotify >= 0 && wd <= s->watch_top; wd++)
		inotify_rm_watch(s->inotify, wd);
	s->watch_low = s->watch_top + 1;
}

void filecache_stop(struct filecache *k)
{
	unsigned i;

	if (k == NULL)
		return;
	for (i = 0; i < k->nshards; i++) {
		struct filecache_shard *s = &k->shard[i];

		pthread_mutex_lock(&s->watch_lock);
		s->stopped = true;
		filecache_release(s);
		pthread_mutex_unlock(&s->watch_lock);
	}
}

/* Each shard on its own: one a busy thread uses stays while an idle one's goes. */
void filecache_idle(struct filecache *k)
{
	unsigned i;
	bool used;

	if (k == NULL)
		return;
	for (i = 0; i < k->nshards; i++) {
		struct filecache_shard *s = &k->shard[i];

		pthread_mutex_lock(&s->watch_lock);
		pthread_mutex_lock(&s->lock);
		used = s->used;
		s->used = false;
		pthread_mutex_unlock(&s->lock);
		if (!used && s->watch_top >= s->watch_low)
			filecache_release(s);
		pthread_mutex_unlock(&s->watch_lock);
	}
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
 * All of it in the calling thread's shard, with that shard's instance and locks.
 */
int filecache_fill(struct filecache *k, const char *path)
{
	struct filecache_shard *s = filecache_shard(k);
	size_t max = s->budget < FILECACHE_FILE_MAX ? s->budget : FILECACHE_FILE_MAX;
	struct filecache_chain first, again;
	struct filecache_entry e = { 0 }, old = { 0 }, *slot;
	struct stat before, after;
	uint64_t generation;
	char link[32], *bytes = NULL;
	int fd = -1, i, rc;

	rc = filecache_chain_open(k->root, path, max, &first);
	if (rc < 0)
		return rc;
	FILECACHE_HOOK(1);
	pthread_mutex_lock(&s->watch_lock);
	rc = s->stopped ? -ECANCELED : filecache_instance(s);
	if (rc == 0)
		rc = filecache_watch(s, k->root);
	for (i = 0; rc == 0 && i < first.n; i++)
		rc = filecache_watch(s, first.fd[i]);
	pthread_mutex_lock(&s->lock);
	filecache_drain(s);
	generation = s->generation;
	pthread_mutex_unlock(&s->lock);
	pthread_mutex_unlock(&s->watch_lock);
	if (rc < 0)
		goto out;
	FILECACHE_HOOK(2);

	rc = filecache_chain_open(k->root, path, max, &again);
	if (rc < 0)
		goto out;
	if (filecache_chain_same(&first, &again)) {
		snprintf(link, sizeof link, "/proc/self/fd/%d", again.fd[again.n - 1]);
		fd = open(link, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
		rc = fd < 0 ? -errno : 0;
	} else {
		rc = -ESTALE;
	}
	filecache_chain_close(&again);
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
	if (filecache_read_all(fd, bytes, e.size + 1) != (ssize_t)e.size || fstat(fd, &after) < 0 ||
	    !filecache_stat_same(&before, &after)) {
		rc = -ESTALE;
		goto out;
	}
	FILECACHE_HOOK(3);
	e.bytes = bytes;
	e.resp = filecache_response(k, path, bytes, e.size, e.mtime);
	bytes = NULL; /* the response owns it now, or freed it */
	if (e.resp == NULL) {
		rc = -ENOMEM;
		goto out;
	}

	pthread_mutex_lock(&s->lock);
	filecache_drain(s);
	slot = &s->slot[filecache_slot(path)];
	if (s->generation != generation) {
		rc = -ESTALE;
	} else if (s->bytes - slot->size + e.size > s->budget) {
		rc = -ENOSPC; /* full: this file waits for the next emptying */
	} else {
		old = *slot;
		*slot = e;
		s->bytes = s->bytes - old.size + e.size;
		s->entries += old.path == NULL;
		s->used = true;
		e = (struct filecache_entry){ 0 };
		rc = 0;
	}
	pthread_mutex_unlock(&s->lock);
out:
	/* What did not go into the cache, and what an insert replaced. */
	MHD_destroy_response(e.resp);
	MHD_destroy_response(old.resp);
	free(e.path);
	free(old.path);
	free(bytes);
	if (fd >= 0)
		close(fd);
	filecache_chain_close(&first);
	return rc;
}
