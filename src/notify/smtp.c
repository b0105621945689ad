#include "notify/smtp.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct conv_s {
  char error_reply[512]; /* the server's first 4xx/5xx reply line, CR/LF removed */
} conv_t;

/* The SMTP replies arrive as CURLINFO_HEADER_IN. The first refusal is the
 * reason a rejected mail carries (libcurl's own error says only "RCPT
 * failed: 550", and the last reply is QUIT's "221 Bye"). */
static int on_debug(CURL *h, curl_infotype type, char *data, size_t size, void *ud) {
  conv_t *c = ud;
  if (type != CURLINFO_HEADER_IN || size < 3 || c->error_reply[0] ||
      (data[0] != '4' && data[0] != '5'))
    return 0;
  size_t n = size < sizeof c->error_reply - 1 ? size : sizeof c->error_reply - 1;
  memcpy(c->error_reply, data, n);
  c->error_reply[n] = '\0';
  c->error_reply[strcspn(c->error_reply, "\r\n")] = '\0';
  return 0;
}

static int has_crlf(const char *s) {
  return strpbrk(s, "\r\n") != NULL;
}

static struct curl_slist *add(struct curl_slist *list, int *bad, const char *fmt, const char *v) {
  char line[1200];
  if (*bad || snprintf(line, sizeof line, fmt, v) >= (int)sizeof line) {
    *bad = 1;
    return list;
  }
  struct curl_slist *next = curl_slist_append(list, line);
  if (next == NULL)
    *bad = 1;
  return next ? next : list;
}

static struct curl_slist *headers(const op_smtp_mail_t *m, int *bad) {
  char date[64];
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  char *subject = op_mail_subject_header(m->content->subject);
  if (subject == NULL)
    *bad = 1;
  struct curl_slist *h = NULL;
  h = add(h, bad, "Date: %s", date);
  h = add(h, bad, "From: <%s>", m->from);
  h = add(h, bad, "To: <%s>", m->to);
  h = add(h, bad, "Subject: %s", subject ? subject : "");
  h = add(h, bad, "Message-ID: <%s@orderpulse>", m->message_id);
  /* The root part is the alternative itself: libcurl takes the root's
   * Content-Type from these headers and adds the boundary. */
  h = add(h, bad, "%s", "Content-Type: multipart/alternative");
  free(subject);
  return h;
}

/* Mail lines end in CRLF; libcurl's quoted-printable encoder would turn a
 * bare LF into "=0A" and make one endless encoded line. */
static char *to_crlf(const char *s) {
  size_t lf = 0;
  for (const char *p = s; *p; p++)
    lf += *p == '\n';
  char *out = malloc(strlen(s) + lf + 1), *w = out;
  for (const char *p = s; out && *p; p++) {
    if (*p == '\n' && (p == s || p[-1] != '\r'))
      *w++ = '\r';
    *w++ = *p;
  }
  if (out)
    *w = '\0';
  return out;
}

static int add_part(curl_mime *mime, const char *data, const char *type) {
  curl_mimepart *part = curl_mime_addpart(mime);
  char *crlf = to_crlf(data);
  int bad = part == NULL || crlf == NULL ||
            curl_mime_data(part, crlf, CURL_ZERO_TERMINATED) != CURLE_OK ||
            curl_mime_type(part, type) != CURLE_OK ||
            curl_mime_encoder(part, "quoted-printable") != CURLE_OK;
  free(crlf); /* curl_mime_data copied it */
  return bad;
}

void op_smtp_send(const op_smtp_mail_t *m, op_smtp_result_t *res) {
  memset(res, 0, sizeof *res);
  res->outcome = OP_MAIL_RETRY;
  if (has_crlf(m->to) || has_crlf(m->from) || !strchr(m->to, '@')) {
    res->outcome = OP_MAIL_FAILED;
    snprintf(res->reason, sizeof res->reason, "invalid_address");
    return;
  }
  CURL *h = curl_easy_init();
  curl_mime *mime = h ? curl_mime_init(h) : NULL;
  int bad = mime == NULL;
  struct curl_slist *hdrs = bad ? NULL : headers(m, &bad);
  char rcpt_line[1024];
  snprintf(rcpt_line, sizeof rcpt_line, "<%s>", m->to);
  struct curl_slist *rcpt = curl_slist_append(NULL, rcpt_line);
  char from_line[1024];
  snprintf(from_line, sizeof from_line, "<%s>", m->from);
  bad |= rcpt == NULL;
  bad = bad || add_part(mime, m->content->text, "text/plain; charset=utf-8") ||
        add_part(mime, m->content->html, "text/html; charset=utf-8");
  if (bad) {
    snprintf(res->reason, sizeof res->reason, "out of memory");
  } else {
    conv_t conv = {{0}};
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(h, CURLOPT_URL, m->url);
    /* smtps:// is TLS from the start; on smtp:// upgrade with STARTTLS when
     * the server offers it, plain otherwise (a local relay often has no TLS)
     * unless TLS is required. */
    curl_easy_setopt(h, CURLOPT_USE_SSL,
                     m->require_tls ? (long)CURLUSESSL_ALL : (long)CURLUSESSL_TRY);
    /* The certificate chain and the host name are always checked (libcurl's
     * defaults, set here so that nothing can turn them off); only the trust
     * anchors are configurable. */
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (m->ca_file && m->ca_file[0])
      curl_easy_setopt(h, CURLOPT_CAINFO, m->ca_file);
    curl_easy_setopt(h, CURLOPT_MAIL_FROM, from_line);
    curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_MIMEPOST, mime);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)m->timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)m->timeout_ms);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM for DNS timeouts */
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_DEBUGFUNCTION, on_debug);
    curl_easy_setopt(h, CURLOPT_DEBUGDATA, &conv);
    curl_easy_setopt(h, CURLOPT_VERBOSE, 1L); /* feeds on_debug; it prints nothing */
    CURLcode cc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &res->smtp_code);
    res->outcome = op_mail_classify((int)cc, res->smtp_code, &res->connection_error);
    if (res->outcome != OP_MAIL_SENT) {
      /* A reply from the server says most; else libcurl's message. */
      if (cc == CURLE_USE_SSL_FAILED) /* STARTTLS required and not offered or refused */
        snprintf(res->reason, sizeof res->reason, "TLS required (SMTP_REQUIRE_TLS=1): %s",
                 errbuf[0] ? errbuf : curl_easy_strerror(cc));
      else if (!res->connection_error && conv.error_reply[0])
        snprintf(res->reason, sizeof res->reason, "%s", conv.error_reply);
      else
        snprintf(res->reason, sizeof res->reason, "%s",
                 errbuf[0] ? errbuf : curl_easy_strerror(cc));
    }
  }
  curl_slist_free_all(rcpt);
  curl_slist_free_all(hdrs);
  curl_mime_free(mime);
  if (h)
    curl_easy_cleanup(h);
}
