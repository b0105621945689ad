/* Wall-clock and monotonic time helpers. Thread-safe. */
#ifndef OP_CORE_CLOCK_H
#define OP_CORE_CLOCK_H

#include <stddef.h>
#include <stdint.h>

/* Milliseconds since the Unix epoch (wall clock). */
int64_t op_now_ms(void);

/* Monotonic nanoseconds; only differences are meaningful. */
uint64_t op_mono_ns(void);

/* Writes ms since the epoch as "2026-11-23T10:00:00.000Z" into out (at least
 * OP_ISO8601_LEN bytes). Returns out. */
#define OP_ISO8601_LEN 32
char *op_iso8601(int64_t ms, char *out);

/* Parses an RFC 3339 timestamp ("2026-11-23T10:00:00Z", optional fraction,
 * "Z" or "+hh:mm" offset) into ms since the epoch. Returns 0 or OP_EINVAL. */
int op_parse_rfc3339(const char *s, int64_t *ms_out);

/* The same for len bytes at s (not necessarily NUL-terminated), into
 * microseconds since the epoch (digits past the microsecond are ignored). */
int op_parse_rfc3339_us(const char *s, size_t len, int64_t *us_out);

#endif
