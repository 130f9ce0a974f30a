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
