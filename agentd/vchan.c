/*
 * vchan.c: the transport-independent half of the vchan interface.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vchan.h"

static struct vchan *
vchan_new(const struct vchan_env *env, int server, int peer, int port,
    size_t rmin, size_t wmin)
{
	struct vchan *v;

	if ((v = calloc(1, sizeof(*v))) == NULL)
		return NULL;
	v->env = env;
	v->server = server;
	v->peer = peer;
	v->port = port;
	v->rmin = rmin;
	v->wmin = wmin;
	v->lfd = v->fd = -1;
	v->state = VCHAN_WAITING;
	snprintf(v->name, sizeof(v->name), "%s %d%s%d:%d",
	    env->kind == VCHAN_XEN ? "xen" : "socket",
	    server ? env->domid : peer, server ? "<-" : "->",
	    server ? peer : env->domid, port);
	return v;
}

struct vchan *
vchan_server(const struct vchan_env *env, int peer, int port, size_t rmin,
    size_t wmin)
{
	struct vchan *v;
	int r;

	if ((v = vchan_new(env, 1, peer, port, rmin, wmin)) == NULL)
		return NULL;
	r = env->kind == VCHAN_XEN ? vchan_xen_server(v) :
	    vchan_socket_server(v);
	if (r == -1) {
		free(v);
		return NULL;
	}
	return v;
}

struct vchan *
vchan_client(const struct vchan_env *env, int server, int port)
{
	struct vchan *v;
	int r;

	if ((v = vchan_new(env, 0, server, port, 0, 0)) == NULL)
		return NULL;
	r = env->kind == VCHAN_XEN ? vchan_xen_client(v) :
	    vchan_socket_client(v);
	if (r == -1) {
		free(v);
		return NULL;
	}
	/* The first attempt happens now: often the server is already there. */
	v->ops->progress(v, 0);
	return v;
}

int
vchan_state(const struct vchan *v)
{
	return v->state;
}

int
vchan_pollfd(struct vchan *v, int want_write, short *events)
{
	return v->ops->pollfd(v, want_write, events);
}

int
vchan_progress(struct vchan *v, short revents)
{
	if (v->state == VCHAN_DISCONNECTED)
		return v->state;
	return v->ops->progress(v, revents);
}

ssize_t
vchan_read(struct vchan *v, void *buf, size_t len)
{
	if (v->state != VCHAN_CONNECTED)
		return v->state == VCHAN_WAITING ? 0 : -1;
	return v->ops->read(v, buf, len);
}

ssize_t
vchan_write(struct vchan *v, const void *buf, size_t len)
{
	if (v->state != VCHAN_CONNECTED)
		return v->state == VCHAN_WAITING ? 0 : -1;
	return v->ops->write(v, buf, len);
}

int
vchan_rearm(struct vchan *v)
{
	if (!v->server)
		return -1;
	return v->ops->rearm(v);
}

void
vchan_close(struct vchan *v)
{
	if (v == NULL)
		return;
	v->ops->close(v);
	free(v);
}

const char *
vchan_name(const struct vchan *v)
{
	return v->name;
}
