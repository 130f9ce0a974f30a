/*
 * test_qdb: agentd's QubesDB store, the JSON loader and the key checks the
 * supervisor runs on a --qubesdb file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "t.h"
#include "agentd/qdb.h"

static char tmpl[] = "/tmp/test_qdb.XXXXXX";

static const char *
write_file(const char *text)
{
	static char path[64];
	FILE *f;
	int fd;

	snprintf(path, sizeof(path), "%s", tmpl);
	fd = mkstemp(path);
	if (fd == -1)
		abort();
	f = fdopen(fd, "w");
	fputs(text, f);
	fclose(f);
	return path;
}

static int
load(const char *text, struct qdb *db, char *err, size_t errlen)
{
	const char *p = write_file(text);
	int r;

	qdb_init(db);
	err[0] = '\0';
	r = qdb_load_json(p, db, err, errlen);
	unlink(p);
	return r;
}

static void
test_paths(void)
{
	char p63[64], p64[65];

	memset(p63, 'a', 63);
	p63[0] = '/';
	p63[63] = '\0';
	memset(p64, 'a', 64);
	p64[0] = '/';
	p64[64] = '\0';
	T_EXPECT(qdb_path_ok("/qubes-ip"));
	T_EXPECT(qdb_path_ok("/qubes-firewall/fd09:24ef:4179::a89:c/0001"));
	T_EXPECT(qdb_path_ok("/a_b.c@d-e"));
	T_EXPECT(qdb_path_ok(p63));
	T_EXPECT(!qdb_path_ok(p64));
	T_EXPECT(!qdb_path_ok(""));
	T_EXPECT(!qdb_path_ok("-x"));
	T_EXPECT(!qdb_path_ok("/a b"));
	T_EXPECT(!qdb_path_ok("/a\n"));
	T_EXPECT(!qdb_path_ok("/a*"));
	T_EXPECT(qdb_value_ok("x", 1));
	T_EXPECT(!qdb_value_ok("a\0b", 3));
	T_EXPECT(qdb_value_ok("", 0));
}

static void
test_write_rm(void)
{
	struct qdb db;
	size_t first, n;
	char big[QDB_VALUE_MAX + 1];

	qdb_init(&db);
	T_EQ_INT(qdb_write(&db, "/b", "2", 1), 0);
	T_EQ_INT(qdb_write(&db, "/a", "1", 1), 0);
	T_EQ_INT(qdb_write(&db, "/d/x", "3", 1), 0);
	T_EQ_INT(qdb_write(&db, "/d/y", "", 0), 0);
	T_EQ_INT(qdb_write(&db, "/d", "", 0), 0);
	T_EQ_INT(qdb_write(&db, "/dz", "z", 1), 0);
	T_EQ_INT(db.n, 6);
	T_EQ_STR(db.e[0].path, "/a");
	T_EQ_STR(db.e[2].path, "/d");
	T_EQ_STR(qdb_value(&db, "/b"), "2");
	T_EQ_INT(qdb_write(&db, "/b", "22", 2), 0);
	T_EQ_STR(qdb_value(&db, "/b"), "22");
	T_EQ_INT(db.n, 6);
	T_EQ_STR(qdb_value(&db, "/d/y"), "");
	T_ASSERT(qdb_value(&db, "/nope") == NULL);
	n = qdb_prefix(&db, "/d/", &first);
	T_EQ_INT(n, 2);
	T_EQ_STR(db.e[first].path, "/d/x");
	/* "/d/" removes the subtree only: not /d itself, not /dz */
	T_EQ_INT(qdb_rm(&db, "/d/"), 2);
	T_EQ_INT(db.n, 4);
	T_ASSERT(qdb_value(&db, "/d") != NULL);
	T_ASSERT(qdb_value(&db, "/dz") != NULL);
	T_EQ_INT(qdb_rm(&db, "/d"), 1);
	T_EQ_INT(qdb_rm(&db, "/d"), 0);
	T_EQ_INT(qdb_rm(&db, "/nothing/"), 0);
	/* dom0's limits */
	memset(big, 'v', sizeof(big));
	T_EQ_INT(qdb_write(&db, "/v", big, QDB_VALUE_MAX), 0);
	T_EQ_INT(qdb_write(&db, "/v", big, QDB_VALUE_MAX + 1), -1);
	T_EQ_INT(qdb_write(&db, "/v", "a\0b", 3), -1);
	T_EQ_INT(qdb_write(&db, "/bad path", "x", 1), -1);
	T_EQ_INT(qdb_value(&db, "/v")[0], 'v');
	qdb_free(&db);
}

static void
test_full(void)
{
	struct qdb db;
	char path[32];
	int i;

	qdb_init(&db);
	for (i = 0; i < QDB_MAX_ENTRIES; i++) {
		snprintf(path, sizeof(path), "/k%05d", i);
		T_ASSERT(qdb_write(&db, path, "", 0) == 0);
	}
	T_EQ_INT(qdb_write(&db, "/one-more", "", 0), -1);
	/* replacing an existing key still works when full */
	T_EQ_INT(qdb_write(&db, "/k00001", "x", 1), 0);
	qdb_free(&db);
}

static void
test_json_ok(void)
{
	struct qdb db;
	char err[256];

	T_EQ_INT(load("{\"/qubes-ip\": \"10.137.0.5\", \"/name\": \"sys-moat\","
	    " \"/qubes-firewall/10.137.0.12\": \"\","
	    " \"/qubes-firewall/10.137.0.12/0001\": \"action=accept proto=tcp\"}",
	    &db, err, sizeof(err)), 0);
	T_EQ_INT(db.n, 4);
	T_EQ_STR(qdb_value(&db, "/qubes-ip"), "10.137.0.5");
	T_EQ_STR(qdb_value(&db, "/qubes-firewall/10.137.0.12"), "");
	T_EQ_INT(qdb_check_config(&db, err, sizeof(err)), 0);
	qdb_free(&db);
}

static void
test_json_errors(void)
{
	struct qdb db;
	char err[256];

	T_EQ_INT(load("[1]", &db, err, sizeof(err)), -1);
	T_ASSERT(strstr(err, "not a JSON object") != NULL);
	qdb_free(&db);
	T_EQ_INT(load("{\"/a\": ", &db, err, sizeof(err)), -1);
	T_ASSERT(strstr(err, ":1:") != NULL);
	qdb_free(&db);
	T_EQ_INT(load("{\"/qubes-ip\": 5}", &db, err, sizeof(err)), -1);
	T_ASSERT(strstr(err, "\"/qubes-ip\": value must be a string") != NULL);
	qdb_free(&db);
	T_EQ_INT(load("{\"/bad key\": \"x\"}", &db, err, sizeof(err)), -1);
	T_ASSERT(strstr(err, "\"/bad key\"") != NULL);
	qdb_free(&db);
	T_EQ_INT(load("{\"name\": \"x\"}", &db, err, sizeof(err)), -1);
	T_ASSERT(strstr(err, "start with /") != NULL);
	qdb_free(&db);
	T_EQ_INT(load("{\"/a\": \"x\", \"/a\": \"y\"}", &db, err, sizeof(err)), -1);
	qdb_free(&db);
	T_EQ_INT(load("{\"/a\": \"x\\u0000y\"}", &db, err, sizeof(err)), -1);
	qdb_free(&db);
}

static void
check_one(const char *key, const char *val, int want, const char *needle)
{
	char err[256] = "";
	int r = qdb_check_key(key, val, err, sizeof(err));

	if (r != want || (needle && strstr(err, needle) == NULL))
		printf("# check %s=\"%s\": got %d (%s), want %d\n", key, val,
		    r, err, want);
	T_EXPECT(r == want);
	if (needle)
		T_EXPECT(strstr(err, needle) != NULL);
}

static void
test_check_keys(void)
{
	char rule[2000];

	check_one("/qubes-ip", "10.137.0.5", 0, NULL);
	check_one("/qubes-ip", "10.137.0", -1, "/qubes-ip: \"10.137.0\" is not an IPv4");
	check_one("/qubes-gateway", "", -1, "/qubes-gateway");
	check_one("/qubes-netvm-primary-dns", "10.139.1.1 ", -1, "netvm-primary-dns");
	check_one("/qubes-netmask", "255.255.255.255", 0, NULL);
	check_one("/qubes-ip6", "fd09:24ef:4179::a89:5", 0, NULL);
	check_one("/qubes-ip6", "10.1.1.1", -1, "IPv6");
	check_one("/qubes-debug-mode", "1", 0, NULL);
	check_one("/qubes-debug-mode", "0", 0, NULL);
	check_one("/qubes-debug-mode", "yes", -1, "/qubes-debug-mode");
	check_one("/connected-ips", "", 0, NULL);
	check_one("/connected-ips", "10.137.0.12 10.137.0.14", 0, NULL);
	check_one("/connected-ips", "10.137.0.12 bad", -1, "/connected-ips");
	check_one("/connected-ips6", "fd09::1 fd09::2", 0, NULL);
	check_one("/mapped-ip/10.137.0.12/visible-ip", "10.137.0.12", 0, NULL);
	check_one("/mapped-ip/10.137.0.12/visible-gateway", "10.137.0.5", 0, NULL);
	check_one("/mapped-ip/10.137.0.12/visible-ip", "x", -1, "IPv4");
	check_one("/mapped-ip/10.137.0.12/other", "1.1.1.1", -1, "/mapped-ip/10.137.0.12/other");
	check_one("/mapped-ip/zzz/visible-ip", "1.1.1.1", -1, "zzz");
	check_one("/qubes-firewall/10.137.0.12", "", 0, NULL);
	check_one("/qubes-firewall/10.137.0.12", "x", -1, "must be empty");
	check_one("/qubes-firewall/fd09:24ef:4179::a89:c", "", 0, NULL);
	check_one("/qubes-firewall/10.137.0.12/policy", "drop", 0, NULL);
	check_one("/qubes-firewall/10.137.0.12/policy", "accept", 0, NULL);
	check_one("/qubes-firewall/10.137.0.12/policy", "reject", -1, "policy");
	check_one("/qubes-firewall/10.137.0.12/0000", "action=accept", 0, NULL);
	check_one("/qubes-firewall/10.137.0.12/9999", "anything policyd checks", 0, NULL);
	check_one("/qubes-firewall/10.137.0.12/001", "action=accept", -1, "/001");
	check_one("/qubes-firewall/10.137.0.12/00001", "action=accept", -1, "00001");
	check_one("/qubes-firewall/10.137.0.12/x", "action=accept", -1, "/x");
	check_one("/qubes-firewall/10.137.0.12/0001", "", -1, "empty rule");
	check_one("/qubes-firewall/10.137.0.999", "", -1, "10.137.0.999");
	check_one("/qubes-firewall/", "", -1, NULL);
	memset(rule, 'a', sizeof(rule));
	rule[1025] = '\0';
	check_one("/qubes-firewall/10.137.0.12/0002", rule, -1, "longer than 1024");
	rule[1024] = '\0';
	check_one("/qubes-firewall/10.137.0.12/0002", rule, 0, NULL);
	/* keys agentd does not interpret are not checked */
	check_one("/qubes-firewall-handled/10.137.0.12", "3", 0, NULL);
	check_one("/name", "anything", 0, NULL);
}

static void
test_check_config_names_key(void)
{
	struct qdb db;
	char err[256];

	T_EQ_INT(load("{\"/qubes-ip\": \"10.137.0.5\", \"/qubes-gateway\": "
	    "\"10.137.0.300\"}", &db, err, sizeof(err)), 0);
	T_EQ_INT(qdb_check_config(&db, err, sizeof(err)), -1);
	T_ASSERT(strstr(err, "/qubes-gateway") != NULL);
	qdb_free(&db);
}

int
main(void)
{
	T_RUN(test_paths);
	T_RUN(test_write_rm);
	T_RUN(test_full);
	T_RUN(test_json_ok);
	T_RUN(test_json_errors);
	T_RUN(test_check_keys);
	T_RUN(test_check_config_names_key);
	return t_done();
}
