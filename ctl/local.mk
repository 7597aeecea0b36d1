# servicectl: the command line over the control socket.
bin_PROGRAMS += servicectl
servicectl_SOURCES = ctl/servicectl.c
servicectl_LDADD = libsvccore.la
