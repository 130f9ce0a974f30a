/*
 * qrexec_wire.c: qrexec protocol 3 messages, as the agent sees them.
 *
 * Every message is {u32 type, u32 len} (little-endian) and len bytes.
 * The checks here run on the header before any body byte is read, so a
 * length is bounded by its type before we wait for (or buffer) that many
 * bytes; the body parsers then never trust a terminator they have not
 * found.
 */
#include <string.h>

#include "agentd.h"

void
qx_put_u32(uint8_t *out, uint32_t v)
{
	out[0] = (uint8_t)v;
	out[1] = (uint8_t)(v >> 8);
	out[2] = (uint8_t)(v >> 16);
	out[3] = (uint8_t)(v >> 24);
}

uint32_t
qx_get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

void
qx_put_hdr(uint8_t out[QX_HDR_LEN], uint32_t type, uint32_t len)
{
	qx_put_u32(out, type);
	qx_put_u32(out + 4, len);
}

int
qx_get_hdr(const uint8_t *buf, size_t len, struct qx_hdr *h)
{
	if (len < QX_HDR_LEN)
		return 0;
	h->type = qx_get_u32(buf);
	h->len = qx_get_u32(buf + 4);
	return 1;
}

int
qx_ctrl_check(const struct qx_hdr *h, const char **why)
{
	switch (h->type) {
	case QX_HELLO:
		if (h->len != 4) {
			*why = "HELLO of the wrong size";
			return QX_FATAL;
		}
		return QX_OK;
	case QX_EXEC_CMDLINE:
	case QX_JUST_EXEC:
		if (h->len < 8 + 1 || h->len > 8 + QX_MAX_CMD_LEN) {
			*why = "command line length out of range";
			return QX_FATAL;
		}
		return QX_OK;
	/* answers to our own calls (TRIGGER_SERVICE3): fixed sizes */
	case QX_SERVICE_CONNECT:
		if (h->len != 8 + QX_IDENT_LEN) {
			*why = "SERVICE_CONNECT of the wrong size";
			return QX_FATAL;
		}
		return QX_OK;
	case QX_SERVICE_REFUSED:
		if (h->len != QX_IDENT_LEN) {
			*why = "SERVICE_REFUSED of the wrong size";
			return QX_FATAL;
		}
		return QX_OK;
	default:
		/* Stock agents exit on an unknown type; dropping only the
		 * message keeps qrexec alive if dom0 grows a new one. */
		*why = "unknown message type";
		return h->len <= QX_CTRL_MAX - QX_HDR_LEN ? QX_SKIP : QX_FATAL;
	}
}

int
qx_data_check(const struct qx_hdr *h, const char **why)
{
	if (h->len > QX_MAX_CHUNK) {
		*why = "chunk over 65536 bytes";
		return QX_FATAL;
	}
	switch (h->type) {
	case QX_HELLO:
		if (h->len != 4) {
			*why = "HELLO of the wrong size";
			return QX_FATAL;
		}
		return QX_OK;
	case QX_DATA_STDIN:
		return QX_OK;
	default:
		*why = "not a message a caller sends";
		return QX_SKIP;
	}
}

int
qx_parse_hello(const struct qx_hdr *h, const uint8_t *body, uint32_t *version,
    const char **why)
{
	if (h->type != QX_HELLO || h->len != 4) {
		*why = "expected HELLO";
		return -1;
	}
	*version = qx_get_u32(body);
	if (*version < 2) {
		*why = "protocol version below 2";
		return -1;
	}
	return 0;
}

int
qx_parse_exec(const struct qx_hdr *h, const uint8_t *body, uint32_t *domain,
    uint32_t *port, const char **cmdline, const char **why)
{
	size_t clen;

	if ((h->type != QX_EXEC_CMDLINE && h->type != QX_JUST_EXEC) ||
	    h->len < 9 || h->len > 8 + QX_MAX_CMD_LEN) {
		*why = "bad exec message";
		return -1;
	}
	*domain = qx_get_u32(body);
	*port = qx_get_u32(body + 4);
	clen = h->len - 8;
	/* The command line is the rest of the message, NUL-terminated. */
	if (body[8 + clen - 1] != '\0') {
		*why = "command line without its NUL";
		return -1;
	}
	if (strlen((const char *)body + 8) != clen - 1) {
		*why = "NUL inside the command line";
		return -1;
	}
	/* Qubes domain ids are below 32752 (DOMID_FIRST_RESERVED); the data
	 * ports are 513 + slot, 256 slots. */
	if (*domain >= 32752 || *port < 513 || *port > 513 + 255) {
		*why = "data vchan out of range";
		return -1;
	}
	*cmdline = (const char *)body + 8;
	return 0;
}

static int
name_char(int c, const char *extra)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-' ||
	    (c != '\0' && strchr(extra, c) != NULL);
}

/* Copy a token of allowed characters into out; -1 if empty, too long or
 * containing anything else. */
static int
take(const char *s, size_t n, char *out, size_t outlen, const char *extra)
{
	size_t i;

	if (n >= outlen)
		return -1;
	for (i = 0; i < n; i++)
		if (!name_char((unsigned char)s[i], extra))
			return -1;
	memcpy(out, s, n);
	out[n] = '\0';
	return 0;
}

int
qx_parse_cmdline(const char *cmdline, struct qx_cmd *c, const char **why)
{
	const char *colon, *p, *sp, *plus, *end;

	memset(c, 0, sizeof(*c));
	if ((colon = strchr(cmdline, ':')) == NULL) {
		*why = "no user: prefix";
		return -1;
	}
	if (take(cmdline, (size_t)(colon - cmdline), c->user, sizeof(c->user),
	    "") == -1) {
		*why = "bad user name";
		return -1;
	}
	p = colon + 1;
	if (strncmp(p, "nogui:", 6) == 0)
		p += 6;
	if (strncmp(p, "QUBESRPC ", 9) != 0) {
		*why = "a plain command, not a service call";
		return 1;
	}
	p += 9;
	/* svc[+arg] */
	if ((sp = strchr(p, ' ')) == NULL) {
		*why = "no source domain";
		return -1;
	}
	plus = memchr(p, '+', (size_t)(sp - p));
	end = plus ? plus : sp;
	if (end == p ||
	    take(p, (size_t)(end - p), c->service, sizeof(c->service), "") == -1) {
		*why = "bad service name";
		return -1;
	}
	if (plus != NULL && plus + 1 < sp &&
	    take(plus + 1, (size_t)(sp - plus - 1), c->arg, sizeof(c->arg),
	    "+") == -1) {
		*why = "bad service argument";
		return -1;
	}
	/* source[ type target]: only the source matters to us. */
	p = sp + 1;
	end = strchr(p, ' ');
	if (end == NULL)
		end = p + strlen(p);
	if (end == p ||
	    take(p, (size_t)(end - p), c->source, sizeof(c->source), "@:") == -1) {
		*why = "bad source domain";
		return -1;
	}
	return 0;
}

/* A request id as dom0 accepts one: [0-9A-Za-z_.- ], NUL-terminated,
 * NUL-padded. */
static int
ident_ok(const uint8_t *p)
{
	size_t i, n = 0;

	while (n < QX_IDENT_LEN && p[n] != 0)
		n++;
	if (n == 0 || n == QX_IDENT_LEN)
		return 0;
	for (i = 0; i < n; i++)
		if (!((p[i] >= '0' && p[i] <= '9') ||
		    (p[i] >= 'A' && p[i] <= 'Z') ||
		    (p[i] >= 'a' && p[i] <= 'z') ||
		    p[i] == '_' || p[i] == '.' || p[i] == '-' || p[i] == ' '))
			return 0;
	for (; i < QX_IDENT_LEN; i++)
		if (p[i] != 0)
			return 0;
	return 1;
}

size_t
qx_put_trigger(uint8_t *out, size_t cap, const char *target,
    const char *ident, const char *service)
{
	size_t tl = strlen(target), il = strlen(ident), sl = strlen(service);
	size_t len = QX_TRIGGER_FIXED + sl + 1;

	if (tl >= 64 || il == 0 || il >= QX_IDENT_LEN || sl == 0 ||
	    sl > QX_MAX_SERVICE_LEN || QX_HDR_LEN + len > cap)
		return 0;
	qx_put_hdr(out, QX_TRIGGER_SERVICE3, (uint32_t)len);
	out += QX_HDR_LEN;
	memset(out, 0, QX_TRIGGER_FIXED);
	memcpy(out, target, tl);
	memcpy(out + 64, ident, il);
	if (!ident_ok(out + 64))
		return 0;
	memcpy(out + QX_TRIGGER_FIXED, service, sl + 1);
	return QX_HDR_LEN + len;
}

int
qx_parse_connect(const struct qx_hdr *h, const uint8_t *body,
    uint32_t *domain, uint32_t *port, char ident[QX_IDENT_LEN],
    const char **why)
{
	if (h->type != QX_SERVICE_CONNECT || h->len != 8 + QX_IDENT_LEN) {
		*why = "expected SERVICE_CONNECT";
		return -1;
	}
	if (!ident_ok(body + 8)) {
		*why = "SERVICE_CONNECT: malformed request id";
		return -1;
	}
	*domain = qx_get_u32(body);
	*port = qx_get_u32(body + 4);
	memcpy(ident, body + 8, QX_IDENT_LEN);
	return 0;
}

int
qx_parse_refused(const struct qx_hdr *h, const uint8_t *body,
    char ident[QX_IDENT_LEN], const char **why)
{
	if (h->type != QX_SERVICE_REFUSED || h->len != QX_IDENT_LEN) {
		*why = "expected SERVICE_REFUSED";
		return -1;
	}
	if (!ident_ok(body)) {
		*why = "SERVICE_REFUSED: malformed request id";
		return -1;
	}
	memcpy(ident, body, QX_IDENT_LEN);
	return 0;
}

int
qx_reply_check(const struct qx_hdr *h, const char **why)
{
	if (h->len > QX_MAX_CHUNK) {
		*why = "chunk over 65536 bytes";
		return QX_FATAL;
	}
	switch (h->type) {
	case QX_HELLO:
	case QX_DATA_EXIT_CODE:
		if (h->len != 4) {
			*why = "HELLO or EXIT_CODE of the wrong size";
			return QX_FATAL;
		}
		return QX_OK;
	case QX_DATA_STDOUT:
	case QX_DATA_STDERR:
		return QX_OK;
	default:
		*why = "not a message a service sends";
		return QX_SKIP;
	}
}
