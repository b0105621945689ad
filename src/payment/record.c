#include "payment/record.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/id.h"

#define BACKOFF_BASE_MS 50
#define BACKOFF_CAP_MS 2000

#define COLUMNS                                                                                    \
  "order_id, tenant_id, payment_id, state, reason, amount, currency, processed_at, trace_id, "     \
  "attempts, next_attempt_at, emitted"

int op_payment_decided(const op_payment_t *p) {
  return strcmp(p->state, OP_PAYMENT_PENDING) != 0;
}

static void copy(char *dst, size_t size, const char *src) {
  snprintf(dst, size, "%s", src ? src : "");
}

static void read_row(const op_rows_t *rows, size_t r, op_payment_t *p) {
  memset(p, 0, sizeof *p);
  copy(p->order_id, sizeof p->order_id, op_rows_get(rows, r, 0));
  copy(p->tenant_id, sizeof p->tenant_id, op_rows_get(rows, r, 1));
  copy(p->payment_id, sizeof p->payment_id, op_rows_get(rows, r, 2));
  copy(p->state, sizeof p->state, op_rows_get(rows, r, 3));
  copy(p->reason, sizeof p->reason, op_rows_get(rows, r, 4));
  copy(p->amount, sizeof p->amount, op_rows_get(rows, r, 5));
  copy(p->currency, sizeof p->currency, op_rows_get(rows, r, 6));
  copy(p->processed_at, sizeof p->processed_at, op_rows_get(rows, r, 7));
  copy(p->trace_id, sizeof p->trace_id, op_rows_get(rows, r, 8));
  op_rows_get_int64(rows, r, 9, &p->attempts);
  op_rows_get_int64(rows, r, 10, &p->next_attempt_at);
  int64_t emitted = 0;
  op_rows_get_int64(rows, r, 11, &emitted);
  p->emitted = emitted != 0;
}

static int read_rows(op_store_t *store, const char *sql, int nparams, const char *const *params,
                     op_payment_t *out, size_t max, size_t *n) {
  op_rows_t *rows;
  *n = 0;
  int rc = op_store_exec(store, sql, nparams, params, &rows);
  if (rc)
    return rc;
  size_t count = op_rows_count(rows);
  for (size_t r = 0; r < count && r < max; r++)
    read_row(rows, r, &out[(*n)++]);
  op_rows_free(rows);
  return 0;
}

int op_payment_get(op_store_t *store, const char *order_id, op_payment_t *out) {
  const char *params[] = {order_id};
  size_t n;
  int rc = read_rows(store, "SELECT " COLUMNS " FROM payment_payments WHERE order_id = $1", 1,
                     params, out, 1, &n);
  return rc ? rc : n ? 0 : OP_ENOENT;
}

int op_payment_insert(op_store_t *store, const op_payment_t *p, int64_t now_ms, int *inserted) {
  char attempts[24], next[24], emitted[4], created[24];
  snprintf(attempts, sizeof attempts, "%lld", (long long)p->attempts);
  snprintf(next, sizeof next, "%lld", (long long)p->next_attempt_at);
  snprintf(emitted, sizeof emitted, "%d", p->emitted);
  snprintf(created, sizeof created, "%lld", (long long)now_ms);
  int decided = op_payment_decided(p);
  const char *params[] = {p->order_id,
                          p->tenant_id,
                          p->payment_id,
                          p->state,
                          p->reason[0] ? p->reason : NULL,
                          p->amount,
                          p->currency,
                          decided ? p->processed_at : NULL,
                          p->trace_id,
                          attempts,
                          decided ? NULL : next,
                          emitted,
                          created};
  int rc = op_store_exec(store,
                         "INSERT INTO payment_payments (" COLUMNS ", created_at) VALUES "
                         "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) "
                         "ON CONFLICT (order_id) DO NOTHING",
                         13, params, NULL);
  *inserted = rc == 0 && op_store_changes(store) > 0;
  return rc;
}

int op_payment_update(op_store_t *store, const op_payment_t *p, int64_t prev_attempts,
                      int *updated) {
  char attempts[24], next[24], prev[24];
  snprintf(attempts, sizeof attempts, "%lld", (long long)p->attempts);
  snprintf(next, sizeof next, "%lld", (long long)p->next_attempt_at);
  snprintf(prev, sizeof prev, "%lld", (long long)prev_attempts);
  int decided = op_payment_decided(p);
  const char *params[] = {p->order_id,
                          p->state,
                          p->reason[0] ? p->reason : NULL,
                          decided ? p->processed_at : NULL,
                          attempts,
                          decided ? NULL : next,
                          prev};
  int rc = op_store_exec(store,
                         "UPDATE payment_payments SET state = $2, reason = $3, processed_at = $4, "
                         "attempts = $5, next_attempt_at = $6, emitted = 0 "
                         "WHERE order_id = $1 AND state = 'pending' AND attempts = $7",
                         7, params, NULL);
  *updated = rc == 0 && op_store_changes(store) > 0;
  return rc;
}

int op_payment_due(op_store_t *store, int64_t now_ms, op_payment_t *out, size_t max, size_t *n) {
  char now[24], limit[24];
  snprintf(now, sizeof now, "%lld", (long long)now_ms);
  snprintf(limit, sizeof limit, "%zu", max);
  const char *params[] = {now, limit};
  return read_rows(store,
                   "SELECT " COLUMNS " FROM payment_payments WHERE state = 'pending' AND "
                   "next_attempt_at <= $1 ORDER BY next_attempt_at LIMIT $2",
                   2, params, out, max, n);
}

int op_payment_unemitted(op_store_t *store, op_payment_t *out, size_t max, size_t *n) {
  char limit[24];
  snprintf(limit, sizeof limit, "%zu", max);
  const char *params[] = {limit};
  return read_rows(store,
                   "SELECT " COLUMNS " FROM payment_payments WHERE emitted = 0 AND "
                   "state <> 'pending' ORDER BY order_id LIMIT $1",
                   1, params, out, max, n);
}

int op_payment_mark_emitted(op_store_t *store, const char *order_id) {
  const char *params[] = {order_id};
  return op_store_exec(store, "UPDATE payment_payments SET emitted = 1 WHERE order_id = $1", 1,
                       params, NULL);
}

char *op_payment_body(const op_payment_t *p) {
  json_t *obj = json_object();
  if (obj == NULL)
    return NULL;
  /* In the contract's order; jansson keeps insertion order. */
  json_object_set_new(obj, "order_id", json_string(p->order_id));
  json_object_set_new(obj, "tenant_id", json_string(p->tenant_id));
  json_object_set_new(obj, "payment_id", json_string(p->payment_id));
  json_object_set_new(obj, "state", json_string(p->state));
  if (p->reason[0])
    json_object_set_new(obj, "reason", json_string(p->reason));
  json_object_set_new(obj, "amount", json_string(p->amount));
  json_object_set_new(obj, "currency", json_string(p->currency));
  json_object_set_new(obj, "processed_at", json_string(p->processed_at));
  json_object_set_new(obj, "trace_id", json_string(p->trace_id));
  char *body = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(obj);
  return body;
}

int64_t op_payment_backoff_ms(int64_t attempt) {
  if (attempt < 1)
    attempt = 1;
  int64_t ms = BACKOFF_BASE_MS;
  for (int64_t i = 1; i < attempt && ms < BACKOFF_CAP_MS; i++)
    ms *= 2;
  return ms < BACKOFF_CAP_MS ? ms : BACKOFF_CAP_MS;
}

void op_payment_new_id(char *out) {
  op_uuid_v4(out);
}
