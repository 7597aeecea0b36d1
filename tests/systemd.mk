# tests/systemd.mk
