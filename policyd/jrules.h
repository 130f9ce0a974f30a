/*
 * jrules.h: the JSON rules of moat.SetRules (format: docs/rules.md).
 *
 * Loading is all or nothing: a document is parsed strictly (jansson with
 * duplicate keys refused), every rule is checked, and only a document
 * without a single error yields a new rule set; the caller swaps it in,
 * so on error the rules in force stay exactly as they were.
 */
#ifndef MOAT_POLICYD_JRULES_H
#define MOAT_POLICYD_JRULES_H

#include <stddef.h>

#include "engine.h"

#define JR_MAX_INPUT	(1024 * 1024)
#define JR_MAX_RULES	10000
#define JR_MAX_NAMES	4096
#define JR_NAME_MAX	64
#define JR_COMMENT_MAX	1024

/*
 * Parse and check a document. On success returns 0, fills *out (rules
 * compiled and indexed) and *doc (the document, kept for GetRules).
 * On error returns -1 and puts one line naming the rule index and the
 * field into err, e.g.
 *   rule 3: "dstports": needs "proto": "tcp" or "udp"
 */
int	jrules_load(const char *buf, size_t len, struct rset *out, void **doc,
	    char *err, size_t errlen);
/*
 * What GetRules puts in its "note" field, so that whoever reads the rules
 * also reads how they combine with the Qubes rules (docs/rules.md).
 */
#define JR_NOTE	"JSON drop and reject rules apply first; a JSON accept lets " \
	"traffic to the outside through only where the client's own Qubes " \
	"rules (qvm-firewall) accept it too; traffic between clients is " \
	"decided by these rules alone (default: dropped). This field is " \
	"ignored by moat.SetRules, as are the hits fields: the new flows " \
	"each rule decided since it was set."
/* The document in force as JSON text (malloc'd, NUL-terminated), with
 * the note first; an empty rule set when doc is NULL. */
char	*jrules_dump(const void *doc, size_t *len);
/* The same with the rules' hit counters of e (JSON rules: a "hits" field
 * in each; the default and the Qubes rules: a "hits" object at the end). */
char	*jrules_dump_hits(const void *doc, const struct engine *e, size_t *len);
void	jrules_doc_free(void *doc);
/* Swap a loaded set into the engine (freeing the old one); bumps the
 * generation. */
void	engine_set_json(struct engine *e, struct rset *s, void *doc);

#endif
