/*
 * qdb_check.c: the shapes of the QubesDB keys agentd interprets.
 *
 * The supervisor runs qdb_check_config() over a --qubesdb file before it
 * starts anything, so a typo is one clear error naming the key instead of
 * a half-configured firewall. The live client runs qdb_check_key() on
 * each write it acts on. Keys agentd does not interpret (/name,
 * /qubes-service/..., ...) are not checked beyond QubesDB's own limits.
 * The firewall rule text is policyd's grammar: only its length is ours.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "msg.h"
#include "qdb.h"

static const char *const ip4_keys[] = {
	"/qubes-ip", "/qubes-netmask", "/qubes-gateway",
	"/qubes-primary-dns", "/qubes-secondary-dns",
	"/qubes-netvm-gateway", "/qubes-netvm-netmask", "/qubes-netvm-network",
	"/qubes-netvm-primary-dns", "/qubes-netvm-secondary-dns",
};
static const char *const ip6_keys[] = {
	"/qubes-ip6", "/qubes-gateway6", "/qubes-netvm-gateway6",
};

#define FW_PREFIX	"/qubes-firewall/"
#define MAPPED_PREFIX	"/mapped-ip/"

int
qdb_parse_ip4(const char *s, uint32_t *out)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1)
		return -1;
	*out = a.s_addr;
	return 0;
}

int
qdb_parse_ip6(const char *s, uint8_t out[16])
{
	struct in6_addr a;

	if (inet_pton(AF_INET6, s, &a) != 1)
		return -1;
	memcpy(out, &a, 16);
	return 0;
}

/* Parse an address that ends at the first '/' or NUL of s. */
static int
parse_ip_until_slash(const char *s, uint8_t addr[16], const char **end)
{
	char buf[QDB_PATH_MAX];
	size_t n = strcspn(s, "/");
	uint32_t v4;

	if (n == 0 || n >= sizeof(buf))
		return 0;
	memcpy(buf, s, n);
	buf[n] = '\0';
	*end = s + n;
	memset(addr, 0, 16);
	if (qdb_parse_ip4(buf, &v4) == 0) {
		memcpy(addr, &v4, 4);
		return 4;
	}
	if (qdb_parse_ip6(buf, addr) == 0)
		return 6;
	return 0;
}

int
qdb_fw_key(const char *path, uint8_t addr[16], const char **rest)
{
	if (strncmp(path, FW_PREFIX, strlen(FW_PREFIX)) != 0)
		return 0;
	return parse_ip_until_slash(path + strlen(FW_PREFIX), addr, rest);
}

static int
is_rule_index(const char *s)
{
	return strlen(s) == 4 && s[0] >= '0' && s[0] <= '9' &&
	    s[1] >= '0' && s[1] <= '9' && s[2] >= '0' && s[2] <= '9' &&
	    s[3] >= '0' && s[3] <= '9';
}

/* A space-separated list of addresses of one family; empty is fine. */
static int
addr_list_ok(const char *v, int family)
{
	char buf[QDB_VALUE_MAX + 1], *tok, *save = NULL;
	uint8_t a6[16];
	uint32_t a4;

	if (strlen(v) >= sizeof(buf))
		return 0;
	strcpy(buf, v);
	for (tok = strtok_r(buf, " ", &save); tok != NULL;
	    tok = strtok_r(NULL, " ", &save)) {
		if (family == 4 && qdb_parse_ip4(tok, &a4) == -1)
			return 0;
		if (family == 6 && qdb_parse_ip6(tok, a6) == -1)
			return 0;
	}
	return 1;
}

int
qdb_check_key(const char *path, const char *v, char *err, size_t errlen)
{
	uint8_t addr[16], a6[16];
	const char *rest;
	uint32_t a4;
	size_t i;
	int fam;

	for (i = 0; i < sizeof(ip4_keys) / sizeof(ip4_keys[0]); i++)
		if (strcmp(path, ip4_keys[i]) == 0) {
			if (qdb_parse_ip4(v, &a4) == -1)
				goto bad_ip4;
			return 0;
		}
	for (i = 0; i < sizeof(ip6_keys) / sizeof(ip6_keys[0]); i++)
		if (strcmp(path, ip6_keys[i]) == 0) {
			if (qdb_parse_ip6(v, a6) == -1)
				goto bad_ip6;
			return 0;
		}
	if (strcmp(path, "/qubes-debug-mode") == 0) {
		if (strcmp(v, "0") != 0 && strcmp(v, "1") != 0) {
			snprintf(err, errlen, "%s: \"%.64s\" is not 0 or 1",
			    path, v);
			return -1;
		}
		return 0;
	}
	if (strcmp(path, "/connected-ips") == 0) {
		if (!addr_list_ok(v, 4)) {
			snprintf(err, errlen, "%s: \"%.64s\" is not a "
			    "space-separated list of IPv4 addresses", path, v);
			return -1;
		}
		return 0;
	}
	if (strcmp(path, "/connected-ips6") == 0) {
		if (!addr_list_ok(v, 6)) {
			snprintf(err, errlen, "%s: \"%.64s\" is not a "
			    "space-separated list of IPv6 addresses", path, v);
			return -1;
		}
		return 0;
	}
	if (strncmp(path, MAPPED_PREFIX, strlen(MAPPED_PREFIX)) == 0) {
		fam = parse_ip_until_slash(path + strlen(MAPPED_PREFIX), addr,
		    &rest);
		if (fam == 0 || (strcmp(rest, "/visible-ip") != 0 &&
		    strcmp(rest, "/visible-gateway") != 0)) {
			snprintf(err, errlen, "%s: expected /mapped-ip/<ip>/"
			    "visible-ip or /mapped-ip/<ip>/visible-gateway",
			    path);
			return -1;
		}
		if (fam == 4 && qdb_parse_ip4(v, &a4) == -1)
			goto bad_ip4;
		if (fam == 6 && qdb_parse_ip6(v, a6) == -1)
			goto bad_ip6;
		return 0;
	}
	if (strncmp(path, FW_PREFIX, strlen(FW_PREFIX)) == 0) {
		if (qdb_fw_key(path, addr, &rest) == 0) {
			snprintf(err, errlen, "%s: expected /qubes-firewall/"
			    "<IPv4 or IPv6 address>[/policy|/NNNN]", path);
			return -1;
		}
		if (rest[0] == '\0') {
			if (v[0] != '\0') {
				snprintf(err, errlen, "%s: the commit marker "
				    "must be empty, not \"%.64s\"", path, v);
				return -1;
			}
			return 0;
		}
		if (strcmp(rest, "/policy") == 0) {
			if (strcmp(v, "accept") != 0 && strcmp(v, "drop") != 0) {
				snprintf(err, errlen, "%s: \"%.64s\" is not "
				    "accept or drop", path, v);
				return -1;
			}
			return 0;
		}
		if (rest[0] == '/' && is_rule_index(rest + 1)) {
			if (strlen(v) > QRULE_MAX) {
				snprintf(err, errlen, "%s: rule longer than "
				    "%d bytes", path, QRULE_MAX);
				return -1;
			}
			if (v[0] == '\0') {
				snprintf(err, errlen, "%s: empty rule", path);
				return -1;
			}
			return 0;
		}
		snprintf(err, errlen, "%s: expected /qubes-firewall/<ip>/policy "
		    "or /qubes-firewall/<ip>/NNNN (4 digits)", path);
		return -1;
	}
	return 0;

bad_ip4:
	snprintf(err, errlen, "%s: \"%.64s\" is not an IPv4 address", path, v);
	return -1;
bad_ip6:
	snprintf(err, errlen, "%s: \"%.64s\" is not an IPv6 address", path, v);
	return -1;
}

int
qdb_check_config(const struct qdb *db, char *err, size_t errlen)
{
	size_t i;

	for (i = 0; i < db->n; i++)
		if (qdb_check_key(db->e[i].path, db->e[i].value, err,
		    errlen) == -1)
			return -1;
	return 0;
}
