/*
 * The consumer half: payments.completed and inventory.updated drive the
 * state machine (rules.c, docs/services/order.md). One polled batch is one
 * transaction: for each message, record its dedupe key (payment: order_id +
 * state; inventory: reservation_id + sku + state) with ON CONFLICT DO
 * NOTHING — a redelivered message inserts nothing and changes nothing — then
 * apply the transition and write its outbox rows. After the commit the relay
 * is woken, unreadable messages go to <topic>.dlq, and only then are the
 * offsets committed. A batch that fails is rolled back and handed again.
 *
 * Inventory records that arrive before the payment are stored and applied
 * when the payment makes the order paid. Records for an order in any other
 * state (cancelled, payment_failed, a second outcome) are recorded and change
 * nothing.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contracts/messages.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/health.h"
#include "core/log.h"
#include "order/internal.h"

/* One message the batch could not apply: it goes to the DLQ. */
typedef struct dead_s {
  size_t index;
  op_contract_error_t err;
} dead_t;

static int set_dead(dead_t *dead, size_t index, const char *reason, const char *fmt,
                    const char *arg) {
  dead->index = index;
  dead->err.reason = reason;
  snprintf(dead->err.message, sizeof dead->err.message, fmt, arg);
  return 1;
}

static int64_t count(op_store_t *st, const char *sql, const char *order_id, int *rc) {
  op_rows_t *rows = NULL;
  int64_t n = 0;
  const char *params[] = {order_id};
  if (*rc == 0 && (*rc = op_store_exec(st, sql, 1, params, &rows)) == 0)
    op_rows_get_int64(rows, 0, 0, &n);
  op_rows_free(rows);
  return n;
}

/* A paid order becomes reserved or out_of_stock once its records say so. */
static int apply_stock(op_order_tx_t *tx, op_order_row_t *row) {
  int rc = 0;
  int64_t reserved = count(tx->store,
                           "SELECT COUNT(DISTINCT sku) FROM order_stock"
                           " WHERE order_id = $1 AND state = 'reserved'",
                           row->order_id, &rc);
  int64_t oos = count(tx->store,
                      "SELECT COUNT(*) FROM order_stock WHERE order_id = $1"
                      " AND state = 'out_of_stock'",
                      row->order_id, &rc);
  const char *to =
      rc == 0 ? op_order_after_stock(row->status, row->sku_count, reserved, oos) : NULL;
  return to ? op_order_transition(tx, row, to) : rc;
}

/* Reads the order a message is about; 1 with dead filled when the message
 * names no order of its tenant. */
static int load_order(op_order_tx_t *tx, const char *order_id, const char *tenant_id,
                      op_rows_t **rows, op_order_row_t *row, size_t index, dead_t *dead, int *rc) {
  *rc = op_order_repo_get(tx->store, order_id, NULL, rows, row);
  if (*rc == OP_ENOENT) {
    *rc = 0;
    return set_dead(dead, index, "unknown_order", "order_id %.200s is not a stored order",
                    order_id);
  }
  if (*rc == 0 && strcmp(row->tenant_id, tenant_id) != 0)
    return set_dead(dead, index, "tenant_mismatch", "tenant_id is not the tenant of order %.200s",
                    order_id);
  return 0;
}

static int apply_payment(op_order_t *svc, op_order_tx_t *tx, const op_payment_completed_t *p,
                         size_t index, dead_t *dead, int *is_dead) {
  op_rows_t *rows = NULL;
  op_order_row_t row;
  int rc;
  *is_dead = load_order(tx, p->order_id, p->tenant_id, &rows, &row, index, dead, &rc);
  if (rc != 0 || *is_dead) {
    op_rows_free(rows);
    return rc;
  }
  char now[24];
  snprintf(now, sizeof now, "%" PRId64, tx->now_ms);
  const char *params[] = {p->order_id, p->state, p->payment_id, now};
  rc = op_store_exec(tx->store,
                     "INSERT INTO order_payments (order_id, state, payment_id, received_at)"
                     " VALUES ($1, $2, $3, $4) ON CONFLICT (order_id, state) DO NOTHING",
                     4, params, NULL);
  if (rc == 0 && op_store_changes(tx->store) == 0) {
    op_counter_add(svc->m_duplicates, 1);
  } else if (rc == 0) {
    const char *to = op_order_after_payment(row.status, p->succeeded);
    if (to == NULL) {
      op_log(OP_LOG_INFO, "order", tx->trace_id,
             "payment %s (%s) for order %s in status %s: no change", p->payment_id, p->state,
             p->order_id, row.status);
    } else {
      rc = op_order_transition(tx, &row, to);
      if (rc == 0 && strcmp(to, "paid") == 0)
        rc = apply_stock(tx, &row);
    }
  }
  op_rows_free(rows);
  return rc;
}

static int apply_stock_record(op_order_t *svc, op_order_tx_t *tx, const op_inventory_updated_t *s,
                              size_t index, dead_t *dead, int *is_dead) {
  op_rows_t *rows = NULL;
  op_order_row_t row;
  int rc;
  *is_dead = load_order(tx, s->order_id, s->tenant_id, &rows, &row, index, dead, &rc);
  if (rc != 0 || *is_dead) {
    op_rows_free(rows);
    return rc;
  }
  char now[24];
  snprintf(now, sizeof now, "%" PRId64, tx->now_ms);
  const char *params[] = {s->reservation_id, s->sku, s->state, s->order_id, now};
  rc = op_store_exec(tx->store,
                     "INSERT INTO order_stock (reservation_id, sku, state, order_id, received_at)"
                     " VALUES ($1, $2, $3, $4, $5)"
                     " ON CONFLICT (reservation_id, sku, state) DO NOTHING",
                     5, params, NULL);
  if (rc == 0 && op_store_changes(tx->store) == 0)
    op_counter_add(svc->m_duplicates, 1);
  else if (rc == 0)
    rc = apply_stock(tx, &row);
  op_rows_free(rows);
  return rc;
}

/* Applies one message inside the batch's transaction. Returns 0 or OP_E*;
 * *is_dead when it goes to the DLQ instead. */
static int apply_message(op_order_t *svc, op_order_tx_t *tx, rd_kafka_message_t *msg, size_t index,
                         dead_t *dead, int *is_dead) {
  const char *topic = rd_kafka_topic_name(msg->rkt);
  char header_trace[OP_TRACE_ID_LEN + 1];
  int has_trace = op_kafka_trace_id(msg, header_trace, sizeof header_trace) == 0;
  *is_dead = 0;
  dead->index = index;
  if (strcmp(topic, TOPIC_PAYMENTS) == 0) {
    op_payment_completed_t p;
    if (op_contract_parse_payment_completed(msg->payload, msg->len, &p, &dead->err) != 0) {
      *is_dead = 1;
      return 0;
    }
    tx->trace_id = has_trace ? header_trace : p.trace_id;
    tx->actor = "payment";
    int rc = apply_payment(svc, tx, &p, index, dead, is_dead);
    op_payment_completed_clear(&p);
    return rc;
  }
  op_inventory_updated_t s;
  if (op_contract_parse_inventory_updated(msg->payload, msg->len, &s, &dead->err) != 0) {
    *is_dead = 1;
    return 0;
  }
  tx->trace_id = has_trace ? header_trace : s.trace_id;
  tx->actor = "inventory";
  int rc = apply_stock_record(svc, tx, &s, index, dead, is_dead);
  op_inventory_updated_clear(&s);
  return rc;
}

static void set_db_health(op_store_t *st, int rc) {
  if (rc == 0)
    op_health_set("database", OP_HEALTH_OK, op_store_backend(st));
  else if (rc == OP_EDBDOWN)
    op_health_set("database", OP_HEALTH_DOWN, op_strerror(rc));
}

int op_order_on_batch(rd_kafka_message_t **msgs, size_t n, void *ud) {
  op_order_t *svc = ud;
  dead_t *dead = calloc(n, sizeof *dead);
  if (dead == NULL)
    return OP_ENOMEM;
  size_t ndead = 0;
  op_order_tx_t tx = {.store = svc->store, .now_ms = op_now_ms()};
  int rc = op_store_begin(svc->store);
  for (size_t i = 0; rc == 0 && i < n; i++) {
    int is_dead = 0;
    /* The trace id copy lives in apply_message's frame; tx keeps no pointer
     * to it after the message is applied. */
    rc = apply_message(svc, &tx, msgs[i], i, &dead[ndead], &is_dead);
    tx.trace_id = NULL;
    ndead += is_dead && rc == 0;
  }
  if (rc == 0)
    rc = op_store_commit(svc->store);
  else
    op_store_rollback(svc->store);
  set_db_health(svc->store, rc);
  if (rc != 0) {
    op_log_error("order", "applying a batch of %zu messages failed: %s: %s", n, op_strerror(rc),
                 op_store_errmsg(svc->store));
    free(dead);
    return rc;
  }
  op_order_tx_count(&tx);
  if (tx.ntransitions)
    op_order_relay_wake(svc->relay);
  /* Redelivery after a DLQ failure applies nothing twice (dedupe), so the
   * whole batch may simply be handed again. */
  for (size_t i = 0; rc == 0 && i < ndead; i++) {
    op_counter_add(svc->m_consumed_invalid, 1);
    rc = op_dlq_send(svc->dlq, msgs[dead[i].index], dead[i].err.reason, dead[i].err.message);
  }
  if (rc == 0 && ndead)
    rc = op_producer_flush(svc->dlq, 10000);
  free(dead);
  return rc;
}
