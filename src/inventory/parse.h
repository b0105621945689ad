/*
 * The inventory service's pure parsing: the two Kafka contracts it reads
 * besides orders.events (orders.created, payments.completed), and the stock
 * files of `orderpulse inventory seed`.
 *
 * contracts/orders.created.schema.json and payments.completed.schema.json
 * are the source of truth; these validators follow them field by field and
 * tests/unit/inventory/test_parse.c runs them over every sample of
 * tests/contracts/samples/<topic>/. The document rules (strict JSON, no
 * duplicate member names, at most OP_CONTRACT_MAX_BYTES) and the reason
 * tokens are those of src/contracts/validate.h, plus a few of our own:
 * invalid_qty, invalid_state, invalid_reason, invalid_trace_id.
 *
 * Thread-safety: every function may run on any thread; nothing is shared.
 */
#ifndef OP_INVENTORY_PARSE_H
#define OP_INVENTORY_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "contracts/validate.h"

#define OP_INV_QTY_MAX 1000000000LL /* the largest stock quantity accepted anywhere */

typedef struct op_inv_item_s {
  const char *sku;
  int64_t qty; /* summed over the order's line items of this sku */
} op_inv_item_t;

/* A valid orders.created message. Strings are borrowed from doc. */
typedef struct op_inv_order_s {
  const char *order_id;
  const char *tenant_id;
  const char *trace_id; /* optional: NULL when absent */
  op_inv_item_t *items; /* one per distinct sku, sorted by sku (owned) */
  size_t nitems;
  void *doc; /* the json_t * that owns the strings */
} op_inv_order_t;

/* A valid payments.completed message. Strings are borrowed from doc. */
typedef struct op_inv_payment_s {
  const char *order_id;
  const char *tenant_id;
  const char *payment_id;
  const char *trace_id;
  int succeeded; /* 1: state "succeeded", 0: "failed" */
  void *doc;
} op_inv_payment_t;

/* Parse and validate len bytes at data. 0 with out filled (release with the
 * matching _clear), or OP_EINVAL with *err filled and out zeroed. */
int op_inv_parse_order_created(const char *data, size_t len, op_inv_order_t *out,
                               op_contract_error_t *err);
void op_inv_order_clear(op_inv_order_t *order);

int op_inv_parse_payment(const char *data, size_t len, op_inv_payment_t *out,
                         op_contract_error_t *err);
void op_inv_payment_clear(op_inv_payment_t *payment);

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
