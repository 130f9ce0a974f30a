/* policyd: the daemon's event loop lands in the next commit. */
#include <stdio.h>

int
main(void)
{
	fprintf(stderr, "policyd: not yet implemented\n");
	return 1;
}
