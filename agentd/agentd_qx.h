/*
 * agentd_qx.h: the qrexec agent's state (agentd_qrexec.c), visible to the
 * unit tests.
 */
#ifndef MOAT_AGENTD_QX_H
#define MOAT_AGENTD_QX_H

#include "agentd.h"
#include "vchan.h"

#define QX_CTRL_PORT		512
#define QX_MAX_CALLS		64	/* calls in progress; dom0 has 256 ports */
#define QX_CONNECT_TIMEOUT_MS	10000	/* qrexec-client gives up after 5 s */
#define QX_IO_TIMEOUT_MS	60000	/* a caller that neither sends nor reads */
#define QX_REPLY_TIMEOUT_MS	120000	/* the supervisor's moat.* handler */
#define QX_RETRY_MS		20	/* a data vchan whose server is not there yet */
#define QX_OUT_CAP		(2 * (QX_HDR_LEN + QX_CHUNK))

enum qx_kind { K_WAIT = 1, K_REFUSE, K_MOAT };
enum qx_call_state { CS_CONNECTING = 1, CS_HELLO, CS_INPUT, CS_REPLY, CS_OUTPUT };
enum qx_phase { OP_STDOUT = 1, OP_STDOUT_EOF, OP_STDERR, OP_STDERR_EOF, OP_EXIT, OP_DONE };

struct qx;
struct qx_call {
	int			 used;
	/* Ended in this round of agentd's loop: not reused until qx_tick,
	 * as events polled for the old call may still be dispatched to it. */
	int			 ended;
	struct qx		*qx;
	uint32_t		 callid;	/* MSG_SVC_REQ/REPLY */
	uint32_t		 gen;		/* control connection it came on */
	uint32_t		 domain, port;	/* the data vchan */
	int			 just_exec;
	enum qx_kind		 kind;
	struct qx_cmd		 cmd;
	char			 refusal[192];	/* stderr for K_REFUSE */
	struct vchan		*v;
	enum qx_call_state	 state;
	uint64_t		 deadline;
	uint8_t			*in;		/* QX_DATA_MAX: one message at a time */
	size_t			 inlen;
	uint8_t			*input;		/* stdin so far, at most SVC_MAX_INPUT */
	size_t			 input_len, input_cap;
	uint8_t			*out;		/* QX_OUT_CAP of encoded messages */
	size_t			 outlen;
	char			*res;		/* stdout then stderr */
	size_t			 res_out, res_err, pos;
	int32_t			 status;
	enum qx_phase		 phase;
};

/*
 * Our one call to dom0 at a time (moat.StoredRules at start): sent once
 * dom0's daemon is connected, again if it reconnects before answering.
 */
#define QX_DOM0_TIMEOUT_MS	30000	/* from the supervisor's request */
enum qx_out_state { OUT_NONE = 0, OUT_WANT, OUT_SENT, OUT_DATA };
struct qx_out {
	enum qx_out_state	 state;
	char			 service[SVC_NAME_MAX];
	char			 ident[QX_IDENT_LEN];
	uint32_t		 seq;
	uint32_t		 gen;		/* control connection of the trigger */
	uint32_t		 domain, port;	/* the data vchan we serve */
	struct vchan		*v;
	uint8_t			*in;		/* QX_DATA_MAX */
	size_t			 inlen;
	uint8_t			 out[2 * QX_HDR_LEN + 4];	/* HELLO, stdin EOF */
	size_t			 outlen;
	int			 hello;
	uint8_t			*res;		/* stdout, at most DOM0_OUT_MAX */
	size_t			 reslen;
	uint64_t		 deadline;
};

enum qx_ctl_state { CTL_WAITING = 0, CTL_HELLO, CTL_RUN };
struct qx {
	const struct vchan_env	*env;
	agentd_send_fn		*send;
	void			*arg;
	struct vchan		*ctl;
	enum qx_ctl_state	 cstate;
	uint32_t		 gen;
	uint8_t			 cin[QX_CTRL_MAX];
	size_t			 cinlen;
	uint8_t			 cout[65536];
	size_t			 coutlen;
	struct qx_call		 calls[QX_MAX_CALLS];
	uint32_t		 next_callid;
	uint32_t		 nactive;
	uint64_t		 ncalls, nterminated;
	struct qx_out		 out;
};

/* agentd_qrexec.c */
struct qx	*qx_new(const struct vchan_env *env, agentd_send_fn *send, void *arg);
void		 qx_free(struct qx *qx);
void		 qx_poll(struct qx *qx, struct pollset *ps);
void		 qx_tick(struct qx *qx);
/* MSG_SVC_REPLY from the supervisor (takes m->fd). */
void		 qx_svc_done(struct qx *qx, const struct msg *m);
/* Bytes from dom0's control channel / a caller's data vchan, as if read
 * from the vchan (for tests and fuzzing). -1: the peer broke the protocol. */
int		 qx_ctl_feed(struct qx *qx, const uint8_t *buf, size_t len);
int		 qx_call_feed(struct qx *qx, struct qx_call *c, const uint8_t *buf,
		    size_t len);
/* MSG_DOM0_CALL: call a dom0 service; MSG_DOM0_RESULT goes back. */
void		 qx_dom0_call(struct qx *qx, const char *service);
/* Bytes from our call's data vchan (tests, fuzzing). -1: call ended. */
int		 qx_out_feed(struct qx *qx, const uint8_t *buf, size_t len);
/* One EXEC_CMDLINE / JUST_EXEC from dom0. */
void		 qx_exec(struct qx *qx, uint32_t domain, uint32_t port,
		    const char *cmdline, int just_exec);
/* A message to dom0 on the control channel (dropped if dom0 reads none). */
void		 qx_ctl_queue(struct qx *qx, uint32_t type, const void *body,
		    uint32_t len);

/* agentd_qrexec_out.c: our call to dom0, driven by agentd_qrexec.c's
 * control channel, poll set and tick. */
void		 qx_out_trigger(struct qx *qx);
void		 qx_out_answer(struct qx *qx, uint32_t status, int32_t code,
		    const char *how);
void		 qx_out_connect(struct qx *qx, const struct qx_hdr *h,
		    const uint8_t *body);
void		 qx_out_refused(struct qx *qx, const struct qx_hdr *h,
		    const uint8_t *body);
void		 qx_out_service(struct qx *qx);
void		 qx_out_event(void *arg, short revents);

#endif
