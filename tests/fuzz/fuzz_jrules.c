/*
 * fuzz_jrules.c: the JSON rule loader on arbitrary documents. A document
 * that loads must dump, with and without GetRules' hit counts, into one
 * that loads again with the same rules (and the same port forwards), and
 * evaluating a flow against the set must not fault.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policyd/dnscache.h"
#include "policyd/jrules.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct dnsc dns;
static struct engine eng;	/* holds the set loaded last, for its counts */

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rset s, s2;
	void *doc, *doc2;
	char err[512], *text;
	size_t len;
	uint32_t i;
	int k;

	if (jrules_load((const char *)data, size, &s, &doc, err, sizeof err) == -1) {
		if (err[0] == '\0')
			abort();
		return 0;
	}
	if (eng.generation == 0)
		engine_init(&eng, &dns);
	engine_set_json(&eng, &s, doc);		/* the engine owns them now */
	for (i = 0; i < eng.json.n; i++)
		eng.json.hits[i] = (uint64_t)i * 0x9e3779b97f4a7c15ull;
	eng.default_hits = size;
	for (k = 0; k < 2; k++) {
		text = k == 0 ? jrules_dump(eng.jdoc, &len) :
		    jrules_dump_hits(eng.jdoc, &eng, &len);
		if (text == NULL)
			abort();
		if (jrules_load(text, len, &s2, &doc2, err, sizeof err) == -1)
			abort();
		if (eng.json.n != s2.n)
			abort();
		/* the forwards too: the same table for natd */
		if ((eng.json.fwd == NULL) != (s2.fwd == NULL) ||
		    (s2.fwd != NULL && memcmp(eng.json.fwd, s2.fwd,
		    sizeof *s2.fwd) != 0))
			abort();
		/* and the rate limits: the same table for natd */
		if ((eng.json.lim == NULL) != (s2.lim == NULL) ||
		    (s2.lim != NULL && memcmp(eng.json.lim, s2.lim,
		    sizeof *s2.lim) != 0))
			abort();
		for (i = 0; i < s2.n; i++) {
			struct prule a = eng.json.rules[i], b = s2.rules[i];

			a.host = b.host = NULL;
			if (memcmp(&a, &b, sizeof a) != 0)
				abort();
		}
		free(text);
		rset_free(&s2);
		jrules_doc_free(doc2);
	}
	{
		struct evctx cx = { .dns = &dns, .now = 1, .now_ms = 1 };
		struct fkey f = { .family = 4, .proto = 6, .dport = 80 };
		uint32_t w;

		memcpy(f.dst, data, size < 4 ? size : 4);
		(void)rset_eval(&eng.json, &f, &cx, &w);
		dnsc_init(&dns);
	}
	return 0;
}
