/*
 * vchan_socket.c: vchans as UNIX stream sockets, the transport of Qubes'
 * own test builds (qubes-core-vchan-socket), so that moat-dom0 or Qubes'
 * real dom0 daemons built with BACKEND_VMM=socket can drive agentd.
 *
 * The socket for (server, client, port) is <dir>/vchan.<server>.<client>.
 * <port>.sock and carries exactly the application's bytes. Socket files
 * outlive their server; a client that finds a stale one gets ECONNREFUSED
 * and retries, as Qubes' library does. A server keeps its listening
 * socket for its lifetime and accepts one client at a time, so a peer
 * that restarts just connects again (and agentd never has to bind after
 * it is sandboxed).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "vchan.h"

int
vchan_socket_path(const char *dir, int server, int client, int port,
    char *out, size_t outlen)
{
	struct sockaddr_un sun;
	int n;

	n = snprintf(out, outlen, "%s/vchan.%d.%d.%d.sock",
	    strcmp(dir, "/") == 0 ? "" : dir, server, client, port);
	if (n < 0 || (size_t)n >= outlen || (size_t)n >= sizeof(sun.sun_path))
		return -1;
	return 0;
}

static int
sock_addr(struct vchan *v, struct sockaddr_un *sun)
{
	int server = v->server ? v->env->domid : v->peer;
	int client = v->server ? v->peer : v->env->domid;

	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	return vchan_socket_path(v->env->dir, server, client, v->port,
	    sun->sun_path, sizeof(sun->sun_path));
}

static int
sock_pollfd(struct vchan *v, int want_write, short *events)
{
	switch (v->state) {
	case VCHAN_CONNECTED:
		*events = POLLIN | (want_write ? POLLOUT : 0);
		return v->fd;
	case VCHAN_WAITING:
		if (v->server) {
			*events = POLLIN;
			return v->lfd;
		}
		return -1;	/* client: retried on a timer */
	default:
		return -1;
	}
}

static int
sock_progress(struct vchan *v, short revents)
{
	struct sockaddr_un sun;
	int fd;

	if (v->state == VCHAN_CONNECTED) {
		if (revents & (POLLERR | POLLNVAL))
			v->state = VCHAN_DISCONNECTED;
		/* POLLHUP with data still queued: reads drain it first. */
		return v->state;
	}
	if (v->server) {
		fd = accept4(v->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1)
			return v->state;
		v->fd = fd;
		v->state = VCHAN_CONNECTED;
		return v->state;
	}
	if (sock_addr(v, &sun) == -1) {
		v->state = VCHAN_DISCONNECTED;
		return v->state;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return v->state;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		/* ENOENT, ECONNREFUSED (stale file), EAGAIN (backlog
		 * full): the server is not listening yet; try later. */
		close(fd);
		return v->state;
	}
	v->fd = fd;
	v->state = VCHAN_CONNECTED;
	return v->state;
}

static ssize_t
sock_read(struct vchan *v, void *buf, size_t len)
{
	ssize_t n;

	do {
		n = recv(v->fd, buf, len, MSG_DONTWAIT);
	} while (n == -1 && errno == EINTR);
	if (n > 0)
		return n;
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	v->state = VCHAN_DISCONNECTED;
	return -1;
}

static ssize_t
sock_write(struct vchan *v, const void *buf, size_t len)
{
	ssize_t n;

	if (len == 0)
		return 0;
	do {
		n = send(v->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	} while (n == -1 && errno == EINTR);
	if (n >= 0)
		return n;
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return 0;
	v->state = VCHAN_DISCONNECTED;
	return -1;
}

static int
sock_rearm(struct vchan *v)
{
	if (v->fd != -1)
		close(v->fd);
	v->fd = -1;
	v->state = VCHAN_WAITING;
	return 0;
}

static void
sock_close(struct vchan *v)
{
	if (v->fd != -1)
		close(v->fd);
	if (v->lfd != -1)
		close(v->lfd);
	v->fd = v->lfd = -1;
}

static const struct vchan_ops sock_ops = {
	sock_pollfd, sock_progress, sock_read, sock_write, sock_rearm,
	sock_close,
};

int
vchan_socket_server(struct vchan *v)
{
	struct sockaddr_un sun;
	int fd;

	v->ops = &sock_ops;
	if (sock_addr(v, &sun) == -1) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	(void)unlink(sun.sun_path);	/* a stale socket from an earlier run */
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    listen(fd, 1) == -1) {
		close(fd);
		return -1;
	}
	/* Peers may be sandboxed under their own uid; connecting needs
	 * write permission on the socket file. */
	(void)chmod(sun.sun_path, 0666);
	v->lfd = fd;
	v->state = VCHAN_WAITING;
	return 0;
}

int
vchan_socket_client(struct vchan *v)
{
	v->ops = &sock_ops;
	v->state = VCHAN_WAITING;
	return 0;
}
