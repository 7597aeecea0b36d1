/*
 * fuzz_proto_stream: the control protocol's line framer (struct proto_reader) on a byte
 * stream delivered in pieces of random sizes, as a socket would.
 *
 * The input is the stream, with one escape so that short inputs can reach the 64 KiB
 * limit: 0xFE N C stands for the byte C repeated (N + 1) * 1024 times (0xFE is never valid
 * UTF-8, so no valid message loses a byte to this). The piece sizes come from a generator
 * seeded by a hash of the input, so any file of protocol text is a useful seed as it is,
 * and a run is reproducible.
 *
 * The stream goes through the framer twice, once with proto_reader_feed() and once with
 * proto_reader_space()/commit(), and each time must give exactly what splitting the whole
 * stream at '\n' gives: the same lines, NUL-terminated in place, in order, up to the first
 * line of PROTO_MAX_MESSAGE bytes or more (newline not counted), which is too large and
 * ends the stream; then a last unterminated line from proto_reader_finish(). The framer
 * must never stall (no room, yet no line and no error), and once too large it stays so
 * (no more lines, no more bytes taken). A few of the lines go on through
 * proto_decode_request(), as the daemon does.
 */
#include "autoconfig.h"

#include <string.h>

#include "proto.h"
#include "fuzz.h"

#define STREAM_MAX (320 * 1024) /* expanded bytes, five messages' worth; the rest is cut */
#define DECODE_LINES 8            /* lines per pass sent on to the decoder */
#define DECODE_MAX 4096           /* and only short ones: the decoder has its own target */

struct rng {
	uint64_t s;
};

static uint64_t rng_next(struct rng *r)
{
	/* xorshift64*: small and good enough to pick piece sizes. */
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * UINT64_C(2685821657736338717);
}

/* Expands the input into out (when not NULL); returns the stream's length either way. */
static size_t expand(const uint8_t *data, size_t size, char *out)
{
	size_t i, n = 0, run;

	for (i = 0; i < size && n < STREAM_MAX; i++) {
		if (data[i] == 0xfe && i + 2 < size) {
			run = ((size_t)data[i + 1] + 1) * 1024;
			if (run > STREAM_MAX - n)
				run = STREAM_MAX - n;
			if (out != NULL)
				memset(out + n, data[i + 2], run);
			n += run;
			i += 2;
		} else {
			if (out != NULL)
				out[n] = (char)data[i];
			n++;
		}
	}
	return n;
}

/* What the framer must yield next, from the whole stream: the line at *pos. Returns
 * PROTO_READ_LINE (and moves *pos past it), PROTO_READ_TOO_LARGE, or PROTO_READ_MORE for
 * an unterminated last line (*len then holds its length) or the end of the stream. */
static int expect_next(const char *s, size_t n, size_t *pos, size_t *len)
{
	const char *nl = memchr(s + *pos, '\n', n - *pos);
	size_t l = nl != NULL ? (size_t)(nl - (s + *pos)) : n - *pos;

	*len = l;
	if (l >= PROTO_MAX_MESSAGE)
		return PROTO_READ_TOO_LARGE;
	if (nl == NULL)
		return PROTO_READ_MORE;
	return PROTO_READ_LINE;
}

struct pass {
	const char *s;  /* the expanded stream */
	size_t n;
	size_t expect;  /* where the next expected line starts */
	unsigned lines; /* yielded so far */
	bool too_large; /* the framer said so (and the oracle agreed) */
};

static void got_line(struct pass *p, const char *line, size_t len)
{
	struct proto_request req;
	struct proto_status st;
	size_t want_len;
	int want = expect_next(p->s, p->n, &p->expect, &want_len);

	FUZZ_CHECK(want == PROTO_READ_LINE, "line %u (%zu bytes) yielded, expected %d", p->lines,
		   len, want);
	FUZZ_CHECK(len == want_len && memcmp(line, p->s + p->expect, len) == 0,
		   "line %u: %zu bytes yielded, %zu expected or different bytes", p->lines, len,
		   want_len);
	FUZZ_CHECK(line[len] == '\0', "line %u is not NUL-terminated in place", p->lines);
	p->expect += len + 1;
	if (p->lines++ < DECODE_LINES && len <= DECODE_MAX)
		proto_decode_request(line, len, &req, &st);
}

static void got_too_large(struct pass *p)
{
	size_t want_len;
	int want = expect_next(p->s, p->n, &p->expect, &want_len);

	FUZZ_CHECK(want == PROTO_READ_TOO_LARGE, "too large after %u lines, at a line of %zu "
		   "bytes", p->lines, want_len);
	p->too_large = true;
}

/* Takes every whole line the reader holds. Returns whether it yielded anything. */
static bool drain(struct pass *p, struct proto_reader *r)
{
	char *line;
	size_t len, before;
	bool any = false;
	int rc;

	while (!p->too_large) {
		before = proto_reader_pending(r);
		rc = proto_reader_next(r, &line, &len);
		if (rc == PROTO_READ_MORE) {
			FUZZ_CHECK(proto_reader_pending(r) == before, "MORE changed what is held");
			break;
		}
		any = true;
		if (rc == PROTO_READ_TOO_LARGE) {
			got_too_large(p);
			break;
		}
		FUZZ_CHECK(rc == PROTO_READ_LINE, "proto_reader_next() returned %d", rc);
		FUZZ_CHECK(proto_reader_pending(r) == before - len - 1,
			   "held %zu, line of %zu, now %zu", before, len, proto_reader_pending(r));
		got_line(p, line, len);
	}
	return any;
}

static void run_pass(const char *s, size_t n, uint64_t seed, bool use_space)
{
	static const size_t piece_max[] = { 1, 3, 17, 512, 4096, 65536, 200000 };
	struct proto_reader *r = malloc(sizeof *r); /* on the heap: ASan guards its end */
	struct pass p = { s, n, 0, 0, false };
	struct rng g = { seed | 1 };
	size_t max = piece_max[seed % (sizeof piece_max / sizeof piece_max[0])];
	size_t off = 0, take, got, room, len, want_len;
	char *dst, *line;
	int rc, want;

	FUZZ_CHECK(r != NULL, "out of memory");
	/* Byte-sized pieces of a long stream find nothing that 17-byte ones miss, slowly. */
	if (n > 16384 && max < 512)
		max = 512;
	proto_reader_init(r);
	while (off < n && !p.too_large) {
		take = (size_t)(rng_next(&g) % max) + 1;
		if (take > n - off)
			take = n - off;
		if (use_space) {
			dst = proto_reader_space(r, &room);
			got = 0;
			if (dst != NULL) {
				FUZZ_CHECK(room > 0 && room <= PROTO_MAX_MESSAGE, "room %zu", room);
				got = take < room ? take : room;
				memcpy(dst, s + off, got);
				proto_reader_commit(r, got);
			}
		} else {
			got = proto_reader_feed(r, s + off, take);
			FUZZ_CHECK(got <= take, "took %zu of %zu", got, take);
		}
		off += got;
		/* No room and nothing to yield would hang a server reading this peer. */
		FUZZ_CHECK(drain(&p, r) || got > 0, "the framer is stuck at byte %zu", off);
	}
	if (p.too_large) {
		/* The stream cannot be resynchronised: every call keeps saying so. */
		FUZZ_CHECK(proto_reader_next(r, &line, &len) == PROTO_READ_TOO_LARGE &&
				   proto_reader_finish(r, &line, &len) == PROTO_READ_TOO_LARGE,
			   "a reader that was too large yields again");
		FUZZ_CHECK(proto_reader_space(r, &room) == NULL && room == 0 &&
				   proto_reader_feed(r, "{}\n", 3) == 0,
			   "a reader that was too large takes bytes again");
	} else {
		rc = proto_reader_finish(r, &line, &len);
		want = expect_next(s, n, &p.expect, &want_len);
		FUZZ_CHECK(want != PROTO_READ_LINE, "line %u was never yielded", p.lines);
		if (want == PROTO_READ_TOO_LARGE) {
			FUZZ_CHECK(rc == PROTO_READ_TOO_LARGE, "finish: %d for a last line of %zu "
				   "bytes", rc, want_len);
		} else if (want_len == 0) {
			FUZZ_CHECK(rc == PROTO_READ_MORE, "finish: %d at the end of the stream", rc);
		} else {
			FUZZ_CHECK(rc == PROTO_READ_LINE && len == want_len &&
					   memcmp(line, s + p.expect, len) == 0 && line[len] == '\0',
				   "finish: %d, %zu bytes, for a last line of %zu", rc, len,
				   want_len);
			FUZZ_CHECK(proto_reader_pending(r) == 0, "held after finish");
		}
	}
	free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t h = UINT64_C(14695981039346656037);
	size_t n = expand(data, size, NULL), i;
	char *s = malloc(n + 1);

	if (s == NULL)
		return 0;
	expand(data, size, s);
	for (i = 0; i < size; i++)
		h = (h ^ data[i]) * UINT64_C(1099511628211);
	run_pass(s, n, h, false);
	run_pass(s, n, h >> 32 ^ h << 7, true);
	free(s);
	return 0;
}
