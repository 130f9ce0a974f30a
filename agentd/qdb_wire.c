/*
 * qdb_wire.c: QubesDB's vchan framing (port 111), shared by agentd's
 * client (agentd_qdb.c) and moat-dom0's stand-in daemon
 * (tools/moat-dom0/), through agentd/libqubeswire.a.
 *
 * Every message is a 72-byte header, type u8 @0, path[64] @1 (a C
 * string), 3 bytes of padding @65, data_len u32 @68, then data_len bytes
 * of value. dom0 does not clean the padding or the bytes after the path's
 * NUL (it echoes ours, or leaves stack garbage), so we never look at them.
 * A header we cannot trust (length out of range, path without NUL) is
 * refused: the stream is out of step.
 */
#include <string.h>

#include "agentd.h"

void
qdb_wire_hdr(uint8_t out[QDB_HDR_LEN], uint8_t type, const char *path,
    uint32_t len)
{
	size_t n = strnlen(path, QDB_PATH_MAX - 1);

	memset(out, 0, QDB_HDR_LEN);
	out[0] = type;
	memcpy(out + 1, path, n);
	/* little-endian on the wire, as dom0's x86 struct */
	out[68] = (uint8_t)len;
	out[69] = (uint8_t)(len >> 8);
	out[70] = (uint8_t)(len >> 16);
	out[71] = (uint8_t)(len >> 24);
}

int
qdb_wire_parse(const uint8_t *buf, size_t len, struct qdb_msg *m,
    const char **why)
{
	const uint8_t *nul;
	uint32_t dlen;

	if (len < QDB_HDR_LEN)
		return 0;
	dlen = (uint32_t)buf[68] | (uint32_t)buf[69] << 8 |
	    (uint32_t)buf[70] << 16 | (uint32_t)buf[71] << 24;
	if (dlen > QDB_VALUE_MAX) {
		*why = "data_len over 3071";
		return -1;
	}
	if ((nul = memchr(buf + 1, '\0', QDB_PATH_MAX)) == NULL) {
		*why = "path without NUL";
		return -1;
	}
	if (len < QDB_HDR_LEN + (size_t)dlen)
		return 0;
	m->type = buf[0];
	memset(m->path, 0, sizeof(m->path));
	memcpy(m->path, buf + 1, (size_t)(nul - (buf + 1)));
	m->len = dlen;
	m->data = buf + QDB_HDR_LEN;
	return (int)(QDB_HDR_LEN + dlen);
}
