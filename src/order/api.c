/*
 * The REST endpoints of the order service. Every endpoint needs a verified
 * JWT; the tenant and the user come from it only.
 *
 * Limitation: the database work of a request runs on the HTTP loop that
 * serves it, on that loop's own store connection (opened on the loop's first
 * request), as notify's snapshot endpoint does. A slow database stalls that
 * loop's other connections for as long; a worker pool is the known next step.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "order/internal.h"

#define LIST_DEFAULT 50
#define LIST_MAX 200

/* The calling loop's store connection, opened on first use; NULL (and a 503
 * sent) when the database cannot be reached. Runs on: the loop owning req. */
static op_store_t *loop_store(op_order_t *svc, op_http_req_t *req) {
  unsigned i = op_http_loop_index(op_http_req_loop(req));
  char err[256];
  op_store_t *st = op_store_loops_get(&svc->stores, i, err, sizeof err);
  if (st == NULL) {
    op_log_error("order", "HTTP loop %u: %s", i, err);
    op_http_respond_error(req, 503, "unavailable", "the order store cannot be reached");
  }
  return st;
}

static void store_failed(op_http_req_t *req, op_store_t *st, int rc) {
  op_log_error("order", "store: %s: %s", op_strerror(rc), op_store_errmsg(st));
  op_http_respond_error(req, 503, "unavailable", "the order store failed; try again");
}

/* Verifies the token; answers 401 and returns OP_EAUTH on failure. */
static int authenticate(op_order_t *svc, op_http_req_t *req, op_auth_claims_t *claims) {
  return op_auth_request(req, svc->cfg->jwt_secret, claims);
}

/* The trace of a request: its traceparent header's, or a new one. */
static void request_trace(op_http_req_t *req, char out[OP_TRACE_ID_LEN + 1]) {
  const char *tp = op_http_req_header(req, "traceparent");
  if (tp == NULL || op_trace_parse(tp, strlen(tp), out) != 0)
    op_trace_new_id(out);
}

static void respond_order(op_http_req_t *req, int status, const op_order_row_t *row) {
  op_http_respond_json(req, status, op_order_repo_json(row));
}

/* ---- POST /api/orders ---------------------------------------------------- */

/* Answers from a stored idempotency record if there is one. Returns 1 when
 * answered, 0 when there is no record, <0 on a store error (answered). */
static int replay_idempotent(op_http_req_t *req, op_store_t *st, const char *tenant,
                             const char *key, const char *canonical) {
  op_rows_t *rows = NULL;
  const char *params[] = {tenant, key};
  int rc = op_store_exec(st,
                         "SELECT request, status_code, response FROM order_idempotency"
                         " WHERE tenant_id = $1 AND idem_key = $2",
                         2, params, &rows);
  if (rc != 0) {
    store_failed(req, st, rc);
    return rc;
  }
  int answered = 0;
  if (op_rows_count(rows) == 1) {
    answered = 1;
    int64_t code = 201;
    op_rows_get_int64(rows, 0, 1, &code);
    const char *response = op_rows_get(rows, 0, 2);
    if (strcmp(op_rows_get(rows, 0, 0), canonical) != 0)
      op_http_respond_error(req, 409, "idempotency_conflict",
                            "this Idempotency-Key was used with a different request body");
    else
      op_http_respond(req, (int)code, "application/json", response, strlen(response));
  }
  op_rows_free(rows);
  return answered;
}

static json_t *items_json(const op_order_req_t *order) {
  json_t *items = json_array();
  for (size_t i = 0; items && i < order->nitems; i++)
    json_array_append_new(items, json_pack("{s:s, s:I, s:s}", "sku", order->items[i].sku, "qty",
                                           (json_int_t)order->items[i].qty, "unit_price",
                                           order->items[i].unit_price));
  return items;
}

/* Stores the order, its outbox rows and (with a key) the idempotency record
 * in one transaction. Returns 0, OP_EEXIST when the key was taken by a
 * concurrent request, or OP_E*. */
static int store_order(op_order_tx_t *tx, const op_order_row_t *row, const json_t *items,
                       const char *key, const char *canonical, const char *response) {
  op_store_t *st = tx->store;
  int rc = op_store_begin(st);
  if (rc != 0)
    return rc;
  if (key) {
    char now[24];
    snprintf(now, sizeof now, "%" PRId64, tx->now_ms);
    const char *params[] = {row->tenant_id, key, canonical, response, row->order_id, now};
    rc = op_store_exec(st,
                       "INSERT INTO order_idempotency (tenant_id, idem_key, request, status_code,"
                       " response, order_id, created_at) VALUES ($1, $2, $3, 201, $4, $5, $6)"
                       " ON CONFLICT (tenant_id, idem_key) DO NOTHING",
                       6, params, NULL);
    if (rc == 0 && op_store_changes(st) == 0)
      rc = OP_EEXIST;
  }
  if (rc == 0)
    rc = op_order_repo_insert(st, row);
  if (rc == 0)
    rc = op_order_emit_created(tx, row, items);
  if (rc == 0)
    return op_store_commit(st);
  op_store_rollback(st);
  return rc;
}

static void create_handler(op_http_req_t *req, void *ud) {
  op_order_t *svc = ud;
  op_auth_claims_t claims;
  if (authenticate(svc, req, &claims) != 0)
    return;
  const char *key = op_http_req_header(req, "idempotency-key");
  if (key && !op_order_idem_key_ok(key)) {
    op_http_respond_error(req, 400, "invalid_idempotency_key",
                          "Idempotency-Key must be 1 to 255 printable ASCII characters");
    return;
  }
  size_t len;
  const char *body = op_http_req_body(req, &len);
  json_error_t jerr;
  json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
  if (doc == NULL) {
    op_http_respond_error(req, 400, "invalid_json", "the request body is not valid JSON");
    return;
  }
  op_store_t *st = loop_store(svc, req);
  char *canonical = key ? json_dumps(doc, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
  op_order_req_t *order = calloc(1, sizeof *order);
  json_t *fields = json_array();
  json_t *items = NULL;
  char *response = NULL;
  if (st == NULL)
    goto done;
  if (order == NULL || fields == NULL || (key && canonical == NULL)) {
    op_http_respond_error(req, 500, "internal", "out of memory");
    goto done;
  }
  if (key && replay_idempotent(req, st, claims.tenant_id, key, canonical) != 0)
    goto done;
  if (op_order_req_check(doc, order, fields) != 0) {
    op_http_respond_json(req, 422,
                         json_pack("{s:{s:s, s:s, s:O}}", "error", "code", "validation_failed",
                                   "message", "the order is invalid; see fields", "fields",
                                   fields));
    goto done;
  }
  char order_id[37], trace[OP_TRACE_ID_LEN + 1];
  op_order_new_id(order_id);
  request_trace(req, trace);
  items = items_json(order);
  char *items_text = items ? json_dumps(items, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
  int64_t now = op_now_ms();
  op_order_row_t row = {.order_id = order_id,
                        .tenant_id = claims.tenant_id,
                        .user_id = claims.sub,
                        .status = "created",
                        .currency = order->currency,
                        .total_amount = order->total,
                        .reference = order->reference,
                        .line_items = items_text,
                        .sku_count = (int64_t)order->distinct_skus,
                        .created_at = now,
                        .updated_at = now};
  json_t *resp = items_text ? op_order_repo_json(&row) : NULL;
  response = resp ? json_dumps(resp, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
  json_decref(resp);
  if (response == NULL) {
    free(items_text);
    op_http_respond_error(req, 500, "internal", "out of memory");
    goto done;
  }
  op_order_tx_t tx = {.store = st, .now_ms = now, .trace_id = trace, .actor = claims.sub};
  int rc = store_order(&tx, &row, items, key, canonical, response);
  free(items_text);
  if (rc == OP_EEXIST) {
    /* A concurrent request with the same key won: answer as it did. */
    if (replay_idempotent(req, st, claims.tenant_id, key, canonical) == 0)
      op_http_respond_error(req, 409, "idempotency_conflict", "the key is being used; retry");
  } else if (rc != 0) {
    store_failed(req, st, rc);
  } else {
    op_order_tx_count(&tx);
    op_order_relay_wake(svc->relay);
    op_log(OP_LOG_INFO, "order", trace, "order %s created for tenant %s: %s %s", order_id,
           claims.tenant_id, order->total, order->currency);
    op_http_respond(req, 201, "application/json", response, strlen(response));
  }
done:
  free(response);
  json_decref(items);
  json_decref(fields);
  free(order);
  free(canonical);
  json_decref(doc);
}

/* ---- GET /api/orders/{id}, GET /api/orders -------------------------------- */

static void get_handler(op_http_req_t *req, void *ud) {
  op_order_t *svc = ud;
  op_auth_claims_t claims;
  if (authenticate(svc, req, &claims) != 0)
    return;
  op_store_t *st = loop_store(svc, req);
  if (st == NULL)
    return;
  op_rows_t *rows = NULL;
  op_order_row_t row;
  int rc = op_order_repo_get(st, op_http_req_param(req, "id"), claims.tenant_id, &rows, &row);
  if (rc == OP_ENOENT)
    op_http_respond_error(req, 404, "not_found", "no such order");
  else if (rc != 0)
    store_failed(req, st, rc);
  else
    respond_order(req, 200, &row);
  op_rows_free(rows);
}

static int parse_limit(const char *s, int *out) {
  size_t n = strlen(s);
  if (n < 1 || n > 3)
    return OP_EINVAL;
  int v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return OP_EINVAL;
    v = v * 10 + (s[i] - '0');
  }
  if (v < 1 || v > LIST_MAX)
    return OP_EINVAL;
  *out = v;
  return 0;
}

static void list_handler(op_http_req_t *req, void *ud) {
  op_order_t *svc = ud;
  op_auth_claims_t claims;
  if (authenticate(svc, req, &claims) != 0)
    return;
  char status[32], limit_s[16], cursor[32];
  int limit = LIST_DEFAULT;
  int64_t before = 0;
  int qrc = op_http_req_query(req, "status", status, sizeof status);
  if (qrc != OP_ENOENT && (qrc < 0 || !op_order_status_known(status))) {
    op_http_respond_error(req, 400, "invalid_status", "status is not an order status");
    return;
  }
  const char *status_filter = qrc == OP_ENOENT ? NULL : status;
  qrc = op_http_req_query(req, "limit", limit_s, sizeof limit_s);
  if (qrc != OP_ENOENT && (qrc < 0 || parse_limit(limit_s, &limit) != 0)) {
    op_http_respond_error(req, 400, "invalid_limit", "limit must be an integer from 1 to 200");
    return;
  }
  qrc = op_http_req_query(req, "cursor", cursor, sizeof cursor);
  if (qrc != OP_ENOENT && (qrc < 0 || op_order_cursor_decode(cursor, &before) != 0)) {
    op_http_respond_error(req, 400, "invalid_cursor", "cursor is not one this API returned");
    return;
  }
  op_store_t *st = loop_store(svc, req);
  if (st == NULL)
    return;
  op_rows_t *rows = NULL;
  int rc = op_order_repo_list(st, claims.tenant_id, status_filter, before, limit + 1, &rows);
  if (rc != 0) {
    store_failed(req, st, rc);
    return;
  }
  size_t n = op_rows_count(rows);
  json_t *orders = json_array();
  op_order_row_t row = {0};
  for (size_t i = 0; orders && i < n && i < (size_t)limit; i++) {
    op_order_repo_row(rows, i, &row);
    json_array_append_new(orders, op_order_repo_json(&row));
  }
  json_t *next = json_null();
  if (n > (size_t)limit) {
    char enc[17];
    op_order_cursor_encode(row.seq, enc);
    json_decref(next);
    next = json_string(enc);
  }
  op_rows_free(rows);
  op_http_respond_json(req, 200, json_pack("{s:o, s:o}", "orders", orders, "next_cursor", next));
}

/* ---- POST /api/orders/{id}/cancel | fulfill ------------------------------ */

static void change_status(op_order_t *svc, op_http_req_t *req, const char *to,
                          int (*allowed)(const char *)) {
  op_auth_claims_t claims;
  if (authenticate(svc, req, &claims) != 0)
    return;
  if (allowed == op_order_can_fulfill && !op_auth_has_role(&claims, "Owner") &&
      !op_auth_has_role(&claims, "Staff")) {
    op_http_respond_error(req, 403, "forbidden", "fulfilling an order needs role Owner or Staff");
    return;
  }
  op_store_t *st = loop_store(svc, req);
  if (st == NULL)
    return;
  char trace[OP_TRACE_ID_LEN + 1];
  request_trace(req, trace);
  op_order_tx_t tx = {.store = st, .now_ms = op_now_ms(), .trace_id = trace, .actor = claims.sub};
  op_rows_t *rows = NULL;
  op_order_row_t row;
  int rc = op_store_begin(st);
  if (rc == 0)
    rc = op_order_repo_get(st, op_http_req_param(req, "id"), claims.tenant_id, &rows, &row);
  if (rc == 0 && !allowed(row.status)) {
    char msg[160];
    snprintf(msg, sizeof msg, "an order in status %s cannot become %s", row.status, to);
    op_store_rollback(st);
    op_http_respond_error(req, 409, "invalid_transition", msg);
    op_rows_free(rows);
    return;
  }
  if (rc == 0)
    rc = op_order_transition(&tx, &row, to);
  if (rc == 0)
    rc = op_store_commit(st);
  else
    op_store_rollback(st);
  if (rc == 0) {
    op_order_tx_count(&tx);
    op_order_relay_wake(svc->relay);
    respond_order(req, 200, &row);
  } else if (rc == OP_ENOENT) {
    op_http_respond_error(req, 404, "not_found", "no such order");
  } else if (rc == OP_ECONFLICT) {
    op_http_respond_error(req, 409, "invalid_transition", "the order changed meanwhile; retry");
  } else {
    store_failed(req, st, rc);
  }
  op_rows_free(rows);
}

static void cancel_handler(op_http_req_t *req, void *ud) {
  change_status(ud, req, "cancelled", op_order_can_cancel);
}

static void fulfill_handler(op_http_req_t *req, void *ud) {
  change_status(ud, req, "fulfilled", op_order_can_fulfill);
}

int op_order_api_routes(op_order_t *svc, op_http_router_t *router) {
  if (op_http_route(router, "POST", "/api/orders", create_handler, svc) ||
      op_http_route(router, "GET", "/api/orders", list_handler, svc) ||
      op_http_route(router, "GET", "/api/orders/{id}", get_handler, svc) ||
      op_http_route(router, "POST", "/api/orders/{id}/cancel", cancel_handler, svc) ||
      op_http_route(router, "POST", "/api/orders/{id}/fulfill", fulfill_handler, svc))
    return OP_ENOMEM;
  return 0;
}
