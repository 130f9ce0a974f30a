# netbackd/: the device daemon (core + devnet backend; the Xen backend is in xen.mk).
moatlibexec_PROGRAMS += netbackd/netbackd
netbackd_netbackd_SOURCES = netbackd/netbackd.c netbackd/nb.h netbackd/devnet.c
netbackd_netbackd_LDADD = $(MOAT_COMMON_LIBS)
include $(srcdir)/netbackd/xen.mk
