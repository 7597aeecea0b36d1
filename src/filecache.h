/*
 * filecache: the small-file cache behind the static module. Small regular files below a
 * root are answered from a response built once and shared by every request for them, and
 * inotify keeps it exact: a request that begins after a change to a file returned (write,
 * rename, unlink, chmod) never gets the file as it was. See filecache.c for how, and for
 * what inotify cannot see.
 *
 * The cache knows files, not HTTP requests: the caller cleans the path, checks
 * If-Modified-Since and answers 304 itself, and says which headers a file's answer carries.
 */
#ifndef SERVICED_FILECACHE_H
#define SERVICED_FILECACHE_H

#include <stddef.h>
#include <time.h>
#include <microhttpd.h>

struct filecache;

/* The largest file the cache holds. */
#define FILECACHE_FILE_MAX ((size_t)64 * 1024)

/* Adds to a cached file's response the headers that go with its bytes, so that a cached
 * answer is the one the caller would send uncached (static.c: Last-Modified from mtime,
 * Content-Type from path). Returns 0 or -errno. */
typedef int filecache_headers_fn(struct MHD_Response *resp, const char *path, time_t mtime);

/* Makes a cache for the files below root, a directory descriptor the caller keeps open
 * for the cache's life, holding at most budget file bytes (more than 0; capped at 256
 * files of FILECACHE_FILE_MAX, 16 MiB). The budget is split between a few shards, each
 * used by the threads it is given to, and a file may be held once per shard. Returns 0
 * or -errno. */
int filecache_new(struct filecache **out, int root, size_t budget, filecache_headers_fn *headers);
/* Accepts NULL. */
void filecache_free(struct filecache *k);

/* What filecache_serve did with a request. */
enum filecache_result {
	FILECACHE_MISS,    /* not cached: the caller serves the file itself */
	FILECACHE_SENT,    /* the cached 200 is queued; *ret holds MHD_queue_response's result */
	FILECACHE_CURRENT, /* cached but no newer than *since: nothing is queued, and *mtime is
			    * the entry's, for the caller's 304 */
};

/* Answers a request from the cache if path (the clean path of the file the request names)
 * is there, after taking the pending inotify events. since is the request's
 * If-Modified-Since when it counts, else NULL. Thread-safe. */
enum filecache_result filecache_serve(struct filecache *k, struct MHD_Connection *c,
				      const char *path, const time_t *since, time_t *mtime,
				      enum MHD_Result *ret);

/* Makes the entry for path, the clean path of a small regular file a request just found,
 * in the calling thread's shard. Returns 0 once inserted, else -errno: -ELOOP (a symlink
 * on the path), -EFBIG (not a regular file of at most FILECACHE_FILE_MAX bytes), -ENOSPC
 * (over the shard's budget), -ESTALE (a change raced with the fill), -ECANCELED (stopped).
 * A failure only leaves the file uncached. Thread-safe. */
int filecache_fill(struct filecache *k, const char *path);

/* Shutting down: empties the cache, removes its watches and makes no more entries (files
 * are then served uncached). Call when the drain begins: the kernel frees removed watches in
 * the background, while an exit with watches still set waits for it (milliseconds). Accepts
 * NULL. */
void filecache_stop(struct filecache *k);
/* Called now and then (every few seconds): when nothing used the cache since the last call,
 * empties it and removes its watches, so that an idle daemon holds none. Accepts NULL. */
void filecache_idle(struct filecache *k);

#endif
