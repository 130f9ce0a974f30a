/*
 * nat_verdict.c: policyd's verdicts on pending flows, the re-check of
 * every flow after a rule change (cutting those now refused), and the
 * timer (gateway ARP, held fragments, DNS, the re-check's next slice,
 * the expiry sweep).
 */
#include <arpa/inet.h>
#include <string.h>

#include "log.h"
#include "nat_priv.h"

/* ---- verdicts and rule changes ---- */

/* Cut a flow the rules no longer allow (a forwarded one too: nat_forward.c). */
void
nat_cut_flow(struct nat_engine *e, uint32_t idx)
{
	struct ft_entry *f = &e->ft.ent[idx];
	char a[16], b[16];

	if (f->flags & FT_F_V6) {
		nat_cut6(e, idx);
		nat_flow_remove(e, idx, NAT_R_CUT);
		return;
	}
	log_info("port %u: %sflow %s > %s proto %u cut by new rules", f->cport,
	    f->kind == FT_K_FWD ? "forwarded " : "", ip4_str(f->csrc, a),
	    ip4_str(f->odst, b), f->proto);
	if (f->proto == IPPROTO_TCP_ && f->state == FT_ACTIVE &&
	    f->tcp != FT_TCP_CLOSED) {
		struct nat_link *l = &e->link[f->cport];

		/* RSTs each way, with the sequence number each side expects
		 * next: the last ACK that side itself sent. */
		if (l->up && l->ip == f->csrc && (f->flags & FT_F_REPLIED))
			nat_send_rst(e, f->cport, nat_client_mac(e, f->cport),
			    f->odst, f->csrc, f->dport, f->csport, f->c_ack);
		if (f->kind != FT_K_C2C && e->gw_known &&
		    e->link[MQ_PORT_UPLINK].up)
			nat_send_rst(e, MQ_PORT_UPLINK, e->gw_mac, f->nsrc,
			    f->rdst, f->nsport, f->dport, f->r_ack);
		else if (f->kind == FT_K_C2C) {
			uint16_t p = nat_port_of_ip(e, f->odst);

			if (p != 0)
				nat_send_rst(e, p, nat_client_mac(e, p),
				    f->csrc, f->odst, f->csport, f->dport,
				    f->r_ack);
		}
	}
	nat_flow_remove(e, idx, NAT_R_CUT);
}

void
nat_verdict(struct nat_engine *e, const struct flow_verdict *vd, uint64_t now)
{
	uint32_t idx = vd->seq & (FT_MAX_FLOWS - 1);
	struct ft_entry *f;
	struct nat_link *l;
	uint8_t act = vd->action;

	e->now_ms = now;
	if (!e->started || idx >= e->ft.nflows)
		return;
	f = &e->ft.ent[idx];
	if (f->state == FT_FREE || f->seq != vd->seq) {
		log_debug("stale verdict seq %u", vd->seq);
		return;
	}
	if (act != VERDICT_ACCEPT && act != VERDICT_DROP && act != VERDICT_REJECT) {
		log_rl(LOG_LVL_WARN, "verdict seq %u: bad action %u, dropping",
		    vd->seq, act);
		act = VERDICT_DROP;
	}
	l = &e->link[f->cport];
	if (f->state != FT_PENDING) {
		if (!(f->flags & FT_F_RECHECK))
			return;
		f->flags &= ~FT_F_RECHECK;
		if (act != VERDICT_ACCEPT)
			nat_cut_flow(e, idx);
		return;
	}
	l->npending--;
	f->last = now_s(e);
	f->state = act == VERDICT_ACCEPT ? FT_ACTIVE : FT_BLOCKED;
	/* what moat.Flows names as the deciding rule (policyd's numbering) */
	e->ft.cnt[idx].rule = vd->rule == FT_RULE_NONE ? RULE_ID_DEFAULT :
	    vd->rule;
	if (f->flags & FT_F_RECHECK) {
		f->flags &= ~FT_F_RECHECK;
		if (f->state == FT_ACTIVE) {
			if (nat_send_flowreq(e, idx, NULL, FREQ_RECHECK) == 0)
				f->flags |= FT_F_RECHECK;
			else {
				/* The ring is full: a lost re-check would leave
				 * the flow open under rules that may deny it.
				 * The re-check pass asks again from this flow
				 * on, at the next tick. */
				if (!e->recheck_active || e->recheck_cursor > idx)
					e->recheck_cursor = idx;
				e->recheck_active = 1;
			}
		}
	}
	if (log_getlevel() >= LOG_LVL_DEBUG && (f->flags & FT_F_V6)) {
		char a[46], b[46];

		log_debug("port %u: flow [%s]:%u > [%s]:%u proto %u: %s (rule %u)",
		    f->cport, ip6_str(e->ft.a6[idx].src, a), f->csport,
		    ip6_str(e->ft.a6[idx].dst, b), f->dport, f->proto,
		    act == VERDICT_ACCEPT ? "accept" : act == VERDICT_DROP ?
		    "drop" : "reject", vd->rule);
	} else if (log_getlevel() >= LOG_LVL_DEBUG) {
		char a[16], b[16];

		log_debug("port %u: flow %s:%u > %s:%u proto %u: %s (rule %u)",
		    f->cport, ip4_str(f->csrc, a), f->csport, ip4_str(f->odst, b),
		    f->dport, f->proto, act == VERDICT_ACCEPT ? "accept" :
		    act == VERDICT_DROP ? "drop" : "reject", vd->rule);
	}
	if (act == VERDICT_REJECT)
		f->flags |= FT_F_REJECT;
	/* Release the held frames in arrival order. */
	while (e->hold_head[idx] != FT_NIL) {
		uint32_t h = e->hold_head[idx];
		struct mq_desc d = e->hold[h].d;
		struct pkt_view v;

		e->hold_head[idx] = e->hold[h].next;
		e->hold[h].next = e->hold_free;
		e->hold_free = h;
		e->hold_n[idx]--;
		l->nheld--;
		if (pkt_parse(&v, nat_frame(e, &d), d.len) != PKT_OK) {
			nat_drop(e, &d, NULL, NAT_R_MALFORMED);
			continue;
		}
		if (f->state == FT_ACTIVE)
			nat_flow_forward_out(e, &d, &v, idx);
		else
			nat_blocked(e, &d, &v, f);
		if (f->state == FT_FREE)
			break;
	}
	e->hold_tail[idx] = FT_NIL;
	e->hold_n[idx] = 0;
}

/* Send re-check requests for as many flows as the ring takes. */
static void
recheck_run(struct nat_engine *e)
{
	while (e->recheck_active && e->recheck_cursor < e->ft.nflows) {
		uint32_t i = e->recheck_cursor;
		struct ft_entry *f = &e->ft.ent[i];

		if (f->kind == FT_K_FWD) {
			/* natd's forward table decides these (nat_forwards) */
		} else if (f->state == FT_ACTIVE) {
			if (nat_send_flowreq(e, i, NULL, FREQ_RECHECK) == -1)
				return;		/* ring full: resume next tick */
			f->flags |= FT_F_RECHECK;
		} else if (f->state == FT_PENDING) {
			/* Its verdict may follow the old rules: re-check it
			 * once it has one (nat_verdict). */
			f->flags |= FT_F_RECHECK;
		}
		e->recheck_cursor++;
	}
	e->recheck_active = 0;
}

void
nat_rules_changed(struct nat_engine *e, uint32_t generation, uint64_t now)
{
	uint32_t i;

	e->now_ms = now;
	e->rules_gen = generation;
	if (!e->started)
		return;
	/* Cached drop/reject verdicts are forgotten: the next packet asks
	 * policyd again under the new rules. */
	for (i = 0; i < e->ft.nflows; i++)
		if (e->ft.ent[i].state == FT_BLOCKED)
			nat_flow_remove(e, i, NAT_R_CUT);
	e->recheck_active = 1;
	e->recheck_cursor = 0;
	recheck_run(e);
}

/* ---- timers ---- */

void
nat_tick(struct nat_engine *e, uint64_t now)
{
	uint32_t i;

	e->now_ms = now;
	if (!e->started)
		return;
	if (e->have_nc && e->nc.gateway != 0 && e->nc.ip != 0 &&
	    e->link[MQ_PORT_UPLINK].up && now >= e->gw_next_arp_ms) {
		nat_send_gw_arp(e);
		/* Unanswered: retry each second; answered: refresh. The old
		 * MAC stays in use until a new one is learned. */
		e->gw_next_arp_ms = now + (e->gw_known ? NAT_ARP_REFRESH_MS :
		    NAT_ARP_RETRY_MS);
	}
	for (i = 0; i < MQ_PORT_MAX; i++) {
		struct nat_fraghold *hs = &e->fraghold[nat_fraghold_base((uint16_t)i)];
		uint32_t k, n = nat_fraghold_size((uint16_t)i);

		for (k = 0; k < n && e->nfraghold[i] > 0; k++) {
			struct nat_fraghold *h = &hs[k];

			if (h->used && now - h->since_ms >= NAT_FRAG_HOLD_MS) {
				h->used = 0;
				e->nfraghold[i]--;
				nat_drop(e, &h->d, NULL, NAT_R_FRAG);
			}
		}
	}
	nat_dns_tick(e);
	nat_ip6_tick(e);
	recheck_run(e);
	if (now - e->last_sweep_ms >= 1000) {
		e->last_sweep_ms = now;
		for (i = 0; i < e->ft.nflows; i++) {
			struct ft_entry *f = &e->ft.ent[i];

			if (f->state != FT_FREE && nat_flow_expired(e, f))
				nat_flow_remove(e, i, NAT_R_POLICY_TIMEOUT);
		}
	}
}
