/*
 * agentd_qdb.c: the VM side of QubesDB's vchan protocol (port 111), over
 * the framing of qdb_wire.c.
 *
 * What dom0's qubesdb-daemon needs from us, and what kills it:
 *   - exactly one MULTIREAD with an empty path, right after connecting
 *     (a second one, or leaving before it is answered, ends the daemon);
 *   - pushed WRITEs and RMs are acknowledged with RESP_OK on the same
 *     path (dom0 ignores the ack, but the stock VM sends it);
 *   - never RESP_ERROR_NOENT, never an RM of a key dom0 lacks, never a
 *     path with a character it refuses, never data_len >= 3072.
 * So agentd only ever sends the MULTIREAD and RESP_OKs for paths that
 * passed our own path check; a message it refuses gets no answer.
 *
 * dom0 is trusted to configure us but its bytes are parsed as hostile:
 * a header we cannot trust (length out of range, path without NUL)
 * means the stream is out of step and the connection is dropped (a new
 * one re-reads everything); a well-framed message we do not expect is
 * logged and skipped.
 */
#include <string.h>

#include "agentd.h"
#include "log.h"

void
qdbc_init(struct qdbc *q, struct conf *conf)
{
	memset(q, 0, sizeof(*q));
	q->conf = conf;
}

static void
qdbc_queue(struct qdbc *q, uint8_t type, const char *path)
{
	if (q->outlen + QDB_HDR_LEN > sizeof(q->out)) {
		/* dom0 is not reading; it ignores acks anyway. */
		log_rl(LOG_LVL_WARN, "qubesdb: dom0 is not reading, "
		    "dropping an ack");
		return;
	}
	qdb_wire_hdr(q->out + q->outlen, type, path, 0);
	q->outlen += QDB_HDR_LEN;
}

void
qdbc_connected(struct qdbc *q)
{
	q->inlen = 0;
	q->outlen = 0;
	/* The one and only MULTIREAD of this connection: the whole DB. */
	qdbc_queue(q, QDB_CMD_MULTIREAD, "");
	q->state = QDBC_DUMP;
	conf_sync_begin(q->conf);
}

void
qdbc_sent(struct qdbc *q, size_t n)
{
	if (n >= q->outlen) {
		q->outlen = 0;
		return;
	}
	memmove(q->out, q->out + n, q->outlen - n);
	q->outlen -= n;
}

/* One complete message from dom0. */
static void
qdbc_handle(struct qdbc *q, const struct qdb_msg *m)
{
	switch (m->type) {
	case QDB_RESP_MULTIREAD:
		if (q->state != QDBC_DUMP) {
			log_rl(LOG_LVL_WARN, "qubesdb: dump entry %.63s after "
			    "the dump: ignored", m->path);
			q->nrefused++;
			return;
		}
		if (m->path[0] == '\0') {
			q->state = QDBC_SYNCED;
			conf_sync_end(q->conf);
			return;
		}
		if (!qdb_path_ok(m->path) || !qdb_value_ok(m->data, m->len)) {
			log_rl(LOG_LVL_WARN, "qubesdb: refusing dump entry "
			    "%.63s", m->path);
			q->nrefused++;
			return;
		}
		conf_write(q->conf, m->path, m->data, m->len);
		return;
	case QDB_CMD_WRITE:
		if (!qdb_path_ok(m->path) || !qdb_value_ok(m->data, m->len)) {
			log_rl(LOG_LVL_WARN, "qubesdb: refusing write of "
			    "%.63s", m->path);
			q->nrefused++;
			return;
		}
		q->nwrites++;
		conf_write(q->conf, m->path, m->data, m->len);
		qdbc_queue(q, QDB_RESP_OK, m->path);
		return;
	case QDB_CMD_RM:
		if (!qdb_path_ok(m->path) || m->len != 0) {
			log_rl(LOG_LVL_WARN, "qubesdb: refusing rm of %.63s",
			    m->path);
			q->nrefused++;
			return;
		}
		q->nrms++;
		/* RESP_OK even when nothing was there: NOENT kills dom0. */
		conf_rm(q->conf, m->path);
		qdbc_queue(q, QDB_RESP_OK, m->path);
		return;
	case QDB_RESP_OK:
	case QDB_RESP_ERROR:
		/* We send no requests that expect them. */
		log_rl(LOG_LVL_INFO, "qubesdb: unexpected %s for %.63s",
		    m->type == QDB_RESP_OK ? "RESP_OK" : "RESP_ERROR", m->path);
		return;
	default:
		log_rl(LOG_LVL_WARN, "qubesdb: unexpected message type %u "
		    "(%u bytes): ignored", m->type, m->len);
		q->nrefused++;
		return;
	}
}

int
qdbc_input(struct qdbc *q, const uint8_t *buf, size_t len)
{
	struct qdb_msg m;
	const char *why = "";
	size_t take, off;
	int r;

	if (q->state == QDBC_IDLE)
		return -1;
	while (len > 0) {
		take = sizeof(q->in) - q->inlen;
		if (take > len)
			take = len;
		memcpy(q->in + q->inlen, buf, take);
		q->inlen += take;
		buf += take;
		len -= take;
		off = 0;
		while ((r = qdb_wire_parse(q->in + off, q->inlen - off, &m,
		    &why)) > 0) {
			qdbc_handle(q, &m);
			off += (size_t)r;
		}
		if (r < 0) {
			log_rl(LOG_LVL_WARN, "qubesdb: bad header from dom0 "
			    "(%s): reconnecting", why);
			q->state = QDBC_IDLE;
			return -1;
		}
		memmove(q->in, q->in + off, q->inlen - off);
		q->inlen -= off;
	}
	return 0;
}
