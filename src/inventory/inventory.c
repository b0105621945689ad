/*
 * The inventory service's consumer half and its wiring (see inventory.h).
 *
 * One transaction per message rather than per batch: a reservation holds its
 * stock rows' locks only for its own statements, so several instances (or
 * connections) contend on a hot sku for milliseconds, and a conflict retries
 * one message's worth of work. A failing message makes the whole batch be
 * handed again; the messages before it are then recognised by their dedupe
 * records and re-emit their stored records.
 */
#include "inventory/inventory.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contracts/messages.h"
#include "contracts/validate.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/health.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/trace.h"
#include "inventory/api.h"
#include "inventory/apply.h"
#include "inventory/parse.h"
#include "kafka/kafka.h"
#include "store/store.h"

#define OUT_TOPIC "inventory.updated"
#define HEALTH_PROBE_NS (2ull * 1000000000ull)

struct op_inventory_s {
  const op_config_t *cfg;
  op_store_t *store; /* the consumer thread's */
  op_consumer_t *consumer;
  op_producer_t *producer; /* inventory.updated and the DLQs */
  op_inv_api_t *api;
  pthread_t thread;
  int started;
  atomic_int failed;
  op_inv_out_t out;
  uint64_t last_probe_ns;
  op_metric_t *m_reserved, *m_released, *m_oos, *m_orders_oos;
};

static void set_db_health(op_inventory_t *inv, int rc) {
  if (rc == 0)
    op_health_set("database", OP_HEALTH_OK, op_store_backend(inv->store));
  else
    op_health_set("database", OP_HEALTH_DOWN, op_strerror(rc));
}

/* The trace of the cause: the traceparent header, else the message's own
 * trace_id field, else a new trace (the contract requires one). */
static void cause_trace(const rd_kafka_message_t *msg, const char *field, char *out) {
  if (op_kafka_trace_id(msg, out, OP_TRACE_ID_LEN + 1) == 0)
    return;
  if (field) {
    snprintf(out, OP_TRACE_ID_LEN + 1, "%s", field);
    return;
  }
  op_trace_new_id(out);
}

/* Queues the records of one message. */
static int produce(op_inventory_t *inv) {
  for (size_t i = 0; i < inv->out.n; i++) {
    op_inv_emit_t *e = &inv->out.v[i];
    char tp[OP_TRACEPARENT_LEN + 1];
    const char *headers[] = {"traceparent", op_traceparent(e->trace_id, tp), NULL};
    int rc = op_producer_send(inv->producer, OUT_TOPIC, RD_KAFKA_PARTITION_UA, e->sku,
                              strlen(e->sku), e->payload, strlen(e->payload), headers);
    if (rc)
      return rc;
  }
  if (!inv->out.duplicate) {
    op_counter_add(inv->m_reserved, (uint64_t)inv->out.reserved);
    op_counter_add(inv->m_released, (uint64_t)inv->out.released);
    op_counter_add(inv->m_oos, (uint64_t)inv->out.out_of_stock);
    op_counter_add(inv->m_orders_oos, (uint64_t)inv->out.orders_out_of_stock);
  }
  return 0;
}

/* Validates and applies one message. Returns 0 (applied, ignored or
 * dead-lettered) or an error that makes the batch be handed again. */
static int handle(op_inventory_t *inv, rd_kafka_message_t *msg) {
  const char *topic = rd_kafka_topic_name(msg->rkt);
  const char *data = msg->payload;
  op_contract_error_t err = {0};
  char trace[OP_TRACE_ID_LEN + 1];
  int64_t now = op_now_ms();
  int rc = 0;
  op_inv_out_reset(&inv->out);
  if (strcmp(topic, "orders.created") == 0) {
    op_inv_order_t order;
    if (op_inv_parse_order_created(data, msg->len, &order, &err) != 0)
      return op_dlq_send(inv->producer, msg, err.reason, err.message);
    cause_trace(msg, order.trace_id, trace);
    rc = op_inv_apply_order(inv->store, &order, trace, now, &inv->out);
    op_inv_order_clear(&order);
  } else if (strcmp(topic, "payments.completed") == 0) {
    op_payment_completed_t pay;
    if (op_contract_parse_payment_completed(data, msg->len, &pay, &err) != 0)
      return op_dlq_send(inv->producer, msg, err.reason, err.message);
    cause_trace(msg, pay.trace_id, trace);
    rc = op_inv_apply_payment(inv->store, &pay, trace, now, &inv->out);
    op_payment_completed_clear(&pay);
  } else {
    op_order_event_t ev;
    if (op_contract_parse_order_event(data, msg->len, &ev, &err) != 0)
      return op_dlq_send(inv->producer, msg, err.reason, err.message);
    if (strcmp(ev.event_type, "order_status_updated") == 0 && strcmp(ev.status, "cancelled") == 0) {
      cause_trace(msg, NULL, trace);
      rc = op_inv_apply_cancel(inv->store, &ev, trace, now, &inv->out);
    }
    op_order_event_clear(&ev);
  }
  if (rc) {
    op_log(OP_LOG_ERROR, "inventory", trace, "applying a %s message failed: %s: %s", topic,
           op_strerror(rc), op_store_errmsg(inv->store));
    return rc;
  }
  return produce(inv);
}

/* The batch handler (op_batch_cb): apply each message, then flush what was
 * produced; the consumer commits the offsets only when this returns 0. */
static int on_batch(rd_kafka_message_t **msgs, size_t n, void *ud) {
  op_inventory_t *inv = ud;
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < n; i++)
    rc = handle(inv, msgs[i]);
  set_db_health(inv, rc == OP_EDBDOWN ? rc : 0);
  int flushed = op_producer_flush(inv->producer, 10000);
  return rc ? rc : flushed;
}

static void on_idle(void *ud) {
  op_inventory_t *inv = ud;
  uint64_t now = op_mono_ns();
  if (now - inv->last_probe_ns >= HEALTH_PROBE_NS) {
    inv->last_probe_ns = now;
    set_db_health(inv, op_store_exec(inv->store, "SELECT 1", 0, NULL, NULL));
  }
}

static void register_metrics(op_inventory_t *inv) {
  const char *help = "inventory.updated records emitted, by state";
  inv->m_reserved =
      op_counter("orderpulse_inventory_reservations_total", help, "state=\"reserved\"");
  inv->m_released =
      op_counter("orderpulse_inventory_reservations_total", help, "state=\"released\"");
  inv->m_oos =
      op_counter("orderpulse_inventory_reservations_total", help, "state=\"out_of_stock\"");
  inv->m_orders_oos = op_counter("orderpulse_inventory_out_of_stock_total",
                                 "Paid orders that could not be reserved (a sku was short)", NULL);
}

op_inventory_t *op_inventory_new(const op_config_t *cfg, const char *brokers,
                                 op_http_router_t *router, char *errbuf, size_t errlen) {
  op_inventory_t *inv = calloc(1, sizeof *inv);
  if (inv == NULL) {
    snprintf(errbuf, errlen, "out of memory");
    return NULL;
  }
  inv->cfg = cfg;
  op_health_register("database", 1);
  inv->store = op_store_open(cfg->database_url, errbuf, errlen);
  if (inv->store == NULL || op_store_migrate(inv->store, errbuf, errlen) != 0 ||
      (inv->api = op_inv_api_new(cfg, router, errbuf, errlen)) == NULL ||
      (inv->producer = op_producer_new(cfg, brokers, errbuf, errlen)) == NULL) {
    op_inventory_free(inv);
    return NULL;
  }
  set_db_health(inv, 0);
  static const char *const topics[] = {"orders.created", "payments.completed", "orders.events",
                                       NULL};
  op_consumer_opts_t opts = {.group_id = OP_INVENTORY_GROUP,
                             .topics = topics,
                             .batch_size = (size_t)cfg->consumer_batch_size,
                             .on_batch = on_batch,
                             .on_idle = on_idle,
                             .ud = inv};
  inv->consumer = op_consumer_new(cfg, brokers, &opts, errbuf, errlen);
  if (inv->consumer == NULL) {
    op_inventory_free(inv);
    return NULL;
  }
  register_metrics(inv);
  return inv;
}

static void *consumer_main(void *arg) {
  op_inventory_t *inv = arg;
  if (op_consumer_run(inv->consumer) != 0)
    atomic_store(&inv->failed, 1);
  return NULL;
}

int op_inventory_start(op_inventory_t *inv) {
  if (pthread_create(&inv->thread, NULL, consumer_main, inv) != 0)
    return OP_ENOMEM;
  inv->started = 1;
  return 0;
}

int op_inventory_failed(op_inventory_t *inv) {
  return atomic_load(&inv->failed);
}

void op_inventory_free(op_inventory_t *inv) {
  if (inv == NULL)
    return;
  if (inv->started) {
    op_consumer_stop(inv->consumer);
    pthread_join(inv->thread, NULL);
  }
  op_consumer_free(inv->consumer);
  if (inv->producer)
    op_producer_flush(inv->producer, 5000);
  op_producer_free(inv->producer);
  op_inv_api_free(inv->api);
  op_store_close(inv->store);
  op_inv_out_free(&inv->out);
  free(inv);
}

static int service_check(const op_config_t *cfg, char *errbuf, size_t errlen) {
  if (strlen(cfg->jwt_secret) < 16) {
    snprintf(errbuf, errlen,
             "JWT_SECRET: must be set, at least 16 bytes (it verifies the API's access tokens)");
    return OP_ECONFIG;
  }
  return 0;
}

static void *service_create(const op_config_t *cfg, const char *brokers, op_http_router_t *router,
                            char *errbuf, size_t errlen) {
  return op_inventory_new(cfg, brokers, router, errbuf, errlen);
}

static int service_start(void *svc) {
  return op_inventory_start(svc);
}

static int service_failed(void *svc) {
  return op_inventory_failed(svc);
}

static void service_destroy(void *svc) {
  op_inventory_free(svc);
}

const op_service_t op_inventory_service = {"inventory",   service_check,  service_create, NULL,
                                           service_start, service_failed, service_destroy};
