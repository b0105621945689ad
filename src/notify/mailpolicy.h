/*
 * The email sender's pure rules: the retry delay, how an SMTP outcome is
 * classified, and the RFC 2047 form of a subject. No I/O; unit-tested.
 */
#ifndef OP_NOTIFY_MAILPOLICY_H
#define OP_NOTIFY_MAILPOLICY_H

#include <stddef.h>
#include <stdint.h>

/*
 * The delay before the next attempt after the attempts-th failed one
 * (attempts >= 1): min(max_ms, base_ms * 2^(attempts-1)), then scaled by
 * (1 + 0.25 * jitter) with jitter in [-1, 1] (clamped), so ±25 %: senders that
 * failed together do not retry together. Never below 1 ms.
 */
int64_t op_mail_retry_delay_ms(int64_t base_ms, int64_t max_ms, int64_t attempts, double jitter);

typedef enum {
  OP_MAIL_SENT = 0,
  OP_MAIL_RETRY, /* transient: connection refused, timeout, 4xx reply */
  OP_MAIL_FAILED /* permanent: 5xx reply (e.g. 550 on the recipient) */
} op_mail_outcome_t;

/*
 * Classifies one SMTP conversation from libcurl's result code (CURLcode as
 * int) and the last SMTP reply code (0 when the server never answered).
 * *connection_error is set to 1 when the server could not be reached or the
 * conversation broke without a reply (the "smtp" health check goes degraded).
 * A 5xx reply fails the mail at once, except 535 (authentication refused),
 * which is the sender's configuration and retried like a 4xx.
 */
op_mail_outcome_t op_mail_classify(int curl_code, long smtp_code, int *connection_error);

/* A Subject header value: subject itself when it is printable ASCII, else
 * RFC 2047 "=?UTF-8?B?...?=" encoded-words of at most 75 characters each,
 * separated by spaces and never splitting a UTF-8 sequence. malloc'd; NULL
 * when out of memory. */
char *op_mail_subject_header(const char *subject);

#endif
