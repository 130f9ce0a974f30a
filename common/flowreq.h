/*
 * flowreq.h: the records natd and policyd exchange over their shared rings.
 *
 * natd sends the first packet's 5-tuple of every new flow (and, after a
 * rule change, of every existing flow it must re-check); policyd answers
 * with a verdict carrying natd's sequence number. Both sides treat the
 * other's records as untrusted input: natd drops a verdict whose seq names
 * no pending flow, policyd ignores fields it does not understand.
 */
#ifndef MOAT_FLOWREQ_H
#define MOAT_FLOWREQ_H

#include <stdint.h>
#include <assert.h>
#include <stddef.h>

#define FREQ_RECHECK	0x01	/* an established flow re-evaluated after a rule change */
#define FREQ_LEARN	0x02	/* not a flow: a struct flow_learn record */

struct flow_req {
	uint32_t	seq;		/* natd's id for the pending decision */
	uint16_t	port;		/* client link the flow came from */
	uint8_t		family;		/* 4 or 6 */
	uint8_t		proto;		/* IPPROTO_* */
	uint8_t		src[16];	/* client address; IPv4 in the first 4 bytes, network order */
	uint8_t		dst[16];	/* destination as the client sent it (before any NAT) */
	uint16_t	sport;		/* host order; 0 when the protocol has no ports */
	uint16_t	dport;
	uint8_t		icmp_type;
	uint8_t		icmp_code;
	uint8_t		flags;		/* FREQ_* */
	uint8_t		pad;
};
static_assert(sizeof(struct flow_req) == 48, "flow_req is 48 bytes");

/*
 * What a client learned from an answer moat relayed (natd/nat_dnslearn.c),
 * for the wildcard "dsthost" rules (policyd/names.c). Sent on the FLOWREQ
 * ring, where flow requests go, so that policyd has it before it sees the
 * client's first packet to the address (natd enqueues it before it hands
 * the answer to the client; one producer, first in first out). A group:
 * LEARN_BEGIN (client port, TTL), the names of the CNAME chain in chunks
 * (LEARN_NAME, the last chunk of each LEARN_NAME_END), then one LEARN_ADDR
 * per address; each LEARN_ADDR teaches every name of its group. policyd
 * treats every field as hostile: a record out of place drops its group.
 * No verdict answers these.
 */
enum { LEARN_BEGIN = 1, LEARN_NAME, LEARN_NAME_END, LEARN_ADDR };
#define LEARN_CHUNK	38
struct flow_learn {
	uint32_t	ttl;		/* LEARN_BEGIN: seconds, as the answer said */
	uint16_t	port;		/* the client whose query this answered */
	uint8_t		family;		/* LEARN_ADDR: 4 or 6 */
	uint8_t		kind;		/* LEARN_* */
	uint8_t		data[LEARN_CHUNK];	/* name bytes, or the address */
	uint8_t		flags;		/* FREQ_LEARN, where flow_req has flags */
	uint8_t		len;		/* LEARN_NAME*: bytes of data used */
};
static_assert(sizeof(struct flow_learn) == 48, "flow_learn is a flow_req's size");
static_assert(offsetof(struct flow_learn, flags) == offsetof(struct flow_req, flags),
    "flags at the same place in both records");

enum verdict_action {
	VERDICT_ACCEPT = 1,
	VERDICT_DROP = 2,	/* silent */
	VERDICT_REJECT = 3,	/* TCP RST, or ICMP admin-prohibited */
};

/* flow_verdict.rule: which rule decided. Below RULE_ID_QUBES, the index
 * of a JSON rule (policyd/jrules.c); natd shows it in moat.Flows. */
#define RULE_ID_QUBES		0x8000	/* | the Qubes rule's 4-digit key */
#define RULE_ID_QPOLICY		0xfffe	/* the Qubes policy key */
#define RULE_ID_DEFAULT		0xffff	/* no rule: fail closed, inter-VM default */

struct flow_verdict {
	uint32_t	seq;		/* echoes flow_req.seq */
	uint8_t		action;		/* enum verdict_action */
	uint8_t		log;		/* the matching rule asked for logging */
	uint16_t	rule;		/* index of the matching rule, 0xffff for the default */
	uint32_t	generation;	/* rule-set generation the verdict was made under */
	uint32_t	pad;
};
static_assert(sizeof(struct flow_verdict) == 16, "flow_verdict is 16 bytes");

#endif
