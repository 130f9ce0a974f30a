# agentd/local.mk: owned by agentd/.
