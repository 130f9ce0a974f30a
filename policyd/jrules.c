/*
 * jrules.c: loading, checking and printing the JSON rules (see jrules.h
 * and docs/rules.md).
 */
#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forward.h"
#include "jrules.h"
#include "names.h"
#include "limit.h"
#include "qrule.h"

static int
valid_name(const char *s)
{
	size_t i, n = strlen(s);
	uint8_t a[4];

	if (n == 0 || n > JR_NAME_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_' ||
		    s[i] == '.'))
			return 0;
	/* A name that reads as an address would make "from" ambiguous. */
	return qr_parse_ip4(s, n, a) == -1;
}

/* A client given by name or IPv4 address: 0 and *ip (network order). */
int
jr_client_addr(const json_t *names, const char *s, uint32_t *ip)
{
	const json_t *v;
	uint8_t a[4];

	if (qr_parse_ip4(s, strlen(s), a) == 0) {
		memcpy(ip, a, 4);
		return *ip != 0 ? 0 : -1;
	}
	if (names == NULL || (v = json_object_get(names, s)) == NULL)
		return -1;
	/* names were checked to be IPv4 strings before any rule */
	if (qr_parse_ip4(json_string_value(v), json_string_length(v), a) == -1)
		return -1;
	memcpy(ip, a, 4);
	return 0;
}

/*
 * A wildcard "dsthost": "*." and a name of at least one label, each label
 * 1..63 letters, digits, '-' or '_' (any case: names match without it).
 * NULL, or what is wrong with it.
 */
static const char *
wildcard_problem(const char *s, size_t sl)
{
	size_t i, l = 0;

	if (sl == 1)
		return "\"*\" alone would match every name: give a domain, "
		    "e.g. \"*.example.org\"";
	if (sl < 3 || s[1] != '.')
		return "a wildcard is \"*.\" then a name, e.g. \"*.example.org\"";
	if (sl - 2 > NT_NAME_MAX - 2)
		return "longer than a name can be";
	for (i = 2; i < sl; i++) {
		char c = s[i];

		if (c == '*')
			return "only one \"*\", as the first label";
		if (c == '.') {
			if (l == 0)
				return "an empty label";
			l = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return "labels are letters, digits, '-' and '_'";
		if (++l > 63)
			return "a label longer than 63 bytes";
	}
	if (l == 0)
		return "an empty label";
	return NULL;
}

static const char *const fields[] = {
	"from", "action", "proto", "dst4", "dst6", "dsthost", "to", "dstports",
	"icmptype", "specialtarget", "log", "comment", "expire", "hits", NULL
};

static const struct qr_word actions[] = {
	{ "accept", VERDICT_ACCEPT }, { "drop", VERDICT_DROP },
	{ "reject", VERDICT_REJECT }, { NULL, 0 }
};
static const struct qr_word protos[] = {
	{ "tcp", IPPROTO_TCP }, { "udp", IPPROTO_UDP },
	{ "icmp", IPPROTO_ICMP }, { NULL, 0 }
};

static int
check_rule(size_t ri, json_t *o, const json_t *names, struct prule *p,
    size_t *hostbytes, char *err, size_t errlen)
{
	const char *key, *s;
	json_t *v;
	int i, ndst = 0, fam, w;
	size_t sl;

	if (!json_is_object(o))
		return qr_errf(err, errlen, "rule %zu: must be an object", ri);
	json_object_foreach(o, key, v) {
		for (i = 0; fields[i] != NULL; i++)
			if (strcmp(key, fields[i]) == 0)
				break;
		if (fields[i] == NULL)
			return qr_errf(err, errlen, "rule %zu: \"%.64s\": unknown field",
			    ri, key);
		if (strcmp(key, "log") == 0) {
			if (!json_is_boolean(v))
				return qr_errf(err, errlen, "rule %zu: \"log\": must "
				    "be true or false", ri);
		} else if (strcmp(key, "icmptype") == 0 ||
		    strcmp(key, "expire") == 0 || strcmp(key, "hits") == 0) {
			/* "hits": what GetRules counted; read back, ignored */
			if (!json_is_integer(v))
				return qr_errf(err, errlen, "rule %zu: \"%s\": must "
				    "be an integer", ri, key);
		} else if (strcmp(key, "dstports") == 0) {
			if (!json_is_string(v) && !json_is_integer(v))
				return qr_errf(err, errlen, "rule %zu: \"dstports\": "
				    "must be a string \"N\" or \"N-M\"", ri);
		} else if (!json_is_string(v))
			return qr_errf(err, errlen, "rule %zu: \"%s\": must be a "
			    "string", ri, key);
	}
	memset(p, 0, sizeof *p);
	p->id = (uint16_t)ri;

	if ((v = json_object_get(o, "from")) == NULL)
		return qr_errf(err, errlen, "rule %zu: \"from\": missing (a name, "
		    "an IPv4 address or \"*\")", ri);
	s = json_string_value(v);
	if (strcmp(s, "*") != 0 && jr_client_addr(names, s, &p->from) == -1)
		return qr_errf(err, errlen, "rule %zu: \"from\": \"%.64s\" is not "
		    "in \"names\", an IPv4 address or \"*\"", ri, s);

	if ((v = json_object_get(o, "action")) == NULL)
		return qr_errf(err, errlen, "rule %zu: \"action\": missing", ri);
	if ((w = qr_word(actions, json_string_value(v))) == -1)
		return qr_errf(err, errlen, "rule %zu: \"action\": must be "
		    "\"accept\", \"drop\", \"reject\" or \"forward\"", ri);
	p->action = (uint8_t)w;

	if ((v = json_object_get(o, "proto")) != NULL) {
		if ((w = qr_word(protos, json_string_value(v))) == -1)
			return qr_errf(err, errlen, "rule %zu: \"proto\": must be "
			    "\"tcp\", \"udp\" or \"icmp\"", ri);
		p->proto = (uint8_t)w;
	}

	/* dst4 then dst6: both given is refused below (ndst). */
	for (fam = 4; fam <= 6; fam += 2) {
		const char *k = fam == 4 ? "dst4" : "dst6";

		if ((v = json_object_get(o, k)) == NULL)
			continue;
		ndst++;
		if (qr_rule_prefix(ri, k, fam, json_string_value(v),
		    json_string_length(v), p->addr, &p->plen, err, errlen) == -1)
			return -1;
		p->dst = PD_NET;
		p->family = (uint8_t)fam;
	}
	if ((v = json_object_get(o, "dsthost")) != NULL) {
		uint8_t a[16];

		ndst++;
		s = json_string_value(v);
		sl = json_string_length(v);
		if (qr_parse_ip4(s, sl, a) == 0 || qr_parse_ip6(s, sl, a) == 0)
			return qr_errf(err, errlen, "rule %zu: \"dsthost\": is an "
			    "address: use \"dst4\" or \"dst6\"", ri);
		if (memchr(s, '*', sl) != NULL) {
			const char *why;

			if (strlen(s) != sl || s[0] != '*')
				why = "only one \"*\", as the first label";
			else
				why = wildcard_problem(s, sl);
			if (why != NULL)
				return qr_errf(err, errlen, "rule %zu: \"dsthost\": "
				    "\"%.80s\": %s", ri, s, why);
			p->dst = PD_NAME;
			p->hostlen = (uint16_t)(sl - 2);
			*hostbytes += sl - 1;
			goto host_done;
		}
		if (qr_valid_host(s, sl) == -1 || strlen(s) != sl)
			return qr_errf(err, errlen, "rule %zu: \"dsthost\": not a "
			    "host name (lowercase letters, digits, '-', '.', '_'; "
			    "at most %d)", ri, QR_HOST_MAX);
		p->dst = PD_HOST;
		*hostbytes += sl + 1;
	}
host_done:
	if ((v = json_object_get(o, "to")) != NULL) {
		uint32_t ip;

		ndst++;
		s = json_string_value(v);
		if (jr_client_addr(names, s, &ip) == -1)
			return qr_errf(err, errlen, "rule %zu: \"to\": \"%.64s\" is "
			    "not in \"names\" or an IPv4 address", ri, s);
		p->dst = PD_NET;
		p->family = 4;
		p->plen = 32;
		memcpy(p->addr, &ip, 4);
		p->peer = 1;
		p->to_client = 1;
	}
	if ((v = json_object_get(o, "specialtarget")) != NULL) {
		ndst++;
		if (strcmp(json_string_value(v), "dns") != 0)
			return qr_errf(err, errlen, "rule %zu: \"specialtarget\": "
			    "only \"dns\" exists", ri);
		p->specialdns = 1;
	}
	if (ndst > 1)
		return qr_errf(err, errlen, "rule %zu: at most one of \"dst4\", "
		    "\"dst6\", \"dsthost\", \"to\", \"specialtarget\"", ri);

	if ((v = json_object_get(o, "dstports")) != NULL) {
		char buf[32];

		if (json_is_integer(v))
			snprintf(buf, sizeof buf, "%lld",
			    (long long)json_integer_value(v));
		else
			snprintf(buf, sizeof buf, "%.31s", json_string_value(v));
		if (qr_parse_ports(buf, strlen(buf), &p->plo, &p->phi) == -1)
			return qr_errf(err, errlen, "rule %zu: \"dstports\": must be "
			    "\"N\" or \"N-M\" with 0 <= N <= M <= 65535", ri);
		if (p->proto != IPPROTO_TCP && p->proto != IPPROTO_UDP)
			return qr_errf(err, errlen, "rule %zu: \"dstports\": needs "
			    "\"proto\": \"tcp\" or \"udp\"", ri);
		p->has_ports = 1;
	}
	if ((v = json_object_get(o, "icmptype")) != NULL) {
		json_int_t t = json_integer_value(v);

		if (t < 0 || t > 255)
			return qr_errf(err, errlen, "rule %zu: \"icmptype\": must be "
			    "0..255", ri);
		if (p->proto != IPPROTO_ICMP)
			return qr_errf(err, errlen, "rule %zu: \"icmptype\": needs "
			    "\"proto\": \"icmp\"", ri);
		p->has_icmptype = 1;
		p->icmptype = (uint8_t)t;
	}
	if (p->specialdns) {
		if (p->proto == IPPROTO_ICMP)
			return qr_errf(err, errlen, "rule %zu: \"specialtarget\": DNS "
			    "is \"tcp\" or \"udp\", not \"icmp\"", ri);
		if (p->has_ports && (p->plo != 53 || p->phi != 53))
			return qr_errf(err, errlen, "rule %zu: \"specialtarget\": "
			    "DNS is port 53, \"dstports\" says otherwise", ri);
	}
	if ((v = json_object_get(o, "log")) != NULL)
		p->log = json_is_true(v);
	if ((v = json_object_get(o, "comment")) != NULL &&
	    json_string_length(v) > JR_COMMENT_MAX)
		return qr_errf(err, errlen, "rule %zu: \"comment\": longer than %d "
		    "bytes", ri, JR_COMMENT_MAX);
	if ((v = json_object_get(o, "expire")) != NULL) {
		if (json_integer_value(v) <= 0)
			return qr_errf(err, errlen, "rule %zu: \"expire\": must be a "
			    "Unix time (seconds), > 0", ri);
		p->expire = json_integer_value(v);
	}
	return 0;
}

/*
 * "learn": {"ttl_min": S, "ttl_max": S}: how long a name a client resolved
 * keeps opening flows for the wildcard rules (docs/rules.md).
 */
static int
learn_config(const json_t *o, struct rset *ns, char *err, size_t errlen)
{
	const char *key;
	json_t *v;
	json_int_t lo = NT_TTL_MIN, hi = NT_TTL_MAX;

	if (o == NULL)
		return 0;
	if (!json_is_object(o))
		return qr_errf(err, errlen, "\"learn\": must be an object "
		    "{\"ttl_min\": seconds, \"ttl_max\": seconds}");
	json_object_foreach((json_t *)o, key, v) {
		if (strcmp(key, "ttl_min") != 0 && strcmp(key, "ttl_max") != 0)
			return qr_errf(err, errlen, "\"learn\": \"%.64s\": unknown "
			    "field (expected \"ttl_min\", \"ttl_max\")", key);
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > NT_TTL_LIMIT)
			return qr_errf(err, errlen, "\"learn\": \"%s\": must be "
			    "1..%d seconds", key, NT_TTL_LIMIT);
		if (strcmp(key, "ttl_min") == 0)
			lo = json_integer_value(v);
		else
			hi = json_integer_value(v);
	}
	if (lo > hi)
		return qr_errf(err, errlen, "\"learn\": \"ttl_min\" %lld is more "
		    "than \"ttl_max\" %lld", (long long)lo, (long long)hi);
	ns->ttl_min = (uint32_t)lo;
	ns->ttl_max = (uint32_t)hi;
	return 0;
}

int
jrules_load(const char *buf, size_t len, struct rset *out, void **docp,
    char *err, size_t errlen)
{
	json_error_t je;
	json_t *doc, *v, *names, *rules;
	const char *key;
	struct rset ns = { 0 };
	size_t i, n, hostbytes = 0, off = 0;

	if (len > JR_MAX_INPUT)
		return qr_errf(err, errlen, "input is %zu bytes, more than the "
		    "limit of %d", len, JR_MAX_INPUT);
	doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	if (doc == NULL)
		return qr_errf(err, errlen, "not valid JSON: line %d column %d: %s",
		    je.line, je.column, je.text);
	if (!json_is_object(doc)) {
		qr_errf(err, errlen, "the document must be an object "
		    "{\"version\": 1, \"rules\": [...]}");
		goto bad;
	}
	json_object_foreach(doc, key, v) {
		/* "note" is what GetRules adds for the reader; it goes back
		 * into SetRules with the rest and is ignored */
		if (strcmp(key, "note") == 0 && json_is_string(v))
			continue;
		/* "learned" too: GetRules' counters of learned names */
		if (strcmp(key, "learned") == 0 && json_is_object(v))
			continue;
		/* and so are its counters */
		if (strcmp(key, "hits") == 0 && json_is_object(v))
			continue;
		if (strcmp(key, "version") != 0 && strcmp(key, "names") != 0 &&
		    strcmp(key, "rules") != 0 && strcmp(key, "learn") != 0) {
			qr_errf(err, errlen, "\"%.64s\": unknown field (expected "
			    "\"version\", \"names\", \"rules\", \"learn\")", key);
			goto bad;
		}
	}
	v = json_object_get(doc, "version");
	if (v == NULL || !json_is_integer(v) || json_integer_value(v) != 1) {
		qr_errf(err, errlen, "\"version\": must be 1");
		goto bad;
	}
	names = json_object_get(doc, "names");
	if (names != NULL) {
		if (!json_is_object(names)) {
			qr_errf(err, errlen, "\"names\": must be an object of "
			    "name: IPv4 address");
			goto bad;
		}
		if (json_object_size(names) > JR_MAX_NAMES) {
			qr_errf(err, errlen, "\"names\": more than %d names",
			    JR_MAX_NAMES);
			goto bad;
		}
		json_object_foreach(names, key, v) {
			uint8_t a[4];

			if (!valid_name(key) || strcmp(key, "*") == 0) {
				qr_errf(err, errlen, "\"names\": \"%.64s\": a name is "
				    "1..%d letters, digits, '-', '_', '.' and not "
				    "an address", key, JR_NAME_MAX);
				goto bad;
			}
			if (!json_is_string(v) || qr_parse_ip4(json_string_value(v),
			    json_string_length(v), a) == -1 ||
			    (a[0] | a[1] | a[2] | a[3]) == 0) {
				qr_errf(err, errlen, "\"names\": \"%.64s\": must be an "
				    "IPv4 address", key);
				goto bad;
			}
		}
	}
	if (learn_config(json_object_get(doc, "learn"), &ns, err, errlen) == -1)
		goto bad;
	rules = json_object_get(doc, "rules");
	if (rules == NULL || !json_is_array(rules)) {
		qr_errf(err, errlen, "\"rules\": must be an array");
		goto bad;
	}
	n = json_array_size(rules);
	if (n > JR_MAX_RULES) {
		qr_errf(err, errlen, "\"rules\": %zu rules, more than the limit of "
		    "%d", n, JR_MAX_RULES);
		goto bad;
	}
	if ((ns.rules = calloc(n ? n : 1, sizeof *ns.rules)) == NULL) {
		qr_errf(err, errlen, "out of memory");
		goto bad;
	}
	if ((ns.fwd = calloc(1, sizeof *ns.fwd)) == NULL) {
		qr_errf(err, errlen, "out of memory");
		goto bad;
	}
	if ((ns.lim = calloc(1, sizeof *ns.lim)) == NULL) {
		qr_errf(err, errlen, "out of memory");
		goto bad;
	}
	for (i = 0; i < n; i++) {
		json_t *r = json_array_get(rules, i);

		/* A forward keeps its number but never decides a flow: it
		 * goes to natd's table instead. A rate limit too: natd's
		 * buckets enforce it (limit.c). */
		if (fwd_is_forward(r) || lim_is_limit(r)) {
			if ((fwd_is_forward(r) ?
			    fwd_check_rule(i, r, names, ns.fwd, err, errlen) :
			    lim_check_rule(i, r, names, ns.lim, err, errlen)) == -1)
				goto bad;
			memset(&ns.rules[i], 0, sizeof ns.rules[i]);
			ns.rules[i].id = (uint16_t)i;
			ns.rules[i].action = VERDICT_DROP;
			ns.rules[i].never = 1;
			continue;
		}
		if (check_rule(i, r, names, &ns.rules[i], &hostbytes, err,
		    errlen) == -1)
			goto bad;
	}
	ns.n = (uint32_t)n;
	if ((ns.strings = malloc(hostbytes ? hostbytes : 1)) == NULL) {
		qr_errf(err, errlen, "out of memory");
		goto bad;
	}
	for (i = 0; i < n; i++) {
		if (ns.rules[i].dst == PD_NAME) {
			const char *w;
			size_t k;

			/* the suffix after "*.", lowercase */
			v = json_object_get(json_array_get(rules, i), "dsthost");
			w = json_string_value(v) + 2;
			for (k = 0; k < ns.rules[i].hostlen; k++)
				ns.strings[off + k] = (char)(w[k] >= 'A' &&
				    w[k] <= 'Z' ? w[k] + 'a' - 'A' : w[k]);
			ns.strings[off + k] = '\0';
			ns.rules[i].host = ns.strings + off;
			off += ns.rules[i].hostlen + 1;
		}
		if (ns.rules[i].dst == PD_HOST) {
			v = json_object_get(json_array_get(rules, i), "dsthost");
			memcpy(ns.strings + off, json_string_value(v),
			    json_string_length(v) + 1);
			ns.rules[i].host = ns.strings + off;
			off += json_string_length(v) + 1;
		}
	}
	if (rset_build(&ns) == -1) {
		qr_errf(err, errlen, "out of memory");
		goto bad;
	}
	/* Counts read back from GetRules (hits, learned names) are not part
	 * of the rules: the document kept (and printed again) has none. */
	json_object_del(doc, "hits");
	json_object_del(doc, "learned");
	for (i = 0; i < n; i++)
		json_object_del(json_array_get(rules, i), "hits");
	*out = ns;
	*docp = doc;
	return 0;
bad:
	rset_free(&ns);
	json_decref(doc);
	return -1;
}

/* The JSON rules with their hits; a rule that decides no flow (the
 * placeholder of a forward or a rate limit) has none. */
static json_t *
rules_hits(const json_t *rules, const struct engine *e)
{
	json_t *a = json_deep_copy(rules), *r;
	size_t i;

	if (a == NULL || json_array_size(a) != e->json.n || e->json.hits == NULL)
		return a;
	json_array_foreach(a, i, r)
		if (json_is_object(r) && !e->json.rules[i].never)
			json_object_set_new(r, "hits",
			    json_integer((json_int_t)e->json.hits[i]));
	return a;
}

/* "hits" at the top: the default's, and per client address the Qubes
 * rules (by key) that decided a flow, as qvm-firewall numbers them. */
static json_t *
other_hits(const struct engine *e)
{
	json_t *h = json_object(), *qubes = json_object();
	uint32_t i, k;

	if (h == NULL || qubes == NULL) {
		json_decref(h);
		json_decref(qubes);
		return NULL;
	}
	json_object_set_new(h, "default",
	    json_integer((json_int_t)e->default_hits));
	for (i = 0; i < ENG_MAX_QSETS; i++) {
		const struct qset *q = e->qsets[i];
		char addr[INET6_ADDRSTRLEN], key[16];
		json_t *c = NULL;

		if (q == NULL || q->set.hits == NULL)
			continue;
		for (k = 0; k < q->set.n; k++) {
			uint16_t id = q->set.rules[k].id;

			if (q->set.hits[k] == 0)
				continue;
			if (c == NULL && (c = json_object()) == NULL)
				break;
			if (id == RULE_ID_QPOLICY)
				snprintf(key, sizeof key, "policy");
			else
				snprintf(key, sizeof key, "%04u",
				    (unsigned)(id & ~RULE_ID_QUBES));
			json_object_set_new(c, key,
			    json_integer((json_int_t)q->set.hits[k]));
		}
		if (c == NULL)
			continue;
		inet_ntop(q->family == 4 ? AF_INET : AF_INET6, q->addr, addr,
		    sizeof addr);
		json_object_set_new(qubes, addr, c);
	}
	json_object_set_new(h, "qubes", qubes);
	return h;
}

char *
jrules_dump(const void *doc, size_t *len)
{
	return jrules_dump_hits(doc, NULL, len);
}

char *
jrules_dump_hits(const void *doc, const struct engine *e, size_t *len)
{
	json_t *out, *v;
	const char *key;
	char *s;

	/* The note first, then the document as it was set (its own note,
	 * if it had one, replaced). */
	if ((out = json_pack("{s:s}", "note", JR_NOTE)) == NULL)
		return NULL;
	if (doc == NULL) {
		if (json_object_set_new(out, "version", json_integer(1)) == -1 ||
		    json_object_set_new(out, "names", json_object()) == -1 ||
		    json_object_set_new(out, "rules", json_array()) == -1) {
			json_decref(out);
			return NULL;
		}
	} else
		json_object_foreach((json_t *)doc, key, v) {
			if (strcmp(key, "note") == 0 || strcmp(key, "hits") == 0 ||
			    strcmp(key, "learned") == 0)
				continue;
			if (e != NULL && strcmp(key, "rules") == 0 ?
			    json_object_set_new(out, key, rules_hits(v, e)) == -1 :
			    json_object_set(out, key, v) == -1) {
				json_decref(out);
				return NULL;
			}
		}
	if (e != NULL && json_object_set_new(out, "hits", other_hits(e)) == -1) {
		json_decref(out);
		return NULL;
	}
	s = json_dumps(out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(out);
	if (s != NULL) {
		size_t l = strlen(s);

		/* end with a newline, as a command's output does */
		char *t = realloc(s, l + 2);

		if (t == NULL) {
			free(s);
			return NULL;
		}
		t[l] = '\n';
		t[l + 1] = '\0';
		s = t;
		*len = l + 1;
	}
	return s;
}

void
jrules_doc_free(void *doc)
{
	json_decref((json_t *)doc);
}

void
engine_set_json(struct engine *e, struct rset *s, void *doc)
{
	rset_free(&e->json);
	jrules_doc_free(e->jdoc);
	e->json = *s;
	e->jdoc = doc;
	memset(s, 0, sizeof *s);
	e->generation++;
}
