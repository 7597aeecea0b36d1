# tests/admin.mk: the HTTP admin endpoint. check_admin drives the pure core
# (admin_handle) and the token file loader; tests/admin.sh drives the real daemon with
# curl: tokens, bad bodies, every status code, and the endpoint answering through a drain.
check_PROGRAMS += tests/check_admin
tests_check_admin_SOURCES = tests/check_admin.c
tests_check_admin_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_admin_LDADD = libsvccore.la $(CHECK_LIBS)

TESTS += tests/check_admin tests/admin.sh
EXTRA_DIST += tests/admin.sh
