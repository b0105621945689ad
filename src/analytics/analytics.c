/*
 * The analytics service's consumer thread: every topic → validate → apply
 * once per message identity (one transaction per batch) → dead letters →
 * commit offsets; between batches, publish the windows that closed.
 *
 * Windows are by ingestion time: a message counts in the window in which
 * analytics applied it, recorded in the transaction that applied it. So every
 * message lands in exactly one window whatever its own timestamps say, a
 * message that arrives late is never lost from the published stream, and a
 * redelivery (deduplicated) changes no window. Event times are used where a
 * figure is about them: the created→paid latency of an order.
 */
#include "analytics/analytics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analytics/agg.h"
#include "analytics/db.h"
#include "analytics/internal.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/health.h"
#include "core/log.h"
#include "core/trace.h"

#define HEALTH_PROBE_NS (2ull * 1000000000ull)
#define PUBLISH_EVERY_NS (250ull * 1000000ull)
#define PURGE_EVERY_NS (600ull * 1000000000ull)
#define PUBLISH_CHUNK 64

static void set_db_health(op_analytics_t *an, int rc) {
  if (rc == 0)
    op_health_set("database", OP_HEALTH_OK, op_store_backend(an->store));
  else
    op_health_set("database", OP_HEALTH_DOWN, op_strerror(rc));
}

/* Parses the batch: valid messages are msgs[i] with kind set, invalid ones
 * are listed in invalid[0..*ninvalid) with their error. */
static int parse_batch(op_analytics_t *an, rd_kafka_message_t **msgs, size_t n, size_t *ninvalid) {
  size_t bad = 0;
  for (size_t i = 0; i < n; i++) {
    int kind = op_an_kind_of(rd_kafka_topic_name(msgs[i]->rkt));
    op_an_msg_t *msg = &an->msgs[i];
    memset(msg, 0, sizeof *msg);
    msg->kind = OP_AN_KINDS; /* not valid until parsed */
    if (kind < 0) {
      an->errors[bad] = (op_contract_error_t){.reason = "unknown_topic"};
      snprintf(an->errors[bad].message, sizeof an->errors[bad].message,
               "analytics does not read this topic");
      an->invalid[bad++] = i;
      continue;
    }
    int rc =
        op_an_msg_parse((op_an_kind_t)kind, msgs[i]->payload, msgs[i]->len, msg, &an->errors[bad]);
    if (rc == OP_ENOMEM)
      return rc;
    if (rc != 0) {
      msg->kind = OP_AN_KINDS;
      an->invalid[bad++] = i;
    }
  }
  *ninvalid = bad;
  return 0;
}

static void clear_batch(op_analytics_t *an, size_t n) {
  for (size_t i = 0; i < n; i++)
    op_an_msg_clear(&an->msgs[i]);
}

/* Applies every valid message of the batch in one transaction. */
static int store_batch(op_analytics_t *an, rd_kafka_message_t **msgs, size_t n, size_t *dups) {
  int64_t now = op_now_ms();
  int rc = op_store_begin(an->store);
  *dups = 0;
  for (size_t i = 0; rc == 0 && i < n; i++) {
    if (an->msgs[i].kind == OP_AN_KINDS)
      continue;
    int fresh = 0;
    rc = op_an_db_apply(an->store, &an->msgs[i], now, an->window_ms, &fresh);
    *dups += !fresh;
    if (rc) {
      char trace[OP_TRACE_ID_LEN + 1];
      op_log(OP_LOG_ERROR, "analytics",
             op_kafka_trace_id(msgs[i], trace, sizeof trace) == 0 ? trace : NULL,
             "applying a message of %s failed: %s: %s", op_an_topics[an->msgs[i].kind],
             op_strerror(rc), op_store_errmsg(an->store));
    }
  }
  if (rc == 0)
    rc = op_store_commit(an->store);
  else
    op_store_rollback(an->store);
  return rc;
}

/* The batch handler (op_batch_cb). As in notify: (1) the valid messages'
 * effects and identities commit in one transaction, (2) the invalid ones are
 * acknowledged by their dead-letter topics, (3) then the consumer commits the
 * offsets. A failure at (2) retries (2) alone. */
static int on_batch(rd_kafka_message_t **msgs, size_t n, void *ud) {
  op_analytics_t *an = ud;
  size_t ninvalid = 0;
  int rc = parse_batch(an, msgs, n, &ninvalid);
  if (rc == 0 && !an->stored) {
    size_t dups = 0;
    rc = store_batch(an, msgs, n, &dups);
    set_db_health(an, rc == OP_EDBDOWN ? rc : 0);
    if (rc == 0) {
      an->stored = 1;
      for (size_t i = 0; i < n; i++) {
        int kind = op_an_kind_of(rd_kafka_topic_name(msgs[i]->rkt));
        if (kind >= 0)
          op_counter_add(an->m_messages[kind], 1);
      }
      op_counter_add(an->m_duplicates, dups);
    }
  }
  for (size_t i = 0; rc == 0 && i < ninvalid; i++)
    rc = op_dlq_send(an->producer, msgs[an->invalid[i]], an->errors[i].reason,
                     an->errors[i].message);
  if (rc == 0 && ninvalid)
    rc = op_producer_flush(an->producer, 10000);
  clear_batch(an, n);
  if (rc == 0)
    an->stored = 0;
  return rc;
}

/* Publishes up to PUBLISH_CHUNK closed windows: each window's message is
 * stored before it is sent and marked published after the broker acknowledged
 * it, so a crash in between sends the same bytes again (at-least-once with
 * identical content; consumers key on tenant_id + window_start). */
static void publish_closed(op_analytics_t *an) {
  int64_t open_start = op_an_window_start(op_now_ms(), an->window_ms);
  op_an_window_t windows[PUBLISH_CHUNK];
  size_t n = 0, sent = 0;
  int rc = op_an_db_pending(an->store, open_start, windows, PUBLISH_CHUNK, &n);
  for (size_t i = 0; rc == 0 && i < n; i++) {
    char *payload = NULL;
    rc = op_an_db_window_payload(an->store, &windows[i], an->window_ms,
                                 an->cfg->analytics_low_stock_threshold, &payload);
    if (rc)
      break;
    char traceparent[OP_TRACEPARENT_LEN + 1];
    const char *headers[] = {"traceparent", op_traceparent(NULL, traceparent), NULL};
    rc = op_producer_send(an->producer, OP_ANALYTICS_OUT_TOPIC, RD_KAFKA_PARTITION_UA,
                          windows[i].tenant_id, strlen(windows[i].tenant_id), payload,
                          strlen(payload), headers);
    free(payload);
    sent += rc == 0;
  }
  if (sent && op_producer_flush(an->producer, 10000) != 0)
    rc = rc ? rc : OP_EKAFKA;
  else
    for (size_t i = 0; i < sent; i++) {
      int mrc = op_an_db_mark_published(an->store, &windows[i]);
      if (mrc) {
        rc = mrc;
        break;
      }
      op_counter_add(an->m_published, 1);
      if (i + 1 == sent || strcmp(windows[i].tenant_id, windows[i + 1].tenant_id) != 0)
        op_an_db_trim_latencies(an->store, windows[i].tenant_id, open_start);
    }
  if (rc)
    op_log_warn("analytics", "publishing closed windows failed (retried): %s: %s", op_strerror(rc),
                op_store_errmsg(an->store));
}

/* Between batches: publish closed windows, keep /health current, purge old
 * dedupe keys and published windows. */
static void on_idle(void *ud) {
  op_analytics_t *an = ud;
  uint64_t now = op_mono_ns();
  if (now - an->last_publish_ns >= PUBLISH_EVERY_NS) {
    an->last_publish_ns = now;
    publish_closed(an);
  }
  if (now - an->last_probe_ns >= HEALTH_PROBE_NS) {
    an->last_probe_ns = now;
    set_db_health(an, op_store_exec(an->store, "SELECT 1", 0, NULL, NULL));
  }
  if (now - an->last_purge_ns >= PURGE_EVERY_NS) {
    an->last_purge_ns = now;
    int64_t horizon = op_now_ms() - an->cfg->event_retention_hours * 3600 * 1000;
    int rc = op_an_db_purge(an->store, horizon);
    if (rc)
      op_log_warn("analytics", "purging old records failed: %s", op_strerror(rc));
  }
}

static void analytics_free(op_analytics_t *an);

static int register_metrics(op_analytics_t *an) {
  for (int k = 0; k < OP_AN_KINDS; k++) {
    char labels[96];
    snprintf(labels, sizeof labels, "topic=\"%s\"", op_an_topics[k]);
    an->m_messages[k] = op_counter("orderpulse_analytics_messages_total",
                                   "Messages analytics read, per topic", labels);
  }
  an->m_duplicates = op_counter("orderpulse_analytics_duplicates_total",
                                "Redelivered messages recognised by identity and skipped", NULL);
  an->m_published = op_counter("orderpulse_analytics_aggregates_published_total",
                               "Window aggregates published to analytics.aggregates", NULL);
  return an->m_published ? 0 : OP_ENOMEM;
}

static op_analytics_t *analytics_new(const op_config_t *cfg, const char *brokers,
                                     op_http_router_t *router, char *errbuf, size_t errlen) {
  op_analytics_t *an = calloc(1, sizeof *an);
  size_t batch = (size_t)cfg->consumer_batch_size;
  if (an == NULL) {
    snprintf(errbuf, errlen, "out of memory");
    return NULL;
  }
  pthread_mutex_init(&an->http_lock, NULL);
  an->cfg = cfg;
  an->window_ms = cfg->analytics_window_seconds * 1000;
  if ((an->msgs = calloc(batch, sizeof *an->msgs)) == NULL ||
      (an->invalid = calloc(batch, sizeof *an->invalid)) == NULL ||
      (an->errors = calloc(batch, sizeof *an->errors)) == NULL || register_metrics(an) != 0) {
    snprintf(errbuf, errlen, "out of memory");
    analytics_free(an);
    return NULL;
  }
  op_health_register("database", 1);
  an->store = op_store_open(cfg->database_url, errbuf, errlen);
  if (an->store == NULL || op_store_migrate(an->store, errbuf, errlen) != 0 ||
      (an->http_store = op_store_open(cfg->database_url, errbuf, errlen)) == NULL) {
    analytics_free(an);
    return NULL;
  }
  set_db_health(an, 0);
  if (op_an_api_routes(an, router) != 0) {
    snprintf(errbuf, errlen, "out of memory");
    analytics_free(an);
    return NULL;
  }
  an->producer = op_producer_new(cfg, brokers, errbuf, errlen);
  if (an->producer == NULL) {
    analytics_free(an);
    return NULL;
  }
  static const char *const topics[] = {"orders.created",
                                       "orders.events",
                                       "orders.audit",
                                       "payments.completed",
                                       "inventory.updated",
                                       "notifications.events",
                                       NULL};
  op_consumer_opts_t opts = {.group_id = OP_ANALYTICS_GROUP,
                             .topics = topics,
                             .batch_size = batch,
                             .on_batch = on_batch,
                             .on_idle = on_idle,
                             .ud = an};
  an->consumer = op_consumer_new(cfg, brokers, &opts, errbuf, errlen);
  if (an->consumer == NULL) {
    analytics_free(an);
    return NULL;
  }
  an->last_purge_ns = op_mono_ns() - PURGE_EVERY_NS; /* purge once at start-up */
  return an;
}

static void *consumer_main(void *arg) {
  op_analytics_t *an = arg;
  if (op_consumer_run(an->consumer) != 0)
    atomic_store(&an->failed, 1);
  return NULL;
}

static void analytics_stop(op_analytics_t *an) {
  if (!an->started)
    return;
  op_consumer_stop(an->consumer);
  pthread_join(an->thread, NULL);
  an->started = 0;
}

static void analytics_free(op_analytics_t *an) {
  if (an == NULL)
    return;
  analytics_stop(an);
  op_consumer_free(an->consumer);
  if (an->producer)
    op_producer_flush(an->producer, 5000);
  op_producer_free(an->producer);
  op_store_close(an->store);
  op_store_close(an->http_store);
  pthread_mutex_destroy(&an->http_lock);
  free(an->msgs);
  free(an->invalid);
  free(an->errors);
  free(an);
}

/* ---- the service table ---------------------------------------------------- */

static int service_check(const op_config_t *cfg, char *errbuf, size_t errlen) {
  if (strlen(cfg->jwt_secret) < 16) {
    snprintf(errbuf, errlen, "JWT_SECRET: must be set, at least 16 bytes (it verifies tokens)");
    return OP_ECONFIG;
  }
  return 0;
}

static void *service_create(const op_config_t *cfg, const char *brokers, op_http_router_t *router,
                            char *errbuf, size_t errlen) {
  return analytics_new(cfg, brokers, router, errbuf, errlen);
}

static int service_start(void *svc) {
  op_analytics_t *an = svc;
  if (pthread_create(&an->thread, NULL, consumer_main, an) != 0)
    return OP_ENOMEM;
  an->started = 1;
  return 0;
}

static int service_failed(void *svc) {
  return atomic_load(&((op_analytics_t *)svc)->failed);
}

static void service_destroy(void *svc) {
  analytics_free(svc);
}

const op_service_t op_analytics_service = {"analytics",   service_check,  service_create, NULL,
                                           service_start, service_failed, service_destroy};
