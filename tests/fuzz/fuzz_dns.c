/*
 * fuzz_dns.c: natd's DNS answer parser (and query builder) on arbitrary
 * bytes. The first two bytes of an answer are its id, so the fuzzer can
 * match the id natd expects (0x1234) and reach the record walk.
 *
 * The same bytes go through the learning parser (CNAME chains, pointers,
 * truncation: nat_dns.c) and the client query parser, whose outputs must
 * keep the shape policyd relies on (names valid and lowercase, distinct,
 * bounded in number; addresses bounded; TTL under 2^31).
 */
#include <string.h>

#include "natd/nat.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_name(const char *s)
{
	size_t i, n = strnlen(s, DNS_NAME_MAX), l = 0;

	if (n > 253)
		__builtin_trap();
	for (i = 0; i < n; i++) {
		if (s[i] == '.') {
			if (l == 0)
				__builtin_trap();
			l = 0;
		} else if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_') ||
		    ++l > 63)
			__builtin_trap();
	}
	if (n > 0 && l == 0)
		__builtin_trap();
}

static void
learn(const uint8_t *data, size_t size)
{
	static struct dns_learn l;
	char name[DNS_NAME_MAX];
	uint16_t id, qtype;
	size_t off = 12;
	int i, j;

	if (dns_parse_learn(data, size, &l) == 0) {
		if (l.nnames < 1 || l.nnames > DNS_CHAIN_MAX ||
		    l.naddr > DNS_ANSWER_MAX || l.ttl > 0x7fffffffu ||
		    (l.naddr > 0 && l.qtype != 1 && l.qtype != 28))
			__builtin_trap();
		for (i = 0; i < l.nnames; i++) {
			check_name(l.names[i]);
			if (l.names[i][0] == '\0')
				__builtin_trap();
			for (j = 0; j < i; j++)
				if (strcmp(l.names[i], l.names[j]) == 0)
					__builtin_trap();
		}
	}
	if (dns_parse_query(data, size, &id, &qtype, name) == 0)
		check_name(name);
	if (dns_read_name(data, size, &off, name) == 0) {
		check_name(name);
		if (off > size)
			__builtin_trap();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct msg_dns_answer a;
	char name[DNS_NAME_MAX];
	uint8_t q[DNS_NAME_MAX + 32];
	size_t n;

	memset(&a, 0, sizeof(a));
	dns_parse_answer(data, size, 0x1234, "example.org", 1, &a);
	if (a.naddr > DNS_ANSWER_MAX)
		__builtin_trap();
	dns_parse_answer(data, size, 0x1234, "example.org", 28, &a);
	if (a.naddr > DNS_ANSWER_MAX)
		__builtin_trap();
	learn(data, size);
	/* The same bytes as a name for the query builder. */
	n = size < sizeof(name) - 1 ? size : sizeof(name) - 1;
	memcpy(name, data, n);
	name[n] = '\0';
	dns_build_query(q, sizeof(q), 1, name, 1);
	return 0;
}
