# tests/proto.mk: the control protocol. check_proto holds the codec's unit tests; the
# invalid inputs it replays are data, one file per case, in tests/proto-invalid/.
# tests/ctl-*.sh drive servicectl against a real daemon (ctl-lib.sh is their shared part).
check_PROGRAMS += tests/check_proto
tests_check_proto_SOURCES = tests/check_proto.c
tests_check_proto_CPPFLAGS = $(AM_CPPFLAGS) \
	-DPROTO_INVALID_DIR='"$(abs_top_srcdir)/tests/proto-invalid"'
tests_check_proto_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_proto_LDADD = libsvccore.la $(CHECK_LIBS)

CTL_TESTS = tests/ctl-commands.sh tests/ctl-drain.sh tests/ctl-wait-clean.sh tests/ctl-creds.sh tests/ctl-limits.sh
TESTS += tests/check_proto $(CTL_TESTS)
EXTRA_DIST += tests/proto-invalid tests/ctl-lib.sh $(CTL_TESTS)
