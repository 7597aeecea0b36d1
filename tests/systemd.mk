# tests/systemd.mk: tests under a private, real systemd manager (tests/systemd/manager.sh).
# They need root and skip (77) without it. Each boots its own manager and uses ports of its
# own, so they run in parallel with each other and with the rest of "make check".
SYSTEMD_TESTS = \
	tests/systemd/smoke.sh \
	tests/systemd/notify.sh \
	tests/systemd/stop-drain.sh \
	tests/systemd/watchdog.sh \
	tests/systemd/socket-restart.sh
TESTS += $(SYSTEMD_TESTS)
EXTRA_DIST += $(SYSTEMD_TESTS) tests/systemd/manager.sh tests/systemd/serviced-lib.sh
