/*
 * agentd_conf.c: the database, and what the other daemons learn from it.
 *
 * There is one way configuration arrives: a key is written or removed
 * (pushed by dom0, carried by the initial dump, or replayed from a
 * --qubesdb file), conf_write()/conf_rm() store it and decide which
 * message it changes:
 *   - any address key or /qubes-debug-mode: MSG_NETCONF, when it differs
 *     from the last one sent;
 *   - /connected-ips or /mapped-ip/<IPv4>/...: MSG_CLIENTS, likewise;
 *   - /connected-ips6 or /mapped-ip/<IPv6>/...: MSG_CLIENTS6, likewise;
 *   - the empty /qubes-firewall/<ip> marker dom0 writes after a client's
 *     rules: MSG_QRULES_BEGIN, one MSG_QRULE per numbered key (sorted,
 *     gaps are normal), MSG_QRULES_END.
 * During a dump nothing is sent; its end sends all of them, so a
 * reconnect or a restart of agentd re-states everything.
 *
 * A value agentd cannot interpret is logged and treated as absent, except
 * in a client's rules, where it fails closed: that client gets one rule,
 * "action=drop", and policy drop.
 */
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>

#include "agentd.h"
#include "log.h"
#include "util.h"

#define FW_PREFIX	"/qubes-firewall/"

static const struct {
	const char	*path;
	size_t		 off;
} netconf_keys[] = {
	{ "/qubes-ip",			offsetof(struct msg_netconf, ip) },
	{ "/qubes-netmask",		offsetof(struct msg_netconf, netmask) },
	{ "/qubes-gateway",		offsetof(struct msg_netconf, gateway) },
	{ "/qubes-primary-dns",		offsetof(struct msg_netconf, dns[0]) },
	{ "/qubes-secondary-dns",	offsetof(struct msg_netconf, dns[1]) },
	{ "/qubes-netvm-gateway",	offsetof(struct msg_netconf, netvm_gateway) },
	{ "/qubes-netvm-netmask",	offsetof(struct msg_netconf, netvm_netmask) },
	{ "/qubes-netvm-network",	offsetof(struct msg_netconf, netvm_network) },
	{ "/qubes-netvm-primary-dns",	offsetof(struct msg_netconf, netvm_dns[0]) },
	{ "/qubes-netvm-secondary-dns",	offsetof(struct msg_netconf, netvm_dns[1]) },
}, netconf_keys6[] = {
	{ "/qubes-ip6",			offsetof(struct msg_netconf, ip6) },
	{ "/qubes-gateway6",		offsetof(struct msg_netconf, gateway6) },
	{ "/qubes-netvm-gateway6",	offsetof(struct msg_netconf, netvm_gateway6) },
};

void
conf_init(struct conf *c, agentd_send_fn *send, void *arg)
{
	memset(c, 0, sizeof(*c));
	qdb_init(&c->db);
	c->send = send;
	c->arg = arg;
}

void
conf_free(struct conf *c)
{
	qdb_free(&c->db);
}

static int
is_netconf_key(const char *path)
{
	size_t i;

	if (strcmp(path, "/qubes-debug-mode") == 0)
		return 1;
	for (i = 0; i < nitems(netconf_keys); i++)
		if (strcmp(path, netconf_keys[i].path) == 0)
			return 1;
	for (i = 0; i < nitems(netconf_keys6); i++)
		if (strcmp(path, netconf_keys6[i].path) == 0)
			return 1;
	return 0;
}

static int
is_clients_key(const char *path)
{
	return strcmp(path, "/connected-ips") == 0 ||
	    strcmp(path, "/connected-ips6") == 0 ||
	    strncmp(path, "/mapped-ip/", 11) == 0;
}

/* A key that is present and well formed, else NULL (logged when bad). */
static const char *
checked_value(const struct qdb *db, const char *path)
{
	const char *v = qdb_value(db, path);
	char err[256];

	if (v == NULL)
		return NULL;
	if (qdb_check_key(path, v, err, sizeof(err)) == -1) {
		log_rl(LOG_LVL_WARN, "qubesdb: ignoring %s", err);
		return NULL;
	}
	return v;
}

void
conf_netconf(const struct qdb *db, struct msg_netconf *nc)
{
	const char *v;
	uint8_t a6[16];
	uint32_t a;
	size_t i;

	memset(nc, 0, sizeof(*nc));
	for (i = 0; i < nitems(netconf_keys); i++) {
		if ((v = checked_value(db, netconf_keys[i].path)) == NULL)
			continue;
		if (qdb_parse_ip4(v, &a) == 0)
			memcpy((uint8_t *)nc + netconf_keys[i].off, &a, sizeof(a));
	}
	for (i = 0; i < nitems(netconf_keys6); i++) {
		if ((v = checked_value(db, netconf_keys6[i].path)) == NULL)
			continue;
		if (qdb_parse_ip6(v, a6) == 0)
			memcpy((uint8_t *)nc + netconf_keys6[i].off, a6, sizeof(a6));
	}
	if ((v = checked_value(db, "/qubes-debug-mode")) != NULL)
		nc->debug = v[0] == '1';
}

/* The address of a /mapped-ip/<addr>/<key> path, copied into buf; returns
 * "/<key>", or NULL when there is none or it does not fit. */
static const char *
mapped_addr(const char *path, char *buf, size_t size)
{
	const char *p = path + strlen("/mapped-ip/"), *rest = strchr(p, '/');

	if (rest == NULL || (size_t)(rest - p) >= size)
		return NULL;
	memcpy(buf, p, rest - p);
	buf[rest - p] = '\0';
	return rest;
}

static struct msg_client *
client_slot(struct msg_clients *mc, uint32_t ip)
{
	uint32_t i;

	for (i = 0; i < mc->count; i++)
		if (mc->c[i].ip == ip)
			return &mc->c[i];
	if (mc->count >= CLIENTS_MAX) {
		log_rl(LOG_LVL_WARN, "qubesdb: more than %d clients, "
		    "ignoring the rest", CLIENTS_MAX);
		return NULL;
	}
	mc->c[mc->count].ip = ip;
	return &mc->c[mc->count++];
}

void
conf_clients(const struct qdb *db, struct msg_clients *mc)
{
	char buf[QDB_VALUE_MAX + 1], ipbuf[QDB_PATH_MAX], *tok, *save = NULL;
	struct msg_client *cl;
	const char *v, *rest;
	size_t first, n, i;
	uint32_t ip, a;

	memset(mc, 0, sizeof(*mc));
	if ((v = checked_value(db, "/connected-ips")) != NULL) {
		snprintf(buf, sizeof(buf), "%s", v);
		for (tok = strtok_r(buf, " ", &save); tok != NULL;
		    tok = strtok_r(NULL, " ", &save)) {
			if (qdb_parse_ip4(tok, &ip) == 0 &&
			    (cl = client_slot(mc, ip)) != NULL)
				cl->flags |= CLIENT_F_CONNECTED;
		}
	}
	n = qdb_prefix(db, "/mapped-ip/", &first);
	for (i = first; i < first + n; i++) {
		if ((rest = mapped_addr(db->e[i].path, ipbuf, sizeof(ipbuf))) == NULL)
			continue;
		/* IPv6 mappings go in MSG_CLIENTS6 (conf_clients6) */
		if (qdb_parse_ip4(ipbuf, &ip) == -1)
			continue;
		if ((v = checked_value(db, db->e[i].path)) == NULL ||
		    qdb_parse_ip4(v, &a) == -1)
			continue;
		if ((cl = client_slot(mc, ip)) == NULL)
			continue;
		if (strcmp(rest, "/visible-ip") == 0)
			cl->visible_ip = a;
		else if (strcmp(rest, "/visible-gateway") == 0)
			cl->visible_gw = a;
	}
}

static struct msg_client6 *
client6_slot(struct msg_clients6 *mc, const uint8_t ip[16])
{
	uint32_t i;

	for (i = 0; i < mc->count; i++)
		if (memcmp(mc->c[i].ip, ip, 16) == 0)
			return &mc->c[i];
	if (mc->count >= CLIENTS6_MAX) {
		log_rl(LOG_LVL_WARN, "qubesdb: more than %d IPv6 clients, "
		    "ignoring the rest", CLIENTS6_MAX);
		return NULL;
	}
	memcpy(mc->c[mc->count].ip, ip, 16);
	return &mc->c[mc->count++];
}

/* The IPv6 twin of conf_clients: /connected-ips6 and the /mapped-ip/
 * entries whose address is IPv6 (their values are IPv6 too: qdb_check). */
void
conf_clients6(const struct qdb *db, struct msg_clients6 *mc)
{
	char buf[QDB_VALUE_MAX + 1], ipbuf[QDB_PATH_MAX], *tok, *save = NULL;
	struct msg_client6 *cl;
	const char *v, *rest;
	uint8_t ip[16], a[16];
	size_t first, n, i;

	memset(mc, 0, sizeof(*mc));
	if ((v = checked_value(db, "/connected-ips6")) != NULL) {
		snprintf(buf, sizeof(buf), "%s", v);
		for (tok = strtok_r(buf, " ", &save); tok != NULL;
		    tok = strtok_r(NULL, " ", &save)) {
			if (qdb_parse_ip6(tok, ip) == 0 &&
			    (cl = client6_slot(mc, ip)) != NULL)
				cl->flags |= CLIENT_F_CONNECTED;
		}
	}
	n = qdb_prefix(db, "/mapped-ip/", &first);
	for (i = first; i < first + n; i++) {
		if ((rest = mapped_addr(db->e[i].path, ipbuf, sizeof(ipbuf))) == NULL)
			continue;
		if (qdb_parse_ip6(ipbuf, ip) == -1)
			continue;
		if ((v = checked_value(db, db->e[i].path)) == NULL ||
		    qdb_parse_ip6(v, a) == -1)
			continue;
		if ((cl = client6_slot(mc, ip)) == NULL)
			continue;
		if (strcmp(rest, "/visible-ip") == 0)
			memcpy(cl->visible_ip, a, 16);
		else if (strcmp(rest, "/visible-gateway") == 0)
			memcpy(cl->visible_gw, a, 16);
	}
}

static size_t
clients6_size(const struct msg_clients6 *mc)
{
	return offsetof(struct msg_clients6, c) + mc->count * sizeof(mc->c[0]);
}

static size_t
clients_size(const struct msg_clients *mc)
{
	return offsetof(struct msg_clients, c) + mc->count * sizeof(mc->c[0]);
}

static const uint8_t zero6[16];

static const char *
ip6_or_none(const uint8_t a[16], char buf[INET6_ADDRSTRLEN])
{
	if (memcmp(a, zero6, 16) == 0 ||
	    inet_ntop(AF_INET6, a, buf, INET6_ADDRSTRLEN) == NULL)
		return "none";
	return buf;
}

static void
send_netconf(struct conf *c, int force)
{
	struct msg_netconf nc;

	conf_netconf(&c->db, &nc);
	if (!force && c->netconf_sent && memcmp(&nc, &c->netconf, sizeof(nc)) == 0)
		return;
	/* IPv6 is opt-in in dom0 (the `ipv6` feature): say when it is on, or
	 * changes, so a user sees what moat was given */
	if ((!c->netconf_sent && memcmp(nc.ip6, zero6, 16) != 0) ||
	    (c->netconf_sent && (memcmp(nc.ip6, c->netconf.ip6, 16) != 0 ||
	    memcmp(nc.gateway6, c->netconf.gateway6, 16) != 0 ||
	    memcmp(nc.netvm_gateway6, c->netconf.netvm_gateway6, 16) != 0))) {
		char a[3][INET6_ADDRSTRLEN];

		log_info("qubesdb: IPv6 address %s, gateway %s, clients' gateway %s",
		    ip6_or_none(nc.ip6, a[0]), ip6_or_none(nc.gateway6, a[1]),
		    ip6_or_none(nc.netvm_gateway6, a[2]));
	}
	if (c->send(c->arg, MSG_NETCONF, &nc, sizeof(nc), -1) == -1)
		log_warn("send NETCONF");
	c->netconf = nc;
	c->netconf_sent = 1;
}

static void
send_clients(struct conf *c, int force)
{
	struct msg_clients *mc;
	static struct msg_clients tmp;

	mc = &tmp;
	conf_clients(&c->db, mc);
	if (!force && c->clients_sent && clients_size(mc) ==
	    clients_size(&c->clients) &&
	    memcmp(mc, &c->clients, clients_size(mc)) == 0)
		return;
	if (c->send(c->arg, MSG_CLIENTS, mc, clients_size(mc), -1) == -1)
		log_warn("send CLIENTS");
	memcpy(&c->clients, mc, sizeof(*mc));
	c->clients_sent = 1;
}

static void
send_clients6(struct conf *c, int force)
{
	static struct msg_clients6 mc;

	conf_clients6(&c->db, &mc);
	if (!force && c->clients6_sent && clients6_size(&mc) ==
	    clients6_size(&c->clients6) &&
	    memcmp(&mc, &c->clients6, clients6_size(&mc)) == 0)
		return;
	if (c->send(c->arg, MSG_CLIENTS6, &mc, clients6_size(&mc), -1) == -1)
		log_warn("send CLIENTS6");
	memcpy(&c->clients6, &mc, sizeof(mc));
	c->clients6_sent = 1;
}

static int
is_rule_index(const char *s)
{
	return strlen(s) == 4 && s[0] >= '0' && s[0] <= '9' &&
	    s[1] >= '0' && s[1] <= '9' && s[2] >= '0' && s[2] <= '9' &&
	    s[3] >= '0' && s[3] <= '9';
}

/*
 * The rules of one client, read when dom0 writes its marker. marker is
 * "/qubes-firewall/<ip>". A malformed subtree (bad policy, unknown key,
 * over-long rule) gives the client a single drop-all rule: a client whose
 * rules we cannot read must not get the rules we can.
 */
void
conf_send_rules(struct conf *c, const char *marker)
{
	struct msg_qrules_begin b;
	struct msg_qrules_end e;
	struct msg_qrule *r;
	static struct msg_qrule rule;
	char prefix[QDB_PATH_MAX + 1];
	const struct qdb_entry *ent;
	const char *rest, *v;
	size_t first, n, i;
	uint32_t count = 0;
	int fam, bad = 0;

	memset(&b, 0, sizeof(b));
	if ((fam = qdb_fw_key(marker, b.addr, &rest)) == 0 || rest[0] != '\0') {
		log_rl(LOG_LVL_WARN, "qubesdb: %s: not a firewall marker",
		    marker);
		return;
	}
	b.family = (uint8_t)fam;
	snprintf(prefix, sizeof(prefix), "%s/", marker);
	n = qdb_prefix(&c->db, prefix, &first);
	for (i = first; i < first + n; i++) {
		ent = &c->db.e[i];
		rest = ent->path + strlen(prefix);
		if (strcmp(rest, "policy") == 0) {
			v = ent->value;
			if (strcmp(v, "accept") != 0 && strcmp(v, "drop") != 0) {
				log_rl(LOG_LVL_WARN, "qubesdb: %s: bad policy "
				    "\"%.32s\": dropping all from this client",
				    ent->path, v);
				bad = 1;
			} else
				snprintf(b.policy, sizeof(b.policy), "%s", v);
		} else if (is_rule_index(rest)) {
			if (ent->len > QRULE_MAX || ent->len == 0) {
				log_rl(LOG_LVL_WARN, "qubesdb: %s: rule of %u "
				    "bytes: dropping all from this client",
				    ent->path, ent->len);
				bad = 1;
			}
			count++;
		} else {
			log_rl(LOG_LVL_WARN, "qubesdb: %s: unexpected key: "
			    "dropping all from this client", ent->path);
			bad = 1;
		}
	}
	if (bad) {
		snprintf(b.policy, sizeof(b.policy), "drop");
		count = 1;
	}
	b.count = count;
	memset(&e, 0, sizeof(e));
	e.family = b.family;
	memcpy(e.addr, b.addr, sizeof(e.addr));
	log_info("qubesdb: rules for %s: %u, policy %s", marker + strlen(FW_PREFIX),
	    count, b.policy[0] ? b.policy : "(none)");
	if (c->send(c->arg, MSG_QRULES_BEGIN, &b, sizeof(b), -1) == -1)
		goto fail;
	r = &rule;
	if (bad) {
		memset(r, 0, sizeof(*r));
		r->len = (uint32_t)strlen("action=drop");
		memcpy(r->text, "action=drop", r->len);
		if (c->send(c->arg, MSG_QRULE, r, sizeof(*r), -1) == -1)
			goto fail;
	} else {
		for (i = first; i < first + n; i++) {
			ent = &c->db.e[i];
			rest = ent->path + strlen(prefix);
			if (!is_rule_index(rest))
				continue;
			memset(r, 0, sizeof(*r));
			r->key = (uint32_t)((rest[0] - '0') * 1000 +
			    (rest[1] - '0') * 100 + (rest[2] - '0') * 10 +
			    (rest[3] - '0'));
			r->len = ent->len;
			memcpy(r->text, ent->value, ent->len);
			if (c->send(c->arg, MSG_QRULE, r, sizeof(*r), -1) == -1)
				goto fail;
		}
	}
	if (c->send(c->arg, MSG_QRULES_END, &e, sizeof(e), -1) == -1)
		goto fail;
	return;
fail:
	log_warn("send rules for %s", marker);
}

/* "/qubes-firewall/<ip>" exactly (the commit marker), not its subkeys. */
static int
is_marker(const char *path)
{
	uint8_t addr[16];
	const char *rest;

	return qdb_fw_key(path, addr, &rest) != 0 && rest[0] == '\0';
}

void
conf_sync_begin(struct conf *c)
{
	qdb_free(&c->db);
	qdb_init(&c->db);
	c->syncing = 1;
}

void
conf_sync_end(struct conf *c)
{
	size_t first, n, i;
	char marker[QDB_PATH_MAX];

	c->syncing = 0;
	log_info("qubesdb: %zu keys", c->db.n);
	send_netconf(c, 1);
	send_clients(c, 1);
	send_clients6(c, 1);
	n = qdb_prefix(&c->db, FW_PREFIX, &first);
	for (i = first; i < first + n; i++) {
		if (!is_marker(c->db.e[i].path))
			continue;
		/* conf_send_rules reads the db but does not change it. */
		snprintf(marker, sizeof(marker), "%s", c->db.e[i].path);
		conf_send_rules(c, marker);
	}
}

void
conf_write(struct conf *c, const char *path, const void *val, size_t len)
{
	if (qdb_write(&c->db, path, val, len) == -1) {
		log_rl(LOG_LVL_WARN, "qubesdb: refusing write of %.63s "
		    "(%zu bytes)", path, len);
		return;
	}
	log_debug("qubesdb: write %s", path);
	if (c->syncing)
		return;
	if (is_netconf_key(path))
		send_netconf(c, 0);
	else if (is_clients_key(path)) {
		/* each is sent only if it changed */
		send_clients(c, 0);
		send_clients6(c, 0);
	}
	else if (is_marker(path))
		conf_send_rules(c, path);
}

void
conf_rm(struct conf *c, const char *path)
{
	size_t n;

	n = qdb_rm(&c->db, path);
	log_debug("qubesdb: rm %s (%zu keys)", path, n);
	if (c->syncing || n == 0)
		return;
	/* A subtree rm may cover any key: recompute both snapshots; each is
	 * sent only if it changed. Rules wait for the next marker. */
	send_netconf(c, 0);
	send_clients(c, 0);
	send_clients6(c, 0);
}

void
conf_replay(struct conf *c, const struct qdb *src)
{
	size_t i;

	conf_sync_begin(c);
	/* dom0 dumps in reverse byte order of path; do the same, so a file
	 * and a live dump produce the same sequence. */
	for (i = src->n; i-- > 0; )
		conf_write(c, src->e[i].path, src->e[i].value, src->e[i].len);
	conf_sync_end(c);
}
