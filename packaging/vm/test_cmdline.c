/*
 * Unit tests for the VM init's kernel command line parser: what dom0's
 * kernelopts turn into on the supervisor's command line.
 */
#include <stdio.h>
#include <string.h>

#include "tests/unit/t.h"
#include "cmdline.h"

static char	buf[512];
static char	*av[CMDLINE_MAXARGS];

static int
parse(const char *line)
{
	snprintf(buf, sizeof buf, "%s", line);
	return cmdline_moat_args(buf, av, CMDLINE_MAXARGS);
}

static void
test_absent(void)
{
	T_EQ_INT(parse("console=hvc0 quiet\n"), 0);
	T_ASSERT(av[0] == NULL);
	T_EQ_INT(parse(""), 0);
}

static void
test_unquoted_rest_of_line(void)
{
	T_EQ_INT(parse("console=ttyS0 moat.args=--backend none\n"), 2);
	T_EQ_STR(av[0], "--backend");
	T_EQ_STR(av[1], "none");
	T_ASSERT(av[2] == NULL);
}

static void
test_quoted_anywhere(void)
{
	T_EQ_INT(parse("console=hvc0 moat.args=\"--backend none  --log-level debug\" quiet\n"), 4);
	T_EQ_STR(av[0], "--backend");
	T_EQ_STR(av[3], "debug");
	T_ASSERT(av[4] == NULL);
}

static void
test_empty_values(void)
{
	T_EQ_INT(parse("moat.args="), 0);
	T_EQ_INT(parse("moat.args=\"\" quiet"), 0);
	T_EQ_INT(parse("moat.args=   \n"), 0);
}

static void
test_key_only_at_word_start(void)
{
	T_EQ_INT(parse("xmoat.args=--evil quiet"), 0);
	T_EQ_INT(parse("a=moat.args=--evil"), 0);
	T_EQ_INT(parse("xmoat.args=--no moat.args=--yes"), 1);
	T_EQ_STR(av[0], "--yes");
}

static void
test_unclosed_quote(void)
{
	T_EQ_INT(parse("moat.args=\"--backend none"), -1);
}

static void
test_too_many_words(void)
{
	char	line[512];
	size_t	off;
	int	i;

	off = (size_t)snprintf(line, sizeof line, "moat.args=");
	for (i = 0; i < CMDLINE_MAXARGS - 1; i++)
		off += (size_t)snprintf(line + off, sizeof line - off, "a ");
	T_EQ_INT(parse(line), CMDLINE_MAXARGS - 1);
	T_ASSERT(av[CMDLINE_MAXARGS - 1] == NULL);
	snprintf(line + off, sizeof line - off, "b");
	T_EQ_INT(parse(line), -1);
}

static void
test_has_moat_args(void)
{
	T_EQ_INT(cmdline_has_moat_args("console=hvc0 quiet"), 0);
	T_EQ_INT(cmdline_has_moat_args("console=hvc0 moat.args="), 1);
	T_EQ_INT(cmdline_has_moat_args("moat.args=\"\""), 1);
	T_EQ_INT(cmdline_has_moat_args("xmoat.args=--a"), 0);
	/* Still true after the words were split out in place. */
	T_EQ_INT(parse("quiet moat.args=\"--a b\" x"), 2);
	T_EQ_INT(cmdline_has_moat_args(buf), 1);
}

int
main(void)
{
	T_RUN(test_absent);
	T_RUN(test_unquoted_rest_of_line);
	T_RUN(test_quoted_anywhere);
	T_RUN(test_empty_values);
	T_RUN(test_key_only_at_word_start);
	T_RUN(test_unclosed_quote);
	T_RUN(test_too_many_words);
	T_RUN(test_has_moat_args);
	return t_done();
}
