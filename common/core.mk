# common/core.mk: tests of msg, log, proc, sandbox.
