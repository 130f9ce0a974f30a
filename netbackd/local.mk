# netbackd/local.mk: owned by netbackd/.
include $(srcdir)/netbackd/xen.mk
