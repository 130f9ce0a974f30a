/*
 * agentd_link.c: the vchan side of agentd's loop: the QubesDB client
 * connection (with reconnects), the qrexec agent and, on Xen, the
 * control/shutdown check.
 *
 * QubesDB: agentd is the vchan client of dom0 port 111. dom0's daemon
 * exists before the VM runs, but may restart; whenever the connection is
 * lost agentd connects again (backing off from 100 ms to 2 s) and the new
 * connection starts with a full dump, which re-states the configuration.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agentd.h"
#include "agentd_qx.h"
#include "log.h"
#include "util.h"
#include "vchan.h"

#define QDB_PORT		111
#define QDB_BACKOFF_MIN_MS	100
#define QDB_BACKOFF_MAX_MS	2000
#define QDB_WAIT_RETRY_MS	100

static struct vchan_env	env;

static int
send_ctl(void *arg, uint32_t type, const void *payload, size_t len, int fd)
{
	return msg_send(MSG_PARENT_FD, type, 0, payload, len, fd);
}

int
agentd_vchan_setup(struct agentd *ad)
{
	struct stat st;

	memset(&env, 0, sizeof(env));
	env.domid = ad->domid;
	if (ad->mode == AGENTD_SOCKET) {
		env.kind = VCHAN_SOCKET;
		if (stat(ad->vchan_dir, &st) == -1 || !S_ISDIR(st.st_mode)) {
			log_warnx("--vchan-dir %s: not a directory",
			    ad->vchan_dir);
			return -1;
		}
		if ((size_t)snprintf(env.dir, sizeof(env.dir), "%s",
		    ad->vchan_dir) >= sizeof(env.dir))
			return -1;
	} else {
		env.kind = VCHAN_XEN;
		if (xenctl_setup(ad, &env) == -1)
			return -1;
	}
	ad->venv = &env;
	qdbc_init(&ad->qdbc, &ad->conf);
	ad->qdb_backoff_ms = QDB_BACKOFF_MIN_MS;
	/* The qrexec listener exists before the sandbox: dom0 may connect
	 * as soon as we are up. */
	if ((ad->qx = qx_new(&env, send_ctl, NULL)) == NULL)
		return -1;
	return 0;
}

void
agentd_vchan_sandboxed(struct agentd *ad, int chrooted)
{
	/* The socket transport's root is now the vchan directory. */
	if (env.kind == VCHAN_SOCKET && chrooted)
		snprintf(env.dir, sizeof(env.dir), "/");
	ad->qdb_retry_ms = 0;
}

static void
qdb_drop(struct agentd *ad, const char *why)
{
	log_info("qubesdb: connection lost (%s); reconnecting", why);
	vchan_close(ad->qdb_v);
	ad->qdb_v = NULL;
	ad->qdbc.state = QDBC_IDLE;
	ad->qdb_retry_ms = now_ms() + ad->qdb_backoff_ms;
	ad->qdb_backoff_ms *= 2;
	if (ad->qdb_backoff_ms > QDB_BACKOFF_MAX_MS)
		ad->qdb_backoff_ms = QDB_BACKOFF_MAX_MS;
}

static void
qdb_service(struct agentd *ad)
{
	uint8_t buf[8192];
	ssize_t n;
	int st = vchan_state(ad->qdb_v);

	if (st == VCHAN_WAITING)
		return;
	if (st == VCHAN_CONNECTED && ad->qdbc.state == QDBC_IDLE) {
		log_info("qubesdb: connected to dom0");
		qdbc_connected(&ad->qdbc);
	}
	while (vchan_state(ad->qdb_v) == VCHAN_CONNECTED) {
		n = vchan_read(ad->qdb_v, buf, sizeof(buf));
		if (n <= 0)
			break;
		if (qdbc_input(&ad->qdbc, buf, (size_t)n) == -1) {
			qdb_drop(ad, "protocol error");
			return;
		}
		if (ad->qdbc.state == QDBC_SYNCED)
			ad->qdb_backoff_ms = QDB_BACKOFF_MIN_MS;
	}
	while (ad->qdbc.outlen > 0 &&
	    vchan_state(ad->qdb_v) == VCHAN_CONNECTED) {
		n = vchan_write(ad->qdb_v, ad->qdbc.out, ad->qdbc.outlen);
		if (n <= 0)
			break;
		qdbc_sent(&ad->qdbc, (size_t)n);
	}
	if (vchan_state(ad->qdb_v) == VCHAN_DISCONNECTED)
		qdb_drop(ad, "vchan closed");
}

static void
qdb_event(void *arg, short revents)
{
	struct agentd *ad = arg;

	if (ad->qdb_v == NULL)	/* dropped by an earlier callback of this round */
		return;
	vchan_progress(ad->qdb_v, revents);
	qdb_service(ad);
}

void
agentd_vchan_poll(struct agentd *ad, struct pollset *ps)
{
	short ev;
	int fd;

	if (ad->qdb_v == NULL)
		pollset_timer(ps, ad->qdb_retry_ms);
	else if ((fd = vchan_pollfd(ad->qdb_v, ad->qdbc.outlen > 0, &ev)) >= 0)
		pollset_add(ps, fd, ev, qdb_event, ad);
	else
		pollset_timer(ps, now_ms() + QDB_WAIT_RETRY_MS);
	qx_poll(ad->qx, ps);
	if (env.kind == VCHAN_XEN)
		xenctl_poll(ad, ps);
}

void
agentd_vchan_tick(struct agentd *ad)
{
	if (ad->qdb_v == NULL && now_ms() >= ad->qdb_retry_ms) {
		ad->qdb_v = vchan_client(&env, 0, QDB_PORT);
		if (ad->qdb_v == NULL) {
			log_warn("qubesdb: vchan client");
			ad->qdb_retry_ms = now_ms() + QDB_BACKOFF_MAX_MS;
		} else
			qdb_service(ad);
	} else if (ad->qdb_v != NULL &&
	    vchan_state(ad->qdb_v) == VCHAN_WAITING) {
		vchan_progress(ad->qdb_v, 0);
		qdb_service(ad);
	}
	qx_tick(ad->qx);
	if (env.kind == VCHAN_XEN)
		xenctl_tick(ad);
}

void
qx_svc_reply(struct agentd *ad, const struct msg *m)
{
	qx_svc_done(ad->qx, m);
}

void
qx_dom0_request(struct agentd *ad, const struct msg *m)
{
	struct msg_dom0_call c;

	if (msg_get(m, MSG_DOM0_CALL, &c, sizeof(c)) == -1)
		fatalx("bad DOM0_CALL");
	c.service[sizeof(c.service) - 1] = '\0';
	if (ad->qx == NULL) {
		/* file mode: there is no dom0 to ask */
		struct msg_dom0_result r = { .status = DOM0_FAILED };
		int fd = memfd_from("moat-dom0-out", "", 0);

		if (fd == -1)
			fatal("memfd for a dom0 answer");
		if (send_ctl(ad, MSG_DOM0_RESULT, &r, sizeof(r), fd) == -1)
			fatal("DOM0_RESULT");
		close(fd);
		return;
	}
	qx_dom0_call(ad->qx, c.service);
}
