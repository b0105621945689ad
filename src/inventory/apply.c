/*
 * The inventory effects in one transaction per message; see apply.h for the
 * rules. An order's state in inventory_orders:
 *   pending           orders.created seen, no payment yet
 *   parked_succeeded  payment seen first (succeeded), waiting for the order
 *   parked_failed     payment seen first (failed)
 *   reserved | out_of_stock | failed | cancelled   final for the payment
 */
#include "inventory/apply.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/trace.h"

typedef struct ctx_s {
  op_store_t *store;
  const char *tenant, *order;
  const char *cause;
  const char *trace_id;
  int64_t now_ms;
  char now[24];
  op_inv_out_t *out;
  const void *msg; /* the parsed message, for the step */
} ctx_t;

void op_inv_out_reset(op_inv_out_t *out) {
  for (size_t i = 0; i < out->n; i++) {
    free(out->v[i].sku);
    free(out->v[i].payload);
  }
  out->n = 0;
  out->duplicate = out->reserved = out->released = out->out_of_stock = 0;
  out->orders_out_of_stock = 0;
}

void op_inv_out_free(op_inv_out_t *out) {
  op_inv_out_reset(out);
  free(out->v);
  out->v = NULL;
  out->cap = 0;
}

static int push(op_inv_out_t *out, const char *sku, const char *payload, const char *trace_id) {
  if (out->n == out->cap) {
    size_t cap = out->cap ? out->cap * 2 : 8;
    op_inv_emit_t *grown = realloc(out->v, cap * sizeof *grown);
    if (grown == NULL)
      return OP_ENOMEM;
    out->v = grown;
    out->cap = cap;
  }
  op_inv_emit_t *e = &out->v[out->n];
  e->sku = strdup(sku);
  e->payload = strdup(payload);
  snprintf(e->trace_id, sizeof e->trace_id, "%s", trace_id);
  if (e->sku == NULL || e->payload == NULL) {
    free(e->sku);
    free(e->payload);
    return OP_ENOMEM;
  }
  out->n++;
  return 0;
}

static int exec(ctx_t *c, const char *sql, int n, const char *const *params, op_rows_t **rows) {
  return op_store_exec(c->store, sql, n, params, rows);
}

static int available(ctx_t *c, const char *sku, int64_t *avail) {
  const char *p[] = {c->tenant, sku};
  op_rows_t *rows = NULL;
  int rc =
      exec(c, "SELECT on_hand - reserved FROM inventory_stock WHERE tenant_id = $1 AND sku = $2", 2,
           p, &rows);
  *avail = 0; /* an unknown sku has no stock */
  if (rc == 0 && op_rows_count(rows) == 1)
    rc = op_rows_get_int64(rows, 0, 0, avail);
  op_rows_free(rows);
  return rc;
}

/* Builds one inventory.updated record, stores it under the cause and queues
 * it in out. The contract: contracts/inventory.updated.schema.json. */
static int emit(ctx_t *c, const char *sku, const char *state, int64_t delta,
                const char *reservation_id) {
  int64_t avail;
  int rc = available(c, sku, &avail);
  if (rc)
    return rc;
  char at[OP_ISO8601_LEN];
  json_t *doc =
      json_pack("{s:s,s:s,s:s,s:I,s:s,s:s,s:s,s:s,s:I}", "sku", sku, "tenant_id", c->tenant,
                "order_id", c->order, "delta", (json_int_t)delta, "reservation_id", reservation_id,
                "state", state, "processed_at", op_iso8601(c->now_ms, at), "trace_id", c->trace_id,
                "available", (json_int_t)(avail < 0 ? 0 : avail));
  char *payload = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
  json_decref(doc);
  if (payload == NULL)
    return OP_ENOMEM;
  char seq[24];
  snprintf(seq, sizeof seq, "%zu", c->out->n);
  const char *p[] = {c->cause, seq, sku, c->trace_id, payload};
  rc = exec(c,
            "INSERT INTO inventory_emitted (cause, seq, sku, trace_id, payload) "
            "VALUES ($1, $2, $3, $4, $5)",
            5, p, NULL);
  if (rc == 0)
    rc = push(c->out, sku, payload, c->trace_id);
  free(payload);
  return rc;
}

static int get_state(ctx_t *c, char *state, size_t len) {
  const char *p[] = {c->tenant, c->order};
  op_rows_t *rows = NULL;
  int rc = exec(c, "SELECT state FROM inventory_orders WHERE tenant_id = $1 AND order_id = $2", 2,
                p, &rows);
  if (rc == 0 && op_rows_count(rows) == 0)
    rc = OP_ENOENT;
  if (rc == 0)
    snprintf(state, len, "%s", op_rows_get(rows, 0, 0));
  op_rows_free(rows);
  return rc;
}

static int set_state(ctx_t *c, const char *state) {
  const char *p[] = {c->tenant, c->order, state, c->now};
  return exec(c,
              "INSERT INTO inventory_orders (tenant_id, order_id, state, updated_at) "
              "VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id, order_id) "
              "DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
              4, p, NULL);
}

/* All or nothing: one conditional UPDATE per sku; if any sku is short, the
 * UPDATEs already made are undone in the same transaction (their rows are
 * still locked by it, so no other transaction saw them) and one out_of_stock
 * record per short sku is emitted. */
static int reserve(ctx_t *c) {
  const char *p[] = {c->tenant, c->order};
  op_rows_t *items = NULL;
  int rc = exec(c,
                "SELECT sku, qty FROM inventory_order_items WHERE tenant_id = $1 AND order_id = $2 "
                "ORDER BY sku",
                2, p, &items);
  if (rc)
    return rc;
  size_t n = op_rows_count(items);
  char *ok = calloc(n ? n : 1, 1);
  int short_skus = 0;
  if (ok == NULL)
    rc = OP_ENOMEM;
  for (size_t i = 0; rc == 0 && i < n; i++) {
    const char *q[] = {c->tenant, op_rows_get(items, i, 0), op_rows_get(items, i, 1), c->now};
    rc = exec(c,
              "UPDATE inventory_stock SET reserved = reserved + $3, updated_at = $4 "
              "WHERE tenant_id = $1 AND sku = $2 AND on_hand - reserved >= CAST($3 AS BIGINT)",
              4, q, NULL);
    ok[i] = rc == 0 && op_store_changes(c->store) == 1;
    short_skus += rc == 0 && !ok[i];
  }
  for (size_t i = 0; rc == 0 && short_skus && i < n; i++) {
    const char *sku = op_rows_get(items, i, 0);
    if (ok[i]) {
      const char *q[] = {c->tenant, sku, op_rows_get(items, i, 1), c->now};
      rc = exec(c,
                "UPDATE inventory_stock SET reserved = reserved - $3, updated_at = $4 "
                "WHERE tenant_id = $1 AND sku = $2",
                4, q, NULL);
      continue;
    }
    char rid[40] = "oos_";
    op_trace_new_id(rid + 4);
    rc = emit(c, sku, "out_of_stock", 0, rid);
    c->out->out_of_stock++;
  }
  for (size_t i = 0; rc == 0 && !short_skus && i < n; i++) {
    const char *sku = op_rows_get(items, i, 0);
    int64_t qty = 0;
    op_rows_get_int64(items, i, 1, &qty);
    char rid[40] = "res_";
    op_trace_new_id(rid + 4);
    const char *q[] = {c->tenant, c->order, sku, op_rows_get(items, i, 1), rid, c->now};
    rc = exec(c,
              "INSERT INTO inventory_reservations (tenant_id, order_id, sku, qty, reservation_id, "
              "state, updated_at) VALUES ($1, $2, $3, $4, $5, 'reserved', $6)",
              6, q, NULL);
    if (rc == 0)
      rc = emit(c, sku, "reserved", -qty, rid);
    c->out->reserved++;
  }
  free(ok);
  op_rows_free(items);
  if (rc == 0 && short_skus)
    c->out->orders_out_of_stock++;
  return rc ? rc : set_state(c, short_skus ? "out_of_stock" : "reserved");
}

/* Releases the order's live reservations: state released, delta +qty, the
 * reservation's own id. */
static int release(ctx_t *c) {
  const char *p[] = {c->tenant, c->order};
  op_rows_t *rows = NULL;
  int rc = exec(c,
                "SELECT sku, qty, reservation_id FROM inventory_reservations WHERE tenant_id = $1 "
                "AND order_id = $2 AND state = 'reserved' ORDER BY sku",
                2, p, &rows);
  for (size_t i = 0; rc == 0 && i < op_rows_count(rows); i++) {
    const char *sku = op_rows_get(rows, i, 0);
    int64_t qty = 0;
    op_rows_get_int64(rows, i, 1, &qty);
    const char *q[] = {c->tenant, sku, op_rows_get(rows, i, 1), c->now};
    rc = exec(c,
              "UPDATE inventory_stock SET reserved = reserved - $3, updated_at = $4 "
              "WHERE tenant_id = $1 AND sku = $2",
              4, q, NULL);
    const char *r[] = {c->tenant, c->order, sku, c->now};
    if (rc == 0)
      rc = exec(c,
                "UPDATE inventory_reservations SET state = 'released', updated_at = $4 "
                "WHERE tenant_id = $1 AND order_id = $2 AND sku = $3",
                4, r, NULL);
    if (rc == 0)
      rc = emit(c, sku, "released", qty, op_rows_get(rows, i, 2));
    c->out->released++;
  }
  op_rows_free(rows);
  return rc;
}

static int step_order(ctx_t *c) {
  const op_inv_order_t *order = c->msg;
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < order->nitems; i++) {
    char qty[24];
    snprintf(qty, sizeof qty, "%" PRId64, order->items[i].qty);
    const char *p[] = {c->tenant, c->order, order->items[i].sku, qty};
    rc = exec(c,
              "INSERT INTO inventory_order_items (tenant_id, order_id, sku, qty) "
              "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
              4, p, NULL);
  }
  char state[32];
  int st = rc ? rc : get_state(c, state, sizeof state);
  if (st == OP_ENOENT)
    return set_state(c, "pending");
  if (st)
    return st;
  if (strcmp(state, "parked_succeeded") == 0)
    return reserve(c);
  if (strcmp(state, "parked_failed") == 0)
    return set_state(c, "failed");
  return 0; /* cancelled before it was created: nothing to do */
}

static int step_payment(ctx_t *c) {
  const op_payment_completed_t *pay = c->msg;
  char state[32];
  int st = get_state(c, state, sizeof state);
  if (st == OP_ENOENT)
    return set_state(c, pay->succeeded ? "parked_succeeded" : "parked_failed");
  if (st)
    return st;
  if (strcmp(state, "pending") == 0)
    return pay->succeeded ? reserve(c) : set_state(c, "failed");
  if (strcmp(state, "reserved") == 0 && !pay->succeeded) {
    int rc = release(c); /* a contradicting outcome: nothing stays reserved */
    return rc ? rc : set_state(c, "failed");
  }
  return 0;
}

static int step_cancel(ctx_t *c) {
  char state[32];
  int st = get_state(c, state, sizeof state);
  if (st && st != OP_ENOENT)
    return st;
  if (st == 0 && strcmp(state, "cancelled") == 0)
    return 0;
  int rc = st == 0 && strcmp(state, "reserved") == 0 ? release(c) : 0;
  return rc ? rc : set_state(c, "cancelled");
}

/* Loads what cause emitted the first time. */
static int load_emitted(ctx_t *c) {
  const char *p[] = {c->cause};
  op_rows_t *rows = NULL;
  int rc =
      exec(c, "SELECT sku, payload, trace_id FROM inventory_emitted WHERE cause = $1 ORDER BY seq",
           1, p, &rows);
  for (size_t i = 0; rc == 0 && i < op_rows_count(rows); i++)
    rc = push(c->out, op_rows_get(rows, i, 0), op_rows_get(rows, i, 1), op_rows_get(rows, i, 2));
  op_rows_free(rows);
  return rc;
}

/* The frame of every effect: begin; claim the cause in inventory_processed
 * (a conflict means a redelivery: load its records instead); run the step;
 * commit. */
static int run(ctx_t *c, int (*step)(ctx_t *)) {
  snprintf(c->now, sizeof c->now, "%" PRId64, c->now_ms);
  op_inv_out_reset(c->out);
  int rc = op_store_begin(c->store);
  if (rc)
    return rc;
  const char *p[] = {c->cause, c->now};
  rc = exec(c,
            "INSERT INTO inventory_processed (cause, processed_at) VALUES ($1, $2) "
            "ON CONFLICT DO NOTHING",
            2, p, NULL);
  if (rc == 0 && op_store_changes(c->store) == 0) {
    c->out->duplicate = 1;
    rc = load_emitted(c);
  } else if (rc == 0) {
    rc = step(c);
  }
  if (rc == 0)
    rc = op_store_commit(c->store);
  if (rc) {
    op_store_rollback(c->store);
    op_inv_out_reset(c->out);
  }
  return rc;
}

/* Cause keys: one per message identity. orders.created and payments.completed
 * are one per order (flow items 1 and 2); orders.events by event_id. */
static char *cause_key(const char *topic, const char *a, const char *b) {
  size_t len = strlen(topic) + strlen(a) + (b ? strlen(b) : 0) + 3;
  char *key = malloc(len);
  if (key)
    snprintf(key, len, "%s|%s%s%s", topic, a, b ? "|" : "", b ? b : "");
  return key;
}

static int apply(op_store_t *store, const char *topic, const char *tenant, const char *order,
                 const char *id, const char *trace_id, int64_t now_ms, const void *msg,
                 int (*step)(ctx_t *), op_inv_out_t *out) {
  ctx_t c = {.store = store,
             .tenant = tenant,
             .order = order,
             .trace_id = trace_id,
             .now_ms = now_ms,
             .out = out,
             .msg = msg};
  char *cause = cause_key(topic, id ? id : tenant, id ? NULL : order);
  if (cause == NULL)
    return OP_ENOMEM;
  c.cause = cause;
  int rc = run(&c, step);
  free(cause);
  return rc;
}

int op_inv_apply_order(op_store_t *store, const op_inv_order_t *order, const char *trace_id,
                       int64_t now_ms, op_inv_out_t *out) {
  return apply(store, "orders.created", order->tenant_id, order->order_id, NULL, trace_id, now_ms,
               order, step_order, out);
}

int op_inv_apply_payment(op_store_t *store, const op_payment_completed_t *payment,
                         const char *trace_id, int64_t now_ms, op_inv_out_t *out) {
  return apply(store, "payments.completed", payment->tenant_id, payment->order_id, NULL, trace_id,
               now_ms, payment, step_payment, out);
}

int op_inv_apply_cancel(op_store_t *store, const op_order_event_t *ev, const char *trace_id,
                        int64_t now_ms, op_inv_out_t *out) {
  return apply(store, "orders.events", ev->tenant_id, ev->order_id, ev->event_id, trace_id, now_ms,
               ev, step_cancel, out);
}

int op_inv_stock_get(op_store_t *store, const char *tenant, const char *sku, int64_t *on_hand,
                     int64_t *reserved) {
  const char *p[] = {tenant, sku};
  op_rows_t *rows = NULL;
  int rc = op_store_exec(store,
                         "SELECT on_hand, reserved FROM inventory_stock WHERE tenant_id = $1 AND "
                         "sku = $2",
                         2, p, &rows);
  if (rc == 0 && op_rows_count(rows) == 0)
    rc = OP_ENOENT;
  if (rc == 0 &&
      (op_rows_get_int64(rows, 0, 0, on_hand) || op_rows_get_int64(rows, 0, 1, reserved)))
    rc = OP_EDB;
  op_rows_free(rows);
  return rc;
}

/* One upsert whose update only happens when the new on_hand still covers
 * what is reserved: atomic against a concurrent reservation. */
int op_inv_stock_set(op_store_t *store, const char *tenant, const char *sku, int64_t on_hand,
                     int64_t now_ms, int64_t *reserved) {
  char qty[24], now[24];
  snprintf(qty, sizeof qty, "%" PRId64, on_hand);
  snprintf(now, sizeof now, "%" PRId64, now_ms);
  const char *p[] = {tenant, sku, qty, now};
  int rc = op_store_exec(store,
                         "INSERT INTO inventory_stock (tenant_id, sku, on_hand, reserved, "
                         "updated_at) VALUES ($1, $2, $3, 0, $4) "
                         "ON CONFLICT (tenant_id, sku) DO UPDATE SET on_hand = excluded.on_hand, "
                         "updated_at = excluded.updated_at "
                         "WHERE inventory_stock.reserved <= excluded.on_hand",
                         4, p, NULL);
  if (rc || op_store_changes(store) == 1)
    return rc;
  int64_t have = 0;
  rc = op_inv_stock_get(store, tenant, sku, &have, reserved);
  return rc ? rc : OP_ECONFLICT;
}
