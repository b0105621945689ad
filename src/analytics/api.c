/* GET /api/analytics/summary: the token's tenant's aggregates. Runs on: an
 * HTTP loop. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "analytics/db.h"
#include "analytics/internal.h"
#include "auth/auth.h"
#include "core/err.h"
#include "core/log.h"

static void summary(op_http_req_t *req, void *ud) {
  op_analytics_t *an = ud;
  char token[OP_AUTH_TOKEN_MAX + 1];
  int len = op_auth_from_request(req, token, sizeof token);
  if (len == OP_ENOENT) {
    op_http_respond_error(req, 401, "unauthorized", "a bearer token is required");
    return;
  }
  op_auth_claims_t claims;
  const char *reason = NULL;
  /* A token too long for the buffer is malformed, not missing (auth.h). */
  int rc = len < 0 ? OP_EAUTH
                   : op_auth_verify(an->cfg->jwt_secret, strlen(an->cfg->jwt_secret), token,
                                    (int64_t)time(NULL), OP_AUTH_LEEWAY_S, &claims, &reason);
  if (rc != 0) {
    char message[128];
    snprintf(message, sizeof message, "the token was refused (%s)", reason ? reason : "malformed");
    op_http_respond_error(req, 401, "unauthorized", message);
    return;
  }
  json_t *body = NULL;
  pthread_mutex_lock(&an->http_lock);
  rc = op_an_db_summary(an->http_store, claims.tenant_id, an->cfg->analytics_low_stock_threshold,
                        &body);
  if (rc)
    op_log_warn("analytics", "summary for a tenant failed: %s: %s", op_strerror(rc),
                op_store_errmsg(an->http_store));
  pthread_mutex_unlock(&an->http_lock);
  if (rc) {
    op_http_respond_error(req, 503, "unavailable", "the aggregates cannot be read right now");
    return;
  }
  op_http_respond_json(req, 200, body);
}

int op_an_api_routes(op_analytics_t *an, op_http_router_t *router) {
  return op_http_route(router, "GET", "/api/analytics/summary", summary, an);
}
