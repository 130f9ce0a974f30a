/*
 * fakexen_tool.c: the fake Xen as a command, so a whole moat can run on it
 * (`moat --backend xen` with MOAT_FAKEXEN=<socket> MOAT_FAKEXEN_DOMID=<fw>
 * in netbackd's environment), and dom0, client VMs and a NetVM can be
 * played from scripts:
 *
 *   fakexen serve SOCK FW                 create a world, serve it on SOCK
 *   fakexen add-vif SOCK FW DOM MAC IP    dom0: give client DOM a vif on FW
 *   fakexen rm-vif SOCK FW DOM            dom0: detach it (libxl's order)
 *   fakexen add-uplink SOCK FW NETVM MAC  dom0: FW's device/vif/0 on NETVM
 *   fakexen client SOCK FW DOM SECS [ARP-TARGET-IP [UDP-DEST-IP]]
 *                                         client VM: connect, ARP for the
 *                                         target, send one UDP datagram
 *                                         (csum_blank, two slots), print
 *                                         every frame received
 *   fakexen netvm SOCK FW NETVM SECS      NetVM: connect the uplink, print
 *                                         every frame FW transmits, answer
 *                                         its ARP requests
 * With FAKEXEN_GSO=N in its environment, the client then opens a TCP
 * connection to UDP-DEST-IP (a SYN) and sends N 64 KiB super-frames on it
 * (TSO: 17 slots and a GSO extra each, as fast as the ring allows); with
 * FAKEXEN_GSO set, the NetVM offers TSO (feature-gso-tcpv4/6) and prints
 * super-frames as "rx LEN ... gso MSS".
 * Received frames print as "rx LEN ETHERTYPE SRCMAC" lines.
 */
#include "config.h"

#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "fakexen.h"
#include "tfront.h"
#include "tests/testutil.h"

static const char *sockpath;

static void
bye(int sig)
{
	(void)sig;
	unlink(sockpath);
	_exit(0);
}

static int
serve(const char *path, unsigned fw)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct fx_world *w;
	int s, c;

	if ((w = fx_world_create()) == NULL || fx_domain_create(w, fw) != 0)
		return 1;
	if (strlen(path) >= sizeof(sun.sun_path))
		return 1;
	strcpy(sun.sun_path, path);
	unlink(path);
	if ((s = socket(AF_UNIX, SOCK_STREAM, 0)) < 0 ||
	    bind(s, (struct sockaddr *)&sun, sizeof(sun)) < 0 || listen(s, 16) < 0) {
		perror("fakexen: socket");
		return 1;
	}
	sockpath = path;
	signal(SIGTERM, bye);
	signal(SIGINT, bye);
	signal(SIGPIPE, SIG_IGN);
	fprintf(stderr, "fakexen: serving a fake Xen on %s (firewall is domain %u)\n", path, fw);
	for (;;) {
		if ((c = accept(s, NULL, NULL)) < 0)
			continue;
		fx_serve(w, c);
		close(c);
	}
}

static void
print_frame(const uint8_t *b, int n)
{
	printf("rx %d %02x%02x %02x:%02x:%02x:%02x:%02x:%02x\n", n, b[12], b[13],
	    b[6], b[7], b[8], b[9], b[10], b[11]);
	fflush(stdout);
}

/* TCP/IPv4 from the client to dst, len bytes, the checksum field holding
 * the pseudo-header sum (csum_blank, as TSO leaves it). */
static void
tcp4(uint8_t *b, unsigned len, unsigned dom, const char *src, const char *dst,
    uint8_t flags, uint32_t seq)
{
	uint8_t *ip = b + 14, *th = b + 34;
	uint32_t sa = inet_addr(src), da = inet_addr(dst);
	uint16_t c;

	memset(b, 0, 54);
	memcpy(b, "\xfe\xff\xff\xff\xff\xff\x00\x16\x3e\x5e\x6c\x00\x08\x00", 14);
	b[11] = (uint8_t)dom;
	ip[0] = 0x45;
	ip[2] = (uint8_t)((len - 14) >> 8);
	ip[3] = (uint8_t)(len - 14);
	ip[6] = 0x40;
	ip[8] = 64;
	ip[9] = 6;
	memcpy(ip + 12, &sa, 4);
	memcpy(ip + 16, &da, 4);
	c = tu_csum(ip, 20);
	ip[10] = (uint8_t)(c >> 8);
	ip[11] = (uint8_t)c;
	th[0] = 0xc3; th[1] = 0x50; th[2] = 0x14; th[3] = 0x51;	/* 50000 -> 5201 */
	th[4] = (uint8_t)(seq >> 24); th[5] = (uint8_t)(seq >> 16);
	th[6] = (uint8_t)(seq >> 8); th[7] = (uint8_t)seq;
	th[12] = 0x50;
	th[13] = flags;
	th[14] = 0xff;
	c = tu_fold(tu_sum16(0, ip + 12, 8) + 6 + (len - 34));
	th[16] = (uint8_t)(c >> 8);
	th[17] = (uint8_t)c;
}

/* A SYN, then n super-frames of 65535 bytes at MSS 1448. */
static void
client_gso(struct tfront *t, unsigned dom, const char *src, const char *dst, unsigned n)
{
	static uint8_t f[65535];
	struct netif_extra_info e;
	uint32_t seq = 1000;
	unsigned i;

	tcp4(f, 54, dom, src, dst, 0x02, seq - 1);
	tf_queue(t, f, 54, 1, NETTXF_csum_blank, NULL);
	tf_publish(t);
	usleep(300000);
	memset(&e, 0, sizeof(e));
	e.type = XEN_NETIF_EXTRA_TYPE_GSO;
	e.u.gso.size = 1448;
	e.u.gso.type = XEN_NETIF_GSO_TYPE_TCPV4;
	for (i = 0; i < n; i++) {
		uint8_t rx[65536];

		memset(f + 54, (int)i, sizeof(f) - 54);
		tcp4(f, sizeof(f), dom, src, dst, 0x10, seq);
		seq += (uint32_t)sizeof(f) - 54;
		/* 18 slots and 17 of the 64 pages per frame: at most three
		 * in flight, or a page would be rewritten before it is read. */
		while (t->tx_prod - t->tx_cons > 2 * 18) {
			tf_reap(t);
			(void)tf_recv(t, rx, sizeof(rx), 1);
		}
		tf_queue(t, f, (uint16_t)sizeof(f), 17, NETTXF_csum_blank, &e);
		tf_publish(t);
	}
	printf("sent %u super-frames\n", n);
	fflush(stdout);
}

static int
client(struct fx_world *w, unsigned fw, unsigned dom, double secs, const char *arp_for,
    const char *udp_to)
{
	struct xen_if *x = fx_open(w, dom);
	struct tfront t;
	uint8_t f[65536];
	double t0 = tu_now_s();
	char ip[32];
	int n;

	snprintf(ip, sizeof(ip), "10.137.0.%u", dom);
	if (x == NULL || tf_init(&t, x, fw, 0) < 0 || tf_connect(&t, 10000) < 0) {
		fprintf(stderr, "fakexen: client %u did not connect\n", dom);
		return 1;
	}
	printf("connected %u\n", dom);
	fflush(stdout);
	if (arp_for != NULL) {
		uint8_t a[64];
		uint8_t mac[6] = { 0x00, 0x16, 0x3e, 0x5e, 0x6c, (uint8_t)dom };

		frame_arp(a, mac, inet_addr(ip), inet_addr(arp_for));
		tf_queue(&t, a, 42, 1, 0, NULL);
		tf_publish(&t);
	}
	if (udp_to != NULL) {
		uint8_t u[128];

		/* to moat's MAC, from ours, checksum left to the backend */
		frame_udp(u, 100, inet_addr(ip), inet_addr(udp_to), 1);
		u[11] = (uint8_t)dom;
		memcpy(u + 6, "\x00\x16\x3e\x5e\x6c", 5);
		tf_queue(&t, u, 100, 2, NETTXF_csum_blank | NETTXF_data_validated, NULL);
		tf_publish(&t);
		if (getenv("FAKEXEN_GSO") != NULL)
			client_gso(&t, dom, ip, udp_to, (unsigned)atoi(getenv("FAKEXEN_GSO")));
	}
	while (tu_now_s() - t0 < secs) {
		if ((n = tf_recv(&t, f, sizeof(f), 100)) > 0)
			print_frame(f, n);
		tf_reap(&t);
	}
	tf_close(&t, 3000);
	return 0;
}

static int
netvm(struct fx_world *w, unsigned fw, unsigned nv, double secs)
{
	struct xen_if *x = fx_open(w, nv);
	struct tnetvm n;
	uint8_t f[65536];
	double t0 = tu_now_s();
	int r;

	tn_gso = getenv("FAKEXEN_GSO") != NULL;
	if (x == NULL || tn_connect(&n, x, fw, 10000) < 0) {
		fprintf(stderr, "fakexen: netvm %u did not connect\n", nv);
		return 1;
	}
	printf("connected %u\n", nv);
	fflush(stdout);
	while (tu_now_s() - t0 < secs) {
		if ((r = tn_recv(&n, f, sizeof(f), 100)) <= 0)
			continue;
		if (n.last_gso_size != 0) {
			printf("rx %d %02x%02x gso %u\n", r, f[12], f[13], n.last_gso_size);
			fflush(stdout);
		} else
			print_frame(f, r);
		/* Answer ARP requests for any address, as the NetVM's
		 * gateway would, so moat can route out. */
		if (r >= 42 && f[12] == 0x08 && f[13] == 0x06 && f[21] == 1) {
			static const uint8_t gw[6] = { 0x00, 0x16, 0x3e, 0x00, 0x00, 0x02 };
			uint8_t a[42];

			memcpy(a, f + 6, 6);
			memcpy(a + 6, gw, 6);
			memcpy(a + 12, f + 12, 8);
			a[21] = 2;
			memcpy(a + 22, gw, 6);
			memcpy(a + 28, f + 38, 4);
			memcpy(a + 32, f + 22, 10);
			tn_send(&n, a, 42);
		}
	}
	return 0;
}

static void
usage(void)
{
	fprintf(stderr, "usage: fakexen serve SOCK FW | add-vif SOCK FW DOM MAC IP |"
	    " rm-vif SOCK FW DOM | add-uplink SOCK FW NETVM MAC |"
	    " client SOCK FW DOM SECS [ARP-IP [UDP-IP]] | netvm SOCK FW NETVM SECS\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct fx_world *w;
	struct xen_if *x0;
	unsigned fw, dom;

	if (argc < 4)
		usage();
	fw = (unsigned)atoi(argv[3]);
	if (strcmp(argv[1], "serve") == 0)
		return serve(argv[2], fw);
	if ((w = fx_connect(argv[2])) == NULL) {
		fprintf(stderr, "fakexen: no fake Xen at %s\n", argv[2]);
		return 1;
	}
	if ((x0 = fx_open(w, 0)) == NULL)
		return 1;
	if (argc < 5)
		usage();
	dom = (unsigned)atoi(argv[4]);
	if (strcmp(argv[1], "add-vif") == 0 && argc == 7) {
		fx_domain_create(w, dom);
		return dom0_add_vif(x0, fw, dom, 0, argv[5], argv[6]) == 0 ? 0 : 1;
	}
	if (strcmp(argv[1], "rm-vif") == 0) {
		int rc = dom0_remove_vif(x0, fw, dom, 0, 10000);

		fx_domain_destroy(w, dom);
		return rc == 0 ? 0 : 1;
	}
	if (strcmp(argv[1], "add-uplink") == 0 && argc == 6) {
		fx_domain_create(w, dom);
		return dom0_add_uplink(x0, fw, dom, argv[5]) == 0 ? 0 : 1;
	}
	x0->close(x0);
	if (strcmp(argv[1], "client") == 0 && argc >= 6)
		return client(w, fw, dom, atof(argv[5]), argc > 6 && *argv[6] ? argv[6] : NULL,
		    argc > 7 ? argv[7] : NULL);
	if (strcmp(argv[1], "netvm") == 0 && argc == 6)
		return netvm(w, fw, dom, atof(argv[5]));
	usage();
	return 2;
}
