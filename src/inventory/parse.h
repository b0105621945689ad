/*
 * The inventory service's pure parsing: what it keeps of an orders.created
 * message (its line items summed per sku, in lock order), and the stock files
 * of `orderpulse inventory seed`.
 *
 * The Kafka contracts themselves are validated by src/contracts/ (orders.created
 * and payments.completed by contracts/messages.h, orders.events by
 * contracts/validate.h), with their reason tokens; this file adds only the
 * service's own check: the quantities of one sku must add up within 64 bits
 * (invalid_qty).
 *
 * Thread-safety: every function may run on any thread; nothing is shared.
 */
#ifndef OP_INVENTORY_PARSE_H
#define OP_INVENTORY_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "contracts/messages.h"

#define OP_INV_QTY_MAX 1000000000LL /* the largest stock quantity accepted anywhere */

typedef struct op_inv_item_s {
  const char *sku;
  int64_t qty; /* summed over the order's line items of this sku */
} op_inv_item_t;

/* A valid orders.created message as inventory uses it. Strings are borrowed
 * from created, which the order owns. */
typedef struct op_inv_order_s {
  const char *order_id;
  const char *tenant_id;
  const char *trace_id; /* optional: NULL when absent */
  op_inv_item_t *items; /* one per distinct sku, sorted by sku (owned) */
  size_t nitems;
  op_order_created_t created; /* the validated message */
} op_inv_order_t;

/* Validates len bytes at data as orders.created
 * (op_contract_parse_order_created), then sums its line items per sku. 0
 * with out filled (release with op_inv_order_clear), or OP_EINVAL (OP_ENOMEM)
 * with *err filled and out zeroed. */
int op_inv_parse_order_created(const char *data, size_t len, op_inv_order_t *out,
                               op_contract_error_t *err);
void op_inv_order_clear(op_inv_order_t *order);

/* ---- seed files ---------------------------------------------------------- */

typedef struct op_inv_seed_row_s {
  char tenant_id[129];
  char sku[129];
  int64_t quantity;
  int line; /* CSV: the line number; JSON: the entry's 1-based index */
} op_inv_seed_row_t;

typedef enum { OP_INV_SEED_AUTO = 0, OP_INV_SEED_CSV, OP_INV_SEED_JSON } op_inv_seed_format_t;

/* CSV when name ends in .csv, JSON when it ends in .json, otherwise by
 * content: JSON when the first non-blank byte is '['. */
op_inv_seed_format_t op_inv_seed_detect(const char *name, const char *data, size_t len);

/*
 * Parses a whole seed file. CSV: a header line `tenant_id,sku,quantity`, then
 * one row a line (blank lines skipped, fields trimmed, no quoting). JSON: an
 * array of objects with exactly tenant_id, sku and quantity. Ids are 1..128
 * bytes without control characters, quantity an integer 0..OP_INV_QTY_MAX,
 * each (tenant_id, sku) at most once. Returns 0 with *rows (caller frees)
 * and *nrows, or OP_EINVAL with one line in errbuf naming the line (or entry)
 * and the problem, or OP_ENOMEM.
 */
int op_inv_seed_parse(op_inv_seed_format_t format, const char *data, size_t len,
                      op_inv_seed_row_t **rows, size_t *nrows, char *errbuf, size_t errlen);

#endif
