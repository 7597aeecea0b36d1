# tests/proto.mk
