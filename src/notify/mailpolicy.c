#include "notify/mailpolicy.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"

int64_t op_mail_retry_delay_ms(int64_t base_ms, int64_t max_ms, int64_t attempts, double jitter) {
  if (attempts < 1)
    attempts = 1;
  if (base_ms < 1)
    base_ms = 1;
  int64_t delay = base_ms;
  /* Doubling stops at the cap, which also keeps the product from overflowing. */
  for (int64_t i = 1; i < attempts && delay < max_ms; i++)
    delay *= 2;
  if (delay > max_ms)
    delay = max_ms;
  if (jitter < -1.0)
    jitter = -1.0;
  if (jitter > 1.0)
    jitter = 1.0;
  int64_t out = (int64_t)((double)delay * (1.0 + 0.25 * jitter));
  return out < 1 ? 1 : out;
}

op_mail_outcome_t op_mail_classify(int curl_code, long smtp_code, int *connection_error) {
  *connection_error = 0;
  if (curl_code == CURLE_OK)
    return OP_MAIL_SENT;
  if (smtp_code >= 500 && smtp_code < 600 && smtp_code != 535)
    return OP_MAIL_FAILED;
  if (smtp_code >= 400 && smtp_code < 600)
    return OP_MAIL_RETRY;
  /* No reply to judge by: refused, unreachable, timed out, cut, TLS failed. */
  *connection_error = 1;
  return OP_MAIL_RETRY;
}

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int put_base64(op_buf_t *b, const unsigned char *s, size_t n) {
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < n; i += 3) {
    unsigned v = (unsigned)s[i] << 16;
    if (i + 1 < n)
      v |= (unsigned)s[i + 1] << 8;
    if (i + 2 < n)
      v |= s[i + 2];
    char q[4] = {B64[(v >> 18) & 63], B64[(v >> 12) & 63], i + 1 < n ? B64[(v >> 6) & 63] : '=',
                 i + 2 < n ? B64[v & 63] : '='};
    rc = op_buf_append(b, q, 4);
  }
  return rc;
}

/* libcurl passes custom headers through unchanged and does not encode a
 * non-ASCII Subject, so it is done here (RFC 2047, "B" encoding). */
char *op_mail_subject_header(const char *subject) {
  int ascii = 1;
  for (const unsigned char *p = (const unsigned char *)subject; *p; p++)
    if (*p < 0x20 || *p >= 0x7f)
      ascii = 0;
  if (ascii)
    return strdup(subject);
  op_buf_t b = OP_BUF_INIT;
  int rc = 0;
  const unsigned char *s = (const unsigned char *)subject;
  size_t n = strlen(subject), i = 0;
  /* 45 raw bytes → 60 base64 characters + 12 of "=?UTF-8?B?" and "?=" = 72 <= 75. */
  while (rc == 0 && i < n) {
    size_t take = n - i < 45 ? n - i : 45;
    while (take < n - i && take > 0 && (s[i + take] & 0xC0) == 0x80)
      take--; /* do not cut a UTF-8 sequence between two words */
    if (take == 0)
      take = n - i < 45 ? n - i : 45;
    rc = op_buf_puts(&b, i ? " =?UTF-8?B?" : "=?UTF-8?B?");
    if (rc == 0)
      rc = put_base64(&b, s + i, take);
    if (rc == 0)
      rc = op_buf_puts(&b, "?=");
    i += take;
  }
  if (rc == 0)
    rc = op_buf_append(&b, "", 1);
  if (rc != 0) {
    op_buf_free(&b);
    return NULL;
  }
  return b.data;
}
