/*
 * shm.c: mapping the supervisor's shared queues in a daemon.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "flowreq.h"
#include "log.h"
#include "proc.h"
#include "shm.h"

/*
 * The split of the shared memory, in one place. policyd decides on flows
 * and never needs a frame: it is at no end of a packet ring, so it is
 * never given the packet region, and a compromised policyd can neither
 * read clients' packets nor queue frames for netbackd. netbackd is at no
 * end of a flow ring.
 */
const struct ring_spec ring_table[RING_COUNT] = {
	[RING_RX] = { "RX", PROC_NETBACKD, PROC_NATD, QREGION_PACKETS, sizeof(struct mq_desc) },
	[RING_TX] = { "TX", PROC_NATD, PROC_NETBACKD, QREGION_PACKETS, sizeof(struct mq_desc) },
	[RING_FLOWREQ] = { "FLOWREQ", PROC_NATD, PROC_POLICYD, QREGION_FLOWS, sizeof(struct flow_req) },
	[RING_VERDICT] = { "VERDICT", PROC_POLICYD, PROC_NATD, QREGION_FLOWS, sizeof(struct flow_verdict) },
};

enum proc_id
ring_peer(enum ring_id r, enum proc_id self)
{
	if ((unsigned)r >= RING_COUNT)
		return PROC_MOAT;
	if (ring_table[r].producer == self)
		return ring_table[r].consumer;
	if (ring_table[r].consumer == self)
		return ring_table[r].producer;
	return PROC_MOAT;
}

static int
layout_ok(const struct msg_queues *q, uint64_t real_size)
{
	if (real_size != q->shm_size || q->pool_off > q->shm_size ||
	    q->nrings > MSG_QUEUES_MAX_RINGS)
		return 0;
	if (q->region == QREGION_FLOWS)
		/* No pool, no buffers: nothing of a frame is ever here. */
		return q->nbufs == 0 && q->bufsz == 0 && q->own_first == 0 &&
		    q->own_count == 0;
	return q->bufsz != 0 && q->bufsz <= MQ_MAX_BUFSZ && q->nbufs != 0 &&
	    (q->shm_size - q->pool_off) / q->bufsz >= q->nbufs &&
	    (uint64_t)q->own_first + q->own_count <= q->nbufs;
}

int
shm_map(struct shm *s, const struct msg *m, unsigned regions)
{
	struct msg_queues q;
	struct stat st;
	int seals;
	void *p;

	if (msg_get(m, MSG_QUEUES, &q, sizeof q) < 0 || m->fd < 0)
		return -1;
	if (q.region == 0 || q.region >= QREGION_END || !(regions & QR_BIT(q.region)) ||
	    s->reg[q.region].base != NULL) {
		log_warnx("shared queues: region %u is not ours to map", q.region);
		close(m->fd);
		return -1;
	}
	/*
	 * A memfd that could still shrink would let whoever else holds it
	 * make our loads fault (SIGBUS); the supervisor seals it before
	 * handing it out.
	 */
	seals = fcntl(m->fd, F_GET_SEALS);
	if (fstat(m->fd, &st) < 0 || !layout_ok(&q, (uint64_t)st.st_size) ||
	    seals < 0 || (seals & (F_SEAL_SHRINK | F_SEAL_GROW)) != (F_SEAL_SHRINK | F_SEAL_GROW)) {
		log_warnx("shared queues: region %u: layout does not fit the memory, or not sealed",
		    q.region);
		close(m->fd);
		return -1;
	}
	p = mmap(NULL, q.shm_size, PROT_READ | PROT_WRITE, MAP_SHARED, m->fd, 0);
	close(m->fd);
	if (p == MAP_FAILED) {
		log_warn("mapping the shared queues");
		return -1;
	}
	s->reg[q.region].q = q;
	s->reg[q.region].base = p;
	s->reg[q.region].size = q.shm_size;
	if (q.region == QREGION_PACKETS) {
		s->pool.base = (uint8_t *)p + q.pool_off;
		s->pool.nbufs = q.nbufs;
		s->pool.bufsz = q.bufsz;
	}
	return 0;
}

int
shm_attach_end(struct shm *s, const struct msg *m, enum proc_id self)
{
	const struct ring_spec *rs;
	const struct shm_region *reg;
	struct msg_eventfd e;
	uint64_t off;

	if (msg_get(m, MSG_EVENTFD, &e, sizeof e) < 0 || m->fd < 0)
		return -1;
	if (e.ring >= RING_COUNT || s->attached[e.ring])
		goto refuse;
	rs = &ring_table[e.ring];
	/* Our end of it, as the table has it, and no other. */
	if (!((e.role == MQ_PRODUCER && rs->producer == self) ||
	    (e.role == MQ_CONSUMER && rs->consumer == self)))
		goto refuse;
	reg = &s->reg[rs->region];
	/* The element size we copy in and out is ours, not the message's. */
	if (reg->base == NULL || e.ring >= reg->q.nrings ||
	    reg->q.ring[e.ring].elemsz != rs->elemsz)
		goto refuse;
	off = reg->q.ring[e.ring].off;
	if (off >= reg->q.pool_off ||
	    mq_attach(&s->ring[e.ring], reg->base + off, reg->q.pool_off - off,
	    reg->q.ring[e.ring].nslots, rs->elemsz, (int)e.role, m->fd) < 0) {
		log_warnx("ring %s: cannot attach", rs->name);
		goto refuse;
	}
	s->attached[e.ring] = 1;
	return (int)e.ring;
refuse:
	close(m->fd);
	return -1;
}

void
shm_check_ring(struct shm *s, int r, enum proc_id self)
{
	if (!s->attached[r] || !s->ring[r].broken)
		return;
	/*
	 * Nothing the peer says on this ring can be trusted again,
	 * and our own state of it (our index) can no longer be
	 * squared with the shared one: only a fresh ring with fresh
	 * ends on both sides brings traffic back.
	 */
	log_warnx("ring %s broken by %s (its index is more than a ring "
	    "away from ours): exiting, the supervisor restarts us both",
	    ring_table[r].name, proc_table[ring_peer((enum ring_id)r, self)].name);
	exit(EXIT_RING_BROKEN + r);
}

void
shm_check_rings(struct shm *s, enum proc_id self)
{
	for (int r = 0; r < RING_COUNT; r++)
		shm_check_ring(s, r, self);
}

#ifdef MOAT_TEST_HOOKS
int
shm_test_break(struct shm *s, const struct msg *m)
{
	struct msg_test_ring t;
	struct mq_ring_hdr *h;
	struct mq_end *e;
	uint64_t one = 1;
	size_t sz;

	if (msg_get(m, MSG_TEST_RING, &t, sizeof t) < 0 || t.ring >= RING_COUNT ||
	    !s->attached[t.ring] || s->ring[t.ring].role != MQ_PRODUCER)
		return -1;
	e = &s->ring[t.ring];
	sz = mq_ring_bytes(e->nslots, e->elemsz);
	if ((h = aligned_alloc(MQ_CACHELINE, sz)) == NULL)
		return -1;
	/*
	 * Claim a ring and one more than we produced, as a compromised
	 * producer would. Release: pairs with A2 in ring.c, as R1 there
	 * does. The wake-up makes a sleeping consumer look now rather than
	 * at the next frame.
	 */
	__atomic_store_n(&e->hdr->prod, e->mine + e->nslots + 1, __ATOMIC_RELEASE);
	if (write(e->efd, &one, sizeof one) < 0)
		log_warn("test: waking the consumer of ring %s", ring_table[t.ring].name);
	/*
	 * From now on our end writes into private memory that nobody
	 * reads: the lie stays in the shared index for the consumer to
	 * find, and we do not find our own lie first (which would make
	 * the test's outcome a race between the two ends).
	 */
	memset(h, 0, sz);
	h->magic = MQ_MAGIC;
	h->nslots = e->nslots;
	h->elemsz = e->elemsz;
	h->prod = h->cons = e->mine;
	e->hdr = h;
	e->slots = (uint8_t *)h + sizeof *h;
	e->peer = e->mine;
	log_info("test: ring %s producer index corrupted", ring_table[t.ring].name);
	return 0;
}
#else
int
shm_test_break(struct shm *s, const struct msg *m)
{
	(void)s;
	(void)m;
	return -1;
}
#endif
