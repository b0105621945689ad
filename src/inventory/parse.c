/*
 * orders.created as inventory keeps it (parse.h): the contract's validator,
 * then the line items summed per sku and sorted by sku, the order in which
 * the store locks stock rows, so that two reservations never deadlock.
 */
#include "inventory/parse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

static int item_cmp(const void *a, const void *b) {
  return strcmp(((const op_inv_item_t *)a)->sku, ((const op_inv_item_t *)b)->sku);
}

/* Sums created's line items per sku into out->items. Returns 0, OP_EINVAL
 * (invalid_qty: a sum beyond 64 bits) or OP_ENOMEM, with err filled. */
static int sum_items(const op_order_created_t *created, op_inv_order_t *out,
                     op_contract_error_t *err) {
  out->items = calloc(created->nitems, sizeof *out->items);
  if (out->items == NULL) {
    if (err != NULL)
      *err = (op_contract_error_t){.reason = "too_large", .message = "out of memory"};
    return OP_ENOMEM;
  }
  for (size_t i = 0; i < created->nitems; i++) {
    const op_line_item_t *line = &created->items[i];
    size_t k = 0;
    while (k < out->nitems && strcmp(out->items[k].sku, line->sku) != 0)
      k++;
    if (k == out->nitems)
      out->items[out->nitems++] = (op_inv_item_t){line->sku, 0};
    if (out->items[k].qty > INT64_MAX - line->qty) {
      if (err != NULL) {
        err->reason = "invalid_qty";
        snprintf(err->message, sizeof err->message,
                 "the quantities of one sku add up beyond 64 bits");
      }
      return OP_EINVAL;
    }
    out->items[k].qty += line->qty;
  }
  qsort(out->items, out->nitems, sizeof *out->items, item_cmp);
  return 0;
}

int op_inv_parse_order_created(const char *data, size_t len, op_inv_order_t *out,
                               op_contract_error_t *err) {
  memset(out, 0, sizeof *out);
  int rc = op_contract_parse_order_created(data, len, &out->created, err);
  if (rc != 0)
    return rc;
  rc = sum_items(&out->created, out, err);
  if (rc != 0) {
    op_inv_order_clear(out);
    return rc;
  }
  out->order_id = out->created.order_id;
  out->tenant_id = out->created.tenant_id;
  out->trace_id = out->created.trace_id;
  return 0;
}

void op_inv_order_clear(op_inv_order_t *order) {
  free(order->items);
  op_order_created_clear(&order->created);
  memset(order, 0, sizeof *order);
}
