/*
 * stress_ring.c: a producer and a consumer in two processes over one
 * memfd, the way netbackd and natd use it: a data ring carries
 * descriptors naming pool buffers, a return ring gives the buffers back.
 *
 * Each element carries a sequence number and a checksum of the payload the
 * producer wrote into the buffer it names; the consumer checks order,
 * descriptor validity and payload, and returns the buffer. Batch sizes
 * vary from 1 to 64 on both sides, and both sides pause now and then so
 * the other one runs dry and goes to sleep on its eventfd: a lost wake-up
 * shows up as a poll() timeout. At the end every buffer must be back.
 *
 * MOAT_STRESS_N overrides the number of descriptors (default 8 million).
 */
#include "config.h"

#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ring.h"
#include "t.h"
#include "tests/testutil.h"

#define DSLOTS		256		/* data ring */
#define RSLOTS		512		/* return ring: holds every buffer */
#define NBUFS		384		/* more than DSLOTS, so the data ring fills */
#define BUFSZ		2048u
#define MAXBATCH	64
#define POLL_MS		5000		/* longer than this asleep = lost wake-up */

struct elem {
	struct mq_desc	d;
	uint64_t	seq;
	uint32_t	csum;
	uint32_t	pad;
};
static_assert(sizeof(struct elem) == 40, "stress element");

struct ret {
	uint32_t	buf;
	uint32_t	pad;
};

/* Results the consumer leaves for the parent, in the shared memory. */
struct stats {
	uint64_t	received;
	uint64_t	sleeps;		/* prepare_sleep said yes and we polled */
	uint64_t	late;		/* prepare_sleep found work after all */
	uint64_t	bad;		/* first error's sequence number */
	char		why[200];
};

#define OFF_STATS	0
#define OFF_DRING	4096
#define OFF_RRING	(OFF_DRING + 65536)
#define OFF_POOL	(OFF_RRING + 65536)
#define SHM_SIZE	(OFF_POOL + (size_t)NBUFS * BUFSZ)

static uint8_t	*shm;
static struct mq_pool pool;
static int	 efd_d, efd_r;		/* data ring's and return ring's consumer eventfds */

static uint32_t
fnv(const uint8_t *p, size_t n)
{
	uint32_t h = 2166136261u;

	while (n--)
		h = (h ^ *p++) * 16777619u;
	return h;
}

/* Deterministic payload for sequence number seq. */
static void
fill(uint8_t *p, size_t n, uint64_t seq)
{
	uint64_t s = seq * 0x9e3779b97f4a7c15ull + 1, w = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if ((i & 7) == 0)
			w = tu_xorshift64(&s);
		p[i] = (uint8_t)(w >> ((i & 7) * 8));
	}
}

/* Block until efd is readable; 0, or -1 on timeout (a lost wake-up). */
static int
sleep_on(struct mq_end *e, int efd)
{
	struct pollfd pfd = { .fd = efd, .events = POLLIN };
	int r;

	while ((r = poll(&pfd, 1, POLL_MS)) == -1 && errno == EINTR)
		;
	if (r != 1)
		return -1;
	mq_wake_done(e);
	return 0;
}

static int
consumer(uint64_t n, uint64_t seed)
{
	struct stats *st = (struct stats *)(shm + OFF_STATS);
	struct mq_end d, r;
	struct elem el[MAXBATCH];
	struct ret rt[MAXBATCH];
	uint64_t expect = 0, s = seed;
	unsigned k, i, spins = 0;

	if (mq_attach(&d, shm + OFF_DRING, OFF_RRING - OFF_DRING, DSLOTS,
	    sizeof(struct elem), MQ_CONSUMER, efd_d) == -1 ||
	    mq_attach(&r, shm + OFF_RRING, OFF_POOL - OFF_RRING, RSLOTS,
	    sizeof(struct ret), MQ_PRODUCER, efd_r) == -1) {
		snprintf(st->why, sizeof st->why, "consumer attach failed");
		return 1;
	}
	memset(rt, 0, sizeof rt);
	while (expect < n) {
		k = mq_dequeue_burst(&d, el, 1 + tu_xorshift64(&s) % MAXBATCH);
		if (k == 0) {
			if (d.broken) {
				snprintf(st->why, sizeof st->why, "data ring broken");
				goto fail;
			}
			/* Spin a little before paying for a sleep. */
			if (++spins < 64)
				continue;
			spins = 0;
			if (!mq_prepare_sleep(&d)) {
				st->late++;
				continue;
			}
			st->sleeps++;
			if (sleep_on(&d, efd_d) == -1) {
				snprintf(st->why, sizeof st->why,
				    "lost wake-up: asleep %d ms at seq %llu",
				    POLL_MS, (unsigned long long)expect);
				goto fail;
			}
			continue;
		}
		spins = 0;
		for (i = 0; i < k; i++) {
			const struct mq_desc *dd = &el[i].d;

			if (!mq_desc_ok(&pool, dd)) {
				snprintf(st->why, sizeof st->why, "bad descriptor");
				goto fail;
			}
			if (el[i].seq != expect) {
				snprintf(st->why, sizeof st->why,
				    "order: got seq %llu, expected %llu",
				    (unsigned long long)el[i].seq,
				    (unsigned long long)expect);
				goto fail;
			}
			if (fnv(mq_buf(&pool, dd->buf) + dd->off, dd->len) != el[i].csum) {
				snprintf(st->why, sizeof st->why,
				    "payload checksum mismatch at seq %llu",
				    (unsigned long long)expect);
				goto fail;
			}
			rt[i].buf = dd->buf;
			expect++;
		}
		/* The return ring holds every buffer, so this always fits. */
		if (mq_enqueue_burst(&r, rt, k) != k) {
			snprintf(st->why, sizeof st->why, "return ring full");
			goto fail;
		}
		mq_kick(&r);
		st->received = expect;
		/* Now and then, stall so the producer runs out and sleeps. */
		if (tu_xorshift64(&s) % 4096 == 0)
			usleep(200);
	}
	st->received = expect;
	return 0;
fail:
	st->bad = expect;
	st->received = expect;
	return 1;
}

struct pstats {
	uint64_t	sleeps, late, full, drains;
};

static int
producer(uint64_t n, uint64_t seed, struct pstats *ps, char *why, size_t whylen)
{
	struct mq_end d, r;
	struct elem el[MAXBATCH];
	struct ret rt[RSLOTS];
	uint32_t freel[NBUFS];
	unsigned nfree = 0, i, k, want, sent, room;
	int drain = 0;
	uint64_t seq = 0, s = seed, dice;

	if (mq_attach(&d, shm + OFF_DRING, OFF_RRING - OFF_DRING, DSLOTS,
	    sizeof(struct elem), MQ_PRODUCER, efd_d) == -1 ||
	    mq_attach(&r, shm + OFF_RRING, OFF_POOL - OFF_RRING, RSLOTS,
	    sizeof(struct ret), MQ_CONSUMER, efd_r) == -1) {
		snprintf(why, whylen, "producer attach failed");
		return -1;
	}
	for (i = 0; i < NBUFS; i++)
		freel[nfree++] = i;
	memset(el, 0, sizeof el);
	/* Run until everything is sent and every buffer has come back. */
	while (seq < n || nfree < NBUFS) {
		k = mq_dequeue_burst(&r, rt, RSLOTS);
		for (i = 0; i < k; i++) {
			if (rt[i].buf >= NBUFS || nfree == NBUFS) {
				snprintf(why, whylen, "bogus buffer returned");
				return -1;
			}
			freel[nfree++] = rt[i].buf;
		}
		want = 1 + tu_xorshift64(&s) % MAXBATCH;
		/*
		 * Draining (waiting for every buffer to come back) makes us
		 * sleep right when the consumer runs dry, the window where a
		 * wake-up is lost if either side gets the protocol wrong.
		 */
		if (drain && nfree < NBUFS)
			want = 0;
		else
			drain = 0;
		if (want > nfree)
			want = nfree;
		if (want > n - seq)
			want = (unsigned)(n - seq);
		/* One read of the consumer's index: a second one can see more
		 * room than the first, and lift want above nfree (freel's
		 * index then wraps: the SIGBUS seen under load). */
		room = mq_free(&d);
		if (want > room)
			want = room;
		if (want == 0) {
			if (k > 0)
				continue;
			if (d.broken || r.broken) {
				snprintf(why, whylen, "a ring broke");
				return -1;
			}
			if (seq < n && nfree > 0 && !drain)
				ps->full++;
			/* Both a free buffer and ring space come back through r. */
			if (!mq_prepare_sleep(&r)) {
				ps->late++;
				continue;
			}
			ps->sleeps++;
			if (sleep_on(&r, efd_r) == -1) {
				snprintf(why, whylen, "lost wake-up on the return ring"
				    " (seq %llu, %u buffers free)",
				    (unsigned long long)seq, nfree);
				return -1;
			}
			continue;
		}
		for (i = 0; i < want; i++) {
			struct elem *e = &el[i];
			uint64_t x = tu_xorshift64(&s);
			uint8_t *b;

			e->d.buf = freel[--nfree];
			e->d.off = (uint16_t)(x % 128);
			/* Mostly small frames, sometimes one filling the buffer. */
			e->d.len = (x >> 8) % 64 == 0 ? BUFSZ - e->d.off :
			    1 + (uint32_t)((x >> 16) % 256);
			e->d.port = (uint16_t)((x >> 32) % MQ_PORT_MAX);
			e->seq = seq + i;
			b = mq_buf(&pool, e->d.buf) + e->d.off;
			fill(b, e->d.len, e->seq);
			e->csum = fnv(b, e->d.len);
		}
		sent = mq_enqueue_burst(&d, el, want);
		if (sent != want) {
			snprintf(why, whylen, "enqueue of %u took %u despite mq_free",
			    want, sent);
			return -1;
		}
		mq_kick(&d);
		seq += want;
		/* Now and then, stall so the consumer runs dry and sleeps. */
		dice = tu_xorshift64(&s);
		if (dice % 1024 == 0)
			usleep(100);
		else if (dice % 64 == 1) {
			drain = 1;
			ps->drains++;
		}
	}
	return 0;
}

static void
test_two_processes(void)
{
	struct stats *st;
	struct pstats ps = { 0, 0, 0, 0 };
	char why[200] = "";
	uint64_t n = 8000000, seed;
	const char *env;
	pid_t pid;
	int fd, status = 0, rc, i;
	double t0, secs;

	if ((env = getenv("MOAT_STRESS_N")) != NULL)
		n = strtoull(env, NULL, 10);
	seed = (uint64_t)time(NULL) * 2654435761u | 1;
	printf("# %llu descriptors, seed %llu\n", (unsigned long long)n,
	    (unsigned long long)seed);
	fflush(stdout);

	T_ASSERT((fd = memfd_create("stress_ring", MFD_CLOEXEC)) != -1);
	T_ASSERT(ftruncate(fd, (off_t)SHM_SIZE) == 0);
	shm = mmap(NULL, SHM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	T_ASSERT(shm != MAP_FAILED);
	T_ASSERT(mq_ring_bytes(DSLOTS, sizeof(struct elem)) <= OFF_RRING - OFF_DRING);
	T_ASSERT(mq_ring_bytes(RSLOTS, sizeof(struct ret)) <= OFF_POOL - OFF_RRING);
	T_ASSERT(mq_ring_format(shm + OFF_DRING, OFF_RRING - OFF_DRING, DSLOTS,
	    sizeof(struct elem)) == 0);
	T_ASSERT(mq_ring_format(shm + OFF_RRING, OFF_POOL - OFF_RRING, RSLOTS,
	    sizeof(struct ret)) == 0);
	T_ASSERT(mq_pool_init(&pool, shm + OFF_POOL, SHM_SIZE - OFF_POOL, NBUFS, BUFSZ) == 0);
	T_ASSERT((efd_d = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) != -1);
	T_ASSERT((efd_r = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) != -1);
	st = (struct stats *)(shm + OFF_STATS);

	t0 = tu_now_s();
	T_ASSERT((pid = fork()) != -1);
	if (pid == 0) {
		alarm(120);
		_exit(consumer(n, seed ^ 0x5555));
	}
	alarm(120);
	rc = producer(n, seed, &ps, why, sizeof why);
	if (rc == -1) {
		/* Let the consumer report its own view (its poll times out too). */
		for (i = 0; i < 2 * POLL_MS / 10; i++) {
			if (waitpid(pid, &status, WNOHANG) == pid)
				break;
			usleep(10000);
		}
		if (i == 2 * POLL_MS / 10) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
		}
	} else
		T_ASSERT(waitpid(pid, &status, 0) == pid);
	alarm(0);
	secs = tu_now_s() - t0;

	printf("# %.2f s, %.2f M desc/s; consumer: %llu received, %llu sleeps,"
	    " %llu late re-checks; producer: %llu sleeps, %llu late, %llu ring-full waits,"
	    " %llu drains\n",
	    secs, (double)st->received / secs / 1e6,
	    (unsigned long long)st->received, (unsigned long long)st->sleeps,
	    (unsigned long long)st->late, (unsigned long long)ps.sleeps,
	    (unsigned long long)ps.late, (unsigned long long)ps.full,
	    (unsigned long long)ps.drains);
	if (st->why[0] != '\0')
		printf("# consumer: %s\n", st->why);
	if (why[0] != '\0')
		printf("# producer: %s\n", why);
	T_ASSERT(rc == 0);
	T_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* Nothing lost: all n arrived in order (checked as they came). */
	T_EQ_INT(st->received, n);
	/* The sleep path really ran on both rings. */
	T_ASSERT(st->sleeps > 0);
	T_ASSERT(ps.sleeps > 0);
	munmap(shm, SHM_SIZE);
	close(fd);
	close(efd_d);
	close(efd_r);
}

int
main(void)
{
	T_RUN(test_two_processes);
	return t_done();
}
