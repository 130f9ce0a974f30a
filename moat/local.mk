# moat/: the supervisor and its control client.
sbin_PROGRAMS += moat/moat moat/moatctl
moat_moat_SOURCES = moat/moat.c moat/moat.h moat/ctl.h moat/daemons.c moat/services.c
moat_moat_LDADD = agentd/libagentdqdb.a policyd/libqrule.a $(MOAT_COMMON_LIBS) $(JANSSON_LIBS)
moat_moat_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
moat_moatctl_SOURCES = moat/moatctl.c moat/ctl.h
moat_moatctl_LDADD = $(MOAT_COMMON_LIBS)
