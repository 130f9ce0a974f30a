/*
 * moat: the supervisor. It creates the shared memory and queues, starts
 * the four daemons, hands each its channels, prints their logs, restarts
 * a daemon that dies, serves the control socket, and shuts everything
 * down on SIGTERM/SIGINT. It parses no byte from any VM itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <arpa/inet.h>

#include "ctl.h"
#include "flowreq.h"
#include "moat.h"
#include "pkt.h"
#include "sandbox.h"
#include "ring.h"
#include "util.h"

struct moat M;

static void
usage(FILE *f)
{
	fprintf(f,
"usage: moat [options]\n"
"\n"
"Runs the moat firewall: starts netbackd, natd, policyd and agentd, each in\n"
"its own sandbox, connects them with shared-memory queues, and watches them.\n"
"\n"
"Network backend:\n"
"  --backend none|devnet|xen   none: no network device (tests); devnet: Linux\n"
"                              interfaces through AF_PACKET; xen: Xen vifs\n"
"  --uplink IFACE              devnet: the interface towards the NetVM\n"
"  --client IFACE=IPV4[,IPV6]  devnet: one client link and its client's address(es)\n"
"                              (repeat for each client; at most %d)\n"
"Configuration (QubesDB):\n"
"  --qubesdb FILE              a JSON object of QubesDB keys and string values,\n"
"                              as dom0 writes them (checked at start)\n"
"  --vchan socket|xen          talk to dom0's QubesDB and qrexec over vchan\n"
"  --vchan-dir DIR             socket vchan: the directory of the sockets\n"
"  --domid N                   our domain id (vchan)\n"
"Control and logs:\n"
"  --control SOCKET            moatctl's socket (default %s)\n"
"  --log-dir DIR               also append each daemon's log to DIR/NAME.log\n"
"  --debug                     debug logging from the start\n"
"Connection tracking (passed to natd):\n"
"  --flows N                   table size (default 16384)\n"
"  --client-quota N            flows one client may hold (default flows/4)\n"
"  --timeout-tcp-syn S         (default 120)\n"
"  --timeout-tcp-established S (default 432000)\n"
"  --timeout-tcp-closing S     (default 120)\n"
"  --timeout-udp S             (default 30)\n"
"  --timeout-udp-stream S      (default 120)\n"
"  --timeout-icmp S            (default 30)\n"
"  --flows-view-max N          flows one moat.Flows answer lists (default 10000)\n"
"  --tx-thread                 devnet: netbackd transmits on a thread of its own\n"
"                              (a second core for bulk transfers; costs latency\n"
"                              where cores are few: off by default)\n"
"Packet buffers:\n"
"  --buffers N                 buffers in the shared pool (default 4096;\n"
"                              devnet: 1024; xen: 512)\n"
"  --buffer-size BYTES         bytes per buffer (default 2048; devnet and\n"
"                              xen: 66048, room for a 64 KiB TCP super-frame)\n"
"  -h, --help                  this text\n",
	    MAX_CLIENT_LINKS, CTL_DEFAULT_SOCKET);
}

enum {
	O_BACKEND = 256, O_UPLINK, O_CLIENT, O_QUBESDB, O_VCHAN, O_VCHAN_DIR,
	O_DOMID, O_CONTROL, O_LOGDIR, O_DEBUG, O_BUFFERS, O_BUFSIZE, O_NATD,
	O_TXTHREAD,
};

static const struct option longopts[] = {
	{ "backend", required_argument, NULL, O_BACKEND },
	{ "uplink", required_argument, NULL, O_UPLINK },
	{ "client", required_argument, NULL, O_CLIENT },
	{ "qubesdb", required_argument, NULL, O_QUBESDB },
	{ "vchan", required_argument, NULL, O_VCHAN },
	{ "vchan-dir", required_argument, NULL, O_VCHAN_DIR },
	{ "domid", required_argument, NULL, O_DOMID },
	{ "control", required_argument, NULL, O_CONTROL },
	{ "log-dir", required_argument, NULL, O_LOGDIR },
	{ "debug", no_argument, NULL, O_DEBUG },
	{ "buffers", required_argument, NULL, O_BUFFERS },
	{ "buffer-size", required_argument, NULL, O_BUFSIZE },
	{ "flows", required_argument, NULL, O_NATD },
	{ "client-quota", required_argument, NULL, O_NATD },
	{ "timeout-tcp-syn", required_argument, NULL, O_NATD },
	{ "timeout-tcp-established", required_argument, NULL, O_NATD },
	{ "timeout-tcp-closing", required_argument, NULL, O_NATD },
	{ "timeout-udp", required_argument, NULL, O_NATD },
	{ "timeout-udp-stream", required_argument, NULL, O_NATD },
	{ "timeout-icmp", required_argument, NULL, O_NATD },
	{ "flows-view-max", required_argument, NULL, O_NATD },
	{ "tx-thread", no_argument, NULL, O_TXTHREAD },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static void
die_usage(const char *fmt, const char *arg)
{
	fprintf(stderr, "moat: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'moat --help'.\n");
	exit(2);
}

static void
add_arg(struct daemon *d, const char *a)
{
	int n = 0;

	while (d->argv[n])
		n++;
	if (n >= MAX_ARGS - 1)
		die_usage("too many options for %s", d->name);
	d->argv[n] = strdup(a);
}

static void
parse_args(int argc, char **argv, uint32_t *nbufs, uint32_t *bufsz)
{
	struct daemon *natd = &M.d[PROC_NATD];
	uint64_t v;
	int c, idx, bufs_given = 0;

	M.control_path = CTL_DEFAULT_SOCKET;
	while ((c = getopt_long(argc, argv, "h", longopts, &idx)) != -1) {
		switch (c) {
		case O_BACKEND:
			if (strcmp(optarg, "none") == 0)
				M.backend = BACKEND_NONE;
			else if (strcmp(optarg, "devnet") == 0)
				M.backend = BACKEND_DEVNET;
			else if (strcmp(optarg, "xen") == 0)
				M.backend = BACKEND_XEN;
			else
				die_usage("unknown backend '%s' (none, devnet or xen)", optarg);
			break;
		case O_UPLINK:
			if (strlen(optarg) == 0 || strlen(optarg) >= IFNAME_MAX)
				die_usage("bad --uplink interface name '%s'", optarg);
			M.uplink = optarg;
			break;
		case O_CLIENT: {
			char *eq = strchr(optarg, '='), *comma, v4[16];
			static const uint8_t none6[16];
			uint8_t ip6[16] = { 0 };
			uint32_t ip;

			if (M.nclients == MAX_CLIENT_LINKS)
				die_usage("too many --client links (%s)", optarg);
			if (eq == NULL || eq == optarg || (size_t)(eq - optarg) >= IFNAME_MAX)
				die_usage("--client wants IFACE=IPV4[,IPV6], not '%s'", optarg);
			comma = strchr(eq + 1, ',');
			if (comma == NULL)
				comma = eq + 1 + strlen(eq + 1);
			if ((size_t)(comma - (eq + 1)) >= sizeof v4)
				die_usage("--client %s: the IPv4 address is not a dotted quad", optarg);
			memcpy(v4, eq + 1, (size_t)(comma - (eq + 1)));
			v4[comma - (eq + 1)] = '\0';
			if (ip4_parse(v4, &ip) != 0 || ip == 0)
				die_usage("--client %s: the IPv4 address is not a dotted quad", optarg);
			if (*comma == ',' && ip6_client_parse(comma + 1, ip6) != 0)
				die_usage("--client %s: the IPv6 address is not a global or "
				    "unique-local unicast address", optarg);
			memcpy(M.client[M.nclients].ifname, optarg, (size_t)(eq - optarg));
			M.client[M.nclients].ifname[eq - optarg] = '\0';
			for (int i = 0; i < M.nclients; i++)
				if (M.client[i].ip == ip ||
				    strcmp(M.client[i].ifname, M.client[M.nclients].ifname) == 0 ||
				    (memcmp(ip6, none6, 16) != 0 && memcmp(M.client[i].ip6, ip6, 16) == 0))
					die_usage("--client %s: interface or address given twice", optarg);
			memcpy(M.client[M.nclients].ip6, ip6, 16);
			M.client[M.nclients++].ip = ip;
			break;
		}
		case O_QUBESDB:
			M.qubesdb = optarg;
			break;
		case O_VCHAN:
			if (strcmp(optarg, "socket") != 0 && strcmp(optarg, "xen") != 0)
				die_usage("--vchan is socket or xen, not '%s'", optarg);
			M.vchan = optarg;
			break;
		case O_VCHAN_DIR:
			M.vchan_dir = optarg;
			break;
		case O_DOMID:
			if (parse_u64(optarg, 1, 32751, &v) != 0)
				die_usage("--domid wants a domain id (1-32751), not '%s'", optarg);
			M.domid = optarg;
			break;
		case O_CONTROL:
			M.control_path = optarg;
			break;
		case O_LOGDIR:
			M.log_dir = optarg;
			break;
		case O_TXTHREAD:
			M.tx_thread = 1;
			break;
		case O_DEBUG:
			M.debug = 1;
			break;
		case O_BUFFERS:
			if (parse_u64(optarg, 512, 1u << 20, &v) != 0)
				die_usage("--buffers wants 512..1048576, not '%s'", optarg);
			*nbufs = (uint32_t)v;
			bufs_given = 1;
			break;
		case O_BUFSIZE:
			if (parse_u64(optarg, 2048, 65536 + 4096, &v) != 0 || v % 64)
				die_usage("--buffer-size wants 2048..69632 in steps of 64, not '%s'", optarg);
			*bufsz = (uint32_t)v;
			bufs_given = 1;
			break;
		case O_NATD: {
			char opt[64];

			/* natd checks its options again; these bounds give the
			 * user the error before anything starts. */
			if (strcmp(longopts[idx].name, "flows") == 0 ?
			    parse_u64(optarg, 16, 1048576, &v) != 0 :
			    parse_u64(optarg, 1, 100000000, &v) != 0)
				die_usage("--%s: out of range or not a number", longopts[idx].name);
			if (strcmp(longopts[idx].name, "flows") == 0)
				M.nflows = (uint32_t)v;
			snprintf(opt, sizeof opt, "--%s", longopts[idx].name);
			add_arg(natd, opt);
			add_arg(natd, optarg);
			break;
		}
		case 'h':
			usage(stdout);
			exit(0);
		default:
			fprintf(stderr, "Try 'moat --help'.\n");
			exit(2);
		}
	}
	if (optind < argc)
		die_usage("unexpected argument '%s'", argv[optind]);
	if (M.backend == BACKEND_DEVNET && (M.uplink == NULL || M.nclients == 0))
		die_usage("%s", "--backend devnet needs --uplink IFACE and at least one --client IFACE=IPV4");
	if (M.backend != BACKEND_DEVNET && (M.uplink || M.nclients))
		die_usage("%s", "--uplink and --client are for --backend devnet");
	if (M.tx_thread && M.backend != BACKEND_DEVNET)
		die_usage("%s", "--tx-thread is for --backend devnet (the Xen backend runs on one thread)");
	if (M.vchan && M.qubesdb)
		die_usage("%s", "--qubesdb and --vchan are alternatives: configuration comes from one place");
	if (M.vchan && M.domid == NULL)
		die_usage("%s", "--vchan needs --domid N");
	if (M.vchan && strcmp(M.vchan, "socket") == 0 && M.vchan_dir == NULL)
		die_usage("%s", "--vchan socket needs --vchan-dir DIR");
	if (M.nflows == 0)
		M.nflows = 16384;
	/* veth hands devnet whole TCP super-frames of up to 64 KiB: buffers
	 * must hold one. Pages of the pool are touched only when used. */
	if (M.backend == BACKEND_DEVNET && !bufs_given) {
		*nbufs = 1024;
		*bufsz = 66048;
	}
	/* On Xen too, so that netbackd offers TSO to clients and the
	 * NetVM; but half as many, as the VM has 64 MB: the buffers ever
	 * touched are at most 32 MB, and a busy VM touches far fewer (the
	 * free list is a stack: the same few buffers come back). */
	if (M.backend == BACKEND_XEN && !bufs_given) {
		*nbufs = 512;
		*bufsz = 66048;
	}
}

static void
handle_signals(struct evsrc *s, uint32_t events)
{
	struct signalfd_siginfo si;
	int status;
	pid_t pid;

	(void)s;
	(void)events;
	while (read(M.sigfd, &si, sizeof si) == sizeof si) {
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
		case SIGHUP:
			log_info("got signal %d: shutting down", (int)si.ssi_signo);
			M.quit = 1;
			break;
		case SIGCHLD:
			break;
		}
	}
	/* signalfd coalesces SIGCHLDs: reap everything that has exited */
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		daemon_died(pid, status);
}

static void
console_line(const char *line, size_t len)
{
	logring_add(&M.d[PROC_MOAT].log, line, len);
}

int
main(int argc, char **argv)
{
	struct evsrc sigev = { -1, handle_signals, NULL };
	uint32_t nbufs = 4096, bufsz = 2048;
	sigset_t mask;

	log_init("moat", LOG_LVL_INFO);
	logring_init(&M.d[PROC_MOAT].log);
	log_set_hook(console_line);
	daemons_init();
	parse_args(argc, argv, &nbufs, &bufsz);
	if (M.debug)
		log_setlevel(LOG_LVL_DEBUG);
	M.start_ms = now_ms();
	if (!sandbox_mode())
		log_warnx("SANDBOX DISABLED: this moat was built with --with-sandbox=none (sanitizer/valgrind builds only)");

	services_check_config();

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	if ((M.sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC)) < 0)
		fatal("signalfd");
	evloop_init(&M.loop);
	sigev.fd = M.sigfd;
	if (evloop_add(&M.loop, &sigev, EPOLLIN) < 0)
		fatal("epoll_ctl add");

	queues_create(nbufs, bufsz);
	flowtab_create();
	services_init();
	stored_init();
	for (int i = PROC_NETBACKD; i < PROC_COUNT; i++)
		daemon_start(&M.d[i], 0);

	while (!M.quit) {
		evloop_wait(&M.loop, 50);
		daemons_tick(now_ms());
		services_tick(now_ms());
	}
	services_stop();
	daemons_stop();
	log_info("stopped");
	return M.poweroff == 2 ? 3 : 0;
}
