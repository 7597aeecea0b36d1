# tests/static.mk: the static file module. check_static unit-tests its path, type, date and
# open logic (it compiles src/static.c in, to reach the internals, with the cache beside it);
# check_filecache unit-tests the small-file cache the same way, changing files between the
# steps of a fill; static.sh runs the daemon over a fixture tree, end to end;
# static-cache*.sh change files under a running daemon and check that no answer is stale,
# torn, or lacks a drain's "Connection: close".
check_PROGRAMS += tests/check_static tests/check_filecache
tests_check_static_SOURCES = tests/check_static.c src/filecache.c src/filecache.h
tests_check_static_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_static_LDADD = $(MHD_LIBS) $(CHECK_LIBS)
tests_check_filecache_SOURCES = tests/check_filecache.c
tests_check_filecache_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_filecache_LDADD = $(MHD_LIBS) $(CHECK_LIBS)

TESTS += tests/check_static tests/check_filecache tests/static.sh tests/static-cache.sh \
	tests/static-cache-race.sh tests/static-cache-grace.sh
EXTRA_DIST += tests/static.sh tests/static-lib.sh tests/static-cache.sh \
	tests/static-cache-race.sh tests/static-cache-grace.sh
