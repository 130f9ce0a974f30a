/*
 * log.c: tagged, levelled, rate-limited logging to stderr, and the
 * supervisor's per-daemon ring of recent lines.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static const char *tag = "moat";
static int level = LOG_LVL_INFO;
static void (*line_hook)(const char *, size_t);
static const char *const level_names[] = { "error", "warn", "info", "debug" };

void
log_init(const char *t, int lvl)
{
	tag = t;
	level = lvl;
}

void
log_set_hook(void (*hook)(const char *, size_t))
{
	line_hook = hook;
}

void
log_setlevel(int lvl)
{
	if (lvl >= LOG_LVL_ERROR && lvl <= LOG_LVL_DEBUG)
		level = lvl;
}

int
log_getlevel(void)
{
	return level;
}

const char *
log_tag(void)
{
	return tag;
}

uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void
log_vmsg(int lvl, const char *fmt, va_list ap)
{
	char line[LOGRING_LINE_MAX * 2];
	int n, m;

	if (lvl > level)
		return;
	if (lvl < LOG_LVL_ERROR || lvl > LOG_LVL_DEBUG)
		lvl = LOG_LVL_ERROR;
	n = snprintf(line, sizeof line, "%s: %s: ", tag, level_names[lvl]);
	m = vsnprintf(line + n, sizeof line - n - 1, fmt, ap);
	if (m < 0)
		m = 0;
	n += m;
	if ((size_t)n > sizeof line - 2)
		n = sizeof line - 2;
	/* One write per line, so that lines from one process never interleave
	 * inside the supervisor's pipe (writes below PIPE_BUF are atomic). */
	if (line_hook)
		line_hook(line, (size_t)n);
	line[n++] = '\n';
	(void)!write(STDERR_FILENO, line, n);
}

void
log_msg(int lvl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(lvl, fmt, ap);
	va_end(ap);
}

static void
log_errno(int lvl, int err, const char *fmt, va_list ap)
{
	char buf[LOGRING_LINE_MAX];

	vsnprintf(buf, sizeof buf, fmt, ap);
	log_msg(lvl, "%s: %s", buf, strerror(err));
}

void
log_warn(const char *fmt, ...)
{
	int err = errno;
	va_list ap;

	va_start(ap, fmt);
	log_errno(LOG_LVL_WARN, err, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	int err = errno;
	va_list ap;

	va_start(ap, fmt);
	log_errno(LOG_LVL_ERROR, err, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LVL_ERROR, fmt, ap);
	va_end(ap);
	exit(1);
}

int
log_rl_allow(struct log_rl *rl, uint32_t key, uint64_t now, uint32_t *suppressed)
{
	unsigned i, victim = 0;
	uint64_t oldest = UINT64_MAX;
	uint64_t refill;

	/* Find the key's bucket, or take the least recently used one: with
	 * more active keys than buckets, a flooding key recycles buckets but
	 * never gets more than its own burst. */
	for (i = 0; i < LOG_RL_KEYS; i++) {
		if (rl->b[i].used && rl->b[i].key == key)
			break;
		if (!rl->b[i].used) {
			victim = i;
			oldest = 0;
		} else if (oldest != 0 && rl->b[i].last_ms < oldest) {
			oldest = rl->b[i].last_ms;
			victim = i;
		}
	}
	if (i == LOG_RL_KEYS) {
		i = victim;
		rl->b[i].used = 1;
		rl->b[i].key = key;
		rl->b[i].tokens_milli = LOG_RL_BURST * 1000;
		rl->b[i].suppressed = 0;
		rl->b[i].last_ms = now;
	}
	refill = (now - rl->b[i].last_ms) * LOG_RL_PER_SEC;
	rl->b[i].last_ms = now;
	if (refill > LOG_RL_BURST * 1000 - rl->b[i].tokens_milli)
		rl->b[i].tokens_milli = LOG_RL_BURST * 1000;
	else
		rl->b[i].tokens_milli += (uint32_t)refill;
	if (rl->b[i].tokens_milli < 1000) {
		rl->b[i].suppressed++;
		return 0;
	}
	rl->b[i].tokens_milli -= 1000;
	*suppressed = rl->b[i].suppressed;
	rl->b[i].suppressed = 0;
	return 1;
}

void
log_rl_msg(struct log_rl *rl, uint32_t key, int lvl, const char *fmt, ...)
{
	char buf[LOGRING_LINE_MAX];
	uint32_t supp = 0;
	va_list ap;

	if (lvl > level || !log_rl_allow(rl, key, now_ms(), &supp))
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (supp)
		log_msg(lvl, "%s (%u similar lines suppressed)", buf, supp);
	else
		log_msg(lvl, "%s", buf);
}

void
logring_init(struct logring *r)
{
	memset(r, 0, sizeof *r);
}

void
logring_add(struct logring *r, const char *line, size_t len)
{
	if (len > LOGRING_LINE_MAX - 1)
		len = LOGRING_LINE_MAX - 1;
	clock_gettime(CLOCK_REALTIME, &r->line[r->head].ts);
	memcpy(r->line[r->head].text, line, len);
	r->line[r->head].text[len] = '\0';
	r->line[r->head].len = (uint16_t)len;
	r->head = (r->head + 1) % LOGRING_LINES;
	if (r->count < LOGRING_LINES)
		r->count++;
}

void
logring_feed(struct logring *r, const char *buf, size_t len,
    void (*cb)(void *, const char *, size_t), void *arg)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (buf[i] == '\n') {
			logring_add(r, r->partial, r->partial_len);
			if (cb)
				cb(arg, r->partial, r->partial_len);
			r->partial_len = 0;
			continue;
		}
		/* An over-long line is cut into pieces rather than dropped:
		 * nothing a daemon logs is lost, and memory stays bounded. */
		if (r->partial_len == sizeof r->partial - 1) {
			logring_add(r, r->partial, r->partial_len);
			if (cb)
				cb(arg, r->partial, r->partial_len);
			r->partial_len = 0;
		}
		r->partial[r->partial_len++] = buf[i];
	}
}

size_t
logring_dump(const struct logring *r, char *buf, size_t cap)
{
	size_t off = 0;
	uint32_t i, idx;

	if (cap == 0)
		return 0;
	for (i = 0; i < r->count; i++) {
		struct tm tm;
		char ts[32];
		int n;

		idx = (r->head + LOGRING_LINES - r->count + i) % LOGRING_LINES;
		gmtime_r(&r->line[idx].ts.tv_sec, &tm);
		strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
		n = snprintf(buf + off, cap - off, "%s.%03ldZ %s\n", ts,
		    r->line[idx].ts.tv_nsec / 1000000, r->line[idx].text);
		if (n < 0 || (size_t)n >= cap - off) {
			buf[off] = '\0';
			break;
		}
		off += (size_t)n;
	}
	return off;
}
