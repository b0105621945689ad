/*
 * One SMTP delivery with libcurl: smtp:// (STARTTLS when the server offers
 * it, or required) or smtps://, the server's certificate and host name always
 * verified, user and password from the URL, one RCPT, a
 * multipart/alternative message (text/plain then text/html, UTF-8).
 */
#ifndef OP_NOTIFY_SMTP_H
#define OP_NOTIFY_SMTP_H

#include <stdint.h>

#include "notify/mailpolicy.h"
#include "notify/template.h"

typedef struct op_smtp_mail_s {
  const char *url;        /* SMTP_URL */
  const char *from;       /* SMTP_FROM: envelope sender and From: */
  const char *to;         /* one recipient address */
  const char *message_id; /* unique per notification: "<id@orderpulse>" is built from it */
  const op_mail_content_t *content;
  int64_t timeout_ms;  /* the whole conversation, connect included */
  const char *ca_file; /* SMTP_CA_FILE: PEM CA bundle; NULL or "": the system's store */
  int require_tls;     /* SMTP_REQUIRE_TLS: smtp:// fails rather than send in plain */
} op_smtp_mail_t;

typedef struct op_smtp_result_s {
  op_mail_outcome_t outcome;
  int connection_error; /* the server was not reached or the conversation broke */
  long smtp_code;       /* the last reply code, 0 if none */
  char reason[512];     /* the server's last reply line, or libcurl's error */
} op_smtp_result_t;

/* Sends m. Never blocks longer than about m->timeout_ms. Any thread
 * (curl_global_init must have been called). */
void op_smtp_send(const op_smtp_mail_t *m, op_smtp_result_t *res);

#endif
