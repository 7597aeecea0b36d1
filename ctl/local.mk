# The control protocol and socket live in libsvccore, next to the engine they drive: the
# daemon serves them, servicectl speaks the same codec (src/proto.c), and the Check suites
# reach both.
libsvccore_la_SOURCES += src/proto.c src/proto.h src/command.c src/command.h src/control.c

# servicectl: the command line over the control socket.
bin_PROGRAMS += servicectl
servicectl_SOURCES = ctl/servicectl.c ctl/ctl.h ctl/client.c ctl/print.c
servicectl_LDADD = libsvccore.la
