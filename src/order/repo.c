/* The order table: read one, list a tenant's, insert, and the API shape. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "order/internal.h"

#define COLS                                                                                       \
  "seq, order_id, tenant_id, user_id, status, currency, total_amount, reference, line_items,"      \
  " sku_count, created_at, updated_at"

static int64_t int_at(const op_rows_t *rows, size_t i, int col) {
  int64_t v = 0;
  op_rows_get_int64(rows, i, col, &v);
  return v;
}

void op_order_repo_row(const op_rows_t *rows, size_t i, op_order_row_t *row) {
  row->seq = int_at(rows, i, 0);
  row->order_id = op_rows_get(rows, i, 1);
  row->tenant_id = op_rows_get(rows, i, 2);
  row->user_id = op_rows_get(rows, i, 3);
  row->status = op_rows_get(rows, i, 4);
  row->currency = op_rows_get(rows, i, 5);
  row->total_amount = op_rows_get(rows, i, 6);
  row->reference = op_rows_get(rows, i, 7);
  row->line_items = op_rows_get(rows, i, 8);
  row->sku_count = int_at(rows, i, 9);
  row->created_at = int_at(rows, i, 10);
  row->updated_at = int_at(rows, i, 11);
}

int op_order_repo_get(op_store_t *st, const char *order_id, const char *tenant_id, op_rows_t **rows,
                      op_order_row_t *row) {
  const char *params[] = {order_id, tenant_id};
  int rc = tenant_id ? op_store_exec(st,
                                     "SELECT " COLS " FROM order_orders"
                                     " WHERE order_id = $1 AND tenant_id = $2",
                                     2, params, rows)
                     : op_store_exec(st, "SELECT " COLS " FROM order_orders WHERE order_id = $1", 1,
                                     params, rows);
  if (rc != 0)
    return rc;
  if (op_rows_count(*rows) == 0) {
    op_rows_free(*rows);
    *rows = NULL;
    return OP_ENOENT;
  }
  op_order_repo_row(*rows, 0, row);
  return 0;
}

int op_order_repo_list(op_store_t *st, const char *tenant_id, const char *status, int64_t before,
                       int limit, op_rows_t **rows) {
  char before_s[24], limit_s[16];
  snprintf(before_s, sizeof before_s, "%" PRId64, before > 0 ? before : INT64_MAX);
  snprintf(limit_s, sizeof limit_s, "%d", limit);
  if (status) {
    const char *params[] = {tenant_id, before_s, limit_s, status};
    return op_store_exec(st,
                         "SELECT " COLS " FROM order_orders WHERE tenant_id = $1 AND status = $4"
                         " AND seq < $2 ORDER BY seq DESC LIMIT $3",
                         4, params, rows);
  }
  const char *params[] = {tenant_id, before_s, limit_s};
  return op_store_exec(st,
                       "SELECT " COLS " FROM order_orders WHERE tenant_id = $1 AND seq < $2"
                       " ORDER BY seq DESC LIMIT $3",
                       3, params, rows);
}

int op_order_repo_insert(op_store_t *st, const op_order_row_t *row) {
  char skus[24], created[24];
  snprintf(skus, sizeof skus, "%" PRId64, row->sku_count);
  snprintf(created, sizeof created, "%" PRId64, row->created_at);
  const char *params[] = {
      row->order_id,     row->tenant_id, row->user_id,    row->status, row->currency,
      row->total_amount, row->reference, row->line_items, skus,        created};
  return op_store_exec(st,
                       "INSERT INTO order_orders (order_id, tenant_id, user_id, status, currency,"
                       " total_amount, reference, line_items, sku_count, created_at, updated_at)"
                       " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
                       10, params, NULL);
}

json_t *op_order_repo_json(const op_order_row_t *row) {
  char created[OP_ISO8601_LEN], updated[OP_ISO8601_LEN];
  json_t *items = json_loads(row->line_items, 0, NULL);
  if (items == NULL)
    return NULL;
  return json_pack(
      "{s:s, s:s, s:s, s:s, s:o, s:o, s:s, s:s}", "order_id", row->order_id, "status", row->status,
      "total_amount", row->total_amount, "currency", row->currency, "line_items", items,
      "reference", row->reference ? json_string(row->reference) : json_null(), "created_at",
      op_iso8601(row->created_at, created), "updated_at", op_iso8601(row->updated_at, updated));
}
