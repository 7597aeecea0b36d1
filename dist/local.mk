# dist: the systemd units. serviced.service is made from its template at build time, so
# that ExecStart= names the configured sbindir; serviced.socket needs no substitution.
systemdsystemunit_DATA = dist/serviced.service
dist_systemdsystemunit_DATA = dist/serviced.socket
EXTRA_DIST += dist/serviced.service.in
# An example, not installed: a Deployment with probes and a shutdown budget (README.md).
EXTRA_DIST += dist/kubernetes/deployment.yaml dist/kubernetes/README.md
CLEANFILES += dist/serviced.service

# Substituted by make, not configure: sbindir and bindir may be given at make time, and the unit has
# to follow it. Written to a temporary name first so an interrupted build leaves no unit.
dist/serviced.service: $(srcdir)/dist/serviced.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) dist && \
	$(SED) -e 's|@sbindir[@]|$(sbindir)|g' -e 's|@bindir[@]|$(bindir)|g' \
		$(srcdir)/dist/serviced.service.in >$@.tmp && \
	mv -f $@.tmp $@
