/*
 * test_agentd_xenvchan: agentd's Xen vchan transport (vchan_xen.c) on a
 * real Xen: a server and a client process in the same domain (dom0 in
 * tests/integ/agentd_xen.sh, which boots Xen in QEMU). Checks the Qubes
 * conventions: the XenStore keys appear under
 * /local/domain/<self>/data/vchan/<self>/<port>/ and are removed once the
 * client is connected; a client started before its server waits and then
 * connects; data flows both ways through rings much smaller than it; a
 * client process that dies is seen as DISCONNECTED (by its live byte alone:
 * the env is agentd's, with no hypercall for peer checks); a rearmed server
 * takes a new client. Outside Xen (no /dev/xen/gntalloc) it skips.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include <xenstore.h>

#include "t.h"
#include "agentd/vchan.h"
#include "log.h"

#define PORT	4242
#define NBYTES	(1024 * 1024)

static struct vchan_env env;

/* Run v until its state is not WAITING, or ms pass. */
static int
settle(struct vchan *v, int ms)
{
	struct pollfd p;
	short ev = 0;
	int i;

	for (i = 0; i < ms / 10; i++) {
		if (vchan_state(v) != VCHAN_WAITING)
			break;
		p.fd = vchan_pollfd(v, 0, &ev);
		p.events = ev;
		if (p.fd >= 0 && poll(&p, 1, 10) > 0)
			vchan_progress(v, p.revents);
		else {
			if (p.fd < 0)
				usleep(10000);
			vchan_progress(v, 0);
		}
	}
	return vchan_state(v);
}

/* Move n bytes out of out (if any) and into in (if any). */
static int
pump(struct vchan *v, const uint8_t *out, size_t nout, uint8_t *in, size_t nin,
    int ms)
{
	size_t o = 0, i = 0;
	struct pollfd p;
	short ev;
	ssize_t r;
	int rounds;

	for (rounds = 0; (o < nout || i < nin) && rounds < ms / 5; rounds++) {
		if (o < nout) {
			r = vchan_write(v, out + o, nout - o);
			if (r < 0)
				return -1;
			o += (size_t)r;
		}
		if (i < nin) {
			r = vchan_read(v, in + i, nin - i);
			if (r < 0)
				return -1;
			i += (size_t)r;
		}
		p.fd = vchan_pollfd(v, o < nout, &ev);
		p.events = ev;
		if (p.fd >= 0 && poll(&p, 1, 5) > 0)
			vchan_progress(v, p.revents);
	}
	return o == nout && i == nin ? 0 : -1;
}

static int
key_exists(const char *path)
{
	unsigned int len;
	char *v = xs_read(env.xs, XBT_NULL, path, &len);

	free(v);
	return v != NULL;
}

/* The client side, in a child process: echo NBYTES back, then exit (or
 * die without a word when told to). */
static void
client(int echo, int die)
{
	static uint8_t buf[NBYTES];
	struct vchan *c;

	/* our own XenStore connection: the parent's is not ours to share */
	env.xs = xs_open(0);
	c = vchan_client(&env, env.domid, PORT);
	if (c == NULL || settle(c, 10000) != VCHAN_CONNECTED)
		_exit(10);
	if (echo) {
		if (pump(c, NULL, 0, buf, NBYTES, 20000) == -1)
			_exit(11);
		if (pump(c, buf, NBYTES, NULL, 0, 20000) == -1)
			_exit(12);
	} else {
		if (pump(c, (const uint8_t *)"hi", 2, NULL, 0, 5000) == -1)
			_exit(13);
		/* die only once the server has seen us connected */
		if (pump(c, NULL, 0, buf, 1, 10000) == -1)
			_exit(14);
	}
	if (die)
		raise(SIGKILL);
	/* hold on until the parent has read, then close properly */
	usleep(200000);
	vchan_close(c);
	_exit(0);
}

static void
test_xen_vchan(void)
{
	static uint8_t out[NBYTES], in[NBYTES];
	char base[128], key[160];
	struct vchan *s;
	pid_t pid;
	size_t i;
	int st;

	snprintf(base, sizeof(base), "/local/domain/%d/data/vchan/%d/%d",
	    env.domid, env.domid, PORT);
	snprintf(key, sizeof(key), "%s/event-channel", base);

	/* a client that starts first waits for its server */
	pid = fork();
	if (pid == 0)
		client(1, 0);
	usleep(300000);
	s = vchan_server(&env, env.domid, PORT, 4096, 8192);
	T_ASSERT(s != NULL);
	T_EXPECT(key_exists(key) || vchan_state(s) == VCHAN_CONNECTED);
	T_EQ_INT(settle(s, 10000), VCHAN_CONNECTED);
	/* Qubes' clean-up: once connected, nobody else can attach */
	T_EXPECT(!key_exists(key));
	for (i = 0; i < NBYTES; i++)
		out[i] = (uint8_t)(i * 7 + i / 251);
	T_EQ_INT(pump(s, out, NBYTES, NULL, 0, 30000), 0);
	T_EQ_INT(pump(s, NULL, 0, in, NBYTES, 30000), 0);
	T_EQ_MEM(in, out, NBYTES);
	T_EQ_INT(waitpid(pid, &st, 0), pid);
	T_EQ_INT(WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st), 0);

	/* rearm: a new client, which dies without closing */
	T_EQ_INT(vchan_rearm(s), 0);
	T_EXPECT(key_exists(key));
	pid = fork();
	if (pid == 0)
		client(0, 1);
	T_EQ_INT(settle(s, 10000), VCHAN_CONNECTED);
	T_EQ_INT(pump(s, NULL, 0, in, 2, 5000), 0);
	T_EQ_MEM(in, "hi", 2);
	T_EQ_INT(pump(s, (const uint8_t *)"k", 1, NULL, 0, 5000), 0);
	T_EQ_INT(waitpid(pid, &st, 0), pid);
	T_ASSERT(WIFSIGNALED(st));
	/* the kernel zeroes the dead client's live byte and kicks us */
	for (i = 0; i < 300 && vchan_state(s) == VCHAN_CONNECTED; i++) {
		struct pollfd p;
		short ev;

		p.fd = vchan_pollfd(s, 0, &ev);
		p.events = ev;
		if (poll(&p, 1, 10) > 0)
			vchan_progress(s, p.revents);
		(void)vchan_read(s, in, sizeof(in));
	}
	T_EQ_INT(vchan_state(s), VCHAN_DISCONNECTED);
	vchan_close(s);
	T_EXPECT(!key_exists(key));
}

int
main(void)
{
	const char *d = getenv("XEN_DOMID");

	if (access("/dev/xen/gntalloc", R_OK | W_OK) != 0) {
		t_skip("xen vchan", "not in a Xen domain with gntalloc");
		return t_done();
	}
	log_init("test", LOG_LVL_INFO);
	env.kind = VCHAN_XEN;
	env.domid = d ? atoi(d) : 0;
	env.xs = xs_open(0);
	if (env.xs == NULL) {
		printf("not ok 1 - xen vchan: no XenStore\n1..1\n");
		return 1;
	}
	T_RUN(test_xen_vchan);
	return t_done();
}
