/*
 * fuzz_qrule.c: the Qubes rule grammar on arbitrary bytes. A rule that
 * parses must format back into a string that parses to the same rule.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policyd/qrule.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qrule r, r2;
	char err[256], buf[512];
	int n;

	if (size > 4096)
		return 0;
	(void)qrule_policy((const char *)data, size);
	if (qrule_parse((const char *)data, size, &r, err, sizeof err) == -1) {
		if (err[0] == '\0' || strlen(err) >= sizeof err)
			abort();
		return 0;
	}
	n = qrule_format(&r, buf, sizeof buf);
	if (n < 0 || (size_t)n >= sizeof buf)
		abort();
	if (qrule_parse(buf, (size_t)n, &r2, err, sizeof err) == -1)
		abort();
	/* single ports format as N-N; never is derived; compare the rest */
	if (memcmp(&r, &r2, sizeof r) != 0)
		abort();
	return 0;
}
