/*
 * replay.c: runs a libFuzzer target's entry point over its committed seed
 * corpus as an ordinary unit test, so every build (gcc, sanitizers) checks
 * that the parsers survive the seeds without needing clang. Link it with a
 * fuzz_<name>.c and name the program replay_<name>; the corpus is
 * $MOAT_SRCDIR/tests/fuzz/corpus/<name>/.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
main(int argc, char **argv)
{
	const char *src = getenv("MOAT_SRCDIR");
	const char *base = strrchr(argv[0], '/');
	char dir[4096], path[8192];
	struct dirent *de;
	DIR *d;
	int n = 0;

	(void)argc;
	base = base ? base + 1 : argv[0];
	if (strncmp(base, "replay_", 7) == 0)
		base += 7;
	snprintf(dir, sizeof dir, "%s/tests/fuzz/corpus/%s", src ? src : ".", base);
	if ((d = opendir(dir)) == NULL) {
		printf("not ok 1 - replay %s: no corpus at %s\n1..1\n", base, dir);
		return 1;
	}
	while ((de = readdir(d)) != NULL) {
		FILE *f;
		uint8_t *buf;
		long sz;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		if ((f = fopen(path, "rb")) == NULL)
			continue;
		fseek(f, 0, SEEK_END);
		sz = ftell(f);
		rewind(f);
		buf = malloc(sz > 0 ? (size_t)sz : 1);
		if (buf && fread(buf, 1, (size_t)sz, f) == (size_t)sz) {
			LLVMFuzzerTestOneInput(buf, (size_t)sz);
			n++;
		}
		free(buf);
		fclose(f);
	}
	closedir(d);
	/* A corpus with no seeds tests nothing: that is a failure. */
	printf("%s 1 - replay %s: %d seed inputs\n1..1\n", n ? "ok" : "not ok", base, n);
	return n ? 0 : 1;
}
