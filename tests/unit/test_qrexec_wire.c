/*
 * test_qrexec_wire: qrexec protocol 3 headers and bodies as Qubes 4.2's
 * qrexec-daemon sends them (qubes-observed.md §3), and the command lines
 * dom0 hands the agent.
 */
#include <string.h>

#include "t.h"
#include "agentd/agentd.h"

static void
test_hdr(void)
{
	static const uint8_t hello[12] = {
		0x00, 0x03, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00,
		0x03, 0x00, 0x00, 0x00 };
	uint8_t b[12];
	struct qx_hdr h;
	uint32_t v;
	const char *why;

	qx_put_hdr(b, QX_HELLO, 4);
	qx_put_u32(b + 8, QX_PROTOCOL_VERSION);
	T_EQ_MEM(b, hello, 12);
	T_EQ_INT(qx_get_hdr(hello, 7, &h), 0);
	T_EQ_INT(qx_get_hdr(hello, 8, &h), 1);
	T_EQ_INT(h.type, 0x300);
	T_EQ_INT(h.len, 4);
	T_EQ_INT(qx_ctrl_check(&h, &why), QX_OK);
	T_EQ_INT(qx_parse_hello(&h, hello + 8, &v, &why), 0);
	T_EQ_INT(v, 3);
	/* a v2 daemon is fine, v1 is not; 4 (Qubes 4.3) negotiates down */
	qx_put_u32(b + 8, 2);
	T_EQ_INT(qx_parse_hello(&h, b + 8, &v, &why), 0);
	qx_put_u32(b + 8, 4);
	T_EQ_INT(qx_parse_hello(&h, b + 8, &v, &why), 0);
	qx_put_u32(b + 8, 1);
	T_EQ_INT(qx_parse_hello(&h, b + 8, &v, &why), -1);
	/* HELLO of another size drops the channel */
	h.len = 5;
	T_EQ_INT(qx_ctrl_check(&h, &why), QX_FATAL);
	T_EQ_INT(qx_data_check(&h, &why), QX_FATAL);
}

static void
test_ctrl_check(void)
{
	struct qx_hdr h;
	const char *why;

	h.type = QX_EXEC_CMDLINE;
	h.len = 8;		/* no command line at all */
	T_EQ_INT(qx_ctrl_check(&h, &why), QX_FATAL);
	h.len = 9;
	T_EQ_INT(qx_ctrl_check(&h, &why), QX_OK);
	h.len = 8 + 65535;
	T_EQ_INT(qx_ctrl_check(&h, &why), QX_OK);
	h.len = 8 + 65536;
	T_EQ_INT(qx_ctrl_check(&h, &why), QX_FATAL);
	h.len = 0xffffffff;
	T_EQ_INT(qx_ctrl_check(&h, &why), QX_FATAL);
	/* the answers to our own calls to dom0 have fixed sizes */
	h.type = QX_SERVICE_REFUSED;
	h.len = 32;
	T_EQ_INT(qx_ctrl_check(&h, &why), QX_OK);
	h.len = 33;
	T_EQ_INT(qx_ctrl_check(&h, &why), QX_FATAL);
	h.type = QX_SERVICE_CONNECT;
	h.len = 40;
	T_EQ_INT(qx_ctrl_check(&h, &why), QX_OK);
	h.len = 32;
	T_EQ_INT(qx_ctrl_check(&h, &why), QX_FATAL);
	h.type = 0x999;
	h.len = 100;
	T_EQ_INT(qx_ctrl_check(&h, &why), QX_SKIP);
	h.len = 0x7fffffff;
	T_EQ_INT(qx_ctrl_check(&h, &why), QX_FATAL);
	/* data channel */
	h.type = QX_DATA_STDIN;
	h.len = 65536;
	T_EQ_INT(qx_data_check(&h, &why), QX_OK);
	h.len = 65537;
	T_EQ_INT(qx_data_check(&h, &why), QX_FATAL);
	h.type = QX_DATA_STDOUT;
	h.len = 10;
	T_EQ_INT(qx_data_check(&h, &why), QX_SKIP);
}

static void
test_exec_observed(void)
{
	/* qrexec-client -d vm 'DEFAULT:QUBESRPC a.B+c dom0', as received */
	static const uint8_t msg[] =
	    "\x00\x02\x00\x00\x21\x00\x00\x00"
	    "\x00\x00\x00\x00\x01\x02\x00\x00"
	    "user:QUBESRPC a.B+c dom0";	/* the string's NUL ends it */
	struct qx_hdr h;
	struct qx_cmd c;
	const char *why, *cmd;
	uint32_t dom, port;

	T_EQ_INT(sizeof(msg), 8 + 0x21);
	T_EQ_INT(qx_get_hdr(msg, sizeof(msg), &h), 1);
	T_EQ_INT(qx_ctrl_check(&h, &why), QX_OK);
	T_EQ_INT(qx_parse_exec(&h, msg + 8, &dom, &port, &cmd, &why), 0);
	T_EQ_INT(dom, 0);
	T_EQ_INT(port, 513);
	T_EQ_STR(cmd, "user:QUBESRPC a.B+c dom0");
	T_EQ_INT(qx_parse_cmdline(cmd, &c, &why), 0);
	T_EQ_STR(c.user, "user");
	T_EQ_STR(c.service, "a.B");
	T_EQ_STR(c.arg, "c");
	T_EQ_STR(c.source, "dom0");
}

static void
test_exec_hostile(void)
{
	uint8_t b[64];
	struct qx_hdr h = { QX_EXEC_CMDLINE, 0 };
	const char *why, *cmd;
	uint32_t dom, port;

	memset(b, 0, sizeof(b));
	qx_put_u32(b + 4, 513);
	memcpy(b + 8, "user:QUBESRPC x dom0", 20);
	/* no NUL at the end */
	h.len = 8 + 20;
	T_EQ_INT(qx_parse_exec(&h, b, &dom, &port, &cmd, &why), -1);
	/* a NUL inside */
	b[8 + 4] = '\0';
	b[8 + 20] = '\0';
	h.len = 8 + 21;
	T_EQ_INT(qx_parse_exec(&h, b, &dom, &port, &cmd, &why), -1);
	b[8 + 4] = ':';
	T_EQ_INT(qx_parse_exec(&h, b, &dom, &port, &cmd, &why), 0);
	/* a port outside 513..768, a reserved domain id */
	qx_put_u32(b + 4, 512);
	T_EQ_INT(qx_parse_exec(&h, b, &dom, &port, &cmd, &why), -1);
	qx_put_u32(b + 4, 769);
	T_EQ_INT(qx_parse_exec(&h, b, &dom, &port, &cmd, &why), -1);
	qx_put_u32(b + 4, 768);
	T_EQ_INT(qx_parse_exec(&h, b, &dom, &port, &cmd, &why), 0);
	qx_put_u32(b, 0x7ff0);
	T_EQ_INT(qx_parse_exec(&h, b, &dom, &port, &cmd, &why), -1);
}

static void
cmdline(const char *s, int want, const char *svc, const char *arg,
    const char *src)
{
	struct qx_cmd c;
	const char *why = "";
	int r = qx_parse_cmdline(s, &c, &why);

	if (r != want)
		printf("# \"%s\": got %d (%s), want %d\n", s, r, why, want);
	T_EQ_INT(r, want);
	if (want == 0) {
		T_EQ_STR(c.service, svc);
		T_EQ_STR(c.arg, arg);
		T_EQ_STR(c.source, src);
	}
}

static void
test_cmdlines(void)
{
	char longsvc[200];

	cmdline("user:QUBESRPC qubes.WaitForSession dom0", 0,
	    "qubes.WaitForSession", "", "dom0");
	cmdline("root:QUBESRPC qubes.SuspendPre dom0", 0, "qubes.SuspendPre",
	    "", "dom0");
	/* VM-to-VM calls carry "svc+" when there is no argument */
	cmdline("user:QUBESRPC moat.Stats+ mgmt-vm", 0, "moat.Stats", "",
	    "mgmt-vm");
	cmdline("user:QUBESRPC moat.Logs+natd work", 0, "moat.Logs", "natd",
	    "work");
	cmdline("user:nogui:QUBESRPC moat.Stats dom0", 0, "moat.Stats", "",
	    "dom0");
	/* the target pair of calls run in dom0 is ignored */
	cmdline("user:QUBESRPC moat.X+a+b sys-net keyword adminvm", 0, "moat.X",
	    "a+b", "sys-net");
	cmdline("user:QUBESRPC moat.X @dispvm:x", 0, "moat.X", "", "@dispvm:x");
	/* plain commands (qvm-run without a service) */
	cmdline("user:ls -l", 1, NULL, NULL, NULL);
	cmdline("user:nogui:QUBESRPCX a dom0", 1, NULL, NULL, NULL);
	/* malformed */
	cmdline("QUBESRPC a dom0", -1, NULL, NULL, NULL);
	cmdline("user:QUBESRPC a.b", -1, NULL, NULL, NULL);
	cmdline("user:QUBESRPC +arg dom0", -1, NULL, NULL, NULL);
	cmdline("user:QUBESRPC a/b dom0", -1, NULL, NULL, NULL);
	cmdline("user:QUBESRPC a dom0;x", -1, NULL, NULL, NULL);
	cmdline("user:QUBESRPC a  dom0", -1, NULL, NULL, NULL);
	cmdline("us er:QUBESRPC a dom0", -1, NULL, NULL, NULL);
	memset(longsvc, 'a', sizeof(longsvc));
	memcpy(longsvc, "user:QUBESRPC ", 14);
	memcpy(longsvc + 150, " dom0", 6);
	cmdline(longsvc, -1, NULL, NULL, NULL);
}

/* Our call to dom0: the trigger as dom0 reads it, its answers as
 * observed (qubes-observed.md 4), and hostile ones. */
static void
test_dom0_call(void)
{
	uint8_t m[512], body[40];
	struct qx_hdr h;
	const char *why;
	char ident[QX_IDENT_LEN];
	uint32_t dom, port;
	size_t n;

	n = qx_put_trigger(m, sizeof(m), "@adminvm", "moat-1", "moat.StoredRules");
	T_EQ_INT(n, 8 + 96 + 17);
	T_EQ_INT(qx_get_u32(m), QX_TRIGGER_SERVICE3);
	T_EQ_INT(qx_get_u32(m + 4), 96 + 17);
	T_EXPECT(strcmp((char *)m + 8, "@adminvm") == 0);
	T_EXPECT(strcmp((char *)m + 8 + 64, "moat-1") == 0);
	T_EQ_INT(m[8 + 64 + 6], 0);
	T_EQ_INT(m[8 + 64 + 31], 0);	/* NUL-padded, as dom0 requires */
	T_EXPECT(strcmp((char *)m + 8 + 96, "moat.StoredRules") == 0);
	/* what does not fit, or what dom0 would refuse, is never sent */
	T_EQ_INT(qx_put_trigger(m, 100, "@adminvm", "moat-1", "moat.StoredRules"), 0);
	T_EQ_INT(qx_put_trigger(m, sizeof(m), "@adminvm", "moat/1", "x"), 0);
	T_EQ_INT(qx_put_trigger(m, sizeof(m), "@adminvm", "", "x"), 0);
	T_EQ_INT(qx_put_trigger(m, sizeof(m), "@adminvm", "moat-1", ""), 0);
	T_EQ_INT(qx_put_trigger(m, sizeof(m),
	    "0123456789012345678901234567890123456789012345678901234567890123",
	    "moat-1", "x"), 0);
	/* SERVICE_CONNECT {0, 513, "moat-1"} */
	memset(body, 0, sizeof(body));
	qx_put_u32(body, 0);
	qx_put_u32(body + 4, 513);
	memcpy(body + 8, "moat-1", 6);
	h.type = QX_SERVICE_CONNECT;
	h.len = 40;
	T_EQ_INT(qx_parse_connect(&h, body, &dom, &port, ident, &why), 0);
	T_EQ_INT(dom, 0);
	T_EQ_INT(port, 513);
	T_EQ_STR(ident, "moat-1");
	/* junk after the id's NUL, no NUL at all, a bad character */
	body[8 + 20] = 'x';
	T_EQ_INT(qx_parse_connect(&h, body, &dom, &port, ident, &why), -1);
	memset(body + 8, 'a', 32);
	T_EQ_INT(qx_parse_connect(&h, body, &dom, &port, ident, &why), -1);
	memset(body + 8, 0, 32);
	memcpy(body + 8, "moat\n1", 6);
	T_EQ_INT(qx_parse_connect(&h, body, &dom, &port, ident, &why), -1);
	memset(body + 8, 0, 32);
	T_EQ_INT(qx_parse_connect(&h, body, &dom, &port, ident, &why), -1);
	h.len = 39;
	T_EQ_INT(qx_parse_connect(&h, body, &dom, &port, ident, &why), -1);
	/* SERVICE_REFUSED {"moat-1"} */
	memset(body, 0, sizeof(body));
	memcpy(body, "moat-1", 6);
	h.type = QX_SERVICE_REFUSED;
	h.len = 32;
	T_EQ_INT(qx_parse_refused(&h, body, ident, &why), 0);
	T_EQ_STR(ident, "moat-1");
	h.type = QX_SERVICE_CONNECT;
	T_EQ_INT(qx_parse_refused(&h, body, ident, &why), -1);
	/* the service's messages on our data vchan */
	h.type = QX_DATA_STDOUT;
	h.len = 65536;
	T_EQ_INT(qx_reply_check(&h, &why), QX_OK);
	h.len = 65537;
	T_EQ_INT(qx_reply_check(&h, &why), QX_FATAL);
	h.type = QX_DATA_EXIT_CODE;
	h.len = 4;
	T_EQ_INT(qx_reply_check(&h, &why), QX_OK);
	h.len = 8;
	T_EQ_INT(qx_reply_check(&h, &why), QX_FATAL);
	h.type = QX_HELLO;
	h.len = 3;
	T_EQ_INT(qx_reply_check(&h, &why), QX_FATAL);
	h.type = QX_DATA_STDIN;
	h.len = 10;
	T_EQ_INT(qx_reply_check(&h, &why), QX_SKIP);
}

int
main(void)
{
	T_RUN(test_hdr);
	T_RUN(test_ctrl_check);
	T_RUN(test_exec_observed);
	T_RUN(test_exec_hostile);
	T_RUN(test_cmdlines);
	T_RUN(test_dom0_call);
	return t_done();
}
