/*
 * vchan.h: one interface over the two vchan transports agentd speaks.
 *
 *   xen     Xen's libxenvchan with Qubes' libvchan conventions: the server
 *           publishes ring-ref/event-channel under
 *           /local/domain/<server>/data/vchan/<client>/<port>/ and removes
 *           them once the client is connected; peer death is a zeroed
 *           live byte (the peer process closed or died) or, where the
 *           environment may make hypercalls (peer_alive, dom0 only), an
 *           event channel that is no longer interdomain (the peer domain
 *           was destroyed, which clears no live byte).
 *   socket  Qubes' test transport: a UNIX stream socket
 *           <dir>/vchan.<server>.<client>.<port>.sock carrying the raw
 *           byte stream, no framing, no handshake.
 *
 * Everything is non-blocking and driven by one poll loop: a vchan gives
 * the fd and events to wait for, vchan_progress() is called when they
 * fire (or when a waiting client's retry time comes), and read/write move
 * what they can without blocking.
 */
#ifndef MOAT_VCHAN_H
#define MOAT_VCHAN_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

enum vchan_state {
	VCHAN_DISCONNECTED = 0,	/* the peer went away: close (or rearm) it */
	VCHAN_CONNECTED = 1,
	VCHAN_WAITING = 2,	/* server: no client yet; client: no server yet */
};

enum vchan_kind { VCHAN_SOCKET = 1, VCHAN_XEN = 2 };

struct vchan_env {
	enum vchan_kind	 kind;
	int		 domid;		/* our own domain id */
	char		 dir[PATH_MAX];	/* socket: the directory ("/" after chroot) */
	void		*xs;		/* xen: struct xs_handle, for key clean-up and probes */
	void		*xc;		/* xen, dom0 tools only: xc_interface */
	/*
	 * xen: is our end of this event channel still bound to a live peer
	 * domain? 1 yes (or cannot tell), 0 no. Asking takes a hypercall
	 * (privcmd), so only dom0 tools set it; agentd leaves it NULL, holds
	 * no privcmd fd and forbids the ioctl: a call whose peer domain is
	 * destroyed ends by the call's own timeouts instead.
	 */
	int		(*peer_alive)(const struct vchan_env *env, unsigned int port);
};

struct vchan;

/* vchan.c */
/* A server for peer on port; rmin/wmin are ring sizes (xen). NULL on error. */
struct vchan	*vchan_server(const struct vchan_env *env, int peer, int port,
		    size_t rmin, size_t wmin);
/* A client of server's port. Starts WAITING until the server is there. */
struct vchan	*vchan_client(const struct vchan_env *env, int server, int port);
int		 vchan_state(const struct vchan *v);
/* The fd to poll and its events, or -1 when there is none (a client
 * waiting for its server: call vchan_progress(v, 0) on a timer). */
int		 vchan_pollfd(struct vchan *v, int want_write, short *events);
/* Make progress after poll (or on the retry timer); returns the state. */
int		 vchan_progress(struct vchan *v, short revents);
/* Bytes read (> 0), 0 when nothing is there now, -1 when the peer is gone. */
ssize_t		 vchan_read(struct vchan *v, void *buf, size_t len);
/* Bytes written (>= 0), -1 when the peer is gone. */
ssize_t		 vchan_write(struct vchan *v, const void *buf, size_t len);
/* Server: forget the client that left and wait for a new one. 0 or -1. */
int		 vchan_rearm(struct vchan *v);
void		 vchan_close(struct vchan *v);
/* For logs: "socket 0->5:512" */
const char	*vchan_name(const struct vchan *v);

/* The transports behind vchan.c. */
struct vchan_ops {
	int	(*pollfd)(struct vchan *, int, short *);
	int	(*progress)(struct vchan *, short);
	ssize_t	(*read)(struct vchan *, void *, size_t);
	ssize_t	(*write)(struct vchan *, const void *, size_t);
	int	(*rearm)(struct vchan *);
	void	(*close)(struct vchan *);
};
struct vchan {
	const struct vchan_ops	*ops;
	const struct vchan_env	*env;
	int			 server;	/* 1 server, 0 client */
	int			 peer;
	int			 port;
	int			 state;
	size_t			 rmin, wmin;
	char			 name[48];
	/* socket */
	int			 lfd;		/* listening socket (server) */
	int			 fd;		/* the connection */
	/* xen */
	void			*xv;		/* struct libxenvchan */
	int			 xs_cleaned;
};

/* vchan_socket.c */
int	vchan_socket_server(struct vchan *v);
int	vchan_socket_client(struct vchan *v);
/* The socket path for (server, client, port) under dir. -1 if too long. */
int	vchan_socket_path(const char *dir, int server, int client, int port,
	    char *out, size_t outlen);

/* vchan_xen.c */
int	vchan_xen_server(struct vchan *v);
int	vchan_xen_client(struct vchan *v);

#endif
