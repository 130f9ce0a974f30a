/*
 * names.h: the names each client learned from the DNS answers moat
 * relayed to it (natd/nat_dnslearn.c), for the JSON rules' wildcard
 * "dsthost" ("*.example.org"; docs/rules.md, *Wildcard names*).
 *
 * natd sends each learning as a group of FREQ_LEARN records on the FLOWREQ
 * ring (common/flowreq.h), ahead of the client's flows. Every field is
 * hostile: a group names one client port and teaches only that client's
 * table; a bad record drops its group. A table holds at most NT_QUOTA
 * (name, address) pairs per client, allocated when the client first
 * learns something; a full table reuses an expired entry, else evicts the
 * oldest (counted). Each learning lasts its answer's TTL, clamped to
 * [ttl_min, ttl_max]. An expired one no longer opens new flows but still
 * keeps, on the re-check after a rule change, a flow it opened
 * (FREQ_RECHECK), until its slot is reused.
 */
#ifndef MOAT_POLICYD_NAMES_H
#define MOAT_POLICYD_NAMES_H

#include <stddef.h>
#include <stdint.h>

#include "flowreq.h"
#include "ring.h"

#define NT_QUOTA	512	/* (name, address) pairs per client */
#define NT_BUCKETS	1024	/* address hash heads per client, 2 * NT_QUOTA */
#define NT_NAME_MAX	253
#define NT_GROUP_NAMES	8	/* names of one CNAME chain (natd's DNS_CHAIN_MAX) */
#define NT_TTL_MIN	5	/* seconds: defaults of the document's "learn" */
#define NT_TTL_MAX	3600
#define NT_TTL_LIMIT	86400	/* the most "learn" may say */
#define NT_NIL		UINT32_MAX

struct nt_entry {
	uint64_t	expire_ms;	/* monotonic */
	uint64_t	stamp;		/* learned (or learned again) as the stamp-th; 0 free */
	uint32_t	next;		/* same address hash, NT_NIL ends */
	uint8_t		family;
	uint8_t		namelen;
	uint8_t		addr[16];
	char		name[NT_NAME_MAX + 1];	/* lowercase, dotted */
};

struct nt_client {
	uint32_t	n;		/* entries used */
	uint32_t	head[NT_BUCKETS];
	struct nt_entry	ent[NT_QUOTA];
};

struct nametab {
	struct nt_client *c[MQ_PORT_MAX];
	uint64_t	 stamp;
	/* counters (moat.GetRules "learned") */
	uint64_t	 learned, evicted, refused;
	/* the group being received */
	struct {
		int	 active;
		uint16_t port;
		uint32_t ttl;
		uint32_t nnames;
		size_t	 len;		/* of the name being received */
		char	 names[NT_GROUP_NAMES][NT_NAME_MAX + 1];
	}		 g;
};

void	nt_init(struct nametab *t);
void	nt_free(struct nametab *t);
/*
 * One FREQ_LEARN record from the ring. up(port) says whether a client is
 * on that port now; ttl_min/ttl_max clamp the answer's TTL.
 */
void	nt_record(struct nametab *t, const struct flow_learn *r, uint64_t now_ms,
	    uint32_t ttl_min, uint32_t ttl_max,
	    int (*up)(const void *arg, uint16_t port), const void *arg);
/* Teach port's client that name (valid, lowercase) is at addr. 0 or -1. */
int	nt_add(struct nametab *t, uint16_t port, const char *name, int family,
	    const uint8_t *addr, uint32_t ttl_s, uint64_t now_ms);
/*
 * Did port's client learn, for addr, a name with at least one label
 * before suffix (lowercase, slen bytes)? Expired learnings count only for
 * a re-check (recheck != 0).
 */
int	nt_match(const struct nametab *t, uint16_t port, int family,
	    const uint8_t *addr, const char *suffix, size_t slen,
	    uint64_t now_ms, int recheck);
/* The client on port changed or left: its learnings go. */
void	nt_forget(struct nametab *t, uint16_t port);
/* Learnings held over all clients. */
uint64_t nt_count(const struct nametab *t);
/* A learned name's shape: lowercase labels of [a-z0-9_-], 1..63 bytes, at
 * most NT_NAME_MAX in all. 1 or 0. */
int	nt_name_ok(const char *s, size_t len);

#endif
