# netbackd/local.mk: owned by netbackd/.
