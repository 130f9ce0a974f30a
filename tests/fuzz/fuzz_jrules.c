/*
 * fuzz_jrules.c: the JSON rule loader on arbitrary documents. A document
 * that loads must dump into one that loads again with the same rules (and
 * the same port forwards), and
 * evaluating a flow against the set must not fault.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policyd/dnscache.h"
#include "policyd/jrules.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct dnsc dns;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rset s, s2;
	void *doc, *doc2;
	char err[512], *text;
	size_t len;
	uint32_t i;

	if (jrules_load((const char *)data, size, &s, &doc, err, sizeof err) == -1) {
		if (err[0] == '\0')
			abort();
		return 0;
	}
	if ((text = jrules_dump(doc, &len)) == NULL)
		abort();
	if (jrules_load(text, len, &s2, &doc2, err, sizeof err) == -1)
		abort();
	if (s.n != s2.n)
		abort();
	/* the forwards too: the same table for natd */
	if ((s.fwd == NULL) != (s2.fwd == NULL) ||
	    (s.fwd != NULL && memcmp(s.fwd, s2.fwd, sizeof *s.fwd) != 0))
		abort();
	/* and the rate limits: the same table for natd */
	if ((s.lim == NULL) != (s2.lim == NULL) ||
	    (s.lim != NULL && memcmp(s.lim, s2.lim, sizeof *s.lim) != 0))
		abort();
	for (i = 0; i < s.n; i++) {
		struct prule a = s.rules[i], b = s2.rules[i];

		a.host = b.host = NULL;
		if (memcmp(&a, &b, sizeof a) != 0)
			abort();
	}
	{
		struct evctx cx = { .dns = &dns, .now = 1, .now_ms = 1 };
		struct fkey f = { .family = 4, .proto = 6, .dport = 80 };
		uint32_t w;

		memcpy(f.dst, data, size < 4 ? size : 4);
		(void)rset_eval(&s, &f, &cx, &w);
		dnsc_init(&dns);
	}
	free(text);
	rset_free(&s);
	rset_free(&s2);
	jrules_doc_free(doc);
	jrules_doc_free(doc2);
	return 0;
}
