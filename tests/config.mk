# Configuration: durations, the command line and the JSON config file (Check suites), and
# the daemon's refusal of bad command lines (tests/cli.sh, which runs the real binary).
check_PROGRAMS += tests/check_duration tests/check_config
TESTS += tests/check_duration tests/check_config tests/cli.sh
EXTRA_DIST += tests/cli.sh tests/config-invalid

tests_check_duration_SOURCES = tests/check_duration.c
tests_check_duration_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_duration_LDADD = libsvccore.la $(CHECK_LIBS)

tests_check_config_SOURCES = tests/check_config.c
tests_check_config_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_config_LDADD = libsvcdaemon.la libsvccore.la $(CHECK_LIBS)
