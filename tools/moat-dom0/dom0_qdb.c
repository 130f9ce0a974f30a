/*
 * dom0_qdb.c: moat-dom0 as the VM's qubesdb-daemon: the QubesDB vchan
 * (dump, pushes, the VM's own writes) and dom0's changes to the database.
 */
#include "dom0.h"

/* QubesDB: one message to the VM. */
static void
qdb_send(uint8_t type, const char *path, const void *data, uint32_t len)
{
	uint8_t h[QDB_HDR_LEN];

	qdb_wire_hdr(h, type, path, len);
	buf_add(&d.qout, h, sizeof(h));
	buf_add(&d.qout, data, len);
}

static void
qdb_dump(void)
{
	size_t i;

	/* reverse byte order of path, then the empty-path terminator */
	for (i = d.db.n; i-- > 0; )
		qdb_send(QDB_RESP_MULTIREAD, d.db.e[i].path, d.db.e[i].value,
		    d.db.e[i].len);
	qdb_send(QDB_RESP_MULTIREAD, "", NULL, 0);
	d.qsynced = 1;
	d.qsyncs++;
	log_info("qubesdb: VM synced (%zu keys)", d.db.n);
}

static void
qdb_from_vm(void)
{
	struct qdb_msg m;
	const char *why = "";
	int r;

	while ((r = qdb_wire_parse(d.qin.p, d.qin.len, &m, &why)) > 0) {
		if (m.type != QDB_CMD_WRITE && m.type != QDB_CMD_MULTIREAD &&
		    m.type != QDB_CMD_RM && m.type != QDB_RESP_OK &&
		    m.type != QDB_RESP_ERROR)
			dom0_fatal("qubesdb", "invalid message type %u from the VM",
			    m.type);
		if (m.type != QDB_CMD_MULTIREAD && !(m.type == QDB_RESP_OK &&
		    m.path[0] == '\0') && !qdb_path_ok(m.path))
			dom0_fatal("qubesdb", "invalid path from the VM");
		switch (m.type) {
		case QDB_CMD_MULTIREAD:
			if (d.qsynced) {
				qdb_send(QDB_RESP_ERROR, m.path, NULL, 0);
				flush_vchan(d.qv, &d.qout);
				dom0_fatal("qubesdb", "second MULTIREAD");
			}
			if (m.path[0] != '\0')
				dom0_fatal("qubesdb", "moat-dom0 serves only a "
				    "full MULTIREAD");
			qdb_dump();
			break;
		case QDB_CMD_WRITE:
			if (qdb_write(&d.db, m.path, m.data, m.len) == -1)
				qdb_send(QDB_RESP_ERROR, m.path, NULL, 0);
			else
				qdb_send(QDB_RESP_OK, m.path, NULL, 0);
			log_info("qubesdb: VM wrote %s", m.path);
			break;
		case QDB_CMD_RM:
			if (qdb_rm(&d.db, m.path) == 0) {
				qdb_send(QDB_RESP_ERROR_NOENT, m.path, NULL, 0);
				flush_vchan(d.qv, &d.qout);
				dom0_fatal("qubesdb", "VM removed missing key %s",
				    m.path);
			}
			qdb_send(QDB_RESP_OK, m.path, NULL, 0);
			break;
		case QDB_RESP_OK:
			break;
		case QDB_RESP_ERROR:
			if (m.len != 0)
				dom0_fatal("qubesdb", "RESP_ERROR with data");
			log_warnx("qubesdb: VM answered RESP_ERROR for %s",
			    m.path);
			break;
		}
		buf_drop(&d.qin, (size_t)r);
	}
	if (r < 0)
		dom0_fatal("qubesdb", "%s", why);
}

void
qdb_service(void)
{
	int st = vchan_state(d.qv);

	if (st == VCHAN_CONNECTED)
		read_vchan(d.qv, &d.qin);
	if (d.qin.len)
		qdb_from_vm();
	flush_vchan(d.qv, &d.qout);
	if (vchan_state(d.qv) == VCHAN_DISCONNECTED) {
		if (vm_gone()) {
			vm_gone_exit();
			return;
		}
		if (!d.qsynced)
			dom0_fatal("qubesdb", "vchan closed before the VM's "
			    "MULTIREAD");
		log_info("qubesdb: vchan closed, reconnecting");
		d.qsynced = 0;
		d.qin.len = d.qout.len = 0;
		if (vchan_rearm(d.qv) == -1) {
			/* the VM may have died since we looked */
			if (vm_gone()) {
				vm_gone_exit();
				return;
			}
			fatal("qubesdb: vchan server for domain %d", d.vm);
		}
	}
}

/* A dom0-side change: stored, and pushed if the VM is synced. */
int
dom0_write(const char *path, const char *val, size_t len)
{
	if (qdb_write(&d.db, path, val, len) == -1)
		return -1;
	if (d.qsynced)
		qdb_send(QDB_CMD_WRITE, path, val, (uint32_t)len);
	return 0;
}

int
dom0_rm(const char *path)
{
	if (!qdb_path_ok(path))
		return -1;
	/* dom0 pushes only rms that removed something */
	if (qdb_rm(&d.db, path) > 0 && d.qsynced)
		qdb_send(QDB_CMD_RM, path, NULL, 0);
	return 0;
}
