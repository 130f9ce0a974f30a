/*
 * moat.h: the supervisor's state, shared by its files.
 */
#ifndef MOAT_MOAT_H
#define MOAT_MOAT_H

#include <stdint.h>
#include <sys/types.h>

#include "evloop.h"
#include "log.h"
#include "msg.h"
#include "ring.h"

enum backend { BACKEND_NONE = 0, BACKEND_DEVNET, BACKEND_XEN };

#define MAX_CLIENT_LINKS	64
#define MAX_ARGS		48

struct outmsg {
	struct outmsg	*next;
	uint32_t	 type, id;
	int		 fd;
	size_t		 len;
	uint8_t		 data[];
};
#define OUTQ_MAX_BYTES	(1024 * 1024)

struct daemon {
	enum proc_id	 id;
	const char	*name;
	pid_t		 pid;		/* 0 when not running */
	int		 chan;		/* our end of its control channel */
	int		 logfd;		/* read end of its log pipe */
	int		 ready;
	uint64_t	 started_ms;
	uint64_t	 restart_at_ms;	/* 0: no restart scheduled */
	uint64_t	 backoff_ms;
	uint32_t	 restarts;
	uint32_t	 ring_breaks;	/* times a peer found a ring it shares with us broken */
	char		 last_death[96];	/* "killed by signal 9", "exited with status 1" */
	char		*argv[MAX_ARGS];	/* extra arguments, NULL-terminated */
	struct logring	 log;
	/* Messages for it that did not fit in its socket: sent, in order,
	 * when it reads again. Bounded: past OUTQ_MAX_BYTES they are dropped
	 * and counted, and the receiver is never punished for a sender's
	 * flood. */
	struct outmsg	*outq_head, *outq_tail;
	size_t		 outq_bytes;
	uint64_t	 outq_dropped;
};

struct cached_qrules {
	struct msg_qrules_begin	 begin;
	struct msg_qrule	*rules;	/* begin.count of them */
	uint32_t		 have;
	int			 complete;
};

struct moat {
	enum backend	 backend;
	const char	*uplink;
	struct {
		char	 ifname[IFNAME_MAX];
		uint32_t ip;
		uint8_t	 ip6[16];	/* all zero: the client has no IPv6 */
	}		 client[MAX_CLIENT_LINKS];
	int		 nclients;
	const char	*qubesdb;
	const char	*vchan;		/* NULL, "socket" or "xen" */
	const char	*vchan_dir;
	const char	*domid;
	const char	*control_path;
	const char	*log_dir;
	int		 debug;
	int		 tx_thread;	/* --tx-thread: netbackd (devnet) transmits on a thread */

	/* shared memory */
	int		 qfd[QREGION_END];	/* the memfd of each queue region */
	struct msg_queues q[QREGION_END];	/* its layout */
	int		 efd[RING_COUNT];	/* the consumer's eventfd of each ring */
	int		 flowtab_fd;
	uint64_t	 flowtab_size;
	uint32_t	 nflows;

	struct daemon	 d[PROC_COUNT];
	struct evloop	 loop;
	int		 sigfd;
	int		 ctl_fd;
	uint64_t	 start_ms;
	volatile int	 quit;
	unsigned	 rings_reset;	/* QR_BIT()s of regions whose rings start empty once both ends are gone */
	int		 poweroff;	/* set by agentd: 1 poweroff, 2 reboot */

	/* configuration replayed to restarted daemons */
	struct msg_netconf netconf;
	int		 have_netconf;
	struct msg_clients clients;	/* agentd's last snapshot of connected clients */
	size_t		 clients_len;
	int		 have_clients;
	struct msg_clients6 clients6;	/* and of connected IPv6 clients */
	size_t		 clients6_len;
	int		 have_clients6;
	struct msg_link	 links[MAX_CLIENT_LINKS + 1];
	int		 nlinks;
	struct cached_qrules qr[MAX_CLIENT_LINKS * 2];
	int		 nqr;
	struct cached_qrules *qr_open;	/* being received from agentd */
	int		 setrules_fd;	/* the last accepted moat.SetRules input */

	/* the JSON rules stored in dom0 (moat.StoredRules), fetched at start */
	int		 stored;	/* STORED_* */
	uint64_t	 stored_deadline;
	int		 stored_fd;	/* answer waiting for policyd to be ready */
	int		 user_rules;	/* a SetRules call came since the start */
	struct msg_forwards forwards;	/* policyd's last forward table, for natd */
	int		 have_forwards;
	struct msg_limits limits;	/* policyd's last rate limits, for natd */
	int		 have_limits;
};
enum { STORED_NONE = 0, STORED_PENDING, STORED_DONE };
/* How long new flows wait for the stored rules at start (docs/rules.md). */
#define STORED_WAIT_MS	10000
#define STORED_SERVICE	"moat.StoredRules"

extern struct moat M;

/* daemons.c */
void	daemons_init(void);
void	daemon_start(struct daemon *d, int restart);
void	daemon_died(pid_t pid, int status);
void	daemons_tick(uint64_t now);
void	daemon_log_readable(struct daemon *d);
void	daemons_stop(void);
int	daemon_send(enum proc_id id, uint32_t type, uint32_t msgid,
	    const void *p, size_t len, int fd);
struct daemon *daemon_by_name(const char *name);

/* daemons.c: the connection table's memfd, kept across natd restarts */
void	flowtab_create(void);
void	queues_create(uint32_t nbufs, uint32_t bufsz);

/* services.c */
void	services_check_config(void);
void	services_init(void);
void	services_tick(uint64_t now);
void	service_call_done(struct daemon *d, const struct msg *m);
void	service_agent_request(const struct msg *m);
void	services_daemon_died(enum proc_id id);
void	services_stop(void);
/* The stored rules: MSG_DOM0_RESULT from agentd, and a daemon's READY. */
void	stored_init(void);
void	stored_result(const struct msg *m);
void	stored_ready(enum proc_id id);


#endif
