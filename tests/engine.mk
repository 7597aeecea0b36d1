# The shutdown engine: the state machine's unit tests, and end-to-end tests against the
# real daemon and against testapp, a server built on libserviced like any application.
check_PROGRAMS += tests/check_lifecycle tests/testapp
TESTS += tests/check_lifecycle
tests_check_lifecycle_SOURCES = tests/check_lifecycle.c
tests_check_lifecycle_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_lifecycle_LDADD = libsvccore.la $(CHECK_LIBS)

# The admission policy (connection limits, the per-address table).
check_PROGRAMS += tests/check_admit
TESTS += tests/check_admit
tests_check_admit_SOURCES = tests/check_admit.c
tests_check_admit_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_admit_LDADD = libsvccore.la $(CHECK_LIBS)

tests_testapp_SOURCES = tests/testapp.c
tests_testapp_LDADD = libsvcdaemon.la libsvccore.la

ENGINE_TESTS = tests/shutdown-download.sh tests/shutdown-keepalive.sh \
	tests/shutdown-bounds.sh tests/shutdown-streams.sh tests/shutdown-api.sh \
	tests/http-limits.sh tests/shutdown-knobs.sh tests/logging.sh tests/shutdown-fresh.sh \
	tests/reload-limits.sh tests/drain-load.sh tests/slow-clients.sh \
	tests/stop-continue.sh
TESTS += $(ENGINE_TESTS)
EXTRA_DIST += $(ENGINE_TESTS) tests/httpc.py tests/loadc.py
AM_TESTS_ENVIRONMENT += TESTAPP='$(abs_top_builddir)/tests/testapp'; export TESTAPP;

# The example of libserviced(3), linked against the installed-style shared library.
check_PROGRAMS += examples/hello
examples_hello_SOURCES = examples/hello.c
examples_hello_LDADD = libserviced.la $(MHD_LIBS)
TESTS += tests/example.sh
EXTRA_DIST += tests/example.sh
