/*
 * shm.c: mapping the supervisor's shared queues in a daemon.
 */
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "log.h"
#include "shm.h"

int
shm_map(struct shm *s, const struct msg *m)
{
	struct stat st;
	void *p;

	if (msg_get(m, MSG_QUEUES, &s->q, sizeof s->q) < 0 || m->fd < 0)
		return -1;
	if (fstat(m->fd, &st) < 0 || (uint64_t)st.st_size != s->q.shm_size ||
	    s->q.pool_off > s->q.shm_size || s->q.bufsz == 0 || s->q.bufsz > MQ_MAX_BUFSZ ||
	    (s->q.shm_size - s->q.pool_off) / s->q.bufsz < s->q.nbufs ||
	    s->q.nrings > MSG_QUEUES_MAX_RINGS ||
	    (uint64_t)s->q.own_first + s->q.own_count > s->q.nbufs) {
		log_warnx("shared queues: layout does not fit the memory");
		close(m->fd);
		return -1;
	}
	p = mmap(NULL, s->q.shm_size, PROT_READ | PROT_WRITE, MAP_SHARED, m->fd, 0);
	close(m->fd);
	if (p == MAP_FAILED) {
		log_warn("mapping the shared queues");
		return -1;
	}
	s->base = p;
	s->size = s->q.shm_size;
	s->pool.base = s->base + s->q.pool_off;
	s->pool.nbufs = s->q.nbufs;
	s->pool.bufsz = s->q.bufsz;
	return 0;
}

int
shm_attach_end(struct shm *s, const struct msg *m)
{
	struct msg_eventfd e;
	uint64_t off;

	if (msg_get(m, MSG_EVENTFD, &e, sizeof e) < 0 || m->fd < 0)
		return -1;
	if (s->base == NULL || e.ring >= RING_COUNT || e.ring >= s->q.nrings ||
	    (e.role != MQ_PRODUCER && e.role != MQ_CONSUMER) || s->attached[e.ring]) {
		close(m->fd);
		return -1;
	}
	off = s->q.ring[e.ring].off;
	if (off >= s->q.pool_off ||
	    mq_attach(&s->ring[e.ring], s->base + off, s->q.pool_off - off,
	    s->q.ring[e.ring].nslots, s->q.ring[e.ring].elemsz, (int)e.role, m->fd) < 0) {
		log_warnx("ring %u: cannot attach", e.ring);
		close(m->fd);
		return -1;
	}
	s->attached[e.ring] = 1;
	return (int)e.ring;
}
