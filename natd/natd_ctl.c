/*
 * natd_ctl.c: natd's options, its control channel with the supervisor,
 * and the engine's output interface onto the rings.
 *
 * The supervisor is trusted to be correct but not assumed to be: any
 * message natd does not expect, a size or fd that does not fit, or a
 * geometry that does not match natd's own structures is fatal, and the
 * supervisor restarts natd.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "log.h"
#include "daemon.h"
#include "natd.h"
#include "sandbox.h"
#include "util.h"

/* ---- options ---- */

static void __attribute__((noreturn))
usage(const char *why, const char *arg)
{
	fatalx("%s%s%s\nusage: natd [--flows N] [--client-quota N] "
	    "[--timeout-tcp-syn S] [--timeout-tcp-established S] "
	    "[--timeout-tcp-closing S] [--timeout-udp S] [--timeout-udp-stream S] "
	    "[--timeout-icmp S] [--pending-max N] [--flows-view-max N]  (started by moat)",
	    why, arg ? ": " : "", arg ? arg : "");
}

void
natd_options(struct nat_config *c, int argc, char **argv)
{
	static const struct {
		const char	*name;
		uint64_t	 min, max;
		size_t		 off;
	} opts[] = {
		{ "--flows", FT_MIN_FLOWS, FT_MAX_FLOWS, offsetof(struct nat_config, nflows) },
		{ "--client-quota", 1, FT_MAX_FLOWS, offsetof(struct nat_config, client_quota) },
		{ "--timeout-tcp-syn", 1, 100000000, offsetof(struct nat_config, to_tcp_syn) },
		{ "--timeout-tcp-established", 1, 100000000, offsetof(struct nat_config, to_tcp_est) },
		{ "--timeout-tcp-closing", 1, 100000000, offsetof(struct nat_config, to_tcp_closing) },
		{ "--timeout-udp", 1, 100000000, offsetof(struct nat_config, to_udp) },
		{ "--timeout-udp-stream", 1, 100000000, offsetof(struct nat_config, to_udp_stream) },
		{ "--timeout-icmp", 1, 100000000, offsetof(struct nat_config, to_icmp) },
		{ "--pending-max", 1, 65536, offsetof(struct nat_config, pending_max) },
		{ "--flows-view-max", 1, FT_MAX_FLOWS, offsetof(struct nat_config, flows_view_max) },
	};
	int i, quota_set = 0;
	size_t k;

	nat_config_defaults(c);
	for (i = 1; i < argc; i += 2) {
		uint64_t v;

		for (k = 0; k < nitems(opts); k++)
			if (strcmp(argv[i], opts[k].name) == 0)
				break;
		if (k == nitems(opts))
			usage("unknown option", argv[i]);
		if (i + 1 >= argc)
			usage("missing value for", argv[i]);
		if (parse_u64(argv[i + 1], opts[k].min, opts[k].max, &v) != 0) {
			fatalx("%s wants a number in %llu..%llu, not '%s'", opts[k].name,
			    (unsigned long long)opts[k].min,
			    (unsigned long long)opts[k].max, argv[i + 1]);
		}
		*(uint32_t *)((char *)c + opts[k].off) = (uint32_t)v;
		if (opts[k].off == offsetof(struct nat_config, client_quota))
			quota_set = 1;
	}
	if (!quota_set)
		c->client_quota = c->nflows / 4 ? c->nflows / 4 : 1;
	if (c->client_quota > c->nflows)
		fatalx("--client-quota %u is larger than --flows %u",
		    c->client_quota, c->nflows);
}

/* ---- output interface ---- */

int
natd_txq_room(const struct natd *n, unsigned need)
{
	return NATD_TXQ - n->ntxq >= need;
}

void
natd_flush(struct natd *n)
{
	struct mq_end *tx = &n->shm.ring[RING_TX];
	unsigned k;

	if (n->ntxq > 0) {
		k = mq_enqueue_burst(tx, n->txq, n->ntxq);
		if (k > 0) {
			memmove(n->txq, n->txq + k, (n->ntxq - k) * sizeof(n->txq[0]));
			n->ntxq -= k;
			mq_kick(tx);
		}
	}
	if (n->flowreq_kick) {
		mq_kick(&n->shm.ring[RING_FLOWREQ]);
		n->flowreq_kick = 0;
	}
}

static void
io_tx(void *arg, const struct mq_desc *d)
{
	struct natd *n = arg;

	if (n->ntxq == NATD_TXQ)
		natd_flush(n);
	if (n->ntxq == NATD_TXQ) {
		/* Cannot happen with the back-pressure in natd_burst; if it
		 * does, the buffer stays with us rather than being reused. */
		n->txq_overflow++;
		log_rl(LOG_LVL_ERROR, "tx queue overflow (%llu frames lost)",
		    (unsigned long long)n->txq_overflow);
		return;
	}
	n->txq[n->ntxq++] = *d;
}

static int
io_flowreq(void *arg, const struct flow_req *r)
{
	struct natd *n = arg;

	if (mq_enqueue_burst(&n->shm.ring[RING_FLOWREQ], r, 1) != 1)
		return -1;
	n->flowreq_kick = 1;
	return 0;
}

static unsigned
io_flowreq_room(void *arg)
{
	struct natd *n = arg;

	return mq_free(&n->shm.ring[RING_FLOWREQ]);
}

static void
io_dns_answer(void *arg, const struct msg_dns_answer *a)
{
	(void)arg;
	if (msg_send(MSG_PARENT_FD, MSG_DNS_ANSWER, 0, a, sizeof(*a), -1) < 0)
		fatal("sending a DNS answer");
}

/* ---- control messages ---- */

static void
on_queues(struct natd *n, const struct msg *m)
{
	struct nat_io io = { n, io_tx, io_flowreq, io_dns_answer,
	    io_flowreq_room };
	uint64_t seed;

	/* natd is at an end of every ring: it maps both regions, once each. */
	if (n->started ||
	    shm_map(&n->shm, m, QR_BIT(QREGION_PACKETS) | QR_BIT(QREGION_FLOWS)) < 0)
		fatalx("bad or repeated MSG_QUEUES");
	if (n->e != NULL || n->shm.reg[QREGION_PACKETS].base == NULL)
		return;
	/* netbackd owns every buffer; own_count is the size of the reserve
	 * it fills with empty RX descriptors. */
	n->cfg.own_first = 0;
	n->cfg.own_count = n->shm.reg[QREGION_PACKETS].q.own_count;
	/* Held frames are netbackd's buffers: never hold a quarter of them. */
	n->cfg.hold_max = n->shm.pool.nbufs / 4 < 4096 ? n->shm.pool.nbufs / 4 : 4096;
	if (n->cfg.hold_max == 0)
		n->cfg.hold_max = 1;
	/* Before the sandbox: natd needs no getrandom after MSG_START. The
	 * hash key is drawn on its own, not from the seeded stream whose
	 * outputs (ports, DNS ids) clients see. */
	if (getentropy(&seed, sizeof(seed)) < 0 ||
	    getentropy(&n->cfg.secret, sizeof(n->cfg.secret)) < 0)
		fatal("getentropy");
	n->cfg.seed = seed;
	if ((n->e = nat_new(&n->cfg, &n->shm.pool, &io)) == NULL)
		fatalx("cannot set up the engine (flows %u, buffers %u+%u)",
		    n->cfg.nflows, n->cfg.own_first, n->cfg.own_count);
}

/* The role and element size natd expects of each ring are ring_table's
 * (shm.c); shm_attach_end refuses anything else. */
static void
on_eventfd(struct natd *n, const struct msg *m)
{
	struct msg_eventfd ev = { .ring = RING_COUNT };

	if (msg_get(m, MSG_EVENTFD, &ev, sizeof(ev)) < 0 || n->started ||
	    shm_attach_end(&n->shm, m, PROC_NATD) < 0)
		fatalx("MSG_EVENTFD for a ring natd does not use that way (ring %u)", ev.ring);
}

static void
on_flowtab(struct natd *n, const struct msg *m)
{
	struct msg_flowtab ft;
	struct stat st;
	void *p;

	if (msg_get(m, MSG_FLOWTAB, &ft, sizeof(ft)) < 0 || m->fd < 0 ||
	    n->ft_mem != NULL || n->started)
		fatalx("bad or repeated MSG_FLOWTAB");
	if (ft.nflows != n->cfg.nflows || ft.size < natd_flowtab_bytes(n->cfg.nflows) ||
	    fstat(m->fd, &st) < 0 || (uint64_t)st.st_size != ft.size)
		fatalx("flow table memfd: %llu bytes for %u flows, natd has --flows %u",
		    (unsigned long long)ft.size, ft.nflows, n->cfg.nflows);
	p = mmap(NULL, ft.size, PROT_READ | PROT_WRITE, MAP_SHARED, m->fd, 0);
	close(m->fd);
	if (p == MAP_FAILED)
		fatal("mapping the flow table");
	n->ft_mem = p;
	n->ft_len = ft.size;
}

static void
on_start(struct natd *n, const struct msg *m)
{
	struct msg_start st;
	struct msg_ready ready = { .pid = (uint32_t)getpid() };
	int r;

	if (msg_get(m, MSG_START, &st, sizeof(st)) < 0 || n->started || n->e == NULL)
		fatalx("MSG_START out of order");
	for (r = 0; r < RING_COUNT; r++)
		if (!n->shm.attached[r])
			fatalx("MSG_START before ring %d was attached", r);
	if (n->ft_mem != NULL && nat_set_flowtab(n->e, n->ft_mem, n->ft_len) < 0)
		fatalx("flow table too small");
	if (n->ft_mem == NULL)
		log_warnx("no flow table memfd: flows will not survive a restart");
	if (nat_start(n->e, (st.flags & START_F_RESTART) != 0, now_ms()) < 0)
		fatalx("cannot start the engine");
	ready.sandbox = (uint32_t)sandbox_enter(&natd_sandbox_policy);
	n->started = 1;
	if (msg_send(MSG_PARENT_FD, MSG_READY, 0, &ready, sizeof(ready), -1) < 0)
		fatal("sending READY");
	log_info("running: %u flows, quota %u per client, reserve of %u buffers",
	    n->cfg.nflows, n->cfg.client_quota, n->cfg.own_count);
}

/* Variable size: msg_recv checked that count entries fill it exactly. */
static void
on_clients(struct natd *n, const struct msg *m)
{
	static uint32_t ips[CLIENTS_MAX], vis[CLIENTS_MAX];
	const struct msg_clients *mc = msg_get_clients(m);
	uint32_t k;

	if (n->e == NULL || mc == NULL)
		fatalx("MSG_CLIENTS before MSG_QUEUES");
	for (k = 0; k < mc->count; k++) {
		ips[k] = mc->c[k].ip;
		vis[k] = mc->c[k].visible_ip;
	}
	nat_clients(n->e, ips, vis, mc->count);
	nat_fakeip_set(n->e, mc);
}

static void
call_done(const struct msg_call *c, uint32_t id, int status, const void *out,
    size_t outlen, const char *err)
{
	struct msg_call_done d;
	size_t errlen = err ? strlen(err) : 0;
	char *buf;
	int fd;

	if ((buf = malloc(outlen + errlen + 1)) == NULL)
		fatal("service output");
	memcpy(buf, out, outlen);
	memcpy(buf + outlen, err ? err : "", errlen);
	fd = memfd_from("natd-call", buf, outlen + errlen);
	free(buf);
	if (fd < 0)
		fatal("memfd for service output");
	memset(&d, 0, sizeof(d));
	d.callid = c->callid;
	d.status = status;
	d.out_len = (uint32_t)outlen;
	d.err_len = (uint32_t)errlen;
	if (msg_send(MSG_PARENT_FD, MSG_CALL_DONE, id, &d, sizeof(d), fd) < 0)
		fatal("sending MSG_CALL_DONE");
	close(fd);
}

static void
on_call(struct natd *n, const struct msg *m)
{
	struct msg_call c;
	struct timespec rt, mono;
	size_t cap, len;
	void *buf;

	if (msg_get(m, MSG_CALL, &c, sizeof(c)) < 0)
		fatalx("bad MSG_CALL");
	if (m->fd >= 0)
		close(m->fd);	/* no service here takes input */
	c.service[sizeof(c.service) - 1] = '\0';
	if (n->e == NULL) {
		call_done(&c, m->hdr.id, 75, NULL, 0, "natd: not configured yet\n");
		return;
	}
	if (strcmp(c.service, "moat.Stats") == 0) {
		cap = 4096 + (size_t)MQ_PORT_MAX * 2048;
		if ((buf = malloc(cap)) == NULL)
			fatal("stats buffer");
		len = nat_stats_json(n->e, buf, cap);
		if (len == 0)
			call_done(&c, m->hdr.id, 1, NULL, 0, "natd: stats too large\n");
		else
			call_done(&c, m->hdr.id, 0, buf, len, NULL);
		free(buf);
	} else if (strcmp(c.service, "moat.Flows") == 0) {
		c.arg[sizeof(c.arg) - 1] = '\0';
		if ((buf = malloc(NAT_FLOWS_VIEW_BYTES)) == NULL)
			fatal("flows buffer");
		len = nat_flows_json(n->e, buf, NAT_FLOWS_VIEW_BYTES, c.arg,
		    n->e->cfg.flows_view_max, now_ms());
		call_done(&c, m->hdr.id, 0, buf, len, NULL);
		free(buf);
	} else if (strcmp(c.service, "moat.DumpRejects") == 0) {
		cap = nat_pcap_bytes(n->e);
		if ((buf = malloc(cap)) == NULL)
			fatal("pcap buffer");
		clock_gettime(CLOCK_REALTIME, &rt);
		clock_gettime(CLOCK_MONOTONIC, &mono);
		len = nat_pcap_dump(n->e, buf, cap,
		    ((int64_t)rt.tv_sec - mono.tv_sec) * 1000 +
		    (rt.tv_nsec - mono.tv_nsec) / 1000000);
		call_done(&c, m->hdr.id, len ? 0 : 1, buf, len,
		    len ? NULL : "natd: pcap failed\n");
		free(buf);
	} else
		call_done(&c, m->hdr.id, 127, NULL, 0, "natd: unknown service\n");
}

void
natd_control(struct natd *n)
{
	static struct msg m;

	while (daemon_recv(&m)) {
		switch (m.hdr.type) {
		case MSG_QUEUES:
			on_queues(n, &m);
			break;
		case MSG_EVENTFD:
			on_eventfd(n, &m);
			break;
		case MSG_FLOWTAB:
			on_flowtab(n, &m);
			break;
		case MSG_NETCONF: {
			struct msg_netconf nc;

			if (n->e == NULL || msg_get(&m, MSG_NETCONF, &nc, sizeof(nc)) < 0)
				fatalx("MSG_NETCONF before MSG_QUEUES");
			nat_netconf(n->e, &nc, now_ms());
			break;
		}
		case MSG_LINK: {
			struct msg_link l;

			if (n->e == NULL || msg_get(&m, MSG_LINK, &l, sizeof(l)) < 0)
				fatalx("MSG_LINK before MSG_QUEUES");
			nat_link(n->e, &l, now_ms());
			break;
		}
		case MSG_CLIENTS:
			on_clients(n, &m);
			break;
		case MSG_START:
			on_start(n, &m);
			break;
		case MSG_SHUTDOWN:
			log_info("shutting down");
			exit(0);
		case MSG_RULES_CHANGED: {
			struct msg_rules_changed rc2;

			if (n->e == NULL)
				fatalx("MSG_RULES_CHANGED before MSG_QUEUES");
			if (msg_get(&m, MSG_RULES_CHANGED, &rc2, sizeof(rc2)) < 0)
				fatalx("bad MSG_RULES_CHANGED");
			nat_rules_changed(n->e, rc2.generation, now_ms());
			natd_flush(n);
			break;
		}
		case MSG_FORWARDS: {
			static struct msg_forwards fw;

			if (n->e == NULL)
				fatalx("MSG_FORWARDS before MSG_QUEUES");
			if (msg_get(&m, MSG_FORWARDS, &fw, sizeof(fw)) < 0)
				fatalx("bad MSG_FORWARDS");
			nat_forwards(n->e, &fw, now_ms());
			natd_flush(n);
			break;
		}
		case MSG_LIMITS: {
			static struct msg_limits lm;

			if (n->e == NULL)
				fatalx("MSG_LIMITS before MSG_QUEUES");
			if (msg_get(&m, MSG_LIMITS, &lm, sizeof(lm)) < 0)
				fatalx("bad MSG_LIMITS");
			nat_limits(n->e, &lm, now_ms());
			break;
		}
		case MSG_DNS_QUERY: {
			struct msg_dns_query q;

			if (n->e == NULL)
				fatalx("MSG_DNS_QUERY before MSG_QUEUES");
			if (msg_get(&m, MSG_DNS_QUERY, &q, sizeof(q)) < 0)
				fatalx("bad MSG_DNS_QUERY");
			nat_dns_query(n->e, &q, now_ms());
			natd_flush(n);
			break;
		}
		case MSG_CALL:
			on_call(n, &m);
			break;
#ifdef MOAT_TEST_HOOKS
		case MSG_TEST_RING:
			if (shm_test_break(&n->shm, &m) < 0)
				fatalx("MSG_TEST_RING for a ring natd does not produce on");
			natd_flush(n);
			break;
#endif
		default:
			if (!daemon_common_msg(&m))
				fatalx("unexpected %s from the supervisor", msg_name(m.hdr.type));
		}
	}
}
