/*
 * GET/PUT /api/inventory/{sku} and GET /api/inventory. The tenant is the
 * verified token's, never a parameter: a sku of another tenant is simply not
 * found. Errors are {"error":{"code","message"}} (DESIGN.md §4.6); a 422
 * adds "fields", the names of the offending fields.
 */
#include "inventory/api.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "inventory/apply.h"
#include "inventory/parse.h"
#include "store/store.h"

#define DEFAULT_LOW_STOCK 10

struct op_inv_api_s {
  const op_config_t *cfg;
  pthread_mutex_t mu;
  op_store_t *store;
};

/* Verifies the request's token; answers 401 and returns -1 when it fails. */
static int authenticate(op_inv_api_t *api, op_http_req_t *req, op_auth_claims_t *claims) {
  char token[OP_AUTH_TOKEN_MAX + 1];
  int len = op_auth_from_request(req, token, sizeof token);
  const char *reason = len == OP_ENOENT ? "missing_token" : "malformed";
  if (len > 0 && op_auth_verify(api->cfg->jwt_secret, strlen(api->cfg->jwt_secret), token,
                                op_now_ms() / 1000, OP_AUTH_LEEWAY_S, claims, &reason) == 0)
    return 0;
  char message[128];
  snprintf(message, sizeof message, "a valid access token is required (%s)", reason);
  op_http_respond_error(req, 401, "unauthorized", message);
  return -1;
}

static void respond_stock(op_http_req_t *req, int status, const char *sku, int64_t on_hand,
                          int64_t reserved) {
  op_http_respond_json(req, status,
                       json_pack("{s:s,s:I,s:I,s:I}", "sku", sku, "on_hand", (json_int_t)on_hand,
                                 "reserved", (json_int_t)reserved, "available",
                                 (json_int_t)(on_hand - reserved)));
}

static void respond_store_error(op_http_req_t *req, int rc, op_inv_api_t *api) {
  op_log_error("inventory", "inventory API store error: %s: %s", op_strerror(rc),
               op_store_errmsg(api->store));
  op_http_respond_error(req, 503, "unavailable", "the inventory cannot be reached right now");
}

static const char *sku_param(op_http_req_t *req) {
  const char *sku = op_http_req_param(req, "sku");
  return sku && strlen(sku) <= 128 ? sku : NULL;
}

static void get_one(op_http_req_t *req, void *ud) {
  op_inv_api_t *api = ud;
  op_auth_claims_t claims;
  if (authenticate(api, req, &claims))
    return;
  const char *sku = sku_param(req);
  if (sku == NULL) {
    op_http_respond_error(req, 404, "not_found", "no such sku");
    return;
  }
  int64_t on_hand = 0, reserved = 0;
  pthread_mutex_lock(&api->mu);
  int rc = op_inv_stock_get(api->store, claims.tenant_id, sku, &on_hand, &reserved);
  if (rc && rc != OP_ENOENT)
    respond_store_error(req, rc, api);
  pthread_mutex_unlock(&api->mu);
  if (rc == OP_ENOENT)
    op_http_respond_error(req, 404, "not_found", "no stock is recorded for this sku");
  else if (rc == 0)
    respond_stock(req, 200, sku, on_hand, reserved);
}

/* Reads {"quantity": N}. Returns N, or -1 after answering 400/422. */
static int64_t read_quantity(op_http_req_t *req) {
  size_t len;
  const char *body = op_http_req_body(req, &len);
  json_error_t jerr;
  json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
  if (doc == NULL) {
    op_http_respond_error(req, 400, "malformed_json", "the body is not valid JSON");
    return -1;
  }
  json_t *fields = json_array();
  int64_t qty = -1;
  if (!json_is_object(doc)) {
    json_array_append_new(fields, json_string("quantity"));
  } else {
    const char *key;
    json_t *value;
    json_object_foreach(doc, key, value) {
      if (strcmp(key, "quantity") != 0)
        json_array_append_new(fields, json_string(key));
    }
    json_t *q = json_object_get(doc, "quantity");
    if (json_is_integer(q) && json_integer_value(q) >= 0 && json_integer_value(q) <= OP_INV_QTY_MAX)
      qty = json_integer_value(q);
    else
      json_array_insert_new(fields, 0, json_string("quantity"));
  }
  json_decref(doc);
  if (json_array_size(fields) == 0) {
    json_decref(fields);
    return qty;
  }
  op_http_respond_json(
      req, 422,
      json_pack("{s:{s:s,s:s,s:o}}", "error", "code", "validation_failed", "message",
                "the body must be {\"quantity\": N} with N an integer from 0 to 1000000000 and "
                "no other field",
                "fields", fields));
  return -1;
}

static void put_one(op_http_req_t *req, void *ud) {
  op_inv_api_t *api = ud;
  op_auth_claims_t claims;
  if (authenticate(api, req, &claims))
    return;
  if (!op_auth_has_role(&claims, "Owner")) {
    op_http_respond_error(req, 403, "forbidden", "setting stock needs the Owner role");
    return;
  }
  const char *sku = sku_param(req);
  if (sku == NULL) {
    op_http_respond_error(req, 422, "validation_failed", "sku must be at most 128 bytes");
    return;
  }
  int64_t qty = read_quantity(req);
  if (qty < 0)
    return;
  int64_t on_hand = 0, reserved = 0;
  pthread_mutex_lock(&api->mu);
  int rc = op_inv_stock_set(api->store, claims.tenant_id, sku, qty, op_now_ms(), &reserved);
  if (rc == 0)
    rc = op_inv_stock_get(api->store, claims.tenant_id, sku, &on_hand, &reserved);
  if (rc && rc != OP_ECONFLICT)
    respond_store_error(req, rc, api);
  pthread_mutex_unlock(&api->mu);
  if (rc == OP_ECONFLICT) {
    char message[160];
    snprintf(message, sizeof message,
             "quantity %lld is below the %lld units reserved for paid orders", (long long)qty,
             (long long)reserved);
    op_http_respond_error(req, 409, "below_reserved", message);
  } else if (rc == 0) {
    respond_stock(req, 200, sku, on_hand, reserved);
  }
}

static void get_list(op_http_req_t *req, void *ud) {
  op_inv_api_t *api = ud;
  op_auth_claims_t claims;
  if (authenticate(api, req, &claims))
    return;
  char buf[32];
  int low = op_http_req_query(req, "low_stock", buf, sizeof buf) > 0 && strcmp(buf, "0") != 0 &&
            strcmp(buf, "false") != 0;
  long long threshold = DEFAULT_LOW_STOCK;
  if (op_http_req_query(req, "threshold", buf, sizeof buf) >= 0) {
    char *end;
    threshold = strtoll(buf, &end, 10);
    if (buf[0] == '\0' || *end || threshold < 0 || threshold > OP_INV_QTY_MAX) {
      op_http_respond_error(req, 400, "invalid_threshold", "threshold must be an integer >= 0");
      return;
    }
  }
  char limit[24];
  snprintf(limit, sizeof limit, "%lld", low ? threshold : (long long)OP_INV_QTY_MAX * 2);
  const char *p[] = {claims.tenant_id, limit};
  op_rows_t *rows = NULL;
  pthread_mutex_lock(&api->mu);
  int rc = op_store_exec(api->store,
                         "SELECT sku, on_hand, reserved FROM inventory_stock WHERE tenant_id = $1 "
                         "AND on_hand - reserved <= CAST($2 AS BIGINT) ORDER BY sku LIMIT 1000",
                         2, p, &rows);
  if (rc)
    respond_store_error(req, rc, api);
  pthread_mutex_unlock(&api->mu);
  if (rc)
    return;
  json_t *items = json_array();
  for (size_t i = 0; i < op_rows_count(rows); i++) {
    int64_t on_hand = 0, reserved = 0;
    op_rows_get_int64(rows, i, 1, &on_hand);
    op_rows_get_int64(rows, i, 2, &reserved);
    json_array_append_new(items,
                          json_pack("{s:s,s:I,s:I,s:I}", "sku", op_rows_get(rows, i, 0), "on_hand",
                                    (json_int_t)on_hand, "reserved", (json_int_t)reserved,
                                    "available", (json_int_t)(on_hand - reserved)));
  }
  op_rows_free(rows);
  op_http_respond_json(req, 200, json_pack("{s:o}", "items", items));
}

op_inv_api_t *op_inv_api_new(const op_config_t *cfg, op_http_router_t *router, char *errbuf,
                             size_t errlen) {
  op_inv_api_t *api = calloc(1, sizeof *api);
  if (api == NULL) {
    snprintf(errbuf, errlen, "out of memory");
    return NULL;
  }
  api->cfg = cfg;
  pthread_mutex_init(&api->mu, NULL);
  api->store = op_store_open(cfg->database_url, errbuf, errlen);
  if (api->store == NULL) {
    op_inv_api_free(api);
    return NULL;
  }
  if (op_http_route(router, "GET", "/api/inventory", get_list, api) ||
      op_http_route(router, "GET", "/api/inventory/{sku}", get_one, api) ||
      op_http_route(router, "PUT", "/api/inventory/{sku}", put_one, api)) {
    snprintf(errbuf, errlen, "cannot add the inventory routes");
    op_inv_api_free(api);
    return NULL;
  }
  return api;
}

void op_inv_api_free(op_inv_api_t *api) {
  if (api == NULL)
    return;
  op_store_close(api->store);
  pthread_mutex_destroy(&api->mu);
  free(api);
}
