# tools/moat-dom0/local.mk: moat-dom0, which plays dom0 (qubesdb-daemon +
# qrexec-daemon) for a moat VM over socket or Xen vchans: for tests and
# demos without Qubes, and in the dom0 of the Xen tests (tests/xen/). It
# runs in dom0, not in the VM, and shares only the wire code with agentd
# (agentd/libqubeswire.a) and the database (agentd/libagentdqdb.a).
bin_PROGRAMS += tools/moat-dom0/moat-dom0
tools_moat_dom0_moat_dom0_SOURCES = tools/moat-dom0/moat-dom0.c \
	tools/moat-dom0/dom0.h tools/moat-dom0/dom0_qdb.c \
	tools/moat-dom0/dom0_qrexec.c tools/moat-dom0/dom0_serve.c \
	tools/moat-dom0/dom0_client.c
tools_moat_dom0_moat_dom0_CFLAGS = $(AM_CFLAGS) $(XENSTORE_CFLAGS) $(XENCTRL_CFLAGS) -D__XEN_TOOLS__
tools_moat_dom0_moat_dom0_LDADD = $(QUBESWIRE_LIBS) $(XENCTRL_LIBS)
