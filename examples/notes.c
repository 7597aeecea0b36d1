/*
 * notes: a small JSON notes store on SQLite, built on libserviced the way a real
 * application would be. It shows what a graceful shutdown is for: a write acknowledged
 * with 201 is committed, and the database is closed only after the last handler ran.
 *
 *   POST /notes        {"text":"..."}  -> 201 {"id":N}   (400 bad JSON, 413 too large)
 *   GET  /notes/N      -> 200 {"id":N,"text":"..."}      (404 unknown)
 *   GET  /notes        -> 200 {"count":C,"bytes":B,"rows":R,"row_bytes":RB}
 *
 *   cc notes.c $(pkg-config --cflags --libs libserviced jansson sqlite3) -o notes
 *   ./notes --db notes.db --listen 127.0.0.1:8080 [--control PATH] [--grace D]
 *
 * Each note is two writes in one transaction: its row in "notes", and the running totals
 * in "totals" (count and bytes). A reader can therefore check that no write was half
 * applied: count = rows and bytes = row_bytes (GET /notes shows all four).
 * The database is in WAL mode with synchronous=FULL, so a 201 survives even a crash.
 *
 * SIGTERM starts a graceful shutdown: requests in flight finish, then the "database"
 * shutdown hook finalizes the statements and closes the database (which checkpoints the
 * WAL into the main file).
 */
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <serviced.h>
#include <sqlite3.h>

#define NOTES_MAX_BODY (16 * 1024) /* bytes of JSON in one POST */

#ifndef MHD_HTTP_CONTENT_TOO_LARGE /* its name before libmicrohttpd 0.9.74 */
#define MHD_HTTP_CONTENT_TOO_LARGE 413
#endif

/* The store: one connection, one writer at a time. Handlers run on several threads;
 * the lock keeps each transaction's statements together on the connection. */
struct notes {
	pthread_mutex_t lock;
	sqlite3 *db;
	sqlite3_stmt *begin, *commit, *rollback, *insert, *count, *get, *totals;
};

/* One request's state, kept in the handler's *req_cls. */
struct notes_req {
	char *body;
	size_t len;
	bool too_large;
};

static struct notes store = { .lock = PTHREAD_MUTEX_INITIALIZER };

static const char *const notes_schema =
	"PRAGMA journal_mode=WAL;"
	"PRAGMA synchronous=FULL;"
	"CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS totals (one INTEGER PRIMARY KEY CHECK (one = 1),"
	" count INTEGER NOT NULL, bytes INTEGER NOT NULL);"
	"INSERT OR IGNORE INTO totals VALUES (1, 0, 0);";

/* ---- the database ---------------------------------------------------------------- */

static void notes_finalize(struct notes *n)
{
	sqlite3_stmt **all[] = { &n->begin, &n->commit, &n->rollback, &n->insert,
				 &n->count, &n->get, &n->totals };

	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
		sqlite3_finalize(*all[i]);
		*all[i] = NULL;
	}
}

/* Opens (creating) the database at path. Returns 0, or -1 with the reason in err. */
static int notes_open(struct notes *n, const char *path, char *err, size_t errsize)
{
	const struct { sqlite3_stmt **stmt; const char *sql; } stmts[] = {
		{ &n->begin, "BEGIN IMMEDIATE" },
		{ &n->commit, "COMMIT" },
		{ &n->rollback, "ROLLBACK" },
		{ &n->insert, "INSERT INTO notes (text) VALUES (?1)" },
		{ &n->count, "UPDATE totals SET count = count + 1, bytes = bytes + ?1" },
		{ &n->get, "SELECT text FROM notes WHERE id = ?1" },
		{ &n->totals, "SELECT count, bytes, (SELECT count(*) FROM notes),"
			      " (SELECT coalesce(sum(length(CAST(text AS BLOB))), 0) FROM notes)"
			      " FROM totals" },
	};
	char *msg = NULL;

	if (sqlite3_open_v2(path, &n->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	    SQLITE_OK)
		goto fail;
	sqlite3_busy_timeout(n->db, 5000);
	if (sqlite3_exec(n->db, notes_schema, NULL, NULL, &msg) != SQLITE_OK)
		goto fail;
	for (size_t i = 0; i < sizeof stmts / sizeof stmts[0]; i++)
		if (sqlite3_prepare_v2(n->db, stmts[i].sql, -1, stmts[i].stmt, NULL) != SQLITE_OK)
			goto fail;
	return 0;
fail:
	snprintf(err, errsize, "%s: %s", path, msg ? msg : n->db ? sqlite3_errmsg(n->db) :
		 "out of memory");
	sqlite3_free(msg);
	notes_finalize(n);
	sqlite3_close(n->db);
	n->db = NULL;
	return -1;
}

/* Runs a statement that returns no rows. */
static int notes_step(sqlite3_stmt *st)
{
	int r = sqlite3_step(st);

	sqlite3_reset(st);
	return r == SQLITE_DONE ? 0 : -1;
}

/* Inserts a note and updates the totals, in one transaction. Returns the new id (> 0)
 * once COMMIT has returned, or -1 with nothing applied. */
static int64_t notes_insert(struct notes *n, const char *text, size_t len)
{
	int64_t id = -1;

	pthread_mutex_lock(&n->lock);
	if (!n->db || notes_step(n->begin) < 0)
		goto out;
	sqlite3_bind_text(n->insert, 1, text, (int)len, SQLITE_STATIC);
	sqlite3_bind_int64(n->count, 1, (sqlite3_int64)len);
	if (notes_step(n->insert) == 0) {
		id = sqlite3_last_insert_rowid(n->db);
		if (notes_step(n->count) < 0 || notes_step(n->commit) < 0)
			id = -1;
	}
	sqlite3_clear_bindings(n->insert);
	if (id < 0 && !sqlite3_get_autocommit(n->db))
		notes_step(n->rollback);
out:
	pthread_mutex_unlock(&n->lock);
	return id;
}

/* The note's text as a new JSON object {"id":..,"text":..}, or NULL when there is none. */
static json_t *notes_get(struct notes *n, int64_t id)
{
	json_t *o = NULL;

	pthread_mutex_lock(&n->lock);
	if (n->db) {
		sqlite3_bind_int64(n->get, 1, id);
		if (sqlite3_step(n->get) == SQLITE_ROW)
			o = json_pack("{s:I, s:s%}", "id", (json_int_t)id, "text",
				      (const char *)sqlite3_column_text(n->get, 0),
				      (size_t)sqlite3_column_bytes(n->get, 0));
		sqlite3_reset(n->get);
	}
	pthread_mutex_unlock(&n->lock);
	return o;
}

/* {"count":..,"bytes":..,"rows":..,"row_bytes":..}: the totals row, and what it should
 * agree with, counted over the notes themselves. */
static json_t *notes_totals(struct notes *n)
{
	json_t *o = NULL;

	pthread_mutex_lock(&n->lock);
	if (n->db && sqlite3_step(n->totals) == SQLITE_ROW)
		o = json_pack("{s:I, s:I, s:I, s:I}", "count",
			      (json_int_t)sqlite3_column_int64(n->totals, 0), "bytes",
			      (json_int_t)sqlite3_column_int64(n->totals, 1), "rows",
			      (json_int_t)sqlite3_column_int64(n->totals, 2), "row_bytes",
			      (json_int_t)sqlite3_column_int64(n->totals, 3));
	if (n->db)
		sqlite3_reset(n->totals);
	pthread_mutex_unlock(&n->lock);
	return o;
}

/* The shutdown hook. The engine runs it after libmicrohttpd has stopped, so no handler
 * is running or will run: the statements can be finalized and the database closed. */
static void notes_close(void *cls)
{
	struct notes *n = cls;
	int r;

	pthread_mutex_lock(&n->lock);
	notes_finalize(n);
	r = sqlite3_close(n->db);
	if (r == SQLITE_OK)
		n->db = NULL;
	pthread_mutex_unlock(&n->lock);
	fprintf(stderr, "notes: database %s\n", r == SQLITE_OK ? "closed" : sqlite3_errstr(r));
}

/* ---- HTTP -------------------------------------------------------------------------- */

/* Queues body (taken) as the JSON reply; allow, when not NULL, is the Allow header. */
static enum MHD_Result notes_reply(struct MHD_Connection *c, unsigned status, json_t *body,
				   const char *allow)
{
	char *text = json_dumps(body, JSON_COMPACT);
	struct MHD_Response *r;
	enum MHD_Result ret;

	json_decref(body);
	if (!text)
		return MHD_NO;
	r = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	if (allow)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result notes_error(struct MHD_Connection *c, unsigned status, const char *why)
{
	return notes_reply(c, status, json_pack("{s:s}", "error", why), NULL);
}

static enum MHD_Result notes_not_allowed(struct MHD_Connection *c, const char *allow)
{
	return notes_reply(c, MHD_HTTP_METHOD_NOT_ALLOWED,
			   json_pack("{s:s}", "error", "method not allowed"), allow);
}

/* A positive decimal id, or -1. */
static int64_t notes_parse_id(const char *s)
{
	int64_t id = 0;

	if (*s == '\0' || strlen(s) > 18)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		id = id * 10 + (*s - '0');
	}
	return id > 0 ? id : -1;
}

static enum MHD_Result notes_post(struct MHD_Connection *c, struct notes_req *rq)
{
	json_error_t jerr;
	const char *text;
	size_t len;
	json_t *root;
	int64_t id;

	if (rq->too_large)
		return notes_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "note too large");
	root = json_loadb(rq->body ? rq->body : "", rq->len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return notes_error(c, MHD_HTTP_BAD_REQUEST, jerr.text);
	/* Exactly {"text": string}: unknown fields are refused, not ignored. */
	if (json_unpack_ex(root, &jerr, JSON_STRICT, "{s:s%}", "text", &text, &len) < 0) {
		json_decref(root);
		return notes_error(c, MHD_HTTP_BAD_REQUEST, jerr.text);
	}
	id = notes_insert(&store, text, len);
	json_decref(root);
	if (id < 0)
		return notes_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "the write failed");
	/* Committed: only now may the client hear that it is stored. */
	return notes_reply(c, MHD_HTTP_CREATED, json_pack("{s:I}", "id", (json_int_t)id), NULL);
}

static enum MHD_Result notes_handler(void *cls, struct MHD_Connection *c, const char *url,
				     const char *method, const char *version,
				     const char *upload, size_t *upload_size, void **req_cls)
{
	struct notes_req *rq = *req_cls;
	bool post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;

	(void)cls, (void)version;
	if (!rq) {
		const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
							     MHD_HTTP_HEADER_CONTENT_LENGTH);

		/* A body announced too large is refused before it is read (answering on the
		 * first call closes the connection, which an unread body needs). */
		if (post && cl && strtoull(cl, NULL, 10) > NOTES_MAX_BODY)
			return notes_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "note too large");
		rq = calloc(1, sizeof *rq);
		if (!rq)
			return MHD_NO;
		*req_cls = rq;
		return MHD_YES;
	}
	if (*upload_size) {
		/* Collect up to the limit; past it (a chunked body), drop the rest and answer
		 * 413 at the end: a response cannot be queued in the middle of a body. */
		if (post && !rq->too_large && rq->len + *upload_size <= NOTES_MAX_BODY) {
			char *b = realloc(rq->body, rq->len + *upload_size);

			if (!b)
				return MHD_NO;
			memcpy(b + rq->len, upload, *upload_size);
			rq->body = b;
			rq->len += *upload_size;
		} else {
			rq->too_large = true;
		}
		*upload_size = 0;
		return MHD_YES;
	}
	if (strcmp(url, "/notes") == 0) {
		if (post)
			return notes_post(c, rq);
		if (strcmp(method, MHD_HTTP_METHOD_GET) == 0) {
			json_t *t = notes_totals(&store);

			return t ? notes_reply(c, MHD_HTTP_OK, t, NULL) :
				   notes_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "no database");
		}
		return notes_not_allowed(c, "GET, POST");
	}
	if (strncmp(url, "/notes/", 7) == 0) {
		int64_t id = notes_parse_id(url + 7);
		json_t *note;

		if (strcmp(method, MHD_HTTP_METHOD_GET) != 0)
			return notes_not_allowed(c, "GET");
		note = id > 0 ? notes_get(&store, id) : NULL;
		return note ? notes_reply(c, MHD_HTTP_OK, note, NULL) :
			      notes_error(c, MHD_HTTP_NOT_FOUND, "no such note");
	}
	return notes_error(c, MHD_HTTP_NOT_FOUND, "no such resource");
}

static void notes_completed(void *cls, struct MHD_Connection *c, void **req_cls,
			    enum MHD_RequestTerminationCode toe)
{
	struct notes_req *rq = *req_cls;

	(void)cls, (void)c, (void)toe;
	if (rq) {
		free(rq->body);
		free(rq);
		*req_cls = NULL;
	}
}

static void notes_log(void *cls, int priority, const char *message)
{
	(void)cls, (void)priority;
	fprintf(stderr, "notes: %s\n", message);
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: notes --db FILE [--listen ADDR:PORT] [--control PATH] [--grace D]\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "listen", required_argument, NULL, 'l' },
		{ "control", required_argument, NULL, 'c' },
		{ "grace", required_argument, NULL, 'g' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct serviced_control_options co;
	struct serviced_options o;
	struct serviced_error err = { 0 };
	const char *db = NULL, *control = NULL;
	char why[512];
	serviced *s;
	int opt, status;

	serviced_options_init(&o);
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'd': db = optarg; break;
		case 'l': o.listen = optarg; break;
		case 'c': control = optarg; break;
		case 'g':
			if (serviced_parse_duration(optarg, &o.grace_ms) < 0) {
				fprintf(stderr, "notes: --grace: bad duration '%s'\n", optarg);
				return SERVICED_EXIT_USAGE;
			}
			break;
		case 'h': usage(stdout); return SERVICED_EXIT_CLEAN;
		default: usage(stderr); return SERVICED_EXIT_USAGE;
		}
	}
	if (!db || optind != argc) {
		usage(stderr);
		return SERVICED_EXIT_USAGE;
	}
	if (notes_open(&store, db, why, sizeof why) < 0) {
		fprintf(stderr, "notes: %s\n", why);
		return SERVICED_EXIT_FAILURE;
	}
	if (serviced_new(&s, &o, notes_handler, NULL, &err) < 0) {
		fprintf(stderr, "notes: %s\n", err.message);
		notes_close(&store);
		return SERVICED_EXIT_FAILURE;
	}
	serviced_set_logger(s, notes_log, NULL);
	serviced_set_completed(s, notes_completed, NULL);
	/* The hook runs after every handler has returned. Closing checkpoints the WAL, which
	 * takes seconds on a slow disk: its bound is 10 s, not the force bound (were it cut
	 * short, SQLite would recover from the WAL at the next open; nothing is lost). */
	serviced_add_hook(s, "database", notes_close, &store, 10000);
	serviced_control_options_init(&co);
	co.path = control;
	if (serviced_start(s, &err) < 0 ||
	    (control && serviced_control_listen(s, &co, &err) < 0)) {
		fprintf(stderr, "notes: %s\n", err.message);
		serviced_free(s);
		notes_close(&store);
		return SERVICED_EXIT_FAILURE;
	}
	status = serviced_run(s);
	serviced_free(s);
	return status;
}
