/* Logging: rate limits per call site and key, and the recent-lines ring. */
#include "log.h"
#include "util.h"
#include "tests/unit/t.h"

static void
test_ratelimit_burst_then_rate(void)
{
	static struct log_rl rl;
	uint32_t supp = 0;
	int allowed = 0;

	for (int i = 0; i < 1000; i++)
		allowed += log_rl_allow(&rl, 1, 1000, &supp);
	T_EQ_INT(allowed, LOG_RL_BURST);
	/* one second later, LOG_RL_PER_SEC more lines, and the first one
	 * reports how many were suppressed */
	T_ASSERT(log_rl_allow(&rl, 1, 2000, &supp));
	T_EQ_INT(supp, 1000 - LOG_RL_BURST);
	allowed = 1;
	for (int i = 0; i < 100; i++)
		allowed += log_rl_allow(&rl, 1, 2000, &supp);
	T_EQ_INT(allowed, LOG_RL_PER_SEC);
}

static void
test_ratelimit_keys_independent(void)
{
	static struct log_rl rl;
	uint32_t supp;

	/* key 1 floods... */
	for (int i = 0; i < 1000; i++)
		log_rl_allow(&rl, 1, 5000, &supp);
	/* ...key 2 still gets its own burst */
	T_ASSERT(log_rl_allow(&rl, 2, 5000, &supp));
	/* a flood over more keys than buckets gives no key more than a burst */
	int allowed = 0;
	for (uint32_t k = 100; k < 100 + 4 * LOG_RL_KEYS; k++)
		for (int i = 0; i < 50; i++)
			allowed += log_rl_allow(&rl, k, 5000, &supp);
	T_ASSERT(allowed <= 4 * LOG_RL_KEYS * LOG_RL_BURST);
}

static void
test_logring(void)
{
	static struct logring r;
	static char out[LOGRING_LINES * (LOGRING_LINE_MAX + 40)];
	char line[64];
	size_t n;

	logring_init(&r);
	logring_feed(&r, "natd: info: a\nnatd: info: b\nnatd: in", 36, NULL, NULL);
	T_EQ_INT(r.count, 2);
	logring_feed(&r, "fo: c\n", 6, NULL, NULL);
	T_EQ_INT(r.count, 3);
	n = logring_dump(&r, out, sizeof out);
	T_ASSERT(n > 0);
	T_ASSERT(strstr(out, "Z natd: info: a\n") != NULL);
	T_ASSERT(strstr(out, "Z natd: info: c\n") != NULL);
	T_ASSERT(strstr(out, "natd: info: a") < strstr(out, "natd: info: b"));
	/* the ring keeps the most recent LOGRING_LINES lines */
	for (int i = 0; i < LOGRING_LINES + 10; i++) {
		int k = snprintf(line, sizeof line, "line %d\n", i);
		logring_feed(&r, line, (size_t)k, NULL, NULL);
	}
	T_EQ_INT(r.count, LOGRING_LINES);
	n = logring_dump(&r, out, sizeof out);
	T_ASSERT(strstr(out, "line 9\n") == NULL);
	T_ASSERT(strstr(out, "line 10\n") != NULL);
	T_ASSERT(strstr(out, "line 521\n") != NULL);
	/* a truncated dump stays a whole number of lines */
	n = logring_dump(&r, out, 100);
	T_ASSERT(n < 100);
	T_ASSERT(n == 0 || out[n - 1] == '\n');
}

static void
test_logring_long_line(void)
{
	static struct logring r;
	char big[LOGRING_LINE_MAX * 3];

	logring_init(&r);
	memset(big, 'x', sizeof big);
	big[sizeof big - 1] = '\n';
	logring_feed(&r, big, sizeof big, NULL, NULL);
	/* nothing lost, memory bounded: the line is cut into pieces */
	T_EQ_INT(r.count, 4);
	for (uint32_t i = 0; i < r.count; i++)
		T_ASSERT(r.line[i].len < LOGRING_LINE_MAX);
}

static void
test_parse_u64(void)
{
	uint64_t v;

	T_EQ_INT(parse_u64("42", 0, 100, &v), 0);
	T_EQ_INT(v, 42);
	T_EQ_INT(parse_u64("0", 0, 100, &v), 0);
	T_EQ_INT(parse_u64("101", 0, 100, &v), -1);
	T_EQ_INT(parse_u64("", 0, 100, &v), -1);
	T_EQ_INT(parse_u64("-1", 0, 100, &v), -1);
	T_EQ_INT(parse_u64("1x", 0, 100, &v), -1);
	T_EQ_INT(parse_u64("012", 0, 100, &v), -1);
	T_EQ_INT(parse_u64("99999999999999999999", 0, UINT64_MAX, &v), -1);
	T_EQ_INT(parse_u64("18446744073709551615", 0, UINT64_MAX, &v), 0);
}

int
main(void)
{
	T_RUN(test_ratelimit_burst_then_rate);
	T_RUN(test_ratelimit_keys_independent);
	T_RUN(test_logring);
	T_RUN(test_logring_long_line);
	T_RUN(test_parse_u64);
	return t_done();
}
