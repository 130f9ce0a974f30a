/*
 * fuzz_qdb: agentd's QubesDB client against arbitrary bytes from dom0.
 *
 * Input: byte 0 picks how the stream is split (as a vchan ring may split
 * it), the rest is what dom0 sends after our MULTIREAD. Besides not
 * crashing, agentd must never send dom0 anything its qubesdb-daemon would
 * die of: only the MULTIREAD and RESP_OKs, each with a path dom0 accepts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agentd/agentd.h"
#include "log.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
nosend(void *arg, uint32_t type, const void *p, size_t len, int fd)
{
	if (type >= MSG_TYPE_COUNT)
		abort();
	return 0;
}

static void
check_out(const struct qdbc *q)
{
	size_t off;

	if (q->outlen % QDB_HDR_LEN != 0)
		abort();
	for (off = 0; off < q->outlen; off += QDB_HDR_LEN) {
		const uint8_t *h = q->out + off;
		char path[QDB_PATH_MAX];

		memcpy(path, h + 1, QDB_PATH_MAX);
		if (path[QDB_PATH_MAX - 1] != '\0')
			abort();
		if (h[68] | h[69] | h[70] | h[71] | h[65] | h[66] | h[67])
			abort();
		if (h[0] == QDB_CMD_MULTIREAD && off == 0 && path[0] == '\0')
			continue;
		if (h[0] != QDB_RESP_OK || !qdb_path_ok(path))
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct qdbc q;
	static int init;
	struct conf c;
	size_t step, off;

	if (!init) {
		log_init("fuzz_qdb", -1);
		init = 1;
	}
	if (size < 1)
		return 0;
	step = (size_t)data[0] * 13 + 1;
	data++;
	size--;
	conf_init(&c, nosend, NULL);
	qdbc_init(&q, &c);
	qdbc_connected(&q);
	for (off = 0; off < size; off += step) {
		size_t n = size - off < step ? size - off : step;

		if (qdbc_input(&q, data + off, n) == -1)
			break;
		check_out(&q);
		/* dom0 reads our acks now and then */
		if (q.outlen > QDBC_OUT_MAX / 2)
			qdbc_sent(&q, q.outlen);
	}
	check_out(&q);
	conf_free(&c);
	return 0;
}
