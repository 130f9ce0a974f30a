/*
 * proc.h: starting the daemons. fork() and exec*() appear only in proc.c.
 *
 * The supervisor starts each daemon by fork + exec of its role binary (a
 * fresh address space, nothing inherited from the supervisor's memory),
 * with its control channel on MSG_PARENT_FD (3) and its stdout/stderr on
 * the log pipe. Every other descriptor is closed in the child.
 */
#ifndef MOAT_PROC_H
#define MOAT_PROC_H

#include <sys/types.h>
#include "msg.h"

struct proc_spec {
	enum proc_id	 id;
	const char	*name;		/* "natd": the log tag and binary name */
};
extern const struct proc_spec proc_table[PROC_COUNT];

/* Where role binaries live: $MOAT_LIBEXEC, else next to the running
 * supervisor in a build tree (<top>/natd/natd), else MOAT_LIBEXECDIR. */
int	proc_binary_path(const char *name, char *out, size_t outlen);
/* fork + exec path; chan becomes fd 3, logfd fds 1 and 2. Returns the pid or -1. */
pid_t	proc_spawn(const char *path, const char *name, int chan, int logfd,
	    char *const extra_argv[]);
/* Role side: check fd 3 is a SOCK_SEQPACKET socket, else fatalx. */
int	proc_parent_channel(void);

#endif
