# common/: the static library every program links.
noinst_LIBRARIES += libmoatcommon.a
libmoatcommon_a_SOURCES = \
	common/msg.c common/msg.h \
	common/log.c common/log.h \
	common/proc.c common/proc.h \
	common/sandbox.c common/sandbox.h \
	common/util.c common/util.h \
	common/shm.c common/shm.h \
	common/daemon.c common/daemon.h \
	common/evloop.c common/evloop.h \
	common/flowreq.h
MOAT_COMMON_LIBS = libmoatcommon.a $(SECCOMP_LIBS)

include $(srcdir)/common/pkt.mk
include $(srcdir)/common/ring.mk
include $(srcdir)/common/core.mk
