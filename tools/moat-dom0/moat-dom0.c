/*
 * moat-dom0: plays dom0 for a moat VM, over socket vchans for tests and
 * demos without Xen, or over Xen vchans in a real (test) dom0.
 *
 * "serve" runs in the foreground as the VM's qubesdb-daemon (vchan server
 * on port 111, serving a JSON database) and qrexec-daemon (vchan client of
 * the VM's port 512), with the same wire behaviour as Qubes 4.2's dom0
 * daemons, including what makes them give up on a VM. The other
 * subcommands talk to it through a control socket (in the vchan directory
 * for socket vchans, --ctl-dir or /run/moat-dom0 for Xen):
 * "write" and "rm" change keys as qubesd does (and are pushed to the VM),
 * "rules" replaces a client's firewall rules as dom0's
 * reload_firewall_for_vm does, "call" runs a qrexec service in the VM, and
 * "status" reports the connections and qrexec ports in use.
 *
 * Over Xen, "serve" is the VM's dom0 side as Qubes starts it right after
 * creating the VM: it serves QubesDB from our own domain, connects to the
 * VM's qrexec agent when it listens, serves qrexec data vchans from our
 * own domain (there is no other VM to serve them), and exits 0 once the
 * VM's domain is gone, as qubesdb-daemon and qrexec-daemon do.
 */
#include "dom0.h"

__attribute__((noreturn)) void
usage(int rc)
{
	fprintf(rc ? stderr : stdout,
"usage: moat-dom0 serve  WHERE --domid N --qubesdb FILE [--name VM]\n"
"       moat-dom0 write  WHERE --domid N [--no-commit] PATH VALUE [PATH VALUE ...]\n"
"       moat-dom0 rm     WHERE --domid N PATH [PATH ...]\n"
"       moat-dom0 rules  WHERE --domid N IP [RULE ...]\n"
"       moat-dom0 call   WHERE --domid N [--source NAME] [--source-domid X]\n"
"                        SERVICE[+ARG] < input\n"
"       moat-dom0 status WHERE --domid N\n"
"WHERE:  --vchan-dir DIR [--ctl-dir CDIR]     socket vchans\n"
"        --vchan xen [--ctl-dir CDIR]          Xen vchans (in dom0)\n"
"\n"
"Plays dom0 for the moat VM with domain id N, over socket vchans in DIR\n"
"(DIR/vchan.<server>.<client>.<port>.sock, as Qubes' vchan-socket) or over\n"
"Xen vchans (libxenvchan, Qubes' conventions; run it in dom0).\n"
"\n"
"serve    runs in the foreground as the VM's qubesdb-daemon (serving FILE, a\n"
"         JSON object of QubesDB paths to string values) and qrexec-daemon;\n"
"         it exits 1 if the VM breaks a rule that makes the real dom0\n"
"         daemons give up, and (Xen) 0 once the VM's domain is gone. The\n"
"         others talk to it via CDIR/moat-dom0.N.ctl; CDIR defaults to DIR\n"
"         (socket) or " XEN_CTL_DIR " (Xen).\n"
"write    writes keys, pushed to the VM. After writing keys under\n"
"         /qubes-firewall/<ip>/ it writes the commit marker /qubes-firewall/<ip>\n"
"         = \"\" as dom0 does (not with --no-commit).\n"
"rm       removes keys; a PATH ending in / removes that subtree.\n"
"rules    replaces the rules of client IP like dom0: rm /qubes-firewall/IP/,\n"
"         write policy=drop and 0000, 0001, ... from the RULEs, then the marker.\n"
"call     calls SERVICE[+ARG] in the VM with stdin as input, prints its\n"
"         stdout and stderr and exits with its exit code (125: no answer).\n"
"         --source NAME: the call comes from VM NAME (default dom0), whose\n"
"         data vchan is served as domain X (default 0 for dom0, else 99;\n"
"         over Xen always serve's own domain, the only one it can serve).\n"
"status   prints the state of both connections and qrexec ports in use.\n"
"\n"
"--rpc SERVICE=PROGRAM (serve): the VM may call SERVICE in dom0 (target\n"
"         @adminvm or dom0); PROGRAM runs with QREXEC_REMOTE_DOMAIN=VM and\n"
"         argv[1] = SERVICE[+ARG], its stdout and exit code go back. Any\n"
"         other call from the VM is refused, as dom0's policy does.\n");
	exit(rc);
}

void
buf_add(struct buf *b, const void *data, size_t len)
{
	if (b->len + len > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;

		while (cap < b->len + len)
			cap *= 2;
		if ((b->p = realloc(b->p, cap)) == NULL)
			fatal("realloc");
		b->cap = cap;
	}
	if (len)
		memcpy(b->p + b->len, data, len);
	b->len += len;
}

void
buf_drop(struct buf *b, size_t n)
{
	if (n > b->len)
		n = b->len;
	memmove(b->p, b->p + n, b->len - n);
	b->len -= n;
}

void
buf_free(struct buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

/* Write as much of b as the vchan takes. */
void
flush_vchan(struct vchan *v, struct buf *b)
{
	ssize_t n;

	while (b->len > 0 && vchan_state(v) == VCHAN_CONNECTED) {
		n = vchan_write(v, b->p, b->len);
		if (n <= 0)
			break;
		buf_drop(b, (size_t)n);
	}
}

int
read_vchan(struct vchan *v, struct buf *b)
{
	uint8_t tmp[65536];
	ssize_t n;
	int got = 0;

	while (vchan_state(v) == VCHAN_CONNECTED) {
		n = vchan_read(v, tmp, sizeof(tmp));
		if (n <= 0)
			break;
		buf_add(b, tmp, (size_t)n);
		got = 1;
	}
	return got;
}
__attribute__((noreturn)) void
dom0_fatal(const char *who, const char *fmt, ...)
{
	va_list ap;
	char msg[256];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* What the real daemon does: it gives up on the VM and exits. */
	fatalx("FATAL: %s: %s", who, msg);
}

/* Xen: is the VM's domain gone (destroyed, dying, or shut down for good)?
 * Then the dom0 daemons have nothing left to serve. Never for sockets. */
int
vm_gone(void)
{
	xc_domaininfo_t info;
	unsigned int why;

	if (d.env.kind != VCHAN_XEN)
		return 0;
	memset(&info, 0, sizeof(info));
	if (xc_domain_getinfolist(d.env.xc, (uint32_t)d.vm, 1, &info) != 1 ||
	    info.domain != d.vm)
		return 1;
	if (info.flags & XEN_DOMINF_dying)
		return 1;
	why = (info.flags >> XEN_DOMINF_shutdownshift) & XEN_DOMINF_shutdownmask;
	return (info.flags & XEN_DOMINF_shutdown) && why != SHUTDOWN_suspend;
}

volatile sig_atomic_t quit;
struct dom0 d;

void
vm_gone_exit(void)
{
	log_info("domain %d is gone: nothing left to serve", d.vm);
	quit = 1;
}

void
ctl_path(char *out, size_t len, const char *dir, int vm)
{
	snprintf(out, len, "%s/moat-dom0.%d.ctl", dir, vm);
}


/* Xen, Qubes' check: is our end of the event channel still bound to a
 * live peer domain? A destroyed VM clears no live byte. dom0 may make the
 * hypercall; agentd, in the VM, may not (its env leaves this NULL). */
static int
xen_peer_alive(const struct vchan_env *env, unsigned int port)
{
	xc_evtchn_status_t st;

	memset(&st, 0, sizeof(st));
	st.dom = DOMID_SELF;
	st.port = port;
	if (xc_evtchn_status(env->xc, &st) == -1)
		return 1;	/* cannot tell: trust libxenvchan */
	return st.status == EVTCHNSTAT_interdomain;
}

/* Xen: the handles the vchan layer wants, and our own domain id (0 in
 * dom0; read from XenStore so that a driver domain could play it too). */
static void
xen_env(struct vchan_env *env)
{
	unsigned int len = 0;
	uint64_t id;
	char *val;

	env->kind = VCHAN_XEN;
	if ((env->xs = xs_open(0)) == NULL)
		fatal("xs_open (is this dom0, with xenstored running?)");
	if ((env->xc = xc_interface_open(NULL, NULL, 0)) == NULL)
		fatal("xc_interface_open");
	env->peer_alive = xen_peer_alive;
	env->domid = 0;
	val = xs_read(env->xs, XBT_NULL, "domid", &len);
	if (val != NULL && parse_u64(val, 0, 32751, &id) == 0)
		env->domid = (int)id;
	free(val);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "vchan",	required_argument, NULL, 'V' },
		{ "vchan-dir",	required_argument, NULL, 'd' },
		{ "ctl-dir",	required_argument, NULL, 'c' },
		{ "domid",	required_argument, NULL, 'i' },
		{ "qubesdb",	required_argument, NULL, 'q' },
		{ "name",	required_argument, NULL, 'n' },
		{ "source",	required_argument, NULL, 's' },
		{ "source-domid", required_argument, NULL, 'S' },
		{ "no-commit",	no_argument, NULL, 'C' },
		{ "rpc",	required_argument, NULL, 'R' },
		{ "help",	no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *cmd, *dir = NULL, *ctldir = NULL, *file = NULL;
	const char *source = "dom0", *kind = NULL;
	char err[512];
	uint64_t v;
	int ch, vm = -1, srcdom = -1, commit = 1;

	log_init("moat-dom0", LOG_LVL_INFO);
	if (argc < 2)
		usage(2);
	cmd = argv[1];
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 ||
	    strcmp(cmd, "help") == 0)
		usage(0);
	optind = 2;
	d.name = "vm";
	while ((ch = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (ch) {
		case 'V':
			if (strcmp(optarg, "socket") != 0 &&
			    strcmp(optarg, "xen") != 0)
				fatalx("--vchan %s: socket or xen", optarg);
			kind = optarg;
			break;
		case 'd':
			dir = optarg;
			break;
		case 'c':
			ctldir = optarg;
			break;
		case 'i':
			if (parse_u64(optarg, 1, 32751, &v) != 0)
				fatalx("--domid %s: not a domain id", optarg);
			vm = (int)v;
			break;
		case 'q':
			file = optarg;
			break;
		case 'n':
			d.name = optarg;
			break;
		case 's':
			source = optarg;
			break;
		case 'S':
			if (parse_u64(optarg, 0, 32751, &v) != 0)
				fatalx("--source-domid %s: not a domain id",
				    optarg);
			srcdom = (int)v;
			break;
		case 'C':
			commit = 0;
			break;
		case 'R': {
			char *eq = strchr(optarg, '=');

			if (eq == NULL || eq == optarg || eq[1] == '\0' ||
			    d.nrpc == MAX_RPC)
				fatalx("--rpc %s: SERVICE=PROGRAM (at most %d)",
				    optarg, MAX_RPC);
			d.rpc[d.nrpc].service = strndup(optarg,
			    (size_t)(eq - optarg));
			d.rpc[d.nrpc++].program = eq + 1;
			break;
		}
		case 'h':
			usage(0);
		default:
			usage(2);
		}
	}
	if (kind == NULL)
		kind = "socket";
	if (strcmp(kind, "xen") == 0 && dir != NULL)
		fatalx("--vchan xen takes no --vchan-dir (see --ctl-dir)");
	if ((strcmp(kind, "socket") == 0 && dir == NULL) || vm < 0)
		usage(2);
	if (ctldir == NULL)
		ctldir = dir != NULL ? dir : XEN_CTL_DIR;
	argc -= optind;
	argv += optind;
	if (strcmp(cmd, "serve") == 0) {
		if (file == NULL || argc != 0)
			usage(2);
		qdb_init(&d.db);
		if (qdb_load_json(file, &d.db, err, sizeof(err)) == -1)
			fatalx("%s", err);
		d.ctldir = ctldir;
		d.vm = vm;
		if (dir == NULL)
			xen_env(&d.env);
		else {
			d.env.kind = VCHAN_SOCKET;
			d.env.domid = 0;
			snprintf(d.env.dir, sizeof(d.env.dir), "%s", dir);
		}
		return serve();
	}
	if (strcmp(cmd, "write") == 0)
		return cmd_write(ctldir, vm, argc, argv, commit);
	if (strcmp(cmd, "rm") == 0)
		return cmd_rm(ctldir, vm, argc, argv);
	if (strcmp(cmd, "rules") == 0)
		return cmd_rules(ctldir, vm, argc, argv);
	if (strcmp(cmd, "status") == 0)
		return cmd_status(ctldir, vm);
	if (strcmp(cmd, "call") == 0) {
		if (argc != 1)
			usage(2);
		if (srcdom < 0)
			srcdom = strcmp(source, "dom0") == 0 ? 0 : 99;
		return cmd_call(ctldir, vm, argv[0], source, srcdom);
	}
	usage(2);
}
