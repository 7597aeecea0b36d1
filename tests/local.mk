# Tests. Each area keeps its own fragment; all run under "make check".
EXTRA_DIST += tests/lib.sh
include $(srcdir)/tests/engine.mk
include $(srcdir)/tests/config.mk
include $(srcdir)/tests/static.mk
include $(srcdir)/tests/proto.mk
include $(srcdir)/tests/systemd.mk
include $(srcdir)/tests/admin.mk
include $(srcdir)/tests/faults.mk
