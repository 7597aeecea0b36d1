# tests/static.mk: the static file module. check_static unit-tests its path, type, date and
# open logic (it compiles src/static.c in, to reach the internals); static.sh runs the
# daemon over a fixture tree, end to end.
check_PROGRAMS += tests/check_static
tests_check_static_SOURCES = tests/check_static.c
tests_check_static_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_static_LDADD = $(MHD_LIBS) $(CHECK_LIBS)

TESTS += tests/check_static tests/static.sh
EXTRA_DIST += tests/static.sh
