/*
 * sandbox.h: one privilege-drop function, the same order in every daemon.
 *
 * After a daemon has opened everything it needs (or received it as a
 * descriptor) and before it reads the first untrusted byte, it calls
 * sandbox_enter() once:
 *   1. a private mount namespace with an empty, read-only root (chroot),
 *   2. resource limits (no new files beyond its budget, no core dumps,
 *      no processes, no file writes),
 *   3. its own uid and gid, no supplementary groups, no capabilities,
 *   4. PR_SET_NO_NEW_PRIVS,
 *   5. a seccomp filter whose default action kills the process.
 * Any failure is fatal: a daemon never runs half-sandboxed. Built with
 * --with-sandbox=none, it logs loudly at every start and does nothing.
 */
#ifndef MOAT_SANDBOX_H
#define MOAT_SANDBOX_H

#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/syscall.h>

/*
 * One allow-list line: a system call, optionally restricted by one argument
 * (argidx >= 0): equal to one value (an ioctl request, a fcntl command), or
 * with no bit set outside a mask (mmap's prot without PROT_EXEC). One call
 * may have several lines only when each names another value of the same
 * argument; anything else is a duplicate, which sandbox_enter() refuses (it
 * would widen the other line: an unconditional mmap next to the masked one
 * allows PROT_EXEC again). A daemon that runs in several modes (agentd's
 * transports, netbackd's backends) has still one table: a line needed in
 * some modes only names them (modes), and is loaded only in those.
 */
struct sc_rule {
	int		 nr;		/* __NR_x, or -1 to skip (not on this arch) */
	int		 argidx;	/* -1: any arguments */
	uint64_t	 argval;	/* arg == argval (argmask 0) */
	uint64_t	 argmask;	/* else (arg & argmask) == argval */
	int		 errno_val;	/* 0: allow; else fail with this errno (libc probes) */
	const char	*why;		/* the code path that needs it */
	uint32_t	 modes;		/* 0: every mode; else the policy's mode bits it serves */
};
/* The _IN forms serve only the modes m (bits of the daemon's own). */
#define SC_ALLOW_IN(m, name, why)	{ __NR_##name, -1, 0, 0, 0, why, m }
#define SC_ALLOW_ARG_IN(m, name, i, v, why) \
	{ __NR_##name, i, (uint64_t)(v), 0, 0, why, m }
/* Argument i may carry only the bits in `bits` (e.g. PROT_READ|PROT_WRITE). */
#define SC_ALLOW_BITS_IN(m, name, i, bits, why) \
	{ __NR_##name, i, 0, ~(uint64_t)(bits), 0, why, m }
#define SC_DENY_IN(m, name, err, why)	{ __NR_##name, -1, 0, 0, err, why, m }
#define SC_ALLOW(name, why)		SC_ALLOW_IN(0, name, why)
#define SC_ALLOW_ARG(name, i, v, why)	SC_ALLOW_ARG_IN(0, name, i, v, why)
#define SC_ALLOW_BITS(name, i, bits, why) SC_ALLOW_BITS_IN(0, name, i, bits, why)
#define SC_DENY(name, err, why)		SC_DENY_IN(0, name, err, why)

struct sandbox_policy {
	const char		*name;		/* daemon */
	uid_t			 uid;		/* its own, not root */
	gid_t			 gid;
	uint64_t		 nofile;	/* RLIMIT_NOFILE */
	uint64_t		 as_bytes;	/* RLIMIT_AS, 0 = leave */
	const struct sc_rule	*rules;
	size_t			 nrules;
	/* Directory to chroot into instead of an empty read-only tmpfs (for a
	 * daemon that must reach one directory, e.g. agentd's socket vchans);
	 * NULL for the empty root. */
	const char		*root;
	/* Called once inside the sandbox's root and mount namespace, with
	 * the daemon's own ids and no capability left, before the filter
	 * (TSYNC: it covers every thread) and RLIMIT_NPROC: where a daemon
	 * starts its threads, so that they share every restriction. A thread
	 * must have run (libc's start of a thread makes calls no table has)
	 * before this returns. May be NULL. */
	void			(*threads)(void *arg);
	void			*threads_arg;
	/* The mode bit the daemon runs in (its transport, its backend): the
	 * lines of rules naming other modes are not loaded. 0: none of them. */
	uint32_t		 mode;
};

/* Base uid/gid: daemon N runs as MOAT_UID_BASE + N. */
#define MOAT_UID_BASE	64500

/* A daemon's policy (<d>_sandbox.c): its name, its own uid and gid (from
 * its proc id), its descriptor budget and its one table. */
#define SANDBOX_POLICY(nm, id, files, table) {				\
	.name = (nm), .uid = MOAT_UID_BASE + (id), .gid = MOAT_UID_BASE + (id), \
	.nofile = (files), .rules = (table),				\
	.nrules = sizeof(table) / sizeof((table)[0]),			\
}

/* Enter the sandbox or die. Returns 1 when seccomp is on, 0 when built without. */
int	sandbox_enter(const struct sandbox_policy *p);
/* What every daemon needs (logging, its control channel, malloc, time,
 * exit and abort); each daemon's own table adds the rest. */
extern const struct sc_rule sandbox_common_rules[];
extern const size_t sandbox_common_nrules;
/* The common table and the policy's tables, as sandbox_enter() loads them:
 * 0, or -1 with the first duplicate (see struct sc_rule) described in why. */
int	sandbox_check(const struct sandbox_policy *p, char *why, size_t whylen);
/* Is line r of p's table loaded in p's mode? */
int	sandbox_rule_loaded(const struct sandbox_policy *p, const struct sc_rule *r);
int	sandbox_mode(void);	/* 1 seccomp, 0 none */
/* Test builds (MSG_TEST_SYSCALL): attempt a call no daemon's table allows
 * (0: open a file with open(2), 1: an INET socket), so a test can watch the
 * sandbox kill the daemon. Returns only when the sandbox is off. */
void	sandbox_test_forbidden(uint32_t what);

#endif
