/*
 * qdb.h: agentd's copy of the VM's QubesDB, and the checks on it.
 *
 * The database is a sorted array of (path, value) pairs, so a subtree
 * ("/qubes-firewall/10.137.0.12/") is one contiguous range. Paths and
 * values follow dom0's qubesdb-daemon limits exactly: a path is at most
 * 63 characters of [A-Za-z0-9_/.:@-] ('-' not first), a value at most 3071
 * bytes without NUL. Anything dom0 would refuse is refused here too, so
 * the live client and the --qubesdb file accept the same database.
 *
 * This file and qdb.c / qdb_json.c / qdb_check.c are also linked by the
 * supervisor (libagentdqdb.a) to check a --qubesdb file before it starts
 * anything. They do not log: errors come back as text naming the key.
 */
#ifndef MOAT_QDB_H
#define MOAT_QDB_H

#include <stddef.h>
#include <stdint.h>

#define QDB_PATH_MAX	64	/* bytes with the NUL: 63 characters */
#define QDB_VALUE_MAX	3071	/* dom0 refuses data_len >= 3072 */
#define QDB_MAX_ENTRIES	8192	/* our bound; a real firewall VM has ~100 keys */

struct qdb_entry {
	char		 path[QDB_PATH_MAX];
	uint32_t	 len;
	char		*value;		/* len bytes + a NUL we add */
};

struct qdb {
	struct qdb_entry	*e;	/* sorted by strcmp(path) */
	size_t			 n;
	size_t			 cap;
};

/* qdb.c */
void	qdb_init(struct qdb *db);
void	qdb_free(struct qdb *db);
/* 1 if dom0's qubesdb-daemon would accept this path. */
int	qdb_path_ok(const char *path);
/* 1 if the value is acceptable (length, no NUL). */
int	qdb_value_ok(const void *val, size_t len);
/* Insert or replace. 0, or -1 (invalid path/value, or the table is full). */
int	qdb_write(struct qdb *db, const char *path, const void *val, size_t len);
/* Remove path exactly, or every key starting with path when it ends in
 * '/'. Returns how many keys went. */
size_t	qdb_rm(struct qdb *db, const char *path);
const struct qdb_entry *qdb_get(const struct qdb *db, const char *path);
/* The value as a C string, or NULL when the key is missing. */
const char *qdb_value(const struct qdb *db, const char *path);
/* The first index whose path starts with prefix, and how many do. */
size_t	qdb_prefix(const struct qdb *db, const char *prefix, size_t *first);

/* qdb_json.c */
/*
 * Load a JSON object mapping QubesDB paths to string values (the format
 * of "moat --qubesdb FILE" and "moat-dom0 serve --qubesdb FILE") into db,
 * which must be initialised. 0, or -1 with a message naming the key (or
 * the JSON error and line) in err.
 */
int	qdb_load_json(const char *path, struct qdb *db, char *err, size_t errlen);

/* qdb_check.c */
/*
 * Every key agentd interprets must be well formed: IPv4 (and IPv6)
 * addresses, "0"/"1" debug mode, address lists, /mapped-ip/<ip>/...,
 * /qubes-firewall/<ip> markers (empty), their "policy" (accept|drop) and
 * 4-digit rule keys (text at most QRULE_MAX bytes; the rule grammar is
 * policyd's to check). 0, or -1 with a message naming the first bad key.
 */
int	qdb_check_config(const struct qdb *db, char *err, size_t errlen);
/* One key/value pair, same rules; used by the live client per write. */
int	qdb_check_key(const char *path, const char *value, char *err, size_t errlen);

/* Address helpers shared with agentd (strict, no surrounding spaces). */
int	qdb_parse_ip4(const char *s, uint32_t *out);	/* network order */
int	qdb_parse_ip6(const char *s, uint8_t out[16]);
/* "/qubes-firewall/<ip>": 4 or 6 and the address, else 0. rest gets what
 * follows the address ("" for the marker itself, "/policy", "/0001"). */
int	qdb_fw_key(const char *path, uint8_t addr[16], const char **rest);

#endif
