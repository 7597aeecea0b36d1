# tests/static.mk: the static file module. check_static unit-tests its path, type, date and
# open logic and the small-file cache (it compiles src/static.c in, to reach the internals);
# static.sh runs the daemon over a fixture tree, end to end; static-cache*.sh change files
# under a running daemon and check that no answer is stale, torn, or lacks a drain's
# "Connection: close".
check_PROGRAMS += tests/check_static
tests_check_static_SOURCES = tests/check_static.c
tests_check_static_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_static_LDADD = $(MHD_LIBS) $(CHECK_LIBS)

TESTS += tests/check_static tests/static.sh tests/static-cache.sh tests/static-cache-race.sh \
	tests/static-cache-grace.sh
EXTRA_DIST += tests/static.sh tests/static-lib.sh tests/static-cache.sh \
	tests/static-cache-race.sh tests/static-cache-grace.sh
