/*
 * cmdline.h: moat's arguments from the kernel command line.
 *
 * There is no shell in the VM, so dom0's "kernelopts" is the only way to
 * pass arguments to the supervisor.  Two forms:
 *
 *   moat.args="--backend none --log-level debug" quiet
 *	quoted: the words inside the quotes, anywhere on the line;
 *   quiet moat.args=--backend none
 *	unquoted: every word after "moat.args=" to the end of the line.
 *
 * The kernel ignores "moat.args" itself (a dotted, unknown parameter), but in
 * the unquoted form it also hands the following words to init as argv or
 * environment, which is harmless up to its limit of 32, so the quoted
 * form is the one to use.
 *
 * init adds two things (init.c): the word "@domid" is replaced by the
 * VM's Xen domain id, which changes at every start; and a Xen guest whose
 * command line has no moat.args= at all runs
 *   moat --backend xen --vchan xen --domid <its domain id>
 * which is what a Qubes firewall qube needs.
 */
#ifndef MOAT_INIT_CMDLINE_H
#define MOAT_INIT_CMDLINE_H

#define CMDLINE_KEY	"moat.args="
#define CMDLINE_MAXARGS	32

/*
 * Splits the moat.args words of the NUL-terminated command line in buf, in
 * place, into argv[0..n-1] and sets argv[n] = NULL; argv has room for max
 * pointers.  Returns n (0 when moat.args is absent or empty), or -1 when
 * there are more than max - 1 words or a quote is not closed.
 */
int	cmdline_moat_args(char *buf, char **argv, int max);
/* 1 if the line has a moat.args= word at all (even an empty one). */
int	cmdline_has_moat_args(const char *buf);

#endif
