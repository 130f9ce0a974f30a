/*
 * dom0_client.c: the subcommands other than serve ("write", "rm",
 * "rules", "status", "call"): clients of serve's control socket.
 */
#include "dom0.h"

static int
ctl_connect(const char *dir, int vm)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	ctl_path(sun.sun_path, sizeof(sun.sun_path), dir, vm);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		fatal("socket");
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		fatal("%s (is \"moat-dom0 serve\" running?)", sun.sun_path);
	return fd;
}

static void
req_write(int fd, const char *path, const char *val)
{
	char h[256];
	int n;

	n = snprintf(h, sizeof(h), "write %s %zu\n", path, strlen(val));
	if (write_all(fd, h, (size_t)n) != n ||
	    write_all(fd, val, strlen(val)) != (ssize_t)strlen(val))
		fatal("control socket");
}

static void
req_rm(int fd, const char *path)
{
	char h[256];
	int n;

	n = snprintf(h, sizeof(h), "rm %s\n", path);
	if (write_all(fd, h, (size_t)n) != n)
		fatal("control socket");
}

/* Read "ok"/"error" lines for n requests; 0 if all ok. */
static int
read_acks(int fd, int n)
{
	char buf[4096];
	size_t len = 0;
	ssize_t r;
	int bad = 0, got = 0;
	char *nl;

	while (got < n) {
		r = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (r <= 0)
			break;
		len += (size_t)r;
		buf[len] = '\0';
		while ((nl = strchr(buf, '\n')) != NULL) {
			*nl = '\0';
			if (strncmp(buf, "ok", 2) != 0) {
				fprintf(stderr, "moat-dom0: %s\n", buf);
				bad = 1;
			}
			got++;
			len -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, len + 1);
		}
	}
	if (got < n) {
		fprintf(stderr, "moat-dom0: the server closed the connection\n");
		return 1;
	}
	return bad;
}

/* "/qubes-firewall/<ip>/..." -> its marker "/qubes-firewall/<ip>" */
static int
fw_marker(const char *path, char *out, size_t len)
{
	uint8_t addr[16];
	const char *rest;

	if (qdb_fw_key(path, addr, &rest) == 0 || rest[0] != '/')
		return 0;
	snprintf(out, len, "%.*s", (int)(rest - path), path);
	return 1;
}

int
cmd_write(const char *dir, int vm, int argc, char **argv, int commit)
{
	char markers[16][QDB_PATH_MAX], m[QDB_PATH_MAX];
	int fd, i, j, nm = 0, nreq = 0;

	if (argc == 0 || argc % 2 != 0)
		usage(2);
	fd = ctl_connect(dir, vm);
	for (i = 0; i < argc; i += 2) {
		req_write(fd, argv[i], argv[i + 1]);
		nreq++;
		if (commit && fw_marker(argv[i], m, sizeof(m))) {
			for (j = 0; j < nm && strcmp(markers[j], m) != 0; j++)
				;
			if (j == nm && nm < 16)
				snprintf(markers[nm++], sizeof(markers[0]), "%s", m);
		}
	}
	/* as dom0: the marker comes last, and the VM acts on it */
	for (j = 0; j < nm; j++, nreq++)
		req_write(fd, markers[j], "");
	return read_acks(fd, nreq);
}

int
cmd_rm(const char *dir, int vm, int argc, char **argv)
{
	int fd, i;

	if (argc == 0)
		usage(2);
	fd = ctl_connect(dir, vm);
	for (i = 0; i < argc; i++)
		req_rm(fd, argv[i]);
	return read_acks(fd, argc);
}

int
cmd_rules(const char *dir, int vm, int argc, char **argv)
{
	char base[QDB_PATH_MAX], path[QDB_PATH_MAX + 16];
	int fd, i, nreq = 0;

	if (argc < 1)
		usage(2);
	snprintf(base, sizeof(base), "/qubes-firewall/%s", argv[0]);
	fd = ctl_connect(dir, vm);
	snprintf(path, sizeof(path), "%s/", base);
	req_rm(fd, path);
	snprintf(path, sizeof(path), "%s/policy", base);
	req_write(fd, path, "drop");
	nreq = 2;
	for (i = 1; i < argc; i++, nreq++) {
		snprintf(path, sizeof(path), "%s/%04d", base, (i - 1) % 10000);
		req_write(fd, path, argv[i]);
	}
	req_write(fd, base, "");
	return read_acks(fd, nreq + 1);
}

int
cmd_status(const char *dir, int vm)
{
	char buf[4096];
	ssize_t n;
	int fd = ctl_connect(dir, vm);

	if (write_all(fd, "status\n", 7) != 7)
		fatal("control socket");
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		(void)write_all(STDOUT_FILENO, buf, (size_t)n);
	return 0;
}

int
cmd_call(const char *dir, int vm, const char *svc, const char *source,
    int srcdom)
{
	struct buf in = { 0 }, rx = { 0 };
	uint8_t tmp[65536];
	char h[512], *nl;
	unsigned long long len;
	ssize_t n;
	int fd, status = -1;
	char kind;

	while ((n = read(STDIN_FILENO, tmp, sizeof(tmp))) > 0) {
		buf_add(&in, tmp, (size_t)n);
		if (in.len > DOM0_MAX_INPUT)
			fatalx("input over %d bytes", DOM0_MAX_INPUT);
	}
	fd = ctl_connect(dir, vm);
	n = snprintf(h, sizeof(h), "call %s %s %d %zu\n", svc, source, srcdom,
	    in.len);
	if (write_all(fd, h, (size_t)n) != n ||
	    write_all(fd, in.p, in.len) != (ssize_t)in.len)
		fatal("control socket");
	while (status < 0) {
		n = read(fd, tmp, sizeof(tmp));
		if (n <= 0)
			break;
		buf_add(&rx, tmp, (size_t)n);
		for (;;) {
			if ((nl = memchr(rx.p, '\n', rx.len)) == NULL)
				break;
			*nl = '\0';
			if (sscanf((char *)rx.p, "%c %llu", &kind, &len) != 2)
				fatalx("bad frame from the server");
			if (kind == 'X') {
				status = (int)len;
				break;
			}
			if (rx.len < (size_t)(nl + 1 - (char *)rx.p) + len) {
				*nl = '\n';
				break;
			}
			(void)write_all(kind == 'O' ? STDOUT_FILENO :
			    STDERR_FILENO, nl + 1, len);
			buf_drop(&rx, (size_t)(nl + 1 - (char *)rx.p) + len);
		}
	}
	buf_free(&in);
	buf_free(&rx);
	close(fd);
	if (status < 0) {
		fprintf(stderr, "moat-dom0: no exit code from the VM\n");
		return 255;
	}
	return status;
}
