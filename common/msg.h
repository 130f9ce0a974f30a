/*
 * msg.h: typed control messages between the supervisor and the daemons.
 *
 * Each daemon has one channel to the supervisor: a SOCK_SEQPACKET
 * socketpair whose daemon end is always file descriptor 3 (MSG_PARENT_FD).
 * One datagram is one message: a 16-byte header and a payload whose size
 * is checked against the type's entry in the message table (exactly, for
 * fixed-size types) before any field is read. At most one file descriptor
 * travels with a message, and only for types whose table entry allows it.
 *
 * The supervisor routes messages between daemons (a star: daemons never
 * talk to each other over control channels) and checks that the sender is
 * allowed to send that type. A sibling that sends an unknown type, a wrong
 * size or an unexpected fd has broken the protocol: the receiver treats
 * that channel as dead (a daemon exits, the supervisor kills and restarts
 * the daemon).
 *
 * Adding a type: one enum value, one struct (with a static_assert of its
 * size) and one line in msg_table[] (msg.c), which the unit test walks.
 */
#ifndef MOAT_MSG_H
#define MOAT_MSG_H

#include <stdint.h>
#include <stddef.h>
#include <assert.h>

#define MSG_PARENT_FD	3
#define MSG_MAX_PAYLOAD	(64 * 1024)

struct msg_hdr {
	uint32_t	type;
	uint32_t	len;		/* payload bytes after this header */
	uint32_t	id;		/* request id, echoed in replies; 0 otherwise */
	uint32_t	pad;
};
static_assert(sizeof(struct msg_hdr) == 16, "message header is 16 bytes");

/* Processes, as bits, for the routing/permission table. */
enum proc_id {
	PROC_MOAT = 0,		/* the supervisor */
	PROC_NETBACKD,
	PROC_NATD,
	PROC_POLICYD,
	PROC_AGENTD,
	PROC_COUNT
};
#define PB(p)	(1u << (p))

enum msg_type {
	MSG_NONE = 0,
	/* lifecycle */
	MSG_QUEUES,		/* s->d  shared memory layout, + memfd */
	MSG_EVENTFD,		/* s->d  one ring's eventfd, + fd */
	MSG_START,		/* s->d  configuration complete: sandbox and run */
	MSG_READY,		/* d->s  running, sandbox on */
	MSG_LOGLEVEL,		/* s->d  */
	MSG_SHUTDOWN,		/* s->d  */
	/* services (moatctl, qrexec) */
	MSG_CALL,		/* s->d  run a service, input in the memfd */
	MSG_CALL_DONE,		/* d->s  status, output in the memfd */
	MSG_SVC_REQ,		/* agentd->s  a qrexec call for a moat.* service, + memfd */
	MSG_SVC_REPLY,		/* s->agentd  its result, + memfd */
	MSG_POWEROFF,		/* agentd->s  dom0 asked for shutdown/reboot */
	/* configuration */
	MSG_NETCONF,		/* agentd->s->natd,policyd,netbackd */
	MSG_DEVNET_LINK,	/* s->netbackd  one devnet interface to open */
	MSG_LINK,		/* netbackd->s->natd,policyd  a link came up or went down */
	MSG_QRULES_BEGIN,	/* agentd->s->policyd  a client's Qubes rules follow */
	MSG_QRULE,		/* agentd->s->policyd  one rule string */
	MSG_QRULES_END,		/* agentd->s->policyd  commit */
	MSG_RULES_CHANGED,	/* policyd->s->natd  re-check existing flows */
	MSG_DNS_QUERY,		/* policyd->s->natd  resolve a dsthost name */
	MSG_DNS_ANSWER,		/* natd->s->policyd  */
	MSG_FLOWTAB,		/* s->natd  the connection table's memfd */
	MSG_TEST_SYSCALL,	/* s->d  test builds only: make a forbidden call */
	MSG_CLIENTS,		/* agentd->s->natd,policyd  connected clients, mapped addresses */
	MSG_PEER_DIED,		/* s->netbackd  natd died: reclaim the buffers it held */
	MSG_TEST_RING,		/* s->d  test builds only: corrupt our producer index of a ring */
	MSG_CLIENTS6,		/* agentd->s->policyd  connected IPv6 clients, mapped addresses */
	MSG_RULES_HOLD,		/* s->policyd  hold new flows (stored rules not yet in) or go on */
	MSG_DOM0_CALL,		/* s->agentd  call a dom0 service (VM -> dom0 qrexec) */
	MSG_DOM0_RESULT,	/* agentd->s  its answer, stdout in the memfd */
	MSG_FORWARDS,		/* policyd->s->natd  the inbound port forwards in force */
	MSG_LIMITS,		/* policyd->s->natd  the per-client rate limits in force */
	MSG_TYPE_COUNT
};

/*
 * MSG_QUEUES: where the rings and the pool sit in one shared memfd. There
 * are two, split by who needs them, so that no daemon maps memory it has
 * no business reading: the packet region (the pool, RX and TX) goes to
 * netbackd and natd, the flow region (FLOWREQ and VERDICT, no pool) to
 * natd and policyd. Each ring lives in exactly one region (shm.c's
 * ring_table); the ring[] entries of the other region's rings are zero.
 */
#define MSG_QUEUES_MAX_RINGS	8
enum ring_id {
	RING_RX = 0,		/* netbackd -> natd   struct mq_desc */
	RING_TX,		/* natd -> netbackd   struct mq_desc */
	RING_FLOWREQ,		/* natd -> policyd    struct flow_req */
	RING_VERDICT,		/* policyd -> natd    struct flow_verdict */
	RING_COUNT
};
enum queue_region {
	QREGION_PACKETS = 1,	/* pool + RX + TX: netbackd, natd */
	QREGION_FLOWS,		/* FLOWREQ + VERDICT: natd, policyd */
	QREGION_END
};
/*
 * A daemon that finds a ring broken (its peer's index more than a ring
 * away) exits with this status plus the ring id: the supervisor then
 * restarts the peer as well and re-formats the ring before either comes
 * back. Below 128, so it cannot be mistaken for a signal by a shell.
 */
#define EXIT_RING_BROKEN	96
/* natd's reserve: the supervisor announces it, netbackd gives it. */
#define NATD_RESERVE_BUFS	256
struct msg_queues {
	uint64_t	shm_size;
	uint64_t	pool_off;
	uint32_t	nbufs;
	uint32_t	bufsz;
	uint32_t	nrings;
	uint32_t	region;		/* enum queue_region */
	struct {
		uint64_t	off;
		uint32_t	nslots;
		uint32_t	elemsz;
	} ring[MSG_QUEUES_MAX_RINGS];
	/* netbackd: the buffers it owns (all of them). natd: own_count is the
	 * size of its reserve for frames it originates, which netbackd fills
	 * with empty RX descriptors (port MQ_PORT_DROP). */
	uint32_t	own_first;
	uint32_t	own_count;
};
static_assert(sizeof(struct msg_queues) == 32 + 16 * MSG_QUEUES_MAX_RINGS + 8, "msg_queues size");

struct msg_eventfd {
	uint32_t	ring;		/* enum ring_id */
	uint32_t	role;		/* MQ_PRODUCER or MQ_CONSUMER: which end this process is */
};
static_assert(sizeof(struct msg_eventfd) == 8, "msg_eventfd size");

struct msg_start {
	uint32_t	flags;
	uint32_t	pad;
};
static_assert(sizeof(struct msg_start) == 8, "msg_start size");
#define START_F_RESTART	0x1	/* this is a restart: recover state, don't assume a fresh world */

struct msg_ready {
	uint32_t	sandbox;	/* 0 none, 1 seccomp */
	uint32_t	pid;
};
static_assert(sizeof(struct msg_ready) == 8, "msg_ready size");

enum log_level { LOG_LVL_ERROR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };
struct msg_loglevel {
	uint32_t	level;		/* enum log_level */
	uint32_t	pad;
};
static_assert(sizeof(struct msg_loglevel) == 8, "msg_loglevel size");

/* A service call: "moat.Stats", "moat.Logs" + arg "natd", ... */
#define SVC_NAME_MAX	64
#define SVC_MAX_INPUT	(1024 * 1024)
#define SVC_MAX_OUTPUT	(16 * 1024 * 1024)
struct msg_call {
	uint32_t	callid;
	uint32_t	in_len;		/* bytes of input in the memfd */
	char		service[SVC_NAME_MAX];	/* NUL-terminated */
	char		arg[SVC_NAME_MAX];	/* NUL-terminated, "" when none */
	char		source[SVC_NAME_MAX];	/* calling VM ("dom0", "moatctl") */
};
static_assert(sizeof(struct msg_call) == 200, "msg_call size");
struct msg_call_done {
	uint32_t	callid;
	int32_t		status;		/* exit status: 0 ok, 127 unknown service, ... */
	uint32_t	out_len;	/* stdout bytes at the start of the memfd */
	uint32_t	err_len;	/* stderr bytes right after them */
};
static_assert(sizeof(struct msg_call_done) == 16, "msg_call_done size");

struct msg_poweroff {
	uint32_t	reboot;
	uint32_t	pad;
};
static_assert(sizeof(struct msg_poweroff) == 8, "msg_poweroff size");

/* MSG_NETCONF: what QubesDB says about our addresses. All IPv4 in network
 * order; 0 = not set. The IPv6 addresses are all zero when not set: dom0
 * writes them only with the `ipv6` feature, and without /qubes-ip6 moat
 * forwards no IPv6 at all (uplink side) and without /qubes-netvm-gateway6
 * none from clients. */
struct msg_netconf {
	uint32_t	ip;		/* /qubes-ip: our uplink address */
	uint32_t	netmask;	/* /qubes-netmask */
	uint32_t	gateway;	/* /qubes-gateway: the NetVM */
	uint32_t	dns[2];		/* /qubes-primary-dns, /qubes-secondary-dns: real resolvers */
	uint32_t	netvm_gateway;	/* /qubes-netvm-gateway: the address we show clients */
	uint32_t	netvm_netmask;	/* /qubes-netvm-netmask */
	uint32_t	netvm_network;	/* /qubes-netvm-network */
	uint32_t	netvm_dns[2];	/* /qubes-netvm-primary-dns, -secondary-dns: virtual */
	uint32_t	debug;		/* /qubes-debug-mode */
	uint32_t	pad;
	uint8_t		ip6[16];	/* /qubes-ip6: our uplink IPv6 address */
	uint8_t		gateway6[16];	/* /qubes-gateway6: the NetVM's IPv6 address */
	uint8_t		netvm_gateway6[16];	/* /qubes-netvm-gateway6: the IPv6 gateway clients see */
};
static_assert(sizeof(struct msg_netconf) == 96, "msg_netconf size");

#define IFNAME_MAX	16
struct msg_devnet_link {
	uint16_t	port;		/* MQ_PORT_UPLINK or a client port */
	uint16_t	pad;
	uint32_t	client_ip;	/* network order; 0 for the uplink */
	char		ifname[IFNAME_MAX];
	uint8_t		client_ip6[16];	/* the client's IPv6 address; all zero if none or uplink */
};
static_assert(sizeof(struct msg_devnet_link) == 40, "msg_devnet_link size");

enum link_kind { LINK_UPLINK = 1, LINK_CLIENT = 2 };
struct msg_link {
	uint16_t	port;
	uint8_t		up;
	uint8_t		kind;		/* enum link_kind */
	uint8_t		our_mac[6];	/* the MAC moat uses on this link */
	uint8_t		peer_mac[6];	/* the client's MAC if known (Xen), else 0 */
	uint32_t	ip4;		/* the client's address, network order; 0 for the uplink */
	uint8_t		ip6[16];	/* the client's IPv6 address, all zero if none */
	uint32_t	mtu;
	char		name[32];	/* "eth1", "vif12.0": for logs and stats */
};
static_assert(sizeof(struct msg_link) == 72, "msg_link size");

/* Qubes rules for one client address, as dom0 wrote them into QubesDB. */
struct msg_qrules_begin {
	uint8_t		family;		/* 4 or 6 */
	uint8_t		pad[3];
	uint8_t		addr[16];	/* the client, network order */
	char		policy[8];	/* "accept", "drop", or "" when the key is missing */
	uint32_t	count;		/* MSG_QRULE messages that follow */
};
static_assert(sizeof(struct msg_qrules_begin) == 32, "msg_qrules_begin size");
#define QRULE_MAX	1024
struct msg_qrule {
	uint32_t	key;		/* the 4-digit key's value, 0..9999 */
	uint32_t	len;		/* bytes of text used */
	char		text[QRULE_MAX];	/* not NUL-terminated; len bytes */
};
static_assert(sizeof(struct msg_qrule) == 1032, "msg_qrule size");
struct msg_qrules_end {
	uint8_t		family;
	uint8_t		pad[3];
	uint8_t		addr[16];
};
static_assert(sizeof(struct msg_qrules_end) == 20, "msg_qrules_end size");

struct msg_rules_changed {
	uint32_t	generation;
	uint32_t	pad;
};
static_assert(sizeof(struct msg_rules_changed) == 8, "msg_rules_changed size");

#define DNS_NAME_MAX	256
#define DNS_ANSWER_MAX	16
struct msg_dns_query {
	uint32_t	qid;
	uint16_t	qtype;		/* 1 = A, 28 = AAAA */
	uint16_t	pad;
	char		name[DNS_NAME_MAX];	/* NUL-terminated */
};
static_assert(sizeof(struct msg_dns_query) == 264, "msg_dns_query size");
struct msg_dns_answer {
	uint32_t	qid;
	int32_t		status;		/* 0 answered (maybe with no address), -1 failed/timed out */
	uint32_t	ttl;		/* seconds */
	uint16_t	qtype;
	uint16_t	naddr;
	uint8_t		addr[DNS_ANSWER_MAX][16];	/* IPv4 in the first 4 bytes */
};
static_assert(sizeof(struct msg_dns_answer) == 272, "msg_dns_answer size");

struct msg_flowtab {
	uint64_t	size;
	uint32_t	nflows;
	uint32_t	pad;
};
static_assert(sizeof(struct msg_flowtab) == 16, "msg_flowtab size");

/*
 * MSG_CLIENTS: a snapshot of the clients dom0 says are connected
 * (/connected-ips) and their NAT mapping (/mapped-ip/<ip>/visible-ip,
 * visible-gateway; normally equal to the real ones). Variable size: only
 * count entries are sent (8 + 16 * count bytes). Re-sent whole whenever
 * any of those keys changes.
 */
#define CLIENTS_MAX		256
#define CLIENT_F_CONNECTED	0x1	/* listed in /connected-ips */
struct msg_clients {
	uint32_t	count;
	uint32_t	pad;
	struct msg_client {
		uint32_t	ip;		/* network order */
		uint32_t	visible_ip;	/* 0 when /mapped-ip/<ip>/visible-ip is missing */
		uint32_t	visible_gw;	/* 0 when .../visible-gateway is missing */
		uint32_t	flags;		/* CLIENT_F_* */
	} c[CLIENTS_MAX];
};
static_assert(sizeof(struct msg_clients) == 8 + 16 * CLIENTS_MAX, "msg_clients size");

/*
 * MSG_CLIENTS6: the same for IPv6, from /connected-ips6 and
 * /mapped-ip/<ipv6>/visible-ip, visible-gateway (dom0 writes them with the
 * `ipv6` feature). A list of its own: dom0 keeps the two families apart and
 * a client's IPv6 address is not tied to its IPv4 one there. Variable
 * size: 8 + 52 * count bytes, re-sent whole whenever one of its keys
 * changes; all-zero addresses are missing ones.
 */
#define CLIENTS6_MAX		256
struct msg_clients6 {
	uint32_t	count;
	uint32_t	pad;
	struct msg_client6 {
		uint8_t		ip[16];
		uint8_t		visible_ip[16];
		uint8_t		visible_gw[16];
		uint32_t	flags;		/* CLIENT_F_CONNECTED: in /connected-ips6 */
	} c[CLIENTS6_MAX];
};
static_assert(sizeof(struct msg_client6) == 52, "msg_client6 size");
static_assert(sizeof(struct msg_clients6) == 8 + 52 * CLIENTS6_MAX, "msg_clients6 size");

struct msg_test_syscall {
	uint32_t	what;		/* 0: open a file, 1: socket() */
	uint32_t	pad;
};
static_assert(sizeof(struct msg_test_syscall) == 8, "msg_test_syscall size");

struct msg_peer_died {
	uint32_t	proc;		/* enum proc_id */
	uint32_t	pad;
};
static_assert(sizeof(struct msg_peer_died) == 8, "msg_peer_died size");

struct msg_test_ring {
	uint32_t	ring;		/* enum ring_id, one we produce on */
	uint32_t	pad;
};
static_assert(sizeof(struct msg_test_ring) == 8, "msg_test_ring size");

/* MSG_RULES_HOLD: 1 = leave new flows waiting (natd holds their first
 * packets, and drops them after its own timeout), 0 = decide again. */
struct msg_rules_hold {
	uint32_t	hold;
	uint32_t	pad;
};
static_assert(sizeof(struct msg_rules_hold) == 8, "msg_rules_hold size");

/* MSG_DOM0_CALL: one service in dom0 (no input), e.g. moat.StoredRules. */
struct msg_dom0_call {
	char		service[SVC_NAME_MAX];	/* NUL-terminated */
};
static_assert(sizeof(struct msg_dom0_call) == 64, "msg_dom0_call size");

/* MSG_DOM0_RESULT: how the call ended; stdout (out_len bytes, at most
 * DOM0_OUT_MAX) in the memfd when status is DOM0_ANSWERED. */
#define DOM0_OUT_MAX		(SVC_MAX_INPUT + 1)
enum { DOM0_ANSWERED = 0, DOM0_REFUSED, DOM0_FAILED };
struct msg_dom0_result {
	uint32_t	status;		/* DOM0_* */
	int32_t		exit_code;	/* the service's, when answered */
	uint32_t	out_len;
	uint32_t	pad;
};
static_assert(sizeof(struct msg_dom0_result) == 16, "msg_dom0_result size");
/*
 * MSG_FORWARDS: the "forward" rules of the JSON rules in force (policyd
 * checked them; natd checks each entry again and ignores a bad one). Sent
 * whole after every accepted moat.SetRules; the supervisor keeps the last
 * one for a restarted natd.
 *
 * Forwarded ports on moat's own address are all in FWD_PORT_MIN..MAX, a
 * range natd's NAT never picks as a translated source port (nor keeps a
 * client's port in), so a forward and an outbound flow never share a
 * port. docs/rules.md says so to users.
 */
#define FWD_PORT_MIN	8000
#define FWD_PORT_MAX	8999
#define FWD_MAX		64
struct msg_forwards {
	uint32_t	count;
	uint32_t	generation;	/* policyd's rule generation, for logs */
	struct msg_forward {
		uint8_t		proto;		/* 6 or 17 */
		uint8_t		family;		/* 4, 6, or 0 for both */
		uint8_t		from4_plen;	/* 0 (and from4 0): any source */
		uint8_t		from6_plen;
		uint16_t	lo, hi;		/* ports on moat's address, lo <= hi */
		uint16_t	toport;		/* the client's port for lo; lo + k goes to toport + k */
		uint16_t	rule;		/* the JSON rule's index */
		uint32_t	to4;		/* the client, network order (its IPv6 is its link's) */
		uint32_t	from4;		/* remote source prefix, network order, host bits clear */
		uint8_t		from6[16];
	} f[FWD_MAX];
};
static_assert(sizeof(struct msg_forward) == 36, "msg_forward size");
static_assert(sizeof(struct msg_forwards) == 8 + 36 * FWD_MAX, "msg_forwards size");

/*
 * MSG_LIMITS: the per-client rate limits of the JSON rules (docs/rules.md,
 * "Rate limits"), in rule order; the whole table each time (count 0: no
 * limits). natd gives each client port the first entry whose client is
 * the port's (or is 0, every client). Rates are bytes of IP packets per
 * second, 0 for no limit in that direction; bursts are bytes. "up" is
 * what the client sends, "down" what it receives. The bounds are
 * policyd's (policyd/limit.h); natd checks them again.
 */
#define LIMITS_MAX	256
struct msg_limits {
	uint32_t	count;
	uint32_t	generation;	/* policyd's rule generation, for logs */
	struct msg_limit {
		uint32_t	client4;	/* network order; 0: every client */
		uint16_t	rule;		/* the JSON rule's index */
		uint16_t	pad;
		uint64_t	up_rate, up_burst;
		uint64_t	down_rate, down_burst;
	} l[LIMITS_MAX];
};
static_assert(sizeof(struct msg_limit) == 40, "msg_limit size");
static_assert(sizeof(struct msg_limits) == 8 + 40 * LIMITS_MAX, "msg_limits size");

/* Message table entry: the exact payload size (or maximum, for MSG_SZ_VAR
 * types), whether an fd may come with it, who may send it, who receives it
 * when the supervisor routes it. */
#define MSG_SZ_VAR	0x80000000u
struct msg_spec {
	const char	*name;
	uint32_t	 size;		/* exact size, or MSG_SZ_VAR | max */
	uint8_t		 fd;		/* 0 none, 1 optional, 2 required */
	uint32_t	 senders;	/* PB() bits */
	uint32_t	 route;		/* PB() bits the supervisor forwards to */
};
extern const struct msg_spec msg_table[MSG_TYPE_COUNT];

/* A received message. data is aligned for any payload struct. */
struct msg {
	struct msg_hdr	hdr;
	int		fd;		/* -1 when none */
	uint8_t		data[MSG_MAX_PAYLOAD] __attribute__((aligned(16)));
};

/* Receive results besides 1 (a message). */
#define MSG_EOF		0	/* peer closed */
#define MSG_AGAIN	(-1)	/* nothing to read (non-blocking socket) */
#define MSG_EPROTO	(-2)	/* protocol violation: the channel is dead */
#define MSG_EIO		(-3)	/* system error */

/*
 * Send one message, with fd (or -1). Returns 0, or -1 with errno set.
 * Refuses (EINVAL) a payload that does not match the table.
 */
int	msg_send(int sock, uint32_t type, uint32_t id, const void *payload,
	    size_t len, int fd);
/*
 * Receive one message and validate it: datagram size equals header +
 * payload length, type is known, payload size matches the table, an fd is
 * present only where allowed (an unexpected one is closed). from is the
 * sending process (for the sender check), or -1 to skip that check.
 * On MSG_EPROTO, *why says what was wrong (static string).
 */
int	msg_recv(int sock, struct msg *m, int from, const char **why);
/*
 * Exact-size typed getter: 0 and a copy in out, or -1 if the type or len
 * differs. msg_recv has already checked the size against the table, so -1
 * means the caller and the table disagree: every caller must act on it.
 */
int	msg_get(const struct msg *m, uint32_t type, void *out, size_t len)
	    __attribute__((warn_unused_result));
/* MSG_CLIENTS (variable size) as received: count entries, exactly as many
 * as its length holds (msg_recv checked it); NULL for another type. */
const struct msg_clients *msg_get_clients(const struct msg *m);
/* MSG_CLIENTS6 likewise. */
const struct msg_clients6 *msg_get_clients6(const struct msg *m);
const char *msg_name(uint32_t type);

#endif
