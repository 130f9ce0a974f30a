/*
 * fuzz_xs.c: XenStore values and paths as a peer VM or dom0 could write
 * them, through netbackd's strict parsers (netbackd/xen_valid.c).
 *
 * Byte 0 picks the parser; the rest is the value (not NUL-terminated, may
 * contain NULs). Accepted values must print back to exactly the input.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>

#include "util.h"
#include "xen_valid.h"

#define CHECK(c) do { if (!(c)) abort(); } while (0)

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *v = (const char *)data + 1;
	size_t n = size ? size - 1 : 0;
	char out[64], *path;
	uint64_t u;
	uint8_t mac[6];
	uint32_t ip;
	enum xenbus_state st;
	unsigned dom, dev;
	const char *rest;

	if (size < 1)
		return 0;
	switch (data[0] % 6) {
	case 0:
		if (xnv_parse_uint(v, n, 0xffffffffu, &u) == 0) {
			CHECK(u <= 0xffffffffu);
			snprintf(out, sizeof(out), "%llu", (unsigned long long)u);
			CHECK(strlen(out) == n && memcmp(out, v, n) == 0);
		}
		break;
	case 1:
		if (xnv_parse_mac(v, n, mac) == 0) {
			CHECK(n == 17);
			snprintf(out, sizeof(out), "%02x:%02x:%02x:%02x:%02x:%02x",
			    mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
			CHECK(strncasecmp(out, v, 17) == 0);
		}
		break;
	case 2:
		if (xnv_parse_ip4_first(v, n, &ip) == 0) {
			const uint8_t *b = (const uint8_t *)&ip;
			size_t k;

			snprintf(out, sizeof(out), "%u.%u.%u.%u", b[0], b[1], b[2], b[3]);
			k = strlen(out);
			CHECK(k <= n && memcmp(out, v, k) == 0 && (k == n || v[k] == ' '));
		}
		break;
	case 3:
		if (xnv_parse_state(v, n, &st) == 0)
			CHECK(st <= XB_RECONFIGURED);
		break;
	case 4:
		/* paths arrive NUL-terminated from xs_check_watch */
		if ((path = malloc(n + 1)) == NULL)
			return 0;
		memcpy(path, v, n);
		path[n] = '\0';
		if (xnv_parse_vif_path(path, 3, &dom, &dev, &rest) == 0) {
			CHECK(dom <= 0x7fef && dev <= 0xffff);
			CHECK(rest >= path && rest <= path + strlen(path));
			CHECK(*rest == '\0' || *rest == '/');
		}
		free(path);
		break;
	case 5: {
		uint8_t a6[16], again[16];
		char txt[64];
		int r = xnv_parse_ip6_in_list(v, n, a6);

		CHECK(r >= -1 && r <= 1);
		/* what is accepted is a client's address, and says so again */
		if (r == 1) {
			CHECK(inet_ntop(AF_INET6, a6, txt, sizeof(txt)) != NULL);
			CHECK(ip6_client_parse(txt, again) == 0 && memcmp(a6, again, 16) == 0);
		}
		break;
	}
	}
	return 0;
}
