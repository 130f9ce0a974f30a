/*
 * log.h: one logging vocabulary for every process.
 *
 * Lines look like "natd: warn: client 3: spoofed source 10.0.0.9" and go to
 * stderr in one write(2) each. A daemon's stderr is a pipe to the
 * supervisor, which prints every line to the console and keeps the recent
 * ones of each daemon in a ring (struct logring) for moat.Logs.
 *
 * Anything a peer VM can trigger is logged through log_rl(), which rate
 * limits per call site (and, with log_rlk, per key such as a client port),
 * so that a peer cannot flood the log or starve another peer's lines.
 */
#ifndef MOAT_LOG_H
#define MOAT_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "msg.h"

void	log_init(const char *tag, int level);
void	log_setlevel(int level);
int	log_getlevel(void);
const char *log_tag(void);
void	log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void	log_vmsg(int level, const char *fmt, va_list ap);
/* The supervisor also keeps its own lines in its ring: called with every
 * line written (without the newline). */
void	log_set_hook(void (*hook)(const char *line, size_t len));

#define log_error(...)	log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warnx(...)	log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...)	do { if (log_getlevel() >= LOG_LVL_DEBUG) log_msg(LOG_LVL_DEBUG, __VA_ARGS__); } while (0)
/* log_warn appends ": strerror(errno)". */
void	log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* fatal/fatalx: log at error level and exit(1). fatal appends strerror(errno). */
void	fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void	fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/*
 * Token bucket per call site and key: LOG_RL_BURST lines at once, then
 * LOG_RL_PER_SEC per second. Suppressed lines are counted and reported in
 * the next line that passes ("(N similar lines suppressed)").
 */
#define LOG_RL_BURST	10
#define LOG_RL_PER_SEC	5
#define LOG_RL_KEYS	16
struct log_rl {
	struct {
		uint32_t	key;
		uint32_t	tokens_milli;	/* tokens x 1000 */
		uint64_t	last_ms;
		uint32_t	suppressed;
		uint8_t		used;
	} b[LOG_RL_KEYS];
};
/* Returns 1 when a line may be logged now; *suppressed gets the count to report. */
int	log_rl_allow(struct log_rl *rl, uint32_t key, uint64_t now_ms, uint32_t *suppressed);
void	log_rl_msg(struct log_rl *rl, uint32_t key, int level, const char *fmt, ...)
	    __attribute__((format(printf, 4, 5)));
#define log_rlk(key, level, ...) do { static struct log_rl _rl; \
	log_rl_msg(&_rl, (key), (level), __VA_ARGS__); } while (0)
#define log_rl(level, ...)	log_rlk(0, level, __VA_ARGS__)

/*
 * A ring of the most recent lines (supervisor side, one per daemon).
 * Fixed memory: LOGRING_LINES lines of at most LOGRING_LINE_MAX bytes.
 */
#define LOGRING_LINES		512
#define LOGRING_LINE_MAX	256
struct logring {
	uint32_t	head;		/* next slot to write */
	uint32_t	count;
	struct {
		struct timespec	ts;
		uint16_t	len;
		char		text[LOGRING_LINE_MAX];
	} line[LOGRING_LINES];
	/* partial line carried between reads of a pipe */
	char		partial[LOGRING_LINE_MAX];
	size_t		partial_len;
};
void	logring_init(struct logring *r);
/* Add one line (without newline); longer lines are truncated. */
void	logring_add(struct logring *r, const char *line, size_t len);
/* Feed raw bytes from a pipe; complete lines are added and, if cb is set,
 * passed to cb (e.g. to print them). */
void	logring_feed(struct logring *r, const char *buf, size_t len,
	    void (*cb)(void *, const char *, size_t), void *arg);
/* Write the lines, oldest first, "YYYY-mm-ddTHH:MM:SS.mmmZ line\n", into
 * buf; returns bytes written (truncating at cap). */
size_t	logring_dump(const struct logring *r, char *buf, size_t cap);

uint64_t now_ms(void);	/* CLOCK_MONOTONIC in milliseconds */

#endif
