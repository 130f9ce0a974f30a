/*
 * agentd.h: agentd, the Qubes side of moat: QubesDB client, qrexec agent,
 * Xen control. Prototypes are grouped by the file that defines them.
 */
#ifndef MOAT_AGENTD_H
#define MOAT_AGENTD_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "evloop.h"
#include "msg.h"
#include "qdb.h"
#include "sandbox.h"

/* How agentd hands a message to the supervisor (msg_send on fd 3 in the
 * daemon; a recorder in the unit tests). 0 or -1. */
typedef int	agentd_send_fn(void *arg, uint32_t type, const void *payload,
		    size_t len, int fd);

/* agentd_conf.c: from database changes to NETCONF / CLIENTS / QRULES. */
struct conf {
	struct qdb		 db;
	int			 syncing;	/* a full dump is arriving: hold messages */
	int			 netconf_sent;
	struct msg_netconf	 netconf;	/* the last one sent */
	int			 clients_sent;
	struct msg_clients	 clients;	/* the last one sent */
	int			 clients6_sent;
	struct msg_clients6	 clients6;	/* the last one sent */
	agentd_send_fn		*send;
	void			*arg;
};
void	conf_init(struct conf *c, agentd_send_fn *send, void *arg);
void	conf_free(struct conf *c);
/* A full dump starts: the database is replaced by what follows. */
void	conf_sync_begin(struct conf *c);
/* The dump is complete: send NETCONF, CLIENTS, CLIENTS6 and every client's rules. */
void	conf_sync_end(struct conf *c);
/* dom0 wrote or removed a key (or the dump carried one). */
void	conf_write(struct conf *c, const char *path, const void *val, size_t len);
void	conf_rm(struct conf *c, const char *path);
/* File mode: feed src through the same path as a dump from dom0. */
void	conf_replay(struct conf *c, const struct qdb *src);
/* Exposed for tests. */
void	conf_netconf(const struct qdb *db, struct msg_netconf *nc);
void	conf_clients(const struct qdb *db, struct msg_clients *mc);
void	conf_clients6(const struct qdb *db, struct msg_clients6 *mc);
void	conf_send_rules(struct conf *c, const char *marker);

/* qdb_wire.c: QubesDB's vchan framing (libqubeswire.a, with moat-dom0). */
#define QDB_HDR_LEN	72
#define QDB_MSG_MAX	(QDB_HDR_LEN + QDB_VALUE_MAX)
enum qdb_type {
	QDB_CMD_READ = 0,
	QDB_CMD_WRITE = 1,
	QDB_CMD_MULTIREAD = 2,
	QDB_CMD_LIST = 3,
	QDB_CMD_RM = 4,
	QDB_CMD_WATCH = 5,
	QDB_CMD_UNWATCH = 6,
	QDB_RESP_OK = 7,
	QDB_RESP_ERROR_NOENT = 8,
	QDB_RESP_ERROR = 9,
	QDB_RESP_READ = 10,
	QDB_RESP_MULTIREAD = 11,
	QDB_RESP_LIST = 12,
	QDB_RESP_WATCH = 13,
};
struct qdb_msg {
	uint8_t		 type;
	char		 path[QDB_PATH_MAX];	/* always NUL-terminated */
	uint32_t	 len;
	const uint8_t	*data;
};
/* Compose a header (path copied up to its NUL; padding and tail zero). */
void	qdb_wire_hdr(uint8_t out[QDB_HDR_LEN], uint8_t type, const char *path,
	    uint32_t len);
/*
 * Take one message from the front of buf: bytes consumed (> 0), 0 when
 * the message is incomplete, or -1 when the header cannot be trusted
 * (*why says why): after that the stream is out of step and the
 * connection must go.
 */
int	qdb_wire_parse(const uint8_t *buf, size_t len, struct qdb_msg *m,
	    const char **why);

/* agentd_qdb.c, the client: one per connection to dom0's qubesdb-daemon. */
enum qdbc_state { QDBC_IDLE = 0, QDBC_DUMP, QDBC_SYNCED };
#define QDBC_OUT_MAX	(64 * 1024)
struct qdbc {
	enum qdbc_state	 state;
	struct conf	*conf;
	uint8_t		 in[QDB_MSG_MAX];
	size_t		 inlen;
	uint8_t		 out[QDBC_OUT_MAX];	/* the MULTIREAD and acks, unsent */
	size_t		 outlen;
	uint64_t	 nwrites, nrms, nrefused;
};
void	qdbc_init(struct qdbc *q, struct conf *conf);
/* The vchan just connected: queue the one MULTIREAD. */
void	qdbc_connected(struct qdbc *q);
/* Bytes from dom0. 0, or -1: drop the connection (logged). */
int	qdbc_input(struct qdbc *q, const uint8_t *buf, size_t len);
/* After sending n bytes of out. */
void	qdbc_sent(struct qdbc *q, size_t n);

/* qrexec_wire.c: qrexec protocol version 3 (libqrexec/qrexec.h);
 * libqubeswire.a, with moat-dom0. */
#define QX_HDR_LEN		8
#define QX_PROTOCOL_VERSION	3
#define QX_MAX_CMD_LEN		65535	/* MAX_QREXEC_CMD_LEN */
#define QX_MAX_CHUNK		65536	/* MAX_DATA_CHUNK_V3: a bigger one drops the link */
#define QX_CHUNK		65528	/* ours: header + chunk fit a 64 KiB ring */
#define QX_CTRL_MAX		(QX_HDR_LEN + 8 + QX_MAX_CMD_LEN)	/* longest control message */
#define QX_DATA_MAX		(QX_HDR_LEN + QX_MAX_CHUNK)
enum qx_type {
	QX_DATA_STDIN = 0x190,
	QX_DATA_STDOUT = 0x191,
	QX_DATA_STDERR = 0x192,
	QX_DATA_EXIT_CODE = 0x193,
	QX_EXEC_CMDLINE = 0x200,
	QX_JUST_EXEC = 0x201,
	QX_SERVICE_CONNECT = 0x202,
	QX_SERVICE_REFUSED = 0x203,
	QX_TRIGGER_SERVICE = 0x210,
	QX_CONNECTION_TERMINATED = 0x211,
	QX_TRIGGER_SERVICE3 = 0x212,
	QX_HELLO = 0x300,
};
/* qrexec exit codes */
#define QX_EXIT_PROBLEM		125
#define QX_EXIT_REFUSED		126
#define QX_EXIT_NOT_FOUND	127
struct qx_hdr {
	uint32_t	type;
	uint32_t	len;
};
/* Verdicts on a header: deliver it, skip its body, or drop the channel. */
#define QX_OK		0
#define QX_SKIP		1
#define QX_FATAL	(-1)
/* A service call as dom0 words it: user:[nogui:]QUBESRPC svc[+arg] source[ type target] */
struct qx_cmd {
	char	user[64];
	char	service[SVC_NAME_MAX];
	char	arg[SVC_NAME_MAX];
	char	source[SVC_NAME_MAX];
};
void	qx_put_hdr(uint8_t out[QX_HDR_LEN], uint32_t type, uint32_t len);
void	qx_put_u32(uint8_t *out, uint32_t v);
uint32_t qx_get_u32(const uint8_t *p);
/* 1 and the header when buf holds one, else 0. */
int	qx_get_hdr(const uint8_t *buf, size_t len, struct qx_hdr *h);
/* Checks on a header from dom0's control channel / a caller's data
 * channel, before the body is read. */
int	qx_ctrl_check(const struct qx_hdr *h, const char **why);
int	qx_data_check(const struct qx_hdr *h, const char **why);
/* HELLO body: 0 and the version (>= 2), or -1. */
int	qx_parse_hello(const struct qx_hdr *h, const uint8_t *body,
	    uint32_t *version, const char **why);
/* EXEC_CMDLINE / JUST_EXEC body: 0, the data vchan and the command line
 * (NUL-terminated inside body), or -1. */
int	qx_parse_exec(const struct qx_hdr *h, const uint8_t *body,
	    uint32_t *domain, uint32_t *port, const char **cmdline,
	    const char **why);
/* 0: a QUBESRPC call in c; 1: a plain command (we run none); -1: malformed. */
int	qx_parse_cmdline(const char *cmdline, struct qx_cmd *c, const char **why);
/*
 * Our own calls to dom0 (VM -> dom0): TRIGGER_SERVICE3 {target[64],
 * request id[32], "svc[+arg]\0"}, answered by SERVICE_REFUSED {id[32]} or
 * SERVICE_CONNECT {domain, port, id[32]}; then we serve the data vchan and
 * read the service's messages (qx_reply_check) as a caller does.
 */
#define QX_IDENT_LEN		32
#define QX_TRIGGER_FIXED	(64 + QX_IDENT_LEN)
#define QX_MAX_SERVICE_LEN	255	/* ours; dom0 takes up to 65000 */
/* The whole message into out (cap bytes): its length, or 0 when a field
 * does not fit or the id has a character dom0 refuses. */
size_t	qx_put_trigger(uint8_t *out, size_t cap, const char *target,
	    const char *ident, const char *service);
/* 0 and the fields (ident NUL-terminated), or -1 with why. */
int	qx_parse_connect(const struct qx_hdr *h, const uint8_t *body,
	    uint32_t *domain, uint32_t *port, char ident[QX_IDENT_LEN],
	    const char **why);
int	qx_parse_refused(const struct qx_hdr *h, const uint8_t *body,
	    char ident[QX_IDENT_LEN], const char **why);
int	qx_reply_check(const struct qx_hdr *h, const char **why);

/* agentd.c: the process and its poll loop. */
enum agentd_mode { AGENTD_FILE = 1, AGENTD_SOCKET, AGENTD_XEN };
#define POLLSET_MAX	160
/*
 * What agentd waits on in one round: its parts (QubesDB client, qrexec
 * calls, Xen control) say anew every round which descriptors and events
 * they want (a vchan's interest changes with its buffers), and
 * pollset_wait() waits for them as evloop sources of that round.
 */
struct pollset {
	struct pollfd	 pfd[POLLSET_MAX];
	void		(*cb[POLLSET_MAX])(void *, short);
	void		*arg[POLLSET_MAX];
	int		 n;
	int		 timeout_ms;	/* -1, or the nearest timer */
	struct evsrc	 src[POLLSET_MAX];
	const int	*stop;		/* set: the round's other callbacks are skipped */
};
struct vchan_env;
struct vchan;
struct qx;
struct xenctl;
struct agentd {
	enum agentd_mode	 mode;
	const char		*qdbfile;
	const char		*vchan_dir;
	int			 domid;
	int			 quit;
	int			 restart;	/* START_F_RESTART */
	struct conf		 conf;
	struct qdb		 filedb;
	struct vchan_env	*venv;
	/* the QubesDB client (vchan client of dom0, port 111) */
	struct vchan		*qdb_v;
	struct qdbc		 qdbc;
	uint64_t		 qdb_retry_ms;	/* when to try connecting again */
	uint32_t		 qdb_backoff_ms;
	/* the qrexec agent (vchan server for dom0, port 512) */
	struct qx		*qx;
	/* Xen control/shutdown watch */
	struct xenctl		*xc;
};
void	pollset_init(struct pollset *ps);
void	pollset_add(struct pollset *ps, int fd, short events,
	    void (*cb)(void *, short), void *arg);
void	pollset_timer(struct pollset *ps, uint64_t at_ms);
void	pollset_wait(struct pollset *ps, struct evloop *l);

/* agentd_link.c: the vchan side of the loop (QubesDB client, qrexec). */
int	agentd_vchan_setup(struct agentd *ad);
/* After sandbox_enter(); chrooted: it really changed our root (it does
 * nothing in --with-sandbox=none builds). */
void	agentd_vchan_sandboxed(struct agentd *ad, int chrooted);
void	agentd_vchan_poll(struct agentd *ad, struct pollset *ps);
void	agentd_vchan_tick(struct agentd *ad);

void	qx_svc_reply(struct agentd *ad, const struct msg *m);
void	qx_dom0_request(struct agentd *ad, const struct msg *m);

/* agentd_xen.c: control/shutdown, the Xen sandbox root. */
struct vchan_env;
int	xenctl_setup(struct agentd *ad, struct vchan_env *env);
void	xenctl_poll(struct agentd *ad, struct pollset *ps);
void	xenctl_tick(struct agentd *ad);
const char *xenctl_root(void);

/* agentd_sandbox.c: the policy and its one table; main() sets the mode
 * (1u << ad.mode): the lines of the socket or the Xen transport. */
#define AGENTD_SC_SOCKET	(1u << AGENTD_SOCKET)
#define AGENTD_SC_XEN		(1u << AGENTD_XEN)
extern const struct sandbox_policy agentd_sandbox_policy;

#endif
