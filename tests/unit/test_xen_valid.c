/*
 * test_xen_valid.c: the pure checks netbackd applies to netif rings and
 * XenStore values (netbackd/xen_valid.c).
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "t.h"
#include "netbackd/xen_valid.h"

static struct netif_tx_request
txr(uint32_t gref, uint16_t off, uint16_t flags, uint16_t id, uint16_t size)
{
	struct netif_tx_request r = { gref, off, flags, id, size };

	return r;
}

static struct netif_tx_request
txextra(uint8_t type, uint8_t flags, uint16_t gso_size, uint8_t gso_type)
{
	struct netif_tx_request r;
	struct netif_extra_info e;

	memset(&r, 0xaa, sizeof(r));
	memset(&e, 0, sizeof(e));
	e.type = type;
	e.flags = flags;
	e.u.gso.size = gso_size;
	e.u.gso.type = gso_type;
	memcpy(&r, &e, sizeof(e));
	return r;
}

static void
tx_single(void)
{
	struct netif_tx_request r[1] = { txr(9, 100, 0, 7, 60) };
	struct xnv_tx_pkt p;

	T_EQ_INT(xnv_tx_parse(r, 1, &p), XNV_OK);
	T_EQ_INT(p.nslots, 1);
	T_EQ_INT(p.nfrags, 1);
	T_EQ_INT(p.total, 60);
	T_EQ_INT(p.frag[0].gref, 9);
	T_EQ_INT(p.frag[0].off, 100);
	T_EQ_INT(p.frag[0].len, 60);
}

static void
tx_multislot(void)
{
	struct netif_tx_request r[4] = {
		txr(1, 0, NETTXF_more_data | NETTXF_csum_blank, 1, 1500),
		txr(2, 10, NETTXF_more_data, 2, 500),
		txr(3, 0, NETTXF_more_data, 3, 0),	/* zero-size: allowed, skipped */
		txr(4, 4000, 0, 4, 96),
	};
	struct xnv_tx_pkt p;

	T_EQ_INT(xnv_tx_parse(r, 4, &p), XNV_OK);
	T_EQ_INT(p.nslots, 4);
	T_EQ_INT(p.nfrags, 3);
	T_EQ_INT(p.frag[0].len, 1500 - 596);
	T_EQ_INT(p.frag[1].gref, 2);
	T_EQ_INT(p.frag[1].len, 500);
	T_EQ_INT(p.frag[2].gref, 4);
	T_EQ_INT(p.frag[2].off, 4000);
	T_EQ_INT(p.flags & NETTXF_csum_blank, NETTXF_csum_blank);
}

static void
tx_first_slot_empty(void)
{
	/* All bytes in later slots: headers split, still one linear copy. */
	struct netif_tx_request r[2] = {
		txr(1, 0, NETTXF_more_data, 1, 100),
		txr(2, 0, 0, 2, 100),
	};
	struct xnv_tx_pkt p;

	T_EQ_INT(xnv_tx_parse(r, 2, &p), XNV_OK);
	T_EQ_INT(p.nfrags, 1);
	T_EQ_INT(p.frag[0].gref, 2);
	T_EQ_INT(p.frag[0].len, 100);
}

static void
tx_extras(void)
{
	struct netif_tx_request r[4] = {
		txr(1, 0, NETTXF_extra_info | NETTXF_more_data, 1, 3000),
		txextra(XEN_NETIF_EXTRA_TYPE_GSO, XEN_NETIF_EXTRA_FLAG_MORE, 1448,
		    XEN_NETIF_GSO_TYPE_TCPV4),
		txextra(XEN_NETIF_EXTRA_TYPE_HASH, 0, 0, 0),
		txr(2, 0, 0, 2, 1000),
	};
	struct xnv_tx_pkt p;

	T_EQ_INT(xnv_tx_parse(r, 4, &p), XNV_OK);
	T_EQ_INT(p.nslots, 4);
	T_EQ_INT(p.nextra, 2);
	T_EQ_INT(p.gso_size, 1448);
	T_EQ_INT(p.gso_type, XEN_NETIF_GSO_TYPE_TCPV4);
	T_EQ_INT(p.nfrags, 2);
	T_EQ_INT(p.frag[0].len, 2000);
}

static void
tx_bad_extras(void)
{
	struct netif_tx_request r[8];
	struct xnv_tx_pkt p;
	int i;

	r[0] = txr(1, 0, NETTXF_extra_info, 1, 100);
	/* missing: chain past the published requests */
	T_EQ_INT(xnv_tx_parse(r, 1, &p), XNV_FATAL);
	r[1] = txextra(XEN_NETIF_EXTRA_TYPE_GSO, XEN_NETIF_EXTRA_FLAG_MORE, 1448, 1);
	T_EQ_INT(xnv_tx_parse(r, 2, &p), XNV_FATAL);
	r[1] = txextra(0, 0, 0, 0);
	T_EQ_INT(xnv_tx_parse(r, 2, &p), XNV_FATAL);
	r[1] = txextra(XEN_NETIF_EXTRA_TYPE_MAX, 0, 0, 0);
	T_EQ_INT(xnv_tx_parse(r, 2, &p), XNV_FATAL);
	r[1] = txextra(0xff, 0, 0, 0);
	T_EQ_INT(xnv_tx_parse(r, 2, &p), XNV_FATAL);
	r[1] = txextra(XEN_NETIF_EXTRA_TYPE_GSO, 0, 0, XEN_NETIF_GSO_TYPE_TCPV4);
	T_EQ_INT(xnv_tx_parse(r, 2, &p), XNV_FATAL);
	r[1] = txextra(XEN_NETIF_EXTRA_TYPE_GSO, 0, 1448, 3);
	T_EQ_INT(xnv_tx_parse(r, 2, &p), XNV_FATAL);
	r[1] = txextra(XEN_NETIF_EXTRA_TYPE_MCAST_ADD, 0, 0, 0);
	T_EQ_INT(xnv_tx_parse(r, 2, &p), XNV_OK);
	/* an endless MORE chain stops at the cap */
	for (i = 1; i < 8; i++)
		r[i] = txextra(XEN_NETIF_EXTRA_TYPE_HASH, XEN_NETIF_EXTRA_FLAG_MORE, 0, 0);
	T_EQ_INT(xnv_tx_parse(r, 8, &p), XNV_FATAL);
	T_ASSERT(strstr(p.reason, "too many") != NULL);
}

static void
tx_slot_counts(void)
{
	struct netif_tx_request r[40];
	struct xnv_tx_pkt p;
	unsigned further;

	for (further = 17; further <= 22; further++) {
		unsigned i;

		r[0] = txr(1, 0, NETTXF_more_data, 0, (uint16_t)(100 + further * 10));
		for (i = 1; i <= further; i++)
			r[i] = txr(i + 1, 0, i < further ? NETTXF_more_data : 0,
			    (uint16_t)i, 10);
		xnv_tx_parse(r, further + 1, &p);
		if (further <= 18) {
			T_EQ_INT(p.verdict, XNV_OK);
			T_EQ_INT(p.nfrags, further + 1);
			T_EQ_INT(p.frag[0].len, 100);
		} else if (further <= 20) {
			T_EQ_INT(p.verdict, XNV_DROP);
			T_EQ_INT(p.nslots, further + 1);
		} else
			T_EQ_INT(p.verdict, XNV_FATAL);
	}
	/* a chain that runs past what was published */
	r[0] = txr(1, 0, NETTXF_more_data, 0, 200);
	r[1] = txr(2, 0, NETTXF_more_data, 1, 10);
	T_EQ_INT(xnv_tx_parse(r, 2, &p), XNV_FATAL);
}

static void
tx_bounds(void)
{
	struct netif_tx_request r[2];
	struct xnv_tx_pkt p;

	r[0] = txr(1, 4000, 0, 0, 96);
	T_EQ_INT(xnv_tx_parse(r, 1, &p), XNV_OK);
	r[0] = txr(1, 4000, 0, 0, 97);
	T_EQ_INT(xnv_tx_parse(r, 1, &p), XNV_FATAL);
	r[0] = txr(1, 0xffff, 0, 0, 60);
	T_EQ_INT(xnv_tx_parse(r, 1, &p), XNV_FATAL);
	r[0] = txr(1, 0, NETTXF_more_data, 0, 200);
	r[1] = txr(2, 4001, 0, 1, 96);
	T_EQ_INT(xnv_tx_parse(r, 2, &p), XNV_FATAL);
	T_ASSERT(strstr(p.reason, "page") != NULL);
	/* later slot bigger than the packet: the first slot is too small */
	r[1] = txr(2, 0, 0, 1, 201);
	T_EQ_INT(xnv_tx_parse(r, 2, &p), XNV_FATAL);
	r[1] = txr(2, 0, 0, 1, 200);
	T_EQ_INT(xnv_tx_parse(r, 2, &p), XNV_OK);
	/* runts and empty packets */
	r[0] = txr(1, 0, 0, 0, 0);
	T_EQ_INT(xnv_tx_parse(r, 1, &p), XNV_FATAL);
	r[0] = txr(1, 0, 0, 0, 13);
	T_EQ_INT(xnv_tx_parse(r, 1, &p), XNV_FATAL);
	r[0] = txr(1, 0, 0, 0, 14);
	T_EQ_INT(xnv_tx_parse(r, 1, &p), XNV_OK);
	T_EQ_INT(xnv_tx_parse(r, 0, &p), XNV_FATAL);
	/* a 64 KiB packet in one slot cannot fit in its page */
	r[0] = txr(1, 0, 0, 0, 0xffff);
	T_EQ_INT(xnv_tx_parse(r, 1, &p), XNV_FATAL);
}

static void
prod_checks(void)
{
	T_EQ_INT(xnv_prod_ok(256, 0, 256), 1);
	T_EQ_INT(xnv_prod_ok(257, 0, 256), 0);
	T_EQ_INT(xnv_prod_ok(5, 0xfffffffe, 256), 1);	/* wraps */
	T_EQ_INT(xnv_prod_ok(0xfffffff0, 5, 256), 0);	/* behind us */
	T_EQ_INT(xnv_prod_ok(7, 7, 256), 1);
}

static void
tx_responses(void)
{
	uint8_t pending[256] = { 0 };
	struct netif_tx_response r;
	const char *why = NULL;

	pending[5] = 1;
	r.id = 5;
	r.status = NETIF_RSP_OKAY;
	T_EQ_INT(xnv_tx_rsp_check(&r, pending, 256, &why), 1);
	r.status = NETIF_RSP_ERROR;
	T_EQ_INT(xnv_tx_rsp_check(&r, pending, 256, &why), 1);
	r.status = NETIF_RSP_NULL;
	r.id = 999;
	T_EQ_INT(xnv_tx_rsp_check(&r, pending, 256, &why), 0);
	r.status = NETIF_RSP_OKAY;
	r.id = 6;
	T_EQ_INT(xnv_tx_rsp_check(&r, pending, 256, &why), -1);
	r.id = 256;
	T_EQ_INT(xnv_tx_rsp_check(&r, pending, 256, &why), -1);
	r.id = 0xffff;
	T_EQ_INT(xnv_tx_rsp_check(&r, pending, 256, &why), -1);
	r.id = 5;
	r.status = 77;
	T_EQ_INT(xnv_tx_rsp_check(&r, pending, 256, &why), -1);
	T_ASSERT(why != NULL);
}

static void
rx_responses(void)
{
	struct netif_rx_response r[24];
	uint16_t ids[24];
	struct xnv_rx_pkt p;
	struct netif_extra_info e;
	int i;

	for (i = 0; i < 24; i++)
		ids[i] = (uint16_t)(100 + i);
	r[0] = (struct netif_rx_response){ 100, 0, 0, 60 };
	T_EQ_INT(xnv_rx_parse(r, ids, 1, &p), XNV_OK);
	T_EQ_INT(p.total, 60);
	T_EQ_INT(p.nslots, 1);
	/* same-slot rule */
	r[0].id = 101;
	T_EQ_INT(xnv_rx_parse(r, ids, 1, &p), XNV_FATAL);
	r[0].id = 100;
	/* offset + status past the page */
	r[0].offset = 4000;
	r[0].status = 97;
	T_EQ_INT(xnv_rx_parse(r, ids, 1, &p), XNV_FATAL);
	r[0].status = 96;
	T_EQ_INT(xnv_rx_parse(r, ids, 1, &p), XNV_OK);
	/* negative status drops, including GNTST codes */
	r[0].status = -8;
	T_EQ_INT(xnv_rx_parse(r, ids, 1, &p), XNV_DROP);
	/* multi-slot */
	r[0] = (struct netif_rx_response){ 100, 0, NETRXF_more_data, 4096 };
	r[1] = (struct netif_rx_response){ 101, 0, 0, 100 };
	T_EQ_INT(xnv_rx_parse(r, ids, 2, &p), XNV_OK);
	T_EQ_INT(p.total, 4196);
	T_EQ_INT(p.nfrags, 2);
	/* more_data with nothing published after it yet: wait */
	T_EQ_INT(xnv_rx_parse(r, ids, 1, &p), XNV_MORE);
	/* too many slots */
	for (i = 0; i < 24; i++)
		r[i] = (struct netif_rx_response){ ids[i], 0, NETRXF_more_data, 100 };
	T_EQ_INT(xnv_rx_parse(r, ids, 24, &p), XNV_FATAL);
	/* extras: GSO ok, bad GSO fatal */
	r[0] = (struct netif_rx_response){ 100, 0, NETRXF_extra_info, 1000 };
	memset(&e, 0, sizeof(e));
	e.type = XEN_NETIF_EXTRA_TYPE_GSO;
	e.u.gso.size = 1448;
	e.u.gso.type = XEN_NETIF_GSO_TYPE_TCPV4;
	memcpy(&r[1], &e, sizeof(e));
	T_EQ_INT(xnv_rx_parse(r, ids, 2, &p), XNV_OK);
	T_EQ_INT(p.gso_size, 1448);
	T_EQ_INT(p.nslots, 2);
	e.u.gso.size = 0;
	memcpy(&r[1], &e, sizeof(e));
	T_EQ_INT(xnv_rx_parse(r, ids, 2, &p), XNV_FATAL);
	e.type = 9;
	memcpy(&r[1], &e, sizeof(e));
	T_EQ_INT(xnv_rx_parse(r, ids, 2, &p), XNV_FATAL);
	T_EQ_INT(xnv_rx_parse(r, ids, 1, &p), XNV_MORE);
}

static void
xs_values(void)
{
	uint64_t n;
	uint8_t mac[6], a6[16];
	uint32_t ip;
	enum xenbus_state st;
	unsigned d, v;
	const char *rest;

	T_EQ_INT(xnv_parse_uint("0", 1, 10, &n), 0);
	T_EQ_INT(n, 0);
	T_EQ_INT(xnv_parse_uint("4294967295", 10, 0xffffffffu, &n), 0);
	T_EQ_INT(n, 0xffffffffu);
	T_EQ_INT(xnv_parse_uint("4294967296", 10, 0xffffffffu, &n), -1);
	T_EQ_INT(xnv_parse_uint("18446744073709551616", 20, UINT64_MAX, &n), -1);
	T_EQ_INT(xnv_parse_uint("18446744073709551615", 20, UINT64_MAX, &n), 0);
	T_EQ_INT(xnv_parse_uint("01", 2, 10, &n), -1);
	T_EQ_INT(xnv_parse_uint("", 0, 10, &n), -1);
	T_EQ_INT(xnv_parse_uint("-1", 2, 10, &n), -1);
	T_EQ_INT(xnv_parse_uint("+1", 2, 10, &n), -1);
	T_EQ_INT(xnv_parse_uint(" 1", 2, 10, &n), -1);
	T_EQ_INT(xnv_parse_uint("1\0" "2", 3, 100, &n), -1);
	T_EQ_INT(xnv_parse_uint("11", 2, 10, &n), -1);

	T_EQ_INT(xnv_parse_mac("00:16:3e:5e:6c:0A", 17, mac), 0);
	T_EQ_MEM(mac, "\x00\x16\x3e\x5e\x6c\x0a", 6);
	T_EQ_INT(xnv_parse_mac("00:16:3e:5e:6c:0", 16, mac), -1);
	T_EQ_INT(xnv_parse_mac("00-16-3e-5e-6c-0a", 17, mac), -1);
	T_EQ_INT(xnv_parse_mac("00:16:3e:5e:6c:0g", 17, mac), -1);
	T_EQ_INT(xnv_parse_mac("00:16:3e:5e:6c:0a ", 18, mac), -1);

	T_EQ_INT(xnv_parse_ip4_first("10.137.0.5", 10, &ip), 0);
	T_EQ_MEM(&ip, "\x0a\x89\x00\x05", 4);
	T_EQ_INT(xnv_parse_ip4_first("10.137.0.5 fd09:24ef::5", 23, &ip), 0);
	T_EQ_MEM(&ip, "\x0a\x89\x00\x05", 4);
	T_EQ_INT(xnv_parse_ip4_first("10.137.0", 8, &ip), -1);
	T_EQ_INT(xnv_parse_ip4_first("10.137.0.256", 12, &ip), -1);
	T_EQ_INT(xnv_parse_ip4_first("10.137.0.5.1", 12, &ip), -1);
	T_EQ_INT(xnv_parse_ip4_first("10..0.5", 7, &ip), -1);
	T_EQ_INT(xnv_parse_ip4_first("fd09::5", 7, &ip), -1);
	T_EQ_INT(xnv_parse_ip4_first("", 0, &ip), -1);

	/* the vif's ip key with the `ipv6` feature: "IPV4 IPV6" */
	T_EQ_INT(xnv_parse_ip6_in_list("10.137.0.5 fd09:24ef:4179::a89:5", 32, a6), 1);
	T_EQ_MEM(a6, "\xfd\x09\x24\xef\x41\x79\0\0\0\0\0\0\x0a\x89\0\x05", 16);
	T_EQ_INT(xnv_parse_ip6_in_list("10.137.0.5", 10, a6), 0);
	T_EQ_INT(xnv_parse_ip6_in_list("", 0, a6), 0);
	T_EQ_INT(xnv_parse_ip6_in_list("10.137.0.5  ", 12, a6), 0);
	/* the length bounds it, not a NUL */
	T_EQ_INT(xnv_parse_ip6_in_list("10.137.0.5 fd09::5ffff", 18, a6), 1);
	T_EQ_MEM(a6, "\xfd\x09\0\0\0\0\0\0\0\0\0\0\0\0\0\x05", 16);
	/* the first IPv6 word decides */
	T_EQ_INT(xnv_parse_ip6_in_list("10.137.0.5 2001:db8::1 fd09::5", 30, a6), 1);
	T_EQ_MEM(a6, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01", 16);
	T_EQ_INT(xnv_parse_ip6_in_list("10.137.0.5 fe80::1 fd09::5", 26, a6), -1);
	T_EQ_INT(xnv_parse_ip6_in_list("10.137.0.5 ff02::1", 18, a6), -1);
	T_EQ_INT(xnv_parse_ip6_in_list("10.137.0.5 ::", 13, a6), -1);
	T_EQ_INT(xnv_parse_ip6_in_list("10.137.0.5 fd09::5/64", 21, a6), -1);
	T_EQ_INT(xnv_parse_ip6_in_list("10.137.0.5 fd09::\0:5", 20, a6), -1);
	T_EQ_INT(xnv_parse_ip6_in_list("10.137.0.5 fd09:0000:0000:0000:0000:0000:0000:0000:5", 52, a6), -1);
	T_EQ_INT(xnv_parse_ip6_in_list("10.137.0.5 ::ffff:10.1.1.1", 26, a6), -1);
	{
		static const char longw[] = "10.137.0.5 1:1:1:1:1:1:1:1:1:1:1:1:1:1:1:1:1:1:1:1:1:1:1:1:1:1:1:1:1:1";

		T_EQ_INT(xnv_parse_ip6_in_list(longw, strlen(longw), a6), -1);
	}

	T_EQ_INT(xnv_parse_state("4", 1, &st), 0);
	T_EQ_INT(st, XB_CONNECTED);
	T_EQ_INT(xnv_parse_state("9", 1, &st), -1);

	T_EQ_INT(xnv_parse_vif_path("/local/domain/3/backend/vif/12/0", 3, &d, &v, &rest), 0);
	T_EQ_INT(d, 12);
	T_EQ_INT(v, 0);
	T_EQ_STR(rest, "");
	T_EQ_INT(xnv_parse_vif_path("/local/domain/3/backend/vif/12/0/state", 3, &d, &v, &rest), 0);
	T_EQ_STR(rest, "/state");
	T_EQ_INT(xnv_parse_vif_path("/local/domain/4/backend/vif/12/0", 3, &d, &v, &rest), -1);
	T_EQ_INT(xnv_parse_vif_path("/local/domain/3/backend/vif/12", 3, &d, &v, &rest), -1);
	T_EQ_INT(xnv_parse_vif_path("/local/domain/3/backend/vif/012/0", 3, &d, &v, &rest), -1);
	T_EQ_INT(xnv_parse_vif_path("/local/domain/3/backend/vif/99999/0", 3, &d, &v, &rest), -1);
	T_EQ_INT(xnv_parse_vif_path("/local/domain/3/backend/vbd/12/0", 3, &d, &v, &rest), -1);
	T_EQ_INT(xnv_parse_vif_path("/local/domain/3/backend/vif/12/0x", 3, &d, &v, &rest), -1);
}

int
main(void)
{
	T_RUN(tx_single);
	T_RUN(tx_multislot);
	T_RUN(tx_first_slot_empty);
	T_RUN(tx_extras);
	T_RUN(tx_bad_extras);
	T_RUN(tx_slot_counts);
	T_RUN(tx_bounds);
	T_RUN(prod_checks);
	T_RUN(tx_responses);
	T_RUN(rx_responses);
	T_RUN(xs_values);
	return t_done();
}
