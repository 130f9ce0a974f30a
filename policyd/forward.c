/*
 * forward.c: checking the JSON "forward" rules (see forward.h).
 *
 * A forward names a port range on moat's uplink address and a client:
 * lo..hi go to toport..toport + (hi - lo) on the client. The ranges live
 * in FWD_PORT_MIN..FWD_PORT_MAX, which natd's NAT never uses for its own
 * outbound flows, and two forwards of one protocol and family never
 * share a port, so an inbound packet has exactly one place to go.
 */
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "forward.h"
#include "qrule.h"

static const char *const fwd_fields[] = {
	"action", "proto", "dstports", "to", "toport", "from4", "from6",
	"family", "comment", NULL
};

int
fwd_is_forward(const json_t *o)
{
	const json_t *v;

	return json_is_object(o) && (v = json_object_get(o, "action")) != NULL &&
	    json_is_string(v) && strcmp(json_string_value(v), "forward") == 0;
}

/* "N", "N-M" or an integer into lo..hi; -1 when it is none of these. */
static int
ports_of(const json_t *v, uint16_t *lo, uint16_t *hi)
{
	char buf[32];

	if (json_is_integer(v))
		snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
	else if (json_is_string(v) && json_string_length(v) < sizeof buf)
		snprintf(buf, sizeof buf, "%s", json_string_value(v));
	else
		return -1;
	return qr_parse_ports(buf, strlen(buf), lo, hi);
}

static int
families_meet(uint8_t a, uint8_t b)
{
	return a == 0 || b == 0 || a == b;
}

static const struct qr_word protos[] = {
	{ "tcp", IPPROTO_TCP }, { "udp", IPPROTO_UDP }, { NULL, 0 }
};
/* "both" is 0, as in struct msg_forward. */
static const struct qr_word families[] = {
	{ "4", 4 }, { "6", 6 }, { "both", 0 }, { NULL, 0 }
};

int
fwd_check_rule(size_t ri, const json_t *o, const json_t *names,
    struct msg_forwards *t, char *err, size_t errlen)
{
	struct msg_forward f;
	const char *key, *s;
	json_t *v;
	uint16_t tlo, thi;
	uint32_t i;
	int k, w;

	json_object_foreach((json_t *)o, key, v) {
		for (k = 0; fwd_fields[k] != NULL; k++)
			if (strcmp(key, fwd_fields[k]) == 0)
				break;
		if (fwd_fields[k] == NULL)
			return qr_errf(err, errlen, "rule %zu: \"%.64s\": not a field "
			    "of a forward (%s)", ri, key, strcmp(key, "from") == 0 ?
			    "the remote source is \"from4\" or \"from6\"" :
			    "see docs/rules.md");
		if (strcmp(key, "toport") == 0 || strcmp(key, "dstports") == 0) {
			if (!json_is_string(v) && !json_is_integer(v))
				return qr_errf(err, errlen, "rule %zu: \"%s\": must be "
				    "a port \"N\" or a range \"N-M\"", ri, key);
		} else if (!json_is_string(v))
			return qr_errf(err, errlen, "rule %zu: \"%s\": must be a "
			    "string", ri, key);
	}
	memset(&f, 0, sizeof f);
	f.rule = (uint16_t)ri;

	if ((v = json_object_get(o, "proto")) == NULL)
		return qr_errf(err, errlen, "rule %zu: \"proto\": a forward needs "
		    "\"tcp\" or \"udp\"", ri);
	if ((w = qr_word(protos, json_string_value(v))) == -1)
		return qr_errf(err, errlen, "rule %zu: \"proto\": a forward is "
		    "\"tcp\" or \"udp\"", ri);
	f.proto = (uint8_t)w;

	if ((v = json_object_get(o, "dstports")) == NULL)
		return qr_errf(err, errlen, "rule %zu: \"dstports\": missing (the "
		    "port or range on moat's address)", ri);
	if (ports_of(v, &f.lo, &f.hi) == -1)
		return qr_errf(err, errlen, "rule %zu: \"dstports\": must be \"N\" "
		    "or \"N-M\" with 0 <= N <= M <= 65535", ri);
	if (f.lo < FWD_PORT_MIN || f.hi > FWD_PORT_MAX)
		return qr_errf(err, errlen, "rule %zu: \"dstports\": %u-%u is not "
		    "in %u-%u, the ports moat keeps for forwards (its NAT uses "
		    "the others for outbound connections)", ri, f.lo, f.hi,
		    FWD_PORT_MIN, FWD_PORT_MAX);

	if ((v = json_object_get(o, "toport")) == NULL)
		return qr_errf(err, errlen, "rule %zu: \"toport\": missing (the "
		    "client's port)", ri);
	if (ports_of(v, &tlo, &thi) == -1 || tlo == 0)
		return qr_errf(err, errlen, "rule %zu: \"toport\": must be \"N\" or "
		    "\"N-M\" with 1 <= N <= M <= 65535", ri);
	if (tlo != thi && thi - tlo != f.hi - f.lo)
		return qr_errf(err, errlen, "rule %zu: \"toport\": the range %u-%u "
		    "is not as long as \"dstports\" %u-%u", ri, tlo, thi, f.lo,
		    f.hi);
	if ((uint32_t)tlo + (f.hi - f.lo) > 65535)
		return qr_errf(err, errlen, "rule %zu: \"toport\": %u + %u ports "
		    "goes past 65535", ri, tlo, f.hi - f.lo);
	f.toport = tlo;

	if ((v = json_object_get(o, "to")) == NULL)
		return qr_errf(err, errlen, "rule %zu: \"to\": missing (the client "
		    "VM, by name or IPv4 address)", ri);
	s = json_string_value(v);
	if (jr_client_addr(names, s, &f.to4) == -1)
		return qr_errf(err, errlen, "rule %zu: \"to\": \"%.64s\" is not a "
		    "known client (not in \"names\" nor an IPv4 address)", ri, s);
	{
		uint32_t a = ntohl(f.to4);

		if ((a >> 24) == 127 || (a >> 28) >= 0xe)
			return qr_errf(err, errlen, "rule %zu: \"to\": %.64s cannot "
			    "be a client", ri, s);
	}

	if ((v = json_object_get(o, "family")) != NULL) {
		if ((w = qr_word(families, json_string_value(v))) == -1)
			return qr_errf(err, errlen, "rule %zu: \"family\": must be "
			    "\"4\", \"6\" or \"both\"", ri);
		f.family = (uint8_t)w;
	}
	if ((v = json_object_get(o, "from4")) != NULL) {
		uint8_t a[16];

		if (qr_rule_prefix(ri, "from4", 4, json_string_value(v),
		    json_string_length(v), a, &f.from4_plen, err, errlen) == -1)
			return -1;
		memcpy(&f.from4, a, 4);
		if (f.family == 6)
			return qr_errf(err, errlen, "rule %zu: \"from4\": the forward "
			    "is \"family\": \"6\"", ri);
		/* a forward that only says where IPv4 may come from is an
		 * IPv4 forward, unless it says otherwise */
		if (json_object_get(o, "from6") == NULL &&
		    json_object_get(o, "family") == NULL)
			f.family = 4;
	}
	if ((v = json_object_get(o, "from6")) != NULL) {
		if (qr_rule_prefix(ri, "from6", 6, json_string_value(v),
		    json_string_length(v), f.from6, &f.from6_plen, err,
		    errlen) == -1)
			return -1;
		if (f.family == 4)
			return qr_errf(err, errlen, "rule %zu: \"from6\": the forward "
			    "is \"family\": \"4\"", ri);
		if (json_object_get(o, "from4") == NULL &&
		    json_object_get(o, "family") == NULL)
			f.family = 6;
	}
	if ((v = json_object_get(o, "comment")) != NULL &&
	    json_string_length(v) > 1024)
		return qr_errf(err, errlen, "rule %zu: \"comment\": longer than 1024 "
		    "bytes", ri);

	for (i = 0; i < t->count; i++) {
		const struct msg_forward *g = &t->f[i];

		if (g->proto == f.proto && families_meet(g->family, f.family) &&
		    g->lo <= f.hi && f.lo <= g->hi)
			return qr_errf(err, errlen, "rule %zu: \"dstports\": %s %u-%u "
			    "overlaps the forward of rule %u (%u-%u)", ri,
			    f.proto == IPPROTO_TCP ? "tcp" : "udp", f.lo, f.hi,
			    g->rule, g->lo, g->hi);
	}
	if (t->count == FWD_MAX)
		return qr_errf(err, errlen, "rule %zu: more than %d forwards", ri,
		    FWD_MAX);
	t->f[t->count++] = f;
	return 0;
}
