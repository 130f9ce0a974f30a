/*
 * natd.h: the natd daemon around the engine: rings, control channel,
 * sandbox.
 */
#ifndef MOAT_NATD_H
#define MOAT_NATD_H

#include <stddef.h>
#include <stdint.h>

#include "nat.h"
#include "shm.h"

#define NATD_BURST	64	/* frames per RX burst */
#define NATD_VBURST	16	/* verdicts per burst (each may release 64 frames) */
#define NATD_TXQ	(NATD_VBURST * (NAT_HOLD_PER_FLOW + 2) + 4 * NATD_BURST + 256)
#define NATD_TICK_MS	100

struct natd {
	struct shm		 shm;
	struct nat_config	 cfg;
	struct nat_engine	*e;
	int			 started;
	void			*ft_mem;	/* MSG_FLOWTAB mapping */
	size_t			 ft_len;
	/* frames for netbackd, enqueued at the end of each burst */
	struct mq_desc		 txq[NATD_TXQ];
	unsigned		 ntxq;
	int			 flowreq_kick;
	uint64_t		 txq_overflow;
};

/* natd_ctl.c */
void	natd_options(struct nat_config *c, int argc, char **argv);
void	natd_control(struct natd *n);
int	natd_txq_room(const struct natd *n, unsigned need);
void	natd_flush(struct natd *n);

/* natd_sandbox.c */
struct sandbox_policy;
extern const struct sandbox_policy natd_sandbox_policy;

#endif
