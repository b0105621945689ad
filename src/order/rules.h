/*
 * The order service's pure rules: what a POST /api/orders body must be and
 * the state machine of the agreed flow. The two topics the service consumes
 * (payments.completed, inventory.updated) are validated by the shared parsers
 * of contracts/messages.h. Nothing here touches the store, Kafka or HTTP, so
 * every rule has a unit test (tests/unit/order/).
 *
 * Thread-safety: every function may run on any thread; nothing is shared.
 */
#ifndef OP_ORDER_RULES_H
#define OP_ORDER_RULES_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/decimal.h"

#define OP_ORDER_MAX_ITEMS 100
#define OP_ORDER_MAX_QTY 10000
#define OP_ORDER_REFERENCE_MAX 256 /* characters */
#define OP_ORDER_IDEM_KEY_MAX 255  /* bytes of printable ASCII */

/* One line item of a valid request; strings borrowed from the request doc. */
typedef struct op_order_item_s {
  const char *sku;
  int64_t qty;
  const char *unit_price;
} op_order_item_t;

/* A valid POST /api/orders body. */
typedef struct op_order_req_s {
  op_order_item_t items[OP_ORDER_MAX_ITEMS];
  size_t nitems;
  size_t distinct_skus;
  const char *currency;
  const char *reference; /* NULL when absent or null */
  char total[OP_DEC_MAX_LEN];
} op_order_req_t;

/*
 * Checks a parsed request body (borrowed; out's strings point into it) and
 * fills out. Every broken rule appends {"field": name, "reason": text} to
 * fields (a JSON array the caller owns), so that a client learns all its
 * mistakes at once: unknown fields, wrong types, qty an integer 1..10000,
 * unit_price a decimal string >= 0, currency three capital letters, 1..100
 * line items, sku an id of 1..128 bytes, reference at most 256 characters,
 * and the total within the contract's decimal range. Returns 0 when valid,
 * OP_EINVAL otherwise.
 */
int op_order_req_check(const json_t *body, op_order_req_t *out, json_t *fields);

/* True when key is an acceptable Idempotency-Key: 1..255 printable ASCII. */
int op_order_idem_key_ok(const char *key);

/* ---- the state machine (docs/services/order.md) ------------------------ */

/* The status after a payment outcome in status, or NULL when the outcome
 * changes nothing (only a created order takes a payment). */
const char *op_order_after_payment(const char *status, int succeeded);

/* The status after the inventory records known for a paid order: skus is the
 * order's number of distinct skus, reserved the distinct skus with a
 * "reserved" record, out_of_stock the number of "out_of_stock" records.
 * NULL when nothing changes (not paid, or not complete yet). */
const char *op_order_after_stock(const char *status, int64_t skus, int64_t reserved,
                                 int64_t out_of_stock);

/* True when a client may cancel (created, paid, reserved) / fulfil (reserved). */
int op_order_can_cancel(const char *status);
int op_order_can_fulfill(const char *status);

/* True when s is one of the statuses above (for the list filter). */
int op_order_status_known(const char *s);

/* List cursors: the seq of the last order of a page, as 16 hex digits. */
void op_order_cursor_encode(int64_t seq, char out[17]);
int op_order_cursor_decode(const char *s, int64_t *seq);

#endif
