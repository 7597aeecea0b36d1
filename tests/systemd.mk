# tests/systemd.mk: tests under a private, real systemd manager (tests/systemd/manager.sh).
# They need root and skip (77) without it.
TESTS += tests/systemd/smoke.sh
EXTRA_DIST += tests/systemd/manager.sh tests/systemd/smoke.sh
