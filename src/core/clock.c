#include "core/clock.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/err.h"

int64_t op_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t op_mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

char *op_iso8601(int64_t ms, char *out) {
  time_t secs = (time_t)(ms / 1000);
  int frac = (int)(ms % 1000);
  if (frac < 0) {
    frac += 1000;
    secs -= 1;
  }
  struct tm tm;
  gmtime_r(&secs, &tm);
  /* Years stay within 4 digits for any time this program will see; the
   * modulo keeps the compiler's format-truncation analysis satisfied. */
  snprintf(out, OP_ISO8601_LEN, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", (tm.tm_year + 1900) % 10000,
           (tm.tm_mon + 1) % 100, tm.tm_mday % 100, tm.tm_hour % 100, tm.tm_min % 100,
           tm.tm_sec % 100, frac % 1000);
  return out;
}

static int digits(const char *s, int n, int *out) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return -1;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return 0;
}

/* A strict RFC 3339 date-time reader. strptime() accepts too much (missing
 * fields, locale-dependent input), so the fixed layout is checked here. */
int op_parse_rfc3339_us(const char *s, size_t len, int64_t *us_out) {
  int year, mon, day, hour, min, sec;
  int64_t usec = 0;
  if (len < 20 || digits(s, 4, &year) || s[4] != '-' || digits(s + 5, 2, &mon) || s[7] != '-' ||
      digits(s + 8, 2, &day) || (s[10] != 'T' && s[10] != 't') || digits(s + 11, 2, &hour) ||
      s[13] != ':' || digits(s + 14, 2, &min) || s[16] != ':' || digits(s + 17, 2, &sec))
    return OP_EINVAL;
  if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60)
    return OP_EINVAL;
  size_t i = 19;
  if (i < len && s[i] == '.') {
    int64_t scale = 100000;
    size_t n = 0;
    for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, n++) {
      usec += (s[i] - '0') * scale; /* digits past the microsecond add 0 */
      scale /= 10;
    }
    if (n == 0)
      return OP_EINVAL;
  }
  int offset_min = 0;
  if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
    i++;
  } else if (i + 6 <= len && (s[i] == '+' || s[i] == '-')) {
    int oh, om;
    if (digits(s + i + 1, 2, &oh) || s[i + 3] != ':' || digits(s + i + 4, 2, &om) || oh > 23 ||
        om > 59)
      return OP_EINVAL;
    offset_min = (oh * 60 + om) * (s[i] == '-' ? -1 : 1);
    i += 6;
  } else {
    return OP_EINVAL;
  }
  if (i != len)
    return OP_EINVAL;
  struct tm tm = {0};
  tm.tm_year = year - 1900;
  tm.tm_mon = mon - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = min;
  tm.tm_sec = sec;
  time_t t = timegm(&tm);
  *us_out = ((int64_t)t - (int64_t)offset_min * 60) * 1000000 + usec;
  return 0;
}

int op_parse_rfc3339(const char *s, int64_t *ms_out) {
  int64_t us;
  int rc = op_parse_rfc3339_us(s, strlen(s), &us);
  if (rc == 0)
    *ms_out = us >= 0 ? us / 1000 : -((-us + 999) / 1000);
  return rc;
}
