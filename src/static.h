/*
 * static: serves files below a root directory (GET and HEAD), safely. No request path may
 * leave the root: ".." segments (percent-encoded too: %2e%2e, ..%2f), backslashes, NUL
 * bytes and symlinks that point outside are refused. Files are sent from their descriptor
 * (zero copy); small ones from a cache that inotify keeps exact.
 */
#ifndef SERVICED_STATIC_H
#define SERVICED_STATIC_H

#include <stddef.h>
#include <microhttpd.h>

struct static_root;

/* The most file bytes the small-file cache holds: 256 files of at most 64 KiB. */
#define STATIC_CACHE_DEFAULT ((size_t)16 * 1024 * 1024)

/* Opens the root directory, which must be a readable directory, with a cache of small files
 * holding at most cache_bytes (capped at STATIC_CACHE_DEFAULT; 0 turns it off). Returns 0
 * or -errno, with err holding the reason ("root /x: No such file or directory"). */
int static_open(struct static_root **out, const char *dir, size_t cache_bytes, char *err,
		size_t errsize);
/* Accepts NULL. */
void static_close(struct static_root *r);

/* Answers one request for url (as the access handler got it; see the note in static.c on
 * decoding) on the handler's second call; methods other than GET and HEAD get 405. Queues a
 * response (200, 301, 304, 400, 403, 404, 405, 414, 500), stores its status in *status_out
 * (for the access log) and returns MHD_queue_response's result. Thread-safe: the cache has
 * its own lock, and the rest of r is only read after static_open. A request that begins
 * after a change to a file returned (write, rename, unlink, chmod) is answered as the file
 * is now, cached or not (see filecache.c for what inotify cannot see). */
enum MHD_Result static_serve(struct static_root *r, struct MHD_Connection *c, const char *url,
			     const char *method, unsigned *status_out);

/* Shutting down: empties the cache, removes its watches and makes no more entries (files
 * are then served uncached). Call when the drain begins: the kernel frees removed watches in
 * the background, while an exit with watches still set waits for it (milliseconds). Accepts
 * NULL. */
void static_cache_stop(struct static_root *r);
/* Called now and then (every few seconds): when nothing used the cache since the last call,
 * empties it and removes its watches, so that an idle daemon holds none. Accepts NULL. */
void static_cache_idle(struct static_root *r);

/* The Content-Type for a file name, by extension ("application/octet-stream" if unknown). */
const char *static_mime_type(const char *name);

#endif
