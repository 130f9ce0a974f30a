/*
 * dom0_serve.c: "moat-dom0 serve": its control socket (the other
 * subcommands' connections) and the loop over every vchan and socket.
 */
#include "dom0.h"

/* Control connections. */
static void
conn_close(int ci)
{
	struct conn *cn = &d.conns[ci];

	if (cn->call >= 0 && d.calls[cn->call].used)
		d.calls[cn->call].conn = -1;
	close(cn->fd);
	buf_free(&cn->in);
	buf_free(&cn->out);
	memset(cn, 0, sizeof(*cn));
	cn->fd = -1;
	cn->call = -1;
}

static void
conn_reply(int ci, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(line) - 1)
		n = sizeof(line) - 1;
	buf_add(&d.conns[ci].out, line, (size_t)n);
}

static void
status(int ci)
{
	int i, used = 0;

	for (i = 0; i < NPORTS; i++)
		used += d.port_used[i];
	conn_reply(ci, "qubesdb %s syncs %llu keys %zu\n",
	    d.qsynced ? "synced" : "waiting", (unsigned long long)d.qsyncs,
	    d.db.n);
	conn_reply(ci, "qrexec %s calls %llu terminated %llu ports-in-use %d\n",
	    d.xstate == 2 ? "connected" : "waiting",
	    (unsigned long long)d.ncalls, (unsigned long long)d.nterminated,
	    used);
	d.conns[ci].closing = 1;
}

/* Requests: one line, possibly followed by a length-counted body:
 *   write PATH LEN\n<LEN bytes>   rm PATH\n   status\n
 *   call SVC SOURCE SRCDOMID LEN\n<LEN bytes of stdin>
 * Each write/rm is answered "ok" or "error ..."; a call with frames
 * "O len\n<bytes>", "E len\n<bytes>" and finally "X status\n". */
static void
conn_input(int ci)
{
	struct conn *cn = &d.conns[ci];
	char line[600], a[128], b[128];
	unsigned long long len;
	uint8_t *nl;
	size_t ll;
	int dom;

	while (cn->in.len > 0 && !cn->closing && cn->call < 0) {
		nl = memchr(cn->in.p, '\n', cn->in.len);
		if (nl == NULL) {
			if (cn->in.len > 512)
				conn_close(ci);
			return;
		}
		ll = (size_t)(nl - cn->in.p);
		if (ll >= sizeof(line)) {
			conn_close(ci);
			return;
		}
		memcpy(line, cn->in.p, ll);
		line[ll] = '\0';
		if (sscanf(line, "write %127s %llu", a, &len) == 2) {
			if (len > QDB_VALUE_MAX + 1) {
				conn_reply(ci, "error value too long\n");
				cn->closing = 1;
				return;
			}
			if (cn->in.len < ll + 1 + len)
				return;
			if (dom0_write(a, (char *)cn->in.p + ll + 1, len) == -1)
				conn_reply(ci, "error refused: %s\n", a);
			else
				conn_reply(ci, "ok\n");
			buf_drop(&cn->in, ll + 1 + len);
		} else if (sscanf(line, "rm %127s", a) == 1) {
			conn_reply(ci, dom0_rm(a) == 0 ? "ok\n" :
			    "error refused\n");
			buf_drop(&cn->in, ll + 1);
		} else if (strcmp(line, "status") == 0) {
			buf_drop(&cn->in, ll + 1);
			status(ci);
		} else if (sscanf(line, "call %127s %127s %d %llu", a, b, &dom,
		    &len) == 4) {
			uint8_t *input;

			if (len > DOM0_MAX_INPUT) {
				cn->closing = 1;
				return;
			}
			if (cn->in.len < ll + 1 + len)
				return;
			if ((input = malloc(len + 1)) == NULL)
				fatal("malloc");
			memcpy(input, cn->in.p + ll + 1, len);
			buf_drop(&cn->in, ll + 1 + len);
			call_start(ci, a, b, dom, input, len);
		} else {
			conn_reply(ci, "error bad request\n");
			cn->closing = 1;
		}
	}
}

static void
conn_event(int ci, short revents)
{
	struct conn *cn = &d.conns[ci];
	uint8_t tmp[65536];
	ssize_t n;

	if (revents & (POLLIN | POLLHUP | POLLERR)) {
		n = read(cn->fd, tmp, sizeof(tmp));
		if (n > 0)
			buf_add(&cn->in, tmp, (size_t)n);
		else if (n == 0 || (errno != EAGAIN && errno != EINTR))
			cn->eof = 1;
		conn_input(ci);
		if (cn->eof) {
			if (cn->call >= 0) {
				/* the caller left; the call runs to its end */
				conn_close(ci);
				return;
			}
			cn->closing = 1;
		}
	}
	if (cn->fd != -1 && cn->out.len > 0) {
		n = write(cn->fd, cn->out.p, cn->out.len);
		if (n > 0)
			buf_drop(&cn->out, (size_t)n);
		else if (n == -1 && errno != EAGAIN && errno != EINTR) {
			conn_close(ci);
			return;
		}
	}
	if (cn->fd != -1 && cn->closing && cn->out.len == 0 && cn->call < 0)
		conn_close(ci);
}

static void
on_signal(int sig)
{
	quit = 1;
}

int
serve(void)
{
	struct sockaddr_un sun;
	struct pollfd pfd[4 + MAX_CALLS + MAX_CONNS + MAX_VCALLS];
	enum { P_Q = 0, P_X, P_L, P_XS, P_FIRST };
	int who[4 + MAX_CALLS + MAX_CONNS + MAX_VCALLS];
	char path[PATH_MAX];
	short ev;
	int i, n, fd, timeout;

	for (i = 0; i < MAX_CONNS; i++) {
		d.conns[i].fd = -1;
		d.conns[i].call = -1;
	}
	for (i = 0; i < MAX_CALLS; i++)
		d.calls[i].conn = -1;
	d.xsfd = -1;
	if (d.env.kind == VCHAN_XEN) {
		/* Nothing tells a vchan that waits for its peer that the peer
		 * domain was destroyed: XenStore does, without polling. */
		if (!xs_watch(d.env.xs, "@releaseDomain", "moat-dom0") ||
		    (d.xsfd = xs_fileno(d.env.xs)) == -1)
			fatal("XenStore watch on @releaseDomain");
		if (vm_gone())
			fatalx("domain %d does not exist (or is dying)", d.vm);
	}
	if (mkdir(d.ctldir, 0755) == -1 && errno != EEXIST)
		fatal("%s", d.ctldir);
	ctl_path(path, sizeof(path), d.ctldir, d.vm);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path))
		fatalx("%s: path too long", path);
	strcpy(sun.sun_path, path);
	(void)unlink(path);
	if ((d.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1 ||
	    bind(d.lfd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    listen(d.lfd, 16) == -1)
		fatal("control socket %s", path);
	if ((d.qv = vchan_server(&d.env, d.vm, QDB_PORT, 4096, 4096)) == NULL)
		fatal("qubesdb vchan server");
	d.xv = vchan_client(&d.env, d.vm, QX_PORT);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	if (d.env.kind == VCHAN_XEN)
		log_info("serving VM %d (%s) over Xen vchans from domain %d, "
		    "control %s: %zu keys", d.vm, d.name, d.env.domid, path,
		    d.db.n);
	else
		log_info("serving VM %d (%s) in %s: %zu keys", d.vm, d.name,
		    d.env.dir, d.db.n);

	while (!quit) {
		memset(pfd, 0, sizeof(pfd));
		for (i = 0; i < (int)nitems(pfd); i++)
			pfd[i].fd = -1;
		timeout = 1000;
		pfd[P_Q].fd = vchan_pollfd(d.qv, d.qout.len > 0, &ev);
		pfd[P_Q].events = ev;
		if (d.xv != NULL) {
			pfd[P_X].fd = vchan_pollfd(d.xv, d.xout.len > 0, &ev);
			pfd[P_X].events = ev;
			/* The agent is not listening yet: retry soon. Over
			 * Xen each try is a XenStore read, so less often. */
			if (pfd[P_X].fd == -1)
				timeout = d.env.kind == VCHAN_XEN ? 100 : 10;
		}
		pfd[P_L].fd = d.lfd;
		pfd[P_L].events = POLLIN;
		pfd[P_XS].fd = d.xsfd;
		pfd[P_XS].events = POLLIN;
		n = P_FIRST;
		for (i = 0; i < MAX_CALLS; i++) {
			if (!d.calls[i].used)
				continue;
			fd = vchan_pollfd(d.calls[i].v, d.calls[i].out.len > 0, &ev);
			if (fd >= 0) {
				pfd[n].fd = fd;
				pfd[n].events = ev;
				who[n++] = i;
			}
			timeout = 10;
		}
		for (i = 0; i < MAX_VCALLS; i++) {
			if (!d.vcalls[i].used)
				continue;
			timeout = 10;
			if (d.vcalls[i].pipe > 0) {
				pfd[n].fd = d.vcalls[i].pipe;
				pfd[n].events = POLLIN;
				who[n++] = MAX_CALLS + MAX_CONNS + i;
				continue;
			}
			fd = vchan_pollfd(d.vcalls[i].v, d.vcalls[i].hello &&
			    d.vcalls[i].out.len > 0, &ev);
			if (fd >= 0) {
				pfd[n].fd = fd;
				pfd[n].events = ev;
				who[n++] = MAX_CALLS + MAX_CONNS + i;
			}
			timeout = 10;
		}
		for (i = 0; i < MAX_CONNS; i++) {
			if (d.conns[i].fd == -1)
				continue;
			pfd[n].fd = d.conns[i].fd;
			pfd[n].events = POLLIN | (d.conns[i].out.len ? POLLOUT : 0);
			who[n++] = MAX_CALLS + i;
		}
		if (poll(pfd, (nfds_t)n, timeout) == -1) {
			if (errno == EINTR)
				continue;
			fatal("poll");
		}
		if (pfd[P_Q].revents)
			vchan_progress(d.qv, pfd[P_Q].revents);
		qdb_service();
		if (d.xv != NULL) {
			vchan_progress(d.xv, pfd[P_X].revents);
			qx_service();
		}
		if (pfd[P_L].revents & POLLIN) {
			fd = accept4(d.lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
			for (i = 0; fd != -1 && i < MAX_CONNS; i++)
				if (d.conns[i].fd == -1) {
					d.conns[i].fd = fd;
					d.conns[i].call = -1;
					fd = -1;
				}
			if (fd != -1)
				close(fd);
		}
		for (i = P_FIRST; i < n; i++) {
			if (!pfd[i].revents)
				continue;
			if (who[i] >= MAX_CALLS + MAX_CONNS) {
				struct vcall *vc = &d.vcalls[who[i] - MAX_CALLS -
				    MAX_CONNS];

				if (vc->used && vc->v != NULL)
					vchan_progress(vc->v, pfd[i].revents);
			} else if (who[i] < MAX_CALLS) {
				if (d.calls[who[i]].used)
					vchan_progress(d.calls[who[i]].v,
					    pfd[i].revents);
			} else if (d.conns[who[i] - MAX_CALLS].fd != -1)
				conn_event(who[i] - MAX_CALLS, pfd[i].revents);
		}
		for (i = 0; i < MAX_CALLS; i++) {
			struct dcall *c = &d.calls[i];

			if (!c->used)
				continue;
			if (vchan_state(c->v) == VCHAN_WAITING &&
			    now_ms() >= c->deadline) {
				/* as qrexec-client: the port stays allocated */
				log_warnx("qrexec: connection timeout");
				conn_frame(c->conn, 'E', "moat-dom0: qrexec "
				    "connection timeout\n", 37);
				call_finish(c, 125);
				continue;
			}
			call_service(c);
		}
		for (i = 0; i < MAX_VCALLS; i++)
			if (d.vcalls[i].used) {
				if (d.vcalls[i].v != NULL)
					vchan_progress(d.vcalls[i].v, 0);
				vcall_service(&d.vcalls[i]);
			}
		qdb_service();
		qx_service();
		if (pfd[P_XS].revents & POLLIN) {
			char **w;

			while ((w = xs_check_watch(d.env.xs)) != NULL)
				free(w);
			if (vm_gone())
				vm_gone_exit();
		}
		/* push frames the calls produced */
		for (i = 0; i < MAX_CONNS; i++)
			if (d.conns[i].fd != -1)
				conn_event(i, 0);
	}
	(void)unlink(path);
	for (i = 0; i < MAX_CALLS; i++)
		if (d.calls[i].used)
			call_finish(&d.calls[i], 255);
	for (i = 0; i < MAX_CONNS; i++)
		if (d.conns[i].fd != -1)
			conn_close(i);
	vchan_close(d.qv);
	vchan_close(d.xv);
	buf_free(&d.qin);
	buf_free(&d.qout);
	buf_free(&d.xin);
	buf_free(&d.xout);
	qdb_free(&d.db);
	return 0;
}
