#include "notify/notify.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contracts/validate.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/event.h"
#include "core/health.h"
#include "core/log.h"
#include "core/metrics.h"
#include "kafka/kafka.h"
#include "notify/bus.h"
#include "notify/live.h"
#include "notify/people.h"
#include "notify/recipients.h"
#include "notify/mail.h"
#include "notify/relay.h"
#include "store/events.h"
#include "store/store.h"

#define TOPIC "orders.events"
#define HEALTH_PROBE_NS (2ull * 1000000000ull)
#define PURGE_EVERY_NS (600ull * 1000000000ull)

typedef struct trace_s {
  char id[33];
} trace_t;

struct op_notify_s {
  const op_config_t *cfg;
  op_store_t *store;
  op_consumer_t *consumer;
  op_producer_t *dlq;
  op_live_t *live;
  op_people_t *people;
  op_recipients_t recipients; /* the role map and the batch's pending pushes */
  op_notify_relay_t *relay;   /* notifications.events outbox → Kafka */
  op_mail_t *mail;            /* the email sender */
  pthread_t thread;
  int started;
  atomic_int failed;

  /* Per-batch scratch, sized to the batch size; used by the consumer thread only. */
  op_order_event_t *events;
  op_event_result_t *results;
  trace_t *traces;
  size_t *invalid; /* indexes of invalid messages in the batch */
  op_contract_error_t *errors;
  int stored;    /* the batch in hand is already durable; only the DLQ is left */
  int published; /* ... and its frames went out (Redis took them) */

  uint64_t last_probe_ns;
  uint64_t last_purge_ns;

  op_metric_t *m_consumed_invalid;
  op_metric_t *m_stored;
  op_metric_t *m_duplicate;
};

static op_metric_t *consumed_counter(const char *event_type) {
  char labels[96];
  snprintf(labels, sizeof labels, "event_type=\"%s\"", event_type);
  return op_counter("orderpulse_events_consumed_total", "Events read from orders.events", labels);
}

static void set_db_health(op_notify_t *nt, int rc) {
  if (rc == 0)
    op_health_set("database", OP_HEALTH_OK, op_store_backend(nt->store));
  else
    op_health_set("database", OP_HEALTH_DOWN, op_strerror(rc));
}

/* Validates every message; valid ones fill nt->events[0..*nvalid), invalid
 * ones are listed in nt->invalid[0..*ninvalid). */
static void parse_batch(op_notify_t *nt, rd_kafka_message_t **msgs, size_t n, size_t *nvalid,
                        size_t *ninvalid) {
  size_t v = 0, bad = 0;
  for (size_t i = 0; i < n; i++) {
    op_order_event_t *ev = &nt->events[v];
    if (op_contract_parse_order_event(msgs[i]->payload, msgs[i]->len, ev, &nt->errors[bad]) != 0) {
      nt->invalid[bad++] = i;
      continue;
    }
    ev->partition = msgs[i]->partition;
    ev->offset = msgs[i]->offset;
    ev->trace_id = op_kafka_trace_id(msgs[i], nt->traces[v].id, sizeof nt->traces[v].id) == 0
                       ? nt->traces[v].id
                       : NULL;
    v++;
  }
  *nvalid = v;
  *ninvalid = bad;
}

static void count_batch(op_notify_t *nt, size_t nvalid, size_t ninvalid) {
  size_t dups = 0;
  for (size_t i = 0; i < nvalid; i++) {
    op_counter_add(consumed_counter(nt->events[i].event_type), 1);
    dups += nt->results[i].duplicate ? 1 : 0;
  }
  op_counter_add(nt->m_consumed_invalid, ninvalid);
  op_counter_add(nt->m_stored, nvalid - dups);
  op_counter_add(nt->m_duplicate, dups);
}

/* Stores the batch's events and the notifications they make in one
 * transaction: a redelivered event is a duplicate in op_events_apply and so
 * makes no second notification. */
static int store_batch(op_notify_t *nt, size_t nvalid) {
  int64_t now = op_now_ms();
  int rc = op_store_begin(nt->store);
  if (rc == 0)
    rc = op_events_apply(nt->store, nt->events, nvalid, nt->results, now);
  if (rc == 0)
    rc = op_recipients_apply(&nt->recipients, nt->store, nt->events, nt->results, nvalid, now);
  if (rc == 0)
    rc = op_store_commit(nt->store);
  else
    op_store_rollback(nt->store);
  if (rc != 0)
    op_recipients_clear(&nt->recipients); /* nothing of it was stored */
  return rc;
}

/* After commit: each new in-app notification to its recipient's streams, and
 * the sender and the relay woken for what the batch queued (they would find
 * it within their 200 ms poll anyway). */
static void push_notifications(op_notify_t *nt) {
  for (size_t i = 0; i < nt->recipients.npending; i++) {
    const op_pending_push_t *p = &nt->recipients.pending[i];
    op_live_notify_user(nt->live, p->tenant_id, p->user_id, p->json);
  }
  if (nt->recipients.nemails)
    op_mail_wake(nt->mail);
  if (nt->recipients.npending || nt->recipients.nemails)
    op_notify_relay_wake(nt->relay);
  op_recipients_clear(&nt->recipients);
}

/* The batch handler: see op_batch_cb. The order of effects is what keeps the
 * invariants: (1) the valid events' effects commit in one transaction, (2) the
 * invalid ones are acknowledged by the dead-letter topic, (3) only then does
 * the consumer commit the offsets. A failure at (2) retries (2) alone. */
static int on_batch(rd_kafka_message_t **msgs, size_t n, void *ud) {
  op_notify_t *nt = ud;
  size_t nvalid, ninvalid;
  parse_batch(nt, msgs, n, &nvalid, &ninvalid);
  int rc = 0;
  if (!nt->stored) {
    rc = nvalid ? store_batch(nt, nvalid) : 0;
    set_db_health(nt, rc == OP_EDBDOWN ? rc : 0);
    if (rc == 0) {
      nt->stored = 1;
      count_batch(nt, nvalid, ninvalid);
    } else {
      op_log_error("notify", "storing a batch of %zu events failed: %s: %s", nvalid,
                   op_strerror(rc), op_store_errmsg(nt->store));
    }
  }
  /* Live delivery: in-process it cannot fail; over Redis a failure fails
   * the batch (no offset is committed past what was published) and the retry
   * publishes again from the stored results (nt->stored). */
  if (rc == 0 && !nt->published) {
    rc = op_live_publish(nt->live, nt->store, nt->events, nt->results, nvalid);
    nt->published = rc == 0;
    if (rc == 0)
      push_notifications(nt);
  }
  for (size_t i = 0; rc == 0 && i < ninvalid; i++)
    rc = op_dlq_send(nt->dlq, msgs[nt->invalid[i]], nt->errors[i].reason, nt->errors[i].message);
  if (rc == 0 && ninvalid)
    rc = op_producer_flush(nt->dlq, 10000);
  for (size_t i = 0; i < nvalid; i++)
    op_order_event_clear(&nt->events[i]);
  if (rc == 0)
    nt->stored = nt->published = 0; /* the next batch starts afresh */
  return rc;
}

/* Between batches: keep /health current while idle, purge old dedupe records. */
static void on_idle(void *ud) {
  op_notify_t *nt = ud;
  uint64_t now = op_mono_ns();
  if (now - nt->last_probe_ns >= HEALTH_PROBE_NS) {
    nt->last_probe_ns = now;
    set_db_health(nt, op_store_exec(nt->store, "SELECT 1", 0, NULL, NULL));
  }
  if (now - nt->last_purge_ns >= PURGE_EVERY_NS) {
    nt->last_purge_ns = now;
    size_t events = 0, log = 0;
    int64_t horizon = op_now_ms() - nt->cfg->event_retention_hours * 3600 * 1000;
    int rc = op_events_purge(nt->store, horizon, &events, &log);
    if (rc)
      op_log_warn("notify", "purging old event records failed: %s", op_strerror(rc));
    else if (events || log)
      op_log_info("notify", "purged %zu event records and %zu log entries past retention", events,
                  log);
  }
}

op_notify_t *op_notify_new(const op_config_t *cfg, const char *brokers, op_http_router_t *router,
                           char *errbuf, size_t errlen) {
  op_notify_t *nt = calloc(1, sizeof *nt);
  size_t batch = (size_t)cfg->consumer_batch_size;
  if (nt == NULL || (nt->events = calloc(batch, sizeof *nt->events)) == NULL ||
      (nt->results = calloc(batch, sizeof *nt->results)) == NULL ||
      (nt->traces = calloc(batch, sizeof *nt->traces)) == NULL ||
      (nt->invalid = calloc(batch, sizeof *nt->invalid)) == NULL ||
      (nt->errors = calloc(batch, sizeof *nt->errors)) == NULL) {
    snprintf(errbuf, errlen, "out of memory");
    op_notify_free(nt);
    return NULL;
  }
  nt->cfg = cfg;
  if (op_role_map_parse(cfg->notify_recipient_roles, &nt->recipients.map, errbuf, errlen) != 0) {
    op_notify_free(nt);
    return NULL;
  }
  op_health_register("database", 1);
  nt->store = op_store_open(cfg->database_url, errbuf, errlen);
  if (nt->store == NULL || op_store_migrate(nt->store, errbuf, errlen) != 0) {
    op_notify_free(nt);
    return NULL;
  }
  set_db_health(nt, 0);
  nt->live = op_live_new(cfg, router, errbuf, errlen);
  if (nt->live == NULL) {
    op_notify_free(nt);
    return NULL;
  }
  nt->people = op_people_new(cfg, router, errbuf, errlen);
  if (nt->people == NULL) {
    op_notify_free(nt);
    return NULL;
  }
  if (!cfg->notify_consume) {
    op_log_info("notify", "--no-consume: serving SSE from Redis, not consuming %s", TOPIC);
    return nt;
  }
  nt->dlq = op_producer_new(cfg, brokers, errbuf, errlen);
  if (nt->dlq == NULL) {
    op_notify_free(nt);
    return NULL;
  }
  static const char *const topics[] = {TOPIC, NULL};
  op_consumer_opts_t opts = {.group_id = OP_NOTIFY_GROUP,
                             .topics = topics,
                             .batch_size = batch,
                             .on_batch = on_batch,
                             .on_idle = on_idle,
                             .ud = nt};
  nt->consumer = op_consumer_new(cfg, brokers, &opts, errbuf, errlen);
  if (nt->consumer == NULL ||
      (nt->relay = op_notify_relay_new(cfg, brokers, errbuf, errlen)) == NULL ||
      (nt->mail = op_mail_new(cfg, nt->relay, errbuf, errlen)) == NULL) {
    op_notify_free(nt);
    return NULL;
  }
  static const char *const types[] = {"order_created", "order_paid", "order_status_updated"};
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
    consumed_counter(types[i]);
  nt->m_consumed_invalid = consumed_counter("invalid");
  nt->m_stored =
      op_counter("orderpulse_events_stored_total", "Events stored for the first time", NULL);
  nt->m_duplicate = op_counter("orderpulse_events_duplicate_total",
                               "Redelivered events recognised by event_id and skipped", NULL);
  for (size_t i = 0; i < op_contract_reasons_len; i++) {
    char labels[96];
    snprintf(labels, sizeof labels, "reason=\"%s\"", op_contract_reasons[i]);
    op_counter("orderpulse_events_dead_lettered_total", "Messages sent to a dead-letter topic",
               labels);
  }
  nt->last_purge_ns = op_mono_ns() - PURGE_EVERY_NS; /* purge once at start-up */
  return nt;
}

static void *consumer_main(void *arg) {
  op_notify_t *nt = arg;
  if (op_consumer_run(nt->consumer) != 0)
    atomic_store(&nt->failed, 1);
  return NULL;
}

int op_notify_start(op_notify_t *nt) {
  if (nt->consumer == NULL)
    return 0; /* --no-consume: no consumer, and no sender or relay either */
  if (op_notify_relay_start(nt->relay) != 0 || op_mail_start(nt->mail) != 0 ||
      pthread_create(&nt->thread, NULL, consumer_main, nt) != 0)
    return OP_ENOMEM;
  nt->started = 1;
  return 0;
}

int op_notify_failed(op_notify_t *nt) {
  return atomic_load(&nt->failed);
}

void op_notify_stop(op_notify_t *nt) {
  if (!nt->started)
    return;
  op_consumer_stop(nt->consumer);
  pthread_join(nt->thread, NULL);
  op_mail_stop(nt->mail);
  nt->started = 0;
}

void op_notify_free(op_notify_t *nt) {
  if (nt == NULL)
    return;
  op_notify_stop(nt);
  op_consumer_free(nt->consumer);
  op_mail_free(nt->mail);
  op_notify_relay_free(nt->relay); /* after the consumer and the sender: a last pass */
  op_producer_free(nt->dlq);
  op_live_free(nt->live);
  op_people_free(nt->people);
  op_recipients_clear(&nt->recipients);
  free(nt->recipients.pending);
  if (nt->store)
    op_store_close(nt->store);
  free(nt->events);
  free(nt->results);
  free(nt->traces);
  free(nt->invalid);
  free(nt->errors);
  free(nt);
}

static int service_check(const op_config_t *cfg, char *errbuf, size_t errlen) {
  if (cfg->jwt_secret[0] == '\0') {
    snprintf(errbuf, errlen, "JWT_SECRET: must be set (it verifies the SSE access tokens)");
    return OP_ECONFIG;
  }
  if (strlen(cfg->jwt_secret) < 16) {
    snprintf(errbuf, errlen, "JWT_SECRET: must be at least 16 bytes long");
    return OP_ECONFIG;
  }
  op_bus_url_t url;
  if (cfg->redis_url[0] && op_bus_parse_url(cfg->redis_url, &url, errbuf, errlen) != 0)
    return OP_ECONFIG;
  if (!cfg->notify_consume && !cfg->redis_url[0]) {
    snprintf(errbuf, errlen,
             "--no-consume (NOTIFY_CONSUME=0) needs REDIS_URL: without Redis an "
             "instance that does not consume has nothing to serve");
    return OP_ECONFIG;
  }
  op_role_map_t map;
  return op_role_map_parse(cfg->notify_recipient_roles, &map, errbuf, errlen);
}

static void *service_create(const op_config_t *cfg, const char *brokers, op_http_router_t *router,
                            char *errbuf, size_t errlen) {
  return op_notify_new(cfg, brokers, router, errbuf, errlen);
}

static int service_attach(void *svc, op_http_server_t *server) {
  return op_live_attach(((op_notify_t *)svc)->live, server);
}

static int service_start(void *svc) {
  return op_notify_start(svc);
}

static int service_failed(void *svc) {
  return op_notify_failed(svc);
}

static void service_destroy(void *svc) {
  op_notify_free(svc);
}

const op_service_t op_notify_service = {"notify",       service_check, service_create,
                                        service_attach, service_start, service_failed,
                                        service_destroy};
