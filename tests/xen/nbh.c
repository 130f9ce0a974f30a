/*
 * nbh.c: the stand-in netbackd core (see nbh.h).
 */
#include "config.h"

#include <dirent.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "nb.h"
#include "fakexen.h"
#include "nbh.h"

#define NBH_WATCH	8
#define NBH_PENDQ	4096

struct nb {
	uint8_t		*mem;
	uint32_t	 freel[NBH_NBUFS];
	uint32_t	 nfree;
	uint8_t		 owned[NBH_NBUFS];	/* 1: the harness (or backend) holds it */
	struct {
		int	 fd;
		void	(*cb)(struct nb *, void *);
		void	*arg;
	} w[NBH_WATCH];
	int		 nw;
	struct mq_desc	 pend[NBH_PENDQ];
	unsigned	 npend;
	struct nbh_shared *sh;
};

static struct nb nbh;
uint32_t nbh_bufsz = NBH_BUFSZ;

int
nb_buf_alloc(struct nb *nb, uint32_t *idx)
{
	if (nb->nfree == 0)
		return -1;
	*idx = nb->freel[--nb->nfree];
	nb->owned[*idx] = 1;
	return 0;
}

void
nb_buf_free(struct nb *nb, uint32_t idx)
{
	if (idx >= NBH_NBUFS || !nb->owned[idx]) {
		/* A double free is a backend bug the tests must see. */
		fprintf(stderr, "nbh: bad free of buffer %u\n", idx);
		abort();
	}
	nb->owned[idx] = 0;
	nb->freel[nb->nfree++] = idx;
}

uint8_t *
nb_buf(struct nb *nb, uint32_t idx)
{
	return nb->mem + (size_t)idx * nbh_bufsz;
}

uint32_t
nb_buf_size(struct nb *nb)
{
	(void)nb;
	return nbh_bufsz;
}

int
nb_rx(struct nb *nb, const struct mq_desc *d)
{
	nb->sh->frames++;
	nb->sh->last = *d;
	if (nb->npend == NBH_PENDQ) {
		nb_buf_free(nb, d->buf);
		return -1;
	}
	nb->pend[nb->npend++] = *d;
	return 0;
}

void
nb_link_up(struct nb *nb, const struct msg_link *l)
{
	struct nbh_link *k;

	if (l->port >= NBH_PORTS)
		abort();
	k = &nb->sh->link[l->port];
	k->ip4 = l->ip4;
	memcpy(k->ip6, l->ip6, sizeof(k->ip6));
	memcpy(k->peer_mac, l->peer_mac, 6);
	snprintf(k->name, sizeof(k->name), "%s", l->name);
	k->ups++;
	__atomic_store_n(&k->up, 1, __ATOMIC_RELEASE);
}

void
nb_link_down(struct nb *nb, uint16_t port)
{
	if (port >= NBH_PORTS)
		abort();
	nb->sh->link[port].downs++;
	__atomic_store_n(&nb->sh->link[port].up, 0, __ATOMIC_RELEASE);
}

int
nb_watch(struct nb *nb, int fd, void (*cb)(struct nb *, void *), void *arg)
{
	if (nb->nw == NBH_WATCH)
		return -1;
	nb->w[nb->nw].fd = fd;
	nb->w[nb->nw].cb = cb;
	nb->w[nb->nw].arg = arg;
	nb->nw++;
	return 0;
}

void
nb_unwatch(struct nb *nb, int fd)
{
	int i;

	for (i = 0; i < nb->nw; i++)
		if (nb->w[i].fd == fd) {
			nb->w[i] = nb->w[--nb->nw];
			return;
		}
}

static unsigned
count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	unsigned n = 0;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1;	/* the DIR itself */
}

/* Heap bytes in use: exact for malloc leaks, unlike RSS, which also
 * counts the fake Xen's shared pages as this process first touches them. */
static unsigned
heap_bytes(void)
{
	struct mallinfo2 mi = mallinfo2();

	return (unsigned)mi.uordblks;
}

static uint64_t last_tick;

int
nbh_init(struct nbh_shared *sh, struct xen_if *x)
{
	struct nb *nb = &nbh;
	uint32_t i;

	memset(nb, 0, sizeof(*nb));
	nb->sh = sh;
	nb->mem = malloc((size_t)NBH_NBUFS * nbh_bufsz);
	for (i = 0; i < NBH_NBUFS; i++)
		nb->freel[nb->nfree++] = NBH_NBUFS - 1 - i;
	xen_backend_use(x);	/* NULL: the real Xen, as netbackd opens it */
	if (nb_backend_xen.open(nb) != 0) {
		fprintf(stderr, "nbh: backend open failed\n");
		return -1;
	}
	sh->ready = 1;
	return 0;
}

void
nbh_step(int timeout_ms)
{
	struct nb *nb = &nbh;
	struct nbh_shared *sh = nb->sh;
	struct pollfd pfd[NBH_WATCH];
	int n, k;
	uint64_t t;

	for (k = 0; k < nb->nw; k++) {
		pfd[k].fd = nb->w[k].fd;
		pfd[k].events = POLLIN;
		pfd[k].revents = 0;
	}
	n = poll(pfd, (nfds_t)nb->nw, timeout_ms);
	for (k = 0; n > 0 && k < nb->nw; k++)
		if (pfd[k].revents & POLLIN)
			nb->w[k].cb(nb, nb->w[k].arg);
	/* "natd": echo, or forward to the paired port. */
	if (nb->npend > 0) {
		unsigned j, m = nb->npend;

		for (j = 0; j < m; j++) {
			struct mq_desc d = nb->pend[j];
			uint16_t to = d.port < NBH_PORTS ? sh->pair[d.port] : 0;

			if (to == MQ_PORT_DROP) {
				/* sink: a benchmark's natd that takes all */
				nb_buf_free(nb, d.buf);
				continue;
			}
			if (to != 0)
				d.port = to;
			nb_backend_xen.tx(nb, &d);
		}
		memmove(nb->pend, nb->pend + m, (nb->npend - m) * sizeof(nb->pend[0]));
		nb->npend -= m;
		nb_backend_xen.tx_flush(nb);
	}
	t = now_ms();
	if (t - last_tick >= 100) {
		nb_backend_xen.tick(nb, t);
		last_tick = t;
		sh->nfds = count_fds();
		sh->heap = heap_bytes();
	}
	sh->st = *xen_backend_stats();
	sh->log_lines = xen_test_log_lines;
	sh->bufs_free = nb->nfree;
	sh->loops++;
}

unsigned
nbh_inject(const struct mq_desc *tmpl, const uint8_t *frame, unsigned hdr, unsigned n)
{
	struct nb *nb = &nbh;
	unsigned i;

	for (i = 0; i < n; i++) {
		struct mq_desc d = *tmpl;

		if (nb_buf_alloc(nb, &d.buf) != 0)
			break;
		memcpy(nb_buf(nb, d.buf) + d.off, frame, hdr);
		nb_backend_xen.tx(nb, &d);
	}
	nb_backend_xen.tx_flush(nb);
	return i;
}

void
nbh_run(struct nbh_shared *sh, struct xen_if *x)
{
	if (nbh_init(sh, x) != 0)
		_exit(2);
	while (!sh->stop)
		nbh_step(20);
	_exit(0);
}

struct nbh_shared *
nbh_shared_new(void)
{
	void *p = mmap(NULL, sizeof(struct nbh_shared), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

pid_t
nbh_start(struct nbh_shared *sh, struct fx_world *w, unsigned domid)
{
	pid_t pid;

	memset(sh, 0, sizeof(*sh));
	fx_domain_create(w, domid);
	if ((pid = fork()) == 0) {
		/* never outlive the test */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		struct xen_if *x = fx_open(w, domid);

		if (x == NULL)
			_exit(3);
		nbh_run(sh, x);
	}
	while (!sh->ready) {
		int st;

		if (waitpid(pid, &st, WNOHANG) == pid)
			return -1;
		usleep(1000);
	}
	return pid;
}

void
nbh_stop(struct nbh_shared *sh, pid_t pid)
{
	int st;

	sh->stop = 1;
	if (waitpid(pid, &st, 0) < 0)
		kill(pid, SIGKILL);
}
