/*
 * test_xen_netback.c: netbackd's netback against the fake Xen, with every
 * party a separate process: this process is dom0 (toolstack), one process
 * runs nb_backend_xen under a loopback core (nbh.c) as the firewall domain,
 * and each client VM is its own process driving its rings (tfront.c).
 *
 * Honest clients exchange ARP- and UDP-shaped frames, multi-slot and
 * checksum-offloaded; hostile ones break one rule each, and every such
 * test checks that the offender is disconnected, that a well-behaved
 * client keeps passing traffic, and that netbackd still runs.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "t.h"
#include "fakexen.h"
#include "nbh.h"
#include "tfront.h"

#define FW	1		/* the firewall's domain id */
#define GOOD	20		/* a well-behaved client */
#define TMO	3000

static struct fx_world *W;
static struct nbh_shared *SH;
static pid_t NBH;
static struct xen_if *X0;
static unsigned next_dom = 40;

struct ctl {
	volatile int	stop, connected, failed;
	volatile uint64_t ok, bad;
	volatile int	step;		/* test -> client: go to this step */
	volatile int	done;		/* client -> test: step reached */
	volatile uint64_t rsp_ok, rsp_err, rsp_null;
	volatile uint32_t nconn, txref, rxref, attach_tx, attach_rx;	/* NetVM's view */
	volatile uint32_t tx_cons;
	volatile int	bstate;
};
static struct ctl *C;		/* per hostile client */
static struct ctl *G;		/* the good client */

static void
vif_paths(unsigned dom, char *b, size_t bn, char *bstate, size_t sn)
{
	snprintf(b, bn, "/local/domain/%u/backend/vif/%u/0", FW, dom);
	snprintf(bstate, sn, "%s/state", b);
}

static char *
ipstr(unsigned dom)
{
	static char s[32];

	snprintf(s, sizeof(s), "10.137.0.%u", dom);
	return s;
}

static char *
macstr(unsigned dom)
{
	static char s[32];

	snprintf(s, sizeof(s), "00:16:3e:5e:6c:%02x", dom & 0xff);
	return s;
}

/* When set, what dom0 writes after the IPv4 address in the vif's ip key
 * (" fd09:...": the client has the `ipv6` feature). */
static const char *ip_key_tail = "";

/* A client process: connect, then run fn. Exit code 0 = fine. */
static pid_t
spawn(unsigned dom, struct ctl *c, int (*fn)(struct tfront *, struct ctl *))
{
	char ipkey[128];
	pid_t pid;

	fx_domain_create(W, dom);
	snprintf(ipkey, sizeof(ipkey), "%s%s", ipstr(dom), ip_key_tail);
	if (dom0_add_vif(X0, FW, dom, 0, macstr(dom), ipkey) < 0)
		return -1;
	memset((void *)c, 0, sizeof(*c));
	if ((pid = fork()) == 0) {
		/* never outlive the test */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		struct xen_if *x = fx_open(W, dom);
		struct tfront t;

		if (x == NULL || tf_init(&t, x, FW, 0) < 0 || tf_connect(&t, TMO) < 0) {
			c->failed = 1;
			_exit(10);
		}
		c->connected = 1;
		_exit(fn(&t, c));
	}
	return pid;
}

static int
wait_connected(struct ctl *c)
{
	uint64_t t0 = tu_now_ms();

	while (!c->connected && !c->failed && tu_now_ms() - t0 < TMO)
		usleep(1000);
	return c->connected ? 0 : -1;
}

static int
finish(pid_t pid)
{
	int st;

	if (waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st);
}

/* The client VM dies: its process, then the domain, then dom0 cleans up. */
static void
kill_client(pid_t pid, unsigned dom)
{
	kill(pid, SIGKILL);
	finish(pid);
	fx_domain_destroy(W, dom);
	dom0_remove_vif(X0, FW, dom, 0, TMO);
}

/* Good client: ping every few ms until told to stop. */
static int
good_loop(struct tfront *t, struct ctl *c)
{
	uint8_t f[64];
	uint32_t sip = inet_addr(ipstr(t->dom)), tip = inet_addr("10.137.0.1");

	frame_arp(f, (const uint8_t *)"\x00\x16\x3e\x5e\x6c\x14", sip, tip);
	while (!c->stop) {
		if (tf_ping(t, f, 42, 1, 0, 500) == 0)
			c->ok++;
		else
			c->bad++;
		usleep(2000);
	}
	return tf_close(t, TMO) == 0 ? 0 : 1;
}

static pid_t good_pid;

static void
good_start(void)
{
	good_pid = spawn(GOOD, G, good_loop);
}

/* A good client still gets echoes: ok grows by 10 within two seconds. */
static int
client_alive(struct ctl *c)
{
	uint64_t base = c->ok, t0 = tu_now_ms(), bad0 = c->bad;

	while (tu_now_ms() - t0 < 2000) {
		if (c->ok >= base + 10)
			return c->bad == bad0;
		usleep(2000);
	}
	return 0;
}

static int
good_alive(void)
{
	return client_alive(G);
}

static int
nbh_alive(void)
{
	uint64_t l = SH->loops, t0 = tu_now_ms();

	if (kill(NBH, 0) != 0)
		return 0;
	while (tu_now_ms() - t0 < 1000) {
		if (SH->loops > l + 2)
			return 1;
		usleep(1000);
	}
	return 0;
}

/* CPU time of a process in clock ticks (utime + stime), 0 if unknown. */
static uint64_t
cpu_ticks(pid_t pid)
{
	char p[64], buf[1024], *s;
	unsigned long long ut = 0, st = 0;
	FILE *fp;
	size_t n;

	snprintf(p, sizeof(p), "/proc/%d/stat", (int)pid);
	if ((fp = fopen(p, "r")) == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	/* after "(comm)": state is field 3, utime 14, stime 15 */
	if ((s = strrchr(buf, ')')) == NULL ||
	    sscanf(s + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
	    &ut, &st) != 2)
		return 0;
	return ut + st;
}

/* Honest scenarios */

static int
c_basic(struct tfront *t, struct ctl *c)
{
	uint8_t f[2048], back[4096];
	uint32_t sip = inet_addr(ipstr(t->dom)), dip = inet_addr("8.8.8.8");
	int n;

	(void)c;
	frame_arp(f, (const uint8_t *)"\x00\x16\x3e\x5e\x6c\x01", sip, dip);
	if (tf_ping(t, f, 42, 1, 0, TMO) != 0)
		return 1;
	/* 1500-byte UDP, checksum left to the backend, over 3 slots */
	frame_udp(f, 1514, sip, dip, 1);
	if (tf_queue(t, f, 1514, 3, NETTXF_csum_blank | NETTXF_data_validated, NULL) < 0)
		return 2;
	tf_publish(t);
	if ((n = tf_recv(t, back, sizeof(back), TMO)) != 1514)
		return 3;
	if (!frame_udp_csum_ok(back, 1514) || memcmp(back + 42, f + 42, 1514 - 42) != 0)
		return 4;
	/* the same, full checksum, over the most slots netfront uses */
	frame_udp(f, 1514, sip, dip, 0);
	if (tf_ping(t, f, 1514, 18, 0, TMO) != 0)
		return 5;
	if (tf_ping(t, f, 1514, 19, 0, TMO) != 0)
		return 6;
	/* an extra-info slot is answered NETIF_RSP_NULL */
	{
		struct netif_extra_info e;

		memset(&e, 0, sizeof(e));
		e.type = XEN_NETIF_EXTRA_TYPE_HASH;
		tf_reap(t);
		if (tf_queue(t, f, 200, 2, 0, &e) < 0)
			return 7;
		tf_publish(t);
		if (tf_recv(t, back, sizeof(back), TMO) != 200 || memcmp(back, f, 200) != 0)
			return 8;
		usleep(20000);
		tf_reap(t);
		if (t->rsp_null != 1 || t->rsp_err != 0)
			return 9;
	}
	c->rsp_ok = t->rsp_ok;
	/* a 6000-byte frame: two TX slots in, two RX slots (more_data) out */
	{
		static uint8_t jumbo[6000];

		frame_udp(jumbo, 6000, sip, dip, 0);
		if (tf_ping(t, jumbo, 6000, 2, 0, TMO) != 0)
			return 14;
	}
	/* a frame larger than a core buffer is dropped, answered, and the
	 * vif carries on */
	{
		static uint8_t big[12000];

		frame_udp(big, 12000, sip, dip, 0);
		tf_queue(t, big, 12000, 4, 0, NULL);
		tf_publish(t);
		usleep(50000);
		tf_reap(t);
		if (tf_ping(t, f, 1514, 1, 0, TMO) != 0)
			return 10;
	}
	/* 20 data slots (19 after the first): dropped with ERROR, not fatal */
	{
		uint64_t err0 = t->rsp_err;

		tf_queue(t, f, 1514, 20, 0, NULL);
		tf_publish(t);
		usleep(50000);
		tf_reap(t);
		if (t->rsp_err != err0 + 20)
			return 11;
		if (tf_ping(t, f, 60, 1, 0, TMO) != 0)
			return 12;
	}
	c->done = 1;
	while (!c->stop)
		usleep(1000);
	return tf_close(t, TMO) == 0 ? 0 : 13;
}

static void
connect_and_traffic(void)
{
	char b[96], bs[128], p[160], *v;
	unsigned dom = next_dom++, len, i, port = 0;
	uint64_t t0;
	pid_t pid;
	int waited;

	vif_paths(dom, b, sizeof(b), bs, sizeof(bs));
	t0 = tu_now_ms();
	pid = spawn(dom, C, c_basic);
	/* dom0 gives up after 10 s: InitWait must come promptly */
	/* the client may take the backend to Connected within a millisecond */
	while ((waited = xs_state(X0, bs)) != XB_INITWAIT && waited != XB_CONNECTED &&
	    tu_now_ms() - t0 < TMO)
		usleep(200);
	T_ASSERT(waited == XB_INITWAIT || waited == XB_CONNECTED);
	printf("# InitWait %llu ms after dom0 created the device\n",
	    (unsigned long long)(tu_now_ms() - t0));
	T_ASSERT(tu_now_ms() - t0 < 5000);	/* dom0 gives up at 10 s */
	snprintf(p, sizeof(p), "%s/hotplug-status", b);
	v = X0->xs_read(X0, 0, p, &len);
	T_ASSERT(v != NULL);
	T_EQ_STR(v, "connected");
	free(v);
	snprintf(p, sizeof(p), "%s/feature-sg", b);
	v = X0->xs_read(X0, 0, p, &len);
	T_ASSERT(v != NULL && strcmp(v, "1") == 0);
	free(v);
	T_EQ_INT(wait_connected(C), 0);
	/* natd learns the client's IP and MAC from the backend dir, not the
	 * frontend's own "mac" (00:16:3e:ee:ee:ee) */
	for (i = 1; i < NBH_PORTS; i++)
		if (SH->link[i].up && strstr(SH->link[i].name, "vif") &&
		    SH->link[i].ip4 == inet_addr(ipstr(dom)))
			port = i;
	T_ASSERT(port != 0);
	T_EQ_MEM(SH->link[port].peer_mac, "\x00\x16\x3e\x5e\x6c", 5);
	T_EQ_INT(SH->link[port].peer_mac[5], dom & 0xff);
	t0 = tu_now_ms();
	while (!C->done && !C->failed && tu_now_ms() - t0 < 10000 && kill(pid, 0) == 0)
		usleep(1000);
	C->stop = 1;
	T_EQ_INT(finish(pid), 0);
	T_ASSERT(C->rsp_ok > 0);
	T_EQ_INT(SH->st.violations, 0);
	T_EQ_INT(dom0_remove_vif(X0, FW, dom, 0, TMO), 0);
	usleep(50000);
	T_EQ_INT(SH->link[port].up, 0);
	fx_domain_destroy(W, dom);
}

static unsigned sender_dom;

static int
c_rx_pair(struct tfront *t, struct ctl *c)
{
	uint8_t f[2048], back[4096];
	int n;

	if (t->dom == sender_dom) {
		while (c->done == 0) {
			frame_udp(f, 600, inet_addr(ipstr(t->dom)), inet_addr("10.137.0.99"), 0);
			if (tf_queue(t, f, 600, 1, 0, NULL) == 0)
				tf_publish(t);
			usleep(5000);
			tf_reap(t);
		}
	} else {		/* receiver */
		n = tf_recv(t, back, sizeof(back), TMO);
		frame_udp(f, 600, inet_addr(ipstr(sender_dom)), inet_addr("10.137.0.99"), 0);
		if (n != 600 || memcmp(back, f, 600) != 0)
			return 1;
		c->done = 1;
	}
	while (!c->stop)
		usleep(1000);
	return 0;
}

static void
forward_between_vifs(void)
{
	static struct ctl *c2;
	unsigned a = next_dom++, b = next_dom++, i, pa = 0, pb = 0;
	pid_t ka, kb;

	if (c2 == NULL)
		c2 = mmap(NULL, sizeof(*c2), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	sender_dom = a;
	kb = spawn(b, c2, c_rx_pair);
	T_EQ_INT(wait_connected(c2), 0);
	for (i = 1; i < NBH_PORTS; i++) {
		if (SH->link[i].up && SH->link[i].ip4 == inet_addr(ipstr(b)))
			pb = i;
	}
	T_ASSERT(pb != 0);
	sender_dom = a;
	ka = spawn(a, C, c_rx_pair);
	T_EQ_INT(wait_connected(C), 0);
	for (i = 1; i < NBH_PORTS; i++)
		if (SH->link[i].up && SH->link[i].ip4 == inet_addr(ipstr(a)))
			pa = i;
	T_ASSERT(pa != 0 && pa != pb);
	SH->pair[pa] = (uint16_t)pb;
	{
		uint64_t t0 = tu_now_ms();

		while (!c2->done && tu_now_ms() - t0 < TMO)
			usleep(1000);
	}
	C->done = 1;
	T_EQ_INT(c2->done, 1);
	SH->pair[pa] = 0;
	C->stop = c2->stop = 1;
	T_EQ_INT(finish(kb), 0);
	T_EQ_INT(finish(ka), 0);
	dom0_remove_vif(X0, FW, a, 0, TMO);
	dom0_remove_vif(X0, FW, b, 0, TMO);
	fx_domain_destroy(W, a);
	fx_domain_destroy(W, b);
}

/* Lifecycle */

static int
c_close_reconnect(struct tfront *t, struct ctl *c)
{
	uint8_t f[64];

	frame_arp(f, (const uint8_t *)"\x00\x16\x3e\x5e\x6c\x02", 1, 2);
	if (tf_ping(t, f, 42, 1, 0, TMO) != 0)
		return 1;
	if (tf_close(t, TMO) != 0)
		return 2;
	c->step = 1;
	while (c->done != 1)
		usleep(1000);
	/* start over as a rebooted frontend would: new rings, state 1 */
	{
		struct xen_if *x = t->x;

		tf_free(t);
		if (tf_init(t, x, FW, 0) < 0)
			return 3;
		x->xs_write(x, 0, t->fpath, "", 0);
		{
			char p[160];

			snprintf(p, sizeof(p), "%s/state", t->fpath);
			x->xs_write(x, 0, p, "1", 1);
		}
		if (tf_connect(t, TMO) != 0)
			return 4;
		if (tf_ping(t, f, 42, 1, 0, TMO) != 0)
			return 5;
	}
	c->step = 2;
	while (!c->stop)
		usleep(1000);
	return 0;
}

static void
close_and_reconnect(void)
{
	unsigned dom = next_dom++, maps0 = fx_maps_held(W, FW);
	unsigned ports0 = fx_ports_bound(W, FW);
	char b[96], bs[128];
	uint64_t t0;
	pid_t pid;

	vif_paths(dom, b, sizeof(b), bs, sizeof(bs));
	pid = spawn(dom, C, c_close_reconnect);
	T_EQ_INT(wait_connected(C), 0);
	t0 = tu_now_ms();
	while (C->step != 1 && tu_now_ms() - t0 < TMO)
		usleep(1000);
	T_EQ_INT(C->step, 1);
	/* closed: nothing of the client stays mapped or bound */
	T_EQ_INT(xs_state(X0, bs), XB_CLOSED);
	T_EQ_INT(fx_maps_held(W, FW), maps0);
	T_EQ_INT(fx_ports_bound(W, FW), ports0);
	C->done = 1;
	while (C->step != 2 && kill(pid, 0) == 0 && tu_now_ms() - t0 < 3 * TMO)
		usleep(1000);
	T_EQ_INT(C->step, 2);
	T_EQ_INT(xs_state(X0, bs), XB_CONNECTED);
	/* dom0 detaches the device: the backend closes and removes its dir */
	T_EQ_INT(dom0_remove_vif(X0, FW, dom, 0, TMO), 0);
	T_EQ_INT(fx_maps_held(W, FW), maps0);
	T_EQ_INT(fx_ports_bound(W, FW), ports0);
	C->stop = 1;
	finish(pid);
	fx_domain_destroy(W, dom);
	T_EQ_INT(SH->st.violations, 0);
}

static int
c_idle(struct tfront *t, struct ctl *c)
{
	(void)t;
	while (!c->stop)
		usleep(1000);
	return 0;
}

static void
client_dies(void)
{
	unsigned dom = next_dom++, maps0 = fx_maps_held(W, FW);
	char b[96], bs[128];
	pid_t pid;

	vif_paths(dom, b, sizeof(b), bs, sizeof(bs));
	pid = spawn(dom, C, c_idle);
	T_EQ_INT(wait_connected(C), 0);
	T_EQ_INT(fx_maps_held(W, FW), maps0 + 2);
	/* No goodbye: the domain is destroyed and dom0 removes the device. */
	kill(pid, SIGKILL);
	finish(pid);
	fx_domain_destroy(W, dom);
	T_EQ_INT(dom0_remove_vif(X0, FW, dom, 0, TMO), 0);
	T_EQ_INT(fx_maps_held(W, FW), maps0);
	T_ASSERT(good_alive());
}

/* Hostile frontends: one rule broken each */

typedef void (*badfn)(struct tfront *);

static badfn the_bad;

static int
c_hostile(struct tfront *t, struct ctl *c)
{
	uint8_t f[64];

	frame_arp(f, (const uint8_t *)"\x00\x16\x3e\x5e\x6c\x03", 1, 2);
	if (tf_ping(t, f, 42, 1, 0, TMO) != 0)
		return 1;
	c->step = 1;
	the_bad(t);
	c->done = 1;
	while (!c->stop) {
		usleep(1000);
		tf_reap(t);
	}
	c->rsp_ok = t->rsp_ok;
	c->rsp_err = t->rsp_err;
	return 0;
}

/* expect_fatal: the vif must go to Closing; else it must stay Connected. */
static void
hostile(badfn bad, int expect_fatal, const char *reason)
{
	unsigned dom = next_dom++;
	uint64_t v0 = SH->st.violations, t0;
	char b[96], bs[128];
	pid_t pid;

	vif_paths(dom, b, sizeof(b), bs, sizeof(bs));
	the_bad = bad;
	pid = spawn(dom, C, c_hostile);
	T_EQ_INT(wait_connected(C), 0);
	t0 = tu_now_ms();
	while (!C->done && tu_now_ms() - t0 < TMO)
		usleep(1000);
	T_ASSERT(C->done);
	if (expect_fatal) {
		T_ASSERT(xs_wait_state(X0, bs, XB_CLOSING, TMO) >= 0);
		t0 = tu_now_ms();
		while (SH->st.violations == v0 && tu_now_ms() - t0 < TMO)
			usleep(1000);
		T_EQ_INT(SH->st.violations, v0 + 1);
		if (reason != NULL && strstr(SH->st.last_violation, reason) == NULL) {
			printf("# last violation: %s\n", SH->st.last_violation);
			T_ASSERT(!"the reason logged");
		}
	} else {
		usleep(100000);
		T_EQ_INT(xs_state(X0, bs), XB_CONNECTED);
		T_EQ_INT(SH->st.violations, v0);
	}
	T_ASSERT(good_alive());
	T_ASSERT(nbh_alive());
	C->stop = 1;
	kill_client(pid, dom);
}

static struct netif_tx_request
req(uint32_t gref, uint16_t off, uint16_t flags, uint16_t id, uint16_t size)
{
	struct netif_tx_request r = { gref, off, flags, id, size };

	return r;
}

static void
b_bad_gref(struct tfront *t)
{
	struct netif_tx_request r = req(999, 0, 0, 1, 60);

	tf_raw(t, &r);
	tf_publish(t);
}

static void
b_page_cross(struct tfront *t)
{
	struct netif_tx_request r = req(t->txrefs[0], 4000, 0, 1, 97);

	tf_raw(t, &r);
	tf_publish(t);
}

static void
b_size_zero(struct tfront *t)
{
	struct netif_tx_request r = req(t->txrefs[0], 0, 0, 1, 0);

	tf_raw(t, &r);
	tf_publish(t);
}

static void
b_too_many_slots(struct tfront *t)
{
	struct netif_tx_request r;
	unsigned i;

	for (i = 0; i < 25; i++) {
		r = req(t->txrefs[i % TF_TXPAGES], 0, i < 24 ? NETTXF_more_data : 0,
		    (uint16_t)i, i == 0 ? 2500 : 100);
		tf_raw(t, &r);
	}
	tf_publish(t);
}

static void
b_first_smaller(struct tfront *t)
{
	struct netif_tx_request r = req(t->txrefs[0], 0, NETTXF_more_data, 1, 100);

	tf_raw(t, &r);
	r = req(t->txrefs[1], 0, 0, 2, 1000);
	tf_raw(t, &r);
	tf_publish(t);
}

static void
b_prod_ahead(struct tfront *t)
{
	/* claim 300 requests on a 256-slot ring */
	t->tx_prod += 300;
	tf_publish(t);
}

static void
b_garbage_extra(struct tfront *t)
{
	struct netif_tx_request r = req(t->txrefs[0], 0, NETTXF_extra_info, 1, 60);

	tf_raw(t, &r);
	memset(&r, 0, sizeof(r));
	((uint8_t *)&r)[0] = 0x77;	/* no such extra type */
	tf_raw(t, &r);
	tf_publish(t);
}

static void
b_gso_zero(struct tfront *t)
{
	struct netif_tx_request r = req(t->txrefs[0], 0, NETTXF_extra_info, 1, 60);
	struct netif_extra_info e = { XEN_NETIF_EXTRA_TYPE_GSO, 0, { .gso = { 0, 1, 0, 0 } } };

	tf_raw(t, &r);
	memset(&r, 0, sizeof(r));
	memcpy(&r, &e, sizeof(e));
	tf_raw(t, &r);
	tf_publish(t);
}

static void
b_vanish_mid_packet(struct tfront *t)
{
	/* the first slot promises more, and nothing follows */
	struct netif_tx_request r = req(t->txrefs[0], 0, NETTXF_more_data, 1, 1000);

	tf_raw(t, &r);
	tf_publish(t);
}

static void
b_event_storm(struct tfront *t)
{
	char p[160];
	uint64_t t0 = tu_now_ms();
	unsigned i;

	/* notify with nothing to do, as fast as we can, until cut off */
	snprintf(p, sizeof(p), "%s/state", t->bpath);
	while (tu_now_ms() - t0 < 3000) {
		for (i = 0; i < 1000; i++)
			t->x->ev_notify(t->x, (uint32_t)t->port);
		if (xs_state(t->x, p) == XB_CLOSING)
			break;
	}
}

static void
b_rx_prod_ahead(struct tfront *t)
{
	t->rx_prod = t->rx_cons + 1000;
	__atomic_store_n(&t->rxs->req_prod, t->rx_prod, __ATOMIC_RELEASE);
	/* a frame to answer makes the backend look at the RX ring */
	{
		uint8_t f[64];

		frame_arp(f, (const uint8_t *)"\x00\x16\x3e\x5e\x6c\x04", 1, 2);
		tf_queue(t, f, 42, 1, 0, NULL);
		tf_publish(t);
	}
}

static void
b_rx_bad_gref(struct tfront *t)
{
	union netif_rx_slot *ring = (union netif_rx_slot *)t->rxs->ring;
	uint8_t f[64];
	uint32_t k;

	/* spoil every posted RX buffer's grant, then ask for an echo */
	for (k = t->rx_cons; k != t->rx_prod; k++)
		ring[k & (XNR_RX_RING_SIZE - 1)].req.gref = 5000;
	frame_arp(f, (const uint8_t *)"\x00\x16\x3e\x5e\x6c\x05", 1, 2);
	tf_queue(t, f, 42, 1, 0, NULL);
	tf_publish(t);
}

static void
b_dup_ids(struct tfront *t)
{
	uint8_t f[64];
	struct netif_tx_request r;

	/* two packets under the same id: the frontend's own business;
	 * both are answered and netbackd carries on */
	frame_arp(f, (const uint8_t *)"\x00\x16\x3e\x5e\x6c\x06", 1, 2);
	memcpy(t->txpg, f, 42);
	r = req(t->txrefs[0], 0, 0, 7, 42);
	tf_raw(t, &r);
	tf_raw(t, &r);
	tf_publish(t);
	usleep(50000);
	tf_reap(t);
}

static void
b_state_flap(struct tfront *t)
{
	char p[160];
	int i;

	snprintf(p, sizeof(p), "%s/state", t->fpath);
	for (i = 0; i < 200; i++) {
		const char *s[] = { "1", "4", "5", "3", "6", "0", "9", "x", "4" };

		t->x->xs_write(t->x, 0, p, s[i % 9], 1);
	}
	/* garbage keys too: the backend reads numbers strictly */
	snprintf(p, sizeof(p), "%s/event-channel", t->fpath);
	t->x->xs_write(t->x, 0, p, "-1", 2);
	snprintf(p, sizeof(p), "%s/state", t->fpath);
	t->x->xs_write(t->x, 0, p, "4", 1);
}

static void hostile_bad_gref(void) { hostile(b_bad_gref, 1, "grant"); }
static void hostile_page_cross(void) { hostile(b_page_cross, 1, "page"); }
static void hostile_size_zero(void) { hostile(b_size_zero, 1, "shorter"); }
static void hostile_too_many_slots(void) { hostile(b_too_many_slots, 1, "too many slots"); }
static void hostile_first_smaller(void) { hostile(b_first_smaller, 1, "larger than the packet"); }
static void hostile_prod_ahead(void) { hostile(b_prod_ahead, 1, "ran ahead"); }
static void hostile_garbage_extra(void) { hostile(b_garbage_extra, 1, "extra info type"); }
static void hostile_gso_zero(void) { hostile(b_gso_zero, 1, "GSO size zero"); }
static void hostile_vanish_mid_packet(void) { hostile(b_vanish_mid_packet, 1, "past the published"); }
static void hostile_event_storm(void) { hostile(b_event_storm, 1, "event storm"); }
static void hostile_rx_prod_ahead(void) { hostile(b_rx_prod_ahead, 1, "RX request producer"); }
static void hostile_rx_bad_gref(void) { hostile(b_rx_bad_gref, 1, "RX grant"); }
static void hostile_dup_ids(void) { hostile(b_dup_ids, 0, NULL); }

static void
hostile_state_flap(void)
{
	unsigned dom = next_dom++;
	char b[96], bs[128];
	pid_t pid;

	vif_paths(dom, b, sizeof(b), bs, sizeof(bs));
	the_bad = b_state_flap;
	pid = spawn(dom, C, c_hostile);
	T_EQ_INT(wait_connected(C), 0);
	while (!C->done && kill(pid, 0) == 0)
		usleep(1000);
	usleep(200000);
	/* whatever it ended in, netbackd settled in a valid state and the
	 * rest of the firewall never noticed */
	T_ASSERT(xs_state(X0, bs) >= XB_INITWAIT && xs_state(X0, bs) <= XB_CLOSED);
	T_ASSERT(good_alive());
	T_ASSERT(nbh_alive());
	C->stop = 1;
	kill_client(pid, dom);
}


/*
 * A frontend flapping its state: Closed, Initialising, Connected, over and
 * over, each step waiting only briefly for the backend to follow. Every
 * connect maps its rings, binds its channel and logs a line; netbackd must
 * hold them to XB_CONN_BURST and then one per XB_CONN_MS (issue 12), and
 * connect the client once it asks honestly again.
 */
#define FLAPS	1000

/* Poll our backend's state until it reads want; 0, or -1 after ms. */
static int
flap_wait(struct tfront *t, const char *bs, int want, int ms_max)
{
	uint64_t t0 = tu_now_ms();

	do {
		if (xs_state(t->x, bs) == want)
			return 0;
		usleep(100);
	} while (tu_now_ms() - t0 < (uint64_t)ms_max);
	return -1;
}

static int
c_flap(struct tfront *t, struct ctl *c)
{
	char p[160], bs[160];
	uint8_t f[64];
	int i;

	snprintf(p, sizeof(p), "%s/state", t->fpath);
	snprintf(bs, sizeof(bs), "%s/state", t->bpath);
	c->step = 1;
	while (c->step != 2 && !c->stop)
		usleep(1000);
	for (i = 0; i < FLAPS && !c->stop; i++) {
		t->x->xs_write(t->x, 0, p, "6", 1);
		(void)flap_wait(t, bs, XB_CLOSED, 100);
		t->x->xs_write(t->x, 0, p, "1", 1);
		(void)flap_wait(t, bs, XB_INITWAIT, 100);
		t->x->xs_write(t->x, 0, p, "4", 1);
		if (flap_wait(t, bs, XB_CONNECTED, 3) == 0)
			c->ok++;	/* the backend connected once more */
		c->nconn = (uint32_t)i + 1;
	}
	c->done = 1;
	/* Left in Connected: the held-back connect comes with a token. */
	if (flap_wait(t, bs, XB_CONNECTED, 2 * XB_CONN_MS + TMO) != 0)
		return 2;
	frame_arp(f, (const uint8_t *)"\x00\x16\x3e\x5e\x6c\x04", 1, 2);
	if (tf_ping(t, f, 42, 1, 0, TMO) != 0)
		return 3;
	c->step = 3;
	while (!c->stop)
		usleep(1000);
	return 0;
}

static void
hostile_connect_flap(void)
{
	unsigned dom = next_dom++;
	uint64_t c0, d0, l0, cpu0, t0, el, cap, conns, lines;
	pid_t pid;

	pid = spawn(dom, C, c_flap);
	T_EQ_INT(wait_connected(C), 0);
	t0 = tu_now_ms();
	while (C->step != 1 && tu_now_ms() - t0 < TMO)
		usleep(1000);
	c0 = SH->st.connects;
	d0 = SH->st.connects_deferred;
	l0 = SH->log_lines;
	cpu0 = cpu_ticks(NBH);
	t0 = tu_now_ms();
	C->step = 2;
	while (!C->done && kill(pid, 0) == 0 && tu_now_ms() - t0 < 120000)
		usleep(1000);
	T_ASSERT(C->done);
	el = tu_now_ms() - t0;
	usleep(100000);		/* the harness publishes its counters */
	conns = SH->st.connects - c0;
	lines = SH->log_lines - l0;
	printf("# %u flaps in %llu ms: the frontend saw %llu connects, netbackd "
	    "made %llu and held back %llu; %llu log lines, %llu CPU ticks\n",
	    C->nconn, (unsigned long long)el, (unsigned long long)C->ok,
	    (unsigned long long)conns,
	    (unsigned long long)(SH->st.connects_deferred - d0),
	    (unsigned long long)lines, (unsigned long long)(cpu_ticks(NBH) - cpu0));
	T_EQ_INT(C->nconn, FLAPS);
	/* the burst, then one per XB_CONN_MS (and one for rounding) */
	cap = XB_CONN_BURST + el / XB_CONN_MS + 1;
	T_ASSERT(C->ok <= cap);
	T_ASSERT(conns <= cap);
	T_ASSERT(SH->st.connects_deferred > d0);
	/* a "connected" and a "held back" line per connect at most */
	T_ASSERT(lines <= 2 * cap + 2);
	/* the client, honest again, gets its connect and its echo */
	t0 = tu_now_ms();
	while (C->step != 3 && kill(pid, 0) == 0 && tu_now_ms() - t0 < 2 * XB_CONN_MS + 2 * TMO)
		usleep(1000);
	T_EQ_INT(C->step, 3);
	T_ASSERT(good_alive());
	T_ASSERT(nbh_alive());
	C->stop = 1;
	kill_client(pid, dom);
}

/*
 * TSO (GSO) through the netback, both ways. A second firewall domain runs
 * the backend with pool buffers of the supervisor's devnet size, so that a
 * 64 KiB super-frame fits one and the backend offers TSO; the main one
 * (10 KiB buffers) must not offer it.
 */

#define FW2		2	/* the firewall with 64 KiB buffers */
#define GOOD2		21	/* its well-behaved client */
#define GSO_BUFSZ	66048
#define MSS		1448	/* IPv4 with timestamps */
#define MSS6		1440	/* IPv6 without: 1500 - 40 - 20 */

static struct nbh_shared *SH2;
static pid_t NBH2 = -1, good2_pid = -1;
static struct ctl *G2;
static int gso_fe;		/* the next client writes feature-gso-tcpv4/6 */

static void
pre_gso(struct tfront *t)
{
	if (gso_fe) {
		char p[160];

		snprintf(p, sizeof(p), "%s/feature-gso-tcpv4", t->fpath);
		t->x->xs_write(t->x, 0, p, "1", 1);
		snprintf(p, sizeof(p), "%s/feature-gso-tcpv6", t->fpath);
		t->x->xs_write(t->x, 0, p, "1", 1);
	}
}

/* spawn(), for a client of firewall bdom; gso: it takes TSO on RX. */
static pid_t
gspawn(unsigned bdom, unsigned dom, int gso, struct ctl *c,
    int (*fn)(struct tfront *, struct ctl *))
{
	pid_t pid;

	fx_domain_create(W, dom);
	if (dom0_add_vif(X0, bdom, dom, 0, macstr(dom), ipstr(dom)) < 0)
		return -1;
	memset((void *)c, 0, sizeof(*c));
	gso_fe = gso;
	if ((pid = fork()) == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		struct xen_if *x = fx_open(W, dom);
		struct tfront t;

		tf_pre_connect = pre_gso;
		if (x == NULL || tf_init(&t, x, bdom, 0) < 0 || tf_connect(&t, TMO) < 0) {
			c->failed = 1;
			_exit(10);
		}
		c->connected = 1;
		_exit(fn(&t, c));
	}
	return pid;
}

/* TCP over IPv4 or IPv6, len bytes in all, the checksum field holding the
 * pseudo-header sum (as TSO sends it). */
static size_t
frame_tcp(uint8_t *b, size_t len, int v6, unsigned seed)
{
	size_t l4 = v6 ? 54 : 34, tl = len - l4, i;
	uint8_t *ip = b + 14, *th = b + l4;
	uint32_t ps;
	uint16_t c;

	memset(b, 0, l4 + 20);
	memcpy(b, "\xfe\xff\xff\xff\xff\xff\x00\x16\x3e\x00\x00\x02", 12);
	if (!v6) {
		b[12] = 0x08;
		ip[0] = 0x45;
		ip[2] = (uint8_t)((len - 14) >> 8);
		ip[3] = (uint8_t)(len - 14);
		ip[6] = 0x40;	/* DF */
		ip[8] = 64;
		ip[9] = 6;
		memcpy(ip + 12, "\x0a\x89\x00\x2a\x08\x08\x08\x08", 8);
		c = (uint16_t)~tu_fold(tu_sum16(0, ip, 20));
		ip[10] = (uint8_t)(c >> 8);
		ip[11] = (uint8_t)c;
		ps = tu_sum16(0, ip + 12, 8);
	} else {
		b[12] = 0x86;
		b[13] = 0xdd;
		ip[0] = 0x60;
		ip[4] = (uint8_t)((len - 54) >> 8);
		ip[5] = (uint8_t)(len - 54);
		ip[6] = 6;
		ip[7] = 64;
		memcpy(ip + 8, "\xfd\x09\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x2a", 16);
		memcpy(ip + 24, "\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01", 16);
		ps = tu_sum16(0, ip + 8, 32);
	}
	th[0] = 0x9c; th[1] = 0x40; th[2] = 0x01; th[3] = 0xbb;
	th[4] = (uint8_t)seed;
	th[12] = 0x50;
	th[13] = 0x18;	/* PSH ACK */
	th[14] = 0xff;
	for (i = 20; i < tl; i++)
		th[i] = (uint8_t)(i * 7 + seed);
	ps += 6 + (uint32_t)tl;
	c = tu_fold(ps);
	th[16] = (uint8_t)(c >> 8);
	th[17] = (uint8_t)c;
	return len;
}

static int
tcp_csum_ok(const uint8_t *b, size_t len, int v6)
{
	size_t l4 = v6 ? 54 : 34;
	uint32_t s = v6 ? tu_sum16(0, b + 22, 32) : tu_sum16(0, b + 26, 8);

	s += 6 + (uint32_t)(len - l4);
	return tu_fold(tu_sum16(s, b + l4, len - l4)) == 0xffff;
}

static struct netif_extra_info
gso_extra(uint16_t size, uint8_t type)
{
	struct netif_extra_info e;

	memset(&e, 0, sizeof(e));
	e.type = XEN_NETIF_EXTRA_TYPE_GSO;
	e.u.gso.size = size;
	e.u.gso.type = type;
	return e;
}

/*
 * Receive one frame as Linux netfront does, extras included: its length,
 * -1 on timeout, -2 when malformed. *ex gets the GSO extra (type 0: none),
 * *flags0 the first slot's flags.
 */
static int
grecv(struct tfront *t, uint8_t *buf, size_t cap, int timeout_ms,
    struct netif_extra_info *ex, uint16_t *flags0)
{
	const union netif_rx_slot *ring = (const union netif_rx_slot *)t->rxs->ring;
	uint64_t t0 = tu_now_ms();
	size_t got = 0;
	int first = 1, extras = 0, more = 1;

	memset(ex, 0, sizeof(*ex));
	*flags0 = 0;
	for (;;) {
		uint32_t prod = __atomic_load_n(&t->rxs->rsp_prod, __ATOMIC_ACQUIRE);

		while (t->rx_cons != prod) {
			struct netif_rx_response r;
			uint32_t k = t->rx_cons & (XNR_RX_RING_SIZE - 1);

			t->rx_cons++;
			if (extras) {
				memcpy(ex, &ring[k].extra, sizeof(*ex));
				extras = (ex->flags & XEN_NETIF_EXTRA_FLAG_MORE) != 0;
				tf_post_rx(t, 1);
			} else {
				memcpy(&r, &ring[k].rsp, sizeof(r));
				if (r.id != k || r.status < 0 ||
				    (uint32_t)r.offset + (uint32_t)r.status > XEN_PAGE_SIZE ||
				    got + (size_t)r.status > cap)
					return -2;
				if (first) {
					*flags0 = r.flags;
					extras = (r.flags & NETRXF_extra_info) != 0;
					first = 0;
				} else if (r.flags & NETRXF_extra_info)
					return -2;
				memcpy(buf + got, t->rxpg + (size_t)(k % TF_RXPAGES) *
				    XEN_PAGE_SIZE + r.offset, (size_t)r.status);
				got += (size_t)r.status;
				more = (r.flags & NETRXF_more_data) != 0;
				tf_post_rx(t, 1);
			}
			if (!more && !extras)
				return (int)got;
		}
		t->rxs->rsp_event = t->rx_cons + 1;
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (__atomic_load_n(&t->rxs->rsp_prod, __ATOMIC_ACQUIRE) != t->rx_cons)
			continue;
		if (tu_now_ms() - t0 > (uint64_t)timeout_ms)
			return -1;
		{
			struct pollfd pfd = { t->x->ev_fd(t->x), POLLIN, 0 };
			int p;

			if (poll(&pfd, 1, 10) > 0)
				while ((p = t->x->ev_pending(t->x)) >= 0)
					t->x->ev_unmask(t->x, (uint32_t)p);
		}
		tf_reap(t);
	}
}

static char *
bkey(unsigned bdom, unsigned dom, const char *key)
{
	static char v[32];
	char p[160], *s;
	unsigned len;

	snprintf(p, sizeof(p), "/local/domain/%u/backend/vif/%u/0/%s", bdom, dom, key);
	snprintf(v, sizeof(v), "%s", (s = X0->xs_read(X0, 0, p, &len)) ? s : "(none)");
	free(s);
	return v;
}

static const char *
bkey_at(const char *dir, const char *key)
{
	static char v[32];
	char p[160], *s;
	unsigned len;

	snprintf(p, sizeof(p), "%s/%s", dir, key);
	snprintf(v, sizeof(v), "%s", (s = X0->xs_read(X0, 0, p, &len)) ? s : "(none)");
	free(s);
	return v;
}

/* A client that sends one 3000-byte super-frame where TSO is not offered. */
static int
c_gso_unoffered(struct tfront *t, struct ctl *c)
{
	static uint8_t f[3000];
	struct netif_extra_info e = gso_extra(MSS, XEN_NETIF_GSO_TYPE_TCPV4);

	frame_tcp(f, sizeof(f), 0, 1);
	if (tf_queue(t, f, sizeof(f), 1, NETTXF_csum_blank, &e) < 0)
		return 1;
	tf_publish(t);
	usleep(50000);
	tf_reap(t);
	c->rsp_ok = t->rsp_ok;
	c->rsp_null = t->rsp_null;
	frame_tcp(f, 200, 0, 2);
	if (tf_ping(t, f, 200, 1, 0, TMO) != 0)
		return 2;
	c->done = 1;
	while (!c->stop)
		usleep(1000);
	return 0;
}

/* 10 KiB pool buffers: no TSO offered, and a super-frame sent anyway is
 * dropped (answered, counted), the vif stays. */
static void
gso_not_offered(void)
{
	unsigned dom = next_dom++;
	uint64_t d0 = SH->st.tx_drops, g0 = SH->st.tx_gso, t0;
	pid_t pid;

	T_EQ_STR(bkey(FW, GOOD, "feature-gso-tcpv4"), "0");
	T_EQ_STR(bkey(FW, GOOD, "feature-gso-tcpv6"), "0");
	pid = gspawn(FW, dom, 1, C, c_gso_unoffered);
	T_EQ_INT(wait_connected(C), 0);
	t0 = tu_now_ms();
	while (!C->done && tu_now_ms() - t0 < TMO && kill(pid, 0) == 0)
		usleep(1000);
	T_ASSERT(C->done);
	T_EQ_INT(SH->st.tx_drops, d0 + 1);
	T_EQ_INT(SH->st.tx_gso, g0);
	T_EQ_INT(C->rsp_null, 1);	/* the extra slot */
	T_EQ_INT(C->rsp_ok, 1);		/* the dropped frame answered OKAY, as Linux */
	C->stop = 1;
	T_EQ_INT(finish(pid), 0);
	T_EQ_INT(dom0_remove_vif(X0, FW, dom, 0, TMO), 0);
	fx_domain_destroy(W, dom);
	T_ASSERT(good_alive());
}

/* Start the 64 KiB-buffer firewall (its good client comes after the
 * tests that read the core's last descriptor). */
static void
gso_setup(void)
{
	nbh_bufsz = GSO_BUFSZ;
	SH2 = nbh_shared_new();
	G2 = mmap(NULL, sizeof(*G2), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	T_ASSERT(SH2 != NULL && G2 != MAP_FAILED);
	NBH2 = nbh_start(SH2, W, FW2);
	nbh_bufsz = NBH_BUFSZ;
	T_ASSERT(NBH2 > 0);
}

static void
gso_good_start(void)
{
	good2_pid = gspawn(FW2, GOOD2, 0, G2, good_loop);
	T_EQ_INT(wait_connected(G2), 0);
	T_EQ_STR(bkey(FW2, GOOD2, "feature-gso-tcpv4"), "1");
	T_EQ_STR(bkey(FW2, GOOD2, "feature-gso-tcpv6"), "1");
}

static int
good2_alive(void)
{
	return client_alive(G2);
}

/*
 * A TSO-capable client: each step sends one frame and reads the echo.
 * Step 1: 60000-byte TCPv4 super-frame over 16 slots; step 2: the same
 * in IPv6; step 3: a 200-byte frame with a GSO extra (one segment: it
 * comes back as a plain frame, checksum completed). c->ok counts steps
 * whose echo was right; c->bad records the first wrong one.
 */
static int
c_gso(struct tfront *t, struct ctl *c)
{
	static uint8_t f[65536], back[65536];
	struct netif_extra_info e, ex;
	uint16_t fl;
	int step, n;

	for (step = 1; step <= 3; step++) {
		int v6 = step == 2;
		size_t len = step == 3 ? 200 : 60000;

		while (c->step < step && !c->stop)
			usleep(1000);
		frame_tcp(f, len, v6, (unsigned)step);
		e = gso_extra(v6 ? MSS6 : MSS, v6 ? XEN_NETIF_GSO_TYPE_TCPV6 : XEN_NETIF_GSO_TYPE_TCPV4);
		if (tf_queue(t, f, (uint16_t)len, step == 3 ? 1 : 16,
		    NETTXF_csum_blank | NETTXF_data_validated, &e) < 0)
			return 1;
		tf_publish(t);
		n = grecv(t, back, sizeof(back), TMO, &ex, &fl);
		if (n != (int)len) {
			c->bad = (uint64_t)(step * 100 + (n < 0 ? -n : 50));
		} else if (step < 3 && (memcmp(back, f, len) != 0 ||
		    ex.type != XEN_NETIF_EXTRA_TYPE_GSO || ex.u.gso.size != e.u.gso.size ||
		    ex.u.gso.type != e.u.gso.type ||
		    (fl & (NETRXF_extra_info | NETRXF_csum_blank | NETRXF_more_data)) !=
		    (NETRXF_extra_info | NETRXF_csum_blank | NETRXF_more_data))) {
			c->bad = (uint64_t)(step * 100 + 10);
		} else if (step == 3 && (ex.type != 0 || (fl & NETRXF_extra_info) ||
		    !tcp_csum_ok(back, len, 0) || memcmp(back, f, 50) != 0 ||
		    memcmp(back + 52, f + 52, len - 52) != 0)) {
			c->bad = (uint64_t)(step * 100 + 20);
		} else
			c->ok++;
		tf_reap(t);
		c->done = step;
	}
	c->rsp_null = t->rsp_null;
	c->rsp_err = t->rsp_err;
	while (!c->stop)
		usleep(1000);
	return tf_close(t, TMO) == 0 ? 0 : 2;
}

static int
wait_done(struct ctl *c, int step, pid_t pid)
{
	uint64_t t0 = tu_now_ms();

	while (c->done < step && tu_now_ms() - t0 < 2 * TMO && kill(pid, 0) == 0)
		usleep(1000);
	return c->done >= step;
}

/* Client -> natd: one descriptor per super-frame, with its GSO fields;
 * natd -> a TSO-capable client: the frame whole, with its GSO extra. */
static void
gso_both_ways(void)
{
	unsigned dom = next_dom++;
	uint64_t f0 = SH2->frames, g0 = SH2->st.tx_gso, r0 = SH2->st.rx_gso;
	pid_t pid;

	pid = gspawn(FW2, dom, 1, C, c_gso);
	T_EQ_INT(wait_connected(C), 0);
	T_EQ_STR(bkey(FW2, dom, "feature-gso-tcpv4"), "1");
	T_EQ_STR(bkey(FW2, dom, "feature-gso-tcpv6"), "1");
	C->step = 1;
	T_ASSERT(wait_done(C, 1, pid));
	T_EQ_INT(C->bad, 0);
	T_EQ_INT(SH2->frames, f0 + 1);
	T_EQ_INT(SH2->last.len, 60000);
	T_EQ_INT(SH2->last.gso_type, MQ_GSO_TCPV4);
	T_EQ_INT(SH2->last.gso_size, MSS);
	T_EQ_INT(SH2->last.flags, MQ_F_NEEDS_CSUM);
	T_EQ_INT(SH2->last.csum_start, 34);
	T_EQ_INT(SH2->last.csum_offset, 16);
	T_EQ_INT(SH2->st.tx_gso, g0 + 1);
	T_EQ_INT(SH2->st.rx_gso, r0 + 1);
	C->step = 2;
	T_ASSERT(wait_done(C, 2, pid));
	T_EQ_INT(C->bad, 0);
	T_EQ_INT(SH2->frames, f0 + 2);
	T_EQ_INT(SH2->last.len, 60000);
	T_EQ_INT(SH2->last.gso_type, MQ_GSO_TCPV6);
	T_EQ_INT(SH2->last.gso_size, MSS6);
	T_EQ_INT(SH2->last.csum_start, 54);
	T_EQ_INT(SH2->st.rx_gso, r0 + 2);
	C->step = 3;
	T_ASSERT(wait_done(C, 3, pid));
	T_EQ_INT(C->bad, 0);
	T_EQ_INT(SH2->last.len, 200);
	T_EQ_INT(SH2->last.gso_type, MQ_GSO_NONE);
	T_EQ_INT(C->ok, 3);
	C->stop = 1;
	T_EQ_INT(finish(pid), 0);
	T_EQ_INT(C->rsp_null, 3);
	T_EQ_INT(C->rsp_err, 0);
	T_EQ_INT(SH2->st.violations, 0);
	T_EQ_INT(dom0_remove_vif(X0, FW2, dom, 0, TMO), 0);
	fx_domain_destroy(W, dom);
}

/*
 * The segments of a super-frame f (len bytes, v6 or not, built by
 * frame_tcp) at mss, as a receiver that takes no TSO must get them: each
 * a frame of its own within the MTU, checksums complete, the headers of
 * f with the IP length and (IPv4) the id counting up, the sequence
 * number advanced by what came before, PSH on the last only, and the
 * payloads f's. recv(arg, buf, cap) gets the next frame. 0 when all is
 * right, else which segment was wrong (1-based, plus 1000 * what).
 */
static int
check_segments(const uint8_t *f, size_t len, int v6, uint16_t mss,
    int (*recv)(void *, uint8_t *, size_t), void *arg)
{
	static uint8_t back[65536];
	size_t hl = v6 ? 74 : 54, at = hl;
	unsigned i, n = (unsigned)((len - hl + mss - 1) / mss);

	for (i = 0; i < n; i++) {
		size_t pl = len - at < mss ? len - at : mss;
		uint32_t seq = (uint32_t)f[hl - 16] << 24, got;
		int r = recv(arg, back, sizeof(back));

		seq += (uint32_t)(at - hl);
		if (r != (int)(hl + pl))
			return 1000 + (int)i + 1;
		if (!tcp_csum_ok(back, (size_t)r, v6))
			return 2000 + (int)i + 1;
		if (!v6 && (tu_fold(tu_sum16(0, back + 14, 20)) != 0xffff ||
		    (back[16] << 8 | back[17]) != r - 14 ||
		    (back[18] << 8 | back[19]) != (int)((f[18] << 8 | f[19]) + i)))
			return 3000 + (int)i + 1;
		if (v6 && (back[18] << 8 | back[19]) != r - 54)
			return 3000 + (int)i + 1;
		got = (uint32_t)back[hl - 16] << 24 | (uint32_t)back[hl - 15] << 16 |
		    (uint32_t)back[hl - 14] << 8 | back[hl - 13];
		if (got != seq)
			return 4000 + (int)i + 1;
		if ((back[hl - 7] & 0x08) != (i + 1 == n ? 0x08 : 0) ||
		    (back[hl - 7] & 0x10) == 0)
			return 5000 + (int)i + 1;
		if (memcmp(back, f, 14) != 0 || memcmp(back + hl, f + at, pl) != 0)
			return 6000 + (int)i + 1;
		at += pl;
	}
	return 0;
}

static int
recv_client(void *arg, uint8_t *buf, size_t cap)
{
	struct netif_extra_info ex;
	uint16_t fl;
	int n = grecv(arg, buf, cap, TMO, &ex, &fl);

	/* Plain frames: no extra, no partial checksum. */
	return n > 0 && (ex.type != 0 || (fl & (NETRXF_extra_info | NETRXF_csum_blank))) ? -5 : n;
}

/*
 * A client that sends TSO but does not take it: the echo of each of its
 * super-frames (IPv4, IPv6) comes back cut into MSS-sized segments,
 * checked as its stack would; then plain frames still come back.
 */
static int
c_gso_sender_only(struct tfront *t, struct ctl *c)
{
	static uint8_t f[2][60000];
	struct netif_extra_info e;
	int v6, r;

	/* Both at once: 84 segments for the 64 RX buffers posted, so the
	 * second is cut partly now, the rest as buffers come back. */
	for (v6 = 0; v6 < 2; v6++) {
		frame_tcp(f[v6], sizeof(f[v6]), v6, 4);
		e = gso_extra(v6 ? MSS6 : MSS, v6 ? XEN_NETIF_GSO_TYPE_TCPV6 : XEN_NETIF_GSO_TYPE_TCPV4);
		if (tf_queue(t, f[v6], sizeof(f[v6]), 16, NETTXF_csum_blank, &e) < 0)
			return 1;
	}
	tf_publish(t);
	for (v6 = 0; v6 < 2; v6++) {
		r = check_segments(f[v6], sizeof(f[v6]), v6, v6 ? MSS6 : MSS, recv_client, t);
		if (r != 0) {
			c->bad = (uint64_t)(v6 * 10000 + r);
			break;
		}
		c->ok++;
	}
	tf_reap(t);
	frame_arp(f[0], (const uint8_t *)"\x00\x16\x3e\x5e\x6c\x08", 1, 2);
	if (tf_ping(t, f[0], 42, 1, 0, TMO) != 0)
		return 3;
	c->done = 1;
	while (!c->stop)
		usleep(1000);
	return 0;
}

static void
gso_to_plain_client(void)
{
	unsigned dom = next_dom++;
	uint64_t g0 = SH2->st.tx_gso, d0 = SH2->st.rx_drops, c0 = SH2->st.rx_gso_cut;
	pid_t pid;

	pid = gspawn(FW2, dom, 0, C, c_gso_sender_only);
	T_EQ_INT(wait_connected(C), 0);
	T_ASSERT(wait_done(C, 1, pid));
	T_EQ_INT(C->bad, 0);
	T_EQ_INT(C->ok, 2);
	T_EQ_INT(SH2->st.tx_gso, g0 + 2);
	T_EQ_INT(SH2->st.rx_gso_cut, c0 + 2);
	T_EQ_INT(SH2->st.rx_drops, d0);
	C->stop = 1;
	T_EQ_INT(finish(pid), 0);
	T_EQ_INT(dom0_remove_vif(X0, FW2, dom, 0, TMO), 0);
	fx_domain_destroy(W, dom);
}

/* Hostile TSO: as hostile(), on the TSO firewall. */
static void
ghostile(badfn bad, int expect_fatal, const char *reason, uint64_t expect_drops)
{
	unsigned dom = next_dom++;
	uint64_t v0 = SH2->st.violations, d0 = SH2->st.tx_drops, t0;
	char bs[128];
	pid_t pid;

	snprintf(bs, sizeof(bs), "/local/domain/%u/backend/vif/%u/0/state", FW2, dom);
	the_bad = bad;
	pid = gspawn(FW2, dom, 1, C, c_hostile);
	T_EQ_INT(wait_connected(C), 0);
	t0 = tu_now_ms();
	while (!C->done && tu_now_ms() - t0 < TMO)
		usleep(1000);
	T_ASSERT(C->done);
	if (expect_fatal) {
		T_ASSERT(xs_wait_state(X0, bs, XB_CLOSING, TMO) >= 0);
		t0 = tu_now_ms();
		while (SH2->st.violations == v0 && tu_now_ms() - t0 < TMO)
			usleep(1000);
		T_EQ_INT(SH2->st.violations, v0 + 1);
		if (strstr(SH2->st.last_violation, reason) == NULL) {
			printf("# last violation: %s\n", SH2->st.last_violation);
			T_ASSERT(!"the reason logged");
		}
	} else {
		usleep(100000);
		T_EQ_INT(xs_state(X0, bs), XB_CONNECTED);
		T_EQ_INT(SH2->st.violations, v0);
		T_EQ_INT(SH2->st.tx_drops, d0 + expect_drops);
	}
	T_ASSERT(good2_alive());
	T_ASSERT(good_alive());
	C->stop = 1;
	T_EQ_INT(finish(pid), 0);
	if (!expect_fatal) {
		/* every slot answered: OKAY for data (as Linux), none ERROR */
		T_EQ_INT(C->rsp_err, 0);
	}
	fx_domain_destroy(W, dom);
	dom0_remove_vif(X0, FW2, dom, 0, TMO);
}

/* A 60 KB super-frame with a given GSO extra. */
static void
send_super(struct tfront *t, size_t len, int v6, uint16_t size, uint8_t type)
{
	static uint8_t f[65536];
	struct netif_extra_info e = gso_extra(size, type);

	frame_tcp(f, len, v6, 9);
	tf_queue(t, f, (uint16_t)len, 16, NETTXF_csum_blank, &e);
	tf_publish(t);
}

static void b_gso_size0(struct tfront *t) { send_super(t, 60000, 0, 0, XEN_NETIF_GSO_TYPE_TCPV4); }
static void b_gso_type(struct tfront *t) { send_super(t, 60000, 0, MSS, 3); }

/* 65535 bytes announced, 17 slots that carry more. */
static void
b_gso_over_64k(struct tfront *t)
{
	struct netif_extra_info e = gso_extra(MSS, XEN_NETIF_GSO_TYPE_TCPV4);
	struct netif_tx_request r;
	unsigned i;

	r = req(t->txrefs[0], 0, NETTXF_more_data | NETTXF_extra_info, 1, 65535);
	tf_raw(t, &r);
	memset(&r, 0, sizeof(r));
	memcpy(&r, &e, sizeof(e));
	tf_raw(t, &r);
	for (i = 1; i < 18; i++) {
		r = req(t->txrefs[i], 0, i < 17 ? NETTXF_more_data : 0, (uint16_t)(i + 1), 4000);
		tf_raw(t, &r);
	}
	tf_publish(t);
}

/* Answered, dropped, not fatal (as Linux): a GSO extra on a tiny frame
 * without a TCP header, the wrong family, segments over the MTU, an MSS
 * of 1, a frame with trailing bytes past its IP length, an IPv6 header
 * behind an IPv4 ethertype, UDP, TCP options past the end of a tiny frame. */
static void
b_gso_drops(struct tfront *t)
{
	static uint8_t f[65536];
	struct netif_extra_info e = gso_extra(MSS, XEN_NETIF_GSO_TYPE_TCPV4);

	frame_tcp(f, 40, 0, 1);		/* IP header, 6 bytes of TCP */
	tf_queue(t, f, 40, 1, NETTXF_csum_blank, &e);
	tf_publish(t);
	send_super(t, 60000, 0, MSS, XEN_NETIF_GSO_TYPE_TCPV6);
	send_super(t, 60000, 0, 9000, XEN_NETIF_GSO_TYPE_TCPV4);
	send_super(t, 60000, 1, 1, XEN_NETIF_GSO_TYPE_TCPV6);
	frame_tcp(f, 30000, 0, 3);
	tf_queue(t, f, 30010, 8, NETTXF_csum_blank, &e);
	tf_publish(t);
	frame_tcp(f, 30000, 1, 3);
	f[12] = 0x08;
	f[13] = 0x00;
	e = gso_extra(MSS6, XEN_NETIF_GSO_TYPE_TCPV6);
	tf_queue(t, f, 30000, 8, NETTXF_csum_blank, &e);
	tf_publish(t);
	frame_udp(f, 3000, inet_addr("10.137.0.9"), inet_addr("8.8.8.8"), 1);
	tf_queue(t, f, 3000, 1, NETTXF_csum_blank, &e);	/* not TCP */
	tf_publish(t);
	frame_tcp(f, 74, 0, 3);
	f[34 + 12] = 0xf0;	/* 60 bytes of TCP header in 40 */
	e = gso_extra(1000, XEN_NETIF_GSO_TYPE_TCPV4);	/* within the MTU */
	tf_queue(t, f, 74, 1, NETTXF_csum_blank, &e);
	tf_publish(t);
	usleep(100000);
	tf_reap(t);
}

static void gso_hostile_size0(void) { ghostile(b_gso_size0, 1, "GSO size zero", 0); }
static void gso_hostile_type(void) { ghostile(b_gso_type, 1, "bad GSO type", 0); }
static void gso_hostile_over_64k(void) { ghostile(b_gso_over_64k, 1, "larger than the packet", 0); }
static void gso_hostile_drops(void) { ghostile(b_gso_drops, 0, NULL, 8); }

static void
gso_teardown(void)
{
	G2->stop = 1;
	T_EQ_INT(finish(good2_pid), 0);
	T_EQ_INT(dom0_remove_vif(X0, FW2, GOOD2, 0, TMO), 0);
	usleep(100000);
	T_EQ_INT(fx_maps_held(W, FW2), 0);
	T_EQ_INT(SH2->bufs_free, NBH_NBUFS);
	nbh_stop(SH2, NBH2);
	fx_domain_destroy(W, GOOD2);
}

/* Frontend keys the backend must refuse at connect. */
static const char *bad_key, *bad_val;

static void
pre_bad_key(struct tfront *t)
{
	char p[160];

	snprintf(p, sizeof(p), "%s/%s", t->fpath, bad_key);
	if (bad_val != NULL)
		t->x->xs_write(t->x, 0, p, bad_val, (unsigned)strlen(bad_val));
	else
		t->x->xs_rm(t->x, 0, p);
}

static void
bad_keys(void)
{
	static const struct { const char *k, *v, *why; } cases[] = {
		{ "multi-queue-num-queues", "4", "several queues" },
		{ "request-rx-copy", "0", "rx-copy" },
		{ "feature-rx-notify", NULL, "rx-notify" },
		{ "tx-ring-ref", "12x", "ring keys" },
		{ "event-channel", "99", "event channel" },
		{ "rx-ring-ref", "1000", "RX ring grant" },
	};
	unsigned k, bad = 0;

	tf_pre_connect = pre_bad_key;
	for (k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		unsigned dom = next_dom++;
		uint64_t v0 = SH->st.violations, t0;
		char b[96], bs[128];
		pid_t pid;

		bad_key = cases[k].k;
		bad_val = cases[k].v;
		vif_paths(dom, b, sizeof(b), bs, sizeof(bs));
		pid = spawn(dom, C, c_idle);
		t0 = tu_now_ms();
		while (SH->st.violations == v0 && tu_now_ms() - t0 < TMO)
			usleep(1000);
		if (SH->st.violations != v0 + 1 || xs_state(X0, bs) != XB_CLOSING ||
		    strstr(SH->st.last_violation, cases[k].why) == NULL) {
			printf("# %s=%s: violations +%d, state %d, last: %s\n", cases[k].k,
			    cases[k].v ? cases[k].v : "(absent)", (int)(SH->st.violations - v0),
			    xs_state(X0, bs), SH->st.last_violation);
			bad++;
		}
		if (C->connected)
			bad++;		/* the backend went Connected after all */
		kill_client(pid, dom);
	}
	tf_pre_connect = NULL;
	T_EQ_INT(bad, 0);
	T_ASSERT(good_alive());
}

/* The vif's ip key holds "IPV4 IPV6" with the `ipv6` feature: the link
 * carries both. A bad IPv6 word costs the client its IPv6, not its link. */
static unsigned
port_of(unsigned dom)
{
	unsigned i;

	for (i = 1; i < NBH_PORTS; i++)
		if (SH->link[i].up && SH->link[i].ip4 == inet_addr(ipstr(dom)))
			return i;
	return 0;
}

static void
vif_ipv6(void)
{
	static const struct { const char *tail; int has6; } cases[] = {
		{ " fd09:24ef:4179::a89:%x", 1 },
		{ "  fd09:24ef:4179::a89:%x ", 1 },	/* spaces around */
		{ " fe80::%x", 0 },			/* link-local: not a client's */
		{ " fd09::%x/128", 0 },
		{ "", 0 },
	};
	uint64_t v0 = SH->st.violations;
	unsigned k, dom, port;
	uint8_t want[16];
	char tail[64], a6[64];
	pid_t pid;

	for (k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		dom = next_dom++;
		snprintf(tail, sizeof(tail), cases[k].tail, dom);
		ip_key_tail = tail;
		pid = spawn(dom, C, c_idle);
		ip_key_tail = "";
		T_EQ_INT(wait_connected(C), 0);
		T_ASSERT((port = port_of(dom)) != 0);
		memset(want, 0, sizeof(want));
		if (cases[k].has6) {
			snprintf(a6, sizeof(a6), "fd09:24ef:4179::a89:%x", dom);
			T_EQ_INT(inet_pton(AF_INET6, a6, want), 1);
		}
		if (memcmp(SH->link[port].ip6, want, 16) != 0)
			printf("# ip key \"%s%s\": wrong IPv6 on the link\n", ipstr(dom), tail);
		T_EQ_MEM(SH->link[port].ip6, want, 16);
		C->stop = 1;
		kill_client(pid, dom);
	}
	T_EQ_INT(SH->st.violations, v0);
	T_ASSERT(good_alive());
}

/* A frontend vanishing mid-packet and then dying: everything is released. */
static void
vanish_then_die(void)
{
	unsigned dom = next_dom++, maps0;
	char b[96], bs[128];
	pid_t pid;

	vif_paths(dom, b, sizeof(b), bs, sizeof(bs));
	maps0 = fx_maps_held(W, FW);
	the_bad = b_vanish_mid_packet;
	pid = spawn(dom, C, c_hostile);
	T_EQ_INT(wait_connected(C), 0);
	kill_client(pid, dom);
	T_EQ_INT(fx_maps_held(W, FW), maps0);
	T_EQ_INT(fx_nodes_under(W, b), 0);
	T_ASSERT(good_alive());
}

/* (e) churn: 100 clients come and go; nothing leaks */

static int
c_churn(struct tfront *t, struct ctl *c)
{
	uint8_t f[64];

	(void)c;
	frame_arp(f, (const uint8_t *)"\x00\x16\x3e\x5e\x6c\x07", 1, 2);
	if (tf_ping(t, f, 42, 1, 0, TMO) != 0)
		return 1;
	if (t->dom % 2 == 0)
		return tf_close(t, TMO) == 0 ? 0 : 2;
	return 0;	/* odd ones just die */
}

static void
churn(void)
{
	static struct ctl *cc;
	unsigned maps0 = fx_maps_held(W, FW), ports0 = fx_ports_bound(W, FW);
	unsigned fds0 = SH->nfds, heap0 = SH->heap, bufs0, i, w, fails = 0;
	char vifdir[64];

	if (cc == NULL)
		cc = mmap(NULL, 10 * sizeof(*cc), PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	usleep(200000);
	bufs0 = SH->bufs_free;
	for (w = 0; w < 10; w++) {
		pid_t pid[10];
		unsigned dom[10];

		for (i = 0; i < 10; i++) {
			dom[i] = next_dom++;
			pid[i] = spawn(dom[i], &cc[i], c_churn);
		}
		for (i = 0; i < 10; i++) {
			int rc = finish(pid[i]);

			if (rc != 0) {
				printf("# churn: client %u exited %d\n", dom[i], rc);
				fails++;
			}
			fx_domain_destroy(W, dom[i]);
			dom0_detach_vif(X0, FW, dom[i], 0);
		}
		/* watch all ten at once, as libxl would for each of them */
		{
			int closed[10] = { 0 }, gone[10] = { 0 }, left = 10;
			uint64_t t0 = tu_now_ms();

			while (left > 0 && tu_now_ms() - t0 < TMO) {
				for (i = 0; i < 10; i++) {
					char p[128];
					int st;

					if (gone[i])
						continue;
					snprintf(p, sizeof(p), "/local/domain/%u/backend/vif/%u/0/state",
					    FW, dom[i]);
					if ((st = xs_state(X0, p)) == XB_CLOSED)
						closed[i] = 1;
					else if (st < 0 && errno == ENOENT) {
						gone[i] = 1;
						left--;
					}
				}
				usleep(1000);
			}
			for (i = 0; i < 10; i++) {
				if (!gone[i] || !closed[i]) {
					printf("# churn: vif%u.0 gone %d, Closed seen %d\n",
					    dom[i], gone[i], closed[i]);
					fails++;
				}
				dom0_wait_vif_gone(X0, FW, dom[i], 0, 0);	/* dom0's cleanup */
			}
		}
	}
	T_EQ_INT(fails, 0);
	usleep(300000);
	T_EQ_INT(fx_maps_held(W, FW), maps0);
	T_EQ_INT(fx_ports_bound(W, FW), ports0);
	T_EQ_INT(SH->bufs_free, bufs0);
	T_EQ_INT(SH->nfds, fds0);
	/* memory: nothing malloc'd per client may stay behind */
	printf("# netbackd heap %u bytes before, %u after 100 clients\n", heap0, SH->heap);
	T_ASSERT(SH->heap <= heap0 + 2048);
	T_EQ_INT(SH->st.vifs, 1);	/* the good client */
	snprintf(vifdir, sizeof(vifdir), "/local/domain/%u/backend/vif", FW);
	printf("# nodes under %s: %u\n", vifdir, fx_nodes_under(W, vifdir));
	T_ASSERT(fx_nodes_under(W, vifdir) < 40);	/* the good client's keys only */
	T_ASSERT(good_alive());
}

/* (d) the uplink netfront against an honest and a hostile NetVM */

static unsigned next_netvm = 500;
typedef int (*nvfn)(struct tnetvm *, struct ctl *);

static unsigned netvm_fw = FW;	/* whose uplink the next NetVM serves */

static pid_t
spawn_netvm(unsigned nv, struct ctl *c, nvfn fn)
{
	pid_t pid;

	fx_domain_create(W, nv);
	memset((void *)c, 0, sizeof(*c));
	if (dom0_add_uplink(X0, netvm_fw, nv, "00:16:3e:5e:6c:fa") < 0)
		return -1;
	if ((pid = fork()) == 0) {
		/* never outlive the test */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		struct xen_if *x = fx_open(W, nv);
		struct tnetvm n;

		if (x == NULL || tn_connect(&n, x, netvm_fw, TMO) < 0) {
			c->failed = 1;
			_exit(10);
		}
		c->connected = 1;
		_exit(fn(&n, c));
	}
	return pid;
}

static int
nv_echo(struct tnetvm *n, uint16_t len)
{
	static uint8_t f[4096], back[8192];
	int r;

	frame_udp(f, len, inet_addr("1.1.1.1"), inet_addr("10.137.0.10"), 0);
	if (tn_send(n, f, len) != 0)
		return -1;
	r = tn_recv(n, back, sizeof(back), TMO);
	if (r != len || memcmp(back, f, len) != 0)
		return -2;
	return 0;
}

static int
nv_honest(struct tnetvm *n, struct ctl *c)
{
	int i;

	for (i = 0; i < 50; i++)
		if (nv_echo(n, (uint16_t)(60 + i * 29)) != 0)
			return 1 + i;
	/* more than one page: two TX slots from the netfront */
	if (nv_echo(n, 1514) != 0)
		return 90;
	c->done = 1;
	while (!c->stop)
		usleep(1000);
	return 0;
}

static void
uplink_traffic(void)
{
	unsigned nv = next_netvm++;
	char fs[96];
	uint64_t t0;
	pid_t pid;

	snprintf(fs, sizeof(fs), "/local/domain/%u/device/vif/0/state", FW);
	pid = spawn_netvm(nv, C, nv_honest);
	T_EQ_INT(wait_connected(C), 0);
	t0 = tu_now_ms();
	while (!C->done && kill(pid, 0) == 0 && tu_now_ms() - t0 < 10000)
		usleep(1000);
	T_EQ_INT(C->done, 1);
	T_EQ_INT(SH->link[MQ_PORT_UPLINK].up, 1);
	T_EQ_INT(xs_state(X0, fs), XB_CONNECTED);
	T_EQ_INT(SH->st.uplink_connected, 1);
	T_ASSERT(SH->st.up_rx_pkts >= 51);
	C->stop = 1;
	T_EQ_INT(finish(pid), 0);
	fx_domain_destroy(W, nv);
	dom0_remove_uplink(X0, FW, nv);
	usleep(50000);
	T_EQ_INT(SH->link[MQ_PORT_UPLINK].up, 0);
	T_EQ_INT(fx_grants_active(W, FW), 0);
	T_ASSERT(good_alive());
}

/*
 * The uplink on the TSO firewall. A NetVM offering TSO (nv_gso): each of
 * its super-frames (IPv4, IPv6) reaches natd whole and natd's echo goes
 * back whole, with its GSO extra and csum_blank. One that does not: the
 * echo comes back cut into segments (check_segments). Either way a GSO
 * extra on a UDP frame, or with segments over the MTU, is dropped and
 * counted, and traffic goes on.
 */
static int
recv_netvm(void *arg, uint8_t *buf, size_t cap)
{
	struct tnetvm *n = arg;
	int r = tn_recv(n, buf, cap, TMO);

	return r > 0 && (n->last_gso_size != 0 ||
	    (n->last_flags & (NETTXF_extra_info | NETTXF_csum_blank))) ? -5 : r;
}

static int
nv_gso(struct tnetvm *n, struct ctl *c)
{
	static uint8_t f[65536], back[65536];
	int v6, r;

	for (v6 = 0; v6 < 2; v6++) {
		uint16_t mss = v6 ? MSS6 : MSS;
		uint8_t type = v6 ? XEN_NETIF_GSO_TYPE_TCPV6 : XEN_NETIF_GSO_TYPE_TCPV4;

		frame_tcp(f, 60000, v6, 5);
		if (tn_send_gso(n, f, 60000, mss, type) != 0)
			return 1;
		if (tn_gso) {
			r = tn_recv(n, back, sizeof(back), TMO);
			if (r != 60000 || memcmp(back, f, 60000) != 0 ||
			    n->last_gso_size != mss || n->last_gso_type != type ||
			    (n->last_flags & (NETTXF_extra_info | NETTXF_csum_blank)) !=
			    (NETTXF_extra_info | NETTXF_csum_blank))
				c->bad = (uint64_t)(v6 * 10 + 1);
		} else if ((r = check_segments(f, 60000, v6, mss, recv_netvm, n)) != 0)
			c->bad = (uint64_t)(v6 * 10000 + r);
		if (c->bad)
			break;
		c->ok++;
	}
	/* GSO on a frame that is not TCP, segments over the MTU: dropped,
	 * not fatal. */
	frame_udp(f, 3000, inet_addr("1.1.1.1"), inet_addr("10.137.0.10"), 1);
	if (tn_send_gso(n, f, 3000, MSS, XEN_NETIF_GSO_TYPE_TCPV4) != 0)
		return 2;
	frame_tcp(f, 30000, 0, 6);
	if (tn_send_gso(n, f, 30000, 9000, XEN_NETIF_GSO_TYPE_TCPV4) != 0)
		return 2;
	if (nv_echo(n, 300) != 0)
		return 3;
	c->done = 1;
	while (!c->stop)
		usleep(1000);
	return 0;
}

static void
uplink_gso_with(int offered)
{
	unsigned nv = next_netvm++;
	uint64_t rx0 = SH2->st.up_rx_gso, tx0 = SH2->st.up_tx_gso, cut0 = SH2->st.up_gso_cut;
	uint64_t d0 = SH2->st.up_drops, v0 = SH2->st.violations, t0;
	char p[96];
	pid_t pid;

	netvm_fw = FW2;
	tn_gso = offered;
	pid = spawn_netvm(nv, C, nv_gso);
	netvm_fw = FW;
	T_EQ_INT(wait_connected(C), 0);
	/* Our netfront asks for super-frames (and so partial checksums). */
	snprintf(p, sizeof(p), "/local/domain/%u/device/vif/0", FW2);
	T_EQ_STR(bkey_at(p, "feature-gso-tcpv4"), "1");
	T_EQ_STR(bkey_at(p, "feature-gso-tcpv6"), "1");
	T_EQ_STR(bkey_at(p, "feature-sg"), "1");
	t0 = tu_now_ms();
	while (!C->done && kill(pid, 0) == 0 && tu_now_ms() - t0 < 10000)
		usleep(1000);
	T_EQ_INT(C->bad, 0);
	T_EQ_INT(C->ok, 2);
	T_EQ_INT(C->done, 1);
	T_EQ_INT(SH2->st.up_rx_gso, rx0 + 2);
	T_EQ_INT(SH2->st.up_tx_gso, tx0 + (offered ? 2 : 0));
	T_EQ_INT(SH2->st.up_gso_cut, cut0 + (offered ? 0 : 2));
	T_EQ_INT(SH2->st.up_drops, d0 + 2);	/* UDP, MSS 9000 */
	T_EQ_INT(SH2->st.violations, v0);
	C->stop = 1;
	T_EQ_INT(finish(pid), 0);
	tn_gso = 0;
	fx_domain_destroy(W, nv);
	dom0_remove_uplink(X0, FW2, nv);
	usleep(50000);
	T_ASSERT(good2_alive());
}

static void uplink_gso_whole(void) { uplink_gso_with(1); }
static void uplink_gso_cut(void) { uplink_gso_with(0); }

static void (*the_nvbad)(struct tnetvm *);

static int
nv_hostile(struct tnetvm *n, struct ctl *c)
{
	if (nv_echo(n, 100) != 0)
		return 1;
	the_nvbad(n);
	c->done = 1;
	while (!c->stop)
		usleep(1000);
	return 0;
}

static void
uplink_hostile_check(pid_t *pid, int expect_fatal, const char *reason, uint64_t v0)
{
	char fs[96];
	uint64_t t0;

	snprintf(fs, sizeof(fs), "/local/domain/%u/device/vif/0/state", FW);
	T_EQ_INT(wait_connected(C), 0);
	t0 = tu_now_ms();
	while (!C->done && kill(*pid, 0) == 0 && tu_now_ms() - t0 < TMO)
		usleep(1000);
	T_ASSERT(C->done);
	if (expect_fatal) {
		t0 = tu_now_ms();
		while (xs_state(X0, fs) == XB_CONNECTED && tu_now_ms() - t0 < TMO)
			usleep(1000);
		T_ASSERT(xs_state(X0, fs) == XB_CLOSING || xs_state(X0, fs) == XB_CLOSED);
		/* the harness publishes its counters after each callback */
		while (SH->st.violations == v0 && tu_now_ms() - t0 < TMO)
			usleep(1000);
		T_EQ_INT(SH->st.violations, v0 + 1);
		T_EQ_INT(SH->link[MQ_PORT_UPLINK].up, 0);
		if (reason != NULL && strstr(SH->st.last_violation, reason) == NULL) {
			printf("# last violation: %s\n", SH->st.last_violation);
			T_ASSERT(!"the reason logged");
		}
	} else {
		usleep(100000);
		T_EQ_INT(xs_state(X0, fs), XB_CONNECTED);
		T_EQ_INT(SH->st.violations, v0);
		C->stop = 1;
		T_EQ_INT(finish(*pid), 0);
		*pid = -1;
	}
	T_ASSERT(good_alive());
	T_ASSERT(nbh_alive());
}

static void
uplink_hostile(void (*bad)(struct tnetvm *), int expect_fatal, const char *reason)
{
	unsigned nv = next_netvm++;
	uint64_t v0 = SH->st.violations;
	pid_t pid;

	the_nvbad = bad;
	pid = spawn_netvm(nv, C, nv_hostile);
	uplink_hostile_check(&pid, expect_fatal, reason, v0);
	/* Always clean up, so one failure does not cascade. */
	C->stop = 1;
	if (pid > 0) {
		kill(pid, SIGKILL);
		finish(pid);
	}
	fx_domain_destroy(W, nv);
	dom0_remove_uplink(X0, FW, nv);
	usleep(20000);
}

/* Two frames to the firewall, echoed back: two TX requests outstanding. */
static void
two_pending(struct tnetvm *n)
{
	uint8_t f[128];
	uint64_t t0 = tu_now_ms();

	frame_udp(f, 100, inet_addr("1.1.1.1"), inet_addr("10.137.0.10"), 0);
	tn_send(n, f, 100);
	tn_send(n, f, 100);
	while (__atomic_load_n(&n->txs->req_prod, __ATOMIC_ACQUIRE) - n->tx_cons < 2 &&
	    tu_now_ms() - t0 < 2000)
		usleep(1000);
}

static uint16_t
pending_id(struct tnetvm *n, unsigned i)
{
	union netif_tx_slot *ring = (union netif_tx_slot *)n->txs->ring;

	return ring[(n->tx_cons + i) & (XNR_TX_RING_SIZE - 1)].req.id;
}

static void
nvb_tx_unknown_id(struct tnetvm *n)
{
	two_pending(n);
	tn_tx_raw(n, 300, NETIF_RSP_OKAY, 0);
}

static void
nvb_tx_dup(struct tnetvm *n)
{
	uint16_t id;

	two_pending(n);
	id = pending_id(n, 0);
	tn_tx_raw(n, id, NETIF_RSP_OKAY, 0);
	tn_tx_raw(n, id, NETIF_RSP_OKAY, 0);
}

static void
nvb_tx_prod_ahead(struct tnetvm *n)
{
	two_pending(n);
	tn_tx_raw(n, pending_id(n, 0), NETIF_RSP_OKAY, 50);
}

static void
nvb_tx_bad_status(struct tnetvm *n)
{
	two_pending(n);
	tn_tx_raw(n, pending_id(n, 0), 77, 0);
}

static void
nvb_rx_wrong_id(struct tnetvm *n)
{
	union netif_rx_slot *ring = (union netif_rx_slot *)n->rxs->ring;
	struct netif_rx_response r = { 0, 0, 0, 60 };

	r.id = (uint16_t)(ring[n->rx_cons & 255].req.id + 1);
	tn_rx_raw(n, &r, 0);
	tn_rx_push(n, n->rx_cons);
}

static void
nvb_rx_past_page(struct tnetvm *n)
{
	struct netif_rx_response r = { 0, 4000, 0, 200 };

	tn_rx_raw(n, &r, 1);
	tn_rx_push(n, n->rx_cons);
}

static void
nvb_rx_too_many(struct tnetvm *n)
{
	struct netif_rx_response r = { 0, 0, NETRXF_more_data, 100 };
	int i;

	for (i = 0; i < 25; i++)
		tn_rx_raw(n, &r, 1);
	tn_rx_push(n, n->rx_cons);
}

static void
nvb_rx_bad_extra(struct tnetvm *n)
{
	struct netif_rx_response r = { 0, 0, NETRXF_extra_info, 60 }, e;

	tn_rx_raw(n, &r, 1);
	memset(&e, 0, sizeof(e));
	((uint8_t *)&e)[0] = 0x33;
	tn_rx_raw(n, &e, 0);
	tn_rx_push(n, n->rx_cons);
}

/* A super-frame whose GSO extra says MSS 0. */
static void
nvb_rx_gso_zero(struct tnetvm *n)
{
	static uint8_t f[8192];

	frame_udp(f, 8000, inet_addr("1.1.1.1"), inet_addr("10.137.0.10"), 0);
	tn_send_gso(n, f, 8000, 0, XEN_NETIF_GSO_TYPE_TCPV4);
}

static void
nvb_rx_prod_ahead(struct tnetvm *n)
{
	tn_rx_push(n, n->rx_cons + 1000);
}

static void
nvb_rx_error_status(struct tnetvm *n)
{
	struct netif_rx_response r = { 0, 0, 0, -8 };	/* a GNTST code */

	tn_rx_raw(n, &r, 1);
	tn_rx_push(n, n->rx_cons);
	/* a dropped packet, not a broken ring: traffic goes on */
	if (nv_echo(n, 300) != 0)
		_exit(7);
}

static void
nvb_storm(struct tnetvm *n)
{
	char p[160];
	uint64_t t0 = tu_now_ms();
	int i;

	snprintf(p, sizeof(p), "%s/state", n->fpath);
	while (tu_now_ms() - t0 < 3000 && xs_state(n->x, p) == XB_CONNECTED)
		for (i = 0; i < 1000; i++)
			n->x->ev_notify(n->x, (uint32_t)n->port);
}

static void uplink_tx_unknown_id(void) { uplink_hostile(nvb_tx_unknown_id, 1, "nothing pending"); }
static void uplink_tx_duplicate(void) { uplink_hostile(nvb_tx_dup, 1, "nothing pending"); }
static void uplink_tx_prod_ahead(void) { uplink_hostile(nvb_tx_prod_ahead, 1, "never made"); }
static void uplink_tx_bad_status(void) { uplink_hostile(nvb_tx_bad_status, 1, "unknown status"); }
static void uplink_rx_wrong_id(void) { uplink_hostile(nvb_rx_wrong_id, 1, "not the one posted"); }
static void uplink_rx_past_page(void) { uplink_hostile(nvb_rx_past_page, 1, "past the end of its page"); }
static void uplink_rx_too_many(void) { uplink_hostile(nvb_rx_too_many, 1, "too many RX slots"); }
static void uplink_rx_bad_extra(void) { uplink_hostile(nvb_rx_bad_extra, 1, "extra info type"); }
static void uplink_rx_prod_ahead(void) { uplink_hostile(nvb_rx_prod_ahead, 1, "never posted"); }
static void uplink_rx_gso_zero(void) { uplink_hostile(nvb_rx_gso_zero, 1, "bad RX GSO extra"); }
static void uplink_rx_error_status(void) { uplink_hostile(nvb_rx_error_status, 0, NULL); }
static void uplink_storm(void) { uplink_hostile(nvb_storm, 1, "event storm"); }

/* netbackd dies and the supervisor starts it again: the client that was
 * connected all along gets its vif back (same rings, its event channel
 * unbound again by the old process's exit) and traffic resumes. */
static void
netbackd_restart(void)
{
	uint64_t t0;
	char bs[128];

	snprintf(bs, sizeof(bs), "/local/domain/%u/backend/vif/%u/0/state", FW, GOOD);
	kill(NBH, SIGKILL);
	finish(NBH);
	T_ASSERT((NBH = nbh_start(SH, W, FW)) > 0);
	t0 = tu_now_ms();
	while (xs_state(X0, bs) != XB_CONNECTED && tu_now_ms() - t0 < TMO)
		usleep(1000);
	T_EQ_INT(xs_state(X0, bs), XB_CONNECTED);
	usleep(600000);		/* pings that were in flight time out */
	T_ASSERT(good_alive());
	T_EQ_INT(SH->st.violations, 0);
	T_EQ_INT(fx_maps_held(W, FW), 2);	/* the good client's two rings */
}

/*
 * The same with the uplink up: the dead netbackd's grants went with it,
 * so the new one must renegotiate with the NetVM (tfront.c's test NetVM
 * reacts as Linux netback does) and get the uplink Connected again over
 * fresh rings, while the client that was connected keeps passing traffic.
 */
static int nv_pre_state;	/* NetVM's own state while netbackd is down, 0 none */
static int nv_close_first;	/* NetVM closes the uplink before netbackd dies */

static void
nv_publish(struct tnetvm *n, struct ctl *c)
{
	c->bstate = n->bstate;
	c->nconn = n->nconn;
	c->txref = n->txref;
	c->rxref = n->rxref;
	c->attach_tx = n->attach_tx;
	c->attach_rx = n->attach_rx;
	c->tx_cons = n->tx_cons;
}

/* Steps: 1 traffic, then wait; test step 1: netbackd is dead (take
 * nv_pre_state); test step 2: traffic over whatever rings we have now. */
static int
nv_restartable(struct tnetvm *n, struct ctl *c)
{
	char p[160];
	int i;

	for (i = 0; i < 10; i++)
		if (nv_echo(n, (uint16_t)(100 + i * 50)) != 0)
			return 1 + i;
	if (nv_close_first) {
		/* a backend error (Linux: xenbus_dev_fatal), then Closed as
		 * Linux answers the frontend's Closed when online is 1 */
		tn_force_state(n, XB_CLOSING);
		snprintf(p, sizeof(p), "%s/state", n->fpath);
		if (xs_wait_state(n->x, p, XB_CLOSED, TMO) < 0)
			return 40;
		tn_force_state(n, XB_CLOSED);
	}
	nv_publish(n, c);
	c->done = 1;
	while (c->step < 1 && !c->stop)
		usleep(1000);
	if (nv_pre_state != 0)
		tn_force_state(n, nv_pre_state);
	nv_publish(n, c);
	c->done = 2;
	while (c->step < 2 && !c->stop) {
		tn_poll(n);
		nv_publish(n, c);
		usleep(500);
	}
	if (c->stop)
		return 0;
	if (n->bstate != XB_CONNECTED)
		return 50;
	for (i = 0; i < 20; i++)
		if (nv_echo(n, (uint16_t)(60 + i * 70)) != 0)
			return 60 + i;
	c->done = 3;
	while (!c->stop) {
		tn_poll(n);
		usleep(1000);
	}
	return 0;
}

static int
nvm_wait_done(int want, pid_t pid, int tmo)
{
	uint64_t t0 = tu_now_ms();

	while (C->done < want && kill(pid, 0) == 0 && tu_now_ms() - t0 < (uint64_t)tmo)
		usleep(1000);
	return C->done >= want;
}

/* Always run, so one failure does not cascade; then what it must leave. */
static void
uplink_gone(pid_t *pid, unsigned nv)
{
	uint64_t t0;
	int st = -1, rc = -1;

	C->stop = 1;
	if (*pid > 0) {
		t0 = tu_now_ms();
		while ((rc = (int)waitpid(*pid, &st, WNOHANG)) == 0 && tu_now_ms() - t0 < TMO)
			usleep(1000);
		if (rc == 0) {
			kill(*pid, SIGKILL);
			waitpid(*pid, &st, 0);
		}
		*pid = -1;
	}
	fx_domain_destroy(W, nv);
	dom0_remove_uplink(X0, FW, nv);
	t0 = tu_now_ms();
	while ((SH->link[MQ_PORT_UPLINK].up || fx_grants_active(W, FW) != 0) &&
	    tu_now_ms() - t0 < TMO)
		usleep(1000);
	if (rc <= 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		printf("# NetVM process: rc %d, status 0x%x\n", rc, st);
	T_ASSERT(rc > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	T_EQ_INT(SH->link[MQ_PORT_UPLINK].up, 0);
	T_EQ_INT(fx_grants_active(W, FW), 0);
}

static void
uplink_restart_check(pid_t pid, unsigned nv)
{
	char fs[96];
	uint32_t old_tx, old_rx;
	uint64_t t0;

	snprintf(fs, sizeof(fs), "/local/domain/%u/device/vif/0/state", FW);
	T_EQ_INT(wait_connected(C), 0);
	T_ASSERT(nvm_wait_done(1, pid, 10000));
	T_EQ_INT(C->nconn, 1);
	T_ASSERT(C->tx_cons >= 10);	/* the first rings carried traffic */
	old_tx = C->txref;
	old_rx = C->rxref;
	T_EQ_INT(fx_grants_active(W, FW), nv_close_first ? 0 : 2 + 256 + 256);

	kill(NBH, SIGKILL);
	finish(NBH);
	C->step = 1;
	T_ASSERT(nvm_wait_done(2, pid, TMO));
	/* left by the dead one */
	T_EQ_INT(xs_state(X0, fs), nv_close_first ? XB_CLOSED : XB_CONNECTED);
	T_ASSERT((NBH = nbh_start(SH, W, FW)) > 0);

	t0 = tu_now_ms();
	while ((C->bstate != XB_CONNECTED || C->nconn < 2 || !SH->st.uplink_connected) &&
	    kill(pid, 0) == 0 && tu_now_ms() - t0 < TMO)
		usleep(1000);
	printf("# renegotiated in %llu ms; rings %u/%u, then %u/%u\n",
	    (unsigned long long)(tu_now_ms() - t0), old_tx, old_rx, C->txref, C->rxref);
	T_EQ_INT(C->bstate, XB_CONNECTED);
	T_EQ_INT(C->nconn, 2);			/* the NetVM mapped rings afresh */
	T_EQ_INT(xs_state(X0, fs), XB_CONNECTED);
	T_EQ_INT(SH->st.uplink_connected, 1);
	T_EQ_INT(SH->link[MQ_PORT_UPLINK].up, 1);
	T_EQ_INT(SH->st.up_renegs, 1);
	/* New rings: freshly initialised (the old ones had carried traffic),
	 * and only the new instance's grants exist, none of the dead one's
	 * (whose ref numbers were freed with them, so may come back). */
	T_EQ_INT(C->attach_tx, 0);
	T_EQ_INT(C->attach_rx, 0);
	T_EQ_INT(fx_grants_active(W, FW), 2 + 256 + 256);
	T_EQ_INT(fx_maps_held(W, nv), 2);

	/* both ways over the new rings: NetVM -> netbackd -> echo -> NetVM */
	C->step = 2;
	T_ASSERT(nvm_wait_done(3, pid, 10000));
	T_ASSERT(SH->st.up_rx_pkts >= 20);
	T_ASSERT(SH->st.up_tx_pkts >= 20);
	T_EQ_INT(SH->st.violations, 0);
	/* the good client lost netbackd too: its pings in flight then time
	 * out (500 ms), as in netbackd_restart; renegotiating can take less */
	usleep(600000);
	T_ASSERT(good_alive());
}

static void
uplink_restart_with(int pre_state, int close_first)
{
	unsigned nv = next_netvm++;
	pid_t pid;

	nv_pre_state = pre_state;
	nv_close_first = close_first;
	pid = spawn_netvm(nv, C, nv_restartable);
	uplink_restart_check(pid, nv);
	uplink_gone(&pid, nv);
}

static void uplink_netbackd_restart(void) { uplink_restart_with(0, 0); }
/* The NetVM's backend closed (or reset to InitWait) while netbackd was down. */
static void uplink_restart_backend_closed(void) { uplink_restart_with(XB_CLOSED, 0); }
static void uplink_restart_backend_initwait(void) { uplink_restart_with(XB_INITWAIT, 0); }
/* Both sides Closed when netbackd died (a backend error; or a netbackd
 * that died halfway through renegotiating): nobody would ever move. */
static void uplink_restart_both_closed(void) { uplink_restart_with(0, 1); }

/*
 * A hostile NetVM after the restart: first garbage states at full speed,
 * then a backend that closes whenever we connect and asks for a frontend
 * again whenever we close, for ever. Each round would cost netbackd 514
 * fresh grants; it gets a bounded number of them, then the NetVM is
 * broken, netbackd idles, and the clients never notice.
 */
#define RENEG_MAX	4	/* xen_front.c XF_RENEG_MAX */

static int
nv_flapper(struct tnetvm *n, struct ctl *c)
{
	static const char *junk[] = { "2", "4", "6", "5", "1", "3", "0", "9", "x", "7", "4", "2" };
	char p[160], bp[160];
	uint64_t t0;
	int i, last = -2, fs;

	if (nv_echo(n, 100) != 0)
		return 1;
	c->done = 1;
	while (c->step < 1 && !c->stop)
		usleep(1000);
	tn_force_state(n, XB_CLOSED);
	c->done = 2;
	while (c->step < 2 && !c->stop)
		usleep(1000);
	snprintf(bp, sizeof(bp), "%s/state", n->bpath);
	for (i = 0; i < 600; i++)
		n->x->xs_write(n->x, 0, bp, junk[i % 12], (unsigned)strlen(junk[i % 12]));
	snprintf(p, sizeof(p), "%s/state", n->fpath);
	t0 = tu_now_ms();
	while (!c->stop && tu_now_ms() - t0 < 4000) {
		fs = xs_state(n->x, p);
		if (fs != last) {
			last = fs;
			if (fs == XB_CONNECTED || fs == XB_CLOSING)
				n->x->xs_write(n->x, 0, bp, fs == XB_CONNECTED ? "6" : "5", 1);
			else if (fs == XB_CLOSED || fs == XB_INITIALISING)
				n->x->xs_write(n->x, 0, bp, "2", 1);
			c->nconn++;
		}
		usleep(200);
	}
	c->done = 3;
	while (!c->stop)
		usleep(1000);
	return 0;
}

static void
uplink_flap_check(pid_t pid)
{
	char fs[96];
	uint64_t t0, l0, l1, v0 = 0, base, c0, cbase, cpu;
	int st;

	snprintf(fs, sizeof(fs), "/local/domain/%u/device/vif/0/state", FW);
	T_EQ_INT(wait_connected(C), 0);
	T_ASSERT(nvm_wait_done(1, pid, TMO));
	/* netbackd's wakeups and CPU a second with the good client pinging */
	l0 = SH->loops;
	c0 = cpu_ticks(NBH);
	usleep(1000000);
	base = SH->loops - l0;
	cbase = cpu_ticks(NBH) - c0;
	kill(NBH, SIGKILL);
	finish(NBH);
	C->step = 1;
	T_ASSERT(nvm_wait_done(2, pid, TMO));
	T_ASSERT((NBH = nbh_start(SH, W, FW)) > 0);
	C->step = 2;
	/* the budget runs out long before the flapper does */
	t0 = tu_now_ms();
	while (SH->st.violations == v0 && tu_now_ms() - t0 < 4000)
		usleep(1000);
	printf("# %llu renegotiations, %llu ms, NetVM saw %u changes; last: %s\n",
	    (unsigned long long)SH->st.up_renegs, (unsigned long long)(tu_now_ms() - t0),
	    C->nconn, SH->st.last_violation);
	T_EQ_INT(SH->st.violations, 1);
	T_ASSERT(strstr(SH->st.last_violation, "renegotiating") != NULL);
	T_ASSERT(SH->st.up_renegs >= 2 && SH->st.up_renegs <= RENEG_MAX);
	T_ASSERT(nvm_wait_done(3, pid, 6000));
	/* The flapper keeps going on its own; once it stops, netbackd idles
	 * (its loop wakes every 20 ms, 50 a second) and stays disconnected. */
	usleep(200000);
	l0 = SH->loops;
	c0 = cpu_ticks(NBH);
	usleep(1000000);
	l1 = SH->loops;
	cpu = cpu_ticks(NBH) - c0;
	printf("# netbackd a second: %llu loops, %llu CPU ticks before; %llu, %llu "
	    "after the flap\n", (unsigned long long)base, (unsigned long long)cbase,
	    (unsigned long long)(l1 - l0), (unsigned long long)cpu);
	T_ASSERT(l1 - l0 < base + base / 2 + 100);
	T_ASSERT(cpu < cbase * 2 + 15);
	st = xs_state(X0, fs);
	T_ASSERT(st == XB_CLOSING || st == XB_CLOSED);
	T_EQ_INT(SH->st.uplink_connected, 0);
	T_EQ_INT(SH->link[MQ_PORT_UPLINK].up, 0);
	T_ASSERT(SH->st.up_renegs <= RENEG_MAX);
	T_EQ_INT(fx_grants_active(W, FW), 0);
	T_ASSERT(good_alive());
	T_ASSERT(nbh_alive());
}

static void
uplink_restart_flapping(void)
{
	unsigned nv = next_netvm++;
	pid_t pid;

	pid = spawn_netvm(nv, C, nv_flapper);
	uplink_flap_check(pid);
	uplink_gone(&pid, nv);
}

/*
 * A NetVM caught breaking the protocol stays disconnected when netbackd
 * restarts (the verdict is kept in our device dir), even if it then asks
 * for a frontend; dom0 re-initialising the device is what lifts it.
 */
static int
nv_broken(struct tnetvm *n, struct ctl *c)
{
	if (nv_echo(n, 100) != 0)
		return 1;
	nvb_tx_unknown_id(n);
	c->done = 1;
	while (c->step < 1 && !c->stop)
		usleep(1000);
	tn_force_state(n, XB_INITWAIT);
	c->done = 2;
	while (!c->stop)
		usleep(1000);
	return 0;
}

static void
uplink_broken_check(pid_t pid, uint64_t v0)
{
	char fs[96], mk[96], *v;
	unsigned len;
	uint64_t t0;
	int st;

	snprintf(fs, sizeof(fs), "/local/domain/%u/device/vif/0/state", FW);
	snprintf(mk, sizeof(mk), "/local/domain/%u/device/vif/0/moat-broken", FW);
	T_EQ_INT(wait_connected(C), 0);
	T_ASSERT(nvm_wait_done(1, pid, TMO));
	t0 = tu_now_ms();
	while (SH->st.violations == v0 && tu_now_ms() - t0 < TMO)
		usleep(1000);
	T_EQ_INT(SH->st.violations, v0 + 1);
	usleep(20000);
	T_ASSERT((v = X0->xs_read(X0, 0, mk, &len)) != NULL);
	free(v);

	kill(NBH, SIGKILL);
	finish(NBH);
	T_ASSERT((NBH = nbh_start(SH, W, FW)) > 0);
	C->step = 1;
	T_ASSERT(nvm_wait_done(2, pid, TMO));
	usleep(300000);
	st = xs_state(X0, fs);
	T_ASSERT(st == XB_CLOSING || st == XB_CLOSED);
	T_EQ_INT(SH->st.up_renegs, 0);
	T_EQ_INT(SH->st.uplink_connected, 0);
	T_EQ_INT(fx_grants_active(W, FW), 0);

	/* dom0 re-initialises the device: a fresh start, verdict gone */
	X0->xs_write(X0, 0, fs, "1", 1);
	t0 = tu_now_ms();
	while (xs_state(X0, fs) != XB_CONNECTED && tu_now_ms() - t0 < TMO)
		usleep(1000);
	T_EQ_INT(xs_state(X0, fs), XB_CONNECTED);
	T_ASSERT((v = X0->xs_read(X0, 0, mk, &len)) == NULL);
	T_ASSERT(good_alive());
}

static void
uplink_broken_survives_restart(void)
{
	unsigned nv = next_netvm++;
	uint64_t v0 = SH->st.violations;
	pid_t pid;

	pid = spawn_netvm(nv, C, nv_broken);
	uplink_broken_check(pid, v0);
	uplink_gone(&pid, nv);
}

static void
good_client_clean_exit(void)
{
	G->stop = 1;
	T_EQ_INT(finish(good_pid), 0);
	T_EQ_INT(dom0_remove_vif(X0, FW, GOOD, 0, TMO), 0);
	usleep(100000);
	T_EQ_INT(fx_maps_held(W, FW), 0);
	T_EQ_INT(fx_ports_bound(W, FW), 0);
	T_EQ_INT(SH->bufs_free, NBH_NBUFS);
	T_EQ_INT(SH->st.vifs, 0);
}

int
main(void)
{
	signal(SIGPIPE, SIG_IGN);
	W = fx_world_create();
	SH = nbh_shared_new();
	C = mmap(NULL, sizeof(*C), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	G = mmap(NULL, sizeof(*G), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (W == NULL || SH == NULL || C == MAP_FAILED || G == MAP_FAILED ||
	    (X0 = fx_open(W, 0)) == NULL) {
		printf("not ok 1 - fake Xen\n1..1\n");
		return 1;
	}
	if ((NBH = nbh_start(SH, W, FW)) < 0) {
		printf("not ok 1 - netbackd harness starts\n1..1\n");
		return 1;
	}
	good_start();
	if (wait_connected(G) != 0) {
		printf("not ok 1 - good client connects\n1..1\n");
		nbh_stop(SH, NBH);
		return 1;
	}
	T_RUN(connect_and_traffic);
	T_RUN(forward_between_vifs);
	T_RUN(close_and_reconnect);
	T_RUN(client_dies);
	T_RUN(hostile_bad_gref);
	T_RUN(hostile_page_cross);
	T_RUN(hostile_size_zero);
	T_RUN(hostile_too_many_slots);
	T_RUN(hostile_first_smaller);
	T_RUN(hostile_prod_ahead);
	T_RUN(hostile_garbage_extra);
	T_RUN(hostile_gso_zero);
	T_RUN(hostile_vanish_mid_packet);
	T_RUN(hostile_event_storm);
	T_RUN(hostile_rx_prod_ahead);
	T_RUN(hostile_rx_bad_gref);
	T_RUN(hostile_dup_ids);
	T_RUN(hostile_state_flap);
	T_RUN(hostile_connect_flap);
	T_RUN(vanish_then_die);
	T_RUN(bad_keys);
	T_RUN(vif_ipv6);
	T_RUN(churn);
	T_RUN(gso_not_offered);
	T_RUN(gso_setup);
	T_RUN(gso_both_ways);
	T_RUN(gso_to_plain_client);
	T_RUN(gso_good_start);
	T_RUN(gso_hostile_size0);
	T_RUN(gso_hostile_type);
	T_RUN(gso_hostile_over_64k);
	T_RUN(gso_hostile_drops);
	T_RUN(uplink_gso_whole);
	T_RUN(uplink_gso_cut);
	T_RUN(gso_teardown);
	T_RUN(uplink_traffic);
	T_RUN(uplink_tx_unknown_id);
	T_RUN(uplink_tx_duplicate);
	T_RUN(uplink_tx_prod_ahead);
	T_RUN(uplink_tx_bad_status);
	T_RUN(uplink_rx_wrong_id);
	T_RUN(uplink_rx_past_page);
	T_RUN(uplink_rx_too_many);
	T_RUN(uplink_rx_bad_extra);
	T_RUN(uplink_rx_prod_ahead);
	T_RUN(uplink_rx_gso_zero);
	T_RUN(uplink_rx_error_status);
	T_RUN(uplink_storm);
	T_RUN(uplink_traffic);
	T_RUN(netbackd_restart);
	T_RUN(uplink_netbackd_restart);
	T_RUN(uplink_restart_backend_closed);
	T_RUN(uplink_restart_backend_initwait);
	T_RUN(uplink_restart_both_closed);
	T_RUN(uplink_restart_flapping);
	T_RUN(uplink_broken_survives_restart);
	T_RUN(good_client_clean_exit);
	nbh_stop(SH, NBH);
	return t_done();
}
