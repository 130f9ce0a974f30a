/*
 * fuzz_dns.c: natd's DNS answer parser (and query builder) on arbitrary
 * bytes. The first two bytes of an answer are its id, so the fuzzer can
 * match the id natd expects (0x1234) and reach the record walk.
 */
#include <string.h>

#include "natd/nat.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
	/* The same bytes as a name for the query builder. */
	n = size < sizeof(name) - 1 ? size : sizeof(name) - 1;
	memcpy(name, data, n);
	name[n] = '\0';
	dns_build_query(q, sizeof(q), 1, name, 1);
	return 0;
}
