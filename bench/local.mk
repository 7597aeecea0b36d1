# bench: `make bench` measures serviced against nginx and against bare libmicrohttpd
# (bench/run.sh; the figures and how to read them are in BENCHMARKS.md). Under
# `make check`, bench/smoke.sh runs the same script for about a second of each
# measurement, so the scripts keep working; it skips without wrk or nginx.
# bare (the cost floor) and svcbench (the measurements wrk cannot make) are check
# programs, built for both.
check_PROGRAMS += bench/bare bench/svcbench bench/rssfloor-mhd bench/rssfloor-deps
bench_bare_SOURCES = bench/bare.c
bench_bare_LDADD = $(MHD_LIBS)
# The resident memory of the libraries alone: libmicrohttpd, then all that serviced links.
bench_rssfloor_mhd_SOURCES = bench/rssfloor.c
bench_rssfloor_mhd_LDADD = $(MHD_LIBS)
bench_rssfloor_deps_SOURCES = bench/rssfloor.c
bench_rssfloor_deps_CPPFLAGS = $(AM_CPPFLAGS) -DRSSFLOOR_DEPS
bench_rssfloor_deps_LDADD = $(MHD_LIBS) $(SYSTEMD_LIBS) $(JANSSON_LIBS)
bench_svcbench_SOURCES = bench/svcbench.c
bench_svcbench_LDADD = $(JANSSON_LIBS)

TESTS += bench/smoke.sh
EXTRA_DIST += bench/smoke.sh bench/run.sh bench/drain.gp bench/watch.awk bench/drain.png
AM_TESTS_ENVIRONMENT += BARE='$(abs_top_builddir)/bench/bare'; \
	SVCBENCH='$(abs_top_builddir)/bench/svcbench'; \
	RSSFLOOR='$(abs_top_builddir)/bench/rssfloor'; export BARE SVCBENCH RSSFLOOR;

# Extra arguments for run.sh, e.g. make bench BENCH_ARGS='--runs 5 --duration 10'.
BENCH_ARGS =
bench: serviced$(EXEEXT) servicectl$(EXEEXT) tests/testapp$(EXEEXT) bench/bare$(EXEEXT) \
		bench/svcbench$(EXEEXT) bench/rssfloor-mhd$(EXEEXT) bench/rssfloor-deps$(EXEEXT)
	$(MKDIR_P) bench
	top_builddir='$(abs_top_builddir)' SERVICED='$(abs_top_builddir)/serviced' \
	SERVICECTL='$(abs_top_builddir)/servicectl' TESTAPP='$(abs_top_builddir)/tests/testapp' \
	BARE='$(abs_top_builddir)/bench/bare' SVCBENCH='$(abs_top_builddir)/bench/svcbench' \
	RSSFLOOR='$(abs_top_builddir)/bench/rssfloor' \
	bash '$(srcdir)/bench/run.sh' --plot '$(abs_top_builddir)/bench/drain.png' $(BENCH_ARGS)
.PHONY: bench
