# common/ring.mk: shared-memory rings and pool; stress test and benchmark.
