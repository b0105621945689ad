#include "cmd/devweb.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/demo.h"
#include "core/log.h"
#include "cmd/webhost.h"
#include "web/session.h"

static json_t *user_json(size_t i) {
  const char *tenant, *user, *role;
  op_demo_user(i, &tenant, &user, &role);
  return json_pack("{s:s, s:s, s:[s]}", "user_id", user, "tenant_id", tenant, "roles", role);
}

static void users_handler(op_http_req_t *req, void *ud) {
  json_t *list = json_array();
  for (size_t i = 0; list && i < op_demo_user_count(); i++)
    json_array_append_new(list, user_json(i));
  op_http_respond_json(req, 200, list ? json_pack("{s:o}", "users", list) : NULL);
}

static void login_handler(op_http_req_t *req, void *ud) {
  const op_config_t *cfg = ud;
  size_t len;
  const char *body = op_http_req_body(req, &len);
  json_t *doc = json_loadb(body, len, 0, NULL);
  const char *user_id = json_string_value(json_object_get(doc, "user_id"));
  if (user_id == NULL) {
    json_decref(doc);
    op_http_respond_error(req, 422, "validation_failed", "user_id (a string) is required");
    return;
  }
  size_t found = op_demo_user_count();
  for (size_t i = 0; i < op_demo_user_count(); i++) {
    const char *tenant, *user, *role;
    op_demo_user(i, &tenant, &user, &role);
    if (strcmp(user, user_id) == 0)
      found = i;
  }
  json_decref(doc);
  if (found == op_demo_user_count()) {
    op_http_respond_error(req, 404, "not_found", "no such demo user");
    return;
  }
  char *token = op_demo_sign(cfg, found);
  if (token == NULL) {
    op_http_respond_error(req, 500, "internal", "cannot sign a token");
    return;
  }
  op_web_session_set_cookie(req, token, OP_DEMO_TOKEN_TTL_S);
  free(token);
  op_http_resp_header(req, "Cache-Control", "no-store");
  op_http_respond_json(req, 200, user_json(found));
}

op_web_static_t *op_devweb_setup(op_host_t *host, const char *argv0, int *rc) {
  op_http_router_t *r = host->router;
  void *cfg = &host->cfg;
  *rc = 0;
  /* /api/dev/session answers as /api/session (web/session.h) does; only
   * the sign-in differs: a demo user instead of a token. */
  if (op_http_route(r, "GET", "/api/dev/users", users_handler, NULL) ||
      op_http_route(r, "GET", "/api/dev/session", op_web_session_whoami, cfg) ||
      op_http_route(r, "POST", "/api/dev/session", login_handler, cfg) ||
      op_http_route(r, "DELETE", "/api/dev/session", op_web_session_logout, NULL) ||
      op_http_route(r, "POST", "/api/dev/session/logout", op_web_session_logout, NULL)) {
    *rc = 1;
    return NULL;
  }
  return op_webhost_setup(host, argv0, 1, rc);
}
