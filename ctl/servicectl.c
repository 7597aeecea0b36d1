/*
 * servicectl: the command line over serviced's control socket (serviced-control(7)).
 *
 * The grammar is the verbs table below: each verb names its protocol command, its
 * arguments and the options it takes, and argument counts are checked in one place.
 * Unique prefixes of a verb are accepted; an unknown word gets the nearest verb as a hint.
 * usage() mirrors servicectl(1).
 */
#include "autoconfig.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"

#define CTL_REPLY_TIMEOUT_MS 30000 /* a reply is due at once; this only bounds a hang */
#define CTL_FALLBACK_PATH "/run/serviced/control.sock"

/* Options beyond the global ones, as a bit set per verb. */
enum {
	OPT_GRACE = 1u << 0,
	OPT_MERCY = 1u << 1,
	OPT_DRAIN_DELAY = 1u << 2,
	OPT_NOW = 1u << 3,
	OPT_WAIT = 1u << 4,
};

struct ctl {
	const char *path;
	bool path_explicit; /* -s or SERVICED_CONTROL: no fallback */
	const struct printer *print;
	bool json;
	unsigned opts; /* OPT_* given */
	struct proto_request shutdown;
};

struct verb;
typedef int (*verb_fn)(struct ctl *ctl, const struct verb *v, char **args);

struct verb {
	const char *name;
	enum proto_command cmd;
	const char *synopsis; /* what follows the name in usage() */
	int min_args, max_args;
	unsigned opts; /* OPT_* it accepts */
	verb_fn run;
};

static int run_simple(struct ctl *ctl, const struct verb *v, char **args);
static int run_shutdown(struct ctl *ctl, const struct verb *v, char **args);
static int run_get(struct ctl *ctl, const struct verb *v, char **args);
static int run_set(struct ctl *ctl, const struct verb *v, char **args);
static int run_watch(struct ctl *ctl, const struct verb *v, char **args);

static const struct verb verbs[] = {
	{ "status", PROTO_CMD_STATUS, "", 0, 0, 0, run_simple },
	{ "shutdown", PROTO_CMD_SHUTDOWN, "[--grace D] [--mercy D] [--drain-delay D] [--now] [--wait]",
	  0, 0, OPT_GRACE | OPT_MERCY | OPT_DRAIN_DELAY | OPT_NOW | OPT_WAIT, run_shutdown },
	{ "cancel", PROTO_CMD_CANCEL, "", 0, 0, 0, run_simple },
	{ "get", PROTO_CMD_GET, "[KEY]", 0, 1, 0, run_get },
	{ "set", PROTO_CMD_SET, "KEY DURATION", 2, 2, 0, run_set },
	{ "watch", PROTO_CMD_WATCH, "", 0, 0, 0, run_watch },
	{ "ping", PROTO_CMD_PING, "", 0, 0, 0, run_simple },
	{ "version", PROTO_CMD_VERSION, "", 0, 0, 0, run_simple },
	{ "reload", PROTO_CMD_RELOAD, "", 0, 0, 0, run_simple },
};
#define NVERBS (sizeof verbs / sizeof verbs[0])

enum { LONG_JSON = 256, LONG_GRACE, LONG_MERCY, LONG_DRAIN_DELAY, LONG_NOW, LONG_WAIT };

static const struct option long_options[] = {
	{ "socket", required_argument, NULL, 's' },
	{ "json", no_argument, NULL, LONG_JSON },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ "grace", required_argument, NULL, LONG_GRACE },
	{ "mercy", required_argument, NULL, LONG_MERCY },
	{ "drain-delay", required_argument, NULL, LONG_DRAIN_DELAY },
	{ "now", no_argument, NULL, LONG_NOW },
	{ "wait", no_argument, NULL, LONG_WAIT },
	{ NULL, 0, NULL, 0 },
};

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: servicectl [-s PATH] [--json] [-q] COMMAND [ARGS]\n"
		   "       servicectl -h | -V\n\ncommands:\n");
	for (i = 0; i < NVERBS; i++) {
		char head[128];

		snprintf(head, sizeof head, "%s%s%s", verbs[i].name, verbs[i].synopsis[0] ? " " : "",
			 verbs[i].synopsis);
		if (strlen(head) > 22)
			fprintf(f, "  %s\n  %-22s  %s\n", head, "", proto_commands[verbs[i].cmd].summary);
		else
			fprintf(f, "  %-22s  %s\n", head, proto_commands[verbs[i].cmd].summary);
	}
	fprintf(f,
		"\noptions:\n"
		"  -s, --socket PATH       the control socket (default: $SERVICED_CONTROL,\n"
		"                          else serviced's default path)\n"
		"      --json              print the daemon's replies as JSON, one per line\n"
		"  -q, --quiet             print nothing on success\n"
		"  -h, --help              print this help\n"
		"  -V, --version           print servicectl's version and protocol\n"
		"\nshutdown options:\n"
		"      --grace D           grace period for this shutdown\n"
		"      --mercy D           mercy period for this shutdown\n"
		"      --drain-delay D     drain delay for this shutdown\n"
		"      --now               skip to the next phase at once\n"
		"      --wait              show progress until the daemon has stopped\n"
		"\nKEY is grace, mercy, drain_delay or force. D is a duration: 1500ms, 7s, 1.5s,\n"
		"2m, 1h (a bare number is seconds).\n"
		"\nexit status: 0 success, 1 refused by the daemon (or --wait: requests were cut),\n"
		"2 usage, 3 daemon not reachable.\n");
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "servicectl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'servicectl --help' for more information.\n");
	return CTL_EXIT_USAGE;
}

/* Optimal string alignment distance: a transposition counts as one edit. */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j;
	size_t d[24][24];

	if (la > 23 || lb > 23)
		return (size_t)-1;
	for (i = 0; i <= la; i++)
		d[i][0] = i;
	for (j = 0; j <= lb; j++)
		d[0][j] = j;
	for (i = 1; i <= la; i++) {
		for (j = 1; j <= lb; j++) {
			size_t cost = a[i - 1] != b[j - 1], best = d[i - 1][j - 1] + cost;

			if (d[i - 1][j] + 1 < best)
				best = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1 < best)
				best = d[i - 2][j - 2] + 1;
			d[i][j] = best;
		}
	}
	return d[la][lb];
}

/* The verb for word: exact, else a unique prefix. NULL after saying why not. */
static const struct verb *verb_find(const char *word)
{
	const struct verb *found = NULL, *near = NULL;
	size_t i, len = strlen(word), nmatch = 0, best = (size_t)-1, dist;
	char list[256] = "";

	for (i = 0; i < NVERBS; i++)
		if (strcmp(verbs[i].name, word) == 0)
			return &verbs[i];
	for (i = 0; len > 0 && i < NVERBS; i++) {
		if (strncmp(verbs[i].name, word, len) != 0)
			continue;
		found = &verbs[i];
		nmatch++;
		snprintf(list + strlen(list), sizeof list - strlen(list), "%s'%s'",
			 nmatch > 1 ? ", " : "", verbs[i].name);
	}
	if (nmatch == 1)
		return found;
	if (nmatch > 1) {
		usage_error("ambiguous command '%s': %s", word, list);
		return NULL;
	}
	for (i = 0; i < NVERBS; i++) {
		dist = edit_distance(word, verbs[i].name);
		if (dist < best) {
			best = dist;
			near = &verbs[i];
		}
	}
	if (near != NULL && best <= 2 && best < strlen(near->name))
		usage_error("unknown command '%s'; did you mean '%s'?", word, near->name);
	else
		usage_error("unknown command '%s'", word);
	return NULL;
}

/* The knob for a word on the command line; "drain-delay" is accepted for drain_delay. */
static int knob_find(const char *word)
{
	char name[32];
	size_t i;

	snprintf(name, sizeof name, "%s", word);
	for (i = 0; name[i] != '\0'; i++)
		if (name[i] == '-')
			name[i] = '_';
	return proto_knob_find(name);
}

static int duration_arg(const char *what, const char *text, uint64_t *ms)
{
	int r = serviced_parse_duration(text, ms);

	if (r == -ERANGE)
		return usage_error("%s: duration '%s' is over 24h", what, text);
	if (r < 0)
		return usage_error("%s: invalid duration '%s' (try 1500ms, 7s, 1.5s, 2m)", what, text);
	return 0;
}

/*
 * Talking to the daemon.
 */

static int ctl_connect(struct ctl *ctl, struct client *cl)
{
	int r = client_open(cl, ctl->path);

	/* The default path depends on the environment (XDG_RUNTIME_DIR in a login shell);
	 * a daemon run by systemd listens in /run/serviced. */
	if (r == -ENOENT && !ctl->path_explicit && strcmp(ctl->path, CTL_FALLBACK_PATH) != 0 &&
	    client_open(cl, CTL_FALLBACK_PATH) == 0)
		return 0;
	if (r < 0) {
		char text[512];

		snprintf(text, sizeof text, "cannot connect to %s: %s", ctl->path, strerror(-r));
		ctl->print->error(NULL, NULL, text);
		return CTL_EXIT_UNREACHABLE;
	}
	return 0;
}

static void ctl_message_free(struct ctl_message *m)
{
	json_decref(m->obj);
	m->obj = NULL;
}

#define CTL_READ_EOF (-1)     /* the daemon closed the connection */
#define CTL_READ_TIMEOUT (-2) /* nothing within the timeout */

/* Reads one message into m. Returns 0; CTL_READ_EOF or CTL_READ_TIMEOUT without a word,
 * the caller knowing what they mean; or an exit status after saying what went wrong. */
static int ctl_read(struct ctl *ctl, struct client *cl, int timeout_ms, struct ctl_message *m)
{
	char *line, text[512];
	size_t len;
	int r = client_read(cl, timeout_ms, &line, &len);

	m->obj = NULL;
	if (r == -EPIPE)
		return CTL_READ_EOF;
	if (r == 0)
		return CTL_READ_TIMEOUT;
	if (r < 0) {
		snprintf(text, sizeof text, "%s: %s", cl->path, strerror(-r));
		ctl->print->error(NULL, NULL, text);
		return CTL_EXIT_UNREACHABLE;
	}
	m->line = line;
	m->len = len;
	m->kind = proto_parse_message(line, len, &m->obj, &m->st);
	if (m->kind == PROTO_MSG_INVALID) {
		snprintf(text, sizeof text, "%s: %s", cl->path, m->st.message);
		ctl->print->error(NULL, NULL, text);
		return CTL_EXIT_UNREACHABLE;
	}
	return 0;
}

/* Sends req and reads its reply into m. Returns 0 for an ok reply; otherwise an exit
 * status, the refusal or failure already printed. */
static int ctl_call(struct ctl *ctl, struct client *cl, const struct proto_request *req,
		    struct ctl_message *m)
{
	char text[512];
	int r;

	r = client_send(cl, req);
	if (r < 0) {
		snprintf(text, sizeof text, "%s: %s", cl->path, strerror(-r));
		ctl->print->error(NULL, NULL, text);
		return CTL_EXIT_UNREACHABLE;
	}
	do {
		r = ctl_read(ctl, cl, CTL_REPLY_TIMEOUT_MS, m);
		if (r < 0) {
			snprintf(text, sizeof text, "%s: %s", cl->path,
				 r == CTL_READ_EOF ? "the daemon closed the connection" :
						     "no reply from the daemon");
			ctl->print->error(NULL, NULL, text);
			return CTL_EXIT_UNREACHABLE;
		}
		if (r > 0)
			return r;
		/* Events belong to an earlier watch on this connection, not to this reply. */
		if (m->kind == PROTO_MSG_EVENT)
			ctl_message_free(m);
	} while (m->obj == NULL);
	if (m->kind == PROTO_MSG_ERROR) {
		ctl->print->error(req->def->name, m, NULL);
		ctl_message_free(m);
		return CTL_EXIT_REFUSED;
	}
	return 0;
}

/* One request, one reply, printed. */
static int ctl_request(struct ctl *ctl, const struct proto_request *req)
{
	struct ctl_message m;
	struct client cl;
	int r;

	r = ctl_connect(ctl, &cl);
	if (r != 0)
		return r;
	r = ctl_call(ctl, &cl, req, &m);
	if (r == 0) {
		ctl->print->reply(req->def->id, &m);
		ctl_message_free(&m);
	}
	client_close(&cl);
	return r;
}

/*
 * The verbs.
 */

static int run_simple(struct ctl *ctl, const struct verb *v, char **args)
{
	struct proto_request req;

	proto_request_init(&req, v->cmd);
	return ctl_request(ctl, &req);
}

static int run_get(struct ctl *ctl, const struct verb *v, char **args)
{
	struct proto_request req;
	int k;

	proto_request_init(&req, v->cmd);
	if (args[0] != NULL) {
		k = knob_find(args[0]);
		if (k < 0)
			return usage_error("unknown key '%s' (grace, mercy, drain_delay, force)",
					   args[0]);
		req.key = (enum serviced_knob)k;
		req.have |= PROTO_F_KEY;
	}
	return ctl_request(ctl, &req);
}

static int run_set(struct ctl *ctl, const struct verb *v, char **args)
{
	struct proto_request req;
	int k;

	proto_request_init(&req, v->cmd);
	k = knob_find(args[0]);
	if (k < 0)
		return usage_error("unknown key '%s' (grace, mercy, drain_delay, force)", args[0]);
	req.key = (enum serviced_knob)k;
	if (duration_arg(args[0], args[1], &req.value_ms) != 0)
		return CTL_EXIT_USAGE;
	req.have = PROTO_F_KEY | PROTO_F_VALUE;
	return ctl_request(ctl, &req);
}

/* Opens a connection and starts a watch on it; prints the watch reply when show is set. */
static int ctl_watch(struct ctl *ctl, struct client *cl, bool show)
{
	struct proto_request req;
	struct ctl_message m;
	int r;

	r = ctl_connect(ctl, cl);
	if (r != 0)
		return r;
	proto_request_init(&req, PROTO_CMD_WATCH);
	r = ctl_call(ctl, cl, &req, &m);
	if (r != 0) {
		client_close(cl);
		return r;
	}
	if (show)
		ctl->print->reply(PROTO_CMD_WATCH, &m);
	ctl_message_free(&m);
	return 0;
}

static bool event_is_stopped(const struct ctl_message *m)
{
	const char *ev = json_string_value(json_object_get(m->obj, "event"));
	const char *to = json_string_value(json_object_get(m->obj, "to"));

	return ev != NULL && to != NULL && strcmp(ev, "state") == 0 &&
	       strcmp(to, serviced_state_name(SERVICED_STATE_STOPPED)) == 0;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The one updating line of shutdown --wait on a terminal. */
static void progress_line(const struct serviced_status *st, uint64_t since_ms)
{
	char left[32];
	int64_t rem = st->phase_remaining_ms;

	if (rem >= 0) {
		rem -= (int64_t)(now_ms() - since_ms);
		if (rem < 0)
			rem = 0;
	}
	printf("\r\033[K%-12s %" PRIu64 " in flight, %" PRIu64 " connections",
	       serviced_state_name(st->state), st->counts.requests_in_flight,
	       st->counts.connections_open);
	if (rem >= 0)
		printf(", %s left", print_duration((uint64_t)rem, left, sizeof left));
	fflush(stdout);
}

/* Follows a watch until the daemon closes it. Returns 0 when its last event was the
 * transition to stopped (*cut then says whether the shutdown cut requests), else an exit
 * status. */
static int ctl_follow(struct ctl *ctl, struct client *cl, bool progress, uint64_t *cut)
{
	struct serviced_status st;
	struct ctl_message m;
	uint64_t since = 0;
	bool have = false, stopped = false;
	int r;

	for (;;) {
		r = ctl_read(ctl, cl, progress && have ? 100 : -1, &m);
		if (r > 0) {
			if (progress)
				printf("\n");
			return r;
		}
		if (r == CTL_READ_TIMEOUT) { /* only with progress: tick the countdown */
			progress_line(&st, since);
			continue;
		}
		if (r == CTL_READ_EOF)
			break;
		if (m.kind == PROTO_MSG_EVENT) {
			stopped = event_is_stopped(&m);
			if (stopped) {
				/* The daemon's verdict when it gives one: requests whose clients
				 * went away are counted as cut without making the stop unclean. */
				const json_t *x = json_object_get(m.obj, "exit_status");

				*cut = x ? json_integer_value(x) != SERVICED_EXIT_CLEAN :
					   print_sum(json_object_get(m.obj, "cut")) > 0;
			}
			if (progress && proto_status_from_json(m.obj, &st) == 0) {
				have = true;
				since = now_ms();
				progress_line(&st, since);
			} else if (!progress) {
				ctl->print->event(&m);
			}
		}
		ctl_message_free(&m);
	}
	if (progress)
		printf("\n");
	if (!stopped) {
		ctl->print->error(NULL, NULL, "the daemon went away before it stopped");
		return CTL_EXIT_UNREACHABLE;
	}
	return 0;
}

static int run_watch(struct ctl *ctl, const struct verb *v, char **args)
{
	struct client cl;
	uint64_t cut = 0;
	int r;

	r = ctl_watch(ctl, &cl, true);
	if (r != 0)
		return r;
	r = ctl_follow(ctl, &cl, false, &cut);
	client_close(&cl);
	return r;
}

static int run_shutdown(struct ctl *ctl, const struct verb *v, char **args)
{
	struct ctl_message m;
	struct client watch, cl;
	uint64_t cut = 0;
	bool progress;
	int r;

	if (!(ctl->opts & OPT_WAIT))
		return ctl_request(ctl, &ctl->shutdown);

	/* Watch first, so that not even the quickest stop can slip past unseen. */
	r = ctl_watch(ctl, &watch, false);
	if (r != 0)
		return r;
	r = ctl_connect(ctl, &cl);
	if (r == 0) {
		r = ctl_call(ctl, &cl, &ctl->shutdown, &m);
		client_close(&cl);
	}
	if (r != 0) {
		client_close(&watch);
		return r;
	}
	progress = !ctl->json && !print_quiet && isatty(STDOUT_FILENO);
	if (!progress)
		ctl->print->reply(PROTO_CMD_SHUTDOWN, &m);
	ctl_message_free(&m);
	r = ctl_follow(ctl, &watch, progress, &cut);
	client_close(&watch);
	if (r != 0)
		return r;
	if (progress)
		printf("stopped: %" PRIu64 " %s cut\n", cut, cut == 1 ? "request" : "requests");
	return cut == 0 ? CTL_EXIT_OK : CTL_EXIT_REFUSED;
}

/*
 * main
 */

static int shutdown_option(struct ctl *ctl, unsigned opt, const char *name, const char *arg)
{
	struct proto_request *req = &ctl->shutdown;
	uint64_t ms;

	if (duration_arg(name, arg, &ms) != 0)
		return CTL_EXIT_USAGE;
	if (opt == OPT_GRACE) {
		req->grace_ms = ms;
		req->have |= PROTO_F_GRACE;
	} else if (opt == OPT_MERCY) {
		req->mercy_ms = ms;
		req->have |= PROTO_F_MERCY;
	} else {
		req->drain_delay_ms = ms;
		req->have |= PROTO_F_DRAIN_DELAY;
	}
	return 0;
}

static const char *opt_name(unsigned opt)
{
	switch (opt) {
	case OPT_GRACE:
		return "--grace";
	case OPT_MERCY:
		return "--mercy";
	case OPT_DRAIN_DELAY:
		return "--drain-delay";
	case OPT_NOW:
		return "--now";
	default:
		return "--wait";
	}
}

int main(int argc, char **argv)
{
	static char default_path[256];
	const struct verb *v;
	struct ctl ctl;
	unsigned bit;
	int c, nargs;

	signal(SIGPIPE, SIG_IGN);
	memset(&ctl, 0, sizeof ctl);
	ctl.print = &print_human;
	proto_request_init(&ctl.shutdown, PROTO_CMD_SHUTDOWN);

	while ((c = getopt_long(argc, argv, "s:qhV", long_options, NULL)) != -1) {
		switch (c) {
		case 's':
			ctl.path = optarg;
			break;
		case LONG_JSON:
			ctl.json = true;
			ctl.print = &print_json;
			break;
		case 'q':
			print_quiet = true;
			break;
		case 'h':
			usage(stdout);
			return CTL_EXIT_OK;
		case 'V':
			printf("servicectl %s (protocol %d)\n", SERVICED_VERSION, PROTO_VERSION);
			return CTL_EXIT_OK;
		case LONG_GRACE:
		case LONG_MERCY:
		case LONG_DRAIN_DELAY:
			bit = c == LONG_GRACE ? OPT_GRACE : c == LONG_MERCY ? OPT_MERCY : OPT_DRAIN_DELAY;
			if (shutdown_option(&ctl, bit, opt_name(bit), optarg) != 0)
				return CTL_EXIT_USAGE;
			ctl.opts |= bit;
			break;
		case LONG_NOW:
			ctl.opts |= OPT_NOW;
			ctl.shutdown.now = true;
			ctl.shutdown.have |= PROTO_F_NOW;
			break;
		case LONG_WAIT:
			ctl.opts |= OPT_WAIT;
			break;
		default:
			fprintf(stderr, "Try 'servicectl --help' for more information.\n");
			return CTL_EXIT_USAGE;
		}
	}
	if (optind >= argc)
		return usage_error("no command given");
	v = verb_find(argv[optind]);
	if (v == NULL)
		return CTL_EXIT_USAGE;
	nargs = argc - optind - 1;
	if (nargs < v->min_args || nargs > v->max_args) {
		if (nargs > v->max_args)
			return usage_error("%s: unexpected argument '%s'", v->name,
					   argv[optind + 1 + v->max_args]);
		return usage_error("%s: missing argument (usage: servicectl %s %s)", v->name,
				   v->name, v->synopsis);
	}
	for (bit = 1; bit <= OPT_WAIT; bit <<= 1)
		if ((ctl.opts & bit) && !(v->opts & bit))
			return usage_error("option %s does not apply to '%s'", opt_name(bit),
					   v->name);

	if (ctl.path != NULL) {
		ctl.path_explicit = true;
	} else if ((ctl.path = getenv("SERVICED_CONTROL")) != NULL && ctl.path[0] != '\0') {
		ctl.path_explicit = true;
	} else {
		ctl.path = serviced_control_default_path(default_path, sizeof default_path);
		if (ctl.path == NULL)
			return usage_error("the default control socket path is too long; use -s");
	}
	return v->run(&ctl, v, argv + optind + 1);
}
