/*
 * The inventory service's effects, each applied to the store in ONE
 * transaction together with the dedupe record of the message that caused it
 * and the inventory.updated records it emits (so that a redelivery finds the
 * dedupe record and gets the same records back, same reservation_id, same
 * bytes). The caller produces the records after the commit.
 *
 * Stock rules (DESIGN flow item 3): a succeeded payment reserves every sku
 * of the order or none, each with a conditional UPDATE (`reserved = reserved
 * + q WHERE on_hand - reserved >= q`), skus in sorted order so that two
 * reservations lock rows in the same order and cannot deadlock. A payment
 * that arrives before its orders.created is parked in inventory_orders and
 * applied when the order arrives. A cancellation releases the reservations.
 *
 * Runs on: the consumer thread (one store handle per thread).
 */
#ifndef OP_INVENTORY_APPLY_H
#define OP_INVENTORY_APPLY_H

#include <stddef.h>
#include <stdint.h>

#include "core/event.h"
#include "inventory/parse.h"
#include "store/store.h"

/* One inventory.updated record to produce: key sku, value payload. */
typedef struct op_inv_emit_s {
  char *sku;
  char *payload;
  char trace_id[33];
} op_inv_emit_t;

/* What one message produced. duplicate: the message had been applied before
 * and v holds the records stored then. The counters are of new effects. */
typedef struct op_inv_out_s {
  op_inv_emit_t *v;
  size_t n, cap;
  int duplicate;
  int reserved, released, out_of_stock, orders_out_of_stock;
} op_inv_out_t;

void op_inv_out_reset(op_inv_out_t *out);
void op_inv_out_free(op_inv_out_t *out);

/* Each returns 0 (out filled) or an OP_E* store code with the transaction
 * rolled back and out reset. trace_id (32 hex digits) becomes the trace_id of
 * the records; now_ms their processed_at. */
int op_inv_apply_order(op_store_t *store, const op_inv_order_t *order, const char *trace_id,
                       int64_t now_ms, op_inv_out_t *out);
int op_inv_apply_payment(op_store_t *store, const op_payment_completed_t *payment,
                         const char *trace_id, int64_t now_ms, op_inv_out_t *out);
/* ev is an order_status_updated event with payload.status "cancelled". */
int op_inv_apply_cancel(op_store_t *store, const op_order_event_t *ev, const char *trace_id,
                        int64_t now_ms, op_inv_out_t *out);

/* ---- stock (HTTP and seed) ---------------------------------------------- */

/* Reads one sku's stock: 0, OP_ENOENT, or a store error. */
int op_inv_stock_get(op_store_t *store, const char *tenant, const char *sku, int64_t *on_hand,
                     int64_t *reserved);

/* Sets on_hand (creating the row), atomically refused when it would go below
 * what is reserved: OP_ECONFLICT with *reserved set. Does not begin a
 * transaction of its own (one statement). */
int op_inv_stock_set(op_store_t *store, const char *tenant, const char *sku, int64_t on_hand,
                     int64_t now_ms, int64_t *reserved);

#endif
