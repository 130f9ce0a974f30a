/*
 * test_agentd_conf: what the daemons learn from QubesDB. Every message
 * agentd sends for a database change, field by field: NETCONF, CLIENTS,
 * CLIENTS6,
 * and the QRULES_BEGIN / QRULE x count / QRULES_END sequence on a commit.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "t.h"
#include "agentd/agentd.h"
#include "log.h"

#define REC_MAX	64
static struct rec {
	uint32_t	type;
	size_t		len;
	union {
		struct msg_netconf	nc;
		struct msg_clients	cl;
		struct msg_clients6	cl6;
		struct msg_qrules_begin	b;
		struct msg_qrule	r;
		struct msg_qrules_end	e;
	} u;
} rec[REC_MAX];
static int nrec;

static int
record(void *arg, uint32_t type, const void *p, size_t len, int fd)
{
	/* Every message must also pass the real table. */
	if (type >= MSG_TYPE_COUNT || fd != -1)
		abort();
	if ((msg_table[type].size & MSG_SZ_VAR) ?
	    len > (msg_table[type].size & ~MSG_SZ_VAR) :
	    len != msg_table[type].size)
		abort();
	if (nrec >= REC_MAX)
		abort();
	rec[nrec].type = type;
	rec[nrec].len = len;
	memcpy(&rec[nrec].u, p, len);
	nrec++;
	return 0;
}

static uint32_t
ip(const char *s)
{
	return inet_addr(s);
}

static void
w(struct conf *c, const char *path, const char *val)
{
	conf_write(c, path, val, strlen(val));
}

static const char *base[][2] = {
	{ "/name", "sys-moat" },
	{ "/qubes-ip", "10.137.0.5" },
	{ "/qubes-netmask", "255.255.255.255" },
	{ "/qubes-gateway", "10.137.0.8" },
	{ "/qubes-primary-dns", "10.139.1.1" },
	{ "/qubes-secondary-dns", "10.139.1.2" },
	{ "/qubes-netvm-gateway", "10.137.0.5" },
	{ "/qubes-netvm-netmask", "255.255.255.255" },
	{ "/qubes-netvm-network", "10.137.0.5" },
	{ "/qubes-netvm-primary-dns", "10.139.1.1" },
	{ "/qubes-netvm-secondary-dns", "10.139.1.2" },
	{ "/qubes-debug-mode", "0" },
	{ "/connected-ips", "10.137.0.12 10.137.0.14" },
	{ "/mapped-ip/10.137.0.12/visible-ip", "10.137.0.12" },
	{ "/mapped-ip/10.137.0.12/visible-gateway", "10.137.0.5" },
	{ "/qubes-ip6", "fd09:24ef:4179::a89:5" },
	{ "/qubes-gateway6", "fd09:24ef:4179::a89:8" },
	{ "/qubes-netvm-gateway6", "fd09:24ef:4179::a89:5" },
	{ "/connected-ips6", "fd09:24ef:4179::a89:c fd09:24ef:4179::a89:e" },
	{ "/mapped-ip/fd09:24ef:4179::a89:c/visible-ip", "fd09:24ef:4179::a89:c" },
	{ "/mapped-ip/fd09:24ef:4179::a89:c/visible-gateway", "fd09:24ef:4179::a89:5" },
	{ "/qubes-firewall/10.137.0.12", "" },
	{ "/qubes-firewall/10.137.0.12/policy", "drop" },
	{ "/qubes-firewall/10.137.0.12/0000", "action=accept dst4=192.168.1.0/24 proto=tcp dstports=443-443" },
	{ "/qubes-firewall/10.137.0.12/0002", "action=accept specialtarget=dns" },
	{ "/qubes-firewall/10.137.0.12/0010", "action=drop" },
	{ "/qubes-firewall/fd09:24ef:4179::a89:c", "" },
	{ "/qubes-firewall/fd09:24ef:4179::a89:c/policy", "drop" },
	{ "/qubes-firewall/fd09:24ef:4179::a89:c/0001", "action=accept dst6=2001:db8::/32" },
};

static void
setup(struct conf *c)
{
	struct qdb src;
	size_t i;

	qdb_init(&src);
	for (i = 0; i < sizeof(base) / sizeof(base[0]); i++)
		if (qdb_write(&src, base[i][0], base[i][1], strlen(base[i][1])))
			abort();
	conf_init(c, record, NULL);
	nrec = 0;
	conf_replay(c, &src);
	qdb_free(&src);
}

static void
test_replay(void)
{
	struct conf c;
	struct msg_netconf *nc;
	struct msg_clients *cl;
	struct msg_clients6 *cl6;
	uint8_t a6[16];

	setup(&c);
	/* NETCONF, CLIENTS, CLIENTS6, then v4 rules (1+3+1), then v6 rules
	 * (1+1+1) */
	T_EQ_INT(nrec, 3 + 5 + 3);
	T_EQ_INT(rec[0].type, MSG_NETCONF);
	nc = &rec[0].u.nc;
	T_EQ_INT(nc->ip, ip("10.137.0.5"));
	T_EQ_INT(nc->netmask, ip("255.255.255.255"));
	T_EQ_INT(nc->gateway, ip("10.137.0.8"));
	T_EQ_INT(nc->dns[0], ip("10.139.1.1"));
	T_EQ_INT(nc->dns[1], ip("10.139.1.2"));
	T_EQ_INT(nc->netvm_gateway, ip("10.137.0.5"));
	T_EQ_INT(nc->netvm_netmask, ip("255.255.255.255"));
	T_EQ_INT(nc->netvm_network, ip("10.137.0.5"));
	T_EQ_INT(nc->netvm_dns[0], ip("10.139.1.1"));
	T_EQ_INT(nc->netvm_dns[1], ip("10.139.1.2"));
	T_EQ_INT(nc->debug, 0);
	T_EQ_INT(nc->pad, 0);
	inet_pton(AF_INET6, "fd09:24ef:4179::a89:5", a6);
	T_EQ_MEM(nc->ip6, a6, 16);
	T_EQ_MEM(nc->netvm_gateway6, a6, 16);
	inet_pton(AF_INET6, "fd09:24ef:4179::a89:8", a6);
	T_EQ_MEM(nc->gateway6, a6, 16);

	T_EQ_INT(rec[1].type, MSG_CLIENTS);
	cl = &rec[1].u.cl;
	T_EQ_INT(rec[1].len, 8 + 2 * 16);
	T_EQ_INT(cl->count, 2);
	T_EQ_INT(cl->c[0].ip, ip("10.137.0.12"));
	T_EQ_INT(cl->c[0].flags, CLIENT_F_CONNECTED);
	T_EQ_INT(cl->c[0].visible_ip, ip("10.137.0.12"));
	T_EQ_INT(cl->c[0].visible_gw, ip("10.137.0.5"));
	T_EQ_INT(cl->c[1].ip, ip("10.137.0.14"));
	T_EQ_INT(cl->c[1].visible_ip, 0);

	/* the IPv6 list: its own message, the IPv4 one is unchanged by it */
	T_EQ_INT(rec[2].type, MSG_CLIENTS6);
	cl6 = &rec[2].u.cl6;
	T_EQ_INT(rec[2].len, 8 + 2 * 52);
	T_EQ_INT(cl6->count, 2);
	inet_pton(AF_INET6, "fd09:24ef:4179::a89:c", a6);
	T_EQ_MEM(cl6->c[0].ip, a6, 16);
	T_EQ_MEM(cl6->c[0].visible_ip, a6, 16);
	T_EQ_INT(cl6->c[0].flags, CLIENT_F_CONNECTED);
	inet_pton(AF_INET6, "fd09:24ef:4179::a89:5", a6);
	T_EQ_MEM(cl6->c[0].visible_gw, a6, 16);
	inet_pton(AF_INET6, "fd09:24ef:4179::a89:e", a6);
	T_EQ_MEM(cl6->c[1].ip, a6, 16);
	T_EQ_INT(cl6->c[1].flags, CLIENT_F_CONNECTED);
	T_EQ_MEM(cl6->c[1].visible_ip, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16);

	T_EQ_INT(rec[3].type, MSG_QRULES_BEGIN);
	T_EQ_INT(rec[3].u.b.family, 4);
	T_EQ_MEM(rec[3].u.b.addr, "\x0a\x89\x00\x0c\0\0\0\0\0\0\0\0\0\0\0\0", 16);
	T_EQ_STR(rec[3].u.b.policy, "drop");
	T_EQ_INT(rec[3].u.b.count, 3);
	T_EQ_INT(rec[4].type, MSG_QRULE);
	T_EQ_INT(rec[4].u.r.key, 0);
	T_EQ_INT(rec[4].u.r.len, strlen(base[23][1]));
	T_EQ_MEM(rec[4].u.r.text, base[23][1], rec[4].u.r.len);
	/* gaps are kept: 0, 2, 10 */
	T_EQ_INT(rec[5].u.r.key, 2);
	T_EQ_INT(rec[6].u.r.key, 10);
	T_EQ_INT(rec[6].u.r.len, 11);
	T_EQ_MEM(rec[6].u.r.text, "action=drop", 11);
	T_EQ_INT(rec[7].type, MSG_QRULES_END);
	T_EQ_INT(rec[7].u.e.family, 4);
	T_EQ_MEM(rec[7].u.e.addr, rec[3].u.b.addr, 16);

	T_EQ_INT(rec[8].type, MSG_QRULES_BEGIN);
	T_EQ_INT(rec[8].u.b.family, 6);
	inet_pton(AF_INET6, "fd09:24ef:4179::a89:c", a6);
	T_EQ_MEM(rec[8].u.b.addr, a6, 16);
	T_EQ_INT(rec[8].u.b.count, 1);
	T_EQ_INT(rec[9].u.r.key, 1);
	T_EQ_INT(rec[10].type, MSG_QRULES_END);
	T_EQ_INT(rec[10].u.e.family, 6);
	conf_free(&c);
}

static void
test_netconf_live(void)
{
	struct conf c;

	setup(&c);
	nrec = 0;
	/* the same value again changes nothing */
	w(&c, "/qubes-ip", "10.137.0.5");
	T_EQ_INT(nrec, 0);
	w(&c, "/qubes-gateway", "10.137.0.9");
	T_EQ_INT(nrec, 1);
	T_EQ_INT(rec[0].type, MSG_NETCONF);
	T_EQ_INT(rec[0].u.nc.gateway, ip("10.137.0.9"));
	T_EQ_INT(rec[0].u.nc.ip, ip("10.137.0.5"));
	w(&c, "/qubes-debug-mode", "1");
	T_EQ_INT(nrec, 2);
	T_EQ_INT(rec[1].u.nc.debug, 1);
	/* a malformed value reads as unset, and says so in the log */
	w(&c, "/qubes-secondary-dns", "nope");
	T_EQ_INT(nrec, 3);
	T_EQ_INT(rec[2].u.nc.dns[1], 0);
	T_EQ_INT(rec[2].u.nc.dns[0], ip("10.139.1.1"));
	conf_rm(&c, "/qubes-primary-dns");
	T_EQ_INT(nrec, 4);
	T_EQ_INT(rec[3].u.nc.dns[0], 0);
	/* unrelated keys send nothing */
	w(&c, "/qubes-service/foo", "1");
	conf_rm(&c, "/qubes-service/foo");
	conf_rm(&c, "/missing");
	T_EQ_INT(nrec, 4);
	conf_free(&c);
}

static void
test_clients_live(void)
{
	struct conf c;

	setup(&c);
	nrec = 0;
	w(&c, "/connected-ips", "10.137.0.12");
	T_EQ_INT(nrec, 1);
	T_EQ_INT(rec[0].type, MSG_CLIENTS);
	T_EQ_INT(rec[0].u.cl.count, 1);
	w(&c, "/mapped-ip/10.137.0.20/visible-ip", "10.137.0.99");
	T_EQ_INT(nrec, 2);
	T_EQ_INT(rec[1].u.cl.count, 2);
	T_EQ_INT(rec[1].u.cl.c[1].ip, ip("10.137.0.20"));
	T_EQ_INT(rec[1].u.cl.c[1].flags, 0);
	T_EQ_INT(rec[1].u.cl.c[1].visible_ip, ip("10.137.0.99"));
	/* a subtree rm covers both families: each list is re-sent */
	conf_rm(&c, "/mapped-ip/");
	T_EQ_INT(nrec, 4);
	T_EQ_INT(rec[2].type, MSG_CLIENTS);
	T_EQ_INT(rec[2].u.cl.count, 1);
	T_EQ_INT(rec[2].u.cl.c[0].visible_ip, 0);
	T_EQ_INT(rec[3].type, MSG_CLIENTS6);
	T_EQ_INT(rec[3].u.cl6.count, 2);
	conf_free(&c);
}

/* The IPv6 addresses of moat itself, and a bad one read as unset. */
static void
test_netconf6_live(void)
{
	struct conf c;
	uint8_t a6[16];

	setup(&c);
	nrec = 0;
	w(&c, "/qubes-gateway6", "2001:db8::1");
	T_EQ_INT(nrec, 1);
	T_EQ_INT(rec[0].type, MSG_NETCONF);
	inet_pton(AF_INET6, "2001:db8::1", a6);
	T_EQ_MEM(rec[0].u.nc.gateway6, a6, 16);
	T_EQ_INT(rec[0].u.nc.ip, ip("10.137.0.5"));
	w(&c, "/qubes-ip6", "10.137.0.5");	/* not IPv6: unset */
	T_EQ_INT(nrec, 2);
	T_EQ_MEM(rec[1].u.nc.ip6, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16);
	conf_rm(&c, "/qubes-netvm-gateway6");
	T_EQ_INT(nrec, 3);
	T_EQ_MEM(rec[2].u.nc.netvm_gateway6, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16);
	T_EQ_MEM(rec[2].u.nc.gateway6, a6, 16);
	conf_free(&c);
}

/* /connected-ips6 and IPv6 mappings change MSG_CLIENTS6 only, and the IPv4
 * keys MSG_CLIENTS only. */
static void
test_clients6_live(void)
{
	struct conf c;
	uint8_t a6[16];

	setup(&c);
	nrec = 0;
	w(&c, "/connected-ips6", "fd09:24ef:4179::a89:e");
	T_EQ_INT(nrec, 1);
	T_EQ_INT(rec[0].type, MSG_CLIENTS6);
	/* ::c stays, through its mapping, without the connected flag */
	T_EQ_INT(rec[0].u.cl6.count, 2);
	inet_pton(AF_INET6, "fd09:24ef:4179::a89:e", a6);
	T_EQ_MEM(rec[0].u.cl6.c[0].ip, a6, 16);
	T_EQ_INT(rec[0].u.cl6.c[0].flags, CLIENT_F_CONNECTED);
	T_EQ_INT(rec[0].u.cl6.c[1].flags, 0);
	w(&c, "/mapped-ip/fd09:24ef:4179::a89:20/visible-ip", "fd09:24ef:4179::a89:99");
	T_EQ_INT(nrec, 2);
	T_EQ_INT(rec[1].type, MSG_CLIENTS6);
	T_EQ_INT(rec[1].u.cl6.count, 3);
	/* mappings are read in key order: ::20 before ::c */
	inet_pton(AF_INET6, "fd09:24ef:4179::a89:20", a6);
	T_EQ_MEM(rec[1].u.cl6.c[1].ip, a6, 16);
	inet_pton(AF_INET6, "fd09:24ef:4179::a89:99", a6);
	T_EQ_MEM(rec[1].u.cl6.c[1].visible_ip, a6, 16);
	/* a list with a non-IPv6 word is refused whole, as for IPv4 */
	w(&c, "/connected-ips6", "fd09:24ef:4179::a89:e 10.137.0.12");
	T_EQ_INT(nrec, 3);
	T_EQ_INT(rec[2].u.cl6.count, 2);	/* only the two mappings */
	T_EQ_INT(rec[2].u.cl6.c[0].flags, 0);
	w(&c, "/connected-ips", "10.137.0.12");
	T_EQ_INT(nrec, 4);
	T_EQ_INT(rec[3].type, MSG_CLIENTS);
	conf_rm(&c, "/mapped-ip/");
	T_EQ_INT(nrec, 6);
	T_EQ_INT(rec[4].type, MSG_CLIENTS);
	T_EQ_INT(rec[5].type, MSG_CLIENTS6);
	T_EQ_INT(rec[5].u.cl6.count, 0);
	conf_free(&c);
}

/* dom0's reload_firewall_for_vm: rm subtree, write keys, write marker. */
static void
test_commit(void)
{
	struct conf c;

	setup(&c);
	nrec = 0;
	conf_rm(&c, "/qubes-firewall/10.137.0.12/");
	w(&c, "/qubes-firewall/10.137.0.12/policy", "drop");
	w(&c, "/qubes-firewall/10.137.0.12/0003", "action=accept proto=udp");
	w(&c, "/qubes-firewall/10.137.0.12/0001", "action=accept proto=tcp");
	T_EQ_INT(nrec, 0);	/* nothing until the marker */
	w(&c, "/qubes-firewall/10.137.0.12", "");
	T_EQ_INT(nrec, 4);
	T_EQ_INT(rec[0].type, MSG_QRULES_BEGIN);
	T_EQ_INT(rec[0].u.b.count, 2);
	T_EQ_INT(rec[1].u.r.key, 1);
	T_EQ_MEM(rec[1].u.r.text, "action=accept proto=tcp", 23);
	T_EQ_INT(rec[2].u.r.key, 3);
	T_EQ_INT(rec[3].type, MSG_QRULES_END);
	/* no policy key: "" */
	nrec = 0;
	conf_rm(&c, "/qubes-firewall/10.137.0.12/");
	w(&c, "/qubes-firewall/10.137.0.12", "");
	T_EQ_INT(nrec, 2);
	T_EQ_STR(rec[0].u.b.policy, "");
	T_EQ_INT(rec[0].u.b.count, 0);
	T_EQ_INT(rec[1].type, MSG_QRULES_END);
	conf_free(&c);
}

/* A subtree agentd cannot read in full: the client gets drop-all. */
static void
test_commit_fail_closed(void)
{
	static const char *bad[][2] = {
		{ "/qubes-firewall/10.137.0.12/policy", "accept-ish" },
		{ "/qubes-firewall/10.137.0.12/extra", "x" },
		{ "/qubes-firewall/10.137.0.12/0001", NULL },	/* too long */
		{ "/qubes-firewall/10.137.0.12/0001/x", "x" },
	};
	char longrule[QRULE_MAX + 2];
	struct conf c;
	size_t i;

	memset(longrule, 'a', sizeof(longrule) - 1);
	longrule[sizeof(longrule) - 1] = '\0';
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setup(&c);
		nrec = 0;
		conf_rm(&c, "/qubes-firewall/10.137.0.12/");
		w(&c, "/qubes-firewall/10.137.0.12/policy", "accept");
		w(&c, "/qubes-firewall/10.137.0.12/0000", "action=accept");
		w(&c, bad[i][0], bad[i][1] ? bad[i][1] : longrule);
		w(&c, "/qubes-firewall/10.137.0.12", "");
		T_EQ_INT(nrec, 3);
		T_EQ_STR(rec[0].u.b.policy, "drop");
		T_EQ_INT(rec[0].u.b.count, 1);
		T_EQ_INT(rec[1].u.r.len, 11);
		T_EQ_MEM(rec[1].u.r.text, "action=drop", 11);
		T_EQ_INT(rec[2].type, MSG_QRULES_END);
		conf_free(&c);
	}
}

/* A new dump replaces the database and re-states everything. */
static void
test_resync(void)
{
	struct conf c;

	setup(&c);
	nrec = 0;
	conf_sync_begin(&c);
	w(&c, "/qubes-ip", "10.137.0.6");
	w(&c, "/qubes-firewall/10.1.1.1", "");
	T_EQ_INT(nrec, 0);
	conf_sync_end(&c);
	T_EQ_INT(nrec, 5);
	T_EQ_INT(rec[0].type, MSG_NETCONF);
	T_EQ_INT(rec[0].u.nc.ip, ip("10.137.0.6"));
	T_EQ_INT(rec[0].u.nc.gateway, 0);	/* gone with the old db */
	T_EQ_INT(rec[1].type, MSG_CLIENTS);
	T_EQ_INT(rec[1].u.cl.count, 0);
	T_EQ_INT(rec[1].len, 8);
	/* the IPv6 list is re-stated too, empty: a daemon forgets the old one */
	T_EQ_INT(rec[2].type, MSG_CLIENTS6);
	T_EQ_INT(rec[2].u.cl6.count, 0);
	T_EQ_INT(rec[2].len, 8);
	T_EQ_INT(rec[3].type, MSG_QRULES_BEGIN);
	T_EQ_INT(rec[4].type, MSG_QRULES_END);
	T_ASSERT(qdb_value(&c.db, "/name") == NULL);
	conf_free(&c);
}

int
main(void)
{
	log_init("test", LOG_LVL_ERROR);
	T_RUN(test_replay);
	T_RUN(test_netconf_live);
	T_RUN(test_clients_live);
	T_RUN(test_netconf6_live);
	T_RUN(test_clients6_live);
	T_RUN(test_commit);
	T_RUN(test_commit_fail_closed);
	T_RUN(test_resync);
	return t_done();
}
