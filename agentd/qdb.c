/*
 * qdb.c: the in-memory QubesDB: a sorted array, binary search, prefix
 * ranges. Small (a firewall VM has about a hundred keys) and bounded.
 */
#include <stdlib.h>
#include <string.h>

#include "qdb.h"

void
qdb_init(struct qdb *db)
{
	memset(db, 0, sizeof(*db));
}

void
qdb_free(struct qdb *db)
{
	size_t i;

	for (i = 0; i < db->n; i++)
		free(db->e[i].value);
	free(db->e);
	memset(db, 0, sizeof(*db));
}

/* The character set of dom0's verify_path: letters, digits, "_/.:@" and
 * '-' anywhere but first. */
int
qdb_path_ok(const char *path)
{
	size_t i;

	if (path[0] == '\0' || path[0] == '-')
		return 0;
	for (i = 0; path[i] != '\0'; i++) {
		unsigned char c = (unsigned char)path[i];

		if (i >= QDB_PATH_MAX - 1)
			return 0;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '/' ||
		    c == '.' || c == ':' || c == '@' || c == '-')
			continue;
		return 0;
	}
	return 1;
}

int
qdb_value_ok(const void *val, size_t len)
{
	return len <= QDB_VALUE_MAX && (len == 0 || memchr(val, '\0', len) == NULL);
}

/* Index of path, or where it would go (*found = 0). */
static size_t
qdb_find(const struct qdb *db, const char *path, int *found)
{
	size_t lo = 0, hi = db->n;

	*found = 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(db->e[mid].path, path);

		if (c == 0) {
			*found = 1;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int
qdb_write(struct qdb *db, const char *path, const void *val, size_t len)
{
	struct qdb_entry *e;
	char *v;
	size_t i;
	int found;

	if (!qdb_path_ok(path) || !qdb_value_ok(val, len))
		return -1;
	if ((v = malloc(len + 1)) == NULL)
		return -1;
	if (len)
		memcpy(v, val, len);
	v[len] = '\0';
	i = qdb_find(db, path, &found);
	if (found) {
		free(db->e[i].value);
		db->e[i].value = v;
		db->e[i].len = (uint32_t)len;
		return 0;
	}
	if (db->n >= QDB_MAX_ENTRIES) {
		free(v);
		return -1;
	}
	if (db->n == db->cap) {
		size_t ncap = db->cap ? db->cap * 2 : 64;

		if ((e = reallocarray(db->e, ncap, sizeof(*e))) == NULL) {
			free(v);
			return -1;
		}
		db->e = e;
		db->cap = ncap;
	}
	memmove(&db->e[i + 1], &db->e[i], (db->n - i) * sizeof(db->e[0]));
	e = &db->e[i];
	memset(e->path, 0, sizeof(e->path));
	memcpy(e->path, path, strlen(path));
	e->value = v;
	e->len = (uint32_t)len;
	db->n++;
	return 0;
}

size_t
qdb_prefix(const struct qdb *db, const char *prefix, size_t *first)
{
	size_t plen = strlen(prefix), i, n = 0;
	int found;

	i = qdb_find(db, prefix, &found);
	*first = i;
	while (i + n < db->n && strncmp(db->e[i + n].path, prefix, plen) == 0)
		n++;
	return n;
}

size_t
qdb_rm(struct qdb *db, const char *path)
{
	size_t first, n, i, len = strlen(path);
	int found;

	if (len > 0 && path[len - 1] == '/')
		n = qdb_prefix(db, path, &first);
	else {
		first = qdb_find(db, path, &found);
		n = found ? 1 : 0;
	}
	for (i = first; i < first + n; i++)
		free(db->e[i].value);
	memmove(&db->e[first], &db->e[first + n],
	    (db->n - first - n) * sizeof(db->e[0]));
	db->n -= n;
	return n;
}

const struct qdb_entry *
qdb_get(const struct qdb *db, const char *path)
{
	size_t i;
	int found;

	i = qdb_find(db, path, &found);
	return found ? &db->e[i] : NULL;
}

const char *
qdb_value(const struct qdb *db, const char *path)
{
	const struct qdb_entry *e = qdb_get(db, path);

	return e ? e->value : NULL;
}
