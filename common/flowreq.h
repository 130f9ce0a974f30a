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

#define FREQ_RECHECK	0x01	/* an established flow re-evaluated after a rule change */

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
