/*
 * Inside the order service: the service struct the files share, the order
 * row, and the store operations (repo.c), the outbox writer (emit.c), the
 * relay (relay.c), the HTTP handlers (api.c) and the consumer (consume.c).
 * Only src/order/ includes this header.
 */
#ifndef OP_ORDER_INTERNAL_H
#define OP_ORDER_INTERNAL_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "contracts/validate.h"
#include "core/config.h"
#include "core/metrics.h"
#include "core/trace.h"
#include "http/http.h"
#include "kafka/kafka.h"
#include "order/rules.h"
#include "store/loops.h"
#include "store/store.h"

#define TOPIC_CREATED "orders.created"
#define TOPIC_EVENTS "orders.events"
#define TOPIC_AUDIT "orders.audit"
#define TOPIC_PAYMENTS "payments.completed"
#define TOPIC_STOCK "inventory.updated"

/* ---- the relay (relay.c) ----------------------------------------------- */

typedef struct op_order_relay_s op_order_relay_t;

/* Opens the relay's own store connection and producer. NULL + errbuf. */
op_order_relay_t *op_order_relay_new(const op_config_t *cfg, const char *brokers, char *errbuf,
                                     size_t errlen);
/* Starts the relay thread. Returns 0 or OP_ENOMEM. */
int op_order_relay_start(op_order_relay_t *relay);
/* Tells the relay that new outbox rows were committed. Runs on: any thread. */
void op_order_relay_wake(op_order_relay_t *relay);
/* Stops the thread after a last pass (what was committed is published when
 * the broker allows), flushes and frees. NULL is a no-op. */
void op_order_relay_free(op_order_relay_t *relay);

/* ---- the service ------------------------------------------------------- */

typedef struct op_order_s {
  const op_config_t *cfg;
  op_store_t *store; /* the consumer thread's connection */
  /* One connection per HTTP loop, opened by the loop on its first request and
   * touched by that loop only; closed in destroy, after the server stopped. */
  op_store_loops_t stores; /* one connection per HTTP loop (store/loops.h) */
  op_consumer_t *consumer;
  op_producer_t *dlq;
  op_order_relay_t *relay;
  pthread_t thread;
  int started;
  atomic_int failed;
  uint64_t last_probe_ns;
  op_metric_t *m_created;
  op_metric_t *m_consumed_invalid;
  op_metric_t *m_duplicates;
} op_order_t;

/* ---- one order row (repo.c) --------------------------------------------- */

/* Strings borrowed from the rows the row was read from. */
typedef struct op_order_row_s {
  int64_t seq;
  const char *order_id, *tenant_id, *user_id, *status, *currency, *total_amount, *reference,
      *line_items;
  int64_t sku_count, created_at, updated_at;
} op_order_row_t;

/* Reads order_id (of tenant_id, or of any tenant when tenant_id is NULL).
 * Returns 0 with *rows (caller frees) and row filled, OP_ENOENT, or OP_E*. */
int op_order_repo_get(op_store_t *st, const char *order_id, const char *tenant_id, op_rows_t **rows,
                      op_order_row_t *row);

/* Reads row i of rows from op_order_repo_get / _list. */
void op_order_repo_row(const op_rows_t *rows, size_t i, op_order_row_t *row);

/* A tenant's orders with seq < before (0: from the newest), newest first,
 * at most limit, optionally only of one status. Caller frees *rows. */
int op_order_repo_list(op_store_t *st, const char *tenant_id, const char *status, int64_t before,
                       int limit, op_rows_t **rows);

/* Inserts a new order row (inside a transaction). */
int op_order_repo_insert(op_store_t *st, const op_order_row_t *row);

/* The API representation of an order. NULL on allocation failure. */
json_t *op_order_repo_json(const op_order_row_t *row);

/* ---- what a transaction emits (emit.c) ---------------------------------- */

/* The context of one transaction that changes orders: its time, cause and
 * what it changed, counted into the metrics after the commit. */
typedef struct op_order_tx_s {
  op_store_t *store;
  int64_t now_ms;
  const char *trace_id; /* of the cause; NULL starts a new trace */
  const char *actor;    /* user id or service name */
  size_t ntransitions;
  uint64_t to[8]; /* transitions by status index (emit.c) */
  int created;
} op_order_tx_t;

/* Writes the outbox rows of a new order: orders.created, order_created on
 * orders.events, and its orders.audit record. items is the order's line
 * items array. Inside the transaction of the insert. */
int op_order_emit_created(op_order_tx_t *tx, const op_order_row_t *row, const json_t *items);

/* Moves row from its status to `to` if the stored status is still the same
 * (a conditional update) and writes orders.events + orders.audit to the
 * outbox. row->status becomes `to` (a static string). Returns 0, or
 * OP_ECONFLICT when the order changed meanwhile, or OP_E*. */
int op_order_transition(op_order_tx_t *tx, op_order_row_t *row, const char *to);

/* After the commit: counts the transitions and creations into the metrics. */
void op_order_tx_count(const op_order_tx_t *tx);

/* "ord_" + 32 random hex digits / a random UUID v4 (37 bytes). */
void op_order_new_id(char out[37]);

/* ---- HTTP (api.c) and consumer (consume.c) ------------------------------ */

int op_order_api_routes(op_order_t *svc, op_http_router_t *router);
int op_order_on_batch(rd_kafka_message_t **msgs, size_t n, void *ud);

#endif
