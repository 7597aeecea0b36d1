# fuzz: libFuzzer targets for the code that reads untrusted bytes (durations, the config
# file, the command line, the control protocol), their seed corpora, and a replay of every
# seed and regression input under "make check". See fuzz/README.md.

FUZZ_TARGETS = duration config config_args proto_decode proto_stream admin

EXTRA_DIST += fuzz/README.md fuzz/RESULTS.md fuzz/run.sh fuzz/corpus tests/fuzz-regress

# make check: each target once over its inputs, built by the ordinary compiler. No clang,
# no libFuzzer: replay.c supplies main().
FUZZ_REPLAY = fuzz/replay-duration fuzz/replay-config fuzz/replay-config_args \
	fuzz/replay-proto_decode fuzz/replay-proto_stream fuzz/replay-admin
check_PROGRAMS += $(FUZZ_REPLAY)
TESTS += $(FUZZ_REPLAY)

# Findings not fixed yet keep their reproducers in tests/fuzz-regress/open/TARGET/; this
# test expects them to fail, and XPASSes (failing "make check") once one is fixed.
TESTS += fuzz/replay-open.sh
XFAIL_TESTS += fuzz/replay-open.sh
EXTRA_DIST += fuzz/replay-open.sh

# The directories each replay reads: its corpus, its regression inputs, and the invalid
# inputs the unit tests already keep. "?" marks a directory that may not exist yet.
fuzz_dirs = $(abs_top_srcdir)/fuzz/corpus/$(1):?$(abs_top_srcdir)/tests/fuzz-regress/$(1)

fuzz_replay_duration_SOURCES = fuzz/replay.c fuzz/fuzz.h fuzz/fuzz_duration.c
fuzz_replay_duration_CPPFLAGS = $(AM_CPPFLAGS) \
	-DFUZZ_REPLAY_DIRS='"$(call fuzz_dirs,duration)"'
fuzz_replay_duration_LDADD = libsvccore.la

fuzz_replay_config_SOURCES = fuzz/replay.c fuzz/fuzz.h fuzz/fuzz_config.c
fuzz_replay_config_CPPFLAGS = $(AM_CPPFLAGS) \
	-DFUZZ_REPLAY_DIRS='"$(call fuzz_dirs,config):$(abs_top_srcdir)/tests/config-invalid"'
fuzz_replay_config_LDADD = libsvcdaemon.la libsvccore.la

fuzz_replay_config_args_SOURCES = fuzz/replay.c fuzz/fuzz.h fuzz/fuzz_config_args.c
fuzz_replay_config_args_CPPFLAGS = $(AM_CPPFLAGS) \
	-DFUZZ_REPLAY_DIRS='"$(call fuzz_dirs,config_args)"'
fuzz_replay_config_args_LDADD = libsvcdaemon.la libsvccore.la

fuzz_replay_proto_decode_SOURCES = fuzz/replay.c fuzz/fuzz.h fuzz/fuzz_proto_decode.c
fuzz_replay_proto_decode_CPPFLAGS = $(AM_CPPFLAGS) \
	-DFUZZ_REPLAY_DIRS='"$(call fuzz_dirs,proto_decode):$(abs_top_srcdir)/tests/proto-invalid"'
fuzz_replay_proto_decode_LDADD = libsvccore.la

fuzz_replay_proto_stream_SOURCES = fuzz/replay.c fuzz/fuzz.h fuzz/fuzz_proto_stream.c
fuzz_replay_proto_stream_CPPFLAGS = $(AM_CPPFLAGS) \
	-DFUZZ_REPLAY_DIRS='"$(call fuzz_dirs,proto_stream):$(abs_top_srcdir)/tests/proto-invalid"'
fuzz_replay_proto_stream_LDADD = libsvccore.la

fuzz_replay_admin_SOURCES = fuzz/replay.c fuzz/fuzz.h fuzz/fuzz_admin.c
fuzz_replay_admin_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_REPLAY_DIRS='"$(call fuzz_dirs,admin)"'
fuzz_replay_admin_LDADD = libsvccore.la

# make fuzz: the same targets linked with libFuzzer, built by clang with ASan and UBSan
# whatever compiler configure chose. The project's sources are compiled again for it
# (libsvccore's list, and config.c), into fuzz/clang/, so the targets see instrumented code.
# Override on the command line: make fuzz FUZZ_SECONDS=600 FUZZ_TARGETS=duration
FUZZ_CC = clang
FUZZ_SECONDS = 60
FUZZ_SANITIZE = -fsanitize=address,undefined -fno-sanitize-recover=undefined \
	-fno-omit-frame-pointer
# FUZZ_DEFS: extra defines for the targets; -DFUZZ_SKIP_OPEN fuzzes past the open findings
# whose properties are guarded by it (see fuzz/README.md).
FUZZ_DEFS =
FUZZ_CFLAGS = -g -O1 $(FUZZ_SANITIZE) -pthread $(FUZZ_DEFS)
FUZZ_CPPFLAGS = $(AM_CPPFLAGS) $(MHD_CFLAGS) $(JANSSON_CFLAGS) $(SYSTEMD_CFLAGS)
FUZZ_LIBS = $(MHD_LIBS) $(JANSSON_LIBS) $(SYSTEMD_LIBS) -lm
FUZZ_DIR = fuzz/clang

# The longest input worth trying, per target: a duration is short; a config file or a
# message is a few KiB; the stream expands its 0xFE runs past the 64 KiB limit.
FUZZ_MAX_LEN_duration = 64
FUZZ_MAX_LEN_config = 4096
FUZZ_MAX_LEN_config_args = 1024
FUZZ_MAX_LEN_proto_decode = 4096
FUZZ_MAX_LEN_proto_stream = 8192
FUZZ_MAX_LEN_admin = 4096

FUZZ_SEEDS_duration =
FUZZ_SEEDS_config = $(top_srcdir)/tests/config-invalid
FUZZ_SEEDS_config_args =
FUZZ_SEEDS_proto_decode = $(top_srcdir)/tests/proto-invalid
FUZZ_SEEDS_proto_stream = $(top_srcdir)/tests/proto-invalid

FUZZ_SRCS = $(filter %.c,$(libsvccore_la_SOURCES)) src/config.c
FUZZ_OBJS = $(patsubst %.c,$(FUZZ_DIR)/%.o,$(FUZZ_SRCS))
FUZZ_BINS = $(patsubst %,$(FUZZ_DIR)/fuzz-%,$(FUZZ_TARGETS))

FUZZ_DEPS = $(wildcard $(srcdir)/src/*.h) $(srcdir)/fuzz/fuzz.h autoconfig.h

# The code under test carries libFuzzer's coverage instrumentation; the harnesses do not
# (their loops and oracles would only add noise to the coverage signal, and cost time).
# GNU make picks the rule with the shorter stem, so fuzz/*.c take the second.
$(FUZZ_DIR)/%.o: $(srcdir)/%.c $(FUZZ_DEPS)
	@$(MKDIR_P) $(@D)
	$(AM_V_CC)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(FUZZ_CPPFLAGS) -c -o $@ $<

$(FUZZ_DIR)/fuzz/%.o: $(srcdir)/fuzz/%.c $(FUZZ_DEPS)
	@$(MKDIR_P) $(@D)
	$(AM_V_CC)$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_CPPFLAGS) -c -o $@ $<

$(FUZZ_DIR)/fuzz-%: $(FUZZ_DIR)/fuzz/fuzz_%.o $(FUZZ_OBJS)
	$(AM_V_CCLD)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $^ $(FUZZ_LIBS)

fuzz-build: $(FUZZ_BINS)

# Each target for FUZZ_SECONDS; all run even when one finds something, and then make fails.
fuzz: fuzz-build
	@status=0; \
	$(foreach t,$(FUZZ_TARGETS),$(SHELL) $(srcdir)/fuzz/run.sh $(t) $(FUZZ_DIR)/fuzz-$(t) \
	  $(FUZZ_DIR) $(FUZZ_MAX_LEN_$(t)) $(FUZZ_SECONDS) \
	  $(srcdir)/fuzz/corpus/$(t) $(srcdir)/tests/fuzz-regress/$(t) $(FUZZ_SEEDS_$(t)) \
	  || status=1;) \
	exit $$status

# Folds what the last runs found into the committed corpora, minimised: libFuzzer adds an
# input to found/ only if it adds coverage to what found/ already holds.
fuzz-merge: fuzz-build
	@$(foreach t,$(FUZZ_TARGETS),$(MKDIR_P) $(srcdir)/fuzz/corpus/$(t)/found && \
	  $(FUZZ_DIR)/fuzz-$(t) -merge=1 -max_len=$(FUZZ_MAX_LEN_$(t)) \
	  $(srcdir)/fuzz/corpus/$(t)/found $(FUZZ_DIR)/corpus/$(t) >/dev/null 2>&1 && \
	  echo "$(t): $$(ls $(srcdir)/fuzz/corpus/$(t)/found | wc -l) inputs in found/" &&) true

fuzz-clean:
	-rm -rf $(FUZZ_DIR)

clean-local: fuzz-clean

.PRECIOUS: $(FUZZ_DIR)/%.o $(FUZZ_DIR)/fuzz/%.o
.PHONY: fuzz fuzz-build fuzz-merge fuzz-clean
