# policyd/local.mk: owned by policyd/.
