/*
 * Endpoints every orderpulse process serves: GET /health and GET /metrics.
 */
#include "core/err.h"
#include "core/health.h"
#include "core/metrics.h"
#include "http/internal.h"

/* 200 while the service can do its job (ok or degraded), 503 when down. */
static void health_handler(op_http_req_t *req, void *ud) {
  op_buf_t out = OP_BUF_INIT;
  op_health_state_t state = op_health_render(&out);
  if (out.data == NULL) {
    op_http_respond_error(req, 500, "internal_error", "out of memory");
    return;
  }
  op_http_resp_header(req, "Cache-Control", "no-store");
  op_http_respond(req, state == OP_HEALTH_DOWN ? 503 : 200, "application/json", out.data, out.len);
  op_buf_free(&out);
}

static void metrics_handler(op_http_req_t *req, void *ud) {
  op_buf_t out = OP_BUF_INIT;
  if (op_metrics_render(&out)) {
    op_buf_free(&out);
    op_http_respond_error(req, 500, "internal_error", "out of memory");
    return;
  }
  op_http_respond(req, 200, "text/plain; version=0.0.4", out.data, out.len);
  op_buf_free(&out);
}

int op_http_add_builtin_routes(op_http_router_t *router) {
  int rc = op_http_route(router, "GET", "/health", health_handler, NULL);
  if (rc == 0)
    rc = op_http_route(router, "GET", "/metrics", metrics_handler, NULL);
  return rc;
}
