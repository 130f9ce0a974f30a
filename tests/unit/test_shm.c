/*
 * test_shm.c: a daemon's side of the shared queues (common/shm.c) with
 * memfds made here as the supervisor makes them: who may map which
 * region, who may attach which end with which element size, and that a
 * broken ring makes the daemon exit naming it.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "t.h"
#include "flowreq.h"
#include "shm.h"

#define NSLOTS	16

static struct msg m;

/* A region as daemons.c lays it out: its rings, then (packets) a pool. */
static int
region_msg(enum queue_region r, int seal, int with_pool, struct msg_queues *q)
{
	uint64_t off = 0;
	int fd;

	memset(q, 0, sizeof *q);
	q->region = r;
	q->nrings = RING_COUNT;
	for (int i = 0; i < RING_COUNT; i++) {
		if (ring_table[i].region != r)
			continue;
		q->ring[i].off = off;
		q->ring[i].nslots = NSLOTS;
		q->ring[i].elemsz = ring_table[i].elemsz;
		off += mq_ring_bytes(NSLOTS, ring_table[i].elemsz);
	}
	off = (off + 4095) & ~(uint64_t)4095;
	q->pool_off = off;
	if (with_pool) {
		q->nbufs = 4;
		q->bufsz = 2048;
		q->own_count = 4;
	}
	q->shm_size = off + (uint64_t)q->nbufs * q->bufsz;
	if ((fd = memfd_create("test-shm", MFD_CLOEXEC | MFD_ALLOW_SEALING)) < 0 ||
	    ftruncate(fd, (off_t)q->shm_size) < 0)
		return -1;
	if (seal && fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0)
		return -1;
	{
		uint8_t *mem = mmap(NULL, off, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

		if (mem == MAP_FAILED)
			return -1;
		for (int i = 0; i < RING_COUNT; i++)
			if (ring_table[i].region == r &&
			    mq_ring_format(mem + q->ring[i].off, off - q->ring[i].off,
			    NSLOTS, ring_table[i].elemsz) < 0)
				return -1;
		munmap(mem, off);
	}
	m.hdr.type = MSG_QUEUES;
	m.hdr.len = sizeof *q;
	memcpy(m.data, q, sizeof *q);
	m.fd = fd;
	return 0;
}

static void
eventfd_msg(enum ring_id r, uint32_t role)
{
	struct msg_eventfd e = { .ring = r, .role = role };

	m.hdr.type = MSG_EVENTFD;
	m.hdr.len = sizeof e;
	memcpy(m.data, &e, sizeof e);
	m.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

/* policyd is at no end of a packet ring: it never maps the pool. */
static void
test_regions_by_daemon(void)
{
	struct msg_queues q;
	struct shm s;

	memset(&s, 0, sizeof s);
	T_ASSERT(region_msg(QREGION_PACKETS, 1, 1, &q) == 0);
	T_EXPECT(shm_map(&s, &m, QR_BIT(QREGION_FLOWS)) == -1);	/* policyd */
	T_EXPECT(s.reg[QREGION_PACKETS].base == NULL && s.pool.base == NULL);
	T_ASSERT(region_msg(QREGION_FLOWS, 1, 0, &q) == 0);
	T_EXPECT(shm_map(&s, &m, QR_BIT(QREGION_PACKETS)) == -1);	/* netbackd */
	T_ASSERT(region_msg(QREGION_FLOWS, 1, 0, &q) == 0);
	T_EXPECT(shm_map(&s, &m, QR_BIT(QREGION_FLOWS)) == 0);
	/* once only */
	T_ASSERT(region_msg(QREGION_FLOWS, 1, 0, &q) == 0);
	T_EXPECT(shm_map(&s, &m, QR_BIT(QREGION_FLOWS)) == -1);
	/* policyd attaches its two ends, nothing of the packet rings */
	eventfd_msg(RING_FLOWREQ, MQ_CONSUMER);
	T_EXPECT(shm_attach_end(&s, &m, PROC_POLICYD) == RING_FLOWREQ);
	eventfd_msg(RING_VERDICT, MQ_PRODUCER);
	T_EXPECT(shm_attach_end(&s, &m, PROC_POLICYD) == RING_VERDICT);
	eventfd_msg(RING_RX, MQ_CONSUMER);
	T_EXPECT(shm_attach_end(&s, &m, PROC_POLICYD) == -1);
	eventfd_msg(RING_TX, MQ_PRODUCER);
	T_EXPECT(shm_attach_end(&s, &m, PROC_POLICYD) == -1);
}

/* A memfd that could still shrink, a flow region with a pool: refused. */
static void
test_refused_layouts(void)
{
	struct msg_queues q;
	struct shm s;

	memset(&s, 0, sizeof s);
	T_ASSERT(region_msg(QREGION_PACKETS, 0, 1, &q) == 0);
	T_EXPECT(shm_map(&s, &m, QR_BIT(QREGION_PACKETS)) == -1);
	T_ASSERT(region_msg(QREGION_FLOWS, 1, 1, &q) == 0);
	T_EXPECT(shm_map(&s, &m, QR_BIT(QREGION_FLOWS)) == -1);
	T_ASSERT(region_msg(QREGION_PACKETS, 1, 0, &q) == 0);
	T_EXPECT(shm_map(&s, &m, QR_BIT(QREGION_PACKETS)) == -1);
	T_ASSERT(region_msg(QREGION_PACKETS, 1, 1, &q) == 0);
	((struct msg_queues *)m.data)->region = 0;
	T_EXPECT(shm_map(&s, &m, QR_BIT(QREGION_PACKETS)) == -1);
}

/*
 * netbackd checks the element size of TX (and RX) against its own, as
 * natd and policyd do: a layout naming another size is not attached.
 */
static void
test_element_size_and_role(void)
{
	struct msg_queues q;
	struct shm s;

	memset(&s, 0, sizeof s);
	T_ASSERT(region_msg(QREGION_PACKETS, 1, 1, &q) == 0);
	((struct msg_queues *)m.data)->ring[RING_TX].elemsz = 32;
	T_ASSERT(shm_map(&s, &m, QR_BIT(QREGION_PACKETS)) == 0);
	eventfd_msg(RING_TX, MQ_CONSUMER);
	T_EXPECT(shm_attach_end(&s, &m, PROC_NETBACKD) == -1);
	T_EXPECT(!s.attached[RING_TX]);
	/* the wrong end of a ring of ours */
	eventfd_msg(RING_RX, MQ_CONSUMER);
	T_EXPECT(shm_attach_end(&s, &m, PROC_NETBACKD) == -1);
	eventfd_msg(RING_RX, MQ_PRODUCER);
	T_EXPECT(shm_attach_end(&s, &m, PROC_NETBACKD) == RING_RX);
	eventfd_msg(RING_RX, MQ_PRODUCER);
	T_EXPECT(shm_attach_end(&s, &m, PROC_NETBACKD) == -1);	/* twice */
}

/* Run shm_check_rings in a child after breaking ring r from the peer's
 * side; returns its exit status (-1 when it did not exit). */
static int
check_in_child(enum ring_id r, enum proc_id self, int role)
{
	struct msg_queues q;
	struct shm s;
	struct mq_end *e;
	int status;
	pid_t pid;

	memset(&s, 0, sizeof s);
	if (region_msg(ring_table[r].region, 1, ring_table[r].region == QREGION_PACKETS, &q) < 0 ||
	    shm_map(&s, &m, QR_BIT(ring_table[r].region)) < 0)
		return -2;
	eventfd_msg(r, (uint32_t)role);
	if (shm_attach_end(&s, &m, self) != (int)r)
		return -3;
	e = &s.ring[r];
	if ((pid = fork()) == 0) {
		uint8_t el[MQ_MAX_ELEMSZ];

		shm_check_rings(&s, self);	/* sound: returns */
		/* The peer's index jumps more than a ring away from ours. */
		if (role == MQ_CONSUMER) {
			__atomic_store_n(&e->hdr->prod, e->mine + NSLOTS + 1, __ATOMIC_RELEASE);
			(void)mq_dequeue_burst(e, el, 1);
		} else {
			__atomic_store_n(&e->hdr->cons, e->mine - NSLOTS - 1, __ATOMIC_RELEASE);
			(void)mq_free(e);
		}
		shm_check_rings(&s, self);
		_exit(0);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static void
test_broken_ring_exits_naming_it(void)
{
	T_EQ_INT(check_in_child(RING_RX, PROC_NATD, MQ_CONSUMER), EXIT_RING_BROKEN + RING_RX);
	T_EQ_INT(check_in_child(RING_TX, PROC_NETBACKD, MQ_CONSUMER), EXIT_RING_BROKEN + RING_TX);
	T_EQ_INT(check_in_child(RING_RX, PROC_NETBACKD, MQ_PRODUCER), EXIT_RING_BROKEN + RING_RX);
	T_EQ_INT(check_in_child(RING_FLOWREQ, PROC_POLICYD, MQ_CONSUMER),
	    EXIT_RING_BROKEN + RING_FLOWREQ);
	T_EQ_INT(check_in_child(RING_VERDICT, PROC_NATD, MQ_CONSUMER),
	    EXIT_RING_BROKEN + RING_VERDICT);
	T_EQ_INT(check_in_child(RING_VERDICT, PROC_POLICYD, MQ_PRODUCER),
	    EXIT_RING_BROKEN + RING_VERDICT);
}

/* The table the supervisor and the daemons share: each ring's peer. */
static void
test_ring_peers(void)
{
	T_EQ_INT(ring_peer(RING_RX, PROC_NATD), PROC_NETBACKD);
	T_EQ_INT(ring_peer(RING_TX, PROC_NETBACKD), PROC_NATD);
	T_EQ_INT(ring_peer(RING_FLOWREQ, PROC_POLICYD), PROC_NATD);
	T_EQ_INT(ring_peer(RING_VERDICT, PROC_NATD), PROC_POLICYD);
	/* nobody accuses across a ring it is not an end of */
	T_EQ_INT(ring_peer(RING_RX, PROC_POLICYD), PROC_MOAT);
	T_EQ_INT(ring_peer(RING_FLOWREQ, PROC_NETBACKD), PROC_MOAT);
	T_EQ_INT(ring_peer(RING_VERDICT, PROC_AGENTD), PROC_MOAT);
	for (int i = 0; i < RING_COUNT; i++)
		T_EXPECT(ring_table[i].producer != PROC_POLICYD ||
		    ring_table[i].region == QREGION_FLOWS);
}

int
main(void)
{
	signal(SIGPIPE, SIG_IGN);
	T_RUN(test_regions_by_daemon);
	T_RUN(test_refused_layouts);
	T_RUN(test_element_size_and_role);
	T_RUN(test_broken_ring_exits_naming_it);
	T_RUN(test_ring_peers);
	return t_done();
}
