/*
 * daemons.c: starting, configuring, watching and restarting the daemons,
 * and routing the control messages they send each other.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "moat.h"
#include "natd/flowtab.h"
#include "pkt.h"
#include "proc.h"
#include "sandbox.h"
#include "shm.h"
#include "util.h"


#define RESTART_MIN_MS		20	/* first restart: well inside the 200 ms promise */
#define RESTART_MAX_MS		10000
#define STABLE_MS		5000	/* ran this long: not a crash loop */

static void	daemon_handle(struct daemon *d, uint32_t events);

static void
chan_ready(struct evsrc *s, uint32_t events)
{
	daemon_handle(s->arg, events);
}

static void
log_ready(struct evsrc *s, uint32_t events)
{
	(void)events;
	daemon_log_readable(s->arg);
}

/* Each daemon's control channel and log pipe, as loop sources. */
static struct evsrc chan_ev[PROC_COUNT], log_ev[PROC_COUNT];

void
daemons_init(void)
{
	for (int i = 0; i < PROC_COUNT; i++) {
		M.d[i].id = (enum proc_id)i;
		M.d[i].name = proc_table[i].name;
		M.d[i].chan = M.d[i].logfd = -1;
		logring_init(&M.d[i].log);
		chan_ev[i] = (struct evsrc){ -1, chan_ready, &M.d[i] };
		log_ev[i] = (struct evsrc){ -1, log_ready, &M.d[i] };
	}
	M.setrules_fd = -1;
	M.flowtab_fd = -1;
}

struct daemon *
daemon_by_name(const char *name)
{
	for (int i = 0; i < PROC_COUNT; i++)
		if (strcmp(M.d[i].name, name) == 0)
			return &M.d[i];
	return NULL;
}

void
flowtab_create(void)
{
	M.flowtab_size = natd_flowtab_bytes(M.nflows);
	M.flowtab_fd = memfd_create("moat-flows", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (M.flowtab_fd < 0 || ftruncate(M.flowtab_fd, (off_t)M.flowtab_size) < 0)
		fatal("creating the connection table");
	if (fcntl(M.flowtab_fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
		fatal("sealing the connection table");
}

static void
outq_watch(struct daemon *d, int out)
{
	evloop_mod(&M.loop, &chan_ev[d->id], EPOLLIN | (out ? EPOLLOUT : 0));
}

static void
outq_clear(struct daemon *d)
{
	struct outmsg *o, *next;

	for (o = d->outq_head; o; o = next) {
		next = o->next;
		if (o->fd >= 0)
			close(o->fd);
		free(o);
	}
	d->outq_head = d->outq_tail = NULL;
	d->outq_bytes = 0;
}

/* Send what waits for d, in order, until its socket is full again. */
static void
outq_flush(struct daemon *d)
{
	struct outmsg *o;

	while ((o = d->outq_head) != NULL) {
		if (msg_send(d->chan, o->type, o->id, o->data, o->len, o->fd) < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			log_warn("sending %s to %s", msg_name(o->type), d->name);
			if (d->pid > 0)
				kill(d->pid, SIGKILL);
			outq_clear(d);
			return;
		}
		d->outq_head = o->next;
		d->outq_bytes -= o->len;
		if (o->fd >= 0)
			close(o->fd);
		free(o);
	}
	d->outq_tail = NULL;
	outq_watch(d, 0);
}

static int
outq_add(struct daemon *d, uint32_t type, uint32_t msgid, const void *p, size_t len, int fd)
{
	struct outmsg *o;

	if (d->outq_bytes + len > OUTQ_MAX_BYTES || (o = malloc(sizeof *o + len)) == NULL) {
		if (d->outq_dropped++ % 1000 == 0)
			log_warnx("%s is not reading its channel: dropped %s (%llu messages so far)",
			    d->name, msg_name(type), (unsigned long long)d->outq_dropped);
		return -1;
	}
	o->next = NULL;
	o->type = type;
	o->id = msgid;
	o->len = len;
	o->fd = fd >= 0 ? dup(fd) : -1;
	memcpy(o->data, p, len);
	if (d->outq_tail)
		d->outq_tail->next = o;
	else {
		d->outq_head = o;
		outq_watch(d, 1);
	}
	d->outq_tail = o;
	d->outq_bytes += len;
	return 0;
}

int
daemon_send(enum proc_id id, uint32_t type, uint32_t msgid, const void *p,
    size_t len, int fd)
{
	struct daemon *d = &M.d[id];

	if (d->chan < 0)
		return -1;
	if (d->outq_head == NULL && msg_send(d->chan, type, msgid, p, len, fd) == 0)
		return 0;
	if (d->outq_head != NULL || errno == EAGAIN || errno == EWOULDBLOCK)
		return outq_add(d, type, msgid, p, len, fd);
	/* Anything but a full socket means the daemon is gone or broken. */
	log_warn("sending %s to %s", msg_name(type), d->name);
	if (d->pid > 0)
		kill(d->pid, SIGKILL);
	return -1;
}

/* Is p at an end of a ring in region r? Then it maps that region. */
static int
region_user(enum queue_region r, enum proc_id p)
{
	for (int i = 0; i < RING_COUNT; i++)
		if (ring_table[i].region == r &&
		    (ring_table[i].producer == p || ring_table[i].consumer == p))
			return 1;
	return 0;
}

/*
 * Format the rings of region r while no daemon has an end of them: at
 * creation, and after a death that leaves their indices unaccountable.
 * A wake-up left in an eventfd would only cost a needless poll round,
 * but is drained all the same.
 */
static void
queues_format(enum queue_region r)
{
	struct msg_queues *q = &M.q[r];
	uint8_t *mem;
	uint64_t x;

	if (q->pool_off == 0)
		return;
	mem = mmap(NULL, q->pool_off, PROT_READ | PROT_WRITE, MAP_SHARED, M.qfd[r], 0);
	if (mem == MAP_FAILED)
		fatal("mapping the shared queues");
	for (int i = 0; i < RING_COUNT; i++) {
		if (ring_table[i].region != r)
			continue;
		if (mq_ring_format(mem + q->ring[i].off, q->pool_off - q->ring[i].off,
		    q->ring[i].nslots, q->ring[i].elemsz) < 0)
			fatalx("formatting ring %s", ring_table[i].name);
		if (M.efd[i] >= 0)
			while (read(M.efd[i], &x, sizeof x) == sizeof x)
				;
	}
	munmap(mem, q->pool_off);
}

/*
 * Two memfds, split by who needs them (ring_table in shm.c): the packet
 * pool with RX and TX for netbackd and natd; FLOWREQ and VERDICT, with no
 * pool, for natd and policyd. In each, rings first at cache-line
 * multiples, then (packets only) the pool on a page boundary.
 */
void
queues_create(uint32_t nbufs, uint32_t bufsz)
{
	static const uint32_t nslots[RING_COUNT] = {
		[RING_RX] = 2048, [RING_TX] = 2048,
		[RING_FLOWREQ] = 1024, [RING_VERDICT] = 1024,
	};
	static const char *const memfd_name[QREGION_END] = {
		[QREGION_PACKETS] = "moat-packets", [QREGION_FLOWS] = "moat-flowreq",
	};
	int r, i;

	for (i = 0; i < RING_COUNT; i++)
		M.efd[i] = -1;
	for (r = QREGION_PACKETS; r < QREGION_END; r++) {
		struct msg_queues *q = &M.q[r];
		uint64_t off = 0;

		memset(q, 0, sizeof *q);
		q->region = (uint32_t)r;
		q->nrings = RING_COUNT;
		for (i = 0; i < RING_COUNT; i++) {
			if (ring_table[i].region != (enum queue_region)r)
				continue;
			q->ring[i].off = off;
			q->ring[i].nslots = nslots[i];
			q->ring[i].elemsz = ring_table[i].elemsz;
			off += mq_ring_bytes(nslots[i], ring_table[i].elemsz);
		}
		off = (off + 4095) & ~(uint64_t)4095;
		q->pool_off = off;
		if (r == QREGION_PACKETS) {
			q->nbufs = nbufs;
			q->bufsz = bufsz;
		}
		q->shm_size = off + (uint64_t)q->nbufs * q->bufsz;
		M.qfd[r] = memfd_create(memfd_name[r], MFD_CLOEXEC | MFD_ALLOW_SEALING);
		if (M.qfd[r] < 0 || ftruncate(M.qfd[r], (off_t)q->shm_size) < 0)
			fatal("creating the shared queues");
		/* Its size can never change under a daemon that mapped it. */
		if (fcntl(M.qfd[r], F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
			fatal("sealing the shared queues");
		queues_format((enum queue_region)r);
	}
	for (i = 0; i < RING_COUNT; i++)
		if ((M.efd[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
			fatal("eventfd");
	log_info("shared queues: %u buffers of %u bytes, %llu KiB for packets, "
	    "%llu KiB for flow requests", nbufs, bufsz,
	    (unsigned long long)(M.q[QREGION_PACKETS].shm_size / 1024),
	    (unsigned long long)(M.q[QREGION_FLOWS].shm_size / 1024));
}

/* Each daemon gets the regions it has a ring in, and its ring ends. */
static void
send_queues(struct daemon *d)
{
	for (int r = QREGION_PACKETS; r < QREGION_END; r++) {
		struct msg_queues q = M.q[r];

		if (!region_user((enum queue_region)r, d->id))
			continue;
		/* netbackd owns every buffer and gives natd its reserve as
		 * empty descriptors on the RX ring (port MQ_PORT_DROP); for
		 * natd, own_count is only the size of that reserve. One owner
		 * of record means a restart of either daemon can account for
		 * every buffer. */
		if (r == QREGION_PACKETS && d->id == PROC_NATD) {
			q.own_first = 0;
			q.own_count = NATD_RESERVE_BUFS;
		} else if (r == QREGION_PACKETS && d->id == PROC_NETBACKD) {
			q.own_first = 0;
			q.own_count = q.nbufs;
		}
		daemon_send(d->id, MSG_QUEUES, 0, &q, sizeof q, M.qfd[r]);
	}
	for (int i = 0; i < RING_COUNT; i++) {
		struct msg_eventfd e = { .ring = (uint32_t)i };

		if (ring_table[i].producer == d->id)
			e.role = MQ_PRODUCER;
		else if (ring_table[i].consumer == d->id)
			e.role = MQ_CONSUMER;
		else
			continue;
		daemon_send(d->id, MSG_EVENTFD, 0, &e, sizeof e, M.efd[i]);
	}
}

/* Everything a daemon needs to know, sent again after every restart, so a
 * restarted daemon starts from the same state its predecessor had. */
static void
send_config(struct daemon *d)
{
	int i;
	uint32_t k;

	switch (d->id) {
	case PROC_NETBACKD:
		if (M.backend == BACKEND_DEVNET) {
			struct msg_devnet_link l = { .port = MQ_PORT_UPLINK };

			strlcpy_(l.ifname, M.uplink, sizeof l.ifname);
			daemon_send(d->id, MSG_DEVNET_LINK, 0, &l, sizeof l, -1);
			for (i = 0; i < M.nclients; i++) {
				memset(&l, 0, sizeof l);
				l.port = (uint16_t)(i + 1);
				l.client_ip = M.client[i].ip;
				memcpy(l.client_ip6, M.client[i].ip6, sizeof l.client_ip6);
				strlcpy_(l.ifname, M.client[i].ifname, sizeof l.ifname);
				daemon_send(d->id, MSG_DEVNET_LINK, 0, &l, sizeof l, -1);
			}
		}
		break;
	case PROC_NATD: {
		/* the same table every time: a restarted natd keeps the flows */
		struct msg_flowtab ft = { .size = M.flowtab_size, .nflows = M.nflows };

		daemon_send(d->id, MSG_FLOWTAB, 0, &ft, sizeof ft, M.flowtab_fd);
		break;
	}
	case PROC_POLICYD:
		/* while the stored rules are on their way, no verdict at all */
		if (M.stored == STORED_PENDING) {
			struct msg_rules_hold h = { .hold = 1 };

			daemon_send(d->id, MSG_RULES_HOLD, 0, &h, sizeof h, -1);
		}
		/* the last accepted JSON rules come back before the first verdict */
		if (M.setrules_fd >= 0) {
			struct msg_call c = { .callid = 0 };
			struct stat st;

			if (fstat(M.setrules_fd, &st) == 0) {
				c.in_len = (uint32_t)st.st_size;
				strlcpy_(c.service, "moat.SetRules", sizeof c.service);
				strlcpy_(c.source, "moat", sizeof c.source);
				daemon_send(d->id, MSG_CALL, 0, &c, sizeof c, M.setrules_fd);
			}
		}
		for (i = 0; i < M.nqr; i++) {
			struct cached_qrules *q = &M.qr[i];
			struct msg_qrules_end e;

			if (!q->complete)
				continue;
			daemon_send(d->id, MSG_QRULES_BEGIN, 0, &q->begin, sizeof q->begin, -1);
			for (k = 0; k < q->have; k++)
				daemon_send(d->id, MSG_QRULE, 0, &q->rules[k], sizeof q->rules[k], -1);
			memset(&e, 0, sizeof e);
			e.family = q->begin.family;
			memcpy(e.addr, q->begin.addr, sizeof e.addr);
			daemon_send(d->id, MSG_QRULES_END, 0, &e, sizeof e, -1);
		}
		break;
	default:
		break;
	}
	if ((msg_table[MSG_NETCONF].route & PB(d->id)) && M.have_netconf)
		daemon_send(d->id, MSG_NETCONF, 0, &M.netconf, sizeof M.netconf, -1);
	if ((msg_table[MSG_CLIENTS].route & PB(d->id)) && M.have_clients)
		daemon_send(d->id, MSG_CLIENTS, 0, &M.clients, M.clients_len, -1);
	if ((msg_table[MSG_CLIENTS6].route & PB(d->id)) && M.have_clients6)
		daemon_send(d->id, MSG_CLIENTS6, 0, &M.clients6, M.clients6_len, -1);
	/* before MSG_START: a restarted natd keeps the forwarded flows the
	 * table still allows */
	if ((msg_table[MSG_FORWARDS].route & PB(d->id)) && M.have_forwards)
		daemon_send(d->id, MSG_FORWARDS, 0, &M.forwards, sizeof M.forwards, -1);
	/* and the rate limits: a restart must not lift them */
	if ((msg_table[MSG_LIMITS].route & PB(d->id)) && M.have_limits)
		daemon_send(d->id, MSG_LIMITS, 0, &M.limits, sizeof M.limits, -1);
	if (msg_table[MSG_LINK].route & PB(d->id))
		for (i = 0; i < M.nlinks; i++)
			daemon_send(d->id, MSG_LINK, 0, &M.links[i], sizeof M.links[i], -1);
	if (M.debug) {
		struct msg_loglevel ll = { .level = LOG_LVL_DEBUG };
		daemon_send(d->id, MSG_LOGLEVEL, 0, &ll, sizeof ll, -1);
	}
}

static void
build_argv(struct daemon *d, char **argv)
{
	int n = 0, k;

	if (d->id == PROC_NETBACKD) {
		static const char *const names[] = { "none", "devnet", "xen" };
		argv[n++] = "--backend";
		argv[n++] = (char *)names[M.backend];
		if (M.tx_thread)
			argv[n++] = "--tx-thread";
	}
	if (d->id == PROC_AGENTD) {
		if (M.qubesdb) {
			argv[n++] = "--qubesdb";
			argv[n++] = (char *)M.qubesdb;
		} else if (M.vchan) {
			argv[n++] = "--vchan";
			argv[n++] = (char *)M.vchan;
			argv[n++] = "--domid";
			argv[n++] = (char *)M.domid;
			if (M.vchan_dir) {
				argv[n++] = "--vchan-dir";
				argv[n++] = (char *)M.vchan_dir;
			}
		}
	}
	for (k = 0; d->argv[k] && n < MAX_ARGS * 2 - 1; k++)
		argv[n++] = d->argv[k];
	argv[n] = NULL;
}

void
daemon_start(struct daemon *d, int restart)
{
	char path[4096], *argv[MAX_ARGS * 2 + 1];
	struct msg_start st = { .flags = restart ? START_F_RESTART : 0 };
	int sv[2], lp[2];

	if (proc_binary_path(d->name, path, sizeof path) < 0)
		fatalx("cannot find the %s binary (looked next to moat and in %s)",
		    d->name, MOAT_LIBEXECDIR);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0 ||
	    pipe2(lp, O_CLOEXEC) < 0)
		fatal("channels for %s", d->name);
	build_argv(d, argv);
	d->pid = proc_spawn(path, d->name, sv[1], lp[1], argv);
	close(sv[1]);
	close(lp[1]);
	if (d->pid < 0)
		fatal("starting %s", d->name);
	d->chan = sv[0];
	d->logfd = lp[0];
	d->ready = 0;
	d->started_ms = now_ms();
	d->restart_at_ms = 0;
	set_nonblock(d->chan);
	set_nonblock(d->logfd);
	chan_ev[d->id].fd = d->chan;
	log_ev[d->id].fd = d->logfd;
	if (evloop_add(&M.loop, &chan_ev[d->id], EPOLLIN) < 0 ||
	    evloop_add(&M.loop, &log_ev[d->id], EPOLLIN) < 0)
		fatal("epoll_ctl add");
	log_debug("started %s (pid %d)", d->name, (int)d->pid);

	send_queues(d);
	send_config(d);
	daemon_send(d->id, MSG_START, 0, &st, sizeof st, -1);
}

static void
close_daemon_fds(struct daemon *d)
{
	outq_clear(d);
	if (d->chan >= 0) {
		evloop_del(&M.loop, &chan_ev[d->id]);
		close(d->chan);
		d->chan = -1;
	}
	if (d->logfd >= 0) {
		/* keep what it said last: it is often why it died */
		daemon_log_readable(d);
		evloop_del(&M.loop, &log_ev[d->id]);
		close(d->logfd);
		d->logfd = -1;
	}
}

/*
 * d exited because its peer on ring r broke it (shm_check_rings). The
 * ring's indices are garbage and each end's private index with them: both
 * ends restart, and the ring is formatted afresh while neither runs. d is
 * gone already; the peer, the guilty side, is killed here. For RX/TX that
 * is the rule of a netbackd death anyway (both restart, empty rings).
 * A daemon can only accuse the peer of a ring it is an end of: a lying
 * one costs that peer a restart, no more than it could do by stopping.
 */
static void
ring_broken(struct daemon *d, enum ring_id r)
{
	enum proc_id peer = ring_peer(r, d->id);

	if (peer == PROC_MOAT || peer == d->id)
		return;
	/*
	 * Its rings are being reset already: a second report (the other
	 * end of the same lie, or of the reset's own kills) is a
	 * consequence of the first, not a new culprit.
	 */
	if (M.rings_reset & QR_BIT(ring_table[r].region)) {
		log_info("%s also found ring %s broken", d->name, ring_table[r].name);
		return;
	}
	snprintf(d->last_death, sizeof d->last_death, "found ring %s broken by %s",
	    ring_table[r].name, M.d[peer].name);
	M.d[peer].ring_breaks++;
	M.rings_reset |= QR_BIT(ring_table[r].region);
	log_warnx("%s found ring %s broken by %s: restarting both, the ring empty",
	    d->name, ring_table[r].name, M.d[peer].name);
	if (M.d[peer].pid > 0)
		kill(M.d[peer].pid, SIGKILL);
}

void
daemon_died(pid_t pid, int status)
{
	struct daemon *d = NULL;
	uint64_t now = now_ms();

	for (int i = PROC_NETBACKD; i < PROC_COUNT; i++)
		if (M.d[i].pid == pid)
			d = &M.d[i];
	if (d == NULL)
		return;
	if (WIFSIGNALED(status))
		snprintf(d->last_death, sizeof d->last_death, "killed by signal %d (%s)",
		    WTERMSIG(status), strsignal(WTERMSIG(status)));
	else
		snprintf(d->last_death, sizeof d->last_death, "exited with status %d",
		    WEXITSTATUS(status));
	d->pid = 0;
	d->ready = 0;
	close_daemon_fds(d);
	services_daemon_died(d->id);
	if (M.quit)
		return;
	if (WIFEXITED(status) && WEXITSTATUS(status) >= EXIT_RING_BROKEN &&
	    WEXITSTATUS(status) < EXIT_RING_BROKEN + RING_COUNT)
		ring_broken(d, (enum ring_id)(WEXITSTATUS(status) - EXIT_RING_BROKEN));
	/*
	 * netbackd died: the buffers natd holds can no longer be accounted
	 * for, so natd restarts too (its connections survive in the flow
	 * table) and the RX/TX rings start empty.
	 */
	if (d->id == PROC_NETBACKD) {
		M.rings_reset |= QR_BIT(QREGION_PACKETS);
		if (M.d[PROC_NATD].pid > 0)
			kill(M.d[PROC_NATD].pid, SIGKILL);
	} else if (d->id == PROC_NATD && !(M.rings_reset & QR_BIT(QREGION_PACKETS))) {
		struct msg_peer_died pd = { .proc = PROC_NATD };
		daemon_send(PROC_NETBACKD, MSG_PEER_DIED, 0, &pd, sizeof pd, -1);
	}
	/* Back off only when it keeps dying soon after starting. */
	if (now - d->started_ms > STABLE_MS)
		d->backoff_ms = 0;
	d->backoff_ms = d->backoff_ms ? d->backoff_ms * 2 : RESTART_MIN_MS;
	if (d->backoff_ms > RESTART_MAX_MS)
		d->backoff_ms = RESTART_MAX_MS;
	d->restart_at_ms = now + d->backoff_ms;
	log_warnx("%s (pid %d) %s; restarting in %llu ms", d->name, (int)pid,
	    d->last_death, (unsigned long long)d->backoff_ms);
}

void
daemons_tick(uint64_t now)
{
	int r, i;

	/* A region whose rings must start empty waits until every daemon
	 * with an end in it is gone; none of them comes back before. */
	for (r = QREGION_PACKETS; r < QREGION_END; r++) {
		int alive = 0;

		if (!(M.rings_reset & QR_BIT(r)))
			continue;
		for (i = PROC_NETBACKD; i < PROC_COUNT; i++)
			if (region_user((enum queue_region)r, (enum proc_id)i) && M.d[i].pid > 0)
				alive = 1;
		if (alive)
			continue;
		queues_format((enum queue_region)r);
		M.rings_reset &= ~QR_BIT(r);
		log_info("%s rings reset", r == QREGION_PACKETS ? "packet" : "flow request");
	}
	for (i = PROC_NETBACKD; i < PROC_COUNT; i++) {
		struct daemon *d = &M.d[i];
		int held = 0;

		for (r = QREGION_PACKETS; r < QREGION_END; r++)
			if ((M.rings_reset & QR_BIT(r)) &&
			    region_user((enum queue_region)r, (enum proc_id)i))
				held = 1;
		if (held)
			continue;
		if (d->pid == 0 && d->restart_at_ms && now >= d->restart_at_ms) {
			d->restarts++;
			daemon_start(d, 1);
		}
	}
}

static void
print_line(void *arg, const char *line, size_t len)
{
	struct daemon *d = arg;
	char path[4096];
	FILE *f;

	fprintf(stderr, "%.*s\n", (int)len, line);
	if (M.log_dir) {
		snprintf(path, sizeof path, "%s/%s.log", M.log_dir, d->name);
		if ((f = fopen(path, "a")) != NULL) {
			fprintf(f, "%.*s\n", (int)len, line);
			fclose(f);
		}
	}
}

void
daemon_log_readable(struct daemon *d)
{
	char buf[4096];
	ssize_t n;
	int rounds = 0;

	/* Bounded rounds: a chatty daemon cannot keep the supervisor here. */
	while (rounds++ < 16 && (n = read(d->logfd, buf, sizeof buf)) > 0)
		logring_feed(&d->log, buf, (size_t)n, print_line, d);
}

static void
cache_link(const struct msg_link *l)
{
	int i;

	for (i = 0; i < M.nlinks; i++)
		if (M.links[i].port == l->port)
			break;
	if (!l->up) {
		if (i < M.nlinks)
			M.links[i] = M.links[--M.nlinks];
		return;
	}
	if (i == M.nlinks) {
		if (M.nlinks == (int)(sizeof M.links / sizeof M.links[0]))
			return;
		M.nlinks++;
	}
	M.links[i] = *l;
}

/* Qubes rules arrive as BEGIN, count x QRULE, END; keep the last complete
 * set per address, to replay to a restarted policyd. */
static int
cache_qrules(const struct msg *m)
{
	struct cached_qrules *q;
	int i;

	switch (m->hdr.type) {
	case MSG_QRULES_BEGIN: {
		struct msg_qrules_begin b;

		if (msg_get(m, MSG_QRULES_BEGIN, &b, sizeof b) < 0 || b.count > 10000)
			return -1;
		for (i = 0; i < M.nqr; i++)
			if (M.qr[i].begin.family == b.family &&
			    memcmp(M.qr[i].begin.addr, b.addr, 16) == 0)
				break;
		if (i == M.nqr) {
			if (M.nqr == (int)(sizeof M.qr / sizeof M.qr[0]))
				return -1;
			M.nqr++;
		}
		q = &M.qr[i];
		free(q->rules);
		q->begin = b;
		q->rules = calloc(b.count ? b.count : 1, sizeof *q->rules);
		q->have = 0;
		q->complete = 0;
		M.qr_open = q->rules ? q : NULL;
		return q->rules ? 0 : -1;
	}
	case MSG_QRULE:
		if ((q = M.qr_open) == NULL || q->have == q->begin.count ||
		    msg_get(m, MSG_QRULE, &q->rules[q->have], sizeof q->rules[0]) < 0)
			return -1;
		q->have++;
		return 0;
	case MSG_QRULES_END:
		if ((q = M.qr_open) == NULL || q->have != q->begin.count)
			return -1;
		q->complete = 1;
		M.qr_open = NULL;
		return 0;
	}
	return 0;
}

static void
handle_message(struct daemon *d, struct msg *m)
{
	const struct msg_spec *spec = &msg_table[m->hdr.type];

	switch (m->hdr.type) {
	case MSG_READY: {
		struct msg_ready r;

		if (msg_get(m, MSG_READY, &r, sizeof r) < 0)
			goto malformed;
		d->ready = 1;
		log_info("%s ready (pid %d, sandbox %s)", d->name, (int)d->pid,
		    r.sandbox ? "seccomp" : "OFF");
		stored_ready(d->id);
		return;
	}
	case MSG_CALL_DONE:
		service_call_done(d, m);
		return;
	case MSG_SVC_REQ:
		service_agent_request(m);
		return;
	case MSG_DOM0_RESULT:
		stored_result(m);
		return;
	case MSG_POWEROFF: {
		struct msg_poweroff p;

		if (msg_get(m, MSG_POWEROFF, &p, sizeof p) < 0)
			goto malformed;
		log_info("dom0 asked for %s", p.reboot ? "a reboot" : "shutdown");
		M.poweroff = p.reboot ? 2 : 1;
		M.quit = 1;
		return;
	}
	case MSG_NETCONF:
		if (msg_get(m, MSG_NETCONF, &M.netconf, sizeof M.netconf) < 0)
			goto malformed;
		M.have_netconf = 1;
		break;
	case MSG_CLIENTS:
		/* A whole snapshot each time (as long as it needs to be, at
		 * most the struct): keep the last one for restarts. msg_recv
		 * has checked the length against the table. */
		memset(&M.clients, 0, sizeof M.clients);
		memcpy(&M.clients, m->data, m->hdr.len);
		M.clients_len = m->hdr.len;
		M.have_clients = 1;
		break;
	case MSG_CLIENTS6:
		memset(&M.clients6, 0, sizeof M.clients6);
		memcpy(&M.clients6, m->data, m->hdr.len);
		M.clients6_len = m->hdr.len;
		M.have_clients6 = 1;
		break;
	case MSG_FORWARDS:
		if (msg_get(m, MSG_FORWARDS, &M.forwards, sizeof M.forwards) < 0)
			goto malformed;
		M.have_forwards = 1;
		break;
	case MSG_LIMITS:
		if (msg_get(m, MSG_LIMITS, &M.limits, sizeof M.limits) < 0)
			goto malformed;
		M.have_limits = 1;
		break;
	case MSG_LINK: {
		struct msg_link l;

		if (msg_get(m, MSG_LINK, &l, sizeof l) < 0)
			goto malformed;
		l.name[sizeof l.name - 1] = '\0';
		cache_link(&l);
		break;
	}
	case MSG_QRULES_BEGIN:
	case MSG_QRULE:
	case MSG_QRULES_END:
		if (cache_qrules(m) < 0) {
			log_warnx("%s: Qubes rules out of order or too many: dropped", d->name);
			return;
		}
		break;
	default:
		break;
	}
	/* Route it on. A receiver that is down gets the state replayed
	 * from our caches when it comes back. */
	for (int i = PROC_NETBACKD; i < PROC_COUNT; i++)
		if ((spec->route & PB(i)) && M.d[i].chan >= 0)
			daemon_send((enum proc_id)i, m->hdr.type, m->hdr.id, m->data,
			    m->hdr.len, m->fd);
	if (m->fd >= 0)
		close(m->fd);
	return;
malformed:
	/* msg_recv checked the size against the table, so this is the
	 * table's bug, not the sender's: say so and pass nothing on */
	log_warnx("%s: malformed %s ignored", d->name, msg_name(m->hdr.type));
	if (m->fd >= 0)
		close(m->fd);
}

static void
daemon_handle(struct daemon *d, uint32_t events)
{
	static struct msg m;
	const char *why;
	int rounds = 0, rc;

	if ((events & EPOLLOUT) && d->chan >= 0)
		outq_flush(d);
	if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return;

	while (rounds++ < 64 && d->chan >= 0) {
		rc = msg_recv(d->chan, &m, d->id, &why);
		if (rc == MSG_AGAIN)
			return;
		if (rc == MSG_EOF || rc == MSG_EIO) {
			/* it is dying; SIGCHLD will tell us how */
			evloop_del(&M.loop, &chan_ev[d->id]);
			close(d->chan);
			d->chan = -1;
			return;
		}
		if (rc == MSG_EPROTO) {
			/* A sibling that breaks the protocol is not trusted to
			 * go on: kill it, it comes back fresh. */
			log_warnx("%s broke the control protocol (%s, type %u): killing it",
			    d->name, why, m.hdr.type);
			if (d->pid > 0)
				kill(d->pid, SIGKILL);
			evloop_del(&M.loop, &chan_ev[d->id]);
			close(d->chan);
			d->chan = -1;
			return;
		}
		handle_message(d, &m);
	}
}

void
daemons_stop(void)
{
	uint64_t deadline;
	int alive, status;
	pid_t pid;

	for (int i = PROC_NETBACKD; i < PROC_COUNT; i++) {
		if (M.d[i].pid > 0) {
			daemon_send((enum proc_id)i, MSG_SHUTDOWN, 0, NULL, 0, -1);
			kill(M.d[i].pid, SIGTERM);
		}
	}
	deadline = now_ms() + 2000;
	do {
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
			for (int i = PROC_NETBACKD; i < PROC_COUNT; i++)
				if (M.d[i].pid == pid)
					M.d[i].pid = 0;
		alive = 0;
		for (int i = PROC_NETBACKD; i < PROC_COUNT; i++)
			alive += M.d[i].pid > 0;
		if (alive)
			usleep(10000);
	} while (alive && now_ms() < deadline);
	for (int i = PROC_NETBACKD; i < PROC_COUNT; i++) {
		if (M.d[i].pid > 0) {
			log_warnx("%s did not stop in time: killing it", M.d[i].name);
			kill(M.d[i].pid, SIGKILL);
			waitpid(M.d[i].pid, &status, 0);
			M.d[i].pid = 0;
		}
		close_daemon_fds(&M.d[i]);
	}
}
