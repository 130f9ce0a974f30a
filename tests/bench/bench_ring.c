/*
 * bench_ring.c: descriptors per second through a shared-memory ring between
 * two processes, at batch sizes 1 and 32, against baselines measured in the
 * same run: the same 24-byte descriptors through a socketpair and a pipe
 * with one write per batch (what moat would do without shared memory), and
 * the ring driven by one thread (the upper bound: no cache-line transfer).
 *
 * Every run checks that each descriptor arrives, in order. Each figure is
 * the median of MOAT_BENCH_REPS runs (default 3). MOAT_BENCH_N scales the
 * number of descriptors (default 4 million; an eighth of that for the
 * per-descriptor system-call baselines). MOAT_BENCH_PIN=1 puts the
 * producer on CPU 0 and the consumer on CPU 1; MOAT_BENCH_SPINS sets how
 * many empty polls the spinning consumer makes before it sleeps (200).
 *
 * The figures depend on the machine being otherwise idle: with other
 * work on the same cores, a spinning consumer loses its time slice, so the
 * header line records the load average.
 */
#include "config.h"

#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ring.h"

#define NSLOTS		1024
#define MAXBATCH	32
static unsigned spin_limit = 200;	/* empty polls before the consumer sleeps */
static unsigned yield_every = 256;	/* full-ring spins between sched_yield()s */

enum method {
	M_RING1,	/* ring, producer and consumer in one thread */
	M_RING2,	/* ring, two processes, consumer spins then sleeps */
	M_RING2_SLEEP,	/* ring, two processes, consumer sleeps as soon as empty */
	M_SOCK,		/* AF_UNIX SOCK_SEQPACKET socketpair, one send per batch */
	M_PIPE,		/* pipe, one write per batch */
	M_COUNT
};

static const char *method_name[M_COUNT] = {
	"ring, 1 thread (upper bound)",
	"ring, 2 procs (spin, then sleep)",
	"ring, 2 procs (sleep when empty)",
	"socketpair seqpacket (baseline)",
	"pipe (baseline)",
};

/* Written by the consumer process, read by the parent after waitpid. */
struct shared {
	struct timespec	end;
	uint64_t	got;
	uint64_t	sleeps;
	int		bad;
};

static struct shared *sh;
static double cpu_last;	/* CPU seconds (both processes) of the last run */

/* User + system CPU seconds of this process and its reaped children. */
static double
cpu_now(void)
{
	struct rusage s, c;

	getrusage(RUSAGE_SELF, &s);
	getrusage(RUSAGE_CHILDREN, &c);
	return (double)(s.ru_utime.tv_sec + s.ru_stime.tv_sec + c.ru_utime.tv_sec +
	    c.ru_stime.tv_sec) + (s.ru_utime.tv_usec + s.ru_stime.tv_usec +
	    c.ru_utime.tv_usec + c.ru_stime.tv_usec) / 1e6;
}
static int pin;		/* MOAT_BENCH_PIN=1: producer on CPU 0, consumer on CPU 1 */

static void
pin_to(int cpu)
{
	cpu_set_t set;

	if (!pin)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof set, &set);
}

static inline void
cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

static double
elapsed(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) + (b->tv_nsec - a->tv_nsec) / 1e9;
}

static void
mkbatch(struct mq_desc *d, unsigned b, uint64_t seq)
{
	unsigned i;

	for (i = 0; i < b; i++) {
		d[i].buf = (uint32_t)(seq + i);
		d[i].len = 60;
	}
}

/* The consumer's check: descriptor i of the run names buffer i. */
static int
check(const struct mq_desc *d, unsigned k, uint64_t seq)
{
	unsigned i;

	for (i = 0; i < k; i++)
		if (d[i].buf != (uint32_t)(seq + i))
			return -1;
	return 0;
}

static double
run_ring1(unsigned batch, uint64_t n)
{
	static uint8_t mem[5 * 64 + NSLOTS * 24] __attribute__((aligned(64)));
	struct mq_end p, c;
	struct mq_desc in[MAXBATCH], out[MAXBATCH];
	struct timespec t0, t1;
	uint64_t seq = 0;
	unsigned k;

	memset(in, 0, sizeof in);
	if (mq_ring_format(mem, sizeof mem, NSLOTS, sizeof in[0]) == -1 ||
	    mq_attach(&p, mem, sizeof mem, NSLOTS, sizeof in[0], MQ_PRODUCER, -1) == -1 ||
	    mq_attach(&c, mem, sizeof mem, NSLOTS, sizeof in[0], MQ_CONSUMER, -1) == -1)
		return -1;
	cpu_last = cpu_now();
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (seq < n) {
		mkbatch(in, batch, seq);
		mq_enqueue_burst(&p, in, batch);
		mq_kick(&p);
		k = mq_dequeue_burst(&c, out, batch);
		if (k != batch || check(out, k, seq) == -1)
			return -1;
		seq += k;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	cpu_last = cpu_now() - cpu_last;
	return (double)n / elapsed(&t0, &t1);
}

static int
ring_consumer(struct mq_end *c, int efd, unsigned batch, uint64_t n, int spin)
{
	struct mq_desc out[MAXBATCH];
	struct pollfd pfd = { .fd = efd, .events = POLLIN };
	uint64_t got = 0;
	unsigned k, spins = 0;

	while (got < n) {
		k = mq_dequeue_burst(c, out, batch);
		if (k == 0) {
			if (c->broken)
				return -1;
			if (spin && ++spins < spin_limit) {
				cpu_relax();
				continue;
			}
			spins = 0;
			if (mq_prepare_sleep(c)) {
				sh->sleeps++;
				if (poll(&pfd, 1, 10000) != 1)
					return -1;
				mq_wake_done(c);
			}
			continue;
		}
		spins = 0;
		if (check(out, k, got) == -1)
			return -1;
		got += k;
	}
	sh->got = got;
	return 0;
}

static void
ring_producer(struct mq_end *p, unsigned batch, uint64_t n)
{
	struct mq_desc in[MAXBATCH];
	uint64_t seq = 0;
	unsigned sent, k, spins;

	memset(in, 0, sizeof in);
	while (seq < n) {
		mkbatch(in, batch, seq);
		for (sent = 0, spins = 0; sent < batch; sent += k) {
			/* A full ring: nothing to sleep on, so spin, then yield. */
			if ((k = mq_enqueue_burst(p, in + sent, batch - sent)) == 0) {
				if (++spins % yield_every == 0)
					sched_yield();
				else
					cpu_relax();
			}
		}
		mq_kick(p);
		seq += batch;
	}
}

static int
sock_consumer(int fd, unsigned batch, uint64_t n, int stream)
{
	struct mq_desc out[MAXBATCH];
	size_t want = batch * sizeof out[0], have;
	uint64_t got = 0;
	ssize_t r;

	while (got < n) {
		for (have = 0; have < want; have += (size_t)r) {
			r = read(fd, (uint8_t *)out + have, want - have);
			if (r <= 0 || (!stream && (size_t)r != want))
				return -1;
		}
		if (check(out, batch, got) == -1)
			return -1;
		got += batch;
	}
	sh->got = got;
	return 0;
}

static int
sock_producer(int fd, unsigned batch, uint64_t n)
{
	struct mq_desc in[MAXBATCH];
	size_t want = batch * sizeof in[0];
	uint64_t seq = 0;

	memset(in, 0, sizeof in);
	while (seq < n) {
		mkbatch(in, batch, seq);
		/* One system call per batch; pipes write <= PIPE_BUF whole. */
		if (write(fd, in, want) != (ssize_t)want)
			return -1;
		seq += batch;
	}
	return 0;
}

/* Two processes; returns descriptors per second, or -1. */
static double
run_two(enum method m, unsigned batch, uint64_t n)
{
	struct mq_end e;
	struct timespec t0;
	size_t len = mq_ring_bytes(NSLOTS, sizeof(struct mq_desc));
	void *mem = NULL;
	int fds[2] = { -1, -1 }, mfd = -1, efd = -1, status, rc;
	pid_t pid;

	memset(sh, 0, sizeof *sh);
	if (m == M_RING2 || m == M_RING2_SLEEP) {
		if ((mfd = memfd_create("bench_ring", MFD_CLOEXEC)) == -1 ||
		    ftruncate(mfd, (off_t)len) == -1 ||
		    (mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED,
		    mfd, 0)) == MAP_FAILED ||
		    mq_ring_format(mem, len, NSLOTS, sizeof(struct mq_desc)) == -1 ||
		    (efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1)
			return -1;
	} else if (m == M_SOCK) {
		if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, fds) == -1)
			return -1;
	} else if (pipe(fds) == -1)
		return -1;

	fflush(stdout);
	cpu_last = cpu_now();
	if ((pid = fork()) == -1)
		return -1;
	if (pid == 0) {
		alarm(120);
		pin_to(1);
		if (m == M_RING2 || m == M_RING2_SLEEP) {
			if (mq_attach(&e, mem, len, NSLOTS, sizeof(struct mq_desc),
			    MQ_CONSUMER, efd) == -1)
				_exit(1);
			rc = ring_consumer(&e, efd, batch, n, m == M_RING2);
		} else {
			close(fds[1]);
			rc = sock_consumer(fds[0], batch, n, m == M_PIPE);
		}
		clock_gettime(CLOCK_MONOTONIC, &sh->end);
		sh->bad = rc == -1;
		_exit(rc == -1);
	}
	pin_to(0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = 0;
	if (m == M_RING2 || m == M_RING2_SLEEP) {
		if (mq_attach(&e, mem, len, NSLOTS, sizeof(struct mq_desc),
		    MQ_PRODUCER, efd) == -1)
			rc = -1;
		else
			ring_producer(&e, batch, n);
	} else {
		close(fds[0]);
		rc = sock_producer(fds[1], batch, n);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0 || sh->bad || sh->got != n)
		rc = -1;
	cpu_last = cpu_now() - cpu_last;
	if (mem != NULL)
		munmap(mem, len);
	if (mfd != -1)
		close(mfd);
	if (efd != -1)
		close(efd);
	if (fds[1] != -1)
		close(fds[1]);
	if (rc == -1)
		return -1;
	return (double)n / elapsed(&t0, &sh->end);
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int
main(void)
{
	static const unsigned batches[] = { 1, 32 };
	double res[M_COUNT][2], r[9], cpu[M_COUNT][2], c[9];
	uint64_t nfast = 4000000, n;
	char load[64] = "?";
	FILE *f;
	unsigned reps = 3, bi, m, i;
	uint64_t sleeps[M_COUNT][2];
	const char *env;
	int failed = 0;

	if ((env = getenv("MOAT_BENCH_N")) != NULL && strtoull(env, NULL, 10) > 0)
		nfast = strtoull(env, NULL, 10);
	pin = (env = getenv("MOAT_BENCH_PIN")) != NULL && atoi(env) == 1;
	if ((env = getenv("MOAT_BENCH_SPINS")) != NULL)
		spin_limit = (unsigned)atoi(env);
	if ((env = getenv("MOAT_BENCH_REPS")) != NULL && atoi(env) > 0 && atoi(env) <= 9)
		reps = (unsigned)atoi(env);
	sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		return 1;

	for (bi = 0; bi < 2; bi++) {
		for (m = 0; m < M_COUNT; m++) {
			/* A system call per descriptor is slow: fewer of them. */
			n = nfast;
			if (batches[bi] == 1 && (m == M_SOCK || m == M_PIPE ||
			    m == M_RING2_SLEEP))
				n = nfast / 8;
			n -= n % MAXBATCH;
			sleeps[m][bi] = 0;
			for (i = 0; i < reps; i++) {
				r[i] = m == M_RING1 ? run_ring1(batches[bi], n) :
				    run_two(m, batches[bi], n);
				if (r[i] < 0) {
					printf("# %s, batch %u: FAILED (lost or reordered descriptors)\n",
					    method_name[m], batches[bi]);
					failed = 1;
				}
				sleeps[m][bi] += m == M_RING1 ? 0 : sh->sleeps;
				c[i] = cpu_last * 1e9 / (double)n;
			}
			qsort(r, reps, sizeof r[0], cmp_double);
			qsort(c, reps, sizeof c[0], cmp_double);
			res[m][bi] = r[reps / 2];
			cpu[m][bi] = c[reps / 2];
			sleeps[m][bi] /= reps;
		}
	}

	if ((f = fopen("/proc/loadavg", "r")) != NULL) {
		if (fgets(load, sizeof load, f) != NULL)
			load[strcspn(load, "\n")] = '\0';
		fclose(f);
	}
	printf("descriptors (24 bytes) per second, median of %u runs, %llu (syscall"
	    " baselines at batch 1: %llu) per run, %d CPUs, %s, load %s\n", reps,
	    (unsigned long long)nfast, (unsigned long long)nfast / 8,
	    (int)sysconf(_SC_NPROCESSORS_ONLN), pin ? "pinned" : "not pinned", load);
	printf("ratio = x socketpair; cpu = CPU ns per descriptor, both processes"
	    " (spinning counts);\nsleeps = consumer eventfd sleeps per run\n");
	printf("%-33s %8s %6s %6s %6s  %8s %6s %6s %6s\n", "method", "batch 1",
	    "ratio", "cpu", "sleeps", "batch 32", "ratio", "cpu", "sleeps");
	for (m = 0; m < M_COUNT; m++) {
		printf("%-33s", method_name[m]);
		for (bi = 0; bi < 2; bi++)
			printf(" %7.2fM %5.1fx %6.0f %6llu ", res[m][bi] / 1e6,
			    res[m][bi] / res[M_SOCK][bi], cpu[m][bi],
			    (unsigned long long)sleeps[m][bi]);
		printf("\n");
	}
	return failed;
}
