/*
 * limit.c: checking the JSON rate-limit rules (see limit.h).
 *
 * Each client gets the first limit that names it, as a flow gets the
 * first rule that matches; a limit that could never be the first for
 * any client (a second one for the same client, or any after a limit of
 * every client) is refused rather than silently ignored.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "forward.h"
#include "limit.h"
#include "qrule.h"

static const char *const lim_fields[] = {
	"from", "rate", "up", "down", "burst", "comment", NULL
};

struct unit {
	const char	*name;
	uint64_t	 mult;
};
/* As tc(8) reads them: rates in decimal bits, sizes in binary bytes. */
static const struct unit rate_units[] = {
	{ "kbit", 1000ull }, { "mbit", 1000000ull }, { "gbit", 1000000000ull },
	{ NULL, 0 }
};
static const struct unit size_units[] = {
	{ "kb", 1024ull }, { "mb", 1024ull * 1024 }, { NULL, 0 }
};

/* Digits then one of the units; the product saturates at UINT64_MAX so
 * that a huge number reads as "too large", not as "not a number". */
static int
num_unit(const char *s, size_t len, const struct unit *u, uint64_t *out)
{
	uint64_t n = 0;
	size_t i = 0;
	int k;

	while (i < len && s[i] >= '0' && s[i] <= '9') {
		if (i == 12)
			return -1;
		n = n * 10 + (uint64_t)(s[i] - '0');
		i++;
	}
	if (i == 0)
		return -1;
	for (k = 0; u[k].name != NULL; k++)
		if (len - i == strlen(u[k].name) &&
		    memcmp(s + i, u[k].name, len - i) == 0)
			break;
	if (u[k].name == NULL)
		return -1;
	*out = n > UINT64_MAX / u[k].mult ? UINT64_MAX : n * u[k].mult;
	return 0;
}

int
lim_parse_rate(const char *s, size_t len, uint64_t *bps)
{
	uint64_t bits;

	if (num_unit(s, len, rate_units, &bits) == -1)
		return -1;
	*bps = bits == UINT64_MAX ? UINT64_MAX : bits / 8;
	return 0;
}

int
lim_parse_size(const char *s, size_t len, uint64_t *bytes)
{
	return num_unit(s, len, size_units, bytes);
}

uint64_t
lim_default_burst(uint64_t bps)
{
	/* bps <= LIM_RATE_MAX: the product stays far below 2^64 */
	uint64_t b = bps * LIM_BURST_MS / 1000;

	if (b < LIM_BURST_DEF_MIN)
		b = LIM_BURST_DEF_MIN;
	return b > LIM_BURST_MAX ? LIM_BURST_MAX : b;
}

int
lim_is_limit(const json_t *o)
{
	return json_is_object(o) && (json_object_get(o, "rate") != NULL ||
	    json_object_get(o, "up") != NULL ||
	    json_object_get(o, "down") != NULL ||
	    json_object_get(o, "burst") != NULL);
}

/* One of "rate", "up", "down" into *bps; 0 when absent. */
static int
rate_of(size_t ri, const json_t *o, const char *key, uint64_t *bps,
    char *err, size_t errlen)
{
	const json_t *v;
	const char *s;

	if ((v = json_object_get(o, key)) == NULL)
		return 0;
	s = json_string_value(v);
	if (lim_parse_rate(s, json_string_length(v), bps) == -1)
		return qr_errf(err, errlen, "rule %zu: \"%s\": \"%.32s\" is not a "
		    "rate: a whole number and kbit, mbit or gbit, e.g. \"50mbit\"",
		    ri, key, s);
	if (*bps < LIM_RATE_MIN)
		return qr_errf(err, errlen, "rule %zu: \"%s\": %.32s is below the "
		    "least rate, 64kbit", ri, key, s);
	if (*bps > LIM_RATE_MAX)
		return qr_errf(err, errlen, "rule %zu: \"%s\": %.32s is above the "
		    "greatest rate, 100gbit", ri, key, s);
	return 0;
}

int
lim_check_rule(size_t ri, const json_t *o, const json_t *names,
    struct msg_limits *t, char *err, size_t errlen)
{
	struct msg_limit l;
	const char *key, *s;
	json_t *v;
	uint64_t rate = 0, burst = 0;
	uint32_t i;
	int k;

	json_object_foreach((json_t *)o, key, v) {
		for (k = 0; lim_fields[k] != NULL; k++)
			if (strcmp(key, lim_fields[k]) == 0)
				break;
		if (strcmp(key, "action") == 0)
			return qr_errf(err, errlen, "rule %zu: \"action\": a rate "
			    "limit has none (it limits all of the client's "
			    "traffic; accept or drop in a rule of its own)", ri);
		if (lim_fields[k] == NULL)
			return qr_errf(err, errlen, "rule %zu: \"%.64s\": not a field "
			    "of a rate limit (it is for all of a client's traffic: "
			    "\"from\", \"rate\", \"up\", \"down\", \"burst\", "
			    "\"comment\")", ri, key);
		if (!json_is_string(v))
			return qr_errf(err, errlen, "rule %zu: \"%s\": must be a "
			    "string", ri, key);
	}
	memset(&l, 0, sizeof l);
	l.rule = (uint16_t)ri;

	if ((v = json_object_get(o, "from")) == NULL)
		return qr_errf(err, errlen, "rule %zu: \"from\": missing (a name, "
		    "an IPv4 address or \"*\")", ri);
	s = json_string_value(v);
	if (strcmp(s, "*") != 0 && jr_client_addr(names, s, &l.client4) == -1)
		return qr_errf(err, errlen, "rule %zu: \"from\": \"%.64s\" is not "
		    "in \"names\", an IPv4 address or \"*\"", ri, s);

	if (rate_of(ri, o, "rate", &rate, err, errlen) == -1 ||
	    rate_of(ri, o, "up", &l.up_rate, err, errlen) == -1 ||
	    rate_of(ri, o, "down", &l.down_rate, err, errlen) == -1)
		return -1;
	if (l.up_rate == 0)
		l.up_rate = rate;
	if (l.down_rate == 0)
		l.down_rate = rate;
	if (l.up_rate == 0 && l.down_rate == 0)
		return qr_errf(err, errlen, "rule %zu: \"burst\": without \"rate\", "
		    "\"up\" or \"down\" it limits nothing", ri);
	if (rate != 0 && json_object_get(o, "up") != NULL &&
	    json_object_get(o, "down") != NULL)
		return qr_errf(err, errlen, "rule %zu: \"rate\": both \"up\" and "
		    "\"down\" are given, so it applies to neither", ri);

	if ((v = json_object_get(o, "burst")) != NULL) {
		s = json_string_value(v);
		if (lim_parse_size(s, json_string_length(v), &burst) == -1)
			return qr_errf(err, errlen, "rule %zu: \"burst\": \"%.32s\" "
			    "is not a size: a whole number and kb or mb, e.g. "
			    "\"256kb\"", ri, s);
		if (burst < LIM_BURST_MIN || burst > LIM_BURST_MAX)
			return qr_errf(err, errlen, "rule %zu: \"burst\": %.32s is "
			    "not in 2kb-64mb", ri, s);
	}
	if (l.up_rate != 0)
		l.up_burst = burst ? burst : lim_default_burst(l.up_rate);
	if (l.down_rate != 0)
		l.down_burst = burst ? burst : lim_default_burst(l.down_rate);

	if ((v = json_object_get(o, "comment")) != NULL &&
	    json_string_length(v) > 1024)
		return qr_errf(err, errlen, "rule %zu: \"comment\": longer than 1024 "
		    "bytes", ri);

	for (i = 0; i < t->count; i++) {
		const struct msg_limit *g = &t->l[i];
		char a[INET_ADDRSTRLEN];

		if (g->client4 == 0)
			return qr_errf(err, errlen, "rule %zu: \"from\": never "
			    "applies: rule %u (\"from\": \"*\") limits every "
			    "client already", ri, g->rule);
		if (g->client4 == l.client4)
			return qr_errf(err, errlen, "rule %zu: \"from\": %s already "
			    "has the limit of rule %u", ri,
			    inet_ntop(AF_INET, &l.client4, a, sizeof a), g->rule);
	}
	if (t->count == LIMITS_MAX)
		return qr_errf(err, errlen, "rule %zu: more than %d rate limits", ri,
		    LIMITS_MAX);
	t->l[t->count++] = l;
	return 0;
}
