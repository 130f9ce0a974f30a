/*
 * flows.c: requests in, verdicts out (see policyd.h).
 */
#include <arpa/inet.h>
#include <string.h>

#include "log.h"
#include "policyd.h"

static void
flush(struct pd_flows *pf)
{
	unsigned n;

	if (pf->nout == 0)
		return;
	n = mq_enqueue_burst(pf->ver, pf->outq, pf->nout);
	if (n > 0) {
		memmove(pf->outq, pf->outq + n, (pf->nout - n) * sizeof pf->outq[0]);
		pf->nout -= n;
		mq_kick(pf->ver);
	}
}

/* Rules with "log": true log at info; with debug on, every decision is
 * logged at debug (rate-limited per client either way). */
static void
logged(const struct flow_req *q, const struct flow_verdict *v)
{
	char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];
	int af = q->family == 4 ? AF_INET : AF_INET6;
	static const char *const act[] = { "?", "accept", "drop", "reject" };

	inet_ntop(af, q->src, s, sizeof s);
	inet_ntop(af, q->dst, d, sizeof d);
	if (v->log)
		log_rlk(q->port, LOG_LVL_INFO, "rule %u: %s proto %u %s:%u -> %s:%u%s",
		    v->rule, act[v->action <= 3 ? v->action : 0], q->proto, s,
		    q->sport, d, q->dport, q->flags & FREQ_RECHECK ? " (re-check)" : "");
	else
		log_rlk(q->port, LOG_LVL_DEBUG, "flow: %s proto %u %s:%u -> %s:%u "
		    "(rule %u)%s", act[v->action <= 3 ? v->action : 0], q->proto,
		    s, q->sport, d, q->dport, v->rule,
		    q->flags & FREQ_RECHECK ? " (re-check)" : "");
}

static void
out(struct pd_flows *pf, const struct flow_req *q, const struct flow_verdict *v)
{
	if (v->log || log_getlevel() >= LOG_LVL_DEBUG)
		logged(q, v);
	switch (v->action) {
	case VERDICT_ACCEPT:
		pf->eng->naccept++;
		break;
	case VERDICT_REJECT:
		pf->eng->nreject++;
		break;
	default:
		pf->eng->ndrop++;
	}
	pf->outq[pf->nout++] = *v;
}

unsigned
pd_flows_step(struct pd_flows *pf, uint64_t now_ms, int64_t now)
{
	struct flow_req reqs[PD_BURST];
	struct flow_verdict v;
	unsigned room, n, i;

	flush(pf);
	if (pf->nout > 0)
		return 0;	/* natd is behind: leave requests in the ring */
	room = mq_free(pf->ver);
	n = mq_dequeue_burst(pf->req, reqs, room < PD_BURST ? room : PD_BURST);
	for (i = 0; i < n; i++) {
		/* A learning natd queued ahead of the flows it may open */
		if (reqs[i].flags & FREQ_LEARN) {
			engine_learn(pf->eng, &reqs[i], now_ms);
			continue;
		}
		pf->nflows++;
		if (engine_decide(pf->eng, &reqs[i], now_ms, now, 0, &v)) {
			out(pf, &reqs[i], &v);
			continue;
		}
		if (pf->npending == PD_MAX_PENDING) {
			/* Too many flows waiting for names: refuse this one
			 * silently; the client's retry gets another chance. */
			pf->nfull++;
			log_rl(LOG_LVL_WARN, "%u flows already wait for DNS "
			    "answers: dropping a new one", PD_MAX_PENDING);
			v.action = VERDICT_DROP;
			v.rule = RULE_ID_DEFAULT;
			v.log = 0;
			out(pf, &reqs[i], &v);
			continue;
		}
		pf->nwaited++;
		pf->pending[pf->npending].req = reqs[i];
		pf->pending[pf->npending++].deadline = now_ms + PD_DNS_WAIT_MS;
	}
	flush(pf);
	return n;
}

void
pd_flows_retry(struct pd_flows *pf, uint64_t now_ms, int64_t now)
{
	struct flow_verdict v;
	uint32_t i = 0;

	/* outq has room for every waiting flow (its size says so) */
	while (i < pf->npending) {
		struct pd_pending *p = &pf->pending[i];

		if (engine_decide(pf->eng, &p->req, now_ms, now,
		    now_ms >= p->deadline, &v)) {
			out(pf, &p->req, &v);
			*p = pf->pending[--pf->npending];
		} else
			i++;
	}
	flush(pf);
}

uint64_t
pd_flows_deadline(const struct pd_flows *pf)
{
	uint64_t d = 0;
	uint32_t i;

	for (i = 0; i < pf->npending; i++)
		if (d == 0 || pf->pending[i].deadline < d)
			d = pf->pending[i].deadline;
	return d;
}
