/*
 * The transactional outbox writer: every change of an order writes the
 * messages that announce it into order_outbox in the transaction of the
 * change, so that an order is never stored without its events and no event
 * is published for an order that was not stored (the relay publishes only
 * committed rows). Each message is stored as the exact bytes to publish,
 * event ids included, so that a message published twice (a crash between
 * publish and delete) is the same message both times and consumers dedupe it
 * by its id.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/id.h"
#include "core/log.h"
#include "order/internal.h"

void op_order_new_id(char out[37]) {
  memcpy(out, "ord_", 4);
  op_random_hex(out + 4, 16);
}

/* Appends one message to the outbox; msg is borrowed. */
static int outbox_add(op_order_tx_t *tx, const char *topic, const char *key, const json_t *msg) {
  char *text = json_dumps(msg, JSON_COMPACT | JSON_PRESERVE_ORDER);
  if (text == NULL)
    return OP_ENOMEM;
  char traceparent[OP_TRACEPARENT_LEN + 1], now[24];
  op_traceparent(tx->trace_id, traceparent);
  snprintf(now, sizeof now, "%" PRId64, tx->now_ms);
  const char *params[] = {topic, key, text, traceparent, now};
  int rc =
      op_store_exec(tx->store,
                    "INSERT INTO order_outbox (topic, msg_key, payload, traceparent, created_at)"
                    " VALUES ($1, $2, $3, $4, $5)",
                    5, params, NULL);
  free(text);
  return rc;
}

static json_t *str_or_null(const char *s) {
  return s ? json_string(s) : json_null();
}

/* orders.events for `to` and its orders.audit record. */
static int emit_change(op_order_tx_t *tx, const op_order_row_t *row, const char *from,
                       const char *to) {
  char event_id[37], ts[OP_ISO8601_LEN];
  op_uuid_v7(event_id); /* time-ordered: see core/id.h */
  op_iso8601(tx->now_ms, ts);
  const char *type = strcmp(to, "created") == 0 ? "order_created"
                     : strcmp(to, "paid") == 0  ? "order_paid"
                                                : "order_status_updated";
  json_t *event = json_pack(
      "{s:s, s:s, s:s, s:s, s:s, s:i, s:{s:s, s:o, s:s, s:s, s:s}}", "event_id", event_id,
      "event_type", type, "order_id", row->order_id, "tenant_id", row->tenant_id, "timestamp", ts,
      "schema_version", 1, "payload", "status", to, "reference", str_or_null(row->reference),
      "total_amount", row->total_amount, "currency", row->currency, "user_id", row->user_id);
  json_t *audit = json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:s, s:s}", "order_id", row->order_id,
                            "tenant_id", row->tenant_id, "event_id", event_id, "action",
                            strcmp(to, "created") == 0 ? "created" : to, "from_status",
                            str_or_null(from), "to_status", to, "actor", tx->actor, "at", ts);
  if (audit && tx->trace_id)
    json_object_set_new(audit, "trace_id", json_string(tx->trace_id));
  int rc = event && audit ? 0 : OP_ENOMEM;
  if (rc == 0)
    rc = outbox_add(tx, TOPIC_EVENTS, row->order_id, event);
  if (rc == 0)
    rc = outbox_add(tx, TOPIC_AUDIT, row->order_id, audit);
  json_decref(event);
  json_decref(audit);
  return rc;
}

int op_order_emit_created(op_order_tx_t *tx, const op_order_row_t *row, const json_t *items) {
  char ts[OP_ISO8601_LEN];
  json_t *msg = json_pack("{s:s, s:s, s:s, s:O, s:s, s:s}", "order_id", row->order_id, "tenant_id",
                          row->tenant_id, "user_id", row->user_id, "line_items", items,
                          "total_amount", row->total_amount, "currency", row->currency);
  if (msg == NULL)
    return OP_ENOMEM;
  if (row->reference)
    json_object_set_new(msg, "reference", json_string(row->reference));
  json_object_set_new(msg, "created_at", json_string(op_iso8601(row->created_at, ts)));
  if (tx->trace_id)
    json_object_set_new(msg, "trace_id", json_string(tx->trace_id));
  int rc = outbox_add(tx, TOPIC_CREATED, row->order_id, msg);
  json_decref(msg);
  if (rc == 0)
    rc = emit_change(tx, row, NULL, "created");
  if (rc == 0)
    tx->created++;
  return rc;
}

static const char *const STATUSES[] = {"created",      "paid",      "payment_failed", "reserved",
                                       "out_of_stock", "cancelled", "fulfilled"};
#define NSTATUSES (sizeof STATUSES / sizeof STATUSES[0])

/* The index of a status in STATUSES (its static spelling, so that
 * row->status outlives the rows it was read from), or -1. */
static int status_index(const char *to) {
  for (size_t i = 0; i < NSTATUSES; i++)
    if (strcmp(STATUSES[i], to) == 0)
      return (int)i;
  return -1;
}

int op_order_transition(op_order_tx_t *tx, op_order_row_t *row, const char *to) {
  int idx = status_index(to);
  if (idx < 0)
    return OP_EINVAL;
  const char *status = STATUSES[idx];
  char now[24];
  snprintf(now, sizeof now, "%" PRId64, tx->now_ms);
  const char *params[] = {status, now, row->order_id, row->status};
  /* Conditional on the status read: a concurrent change makes this a no-op
   * (0 rows) instead of a lost update. On PostgreSQL the row lock it takes
   * also orders this transaction's outbox ids after those of the previous
   * change of the same order, which is what keeps per-order event order. */
  int rc = op_store_exec(tx->store,
                         "UPDATE order_orders SET status = $1, updated_at = $2"
                         " WHERE order_id = $3 AND status = $4",
                         4, params, NULL);
  if (rc != 0)
    return rc;
  if (op_store_changes(tx->store) != 1)
    return OP_ECONFLICT;
  const char *from = row->status;
  row->status = status;
  row->updated_at = tx->now_ms;
  rc = emit_change(tx, row, from, status);
  if (rc == 0) {
    tx->to[idx]++;
    tx->ntransitions++;
  }
  return rc;
}

void op_order_tx_count(const op_order_tx_t *tx) {
  if (tx->created)
    op_counter_add(op_counter("orderpulse_orders_created_total", "Orders stored", NULL),
                   (uint64_t)tx->created);
  for (size_t i = 0; i < NSTATUSES; i++) {
    if (tx->to[i] == 0)
      continue;
    char labels[64];
    snprintf(labels, sizeof labels, "to=\"%s\"", STATUSES[i]);
    op_counter_add(op_counter("orderpulse_order_transitions_total",
                              "Order status changes, by new status", labels),
                   tx->to[i]);
  }
}
