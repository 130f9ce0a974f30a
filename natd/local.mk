# natd/local.mk: owned by natd/.
