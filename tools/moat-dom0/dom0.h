/*
 * dom0.h: moat-dom0's parts (moat-dom0.c: main, buffers, the VM's domain;
 * dom0_qdb.c, dom0_qrexec.c: the two daemons it plays; dom0_serve.c: the
 * control socket and loop of "serve"; dom0_client.c: the other
 * subcommands) and the state of "serve" they share.
 */
#ifndef MOAT_DOM0_H
#define MOAT_DOM0_H

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <xenctrl.h>
#include <xenstore.h>

#include "agentd/agentd.h"
#include "log.h"
#include "util.h"
#include "agentd/vchan.h"

#define QDB_PORT	111
#define QX_PORT		512
#define NPORTS		256
#define MAX_CALLS	64
#define MAX_CONNS	32
#define CALL_TIMEOUT_MS	5000	/* qrexec-client: the VM must connect in 5 s */
#define DOM0_MAX_INPUT	(8 * 1024 * 1024)
#define XEN_CTL_DIR	"/run/moat-dom0"
#define MAX_RPC		8
#define MAX_VCALLS	4
#define RPC_MAX_OUT	(2 * 1024 * 1024)

/* A growable byte buffer: moat-dom0 is a test tool, not a daemon. */
struct buf {
	uint8_t	*p;
	size_t	 len, cap;
};

struct conn {
	int		 fd;
	struct buf	 in, out;
	int		 closing;	/* close once out is flushed */
	int		 eof;
	int		 call;		/* index of its call, or -1 */
};

struct dcall {
	int			 used;
	int			 slot;		/* port = 513 + slot */
	struct vchan_env	 env;		/* the caller's domain serves the data vchan */
	struct vchan		*v;
	int			 hello;
	int			 done;
	struct buf		 in, out;
	uint8_t			*input;
	size_t			 input_len, input_off;
	int			 input_eof_sent;
	uint64_t		 deadline;
	int			 conn;		/* control connection, or -1 if it left */
};

/* A call from the VM to a dom0 service (--rpc): the VM serves the data
 * vchan, we connect, wait for its HELLO, then answer. */
struct vcall {
	int			 used;
	int			 slot;
	pid_t			 pid;		/* the program, while it runs */
	int			 pipe;		/* its stdout, while it runs */
	uint8_t			 ident[32];
	char			 svc[256];
	struct vchan		*v;
	int			 hello;		/* the VM's HELLO is in */
	struct buf		 in, out;	/* out: the whole answer */
	uint64_t		 deadline;
};

/* serve's whole state */
struct dom0 {
	struct vchan_env env;
	struct {
		char		*service;
		const char	*program;
	}		 rpc[MAX_RPC];
	int		 nrpc;
	struct vcall	 vcalls[MAX_VCALLS];
	const char	*ctldir;
	int		 vm;
	const char	*name;
	struct qdb	 db;
	/* qubesdb-daemon */
	struct vchan	*qv;
	int		 qsynced;
	struct buf	 qin, qout;
	uint64_t	 qsyncs;
	/* qrexec-daemon */
	struct vchan	*xv;
	int		 xstate;	/* 0 waiting, 1 sent nothing yet: reading HELLO, 2 running */
	struct buf	 xin, xout;
	int		 port_used[NPORTS];
	uint64_t	 ncalls, nterminated;
	struct dcall	 calls[MAX_CALLS];
	/* control */
	int		 lfd;
	struct conn	 conns[MAX_CONNS];
	/* xen: an XenStore watch on @releaseDomain, fd to poll or -1 */
	int		 xsfd;
};
extern struct dom0 d;
extern volatile sig_atomic_t quit;

/* moat-dom0.c: usage, buffers, the VM's domain */
__attribute__((noreturn)) void	usage(int rc);
void	buf_add(struct buf *b, const void *data, size_t len);
void	buf_drop(struct buf *b, size_t n);
void	buf_free(struct buf *b);
void	flush_vchan(struct vchan *v, struct buf *b);
int	read_vchan(struct vchan *v, struct buf *b);
__attribute__((noreturn)) void	dom0_fatal(const char *who, const char *fmt, ...);
int	vm_gone(void);
void	vm_gone_exit(void);
void	ctl_path(char *out, size_t len, const char *dir, int vm);

/* dom0_qdb.c */
void	qdb_service(void);
int	dom0_write(const char *path, const char *val, size_t len);
int	dom0_rm(const char *path);

/* dom0_qrexec.c */
void	conn_frame(int ci, char kind, const void *data, size_t len);
void	call_finish(struct dcall *c, int status);
void	call_service(struct dcall *c);
void	call_start(int ci, const char *svc, const char *source, int srcdom, uint8_t *input, size_t inlen);
void	vcall_service(struct vcall *c);
void	qx_service(void);

/* dom0_serve.c */
int	serve(void);

/* dom0_client.c */
int	cmd_write(const char *dir, int vm, int argc, char **argv, int commit);
int	cmd_rm(const char *dir, int vm, int argc, char **argv);
int	cmd_rules(const char *dir, int vm, int argc, char **argv);
int	cmd_status(const char *dir, int vm);
int	cmd_call(const char *dir, int vm, const char *svc, const char *source, int srcdom);

#endif
