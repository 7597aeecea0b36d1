# libserviced: the engine, installed as a shared library with one public header. Its code
# lives in a convenience library that the daemon, servicectl and the Check suites link
# directly, so tests can reach the internal modules.
noinst_LTLIBRARIES += libsvccore.la
libsvccore_la_SOURCES = \
	src/serviced.h \
	src/duration.c \
	src/lifecycle.c src/lifecycle.h \
	src/admit.c src/admit.h \
	src/conn.c src/conn.h \
	src/counts.c src/counts.h \
	src/engine.c src/engine.h \
	src/notify.c \
	src/admin.c src/admin.h
libsvccore_la_LIBADD = $(MHD_LIBS) $(JANSSON_LIBS) $(SYSTEMD_LIBS) -lm

lib_LTLIBRARIES += libserviced.la
libserviced_la_SOURCES =
libserviced_la_LIBADD = libsvccore.la
libserviced_la_LDFLAGS = $(AM_LDFLAGS) -version-info 0:0:0 -export-symbols-regex '^serviced_'
include_HEADERS += src/serviced.h
pkgconfig_DATA += src/libserviced.pc
EXTRA_DIST += src/libserviced.pc.in

# The daemon: everything but main() in a convenience library for the tests.
noinst_LTLIBRARIES += libsvcdaemon.la
libsvcdaemon_la_SOURCES = \
	src/config.c src/config.h \
	src/log.c src/log.h \
	src/static.c src/static.h \
	src/filecache.c src/filecache.h \
	src/daemon.c src/daemon.h

sbin_PROGRAMS += serviced
serviced_SOURCES = src/main.c
serviced_LDADD = libsvcdaemon.la libsvccore.la
