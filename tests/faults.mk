# tests/faults.mk: reliability under faults. Descriptors exhausted on the HTTP side
# (fault-fds.sh) and by others (fault-fds-idle.sh), 1,000 slow readers across a shutdown
# (fault-slowreaders.sh), clients hanging up mid-request during a drain
# (fault-disconnect.sh), misbehaving control clients and a killed "shutdown --wait"
# (fault-ctl.sh); and examples/notes, a SQLite notes store on libserviced, whose
# acknowledged writes must all survive a SIGTERM (notes.sh). tests/faultc.py holds the
# clients.
FAULT_TESTS = tests/fault-fds.sh tests/fault-fds-idle.sh tests/fault-slowreaders.sh \
	tests/fault-disconnect.sh tests/fault-ctl.sh tests/notes.sh
TESTS += $(FAULT_TESTS)
EXTRA_DIST += $(FAULT_TESTS) tests/faultc.py
# fault-fds-idle.sh: libmicrohttpd 0.9.75 busy-waits on EMFILE in a worker that holds no
# connection (the "at FIRST connection" case of MHD_accept_connection); the engine's
# logger makes that worker back off (src/engine.c, engine_mhd_log).

# The example application of notes.sh.
check_PROGRAMS += examples/notes
examples_notes_SOURCES = examples/notes.c
examples_notes_CFLAGS = $(AM_CFLAGS) $(SQLITE_CFLAGS)
examples_notes_LDADD = libserviced.la $(MHD_LIBS) $(JANSSON_LIBS) $(SQLITE_LIBS)
