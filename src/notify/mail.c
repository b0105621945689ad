#include "notify/mail.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/health.h"
#include "core/id.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/waiter.h"
#include "notify/notice.h"
#include "notify/relay.h"
#include "notify/smtp.h"
#include "notify/template.h"
#include "store/store.h"

#define POLL_MS 200 /* idle poll: see mail.h */
#define BATCH 16    /* rows read per pass; each is leased on its own */
#define LEASE_MARGIN_MS 10000
#define RATE_WINDOW_MS 60000

struct op_mail_s {
  const op_config_t *cfg;
  op_notify_relay_t *relay;
  op_store_t *store;
  int enabled;
  char dir[PATH_MAX];
  char instance[48]; /* claimed_by */
  json_t *warned;    /* template vars already logged as unknown */
  pthread_t thread;
  int started;
  op_waiter_t waiter;
  op_metric_t *m_sent, *m_failed, *m_retried, *m_deferred, *m_seconds;
};

/* One leased row. Strings point into rows. */
typedef struct row_s {
  const char *id, *tenant_id, *user_id, *order_id, *to, *template, *vars, *trace_id;
  int64_t attempts;
} row_t;

static op_metric_t *emails(const char *state) {
  char labels[48];
  snprintf(labels, sizeof labels, "state=\"%s\"", state);
  return op_counter("orderpulse_emails_total", "Email delivery outcomes", labels);
}

op_mail_t *op_mail_new(const op_config_t *cfg, op_notify_relay_t *relay, char *errbuf,
                       size_t errlen) {
  op_mail_t *m = calloc(1, sizeof *m);
  if (m == NULL || (m->warned = json_object()) == NULL) {
    free(m);
    snprintf(errbuf, errlen, "out of memory");
    return NULL;
  }
  m->cfg = cfg;
  m->relay = relay;
  op_waiter_init(&m->waiter);
  if (cfg->smtp_url[0] == '\0') {
    op_log_warn("notify", "SMTP_URL is empty: email is disabled, mails stay queued");
    return m;
  }
  m->enabled = 1;
  curl_global_init(CURL_GLOBAL_DEFAULT); /* here: on the main thread, before any sender */
  char rand[17];
  op_random_hex(rand, 8);
  snprintf(m->instance, sizeof m->instance, "%ld-%s", (long)getpid(), rand);
  if (!op_template_dir_resolve(cfg->email_templates_dir, m->dir, sizeof m->dir))
    op_log_warn("notify",
                "EMAIL_TEMPLATES_DIR %s: no such directory (mails will fail with "
                "template_missing)",
                cfg->email_templates_dir);
  /* A CA file that cannot be read would fail every delivery with a TLS
   * error; say so at startup instead. */
  if (cfg->smtp_ca_file[0] && access(cfg->smtp_ca_file, R_OK) != 0) {
    snprintf(errbuf, errlen, "SMTP_CA_FILE %s: %s", cfg->smtp_ca_file, strerror(errno));
    op_mail_free(m);
    return NULL;
  }
  char masked[512];
  op_config_mask_url(cfg->smtp_url, masked, sizeof masked);
  op_log_info("notify", "email: sending through %s, templates from %s", masked, m->dir);
  m->m_sent = emails("sent");
  m->m_failed = emails("failed");
  m->m_retried = emails("retried");
  m->m_deferred = emails("deferred");
  m->m_seconds = op_histogram("orderpulse_email_send_seconds", "Time of one SMTP delivery", NULL,
                              op_latency_buckets, op_latency_buckets_len);
  op_health_register("smtp", 0);
  op_health_set("smtp", OP_HEALTH_OK, "no delivery attempted yet");
  if ((m->store = op_store_open(cfg->database_url, errbuf, errlen)) == NULL) {
    op_mail_free(m);
    return NULL;
  }
  return m;
}

static void i64(char *buf, int64_t v) {
  snprintf(buf, 24, "%lld", (long long)v);
}

/* Leases the row if it is still queued and due. 1: ours; 0: someone else's
 * or no longer due; negative: a database error. */
static int lease(op_mail_t *m, const char *id, int64_t now) {
  char until[24], at[24];
  i64(until, now + m->cfg->email_timeout_ms + LEASE_MARGIN_MS);
  i64(at, now);
  const char *p[] = {id, until, m->instance, at};
  int rc = op_store_exec(m->store,
                         "UPDATE notify_email_outbox SET next_attempt_at = $2, claimed_by = $3"
                         " WHERE notification_id = $1 AND state = 'queued'"
                         " AND next_attempt_at <= $4",
                         4, p, NULL);
  return rc ? rc : op_store_changes(m->store) == 1;
}

/* Per-user rate limit: 0 when the mail may go now, else when it may (the
 * oldest mail of the window leaves it then). */
static int64_t rate_limited_until(op_mail_t *m, const row_t *r, int64_t now) {
  int64_t limit = m->cfg->email_rate_per_user_minute;
  if (limit <= 0)
    return 0;
  char since[24];
  i64(since, now - RATE_WINDOW_MS);
  const char *p[] = {r->tenant_id, r->user_id, since};
  op_rows_t *rows = NULL;
  int64_t count = 0, oldest = now;
  int rc = op_store_exec(m->store,
                         "SELECT COUNT(*), MIN(sent_at) FROM notify_email_outbox WHERE tenant_id = "
                         "$1 AND user_id = $2 AND state = 'sent' AND sent_at > $3",
                         3, p, &rows);
  if (rc == 0 && op_rows_get_int64(rows, 0, 0, &count) == 0 && count > 0)
    op_rows_get_int64(rows, 0, 1, &oldest);
  op_rows_free(rows);
  if (rc != 0 || count < limit)
    return 0; /* a failed count must not hold mail back */
  int64_t until = oldest + RATE_WINDOW_MS;
  return until > now ? until : now + 1000;
}

static void defer(op_mail_t *m, const row_t *r, int64_t until) {
  char at[24];
  i64(at, until);
  const char *p[] = {r->id, at, m->instance};
  if (op_store_exec(m->store,
                    "UPDATE notify_email_outbox SET next_attempt_at = $2, claimed_by = NULL"
                    " WHERE notification_id = $1 AND claimed_by = $3",
                    3, p, NULL) == 0)
    op_counter_add(m->m_deferred, 1);
}

static double jitter(void) {
  unsigned char b[2];
  op_random_bytes(b, 2);
  return ((double)((b[0] << 8) | b[1]) / 65535.0) * 2.0 - 1.0;
}

/* Records the outcome and its notice in one transaction. attempted: an SMTP
 * conversation took place (it counts as an attempt). */
static int record(op_mail_t *m, const row_t *r, op_mail_outcome_t outcome, const char *reason,
                  int attempted) {
  int64_t now = op_now_ms(), attempts = r->attempts + (attempted ? 1 : 0);
  if (outcome == OP_MAIL_RETRY && attempts >= m->cfg->email_max_attempts)
    outcome = OP_MAIL_FAILED;
  char now_s[24], attempts_s[24], next_s[24];
  i64(now_s, now);
  i64(attempts_s, attempts);
  const char *sql;
  const char *p[6] = {r->id, m->instance, attempts_s, NULL, NULL, NULL};
  if (outcome == OP_MAIL_SENT) {
    sql = "UPDATE notify_email_outbox SET state = 'sent', sent_at = $4, attempts = $3,"
          " claimed_by = NULL WHERE notification_id = $1 AND claimed_by = $2";
    p[3] = now_s;
  } else if (outcome == OP_MAIL_FAILED) {
    sql = "UPDATE notify_email_outbox SET state = 'failed', reason = $4, attempts = $3,"
          " claimed_by = NULL WHERE notification_id = $1 AND claimed_by = $2";
    p[3] = reason;
  } else {
    i64(next_s, now + op_mail_retry_delay_ms(m->cfg->email_retry_base_ms,
                                             m->cfg->email_retry_max_ms, attempts, jitter()));
    sql = "UPDATE notify_email_outbox SET reason = $4, attempts = $3, next_attempt_at = $5,"
          " claimed_by = NULL WHERE notification_id = $1 AND claimed_by = $2";
    p[3] = reason;
    p[4] = next_s;
  }
  int rc = op_store_begin(m->store);
  if (rc == 0)
    rc = op_store_exec(m->store, sql, outcome == OP_MAIL_RETRY ? 5 : 4, p, NULL);
  if (rc == 0 && op_store_changes(m->store) != 1) {
    /* The lease ran out and another sender took the row: its outcome counts. */
    op_log(OP_LOG_WARN, "notify", r->trace_id, "mail %s: lease lost, outcome not recorded", r->id);
    op_store_rollback(m->store);
    return 0;
  }
  if (rc == 0 && outcome != OP_MAIL_RETRY) {
    op_notice_t n = {.notification_id = r->id,
                     .tenant_id = r->tenant_id,
                     .user_id = r->user_id,
                     .channel = "email",
                     .template = r->template,
                     .state = outcome == OP_MAIL_SENT ? "sent" : "failed",
                     .order_id = r->order_id,
                     .sent_at_ms = now,
                     .reason = reason,
                     .trace_id = r->trace_id};
    rc = op_notice_enqueue(m->store, &n, now);
  }
  rc = rc == 0 ? op_store_commit(m->store) : (op_store_rollback(m->store), rc);
  if (rc != 0) {
    /* The row keeps its lease and is tried again when it expires. */
    op_log(OP_LOG_ERROR, "notify", r->trace_id, "mail %s: recording the outcome failed: %s: %s",
           r->id, op_strerror(rc), op_store_errmsg(m->store));
    return rc;
  }
  op_counter_add(outcome == OP_MAIL_SENT     ? m->m_sent
                 : outcome == OP_MAIL_FAILED ? m->m_failed
                                             : m->m_retried,
                 1);
  if (outcome == OP_MAIL_SENT)
    op_log(OP_LOG_INFO, "notify", r->trace_id, "mail %s sent to user %s", r->id, r->user_id);
  else
    op_log(OP_LOG_WARN, "notify", r->trace_id, "mail %s %s (attempt %lld): %s", r->id,
           outcome == OP_MAIL_FAILED ? "failed" : "will be retried", (long long)attempts, reason);
  if (outcome != OP_MAIL_RETRY)
    op_notify_relay_wake(m->relay);
  return 0;
}

static void deliver(op_mail_t *m, const row_t *r) {
  json_error_t jerr;
  json_t *vars = json_loads(r->vars, 0, &jerr);
  op_mail_content_t content;
  int rc = op_template_render(m->dir, r->template, vars, m->warned, &content);
  json_decref(vars);
  if (rc == OP_ENOENT || rc == OP_EINVAL) {
    record(m, r, OP_MAIL_FAILED, "template_missing", 0);
    return;
  }
  if (rc != 0) {
    record(m, r, OP_MAIL_RETRY, "out of memory", 0);
    return;
  }
  op_smtp_mail_t mail = {.url = m->cfg->smtp_url,
                         .from = m->cfg->smtp_from,
                         .to = r->to,
                         .message_id = r->id,
                         .content = &content,
                         .timeout_ms = m->cfg->email_timeout_ms,
                         .ca_file = m->cfg->smtp_ca_file,
                         .require_tls = m->cfg->smtp_require_tls != 0};
  op_smtp_result_t res;
  uint64_t t0 = op_mono_ns();
  op_smtp_send(&mail, &res);
  op_histogram_observe(m->m_seconds, (double)(op_mono_ns() - t0) / 1e9);
  op_mail_content_free(&content);
  if (res.connection_error)
    op_health_set("smtp", OP_HEALTH_DEGRADED, res.reason);
  else
    op_health_set("smtp", OP_HEALTH_OK, "last delivery reached the server");
  record(m, r, res.outcome, res.reason, 1);
}

/* Returns 1 when the row was handled, 0 when not (someone else's, or a
 * database error: then the pass ends and the thread waits). */
static int process(op_mail_t *m, const char *id) {
  int64_t now = op_now_ms();
  int leased = lease(m, id, now);
  if (leased < 0)
    op_log_error("notify", "email: leasing a mail failed: %s", op_store_errmsg(m->store));
  if (leased != 1)
    return 0;
  const char *p[] = {id};
  op_rows_t *rows = NULL;
  if (op_store_exec(m->store,
                    "SELECT notification_id, tenant_id, user_id, order_id, to_addr, template, vars,"
                    " trace_id, attempts FROM notify_email_outbox WHERE notification_id = $1",
                    1, p, &rows) != 0 ||
      op_rows_count(rows) != 1) {
    op_rows_free(rows);
    return 0; /* the lease runs out and the row is tried again */
  }
  row_t r = {op_rows_get(rows, 0, 0), op_rows_get(rows, 0, 1), op_rows_get(rows, 0, 2),
             op_rows_get(rows, 0, 3), op_rows_get(rows, 0, 4), op_rows_get(rows, 0, 5),
             op_rows_get(rows, 0, 6), op_rows_get(rows, 0, 7), 0};
  op_rows_get_int64(rows, 0, 8, &r.attempts);
  int64_t until = rate_limited_until(m, &r, now);
  if (until)
    defer(m, &r, until);
  else
    deliver(m, &r);
  op_rows_free(rows);
  return 1;
}

/* One pass over due rows, oldest first. Returns the number of rows handled. */
static size_t pass(op_mail_t *m) {
  char now[24];
  i64(now, op_now_ms());
  const char *p[] = {now};
  op_rows_t *rows = NULL;
  if (op_store_exec(m->store,
                    "SELECT notification_id FROM notify_email_outbox WHERE state = 'queued'"
                    " AND next_attempt_at <= $1 ORDER BY next_attempt_at, notification_id"
                    " LIMIT 16",
                    1, p, &rows) != 0) {
    op_log_error("notify", "email: reading due mail failed: %s", op_store_errmsg(m->store));
    return 0;
  }
  size_t n = op_rows_count(rows), done = 0;
  for (size_t i = 0; i < n && !op_waiter_stopping(&m->waiter); i++)
    done += (size_t)process(m, op_rows_get(rows, i, 0));
  op_rows_free(rows);
  return done;
}

static void *mail_main(void *arg) {
  op_mail_t *m = arg;
  while (!op_waiter_stopping(&m->waiter)) {
    if (pass(m) < BATCH)
      op_waiter_wait(&m->waiter, POLL_MS); /* a full batch: more may be due, go on at once */
  }
  return NULL;
}

int op_mail_start(op_mail_t *m) {
  if (!m->enabled)
    return 0;
  if (pthread_create(&m->thread, NULL, mail_main, m) != 0)
    return OP_ENOMEM;
  m->started = 1;
  return 0;
}

void op_mail_wake(op_mail_t *m) {
  if (m == NULL)
    return;
  op_waiter_wake(&m->waiter);
}

void op_mail_stop(op_mail_t *m) {
  if (m == NULL || !m->started)
    return;
  op_waiter_stop(&m->waiter);
  pthread_join(m->thread, NULL);
  m->started = 0;
}

void op_mail_free(op_mail_t *m) {
  if (m == NULL)
    return;
  op_mail_stop(m);
  if (m->store)
    op_store_close(m->store);
  if (m->enabled)
    curl_global_cleanup();
  json_decref(m->warned);
  op_waiter_destroy(&m->waiter);
  free(m);
}
