/*
 * cmdline.c: split moat's arguments out of the kernel command line.
 */
#include <string.h>

#include "cmdline.h"

static int
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n';
}

/* The key counts only at the start of a word, not inside "xmoat.args=". */
static const char *
find_key(const char *buf)
{
	const char *p = buf;

	while ((p = strstr(p, CMDLINE_KEY)) != NULL) {
		if (p == buf || is_space(p[-1]))
			return p;
		p++;
	}
	return NULL;
}

int
cmdline_moat_args(char *buf, char **argv, int max)
{
	char	*p, *end;
	int	 n = 0;

	if (max < 1)
		return -1;
	argv[0] = NULL;
	if ((p = (char *)find_key(buf)) == NULL)
		return 0;
	p += strlen(CMDLINE_KEY);
	if (*p == '"') {
		p++;
		if ((end = strchr(p, '"')) == NULL)
			return -1;
	} else
		end = p + strlen(p);
	*end = '\0';

	for (;;) {
		while (is_space(*p))
			p++;
		if (*p == '\0')
			break;
		if (n == max - 1)
			return -1;
		argv[n++] = p;
		while (*p != '\0' && !is_space(*p))
			p++;
		if (*p == '\0')
			break;
		*p++ = '\0';
	}
	argv[n] = NULL;
	return n;
}

int
cmdline_has_moat_args(const char *buf)
{
	return find_key(buf) != NULL;
}
