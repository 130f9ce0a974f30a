# common/pkt.mk: packet parsing, checksums, builders; their tests and fuzz target.
