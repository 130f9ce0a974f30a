# moat/: the supervisor and its control client.
sbin_PROGRAMS += moat/moat
moat_moat_SOURCES = moat/moat.c
moat_moat_LDADD = $(MOAT_COMMON_LIBS) $(JANSSON_LIBS)
moat_moat_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
