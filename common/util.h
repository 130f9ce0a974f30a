/*
 * util.h: small helpers shared by every program.
 */
#ifndef MOAT_UTIL_H
#define MOAT_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define nitems(a)	(sizeof(a) / sizeof((a)[0]))

/* Bounded string copy that always terminates; returns strlen(src). */
size_t	strlcpy_(char *dst, const char *src, size_t size);
/* Strict unsigned parse of a whole string in [min, max]; 0 on success. */
int	parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);
/* A sealed, read-only-after-write memfd holding len bytes of data. */
int	memfd_from(const char *name, const void *data, size_t len);
/* Read up to max bytes of a memfd from offset 0 into a malloc'd buffer
 * (NUL-terminated for convenience); *len gets the size. NULL on error. */
char	*memfd_read(int fd, size_t max, size_t *len);
/* write(2)/read(2) until done or error. */
ssize_t	write_all(int fd, const void *buf, size_t len);
ssize_t	read_all(int fd, void *buf, size_t len);
/* Parse a client's IPv6 address (inet_pton text): 0 when it is one a qube
 * can be given, -1 for ::, loopback, multicast, link-local (fe80::/10:
 * every link has its own, so it names no client) and IPv4-mapped. */
int	ip6_client_parse(const char *s, uint8_t out[16]);
int	set_nonblock(int fd);
int	set_cloexec(int fd, int on);

#endif
