/*
 * agentd: the Qubes side of moat.
 *
 * Started by the supervisor with its control channel on fd 3 and the log
 * pipe on stderr, in one of three modes:
 *   --qubesdb FILE                          no dom0: the database is a file
 *   --vchan socket --vchan-dir DIR --domid N  dom0 over UNIX-socket vchans
 *   --vchan xen --domid N                   dom0 over Xen vchans
 * It opens what it needs, waits for MSG_START, enters its sandbox, says
 * MSG_READY, and then runs one poll loop: the control channel, the QubesDB
 * client, the qrexec agent and (Xen) the control/shutdown watch.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "agentd.h"
#include "log.h"
#include "proc.h"
#include "sandbox.h"
#include "util.h"

static struct agentd	 ad;
static struct msg	 ctlmsg;

static int
send_ctl(void *arg, uint32_t type, const void *payload, size_t len, int fd)
{
	return msg_send(MSG_PARENT_FD, type, 0, payload, len, fd);
}

static __attribute__((noreturn)) void
usage(void)
{
	fprintf(stderr,
	    "usage: agentd [--qubesdb FILE]\n"
	    "       agentd --vchan socket --vchan-dir DIR --domid N\n"
	    "       agentd --vchan xen [--domid N]\n"
	    "(started by moat with its control channel on fd 3; with no\n"
	    "source at all the database is empty)\n");
	exit(2);
}

static void
parse_args(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "qubesdb",	required_argument, NULL, 'q' },
		{ "vchan",	required_argument, NULL, 'v' },
		{ "vchan-dir",	required_argument, NULL, 'd' },
		{ "domid",	required_argument, NULL, 'i' },
		{ NULL, 0, NULL, 0 }
	};
	const char *transport = NULL;
	uint64_t v;
	int ch;

	ad.domid = -1;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'q':
			ad.qdbfile = optarg;
			break;
		case 'v':
			transport = optarg;
			break;
		case 'd':
			ad.vchan_dir = optarg;
			break;
		case 'i':
			if (parse_u64(optarg, 1, 32752, &v) != 0)
				fatalx("--domid %s: not a domain id (1..32752)",
				    optarg);
			ad.domid = (int)v;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	if (ad.qdbfile != NULL) {
		if (transport != NULL || ad.vchan_dir != NULL)
			fatalx("--qubesdb excludes --vchan and --vchan-dir");
		ad.mode = AGENTD_FILE;
		return;
	}
	/* No source at all (moat --backend none in tests, the VM boot
	 * test): an empty database, nothing to hand on. */
	if (transport == NULL && ad.vchan_dir == NULL && ad.domid < 0) {
		ad.mode = AGENTD_FILE;
		return;
	}
	/* On Xen our domain id is in XenStore ("domid"); sockets need it. */
	if (transport == NULL || (ad.domid < 0 && strcmp(transport, "xen") != 0))
		usage();
	if (strcmp(transport, "socket") == 0) {
		if (ad.vchan_dir == NULL)
			fatalx("--vchan socket needs --vchan-dir DIR");
		ad.mode = AGENTD_SOCKET;
	} else if (strcmp(transport, "xen") == 0) {
		if (ad.vchan_dir != NULL)
			fatalx("--vchan-dir is for --vchan socket");
		ad.mode = AGENTD_XEN;
	} else
		fatalx("--vchan %s: expected socket or xen", transport);
}

#ifdef MOAT_TEST_HOOKS
static void
test_syscall(const struct msg *m)
{
	struct msg_test_syscall t;

	if (msg_get(m, MSG_TEST_SYSCALL, &t, sizeof(t)) == -1)
		fatalx("bad TEST_SYSCALL");
	log_info("test hook: making forbidden call %u", t.what);
	if (t.what == 0)
		(void)fopen("/etc/passwd", "r");
	else
		(void)socket(AF_INET, SOCK_DGRAM, 0);
	log_info("test hook: forbidden call %u returned", t.what);
}
#endif

/* One message from the supervisor. Anything unexpected is fatal: the
 * supervisor is not hostile, so a surprise means we are out of step. */
static void
ctl_dispatch(const struct msg *m)
{
	struct msg_loglevel ll;

	switch (m->hdr.type) {
	case MSG_LOGLEVEL:
		if (msg_get(m, MSG_LOGLEVEL, &ll, sizeof(ll)) == -1 ||
		    ll.level > LOG_LVL_DEBUG)
			fatalx("bad LOGLEVEL");
		log_setlevel((int)ll.level);
		break;
	case MSG_SHUTDOWN:
		log_info("shutting down");
		ad.quit = 1;
		break;
	case MSG_SVC_REPLY:
		if (ad.mode == AGENTD_FILE)
			fatalx("SVC_REPLY without a qrexec agent");
		qx_svc_reply(&ad, m);
		break;
	case MSG_DOM0_CALL:
		qx_dom0_request(&ad, m);
		break;
#ifdef MOAT_TEST_HOOKS
	case MSG_TEST_SYSCALL:
		test_syscall(m);
		break;
#endif
	default:
		fatalx("unexpected %s from the supervisor", msg_name(m->hdr.type));
	}
}

static int
ctl_recv(void)
{
	const char *why = "";
	int r;

	r = msg_recv(MSG_PARENT_FD, &ctlmsg, PROC_MOAT, &why);
	if (r == MSG_EOF) {
		log_info("supervisor closed the channel");
		exit(0);
	}
	if (r == MSG_AGAIN)
		return 0;
	if (r == MSG_EPROTO)
		fatalx("control channel: %s", why);
	if (r < 0)
		fatal("control channel");
	return 1;
}

static void
ctl_event(void *arg, short revents)
{
	/* Drain what is queued: a burst of SVC_REPLYs is common. */
	while (!ad.quit && ctl_recv() == 1) {
		ctl_dispatch(&ctlmsg);
		if (ctlmsg.fd != -1 && ctlmsg.hdr.type != MSG_SVC_REPLY) {
			close(ctlmsg.fd);
			ctlmsg.fd = -1;
		}
	}
}

static void
wait_start(void)
{
	struct msg_start st;

	for (;;) {
		if (ctl_recv() != 1)
			continue;
		if (ctlmsg.hdr.type == MSG_START)
			break;
		if (ctlmsg.hdr.type == MSG_LOGLEVEL ||
		    ctlmsg.hdr.type == MSG_SHUTDOWN) {
			ctl_dispatch(&ctlmsg);
			if (ad.quit)
				exit(0);
			continue;
		}
		fatalx("expected START, got %s", msg_name(ctlmsg.hdr.type));
	}
	if (msg_get(&ctlmsg, MSG_START, &st, sizeof(st)) == -1)
		fatalx("bad START");
	ad.restart = (st.flags & START_F_RESTART) != 0;
}

int
main(int argc, char **argv)
{
	struct sandbox_policy pol;
	struct msg_ready rdy;
	struct pollset ps;
	struct evloop loop;
	char err[512];

	log_init("agentd", LOG_LVL_INFO);
	parse_args(argc, argv);
	signal(SIGPIPE, SIG_IGN);
	proc_parent_channel();
	conf_init(&ad.conf, send_ctl, NULL);
	qdb_init(&ad.filedb);

	/* Everything outside the sandbox's reach is opened now. */
	if (ad.mode == AGENTD_FILE) {
		if (ad.qdbfile == NULL)
			;	/* no source: the empty database */
		else if (qdb_load_json(ad.qdbfile, &ad.filedb, err, sizeof(err)) == -1)
			fatalx("%s", err);
		if (qdb_check_config(&ad.filedb, err, sizeof(err)) == -1)
			fatalx("%s: %s", ad.qdbfile ? ad.qdbfile : "(empty)", err);
	} else if (agentd_vchan_setup(&ad) == -1)
		fatalx("cannot set up the %s vchan transport",
		    ad.mode == AGENTD_XEN ? "xen" : "socket");

	wait_start();
	evloop_init(&loop);
	memset(&rdy, 0, sizeof(rdy));
	pol = agentd_sandbox_policy;
	pol.mode = 1u << ad.mode;
	if (ad.mode == AGENTD_SOCKET)
		pol.root = ad.vchan_dir;
	if (ad.mode == AGENTD_XEN)
		pol.root = xenctl_root();
	rdy.sandbox = (uint32_t)sandbox_enter(&pol);
	rdy.pid = (uint32_t)getpid();
	if (ad.mode != AGENTD_FILE)
		agentd_vchan_sandboxed(&ad, rdy.sandbox != 0);
	if (msg_send(MSG_PARENT_FD, MSG_READY, 0, &rdy, sizeof(rdy), -1) == -1)
		fatal("send READY");
	if (set_nonblock(MSG_PARENT_FD) == -1)
		fatal("control channel");
	log_info("running (%s%s)", ad.mode == AGENTD_FILE ? "file " :
	    ad.mode == AGENTD_XEN ? "xen vchan" : "socket vchan",
	    ad.mode == AGENTD_FILE ? (ad.qdbfile ? ad.qdbfile : "none") : "");

	if (ad.mode == AGENTD_FILE) {
		/* The same path a dom0 dump takes, key by key. */
		conf_replay(&ad.conf, &ad.filedb);
		qdb_free(&ad.filedb);
	}

	while (!ad.quit) {
		pollset_init(&ps);
		pollset_add(&ps, MSG_PARENT_FD, POLLIN, ctl_event, NULL);
		if (ad.mode != AGENTD_FILE)
			agentd_vchan_poll(&ad, &ps);
		ps.stop = &ad.quit;
		pollset_wait(&ps, &loop);
		if (ad.mode != AGENTD_FILE && !ad.quit)
			agentd_vchan_tick(&ad);
	}
	return 0;
}
