#include "payment/payment.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contracts/messages.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/health.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/trace.h"
#include "kafka/kafka.h"
#include "payment/gateway.h"
#include "payment/record.h"
#include "store/store.h"

#define TOPIC_IN "orders.created"
#define TOPIC_OUT "payments.completed"
#define HEALTH_PROBE_NS (2ull * 1000000000ull)
#define FLUSH_TIMEOUT_MS 10000
#define BATCH_CAP 500
#define EMIT_MAX 256

/* What a batch does with each valid message after its transaction. */
typedef enum {
  ACT_NONE,   /* pending: the retry path will emit it */
  ACT_EMIT,   /* decided (stored before, or inserted by this batch): produce */
  ACT_INSERT, /* new: insert in the batch's transaction */
  ACT_RELOAD  /* read the stored row after the commit, produce it if decided */
} action_t;

struct svc_s {
  const op_config_t *cfg;
  op_store_t *store;
  op_consumer_t *consumer;
  op_producer_t *producer; /* payments.completed and the DLQ */
  op_gateway_t *gw;
  pthread_t thread;
  int started;
  atomic_int failed;
  size_t batch;
  size_t retry_max;

  /* Scratch of the consumer thread, sized to the batch. */
  op_payment_t *rows;
  unsigned char *actions;
  size_t *invalid;
  op_contract_error_t *errors;
  op_payment_t *retry; /* max(retry_max, EMIT_MAX) rows */

  uint64_t last_probe_ns;

  op_metric_t *m_succeeded, *m_failed;
  op_metric_t *m_att_succeeded, *m_att_declined, *m_att_transient;
  op_metric_t *m_gateway_seconds;
  op_metric_t *m_reemitted;
};

static void set_db_health(struct svc_s *svc, int rc) {
  if (rc == 0)
    op_health_set("database", OP_HEALTH_OK, op_store_backend(svc->store));
  else if (rc == OP_EDBDOWN)
    op_health_set("database", OP_HEALTH_DOWN, op_strerror(rc));
}

static void count_decided(struct svc_s *svc, const op_payment_t *p) {
  op_counter_add(strcmp(p->state, OP_PAYMENT_SUCCEEDED) == 0 ? svc->m_succeeded : svc->m_failed, 1);
  op_log(OP_LOG_INFO, "payment", p->trace_id, "order %s: payment %s %s%s%s after %lld attempt(s)",
         p->order_id, p->payment_id, p->state, p->reason[0] ? ": " : "", p->reason,
         (long long)p->attempts);
}

/* One gateway attempt for p (attempt number p->attempts + 1); updates p:
 * decided with processed_at, or pending until now + backoff, or failed
 * gateway_unavailable after PAYMENT_MAX_ATTEMPTS. Runs on: the consumer thread. */
static void charge_once(struct svc_s *svc, op_payment_t *p, op_dec_t amount) {
  op_charge_t req = {.order_id = p->order_id,
                     .tenant_id = p->tenant_id,
                     .payment_id = p->payment_id,
                     .amount = amount,
                     .currency = p->currency,
                     .attempt = (int)p->attempts + 1};
  char reason[OP_CHARGE_REASON_MAX] = "";
  uint64_t t0 = op_mono_ns();
  op_charge_outcome_t outcome = svc->gw->charge(svc->gw, &req, reason);
  op_histogram_observe(svc->m_gateway_seconds, (double)(op_mono_ns() - t0) / 1e9);
  p->attempts++;
  int64_t now = op_now_ms();
  p->reason[0] = '\0';
  switch (outcome) {
    case OP_CHARGE_SUCCEEDED:
      op_counter_add(svc->m_att_succeeded, 1);
      snprintf(p->state, sizeof p->state, OP_PAYMENT_SUCCEEDED);
      break;
    case OP_CHARGE_DECLINED:
      op_counter_add(svc->m_att_declined, 1);
      snprintf(p->state, sizeof p->state, OP_PAYMENT_FAILED);
      snprintf(p->reason, sizeof p->reason, "%s", reason[0] ? reason : "declined");
      break;
    case OP_CHARGE_TRANSIENT:
      op_counter_add(svc->m_att_transient, 1);
      if (p->attempts >= svc->cfg->payment_max_attempts) {
        snprintf(p->state, sizeof p->state, OP_PAYMENT_FAILED);
        snprintf(p->reason, sizeof p->reason, "gateway_unavailable");
      } else {
        snprintf(p->state, sizeof p->state, OP_PAYMENT_PENDING);
        p->next_attempt_at = now + op_payment_backoff_ms(p->attempts);
        op_log(OP_LOG_INFO, "payment", p->trace_id,
               "order %s: gateway unavailable on attempt %lld; retrying in %lld ms", p->order_id,
               (long long)p->attempts, (long long)op_payment_backoff_ms(p->attempts));
      }
      break;
  }
  if (op_payment_decided(p))
    op_iso8601(now, p->processed_at);
}

/* Produces the payments.completed of a decided payment, keyed by order_id,
 * with a traceparent continuing its trace. */
static int emit(struct svc_s *svc, const op_payment_t *p) {
  char *body = op_payment_body(p);
  if (body == NULL)
    return OP_ENOMEM;
  char tp[OP_TRACEPARENT_LEN + 1];
  const char *headers[] = {"traceparent", op_traceparent(p->trace_id, tp), NULL};
  int rc = op_producer_send(svc->producer, TOPIC_OUT, RD_KAFKA_PARTITION_UA, p->order_id,
                            strlen(p->order_id), body, strlen(body), headers);
  free(body);
  return rc;
}

/* The trace of a message: its traceparent header, else the order's trace_id
 * field, else a new trace. */
static void message_trace(const rd_kafka_message_t *msg, const op_order_created_t *order,
                          char *out) {
  if (op_kafka_trace_id(msg, out, OP_TRACE_ID_LEN + 1) == 0)
    return;
  if (order->trace_id) {
    snprintf(out, OP_TRACE_ID_LEN + 1, "%s", order->trace_id);
    return;
  }
  op_trace_new_id(out);
}

static int seen_in_batch(const struct svc_s *svc, size_t nrows, const char *order_id) {
  for (size_t i = 0; i < nrows; i++)
    if (strcmp(svc->rows[i].order_id, order_id) == 0)
      return 1;
  return 0;
}

/* Step 1 and 2 for one valid order: fills svc->rows[k] and its action.
 * Returns 0 or a store error. */
static int plan_order(struct svc_s *svc, size_t k, const rd_kafka_message_t *msg,
                      const op_order_created_t *order) {
  op_payment_t *p = &svc->rows[k];
  if (seen_in_batch(svc, k, order->order_id)) {
    memset(p, 0, sizeof *p);
    snprintf(p->order_id, sizeof p->order_id, "%s", order->order_id);
    svc->actions[k] = ACT_RELOAD;
    return 0;
  }
  int rc = op_payment_get(svc->store, order->order_id, p);
  if (rc == 0) {
    op_counter_add(svc->m_reemitted, 1);
    svc->actions[k] = op_payment_decided(p) ? ACT_EMIT : ACT_NONE;
    return 0;
  }
  if (rc != OP_ENOENT)
    return rc;
  memset(p, 0, sizeof *p);
  snprintf(p->order_id, sizeof p->order_id, "%s", order->order_id);
  snprintf(p->tenant_id, sizeof p->tenant_id, "%s", order->tenant_id);
  snprintf(p->amount, sizeof p->amount, "%s", order->total_amount);
  snprintf(p->currency, sizeof p->currency, "%s", order->currency);
  message_trace(msg, order, p->trace_id);
  op_payment_new_id(p->payment_id);
  charge_once(svc, p, order->total);
  /* Decided now: the offset commit after the flush is what says "emitted". */
  p->emitted = op_payment_decided(p);
  svc->actions[k] = ACT_INSERT;
  return 0;
}

/* Step 3: the batch's new payments in one transaction. */
static int store_new(struct svc_s *svc, size_t nrows) {
  size_t inserts = 0;
  for (size_t k = 0; k < nrows; k++)
    inserts += svc->actions[k] == ACT_INSERT;
  if (inserts == 0)
    return 0;
  int rc = op_store_begin(svc->store);
  int64_t now = op_now_ms();
  for (size_t k = 0; rc == 0 && k < nrows; k++) {
    if (svc->actions[k] != ACT_INSERT)
      continue;
    int inserted;
    rc = op_payment_insert(svc->store, &svc->rows[k], now, &inserted);
    /* Not inserted: another instance stored this order meanwhile (a
     * rebalance); its outcome is the one, read back after the commit. */
    if (rc == 0 && !inserted)
      svc->actions[k] = ACT_RELOAD;
  }
  if (rc == 0)
    rc = op_store_commit(svc->store);
  else
    op_store_rollback(svc->store);
  if (rc == 0)
    for (size_t k = 0; k < nrows; k++)
      if (svc->actions[k] == ACT_INSERT && op_payment_decided(&svc->rows[k]))
        count_decided(svc, &svc->rows[k]);
  return rc;
}

/* The batch handler (op_batch_cb); see payment.h for the order of effects. */
static int on_batch(rd_kafka_message_t **msgs, size_t n, void *ud) {
  struct svc_s *svc = ud;
  size_t nrows = 0, nbad = 0;
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < n; i++) {
    op_order_created_t order;
    if (op_contract_parse_order_created(msgs[i]->payload, msgs[i]->len, &order,
                                        &svc->errors[nbad]) != 0) {
      svc->invalid[nbad++] = i;
      continue;
    }
    rc = plan_order(svc, nrows, msgs[i], &order);
    op_order_created_clear(&order);
    nrows += rc == 0;
  }
  if (rc == 0)
    rc = store_new(svc, nrows);
  set_db_health(svc, rc);
  if (rc != 0) {
    op_log_error("payment", "a batch of %zu orders was not stored: %s: %s", n, op_strerror(rc),
                 op_store_errmsg(svc->store));
    return rc;
  }
  for (size_t k = 0; rc == 0 && k < nrows; k++) {
    op_payment_t *p = &svc->rows[k];
    if (svc->actions[k] == ACT_RELOAD) {
      char order_id[sizeof p->order_id];
      memcpy(order_id, p->order_id, sizeof order_id);
      rc = op_payment_get(svc->store, order_id, p);
      if (rc != 0)
        break;
    }
    if (svc->actions[k] != ACT_NONE && op_payment_decided(p))
      rc = emit(svc, p);
  }
  for (size_t i = 0; rc == 0 && i < nbad; i++)
    rc = op_dlq_send(svc->producer, msgs[svc->invalid[i]], svc->errors[i].reason,
                     svc->errors[i].message);
  if (rc == 0)
    rc = op_producer_flush(svc->producer, FLUSH_TIMEOUT_MS);
  return rc;
}

/* Charges the pending payments whose backoff has passed, and stores what
 * came of it (still pending, or decided with emitted = 0). */
static void retry_due(struct svc_s *svc) {
  size_t n;
  int rc = op_payment_due(svc->store, op_now_ms(), svc->retry, svc->retry_max, &n);
  if (rc != 0 || n == 0) {
    set_db_health(svc, rc);
    return;
  }
  int64_t prev[n];
  for (size_t i = 0; i < n; i++) {
    op_dec_t amount = 0;
    prev[i] = svc->retry[i].attempts;
    op_dec_parse(svc->retry[i].amount, &amount); /* validated when the order came in */
    charge_once(svc, &svc->retry[i], amount);
  }
  int updated[n];
  rc = op_store_begin(svc->store);
  for (size_t i = 0; rc == 0 && i < n; i++)
    rc = op_payment_update(svc->store, &svc->retry[i], prev[i], &updated[i]);
  if (rc == 0)
    rc = op_store_commit(svc->store);
  else
    op_store_rollback(svc->store);
  set_db_health(svc, rc);
  if (rc != 0) {
    /* The rows stay pending and due: the next idle call tries again. */
    op_log_warn("payment", "storing %zu retried payments failed: %s", n, op_strerror(rc));
    return;
  }
  for (size_t i = 0; i < n; i++)
    if (updated[i] && op_payment_decided(&svc->retry[i]))
      count_decided(svc, &svc->retry[i]);
}

/* Produces the decided payments not yet emitted (decided by a retry, or left
 * by a crash), flushes, then marks them emitted. */
static void emit_pending_outcomes(struct svc_s *svc) {
  size_t n;
  int rc = op_payment_unemitted(svc->store, svc->retry, EMIT_MAX, &n);
  if (rc != 0 || n == 0)
    return;
  for (size_t i = 0; rc == 0 && i < n; i++)
    rc = emit(svc, &svc->retry[i]);
  if (rc == 0)
    rc = op_producer_flush(svc->producer, FLUSH_TIMEOUT_MS);
  if (rc == 0)
    rc = op_store_begin(svc->store);
  for (size_t i = 0; rc == 0 && i < n; i++)
    rc = op_payment_mark_emitted(svc->store, svc->retry[i].order_id);
  if (rc == 0)
    rc = op_store_commit(svc->store);
  else
    op_store_rollback(svc->store);
  if (rc != 0) /* produced again next time: consumers dedupe by payment_id */
    op_log_warn("payment", "emitting %zu retried outcomes failed: %s", n, op_strerror(rc));
}

/* Between polls: the delayed retries, their outcomes, and /health. */
static void on_idle(void *ud) {
  struct svc_s *svc = ud;
  retry_due(svc);
  emit_pending_outcomes(svc);
  uint64_t now = op_mono_ns();
  if (now - svc->last_probe_ns >= HEALTH_PROBE_NS) {
    svc->last_probe_ns = now;
    set_db_health(svc, op_store_exec(svc->store, "SELECT 1", 0, NULL, NULL));
  }
}

static void svc_free(struct svc_s *svc);

static void register_metrics(struct svc_s *svc) {
  const char *help = "Payments decided, by outcome";
  svc->m_succeeded = op_counter("orderpulse_payments_total", help, "state=\"succeeded\"");
  svc->m_failed = op_counter("orderpulse_payments_total", help, "state=\"failed\"");
  help = "Payment gateway attempts, by result";
  svc->m_att_succeeded =
      op_counter("orderpulse_payment_attempts_total", help, "result=\"succeeded\"");
  svc->m_att_declined =
      op_counter("orderpulse_payment_attempts_total", help, "result=\"declined\"");
  svc->m_att_transient =
      op_counter("orderpulse_payment_attempts_total", help, "result=\"transient\"");
  svc->m_gateway_seconds =
      op_histogram("orderpulse_payment_gateway_seconds", "Time of one payment gateway call", NULL,
                   op_latency_buckets, op_latency_buckets_len);
  svc->m_reemitted = op_counter("orderpulse_payments_redelivered_total",
                                "orders.created of an order that already had a payment", NULL);
  for (size_t i = 0; i < op_message_reasons_len; i++) {
    char labels[96];
    snprintf(labels, sizeof labels, "reason=\"%s\"", op_message_reasons[i]);
    op_counter("orderpulse_events_dead_lettered_total", "Messages sent to a dead-letter topic",
               labels);
  }
}

static void *svc_create(const op_config_t *cfg, const char *brokers, op_http_router_t *router,
                        char *errbuf, size_t errlen) {
  struct svc_s *svc = calloc(1, sizeof *svc);
  if (svc == NULL) {
    snprintf(errbuf, errlen, "out of memory");
    return NULL;
  }
  svc->cfg = cfg;
  /* The gateway is called inline for each new order of a batch, so a batch
   * must end well within the consumer's max.poll.interval.ms (300 s): with
   * latency, batches are capped to about 30 s of charges. */
  size_t cap = cfg->payment_latency_ms > 0 ? (size_t)(30000 / cfg->payment_latency_ms) : BATCH_CAP;
  cap = cap < 1 ? 1 : cap > BATCH_CAP ? BATCH_CAP : cap;
  svc->batch = (size_t)cfg->consumer_batch_size < cap ? (size_t)cfg->consumer_batch_size : cap;
  svc->retry_max = svc->batch < 32 ? svc->batch : 32;
  if ((svc->rows = calloc(svc->batch, sizeof *svc->rows)) == NULL ||
      (svc->actions = calloc(svc->batch, 1)) == NULL ||
      (svc->invalid = calloc(svc->batch, sizeof *svc->invalid)) == NULL ||
      (svc->errors = calloc(svc->batch, sizeof *svc->errors)) == NULL ||
      (svc->retry = calloc(EMIT_MAX, sizeof *svc->retry)) == NULL) {
    snprintf(errbuf, errlen, "out of memory");
    svc_free(svc);
    return NULL;
  }
  double rate = 0.0;
  op_config_parse_rate(cfg->payment_failure_rate, &rate); /* checked by op_config_load */
  svc->gw = op_gateway_sim_new(cfg->payment_latency_ms, rate, errbuf, errlen);
  if (svc->gw == NULL) {
    svc_free(svc);
    return NULL;
  }
  op_health_register("database", 1);
  svc->store = op_store_open(cfg->database_url, errbuf, errlen);
  if (svc->store == NULL || op_store_migrate(svc->store, errbuf, errlen) != 0) {
    svc_free(svc);
    return NULL;
  }
  set_db_health(svc, 0);
  svc->producer = op_producer_new(cfg, brokers, errbuf, errlen);
  if (svc->producer == NULL) {
    svc_free(svc);
    return NULL;
  }
  static const char *const topics[] = {TOPIC_IN, NULL};
  op_consumer_opts_t opts = {.group_id = OP_PAYMENT_GROUP,
                             .topics = topics,
                             .batch_size = svc->batch,
                             .on_batch = on_batch,
                             .on_idle = on_idle,
                             .ud = svc};
  svc->consumer = op_consumer_new(cfg, brokers, &opts, errbuf, errlen);
  if (svc->consumer == NULL) {
    svc_free(svc);
    return NULL;
  }
  register_metrics(svc);
  op_log_info("payment", "gateway %s: latency %lld ms, failure rate %s, at most %lld attempts",
              svc->gw->name, (long long)cfg->payment_latency_ms, cfg->payment_failure_rate,
              (long long)cfg->payment_max_attempts);
  return svc;
}

static void *consumer_main(void *arg) {
  struct svc_s *svc = arg;
  if (op_consumer_run(svc->consumer) != 0)
    atomic_store(&svc->failed, 1);
  return NULL;
}

static int svc_start(void *ud) {
  struct svc_s *svc = ud;
  if (pthread_create(&svc->thread, NULL, consumer_main, svc) != 0)
    return OP_ENOMEM;
  svc->started = 1;
  return 0;
}

static int svc_failed(void *ud) {
  return atomic_load(&((struct svc_s *)ud)->failed);
}

/* Stops the consumer after the batch in hand (pending retries stay in the
 * table for the next start), flushes the producer and frees everything. */
static void svc_free(struct svc_s *svc) {
  if (svc == NULL)
    return;
  if (svc->started) {
    op_consumer_stop(svc->consumer);
    pthread_join(svc->thread, NULL);
  }
  op_consumer_free(svc->consumer);
  op_producer_free(svc->producer);
  if (svc->gw)
    svc->gw->free(svc->gw);
  if (svc->store)
    op_store_close(svc->store);
  free(svc->rows);
  free(svc->actions);
  free(svc->invalid);
  free(svc->errors);
  free(svc->retry);
  free(svc);
}

static void svc_destroy(void *ud) {
  svc_free(ud);
}

const op_service_t op_payment_service = {"payment", NULL,       svc_create, NULL,
                                         svc_start, svc_failed, svc_destroy};
