# packaging/local.mk: owned by packaging/.
