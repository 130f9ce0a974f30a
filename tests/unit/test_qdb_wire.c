/*
 * test_qdb_wire: agentd's QubesDB client, byte for byte against what Qubes
 * 4.2's dom0 qubesdb-daemon sends and expects (qubes-protocols.md §2,
 * qubes-observed.md §2), and hostile input from that end.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "t.h"
#include "agentd/agentd.h"
#include "log.h"

static int nsent;
static uint32_t sent_types[64];

static int
record(void *arg, uint32_t type, const void *p, size_t len, int fd)
{
	if (nsent < 64)
		sent_types[nsent] = type;
	nsent++;
	return 0;
}

static struct conf conf;
static struct qdbc q;

static void
fresh(void)
{
	conf_free(&conf);
	conf_init(&conf, record, NULL);
	qdbc_init(&q, &conf);
	nsent = 0;
}

/* A header as dom0 builds it, with junk where dom0 leaves junk: the pad
 * and the path's tail after its NUL (observed: "5b 09 22", stack bytes). */
static size_t
dom0_msg(uint8_t *out, uint8_t type, const char *path, const char *val,
    size_t vlen)
{
	memset(out, 0xa5, 72);
	out[0] = type;
	memcpy(out + 1, path, strlen(path) + 1);
	out[65] = 0x5b;
	out[66] = 0x09;
	out[67] = 0x22;
	out[68] = (uint8_t)vlen;
	out[69] = (uint8_t)(vlen >> 8);
	out[70] = 0;
	out[71] = 0;
	if (vlen)
		memcpy(out + 72, val, vlen);
	return 72 + vlen;
}

static int
feed(const uint8_t *b, size_t len)
{
	return qdbc_input(&q, b, len);
}

static void
test_multiread_bytes(void)
{
	uint8_t want[72];

	fresh();
	qdbc_connected(&q);
	/* {type 2, path "", pad 0, data_len 0}: 72 bytes, all zero but the type */
	memset(want, 0, sizeof(want));
	want[0] = 0x02;
	T_EQ_INT(q.outlen, 72);
	T_EQ_MEM(q.out, want, 72);
	T_EQ_INT(q.state, QDBC_DUMP);
}

static void
test_dump(void)
{
	uint8_t b[8192];
	size_t n = 0;

	fresh();
	qdbc_connected(&q);
	qdbc_sent(&q, 72);
	/* reverse byte order of path, as dom0 sends it */
	n += dom0_msg(b + n, 11, "/qubes-ip", "10.137.0.5", 10);
	n += dom0_msg(b + n, 11, "/qubes-iptables-error", "", 0);
	n += dom0_msg(b + n, 11, "/qubes-gateway", "10.137.0.8", 10);
	n += dom0_msg(b + n, 11, "/qubes-firewall/10.137.0.12/0000", "action=accept", 13);
	n += dom0_msg(b + n, 11, "/qubes-firewall/10.137.0.12", "", 0);
	n += dom0_msg(b + n, 11, "/name", "sys-moat", 8);
	/* terminator: path[0] = 0, leftovers of the previous path after it */
	n += dom0_msg(b + n, 11, "", NULL, 0);
	memcpy(b + n - 72 + 2, "name", 4);
	/* byte by byte: the parser must not care how the ring splits it */
	for (size_t i = 0; i < n; i++)
		T_ASSERT(feed(b + i, 1) == 0);
	T_EQ_INT(q.state, QDBC_SYNCED);
	T_EQ_INT(conf.db.n, 6);
	T_EQ_STR(qdb_value(&conf.db, "/qubes-iptables-error"), "");
	T_EQ_STR(qdb_value(&conf.db, "/name"), "sys-moat");
	/* the dump is answered with nothing; the end sends the config */
	T_EQ_INT(q.outlen, 0);
	T_EQ_INT(nsent, 6);	/* NETCONF, CLIENTS, CLIENTS6, BEGIN, QRULE, END */
	T_EQ_INT(sent_types[0], MSG_NETCONF);
	T_EQ_INT(sent_types[2], MSG_CLIENTS6);
	T_EQ_INT(sent_types[3], MSG_QRULES_BEGIN);
}

static void
synced(void)
{
	uint8_t b[72];

	fresh();
	qdbc_connected(&q);
	qdbc_sent(&q, 72);
	dom0_msg(b, 11, "", NULL, 0);
	feed(b, 72);
	nsent = 0;
}

static void
test_push_write_acked(void)
{
	uint8_t b[256], want[72];
	size_t n;

	synced();
	n = dom0_msg(b, 1, "/qubes-gateway", "10.137.0.9", 10);
	T_EQ_INT(feed(b, n), 0);
	T_EQ_STR(qdb_value(&conf.db, "/qubes-gateway"), "10.137.0.9");
	T_EQ_INT(nsent, 1);
	T_EQ_INT(sent_types[0], MSG_NETCONF);
	/* RESP_OK with the same path, a clean header, no data */
	memset(want, 0, sizeof(want));
	want[0] = 7;
	memcpy(want + 1, "/qubes-gateway", 14);
	T_EQ_INT(q.outlen, 72);
	T_EQ_MEM(q.out, want, 72);
}

static void
test_push_rm_acked(void)
{
	uint8_t b[256], want[144];
	size_t n = 0;

	synced();
	n += dom0_msg(b + n, 1, "/d/x", "1", 1);
	n += dom0_msg(b + n, 1, "/d/y", "2", 1);
	feed(b, n);
	qdbc_sent(&q, q.outlen);
	n = dom0_msg(b, 4, "/d/", NULL, 0);
	n += dom0_msg(b + n, 4, "/missing", NULL, 0);
	T_EQ_INT(feed(b, n), 0);
	T_EQ_INT(conf.db.n, 0);
	/* both acked with RESP_OK: NOENT on the vchan would kill dom0 */
	memset(want, 0, sizeof(want));
	want[0] = 7;
	memcpy(want + 1, "/d/", 3);
	want[72] = 7;
	memcpy(want + 73, "/missing", 8);
	T_EQ_INT(q.outlen, 144);
	T_EQ_MEM(q.out, want, 144);
}

static void
test_hostile_framing(void)
{
	uint8_t b[4096];

	/* data_len 3072: one more than dom0 ever sends */
	synced();
	dom0_msg(b, 1, "/a", NULL, 0);
	b[68] = 0x00;
	b[69] = 0x0c;
	T_EQ_INT(feed(b, 72), -1);
	T_EQ_INT(q.state, QDBC_IDLE);
	/* an absurd data_len is refused from the header alone */
	synced();
	dom0_msg(b, 1, "/a", NULL, 0);
	b[71] = 0xff;
	T_EQ_INT(feed(b, 72), -1);
	/* a path with no NUL in its 64 bytes */
	synced();
	dom0_msg(b, 1, "/a", NULL, 0);
	memset(b + 1, 'a', 64);
	T_EQ_INT(feed(b, 72), -1);
	/* a truncated header is just incomplete */
	synced();
	dom0_msg(b, 1, "/a", "x", 1);
	T_EQ_INT(feed(b, 40), 0);
	T_EQ_INT(q.state, QDBC_SYNCED);
	T_ASSERT(qdb_value(&conf.db, "/a") == NULL);
	T_EQ_INT(feed(b + 40, 33), 0);
	T_EQ_STR(qdb_value(&conf.db, "/a"), "x");
	/* input before the connection exists is refused */
	fresh();
	T_EQ_INT(feed(b, 10), -1);
}

static void
test_hostile_messages(void)
{
	uint8_t b[4096];
	size_t n;
	static const uint8_t types[] = { 0, 2, 3, 5, 6, 8, 10, 12, 13, 14, 0xff };

	/* types dom0 never sends to a VM: skipped by their length, unanswered */
	synced();
	for (size_t i = 0; i < sizeof(types); i++) {
		n = dom0_msg(b, types[i], "/x", "abc", 3);
		T_EQ_INT(feed(b, n), 0);
	}
	T_EQ_INT(q.outlen, 0);
	T_EQ_INT(conf.db.n, 0);
	T_EQ_INT(q.nrefused, sizeof(types));
	/* a path dom0 would refuse: not stored, and never echoed back (an
	 * echo of a bad path would make dom0's daemon exit) */
	n = dom0_msg(b, 1, "/a b", "x", 1);
	T_EQ_INT(feed(b, n), 0);
	n = dom0_msg(b, 1, "-a", "x", 1);
	T_EQ_INT(feed(b, n), 0);
	n = dom0_msg(b, 4, "/a*", NULL, 0);
	T_EQ_INT(feed(b, n), 0);
	/* a value with a NUL in it */
	n = dom0_msg(b, 1, "/v", "a\0b", 3);
	T_EQ_INT(feed(b, n), 0);
	/* an RM with data */
	n = dom0_msg(b, 4, "/v", "zz", 2);
	T_EQ_INT(feed(b, n), 0);
	/* a dump entry after the dump */
	n = dom0_msg(b, 11, "/late", "x", 1);
	T_EQ_INT(feed(b, n), 0);
	T_EQ_INT(q.outlen, 0);
	T_EQ_INT(conf.db.n, 0);
	T_EQ_INT(nsent, 0);
	/* and the stream is still in step: a good write goes through */
	n = dom0_msg(b, 1, "/ok", "1", 1);
	T_EQ_INT(feed(b, n), 0);
	T_EQ_INT(q.outlen, 72);
	/* RESP_OK / RESP_ERROR from dom0 are harmless */
	n = dom0_msg(b, 7, "/ok", NULL, 0);
	n += dom0_msg(b + n, 9, "/ok", NULL, 0);
	T_EQ_INT(feed(b, n), 0);
	T_EQ_INT(q.outlen, 72);
}

/* A reconnect starts over: a new MULTIREAD and a new database. */
static void
test_reconnect(void)
{
	uint8_t b[256];
	size_t n;

	synced();
	n = dom0_msg(b, 1, "/old", "1", 1);
	feed(b, n);
	q.state = QDBC_IDLE;
	qdbc_connected(&q);
	T_EQ_INT(q.outlen, 72);
	T_EQ_INT(q.out[0], 2);
	n = dom0_msg(b, 11, "/new", "1", 1);
	n += dom0_msg(b + n, 11, "", NULL, 0);
	feed(b, n);
	T_ASSERT(qdb_value(&conf.db, "/old") == NULL);
	T_EQ_STR(qdb_value(&conf.db, "/new"), "1");
}

static void
test_hdr_compose(void)
{
	uint8_t h[72], want[72];
	char longp[100];

	qdb_wire_hdr(h, 1, "/qubes-iptables-error", 0x0a0b);
	memset(want, 0, 72);
	want[0] = 1;
	memcpy(want + 1, "/qubes-iptables-error", 21);
	want[68] = 0x0b;
	want[69] = 0x0a;
	T_EQ_MEM(h, want, 72);
	/* an over-long path is cut to 63 characters, and stays terminated */
	memset(longp, 'p', sizeof(longp));
	longp[99] = '\0';
	qdb_wire_hdr(h, 1, longp, 0);
	T_EQ_INT(h[63], 'p');
	T_EQ_INT(h[64], 0);
}

int
main(void)
{
	log_init("test", LOG_LVL_ERROR);
	conf_init(&conf, record, NULL);
	T_RUN(test_multiread_bytes);
	T_RUN(test_dump);
	T_RUN(test_push_write_acked);
	T_RUN(test_push_rm_acked);
	T_RUN(test_hostile_framing);
	T_RUN(test_hostile_messages);
	T_RUN(test_reconnect);
	T_RUN(test_hdr_compose);
	conf_free(&conf);
	return t_done();
}
