/*
 * qdb_json.c: a QubesDB snapshot from a JSON file, for running without
 * dom0 ("moat --qubesdb FILE") and for moat-dom0, which serves it.
 *
 * The file is one JSON object: {"/qubes-ip": "10.137.0.5", ...}. Values
 * must be strings (QubesDB stores nothing else); keys and values obey the
 * same limits dom0 enforces, so a file that loads here is a database that
 * dom0 could have pushed.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "qdb.h"

int
qdb_load_json(const char *path, struct qdb *db, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *root, *v;
	const char *key;
	int rc = -1;

	root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		snprintf(err, errlen, "%s:%d: %s", path, jerr.line, jerr.text);
		return -1;
	}
	if (!json_is_object(root)) {
		snprintf(err, errlen, "%s: not a JSON object of QubesDB paths",
		    path);
		goto out;
	}
	json_object_foreach(root, key, v) {
		const char *s;
		size_t len;

		if (!qdb_path_ok(key)) {
			snprintf(err, errlen, "%s: key \"%.80s\": not a valid "
			    "QubesDB path (at most 63 of A-Za-z0-9_/.:@-, "
			    "starting with /)", path, key);
			goto out;
		}
		if (key[0] != '/') {
			snprintf(err, errlen, "%s: key \"%s\": QubesDB paths "
			    "start with /", path, key);
			goto out;
		}
		if (!json_is_string(v)) {
			snprintf(err, errlen, "%s: key \"%s\": value must be "
			    "a string", path, key);
			goto out;
		}
		s = json_string_value(v);
		len = json_string_length(v);
		if (!qdb_value_ok(s, len)) {
			snprintf(err, errlen, "%s: key \"%s\": value longer "
			    "than %d bytes", path, key, QDB_VALUE_MAX);
			goto out;
		}
		if (qdb_write(db, key, s, len) == -1) {
			snprintf(err, errlen, "%s: key \"%s\": database full "
			    "(%d keys)", path, key, QDB_MAX_ENTRIES);
			goto out;
		}
	}
	rc = 0;
out:
	json_decref(root);
	return rc;
}
