/*
 * natd_harness.h: the set-up every program that drives natd's engine
 * without natd shares (the unit tests through unit/natd_testlib.h, the
 * fuzz targets, the benchmark): a buffer pool in plain memory, the Qubes
 * network natd is configured for, links, netbackd's gift of the reserve,
 * and frames handed in as netbackd would. The I/O callbacks stay with each
 * program: each wants its own (capture, checks, a reference model, counts).
 */
#ifndef MOAT_TESTS_NATD_HARNESS_H
#define MOAT_TESTS_NATD_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include "natd/nat.h"

/* An address in network order, as natd and the messages carry them. */
uint32_t nh_ip4(unsigned a, unsigned b, unsigned c, unsigned d);

/* The network of nh_netconf: natd's VM, its NetVM and two clients. */
#define NH_IP_US	nh_ip4(10, 137, 0, 6)	/* /qubes-ip */
#define NH_IP_GW	nh_ip4(10, 137, 0, 1)	/* /qubes-gateway */
#define NH_IP_VGW	nh_ip4(10, 137, 0, 7)	/* /qubes-netvm-gateway */
#define NH_IP_C1	nh_ip4(10, 137, 0, 10)
#define NH_IP_C2	nh_ip4(10, 137, 0, 11)
#define NH_IP_VDNS1	nh_ip4(10, 139, 1, 1)	/* the clients' DNS */
#define NH_IP_VDNS2	nh_ip4(10, 139, 1, 2)
#define NH_IP_DNS1	nh_ip4(192, 0, 2, 53)	/* the real resolvers */
#define NH_IP_DNS2	nh_ip4(192, 0, 2, 54)

extern const uint8_t nh_mac_up[6];	/* ours, uplink */
extern const uint8_t nh_mac_c1[6];	/* ours, port 1 */
extern const uint8_t nh_mac_c2[6];	/* ours, port 2 */
extern const uint8_t nh_mac_gw[6];	/* the NetVM */
extern const uint8_t nh_mac_v1[6];	/* client 1 */
extern const uint8_t nh_mac_v2[6];	/* client 2 */

/* A pool of nbufs zeroed buffers of bufsz bytes; returns its memory (free
 * it when done). Aborts when out of memory. */
uint8_t	*nh_pool_new(struct mq_pool *pool, uint32_t nbufs, uint32_t bufsz);

/* nat_config_defaults() sized down: a table of nflows, a client quota, a
 * reserve of own_count buffers, the seed of natd's random stream. */
void	nh_config(struct nat_config *c, uint32_t nflows, uint32_t client_quota,
	    uint32_t own_count, uint64_t seed);

/* MSG_NETCONF for the network above, and handing it to the engine. */
void	nh_netconf_msg(struct msg_netconf *nc);
void	nh_netconf(struct nat_engine *e, uint64_t now_ms);

/* MSG_LINK for port (0: the uplink), named eth<port>, MTU 1500; peer may
 * be NULL (natd learns it from the first frame). nh_link hands it over. */
void	nh_link_msg(struct msg_link *l, uint16_t port, int up, uint32_t ip4,
	    const uint8_t our_mac[6], const uint8_t *peer_mac);
void	nh_link(struct nat_engine *e, uint16_t port, int up, uint32_t ip4,
	    const uint8_t our_mac[6], const uint8_t *peer_mac, uint64_t now_ms);

/*
 * IPv6 (issue 14): the same network with /qubes-ip6 fd00::6, /qubes-gateway6
 * fd00::1, /qubes-netvm-gateway6 fd09::7, clients fd09::10 and fd09::11.
 * nh_netconf6 hands natd the IPv4 configuration plus those; nh_link6 a
 * link with an IPv6 address (NULL for none).
 */
extern const uint8_t nh_ip6_us[16], nh_ip6_gw[16], nh_ip6_vgw[16],
    nh_ip6_c1[16], nh_ip6_c2[16];
void	nh_netconf6_msg(struct msg_netconf *nc);
void	nh_netconf6(struct nat_engine *e, uint64_t now_ms);
void	nh_link6(struct nat_engine *e, uint16_t port, int up, uint32_t ip4,
	    const uint8_t *ip6, const uint8_t our_mac[6],
	    const uint8_t *peer_mac, uint64_t now_ms);

/* An IPv4 header at ip, optlen bytes of options (left for the caller) and
 * l4len of payload after it; the checksum left zero. */
void	nh_ip4_hdr(uint8_t *ip, uint32_t src, uint32_t dst, uint8_t proto,
	    uint8_t ttl, uint16_t id, uint16_t frag, size_t optlen, size_t l4len);

/*
 * The natd fuzz targets' input: records of a control byte, a 16-bit
 * big-endian length and that many bytes of frame (cut short at the end of
 * the input). nh_fuzz_next reads the record at *off and moves past it; 0
 * when no record is left.
 */
int	nh_fuzz_next(const uint8_t *data, size_t size, size_t *off,
	    uint8_t *ctl, const uint8_t **frame, size_t *len);

/*
 * A descriptor for frame (len bytes) arriving on port, copied into buffer
 * *next of mem (nbufs buffers of bufsz, 64 bytes of headroom); the buffers
 * after the reserve (8) are used in turn. A parsable IPv4 header gets its
 * checksum made right, so mutated headers reach past that check (a unit
 * test covers the check itself).
 */
void	nh_fuzz_desc(struct mq_desc *d, uint8_t *mem, uint32_t nbufs,
	    size_t bufsz, uint32_t *next, uint16_t port, const uint8_t *frame,
	    size_t len);

/* natd's DNS-answer callback for a program that does not look at them. */
void	nh_dns_none(void *arg, const struct msg_dns_answer *a);

/* netbackd gives natd its reserve, buffers 0 to own_count - 1, as empty
 * descriptors to port DROP. */
void	nh_gift(struct nat_engine *e, uint64_t now_ms);

/* Hand natd frame f in buffer d->buf at d->off, with d's other fields
 * (port, offload flags) as the caller set them; d->len is set here. */
void	nh_input(struct nat_engine *e, struct mq_desc *d, const uint8_t *f,
	    size_t len, uint64_t now_ms);

/* The gateway (nh_mac_gw, NH_IP_GW) answers natd's ARP on the uplink,
 * through buffer buf. */
void	nh_learn_gw(struct nat_engine *e, uint32_t buf, uint64_t now_ms);

#endif
