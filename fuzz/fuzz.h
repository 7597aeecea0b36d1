/*
 * fuzz.h: what every fuzz target shares.
 *
 * A target is one LLVMFuzzerTestOneInput(). "make fuzz" links it with libFuzzer (clang,
 * ASan, UBSan); "make check" links it with replay.c under the normal build, so that the
 * corpora and the regression inputs keep running where clang is not installed. A target
 * therefore depends on neither: it only calls the code under test and checks properties.
 *
 * A broken property is a crash: FUZZ_CHECK() says which one and aborts, which libFuzzer
 * records as a finding (with the input saved) and the replay test reports as a failure.
 */
#ifndef SERVICED_FUZZ_H
#define SERVICED_FUZZ_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static inline void fuzz_fail(const char *file, int line, const char *cond, const char *fmt,
			     ...) __attribute__((noreturn, format(printf, 4, 5)));

static inline void fuzz_fail(const char *file, int line, const char *cond, const char *fmt,
			     ...)
{
	va_list ap;

	fprintf(stderr, "%s:%d: property failed: %s: ", file, line, cond);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

#define FUZZ_CHECK(cond, ...)                                                    \
	do {                                                                     \
		if (!(cond))                                                     \
			fuzz_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);       \
	} while (0)

/* True when s holds a NUL within size bytes: every fixed-size message buffer must. */
static inline int fuzz_terminated(const char *s, size_t size)
{
	size_t i;

	for (i = 0; i < size; i++)
		if (s[i] == '\0')
			return 1;
	return 0;
}

#endif
