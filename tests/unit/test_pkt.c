/*
 * test_pkt.c: the packet parser, checksums and builders.
 *
 * The reference frames below were built once with scapy (Debian 12,
 * /usr/bin/python3) and embedded, so their checksums are an independent
 * known-good value; for example:
 *   Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") /
 *   IP(src="10.137.0.5", dst="93.184.216.34", id=0x1234, flags="DF", ttl=63) /
 *   TCP(sport=40000, dport=443, seq=0x11223344, flags="S", window=64240,
 *       options=[("MSS",1460), ("SAckOK",b""), ("Timestamp",(1,0)),
 *                ("NOP",None), ("WScale",7)])
 * The x_* arrays are what the builders must produce, also from scapy:
 * port unreachable / frag needed (tos 0xc0, ttl 64, id 0) quoting the
 * original's IP packet, RST per RFC 793, and an ARP reply.
 */
#include "config.h"

#include <arpa/inet.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>

#include "pkt.h"
#include "t.h"
#include "tests/testutil.h"

static const uint8_t f_tcp4_syn[] = {
	0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
	0x08, 0x00, 0x45, 0x00, 0x00, 0x3c, 0x12, 0x34, 0x40, 0x00, 0x3f, 0x06,
	0xe9, 0x1f, 0x0a, 0x89, 0x00, 0x05, 0x5d, 0xb8, 0xd8, 0x22, 0x9c, 0x40,
	0x01, 0xbb, 0x11, 0x22, 0x33, 0x44, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x02,
	0xfa, 0xf0, 0x2a, 0x44, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x04, 0x02,
	0x08, 0x0a, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03,
	0x03, 0x07,
};
static const uint8_t f_tcp4_data[] = {
	0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
	0x08, 0x00, 0x45, 0x00, 0x00, 0x3a, 0x00, 0x01, 0x00, 0x00, 0x40, 0x06,
	0x3a, 0x55, 0x0a, 0x89, 0x00, 0x05, 0x5d, 0xb8, 0xd8, 0x22, 0x9c, 0x40,
	0x00, 0x50, 0x00, 0x00, 0x03, 0xe8, 0x00, 0x00, 0x07, 0xd0, 0x50, 0x18,
	0x20, 0x00, 0xc8, 0x69, 0x00, 0x00, 0x47, 0x45, 0x54, 0x20, 0x2f, 0x20,
	0x48, 0x54, 0x54, 0x50, 0x2f, 0x31, 0x2e, 0x30, 0x0d, 0x0a, 0x0d, 0x0a,
};
static const uint8_t f_udp4_dns[] = {
	0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
	0x08, 0x00, 0x45, 0x00, 0x00, 0x39, 0x00, 0x01, 0x00, 0x00, 0x40, 0x11,
	0x64, 0x9a, 0x0a, 0x89, 0x00, 0x05, 0x0a, 0x8b, 0x01, 0x01, 0x14, 0xe9,
	0x00, 0x35, 0x00, 0x25, 0x46, 0x0f, 0xbe, 0xef, 0x01, 0x00, 0x00, 0x01,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 0x65, 0x78, 0x61, 0x6d, 0x70,
	0x6c, 0x65, 0x03, 0x63, 0x6f, 0x6d, 0x00, 0x00, 0x01, 0x00, 0x01,
};
static const uint8_t f_udp4_pad[] = {
	0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
	0x08, 0x00, 0x45, 0x00, 0x00, 0x1e, 0x00, 0x01, 0x00, 0x00, 0x40, 0x11,
	0x65, 0xb7, 0x0a, 0x89, 0x00, 0x05, 0x0a, 0x89, 0x00, 0x01, 0x03, 0xe8,
	0x07, 0xd0, 0x00, 0x0a, 0x76, 0xa1, 0x68, 0x69, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};
static const uint8_t f_icmp4_echo[] = {
	0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
	0x08, 0x00, 0x45, 0x00, 0x00, 0x2c, 0x00, 0x01, 0x00, 0x00, 0x40, 0x01,
	0x60, 0x33, 0x0a, 0x89, 0x00, 0x05, 0x08, 0x08, 0x08, 0x08, 0x08, 0x00,
	0x72, 0x6b, 0x42, 0x42, 0x00, 0x07, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66,
	0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f, 0x70,
};
static const uint8_t f_ip4_opts_udp[] = {
	0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
	0x08, 0x00, 0x48, 0x00, 0x00, 0x2b, 0x00, 0x01, 0x00, 0x00, 0x40, 0x11,
	0x43, 0x8f, 0x0a, 0x89, 0x00, 0x05, 0x0a, 0x89, 0x00, 0x01, 0x07, 0x0b,
	0x04, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x00, 0x00, 0x01,
	0x00, 0x02, 0x00, 0x0b, 0xf8, 0x43, 0x78, 0x79, 0x7a,
};
/* IP/UDP of 520 bytes cut by scapy fragment(fragsize=256): two of three. */
static const uint8_t f_frag4_first[] = {
	0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
	0x08, 0x00, 0x45, 0x00, 0x01, 0x14, 0x55, 0x55, 0x20, 0x00, 0x40, 0x11,
	0xef, 0x6c, 0x0a, 0x89, 0x00, 0x05, 0x0a, 0x89, 0x00, 0x01, 0x00, 0x07,
	0x00, 0x09, 0x02, 0x08, 0x66, 0x37, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05,
	0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11,
	0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d,
	0x1e, 0x1f, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29,
	0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35,
	0x36, 0x37, 0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0x3e, 0x3f, 0x40, 0x41,
	0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x4b, 0x4c, 0x4d,
	0x4e, 0x4f, 0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59,
	0x5a, 0x5b, 0x5c, 0x5d, 0x5e, 0x5f, 0x60, 0x61, 0x62, 0x63, 0x64, 0x65,
	0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f, 0x70, 0x71,
	0x72, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x7b, 0x7c, 0x7d,
	0x7e, 0x7f, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
	0x8a, 0x8b, 0x8c, 0x8d, 0x8e, 0x8f, 0x90, 0x91, 0x92, 0x93, 0x94, 0x95,
	0x96, 0x97, 0x98, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9e, 0x9f, 0xa0, 0xa1,
	0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad,
	0xae, 0xaf, 0xb0, 0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9,
	0xba, 0xbb, 0xbc, 0xbd, 0xbe, 0xbf, 0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5,
	0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xcb, 0xcc, 0xcd, 0xce, 0xcf, 0xd0, 0xd1,
	0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xdb, 0xdc, 0xdd,
	0xde, 0xdf, 0xe0, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9,
	0xea, 0xeb, 0xec, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5,
	0xf6, 0xf7,
};
static const uint8_t f_frag4_second[] = {
	0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
	0x08, 0x00, 0x45, 0x00, 0x01, 0x14, 0x55, 0x55, 0x20, 0x20, 0x40, 0x11,
	0xef, 0x4c, 0x0a, 0x89, 0x00, 0x05, 0x0a, 0x89, 0x00, 0x01, 0xf8, 0xf9,
	0xfa, 0xfb, 0xfc, 0xfd, 0xfe, 0xff, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05,
	0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11,
	0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d,
	0x1e, 0x1f, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29,
	0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35,
	0x36, 0x37, 0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0x3e, 0x3f, 0x40, 0x41,
	0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x4b, 0x4c, 0x4d,
	0x4e, 0x4f, 0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59,
	0x5a, 0x5b, 0x5c, 0x5d, 0x5e, 0x5f, 0x60, 0x61, 0x62, 0x63, 0x64, 0x65,
	0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f, 0x70, 0x71,
	0x72, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x7b, 0x7c, 0x7d,
	0x7e, 0x7f, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
	0x8a, 0x8b, 0x8c, 0x8d, 0x8e, 0x8f, 0x90, 0x91, 0x92, 0x93, 0x94, 0x95,
	0x96, 0x97, 0x98, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9e, 0x9f, 0xa0, 0xa1,
	0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad,
	0xae, 0xaf, 0xb0, 0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9,
	0xba, 0xbb, 0xbc, 0xbd, 0xbe, 0xbf, 0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5,
	0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xcb, 0xcc, 0xcd, 0xce, 0xcf, 0xd0, 0xd1,
	0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xdb, 0xdc, 0xdd,
	0xde, 0xdf, 0xe0, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9,
	0xea, 0xeb, 0xec, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5,
	0xf6, 0xf7,
};
static const uint8_t f_tcp6[] = {
	0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
	0x86, 0xdd, 0x60, 0x00, 0x00, 0x00, 0x00, 0x14, 0x06, 0x40, 0xfd, 0x09,
	0x24, 0xef, 0x41, 0x79, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x89,
	0x00, 0x05, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xc3, 0x50, 0x00, 0x16, 0x00, 0x00,
	0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x50, 0x02, 0x20, 0x00, 0x30, 0xbd,
	0x00, 0x00,
};
static const uint8_t f_udp6[] = {
	0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
	0x86, 0xdd, 0x60, 0x00, 0x00, 0x00, 0x00, 0x09, 0x11, 0x40, 0xfd, 0x09,
	0x24, 0xef, 0x41, 0x79, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x89,
	0x00, 0x05, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x53, 0x9c, 0x41, 0x00, 0x35, 0x00, 0x09,
	0x56, 0x59, 0x71,
};
static const uint8_t f_icmp6_echo[] = {
	0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
	0x86, 0xdd, 0x60, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x3a, 0x40, 0xfe, 0x80,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x01, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x80, 0x00, 0x9b, 0xea, 0x07, 0x77,
	0x00, 0x01, 0x70, 0x69, 0x6e, 0x67,
};
static const uint8_t f_arp_req[] = {
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
	0x08, 0x06, 0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x02, 0x00,
	0x00, 0x00, 0x00, 0x01, 0x0a, 0x89, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x0a, 0x89, 0x00, 0x01,
};
static const uint8_t x_icmp_portunr[] = {
	0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff,
	0x08, 0x00, 0x45, 0xc0, 0x00, 0x55, 0x00, 0x00, 0x00, 0x00, 0x40, 0x01,
	0x64, 0xd1, 0x0a, 0x89, 0x00, 0x01, 0x0a, 0x89, 0x00, 0x05, 0x03, 0x03,
	0x13, 0x4d, 0x00, 0x00, 0x00, 0x00, 0x45, 0x00, 0x00, 0x39, 0x00, 0x01,
	0x00, 0x00, 0x40, 0x11, 0x64, 0x9a, 0x0a, 0x89, 0x00, 0x05, 0x0a, 0x8b,
	0x01, 0x01, 0x14, 0xe9, 0x00, 0x35, 0x00, 0x25, 0x46, 0x0f, 0xbe, 0xef,
	0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 0x65,
	0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x03, 0x63, 0x6f, 0x6d, 0x00, 0x00,
	0x01, 0x00, 0x01,
};
static const uint8_t x_icmp_fragneed[] = {
	0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff,
	0x08, 0x00, 0x45, 0xc0, 0x00, 0x38, 0x00, 0x00, 0x00, 0x00, 0x40, 0x01,
	0x64, 0xee, 0x0a, 0x89, 0x00, 0x01, 0x0a, 0x89, 0x00, 0x05, 0x03, 0x04,
	0x57, 0x0b, 0x00, 0x00, 0x05, 0x78, 0x45, 0x00, 0x00, 0x3a, 0x00, 0x01,
	0x00, 0x00, 0x40, 0x06, 0x3a, 0x55, 0x0a, 0x89, 0x00, 0x05, 0x5d, 0xb8,
	0xd8, 0x22, 0x9c, 0x40, 0x00, 0x50, 0x00, 0x00, 0x03, 0xe8,
};
static const uint8_t x_rst_syn[] = {
	0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff,
	0x08, 0x00, 0x45, 0x00, 0x00, 0x28, 0x00, 0x00, 0x00, 0x00, 0x40, 0x06,
	0x3a, 0x68, 0x5d, 0xb8, 0xd8, 0x22, 0x0a, 0x89, 0x00, 0x05, 0x01, 0xbb,
	0x9c, 0x40, 0x00, 0x00, 0x00, 0x00, 0x11, 0x22, 0x33, 0x45, 0x50, 0x14,
	0x00, 0x00, 0x8d, 0x05, 0x00, 0x00,
};
static const uint8_t x_rst_data[] = {
	0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff,
	0x08, 0x00, 0x45, 0x00, 0x00, 0x28, 0x00, 0x00, 0x00, 0x00, 0x40, 0x06,
	0x3a, 0x68, 0x5d, 0xb8, 0xd8, 0x22, 0x0a, 0x89, 0x00, 0x05, 0x00, 0x50,
	0x9c, 0x40, 0x00, 0x00, 0x07, 0xd0, 0x00, 0x00, 0x00, 0x00, 0x50, 0x04,
	0x00, 0x00, 0xcb, 0x17, 0x00, 0x00,
};
static const uint8_t x_arp_reply[] = {
	0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff,
	0x08, 0x06, 0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x02, 0xfe, 0xff,
	0xff, 0xff, 0xff, 0xff, 0x0a, 0x89, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00,
	0x00, 0x01, 0x0a, 0x89, 0x00, 0x05,
};

static const uint8_t mac1[6] = { 0x02, 0, 0, 0, 0, 0x01 };
static const uint8_t macr[6] = { 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff };

/* What a correct parse of each reference frame says. */
struct ref {
	const char	*name;
	const uint8_t	*b;
	size_t		 len;
	enum pkt_l3	 l3;
	size_t		 l3_hlen, ip_end;
	uint8_t		 proto, ttl, has_l4;
	size_t		 l4_hlen;
	uint16_t	 sport, dport;
	uint8_t		 tcp_flags, icmp_type;
	uint16_t	 icmp_id;
	uint8_t		 is_frag, frag_first;
	uint32_t	 frag_off;
};
#define nitems_(a)	(sizeof(a) / sizeof((a)[0]))
#define R(f)	#f, f_##f, sizeof(f_##f)
static const struct ref refs[] = {
	{ R(tcp4_syn), PKT_L3_IPV4, 20, 74, 6, 63, 1, 40, 40000, 443, TCP_SYN, 0, 0, 0, 0, 0 },
	{ R(tcp4_data), PKT_L3_IPV4, 20, 72, 6, 64, 1, 20, 40000, 80, TCP_PSH | TCP_ACK, 0, 0, 0, 0, 0 },
	{ R(udp4_dns), PKT_L3_IPV4, 20, 71, 17, 64, 1, 8, 5353, 53, 0, 0, 0, 0, 0, 0 },
	/* 44 bytes of IP padded to the 60-byte Ethernet minimum. */
	{ R(udp4_pad), PKT_L3_IPV4, 20, 44, 17, 64, 1, 8, 1000, 2000, 0, 0, 0, 0, 0, 0 },
	{ R(icmp4_echo), PKT_L3_IPV4, 20, 58, 1, 64, 1, 8, 0, 0, 0, ICMP_ECHO, 0x4242, 0, 0, 0 },
	{ R(ip4_opts_udp), PKT_L3_IPV4, 32, 57, 17, 64, 1, 8, 1, 2, 0, 0, 0, 0, 0, 0 },
	{ R(frag4_first), PKT_L3_IPV4, 20, 290, 17, 64, 1, 8, 7, 9, 0, 0, 0, 1, 1, 0 },
	{ R(frag4_second), PKT_L3_IPV4, 20, 290, 17, 64, 0, 0, 0, 0, 0, 0, 0, 1, 0, 256 },
	{ R(tcp6), PKT_L3_IPV6, 40, 74, 6, 64, 1, 20, 50000, 22, TCP_SYN, 0, 0, 0, 0, 0 },
	{ R(udp6), PKT_L3_IPV6, 40, 63, 17, 64, 1, 8, 40001, 53, 0, 0, 0, 0, 0, 0 },
	{ R(icmp6_echo), PKT_L3_IPV6, 40, 66, 58, 64, 1, 8, 0, 0, 0, 128, 0x777, 0, 0, 0 },
	{ R(arp_req), PKT_L3_ARP, 28, 42, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
};

/* A writable copy: the parser takes non-const frames. */
static uint8_t *
frame_dup(const uint8_t *b, size_t len)
{
	uint8_t *p = malloc(len ? len : 1);

	if (p == NULL)
		abort();
	memcpy(p, b, len);
	return p;
}

static void
check_view(const struct ref *r, const struct pkt_view *v)
{
	T_EQ_INT(v->l3, r->l3);
	T_EQ_INT(v->l3_off, 14);
	T_EQ_INT(v->l3_hlen, r->l3_hlen);
	T_EQ_INT(v->ip_end, r->ip_end);
	T_EQ_INT(v->proto, r->proto);
	T_EQ_INT(v->ttl, r->ttl);
	T_EQ_INT(v->has_l4, r->has_l4);
	T_EQ_INT(v->is_frag, r->is_frag);
	T_EQ_INT(v->frag_first, r->frag_first);
	T_EQ_INT(v->frag_off, r->frag_off);
	if (!r->has_l4)
		return;
	T_EQ_INT(v->l4_off, 14 + r->l3_hlen);
	T_EQ_INT(v->l4_hlen, r->l4_hlen);
	T_EQ_INT(v->sport, r->sport);
	T_EQ_INT(v->dport, r->dport);
	T_EQ_INT(v->tcp_flags, r->tcp_flags);
	T_EQ_INT(v->icmp_type, r->icmp_type);
	T_EQ_INT(v->icmp_id, r->icmp_id);
}

static void
test_valid_frames(void)
{
	struct pkt_view v;
	size_t i;

	for (i = 0; i < nitems_(refs); i++) {
		const struct ref *r = &refs[i];
		uint8_t *f = frame_dup(r->b, r->len);

		T_EQ_INT(pkt_parse(&v, f, r->len), PKT_OK);
		T_ASSERT(v.frame == f && v.len == r->len);
		check_view(r, &v);
		free(f);
		if (t_cur_failed) {
			printf("# in %s\n", r->name);
			return;
		}
	}
}

static void
test_field_values(void)
{
	struct pkt_view v;
	uint8_t *f;
	char s[18];

	f = frame_dup(f_tcp4_syn, sizeof(f_tcp4_syn));
	T_EQ_INT(pkt_parse(&v, f, sizeof(f_tcp4_syn)), PKT_OK);
	T_EQ_INT(v.ethertype, ETHERTYPE_IPV4);
	T_EQ_STR(mac_str(pkt_eth(&v)->src, s), "02:00:00:00:00:01");
	T_EQ_STR(ip4_str(pkt_ip4(&v)->saddr_be, s), "10.137.0.5");
	T_EQ_STR(ip4_str(pkt_ip4(&v)->daddr_be, s), "93.184.216.34");
	T_EQ_INT(ntohl(pkt_tcp(&v)->seq_be), 0x11223344);
	T_EQ_INT(pkt_l4_payload_len(&v), 0);
	free(f);

	f = frame_dup(f_tcp4_data, sizeof(f_tcp4_data));
	T_EQ_INT(pkt_parse(&v, f, sizeof(f_tcp4_data)), PKT_OK);
	T_EQ_INT(pkt_l4_payload_len(&v), 18);
	T_EQ_MEM(f + v.l4_off + v.l4_hlen, "GET / ", 6);
	free(f);

	f = frame_dup(f_frag4_first, sizeof(f_frag4_first));
	T_EQ_INT(pkt_parse(&v, f, sizeof(f_frag4_first)), PKT_OK);
	T_EQ_INT(v.frag_id, 0x5555);
	T_EQ_INT(v.frag_more, 1);
	free(f);

	f = frame_dup(f_arp_req, sizeof(f_arp_req));
	T_EQ_INT(pkt_parse(&v, f, sizeof(f_arp_req)), PKT_OK);
	T_EQ_INT(ntohs(pkt_arp(&v)->op_be), ARPOP_REQUEST_);
	T_EQ_STR(ip4_str(pkt_arp(&v)->tpa_be, s), "10.137.0.1");
	free(f);

	f = frame_dup(f_icmp6_echo, sizeof(f_icmp6_echo));
	T_EQ_INT(pkt_parse(&v, f, sizeof(f_icmp6_echo)), PKT_OK);
	T_EQ_INT(pkt_ip6(&v)->daddr[0], 0xff);
	T_EQ_INT(pkt_icmp(&v)->type, 128);
	free(f);
}

/* Where the transport checksum field of a parsed packet is. */
static size_t
csum_at(const struct pkt_view *v)
{
	switch (v->proto) {
	case IPPROTO_TCP_:
		return v->l4_off + 16;
	case IPPROTO_UDP_:
		return v->l4_off + 6;
	default:
		return v->l4_off + 2;
	}
}

/* What parsing the first n bytes of r must say. */
static int
trunc_expect(const struct ref *r, size_t n)
{
	if (n < 14)
		return PKT_E_SHORT_ETH;
	switch (r->l3) {
	case PKT_L3_ARP:
		return n < 42 ? PKT_E_SHORT_L3 : PKT_OK;
	case PKT_L3_IPV4:
		if (n < 34)
			return PKT_E_SHORT_L3;
		if (n < 14 + r->l3_hlen)
			return PKT_E_BAD_IHL;
		break;
	case PKT_L3_IPV6:
		if (n < 54)
			return PKT_E_SHORT_L3;
		break;
	default:
		abort();
	}
	return n < r->ip_end ? PKT_E_BAD_TOTLEN : PKT_OK;
}

/*
 * Every prefix of every valid frame: refused with the error naming the
 * first length that no longer fits, or accepted as the same packet when
 * only Ethernet padding was cut. Each prefix sits at the end of its own
 * allocation, so ASan catches a read of even one byte too many.
 */
static void
test_truncation(void)
{
	struct pkt_view v;
	size_t i, n;

	for (i = 0; i < nitems_(refs); i++) {
		const struct ref *r = &refs[i];

		for (n = 0; n < r->len; n++) {
			uint8_t *f = frame_dup(r->b, n);
			int want = trunc_expect(r, n), got = pkt_parse(&v, f, n);

			free(f);
			if (got != want)
				printf("# %s cut to %zu: got %d want %d\n",
				    r->name, n, got, want);
			T_EQ_INT(got, want);
			if (want == PKT_OK)
				check_view(r, &v);
			if (t_cur_failed) {
				printf("# in %s cut to %zu\n", r->name, n);
				return;
			}
		}
	}
}

/* Store a 16-bit value at an offset, in network order. */
static void
put16(uint8_t *f, size_t off, uint16_t val)
{
	f[off] = (uint8_t)(val >> 8);
	f[off + 1] = (uint8_t)val;
}

/*
 * The IP packet shortened consistently (total length, frame length and,
 * for IPv4, header checksum all agree) so that only the transport is cut
 * short: TCP wants 20 bytes and all of its options, UDP a length equal to
 * the payload, ICMP 8 bytes.
 */
static void
test_l4_truncation(void)
{
	struct pkt_view v;
	size_t i, pl;

	for (i = 0; i < nitems_(refs); i++) {
		const struct ref *r = &refs[i];
		size_t full = r->ip_end - 14 - r->l3_hlen;

		if (!r->has_l4 || r->is_frag)
			continue;
		for (pl = 0; pl < full; pl++) {
			size_t n = 14 + r->l3_hlen + pl;
			uint8_t *f = frame_dup(r->b, n);
			int want, got;

			if (r->l3 == PKT_L3_IPV4)
				put16(f, 16, (uint16_t)(r->l3_hlen + pl));
			else
				put16(f, 18, (uint16_t)pl);
			if (r->proto == IPPROTO_TCP_)
				want = pl < r->l4_hlen ? PKT_E_SHORT_L4 : PKT_OK;
			else if (r->proto == IPPROTO_UDP_)
				want = pl < 8 ? PKT_E_SHORT_L4 : PKT_E_BAD_L4LEN;
			else
				want = pl < 8 ? PKT_E_SHORT_L4 : PKT_OK;
			got = pkt_parse(&v, f, n);
			free(f);
			if (got != want)
				printf("# %s payload %zu: got %d want %d\n",
				    r->name, pl, got, want);
			T_EQ_INT(got, want);
		}
	}
}

static int
parse_mod(const uint8_t *b, size_t len, size_t off, uint8_t val)
{
	struct pkt_view v;
	uint8_t *f = frame_dup(b, len);
	int rc;

	f[off] = val;
	rc = pkt_parse(&v, f, len);
	free(f);
	return rc;
}

static int
parse_mod16(const uint8_t *b, size_t len, size_t off, uint16_t val)
{
	struct pkt_view v;
	uint8_t *f = frame_dup(b, len);
	int rc;

	put16(f, off, val);
	rc = pkt_parse(&v, f, len);
	free(f);
	return rc;
}

/* Lengths in the headers that disagree with each other. */
static void
test_inconsistent(void)
{
	const uint8_t *syn = f_tcp4_syn, *udp = f_udp4_dns;
	size_t slen = sizeof(f_tcp4_syn), ulen = sizeof(f_udp4_dns);
	unsigned int ihl;

	/* Ethertypes moat does not forward. */
	T_EQ_INT(parse_mod16(syn, slen, 12, ETHERTYPE_VLAN), PKT_E_UNSUPPORTED);
	T_EQ_INT(parse_mod16(syn, slen, 12, 0x88cc), PKT_E_UNSUPPORTED);
	/* IP version against ethertype. */
	T_EQ_INT(parse_mod(syn, slen, 14, 0x65), PKT_E_BAD_VERSION);
	T_EQ_INT(parse_mod16(syn, slen, 12, ETHERTYPE_IPV6), PKT_E_BAD_VERSION);
	T_EQ_INT(parse_mod(f_tcp6, sizeof(f_tcp6), 14, 0x40), PKT_E_BAD_VERSION);
	/* IHL below 5, and every IHL that runs past the frame. */
	for (ihl = 0; ihl < 5; ihl++)
		T_EQ_INT(parse_mod(syn, slen, 14, (uint8_t)(0x40 | ihl)), PKT_E_BAD_IHL);
	/* ARP bytes under an IPv4 ethertype: version 0. */
	T_EQ_INT(parse_mod(f_arp_req, 42, 13, 0x00), PKT_E_BAD_VERSION);
	{
		/* A 20-byte IPv4 packet with IHL 15 in a 60-byte frame. */
		uint8_t f[14 + 40];

		memcpy(f, syn, sizeof(f));
		f[23] = 47;	/* not TCP: only the IP lengths matter */
		T_EQ_INT(parse_mod(f, sizeof(f), 14, 0x4f), PKT_E_BAD_IHL);
		/* IHL 10 fits the frame but not the total length. */
		T_EQ_INT(parse_mod16(f, sizeof(f), 16, 40), PKT_OK);
		f[16] = 0, f[17] = 39;
		T_EQ_INT(parse_mod(f, sizeof(f), 14, 0x4a), PKT_E_BAD_TOTLEN);
	}
	/* Total length below the header, past the frame by one. */
	T_EQ_INT(parse_mod16(syn, slen, 16, 19), PKT_E_BAD_TOTLEN);
	T_EQ_INT(parse_mod16(syn, slen, 16, 0), PKT_E_BAD_TOTLEN);
	T_EQ_INT(parse_mod16(syn, slen, 16, (uint16_t)(slen - 14 + 1)), PKT_E_BAD_TOTLEN);
	T_EQ_INT(parse_mod16(syn, slen, 16, 0xffff), PKT_E_BAD_TOTLEN);
	T_EQ_INT(parse_mod16(f_tcp6, sizeof(f_tcp6), 18, 21), PKT_E_BAD_TOTLEN);
	T_EQ_INT(parse_mod16(f_tcp6, sizeof(f_tcp6), 18, 0xffff), PKT_E_BAD_TOTLEN);
	/* TCP data offset below 5, or past the segment. */
	T_EQ_INT(parse_mod(syn, slen, 46, 0x40), PKT_E_BAD_L4LEN);
	T_EQ_INT(parse_mod(syn, slen, 46, 0x00), PKT_E_BAD_L4LEN);
	T_EQ_INT(parse_mod(syn, slen, 46, 0xb0), PKT_E_SHORT_L4);
	T_EQ_INT(parse_mod(syn, slen, 46, 0xf0), PKT_E_SHORT_L4);
	T_EQ_INT(parse_mod(f_tcp6, sizeof(f_tcp6), 66, 0x60), PKT_E_SHORT_L4);
	/* UDP length: below 8, one short, one long, absurd. */
	T_EQ_INT(parse_mod16(udp, ulen, 38, 7), PKT_E_BAD_L4LEN);
	T_EQ_INT(parse_mod16(udp, ulen, 38, 0), PKT_E_BAD_L4LEN);
	T_EQ_INT(parse_mod16(udp, ulen, 38, (uint16_t)(ulen - 34 - 1)), PKT_E_BAD_L4LEN);
	T_EQ_INT(parse_mod16(udp, ulen, 38, (uint16_t)(ulen - 34 + 1)), PKT_E_BAD_L4LEN);
	T_EQ_INT(parse_mod16(udp, ulen, 38, 0xffff), PKT_E_BAD_L4LEN);
	T_EQ_INT(parse_mod16(f_udp6, sizeof(f_udp6), 58, 8), PKT_E_BAD_L4LEN);
	/* A first fragment may carry less than its UDP length, not more. */
	T_EQ_INT(parse_mod16(f_frag4_first, sizeof(f_frag4_first), 38, 0xffff), PKT_OK);
	T_EQ_INT(parse_mod16(f_frag4_first, sizeof(f_frag4_first), 38, 255), PKT_E_BAD_L4LEN);
	/* ARP that is not IPv4 over Ethernet. */
	T_EQ_INT(parse_mod(f_arp_req, 42, 15, 6), PKT_E_BAD_ARP);
	T_EQ_INT(parse_mod(f_arp_req, 42, 16, 0x86), PKT_E_BAD_ARP);
	T_EQ_INT(parse_mod(f_arp_req, 42, 18, 8), PKT_E_BAD_ARP);
	T_EQ_INT(parse_mod(f_arp_req, 42, 19, 16), PKT_E_BAD_ARP);
	/* Any other protocol is forwarded as opaque IP. */
	{
		struct pkt_view v;
		uint8_t *f = frame_dup(syn, slen);

		f[23] = 47;	/* GRE */
		T_EQ_INT(pkt_parse(&v, f, slen), PKT_OK);
		T_EQ_INT(v.has_l4, 0);
		T_EQ_INT(v.proto, 47);
		free(f);
	}
}

/* Fragment offset + total length may reach 65535 and not pass it. */
static void
test_fragments(void)
{
	const uint8_t *b = f_frag4_second;
	size_t len = sizeof(f_frag4_second);
	uint16_t tot = (uint16_t)(len - 14);
	uint16_t off8 = (uint16_t)((65535 - tot) / 8);
	struct pkt_view v;
	uint8_t *f;

	T_EQ_INT(parse_mod16(b, len, 20, off8), PKT_OK);
	T_EQ_INT(parse_mod16(b, len, 20, (uint16_t)(off8 + 1)), PKT_E_BAD_FRAG);
	/* Exactly 65535, then one more byte of fragment. */
	f = frame_dup(b, len);
	put16(f, 16, 271);
	put16(f, 20, (65535 - 271) / 8);
	T_EQ_INT(pkt_parse(&v, f, 14 + 271), PKT_OK);
	T_EQ_INT(v.frag_off + 271, 65535);
	put16(f, 16, 272);
	T_EQ_INT(pkt_parse(&v, f, 14 + 272), PKT_E_BAD_FRAG);
	free(f);
	T_EQ_INT(parse_mod16(b, len, 20, IPV4_MF | IPV4_OFFMASK), PKT_E_BAD_FRAG);
	/* A first fragment whose transport header does not fit. */
	f = frame_dup(f_tcp4_syn, 14 + 20 + 19);
	put16(f, 16, 20 + 19);
	put16(f, 20, IPV4_MF);
	T_EQ_INT(pkt_parse(&v, f, 14 + 20 + 19), PKT_E_SHORT_L4);
	free(f);
	/* A non-first fragment has no transport header at all, even when
	 * it is shorter than one. */
	f = frame_dup(f_tcp4_syn, 14 + 20 + 3);
	put16(f, 16, 20 + 3);
	put16(f, 20, 1);
	T_EQ_INT(pkt_parse(&v, f, 14 + 20 + 3), PKT_OK);
	T_EQ_INT(v.is_frag, 1);
	T_EQ_INT(v.frag_first, 0);
	T_EQ_INT(v.frag_more, 0);
	T_EQ_INT(v.frag_off, 8);
	T_EQ_INT(v.has_l4, 0);
	T_EQ_INT(pkt_l4_csum_ok(&v), 0);
	free(f);
}

static void
test_csum_basic(void)
{
	/* RFC 1071 section 3: the sum of these is 0xddf2. */
	static const uint8_t rfc[] = { 0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7 };
	uint8_t buf[300];
	uint16_t c;
	size_t off, len;
	int i;

	c = ip_checksum(rfc, sizeof(rfc));
	T_EQ_INT(ntohs(c), 0x220d);
	T_EQ_INT(ntohs(ip_checksum(rfc, 0)), 0xffff);
	/* Any alignment, any length, split at an even boundary. */
	srandom(1071);
	for (i = 0; i < 2000; i++) {
		size_t j, split;

		for (j = 0; j < sizeof(buf); j++)
			buf[j] = (uint8_t)random();
		off = (size_t)random() % 4;
		len = (size_t)random() % (sizeof(buf) - 4);
		c = ip_checksum(buf + off, len);
		T_EQ_INT(ntohs(c), tu_csum(buf + off, len));
		split = ((size_t)random() % (len + 1)) & ~(size_t)1;
		c = csum_fold(csum_add(csum_add(0, buf + off, split),
		    buf + off + split, len - split));
		T_EQ_INT(ntohs(c), tu_csum(buf + off, len));
	}
	/* Enough all-ones words to carry many times over 32 bits. */
	{
		static uint8_t ones[70000];

		memset(ones, 0xff, sizeof(ones));
		T_EQ_INT(ip_checksum(ones, sizeof(ones)), 0);
		T_EQ_INT(ntohs(ip_checksum(ones, sizeof(ones) - 1)),
		    tu_csum(ones, sizeof(ones) - 1));
	}
}

/* The scapy frames' checksums verify, and recomputing gives scapy's bytes. */
static void
test_csum_reference(void)
{
	struct pkt_view v;
	size_t i, j;

	for (i = 0; i < nitems_(refs); i++) {
		const struct ref *r = &refs[i];
		uint8_t *f = frame_dup(r->b, r->len);
		int l4ok = r->has_l4 && !r->is_frag;

		T_EQ_INT(pkt_parse(&v, f, r->len), PKT_OK);
		T_EQ_INT(pkt_l4_csum_ok(&v), l4ok);
		T_EQ_INT(pkt_ip4_csum_ok(&v), r->l3 == PKT_L3_IPV4);
		if (r->l3 == PKT_L3_IPV4) {
			memset(f + 24, 0xa5, 2);
			T_EQ_INT(pkt_ip4_csum_ok(&v), 0);
			pkt_ip4_csum_set(&v);
			T_EQ_MEM(f, r->b, r->len);
		}
		if (l4ok) {
			size_t co = csum_at(&v);

			memset(f + co, 0x5a, 2);
			T_EQ_INT(pkt_l4_csum_ok(&v), 0);
			pkt_l4_csum_set(&v);
			T_EQ_MEM(f, r->b, r->len);
			/* Every transport byte and every pseudo-header
			 * address byte is covered. */
			for (j = r->l3 == PKT_L3_IPV4 ? 26 : 22; j < v.ip_end; j++) {
				if (j < v.l4_off && (r->proto == IPPROTO_ICMP_ ||
				    j >= (r->l3 == PKT_L3_IPV4 ? 34u : 54u)))
					continue;	/* not in the sum */
				f[j] ^= 0x10;
				T_EQ_INT(pkt_l4_csum_ok(&v), 0);
				f[j] ^= 0x10;
			}
			T_EQ_INT(pkt_l4_csum_ok(&v), 1);
		}
		free(f);
	}
}

static void
test_udp_zero_csum(void)
{
	struct pkt_view v;
	uint8_t *f = frame_dup(f_udp4_dns, sizeof(f_udp4_dns));
	uint8_t *f6 = frame_dup(f_udp6, sizeof(f_udp6));

	/* Zero is "no checksum" in IPv4 UDP and invalid in IPv6. */
	T_EQ_INT(pkt_parse(&v, f, sizeof(f_udp4_dns)), PKT_OK);
	memset(&pkt_udp(&v)->csum, 0, 2);
	T_EQ_INT(pkt_l4_csum_ok(&v), 1);
	T_EQ_INT(pkt_parse(&v, f6, sizeof(f_udp6)), PKT_OK);
	memset(&pkt_udp(&v)->csum, 0, 2);
	T_EQ_INT(pkt_l4_csum_ok(&v), 0);
	free(f);
	free(f6);
}

static uint16_t
get16(const uint8_t *p)
{
	uint16_t x;

	memcpy(&x, p, 2);
	return x;
}

static uint32_t
get32(const uint8_t *p)
{
	uint32_t x;

	memcpy(&x, p, 4);
	return x;
}

/* Apply an RFC 1624 update to the checksum field at p. */
static void
upd16(uint8_t *p, uint16_t o, uint16_t n, int partial)
{
	uint16_t c = get16(p);

	if (partial)
		csum_update16_partial(&c, o, n);
	else
		csum_update16(&c, o, n);
	memcpy(p, &c, 2);
}

static void
upd32(uint8_t *p, uint32_t o, uint32_t n, int partial)
{
	uint16_t c = get16(p);

	if (partial)
		csum_update32_partial(&c, o, n);
	else
		csum_update32(&c, o, n);
	memcpy(p, &c, 2);
}

/* One's-complement add of a 16-bit word to the word at p. */
static void
add16(uint8_t *p, uint16_t x)
{
	uint32_t sum = (uint32_t)get16(p) + x;
	uint16_t r = (uint16_t)((sum & 0xffff) + (sum >> 16));

	memcpy(p, &r, 2);
}

struct rewrite {
	uint32_t	saddr, daddr;
	uint16_t	w1, w2;		/* ports, or ICMP id and sequence */
	uint8_t		ttl;
};

/* The rewrite done directly, checksums untouched. */
static void
rewrite_raw(uint8_t *f, const struct pkt_view *v, const struct rewrite *rw)
{
	memcpy(f + 26, &rw->saddr, 4);
	memcpy(f + 30, &rw->daddr, 4);
	memcpy(f + v->l4_off + (v->proto == IPPROTO_ICMP_ ? 4 : 0), &rw->w1, 2);
	memcpy(f + v->l4_off + (v->proto == IPPROTO_ICMP_ ? 6 : 2), &rw->w2, 2);
	f[22] = rw->ttl;
}

/* The same rewrite patching both checksums incrementally. */
static void
rewrite_incr(uint8_t *f, const struct pkt_view *v, const struct rewrite *rw)
{
	uint8_t *ipc = f + 24, *l4c;
	size_t w1 = v->l4_off + (v->proto == IPPROTO_ICMP_ ? 4 : 0);
	size_t w2 = v->l4_off + (v->proto == IPPROTO_ICMP_ ? 6 : 2);
	uint32_t a;
	uint16_t o;

	l4c = f + csum_at(v);
	a = get32(f + 26);
	memcpy(f + 26, &rw->saddr, 4);
	upd32(ipc, a, rw->saddr, 0);
	if (v->proto != IPPROTO_ICMP_)
		upd32(l4c, a, rw->saddr, 0);
	a = get32(f + 30);
	memcpy(f + 30, &rw->daddr, 4);
	upd32(ipc, a, rw->daddr, 0);
	if (v->proto != IPPROTO_ICMP_)
		upd32(l4c, a, rw->daddr, 0);
	o = get16(f + w1);
	memcpy(f + w1, &rw->w1, 2);
	upd16(l4c, o, rw->w1, 0);
	o = get16(f + w2);
	memcpy(f + w2, &rw->w2, 2);
	upd16(l4c, o, rw->w2, 0);
	o = get16(f + 22);
	f[22] = rw->ttl;
	upd16(ipc, o, get16(f + 22), 0);
	/* UDP sends a computed zero as 0xffff; the caller owns that rule
	 * (it knows the protocol), as natd will. */
	if (v->proto == IPPROTO_UDP_ && get16(l4c) == 0)
		memset(l4c, 0xff, 2);
}

static uint32_t
rand_addr(void)
{
	switch (random() % 8) {
	case 0:
		return 0;
	case 1:
		return 0xffffffff;
	default:
		return (uint32_t)random();
	}
}

/*
 * NAT-style rewrites (addresses, ports or ICMP id, TTL) patched with
 * incremental updates must leave exactly the checksums a full
 * recomputation gives. Payloads are random; in a quarter of the rounds a
 * payload word (and the IP id) is chosen so that the rewritten packet's
 * checksums are the edge values 0x0000 (0xffff for UDP), where a wrong
 * incremental formula shows.
 */
static void
test_csum_incremental(void)
{
	static const struct { const uint8_t *b; size_t len; } fr[] = {
		{ f_tcp4_data, sizeof(f_tcp4_data) },
		{ f_udp4_dns, sizeof(f_udp4_dns) },
		{ f_icmp4_echo, sizeof(f_icmp4_echo) },
	};
	struct pkt_view v, w;
	struct rewrite rw;
	int i, edges = 0, steer;
	size_t k;

	srandom(1624);
	for (i = 0; i < 40000; i++) {
		size_t which = (size_t)random() % nitems_(fr), len = fr[which].len;
		uint8_t *f = frame_dup(fr[which].b, len), *g;
		size_t l4c;

		T_ASSERT(pkt_parse(&v, f, len) == PKT_OK);
		l4c = csum_at(&v);
		for (k = v.l4_off + v.l4_hlen; k < len; k++)
			f[k] = (uint8_t)random();
		rw.saddr = rand_addr();
		rw.daddr = rand_addr();
		rw.w1 = (uint16_t)random();
		rw.w2 = (uint16_t)random();
		rw.ttl = (uint8_t)random();
		if ((steer = random() % 4 == 0)) {
			/* Steer: fold the rewritten packet's checksums
			 * back into bytes the rewrite does not touch. */
			g = frame_dup(f, len);
			rewrite_raw(g, &v, &rw);
			T_ASSERT(pkt_parse(&w, g, len) == PKT_OK);
			pkt_ip4_csum_set(&w);
			pkt_l4_csum_set(&w);
			add16(f + 18, get16(g + 24));
			add16(f + v.l4_off + v.l4_hlen, get16(g + l4c));
			free(g);
			edges++;
		}
		pkt_ip4_csum_set(&v);
		pkt_l4_csum_set(&v);

		g = frame_dup(f, len);
		rewrite_incr(f, &v, &rw);
		rewrite_raw(g, &v, &rw);
		T_ASSERT(pkt_parse(&w, g, len) == PKT_OK);
		pkt_ip4_csum_set(&w);
		pkt_l4_csum_set(&w);
		if (memcmp(f, g, len) != 0)
			printf("# round %d proto %u: ip %04x/%04x l4 %04x/%04x\n",
			    i, v.proto, get16(f + 24), get16(g + 24),
			    get16(f + l4c), get16(g + l4c));
		T_EQ_MEM(f, g, len);
		T_EXPECT(pkt_ip4_csum_ok(&w) && pkt_l4_csum_ok(&w));
		if (steer) {
			T_EQ_INT(get16(g + 24), 0);
			T_EQ_INT(get16(g + l4c), v.proto == IPPROTO_UDP_ ? 0xffff : 0);
		}
		free(f);
		free(g);
	}
	T_ASSERT(edges > 5000);
}

/*
 * CHECKSUM_PARTIAL: the field holds the uncomplemented pseudo-header sum.
 * Rewriting addresses updates it with the _partial variants; ports are
 * left alone (they are summed at completion). Completing the checksum the
 * way a NIC or skb_checksum_help does must give the full checksum of the
 * rewritten packet.
 */
static void
test_csum_partial(void)
{
	static const struct { const uint8_t *b; size_t len; } fr[] = {
		{ f_tcp4_data, sizeof(f_tcp4_data) },
		{ f_udp4_dns, sizeof(f_udp4_dns) },
		{ f_tcp6, sizeof(f_tcp6) },
		{ f_udp6, sizeof(f_udp6) },
	};
	struct pkt_view v, w;
	int i;
	size_t k;

	srandom(793);
	for (i = 0; i < 20000; i++) {
		size_t which = (size_t)random() % nitems_(fr), len = fr[which].len;
		uint8_t *f = frame_dup(fr[which].b, len), *g, *l4c, *l4;
		size_t l4len, aoff, alen;
		uint16_t c, p;
		uint32_t a, na;

		T_ASSERT(pkt_parse(&v, f, len) == PKT_OK);
		l4 = f + v.l4_off;
		l4len = v.ip_end - v.l4_off;
		l4c = f + csum_at(&v);
		for (k = v.l4_hlen; k < l4len; k++)
			l4[k] = (uint8_t)random();
		if (v.l3 == PKT_L3_IPV4) {
			c = (uint16_t)csum_pseudo4(pkt_ip4(&v)->saddr_be,
			    pkt_ip4(&v)->daddr_be, v.proto, (uint32_t)l4len);
			aoff = 26, alen = 8;
		} else {
			c = (uint16_t)csum_pseudo6(pkt_ip6(&v)->saddr,
			    pkt_ip6(&v)->daddr, v.proto, (uint32_t)l4len);
			aoff = 22, alen = 32;
		}
		memcpy(l4c, &c, 2);
		/* New addresses, 32 or 16 bits at a time, and new ports. */
		for (k = aoff; k < aoff + alen; k += 4) {
			if (random() % 2) {
				a = get32(f + k);
				na = (uint32_t)random();
				memcpy(f + k, &na, 4);
				upd32(l4c, a, na, 1);
			} else {
				uint16_t o = get16(f + k + 2);

				p = (uint16_t)random();
				memcpy(f + k + 2, &p, 2);
				upd16(l4c, o, p, 1);
			}
		}
		p = (uint16_t)random();
		memcpy(l4, &p, 2);
		/* Complete: sum from csum_start to the end, complement. */
		c = csum_fold(csum_add(0, l4, l4len));
		if (v.proto == IPPROTO_UDP_ && c == 0)
			c = 0xffff;
		memcpy(l4c, &c, 2);

		g = frame_dup(f, len);
		T_ASSERT(pkt_parse(&w, g, len) == PKT_OK);
		T_EXPECT(pkt_l4_csum_ok(&w));
		pkt_l4_csum_set(&w);
		T_EQ_MEM(f, g, len);
		free(f);
		free(g);
	}
}

/*
 * pkt_nat_addr4 / pkt_nat_port against a full recomputation, on TCP, UDP
 * and ICMP echo over IPv4 and IPv6, with full checksums (a quarter steered
 * onto the zero edge) and with CHECKSUM_PARTIAL sums completed afterwards.
 */
static void
test_nat_helpers(void)
{
	static const struct { const uint8_t *b; size_t len; } fr[] = {
		{ f_tcp4_data, sizeof(f_tcp4_data) },
		{ f_udp4_dns, sizeof(f_udp4_dns) },
		{ f_icmp4_echo, sizeof(f_icmp4_echo) },
		{ f_tcp6, sizeof(f_tcp6) },
		{ f_udp6, sizeof(f_udp6) },
		{ f_icmp6_echo, sizeof(f_icmp6_echo) },
	};
	struct pkt_view v, w;
	int i, partial, steer;
	size_t k;

	srandom(3022);
	for (i = 0; i < 30000; i++) {
		size_t which = (size_t)random() % nitems_(fr), len = fr[which].len;
		uint8_t *f = frame_dup(fr[which].b, len), *g, *l4;
		uint32_t sa = rand_addr(), da = rand_addr();
		uint16_t p1 = (uint16_t)random(), p2 = (uint16_t)random(), c;
		size_t l4c, l4len;
		int v4, icmp;

		T_ASSERT(pkt_parse(&v, f, len) == PKT_OK);
		v4 = v.l3 == PKT_L3_IPV4;
		icmp = v.proto == IPPROTO_ICMP_ || v.proto == IPPROTO_ICMPV6_;
		partial = !icmp && random() % 2;
		l4 = f + v.l4_off;
		l4len = v.ip_end - v.l4_off;
		/* Steering needs a payload word to absorb the sum. */
		steer = !partial && l4len >= v.l4_hlen + 2 && random() % 4 == 0;
		l4c = csum_at(&v);
		for (k = v.l4_hlen; k < l4len; k++)
			l4[k] = (uint8_t)random();

		/* Expected: rewrite directly, recompute everything. */
		g = frame_dup(f, len);
		T_ASSERT(pkt_parse(&w, g, len) == PKT_OK);
		if (v4) {
			memcpy(g + 26, &sa, 4);
			memcpy(g + 30, &da, 4);
		}
		if (icmp)
			put16(g, v.l4_off + 4, p1);
		else {
			put16(g, v.l4_off, p1);
			put16(g, v.l4_off + 2, p2);
		}
		pkt_ip4_csum_set(&w);
		pkt_l4_csum_set(&w);
		if (steer) {
			/* IPv4 id and a payload word absorb the checksums. */
			if (v4) {
				add16(f + 18, get16(g + 24));
				add16(g + 18, get16(g + 24));
			}
			add16(l4 + v.l4_hlen, get16(g + l4c));
			add16(g + v.l4_off + v.l4_hlen, get16(g + l4c));
			pkt_ip4_csum_set(&w);
			pkt_l4_csum_set(&w);
		}
		pkt_ip4_csum_set(&v);
		if (partial) {
			c = (uint16_t)(v4 ? csum_pseudo4(pkt_ip4(&v)->saddr_be,
			    pkt_ip4(&v)->daddr_be, v.proto, (uint32_t)l4len) :
			    csum_pseudo6(pkt_ip6(&v)->saddr, pkt_ip6(&v)->daddr,
			    v.proto, (uint32_t)l4len));
			memcpy(f + l4c, &c, 2);
		} else
			pkt_l4_csum_set(&v);

		if (v4) {
			T_EQ_INT(pkt_nat_addr4(&v, 0, sa, partial), 0);
			T_EQ_INT(pkt_nat_addr4(&v, 1, da, partial), 0);
		} else
			T_EQ_INT(pkt_nat_addr4(&v, 0, sa, partial), -1);
		T_EQ_INT(pkt_nat_port(&v, 0, p1, partial), 0);
		if (icmp)
			T_EQ_INT(v.icmp_id, p1);
		else {
			T_EQ_INT(pkt_nat_port(&v, 1, p2, partial), 0);
			T_EQ_INT(v.sport, p1);
			T_EQ_INT(v.dport, p2);
		}
		if (partial) {
			c = csum_fold(csum_add(0, l4, l4len));
			if (v.proto == IPPROTO_UDP_ && c == 0)
				c = 0xffff;
			memcpy(f + l4c, &c, 2);
		}
		if (memcmp(f, g, len) != 0)
			printf("# round %d %s: l4 %04x/%04x\n", i,
			    partial ? "partial" : steer ? "steered" : "full",
			    get16(f + l4c), get16(g + l4c));
		T_EQ_MEM(f, g, len);
		if (steer)
			T_EQ_INT(get16(g + l4c), v.proto == IPPROTO_UDP_ ? 0xffff : 0);
		T_ASSERT(pkt_l4_csum_ok(&w));
		free(f);
		free(g);
	}
}

/* UDP "no checksum", fragments, and packets without the field. */
static void
test_nat_edges(void)
{
	struct pkt_view v;
	uint8_t *f;
	uint16_t c;

	f = frame_dup(f_udp4_dns, sizeof(f_udp4_dns));
	T_ASSERT(pkt_parse(&v, f, sizeof(f_udp4_dns)) == PKT_OK);
	memset(f + 40, 0, 2);
	T_EQ_INT(pkt_nat_addr4(&v, 0, htonl(0x0a8a0001), 0), 0);
	T_EQ_INT(pkt_nat_port(&v, 0, 6000, 0), 0);
	T_EQ_INT(get16(f + 40), 0);
	T_ASSERT(pkt_ip4_csum_ok(&v) && pkt_l4_csum_ok(&v));
	free(f);

	/* A non-first fragment: the IP header only; no ports. */
	f = frame_dup(f_frag4_second, sizeof(f_frag4_second));
	T_ASSERT(pkt_parse(&v, f, sizeof(f_frag4_second)) == PKT_OK);
	T_EQ_INT(pkt_nat_addr4(&v, 1, htonl(0xc0a80001), 0), 0);
	T_ASSERT(pkt_ip4_csum_ok(&v));
	T_EQ_MEM(f + 34, f_frag4_second + 34, sizeof(f_frag4_second) - 34);
	T_EQ_INT(pkt_nat_port(&v, 0, 1, 0), -1);
	free(f);

	/* A first fragment: the datagram's UDP checksum moves with it. */
	f = frame_dup(f_frag4_first, sizeof(f_frag4_first));
	T_ASSERT(pkt_parse(&v, f, sizeof(f_frag4_first)) == PKT_OK);
	memcpy(&c, f + 40, 2);
	csum_update32(&c, get32(f + 26), htonl(0x0a8a0001));
	T_EQ_INT(pkt_nat_addr4(&v, 0, htonl(0x0a8a0001), 0), 0);
	T_EQ_INT(get16(f + 40), c);
	free(f);

	/*
	 * An echo reply whose id becomes 0 with zero sequence and payload:
	 * every covered byte is zero, so the checksum must be 0xffff, not
	 * the 0x0000 RFC 1624 eqn. 3 gives (found by fuzz_pkt).
	 */
	f = frame_dup(f_icmp4_echo, sizeof(f_icmp4_echo));
	memset(f + 34, 0, sizeof(f_icmp4_echo) - 34);
	put16(f, 38, 0x1234);
	T_ASSERT(pkt_parse(&v, f, sizeof(f_icmp4_echo)) == PKT_OK);
	pkt_l4_csum_set(&v);
	T_EQ_INT(pkt_nat_port(&v, 0, 0, 0), 0);
	T_EQ_INT(get16(f + 36), 0xffff);
	T_ASSERT(pkt_l4_csum_ok(&v));
	free(f);

	/* ARP, ICMP errors and non-echo ICMP have nothing to rewrite. */
	f = frame_dup(f_arp_req, sizeof(f_arp_req));
	T_ASSERT(pkt_parse(&v, f, sizeof(f_arp_req)) == PKT_OK);
	T_EQ_INT(pkt_nat_addr4(&v, 0, 0, 0), -1);
	T_EQ_INT(pkt_nat_port(&v, 0, 0, 0), -1);
	free(f);
	f = frame_dup(x_icmp_portunr, sizeof(x_icmp_portunr));
	T_ASSERT(pkt_parse(&v, f, sizeof(x_icmp_portunr)) == PKT_OK);
	T_EQ_INT(pkt_nat_port(&v, 0, 5, 0), -1);
	T_EQ_MEM(f, x_icmp_portunr, sizeof(x_icmp_portunr));
	free(f);
}

static void
test_build_arp(void)
{
	uint8_t buf[64];
	struct pkt_view v;
	size_t n;

	n = pkt_build_arp(buf, sizeof(buf), ARPOP_REPLY_, macr,
	    htonl(0x0a890001), mac1, mac1, htonl(0x0a890005));
	T_EQ_INT(n, sizeof(x_arp_reply));
	T_EQ_MEM(buf, x_arp_reply, n);
	T_EQ_INT(pkt_parse(&v, buf, n), PKT_OK);
	T_EQ_INT(v.l3, PKT_L3_ARP);
	T_EQ_INT(pkt_build_arp(buf, 41, ARPOP_REPLY_, macr, 0, mac1, mac1, 0), 0);
}

static void
test_build_icmp_error(void)
{
	uint8_t buf[1600], *f;
	struct pkt_view o, v, q;
	size_t n;

	f = frame_dup(f_udp4_dns, sizeof(f_udp4_dns));
	T_ASSERT(pkt_parse(&o, f, sizeof(f_udp4_dns)) == PKT_OK);
	n = pkt_build_icmp4_error(buf, sizeof(buf), macr, mac1,
	    htonl(0x0a890001), ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, 0, &o, 548);
	T_EQ_INT(n, sizeof(x_icmp_portunr));
	T_EQ_MEM(buf, x_icmp_portunr, n);
	T_EQ_INT(pkt_parse(&v, buf, n), PKT_OK);
	T_ASSERT(pkt_ip4_csum_ok(&v) && pkt_l4_csum_ok(&v));
	T_EQ_INT(v.icmp_type, ICMP_DEST_UNREACH);
	T_EQ_INT(pkt_parse_icmp_quote(&q, buf + v.l4_off + 8, n - v.l4_off - 8), PKT_OK);
	T_EQ_INT(q.proto, IPPROTO_UDP_);
	T_EQ_INT(q.sport, 5353);
	T_EQ_INT(q.dport, 53);
	/* Too small a buffer. */
	T_EQ_INT(pkt_build_icmp4_error(buf, n - 1, macr, mac1, htonl(0x0a890001),
	    ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, 0, &o, 548), 0);
	/* Built in place over the original, it comes out the same. */
	{
		uint8_t *g = malloc(sizeof(buf));
		struct pkt_view og;

		T_ASSERT(g != NULL);
		memcpy(g, f_udp4_dns, sizeof(f_udp4_dns));
		T_ASSERT(pkt_parse(&og, g, sizeof(f_udp4_dns)) == PKT_OK);
		T_EQ_INT(pkt_build_icmp4_error(g, sizeof(buf), macr, mac1,
		    htonl(0x0a890001), ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, 0,
		    &og, 548), n);
		T_EQ_MEM(g, x_icmp_portunr, n);
		free(g);
	}
	free(f);

	/* quote_max below the minimum still quotes header + 8 bytes. */
	f = frame_dup(f_tcp4_data, sizeof(f_tcp4_data));
	T_ASSERT(pkt_parse(&o, f, sizeof(f_tcp4_data)) == PKT_OK);
	n = pkt_build_icmp4_error(buf, sizeof(buf), macr, mac1,
	    htonl(0x0a890001), ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED,
	    htonl(1400), &o, 0);
	T_EQ_INT(n, sizeof(x_icmp_fragneed));
	T_EQ_MEM(buf, x_icmp_fragneed, n);
	free(f);

	/* A big original is cut so that the error is 576 bytes of IP. */
	{
		uint8_t big[1514];
		struct pkt_view bv;

		memset(big, 0x11, sizeof(big));
		memcpy(big, f_udp4_dns, 34 + 8);
		put16(big, 16, sizeof(big) - 14);
		put16(big, 38, sizeof(big) - 34);
		T_ASSERT(pkt_parse(&bv, big, sizeof(big)) == PKT_OK);
		n = pkt_build_icmp4_error(buf, sizeof(buf), macr, mac1,
		    htonl(0x0a890001), ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, 0,
		    &bv, 100000);
		T_EQ_INT(n, 14 + 576);
		T_EQ_INT(pkt_parse(&v, buf, n), PKT_OK);
		T_ASSERT(pkt_l4_csum_ok(&v));
	}

	/* Never about an ICMP error, a non-first fragment, or to a
	 * broadcast, multicast or unspecified source. */
	f = frame_dup(x_icmp_portunr, sizeof(x_icmp_portunr));
	T_ASSERT(pkt_parse(&o, f, sizeof(x_icmp_portunr)) == PKT_OK);
	T_EQ_INT(pkt_build_icmp4_error(buf, sizeof(buf), macr, mac1, 0,
	    ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, 0, &o, 548), 0);
	free(f);
	f = frame_dup(f_frag4_second, sizeof(f_frag4_second));
	T_ASSERT(pkt_parse(&o, f, sizeof(f_frag4_second)) == PKT_OK);
	T_EQ_INT(pkt_build_icmp4_error(buf, sizeof(buf), macr, mac1, 0,
	    ICMP_TIME_EXCEEDED, 0, 0, &o, 548), 0);
	free(f);
	f = frame_dup(f_icmp4_echo, sizeof(f_icmp4_echo));
	T_ASSERT(pkt_parse(&o, f, sizeof(f_icmp4_echo)) == PKT_OK);
	T_ASSERT(pkt_build_icmp4_error(buf, sizeof(buf), macr, mac1, 0,
	    ICMP_TIME_EXCEEDED, 0, 0, &o, 548) > 0);
	memset(f + 26, 0xff, 4);
	T_EQ_INT(pkt_build_icmp4_error(buf, sizeof(buf), macr, mac1, 0,
	    ICMP_TIME_EXCEEDED, 0, 0, &o, 548), 0);
	f[26] = 224;
	T_EQ_INT(pkt_build_icmp4_error(buf, sizeof(buf), macr, mac1, 0,
	    ICMP_TIME_EXCEEDED, 0, 0, &o, 548), 0);
	free(f);
	/* Not IPv4. */
	f = frame_dup(f_udp6, sizeof(f_udp6));
	T_ASSERT(pkt_parse(&o, f, sizeof(f_udp6)) == PKT_OK);
	T_EQ_INT(pkt_build_icmp4_error(buf, sizeof(buf), macr, mac1, 0,
	    ICMP_DEST_UNREACH, 0, 0, &o, 548), 0);
	free(f);
}

static void
test_build_rst(void)
{
	uint8_t buf[128], *f;
	struct pkt_view o, v;
	size_t n;

	/* No ACK in the SYN: ack = seq + 1 (the SYN), flags RST|ACK. */
	f = frame_dup(f_tcp4_syn, sizeof(f_tcp4_syn));
	T_ASSERT(pkt_parse(&o, f, sizeof(f_tcp4_syn)) == PKT_OK);
	n = pkt_build_tcp_rst4(buf, sizeof(buf), macr, mac1, &o);
	T_EQ_INT(n, sizeof(x_rst_syn));
	T_EQ_MEM(buf, x_rst_syn, n);
	T_EQ_INT(pkt_parse(&v, buf, n), PKT_OK);
	T_ASSERT(pkt_ip4_csum_ok(&v) && pkt_l4_csum_ok(&v));
	T_EQ_INT(v.tcp_flags, TCP_RST | TCP_ACK);
	T_EQ_INT(pkt_build_tcp_rst4(buf, n - 1, macr, mac1, &o), 0);
	/* In place over the original. */
	T_EQ_INT(pkt_build_tcp_rst4(f, sizeof(f_tcp4_syn), macr, mac1, &o), n);
	T_EQ_MEM(f, x_rst_syn, n);
	free(f);

	/* ACK set: seq = the segment's ack, flags RST only. */
	f = frame_dup(f_tcp4_data, sizeof(f_tcp4_data));
	T_ASSERT(pkt_parse(&o, f, sizeof(f_tcp4_data)) == PKT_OK);
	n = pkt_build_tcp_rst4(buf, sizeof(buf), macr, mac1, &o);
	T_EQ_INT(n, sizeof(x_rst_data));
	T_EQ_MEM(buf, x_rst_data, n);

	/* Without ACK, data and FIN both count: 18 + 1. */
	f[47] = TCP_FIN | TCP_PSH;
	T_ASSERT(pkt_parse(&o, f, sizeof(f_tcp4_data)) == PKT_OK);
	n = pkt_build_tcp_rst4(buf, sizeof(buf), macr, mac1, &o);
	T_ASSERT(pkt_parse(&v, buf, n) == PKT_OK);
	T_EQ_INT(ntohl(pkt_tcp(&v)->ack_be), 1000 + 18 + 1);
	T_EQ_INT(pkt_tcp(&v)->seq_be, 0);
	T_ASSERT(pkt_l4_csum_ok(&v));

	/* Never a reset for a reset, nor for something not TCP. */
	f[47] = TCP_RST;
	T_ASSERT(pkt_parse(&o, f, sizeof(f_tcp4_data)) == PKT_OK);
	T_EQ_INT(pkt_build_tcp_rst4(buf, sizeof(buf), macr, mac1, &o), 0);
	free(f);
	f = frame_dup(f_udp4_dns, sizeof(f_udp4_dns));
	T_ASSERT(pkt_parse(&o, f, sizeof(f_udp4_dns)) == PKT_OK);
	T_EQ_INT(pkt_build_tcp_rst4(buf, sizeof(buf), macr, mac1, &o), 0);
	free(f);
}

/* What parsing the first n bytes of a quote must say. */
static void
test_icmp_quote(void)
{
	const uint8_t *quote = x_icmp_portunr + 42;
	size_t qlen = sizeof(x_icmp_portunr) - 42, n;
	struct pkt_view q;
	uint8_t *p;

	for (n = 0; n <= qlen; n++) {
		int want = n < 20 ? PKT_E_SHORT_L3 : n < 28 ? PKT_E_SHORT_L4 : PKT_OK;

		p = frame_dup(quote, n);
		T_EQ_INT(pkt_parse_icmp_quote(&q, p, n), want);
		if (want == PKT_OK) {
			T_EQ_INT(q.l3_off, 0);
			T_EQ_INT(q.l4_off, 20);
			T_EQ_INT(q.ip_end, n);
			T_EQ_INT(q.sport, 5353);
			T_EQ_INT(q.dport, 53);
			T_ASSERT(pkt_l4_payload_len(&q) == n - 28);
		}
		free(p);
	}
	/* Header length inside the quote, claimed length at least
	 * header + 8, version 4. */
	p = calloc(1, 80);
	T_ASSERT(p != NULL);
	memcpy(p, quote, qlen);
	p[0] = 0x44;
	T_EQ_INT(pkt_parse_icmp_quote(&q, p, qlen), PKT_E_BAD_IHL);
	p[0] = 0x4f;
	put16(p, 2, 1500);
	T_EQ_INT(pkt_parse_icmp_quote(&q, p, 59), PKT_E_BAD_IHL);
	T_EQ_INT(pkt_parse_icmp_quote(&q, p, 67), PKT_E_SHORT_L4);
	T_EQ_INT(pkt_parse_icmp_quote(&q, p, 68), PKT_OK);
	T_EQ_INT(q.l4_off, 60);
	p[0] = 0x65;
	T_EQ_INT(pkt_parse_icmp_quote(&q, p, qlen), PKT_E_BAD_VERSION);
	p[0] = 0x45;
	put16(p, 2, 27);
	T_EQ_INT(pkt_parse_icmp_quote(&q, p, qlen), PKT_E_SHORT_L4);
	put16(p, 2, 19);
	T_EQ_INT(pkt_parse_icmp_quote(&q, p, qlen), PKT_E_BAD_TOTLEN);
	/* Claimed longer than quoted is normal: ip_end stops at the quote. */
	put16(p, 2, 1500);
	T_EQ_INT(pkt_parse_icmp_quote(&q, p, qlen), PKT_OK);
	T_EQ_INT(q.ip_end, qlen);
	/* A quoted non-first fragment has no ports. */
	put16(p, 6, 100);
	T_EQ_INT(pkt_parse_icmp_quote(&q, p, 20), PKT_OK);
	T_EQ_INT(q.has_l4, 0);
	put16(p, 6, IPV4_OFFMASK);
	T_EQ_INT(pkt_parse_icmp_quote(&q, p, 20), PKT_E_BAD_FRAG);
	free(p);
	/* ICMP echo quoted: the id is the flow key. */
	p = frame_dup(f_icmp4_echo + 14, 28);
	T_EQ_INT(pkt_parse_icmp_quote(&q, p, 28), PKT_OK);
	T_EQ_INT(q.icmp_type, ICMP_ECHO);
	T_EQ_INT(q.icmp_id, 0x4242);
	free(p);
}

static void
test_strings(void)
{
	static const struct { const char *s; int ok; uint32_t host; } cases[] = {
		{ "10.137.0.5", 1, 0x0a890005 },
		{ "0.0.0.0", 1, 0 },
		{ "255.255.255.255", 1, 0xffffffff },
		{ "1.2.3.4", 1, 0x01020304 },
		{ "192.168.100.200", 1, 0xc0a864c8 },
		{ "010.1.1.1", 0, 0 },
		{ "1.1.1.01", 0, 0 },
		{ "1.00.1.1", 0, 0 },
		{ "256.1.1.1", 0, 0 },
		{ "1.1.1.256", 0, 0 },
		{ "1.1.1.1000", 0, 0 },
		{ "1.1.1.0255", 0, 0 },
		{ "1.1.1", 0, 0 },
		{ "1.1.1.1.1", 0, 0 },
		{ "1.1.1.1.", 0, 0 },
		{ ".1.1.1", 0, 0 },
		{ "1..1.1", 0, 0 },
		{ "1.1.1.1 ", 0, 0 },
		{ " 1.1.1.1", 0, 0 },
		{ "1.1.1.1x", 0, 0 },
		{ "1.1.1.1/24", 0, 0 },
		{ "+1.1.1.1", 0, 0 },
		{ "1.-1.1.1", 0, 0 },
		{ "0x1.1.1.1", 0, 0 },
		{ "16843009", 0, 0 },
		{ "", 0, 0 },
		{ "...", 0, 0 },
	};
	char b16[16], b18[18];
	static const uint8_t mac[6] = { 0x00, 0x16, 0x3e, 0x5e, 0x6c, 0xff };
	uint32_t a;
	size_t i;

	for (i = 0; i < nitems_(cases); i++) {
		a = 0xdeadbeef;
		T_EQ_INT(ip4_parse(cases[i].s, &a) == 0, cases[i].ok);
		if (cases[i].ok) {
			T_EQ_INT(ntohl(a), cases[i].host);
			T_EQ_STR(ip4_str(a, b16), cases[i].s);
		} else
			T_EQ_INT(a, 0xdeadbeef);
	}
	T_EQ_STR(mac_str(mac, b18), "00:16:3e:5e:6c:ff");
	T_EQ_INT(ip4_parse(NULL, &a), -1);
}

/* The IPv4 option walk finds source routing anywhere in the list, passes
 * other options, and refuses a list whose lengths do not add up. */
static void
test_ip4_srcroute(void)
{
	static const struct {
		uint8_t	opt[40];
		size_t	len;
		int	want;
	} c[] = {
		{ { 0 }, 0, 0 },				/* no options */
		{ { 1, 1, 1, 1 }, 4, 0 },			/* NOPs */
		{ { 0x83, 7, 4, 1, 2, 3, 4, 0 }, 8, 1 },	/* LSRR */
		{ { 1, 0x89, 7, 4, 1, 2, 3, 4 }, 8, 1 },	/* NOP, SSRR */
		{ { 7, 7, 4, 0, 0, 0, 0, 0x83 }, 8, 1 },	/* RR, then LSRR */
		{ { 7, 7, 4, 0, 0, 0, 0, 0 }, 8, 0 },		/* RR, EOL */
		{ { 0, 0x83, 7, 4 }, 4, 0 },			/* after EOL: padding */
		{ { 0x44, 12, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0 }, 12, 0 },	/* timestamp */
		{ { 0x94, 4, 0, 0 }, 4, 0 },			/* router alert */
		{ { 0x44, 1, 0, 0 }, 4, -1 },			/* length 1 */
		{ { 0x44, 0, 0, 0 }, 4, -1 },			/* length 0 */
		{ { 0x44, 8, 0, 0 }, 4, -1 },			/* past the header */
		{ { 1, 1, 1, 0x44 }, 4, -1 },			/* no length byte */
		{ { 0x07, 40, 0 }, 40, 0 },			/* one option, whole area */
	};
	uint8_t ip[60];
	size_t i;

	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		memset(ip, 0, sizeof(ip));
		ip[0] = (uint8_t)(0x40 | (20 + c[i].len) / 4);
		memcpy(ip + 20, c[i].opt, c[i].len);
		if (pkt_ip4_srcroute(ip, 20 + c[i].len) != c[i].want)
			printf("# case %zu\n", i);
		T_EQ_INT(pkt_ip4_srcroute(ip, 20 + c[i].len), c[i].want);
	}
}

/*
 * The offload family (pkt_offload.c): checksum completion and super-frame
 * checks on frames in shared memory.
 *
 * Independent reference: sum with the pseudo-header, field zeroed.
 */
static uint32_t
ref_pseudo(const uint8_t *src, const uint8_t *dst, unsigned alen, uint8_t proto,
    unsigned l4len)
{
	return tu_sum16(tu_sum16(0, src, alen), dst, alen) + proto + l4len;
}

/* The field is at an even offset (UDP's 6, TCP's 16): the words before
 * and after it, as if it were zero. */
static uint16_t
ref_l4_csum(const uint8_t *src, const uint8_t *dst, unsigned alen, uint8_t proto,
    const uint8_t *l4, unsigned l4len, unsigned field)
{
	uint32_t s = ref_pseudo(src, dst, alen, proto, l4len);

	s = tu_sum16(s, l4, field);
	s = tu_sum16(s, l4 + field + 2, l4len - field - 2);
	return (uint16_t)~tu_fold(s);
}

static uint16_t
ref_partial(const uint8_t *src, const uint8_t *dst, unsigned alen, uint8_t proto,
    unsigned l4len)
{
	/* not complemented: the pseudo-header sum */
	return tu_fold(ref_pseudo(src, dst, alen, proto, l4len));
}

/*
 * An IPv4 UDP frame of UDP4_LEN bytes (33 bytes of payload) at f, its
 * checksum field holding the pseudo-header sum as a CHECKSUM_PARTIAL
 * sender leaves it; returns the checksum completing it must give.
 */
#define UDP4_LEN	(14 + 20 + 8 + 33)
static uint16_t
udp4_partial(uint8_t *f)
{
	uint8_t *ip = f + 14, *u = ip + 20;
	uint16_t want, ps;
	unsigned i;

	memset(f, 0, UDP4_LEN);
	f[12] = 0x08;
	ip[0] = 0x45;
	ip[3] = 20 + 8 + 33;
	ip[8] = 64;
	ip[9] = 17;
	memcpy(ip + 12, "\x0a\x89\x00\x05\x08\x08\x08\x08", 8);
	u[0] = 0x12; u[1] = 0x34; u[3] = 53;
	u[5] = 8 + 33;
	for (i = 0; i < 33; i++)
		u[8 + i] = (uint8_t)(i * 7 + 1);
	want = ref_l4_csum(ip + 12, ip + 16, 4, 17, u, 41, 6);
	ps = ref_partial(ip + 12, ip + 16, 4, 17, 41);
	u[6] = (uint8_t)(ps >> 8);
	u[7] = (uint8_t)ps;
	return want;
}

static void
csum_ipv4_udp(void)
{
	uint8_t f[UDP4_LEN + 4];
	uint8_t *ip = f + 14, *u = ip + 20;
	uint16_t want, got, start, off;

	memset(f, 0, sizeof(f));
	want = udp4_partial(f);
	T_EQ_INT(pkt_csum_locate(f, sizeof(f), &start, &off), 0);
	T_EQ_INT(start, 34);
	T_EQ_INT(off, 6);
	/* trailing Ethernet padding is not part of the sum */
	f[sizeof(f) - 1] = 0x55;
	T_EQ_INT(pkt_csum_complete(f, sizeof(f)), 0);
	got = (uint16_t)(u[6] << 8 | u[7]);
	T_EQ_INT(got, want);
	/* fragments cannot be completed */
	ip[6] = 0x20;
	T_EQ_INT(pkt_csum_complete(f, sizeof(f)), -1);
	ip[6] = 0;
	/* IP length past the frame */
	ip[3] = 200;
	T_EQ_INT(pkt_csum_complete(f, sizeof(f)), -1);
}

static void
csum_ipv6_tcp(void)
{
	uint8_t f[14 + 40 + 20 + 100];
	uint8_t *ip = f + 14, *t = ip + 40;
	uint16_t want, got, ps;
	unsigned i;

	memset(f, 0, sizeof(f));
	f[12] = 0x86;
	f[13] = 0xdd;
	ip[0] = 0x60;
	ip[5] = 120;
	ip[6] = 6;
	for (i = 0; i < 32; i++)
		ip[8 + i] = (uint8_t)(i * 13);
	t[12] = 0x50;
	for (i = 20; i < 120; i++)
		t[i] = (uint8_t)(i ^ 0x5a);
	want = ref_l4_csum(ip + 8, ip + 24, 16, 6, t, 120, 16);
	ps = ref_partial(ip + 8, ip + 24, 16, 6, 120);
	t[16] = (uint8_t)(ps >> 8);
	t[17] = (uint8_t)ps;
	T_EQ_INT(pkt_csum_complete(f, sizeof(f)), 0);
	got = (uint16_t)(t[16] << 8 | t[17]);
	T_EQ_INT(got, want);
	/* ICMPv6 / extension headers: not ours to complete */
	ip[6] = 58;
	T_EQ_INT(pkt_csum_complete(f, sizeof(f)), -1);
	/* ARP */
	f[12] = 0x08;
	f[13] = 0x06;
	T_EQ_INT(pkt_csum_complete(f, sizeof(f)), -1);
	T_EQ_INT(pkt_csum_complete(f, 10), -1);
}

#if defined(__x86_64__) && defined(__linux__)
/*
 * A frame in shared memory that its peer rewrites between two reads. The
 * frame's page is kept inaccessible: each load from it faults, the
 * handler counts the byte loaded (the first byte of a wide load), lets
 * that one instruction run (the trap flag, x86-64) and takes the page
 * away again. After the first load of the watched byte the "peer"
 * rewrites it, as a compromised natd would between a check and a use.
 * The frame ends at its page's end and the next page is never
 * accessible: a read past the frame is caught there.
 */
#define WPAGE	4096
static struct {
	uint8_t		*page;		/* WPAGE bytes, then the guard page */
	uint8_t		*frame;
	size_t		 len;
	unsigned	 reads[WPAGE];	/* loads starting at each offset */
	int		 flip_at;	/* rewritten after its first load */
	uint8_t		 flip_to;
	int		 flip_due;
	int		 past;		/* a load outside the frame */
	sigjmp_buf	 out;
} W;

static void
w_segv(int sig, siginfo_t *si, void *uc)
{
	uint8_t *a = si->si_addr;

	(void)sig;
	if (a < W.frame || a >= W.frame + W.len) {
		W.past = 1;
		siglongjmp(W.out, 1);
	}
	W.reads[a - W.frame]++;
	if (a - W.frame == W.flip_at && W.reads[a - W.frame] == 1)
		W.flip_due = 1;
	mprotect(W.page, WPAGE, PROT_READ | PROT_WRITE);
	((ucontext_t *)uc)->uc_mcontext.gregs[REG_EFL] |= 0x100;
}

static void
w_trap(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)si;
	((ucontext_t *)uc)->uc_mcontext.gregs[REG_EFL] &= ~0x100LL;
	if (W.flip_due) {
		W.frame[W.flip_at] = W.flip_to;
		W.flip_due = 0;
	}
	mprotect(W.page, WPAGE, PROT_NONE);
}

/* Put frame f in the watched page; flip byte at to value to after its first load. */
static int
w_setup(const uint8_t *f, size_t len, int at, uint8_t to)
{
	struct sigaction sa;

	if (W.page == NULL) {
		W.page = mmap(NULL, 2 * WPAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (W.page == MAP_FAILED)
			return -1;
		memset(&sa, 0, sizeof(sa));
		sa.sa_flags = SA_SIGINFO | SA_NODEFER;
		sa.sa_sigaction = w_segv;
		sigaction(SIGSEGV, &sa, NULL);
		sa.sa_sigaction = w_trap;
		sigaction(SIGTRAP, &sa, NULL);
	}
	if (len > WPAGE)
		return -1;
	mprotect(W.page, WPAGE, PROT_READ | PROT_WRITE);
	W.frame = W.page + WPAGE - len;
	W.len = len;
	memcpy(W.frame, f, len);
	memset(W.reads, 0, sizeof(W.reads));
	W.flip_at = at;
	W.flip_to = to;
	W.flip_due = 0;
	W.past = 0;
	mprotect(W.page, WPAGE, PROT_NONE);
	return 0;
}

/* Every byte in [from, to) loaded at most once (counting first bytes of loads). */
static int
w_once(size_t from, size_t to)
{
	for (size_t i = from; i < to; i++)
		if (W.reads[i] > 1) {
			printf("# offset %zu loaded %u times\n", i, W.reads[i]);
			return 0;
		}
	return 1;
}

static void
w_done(void)
{
	mprotect(W.page, WPAGE, PROT_READ | PROT_WRITE);
}

/*
 * pkt_csum_complete with natd rewriting the IP total length after the
 * first load: 61 becomes 0xff3d. Checked once and used from a private
 * copy, it stays 61: the sum stops at the packet's end and the checksum
 * is the right one. Loaded twice (the old locate-then-complete), the
 * second load runs the sum 65 KB past the buffer.
 */
static void
csum_length_flip(void)
{
	uint8_t f[UDP4_LEN];
	uint16_t want;
	volatile int rc = -2;

	want = udp4_partial(f);
	T_ASSERT(w_setup(f, sizeof(f), 14 + 2, 0xff) == 0);
	if (sigsetjmp(W.out, 1) == 0)
		rc = pkt_csum_complete(W.frame, W.len);
	w_done();
	T_EXPECT(!W.past);
	T_EQ_INT(rc, 0);
	T_EXPECT(w_once(12, 14 + 20));
	T_EQ_INT(W.frame[34 + 6] << 8 | W.frame[34 + 7], want);
	T_EQ_INT(W.frame[16], 0xff);	/* the peer did rewrite it */
}

/*
 * pkt_gso_check with the TCP data offset rewritten from 5 to 15 words
 * after its first load: the header length checked against the frame is
 * the one reported, never one that runs past the frame.
 */
static void
gso_doff_flip(void)
{
	uint8_t f[14 + 20 + 20 + 100];
	uint8_t *ip = f + 14, *t = ip + 20;
	struct pkt_gso g;
	const char *why = NULL;
	volatile int rc = -2;

	memset(f, 0, sizeof(f));
	f[12] = 0x08;
	ip[0] = 0x45;
	ip[3] = 20 + 20 + 100;
	ip[9] = 6;
	t[12] = 0x50;
	T_ASSERT(w_setup(f, sizeof(f), 14 + 20 + 12, 0xf0) == 0);
	if (sigsetjmp(W.out, 1) == 0)
		rc = pkt_gso_check(W.frame, W.len, 0, 48, 1500, &g, &why);
	w_done();
	T_EXPECT(!W.past);
	T_EQ_INT(rc, 0);
	T_EXPECT(w_once(12, 14 + 20 + 20));
	T_EQ_INT(g.hdr_len, 14 + 20 + 20);
	T_EQ_INT(g.payload, 100);
	T_EQ_INT(g.segs, 3);
}
#endif

int
main(void)
{
	T_RUN(test_valid_frames);
	T_RUN(test_field_values);
	T_RUN(test_truncation);
	T_RUN(test_l4_truncation);
	T_RUN(test_inconsistent);
	T_RUN(test_fragments);
	T_RUN(test_csum_basic);
	T_RUN(test_csum_reference);
	T_RUN(test_udp_zero_csum);
	T_RUN(test_csum_incremental);
	T_RUN(test_csum_partial);
	T_RUN(test_nat_helpers);
	T_RUN(test_nat_edges);
	T_RUN(test_build_arp);
	T_RUN(test_build_icmp_error);
	T_RUN(test_build_rst);
	T_RUN(test_icmp_quote);
	T_RUN(test_strings);
	T_RUN(test_ip4_srcroute);
	T_RUN(csum_ipv4_udp);
	T_RUN(csum_ipv6_tcp);
#if defined(__x86_64__) && defined(__linux__) && !defined(__SANITIZE_ADDRESS__)
	T_RUN(csum_length_flip);
	T_RUN(gso_doff_flip);
#elif defined(__SANITIZE_ADDRESS__)
	/* ASan's memcpy makes the private copy with wide loads that start
	 * before the watched byte, and the watch sees only a load's first
	 * byte: it cannot tell when to flip. The plain build runs both. */
	t_skip("csum_length_flip", "the load watch cannot follow ASan's memcpy");
	t_skip("gso_doff_flip", "the load watch cannot follow ASan's memcpy");
#else
	t_skip("csum_length_flip", "needs x86-64 single-stepping");
	t_skip("gso_doff_flip", "needs x86-64 single-stepping");
#endif
	return t_done();
}
