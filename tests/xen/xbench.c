/*
 * xbench: the bulk TCP transfers of "make bench-xen" and a TSO switch, in
 * one static binary for dom0 and the client domU, whose images are busybox
 * with neither ethtool nor iperf.
 *
 *   xbench serve PORT HOOK [COUNT]     dom0: serve steps, one at a time
 *                                      (COUNT of them, then exit)
 *   xbench run IFACE HOST PORT STEP... client: STEP is tso=on|off,
 *                                      up=BYTES or down=BYTES, in order
 *   xbench tso IFACE [on|off]          IFACE's TSO (after setting it)
 *
 * The client always connects (through moat's NAT nothing else can), one
 * connection per step, and retries for half an hour: dom0 listens when
 * the step's turn comes.  A transfer is timed by its receiver, first byte
 * to last.  The server runs HOOK (sh -c) around every step, so dom0 can
 * read CPU times and switch its own side's TSO exactly around it:
 *   HOOK tso on|off CLIENT_TSO                          before "OK"
 *   HOOK start up|down BYTES                            before "GO"
 *   HOOK end up|down BYTES NS TXP TXB RXP RXB RTX       after the data
 * (TXP..RXB: the client interface's frame and byte counters over the
 * transfer, which show whether super-frames crossed it; RTX: the TCP
 * segments the client retransmitted meanwhile.)
 *
 * Control lines, at most 255 bytes, the data in between:
 *   C "TSO on 1"          S "OK"
 *   C "UP n"              S "GO"   C n bytes   S "RECV ns"
 *   C "DOWN n"            S "GO" n bytes       C "RECV ns"
 *   then, for UP and DOWN: C "END ns txp txb rxp rxb rtx"  S "OK"
 */
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_	256	/* the longest, END: 6 numbers of 20 digits */
#define CHUNK		(256 * 1024)
#define MAX_BYTES	(UINT64_C(1) << 36)	/* 64 GiB: a typo, not a test */
#define IO_TIMEOUT_S	120

static char buf[CHUNK];

static void
warnf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("xbench: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int
parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > max)
		return -1;
	*out = v;
	return 0;
}

static int
write_all(int fd, const void *p, size_t len)
{
	const char *c = p;

	while (len > 0) {
		ssize_t n = write(fd, c, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		c += n;
		len -= (size_t)n;
	}
	return 0;
}

static int
sendf(int fd, const char *fmt, ...)
{
	char line[LINE_MAX_];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof line)
		return -1;
	return write_all(fd, line, (size_t)n);
}

/* One control line, byte by byte: data may follow it in the stream. */
static int
recv_line(int fd, char *line, size_t size)
{
	size_t i = 0;

	for (;;) {
		char c;
		ssize_t n = read(fd, &c, 1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		if (c == '\n')
			break;
		if (i + 1 >= size)
			return -1;
		line[i++] = c;
	}
	line[i] = '\0';
	return 0;
}

/* Split LINE in place into at most MAX words. */
static int
words(char *line, char **w, int max)
{
	int n = 0;
	char *save = NULL, *t;

	for (t = strtok_r(line, " ", &save); t != NULL; t = strtok_r(NULL, " ", &save)) {
		if (n == max)
			return -1;
		w[n++] = t;
	}
	return n;
}

/* Receive exactly LEN bytes; *NS is the time from the first to the last. */
static int
recv_bytes(int fd, uint64_t len, uint64_t *ns)
{
	uint64_t got = 0, t0 = 0;

	while (got < len) {
		size_t want = len - got < sizeof buf ? (size_t)(len - got) : sizeof buf;
		ssize_t n = read(fd, buf, want);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			warnf("received %" PRIu64 " of %" PRIu64 " bytes: %s",
			    got, len, n == 0 ? "connection closed" : strerror(errno));
			return -1;
		}
		if (got == 0)
			t0 = now_ns();
		got += (uint64_t)n;
	}
	*ns = now_ns() - t0;
	return 0;
}

static int
send_bytes(int fd, uint64_t len)
{
	while (len > 0) {
		size_t n = len < sizeof buf ? (size_t)len : sizeof buf;

		if (write_all(fd, buf, n) < 0) {
			warnf("send: %s", strerror(errno));
			return -1;
		}
		len -= n;
	}
	return 0;
}

static void
timeouts(int fd)
{
	struct timeval tv = { .tv_sec = IO_TIMEOUT_S };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

/* ---- TSO, through the ethtool ioctl (the legacy per-feature one is
 * enough and exists on every kernel the images carry). */
static int
tso_get(const char *ifname)
{
	struct ethtool_value ev = { .cmd = ETHTOOL_GTSO };
	struct ifreq ifr;
	int s, rc;

	if (strlen(ifname) >= IFNAMSIZ || (s = socket(AF_INET, SOCK_DGRAM, 0)) < 0)
		return -1;
	memset(&ifr, 0, sizeof ifr);
	memcpy(ifr.ifr_name, ifname, strlen(ifname));
	ifr.ifr_data = (void *)&ev;
	rc = ioctl(s, SIOCETHTOOL, &ifr);
	close(s);
	return rc < 0 ? -1 : ev.data != 0;
}

/* Ask for TSO on or off; the driver may refuse "on" (netfront does when
 * its backend offers no feature-gso-tcpv4): the caller reads it back. */
static void
tso_set(const char *ifname, int on)
{
	struct ethtool_value ev = { .cmd = ETHTOOL_STSO, .data = (uint32_t)on };
	struct ifreq ifr;
	int s;

	if (strlen(ifname) >= IFNAMSIZ || (s = socket(AF_INET, SOCK_DGRAM, 0)) < 0)
		return;
	memset(&ifr, 0, sizeof ifr);
	memcpy(ifr.ifr_name, ifname, strlen(ifname));
	ifr.ifr_data = (void *)&ev;
	if (ioctl(s, SIOCETHTOOL, &ifr) < 0)
		warnf("%s: TSO %s: %s", ifname, on ? "on" : "off", strerror(errno));
	close(s);
}

static int
on_off(const char *s)
{
	if (strcmp(s, "on") == 0)
		return 1;
	if (strcmp(s, "off") == 0)
		return 0;
	return -1;
}

/* ---- server (dom0) */
static void
hook(const char *h, const char *fmt, ...)
{
	char cmd[1024], args[LINE_MAX_];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(args, sizeof args, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof args ||
	    (n = snprintf(cmd, sizeof cmd, "%s %s", h, args)) < 0 || (size_t)n >= sizeof cmd) {
		warnf("hook command too long");
		return;
	}
	if (system(cmd) != 0)
		warnf("hook failed: %s", cmd);
}

/* One step; only numbers and the words on/off/up/down reach the hook. */
static void
serve_one(int fd, const char *h)
{
	char line[LINE_MAX_], *w[8];
	uint64_t len, ns, cns, c[5];
	int nw, up;

	if (recv_line(fd, line, sizeof line) < 0 || (nw = words(line, w, 8)) < 1)
		return;
	if (strcmp(w[0], "TSO") == 0 && nw == 3 && on_off(w[1]) >= 0 && on_off(w[2]) >= 0) {
		hook(h, "tso %s %s", w[1], w[2]);
		sendf(fd, "OK\n");
		return;
	}
	if (nw != 2 || (strcmp(w[0], "UP") != 0 && strcmp(w[0], "DOWN") != 0) ||
	    parse_u64(w[1], MAX_BYTES, &len) < 0 || len == 0) {
		warnf("bad request");
		return;
	}
	up = w[0][0] == 'U';
	hook(h, "start %s %" PRIu64, up ? "up" : "down", len);
	if (sendf(fd, "GO\n") < 0)
		return;
	if (up) {
		if (recv_bytes(fd, len, &ns) < 0 || sendf(fd, "RECV %" PRIu64 "\n", ns) < 0)
			return;
	} else if (send_bytes(fd, len) < 0)
		return;
	if (recv_line(fd, line, sizeof line) < 0 || words(line, w, 8) != 7 ||
	    strcmp(w[0], "END") != 0 || parse_u64(w[1], UINT64_MAX, &cns) < 0) {
		warnf("no END from the client");
		return;
	}
	for (int i = 0; i < 5; i++)
		if (parse_u64(w[2 + i], UINT64_MAX, &c[i]) < 0)
			return;
	hook(h, "end %s %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64
	    " %" PRIu64 " %" PRIu64, up ? "up" : "down", len, up ? ns : cns,
	    c[0], c[1], c[2], c[3], c[4]);
	sendf(fd, "OK\n");
}

static int
serve(const char *port, const char *h, const char *count)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	uint64_t p, n = 0;
	int s, one = 1;

	if (parse_u64(port, 65535, &p) < 0 || p == 0 ||
	    (count != NULL && parse_u64(count, 1000000, &n) < 0)) {
		warnf("bad port %s or count", port);
		return 2;
	}
	sin.sin_port = htons((uint16_t)p);
	if ((s = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    bind(s, (struct sockaddr *)&sin, sizeof sin) < 0 || listen(s, 4) < 0) {
		warnf("listen on %s: %s", port, strerror(errno));
		return 1;
	}
	for (;;) {
		int fd = accept(s, NULL, NULL);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			warnf("accept: %s", strerror(errno));
			return 1;
		}
		/* The last one: stop listening first, or the client's next
		 * step could be queued on this socket and reset at exit. */
		if (n == 1)
			close(s);
		timeouts(fd);
		serve_one(fd, h);
		close(fd);
		if (n > 0 && --n == 0)
			return 0;
	}
}

/* ---- client */

/* TCP's RetransSegs from /proc/net/snmp: a header line of names, then
 * one of values, both starting "Tcp:". */
static int
retrans(uint64_t *out)
{
	char names[1024], vals[1024], *sn = NULL, *sv = NULL, *n, *v;
	FILE *f = fopen("/proc/net/snmp", "r");
	int rc = -1;

	if (f == NULL)
		return -1;
	while (fgets(names, sizeof names, f) != NULL) {
		if (strncmp(names, "Tcp:", 4) != 0)
			continue;
		if (fgets(vals, sizeof vals, f) == NULL)
			break;
		n = strtok_r(names, " \n", &sn);
		v = strtok_r(vals, " \n", &sv);
		while (n != NULL && v != NULL) {
			if (strcmp(n, "RetransSegs") == 0) {
				rc = parse_u64(v, UINT64_MAX, out);
				break;
			}
			n = strtok_r(NULL, " \n", &sn);
			v = strtok_r(NULL, " \n", &sv);
		}
		break;
	}
	fclose(f);
	return rc;
}

static int
counters(const char *ifname, uint64_t c[5])
{
	static const char *const name[4] = { "tx_packets", "tx_bytes", "rx_packets", "rx_bytes" };
	char path[128], v[32];

	for (int i = 0; i < 4; i++) {
		FILE *f;
		size_t n;

		snprintf(path, sizeof path, "/sys/class/net/%s/statistics/%s", ifname, name[i]);
		if ((f = fopen(path, "r")) == NULL)
			return -1;
		n = fread(v, 1, sizeof v - 1, f);
		fclose(f);
		v[n] = '\0';
		v[strcspn(v, "\n")] = '\0';
		if (parse_u64(v, UINT64_MAX, &c[i]) < 0)
			return -1;
	}
	return retrans(&c[4]);
}

/* Connect, retrying for half an hour: dom0 serves the other client's
 * step first, or is not listening yet. */
static int
dial(const char *host, uint16_t port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };

	if (inet_pton(AF_INET, host, &sin.sin_addr) != 1) {
		warnf("bad address %s", host);
		return -1;
	}
	for (int i = 0; i < 3600; i++) {
		int s = socket(AF_INET, SOCK_STREAM, 0);

		if (s < 0)
			return -1;
		if (connect(s, (struct sockaddr *)&sin, sizeof sin) == 0) {
			timeouts(s);
			return s;
		}
		close(s);
		usleep(500000);
	}
	warnf("connect %s:%u: %s", host, port, strerror(errno));
	return -1;
}

static int
step_tso(const char *ifname, const char *host, uint16_t port, int on)
{
	char line[LINE_MAX_];
	int s, now;

	tso_set(ifname, on);
	now = tso_get(ifname);
	if ((s = dial(host, port)) < 0)
		return -1;
	if (sendf(s, "TSO %s %s\n", on ? "on" : "off", now == 1 ? "on" : "off") < 0 ||
	    recv_line(s, line, sizeof line) < 0 || strcmp(line, "OK") != 0) {
		close(s);
		warnf("TSO step: no OK from the server");
		return -1;
	}
	close(s);
	printf("XBENCH tso want=%s %s=%s\n", on ? "on" : "off", ifname, now == 1 ? "on" : "off");
	return 0;
}

static int
step_xfer(const char *ifname, const char *host, uint16_t port, int up, uint64_t len)
{
	char line[LINE_MAX_], *w[4];
	uint64_t c0[5], c1[5], ns = 0;
	int s;

	if ((s = dial(host, port)) < 0)
		return -1;
	if (counters(ifname, c0) < 0) {
		warnf("%s: no counters in /sys or /proc/net/snmp", ifname);
		goto fail;
	}
	if (sendf(s, "%s %" PRIu64 "\n", up ? "UP" : "DOWN", len) < 0 ||
	    recv_line(s, line, sizeof line) < 0 || strcmp(line, "GO") != 0)
		goto fail;
	if (up) {
		if (send_bytes(s, len) < 0 || recv_line(s, line, sizeof line) < 0 ||
		    words(line, w, 4) != 2 || strcmp(w[0], "RECV") != 0 ||
		    parse_u64(w[1], UINT64_MAX, &ns) < 0)
			goto fail;
	} else if (recv_bytes(s, len, &ns) < 0)
		goto fail;
	if (counters(ifname, c1) < 0)
		goto fail;
	for (int i = 0; i < 5; i++)
		c1[i] -= c0[i];
	if (sendf(s, "END %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64
	    " %" PRIu64 "\n", ns, c1[0], c1[1], c1[2], c1[3], c1[4]) < 0 ||
	    recv_line(s, line, sizeof line) < 0 || strcmp(line, "OK") != 0)
		goto fail;
	close(s);
	printf("XBENCH %s %" PRIu64 " bytes in %.3f s (%.2f MiB/s), %s frames: tx %" PRIu64
	    " rx %" PRIu64 ", TCP segments retransmitted %" PRIu64 "\n", up ? "up" : "down",
	    len, (double)ns / 1e9, ns ? (double)len / 1048576.0 / ((double)ns / 1e9) : 0.0,
	    ifname, c1[0], c1[2], c1[4]);
	return 0;
fail:
	warnf("%s of %" PRIu64 " bytes failed", up ? "up" : "down", len);
	close(s);
	return -1;
}

static int
run(int argc, char **argv)
{
	const char *ifname = argv[0], *host = argv[1];
	uint64_t port, len;
	int rc = 0;

	if (parse_u64(argv[2], 65535, &port) < 0 || port == 0) {
		warnf("bad port %s", argv[2]);
		return 2;
	}
	for (int i = 3; i < argc; i++) {
		const char *a = argv[i];

		if (strncmp(a, "tso=", 4) == 0 && on_off(a + 4) >= 0)
			rc |= step_tso(ifname, host, (uint16_t)port, on_off(a + 4)) < 0;
		else if (strncmp(a, "up=", 3) == 0 && parse_u64(a + 3, MAX_BYTES, &len) == 0 && len)
			rc |= step_xfer(ifname, host, (uint16_t)port, 1, len) < 0;
		else if (strncmp(a, "down=", 5) == 0 && parse_u64(a + 5, MAX_BYTES, &len) == 0 && len)
			rc |= step_xfer(ifname, host, (uint16_t)port, 0, len) < 0;
		else {
			warnf("bad step %s", a);
			return 2;
		}
		fflush(stdout);
	}
	return rc;
}

static void
usage(void)
{
	fprintf(stderr, "usage: xbench serve PORT HOOK [COUNT]\n"
	    "       xbench run IFACE HOST PORT tso=on|off|up=BYTES|down=BYTES...\n"
	    "       xbench tso IFACE [on|off]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	int t;

	/* a client gone mid-transfer is a failed step, not a dead server */
	signal(SIGPIPE, SIG_IGN);
	if ((argc == 4 || argc == 5) && strcmp(argv[1], "serve") == 0)
		return serve(argv[2], argv[3], argc == 5 ? argv[4] : NULL);
	if (argc >= 6 && strcmp(argv[1], "run") == 0)
		return run(argc - 2, argv + 2);
	if ((argc == 3 || argc == 4) && strcmp(argv[1], "tso") == 0) {
		if (argc == 4) {
			if (on_off(argv[3]) < 0)
				usage();
			tso_set(argv[2], on_off(argv[3]));
		}
		if ((t = tso_get(argv[2])) < 0) {
			warnf("%s: cannot read TSO: %s", argv[2], strerror(errno));
			return 1;
		}
		printf("%s\n", t ? "on" : "off");
		return 0;
	}
	usage();
}
