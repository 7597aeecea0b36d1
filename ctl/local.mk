# The control protocol and socket live in libsvccore, next to the engine they drive: the
# daemon serves them, servicectl speaks the same codec (src/proto.c), and the Check suites
# reach both.
libsvccore_la_SOURCES += src/proto.c src/proto.h src/command.c src/command.h src/control.c

# servicectl: the command line over the control socket. Its grammar and main, the client
# end of the socket, and the two printers (human and JSON).
bin_PROGRAMS += servicectl
servicectl_SOURCES = ctl/servicectl.c ctl/ctl.h ctl/client.c ctl/print.c
servicectl_LDADD = libsvccore.la

dist_man_MANS += man/servicectl.1 man/serviced-control.7
EXTRA_DIST += dist/servicectl.bash-completion

# bash looks completions up by the command's name.
bashcompletiondir = $(datadir)/bash-completion/completions
install-data-local: install-bash-completion
install-bash-completion:
	$(MKDIR_P) '$(DESTDIR)$(bashcompletiondir)'
	$(INSTALL_DATA) '$(srcdir)/dist/servicectl.bash-completion' '$(DESTDIR)$(bashcompletiondir)/servicectl'
uninstall-local: uninstall-bash-completion
uninstall-bash-completion:
	rm -f '$(DESTDIR)$(bashcompletiondir)/servicectl'
.PHONY: install-bash-completion uninstall-bash-completion
