/*
 * policy_testlib.h: what the moat.SetRules tests share (test_policy_json.c,
 * test_policy_forward.c, test_policy_limit.c): a document with the two
 * usual names, and a check that a document is refused with exactly the
 * message a user would read.
 */
#ifndef MOAT_POLICY_TESTLIB_H
#define MOAT_POLICY_TESTLIB_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "t.h"
#include "policyd/dnscache.h"
#include "policyd/engine.h"
#include "policyd/jrules.h"

#define HDR	"{\"version\":1,\"names\":{\"work\":\"10.137.0.5\",\"vault\":\"10.137.0.9\"},\"rules\":["

/* Refused with exactly the message want. */
static inline int
refused(const char *doc, const char *want)
{
	struct rset s;
	void *d;
	char err[512];

	if (jrules_load(doc, strlen(doc), &s, &d, err, sizeof err) == 0) {
		printf("# accepted: %s\n", doc);
		rset_free(&s);
		jrules_doc_free(d);
		return 0;
	}
	if (strcmp(err, want) != 0) {
		printf("# %s\n#   said: %s\n#   want: %s\n", doc, err, want);
		return 0;
	}
	return 1;
}
#define REFUSED(rules, want)	T_EXPECT(refused(HDR rules "]}", want))

/* A document loaded, printed back as GetRules prints it (text), and that
 * print loaded again (s2, d2): what a round trip compares. */
struct round_trip {
	struct rset s, s2;
	void *d, *d2;
	char *text;
	size_t len;
};

/* Load doc and print it back; 0, or -1 having said why. */
static inline int
rt_dump(struct round_trip *rt, const char *doc)
{
	char err[512];

	memset(rt, 0, sizeof *rt);
	if (jrules_load(doc, strlen(doc), &rt->s, &rt->d, err, sizeof err) != 0) {
		printf("# refused: %s\n", err);
		return -1;
	}
	if ((rt->text = jrules_dump(rt->d, &rt->len)) == NULL) {
		printf("# not printed back\n");
		return -1;
	}
	return 0;
}

/* Load the printed form again; 0, or -1 having said why. */
static inline int
rt_reload(struct round_trip *rt)
{
	char err[512];

	if (jrules_load(rt->text, rt->len, &rt->s2, &rt->d2, err,
	    sizeof err) != 0) {
		printf("# the printed form is refused: %s\n%s\n", err, rt->text);
		return -1;
	}
	return 0;
}

static inline void
rt_free(struct round_trip *rt)
{
	free(rt->text);
	rset_free(&rt->s);
	rset_free(&rt->s2);
	jrules_doc_free(rt->d);
	jrules_doc_free(rt->d2);
}

/* A literal IPv4 address in network order; a typo in a test aborts it. */
static inline uint32_t
ip(const char *s)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1)
		abort();
	return a.s_addr;
}

#endif
