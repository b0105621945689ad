#include "web/session.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "auth/auth.h"
#include "core/clock.h"

int op_web_session_secure(const op_http_req_t *req) {
  const char *proto = op_http_req_header(req, "x-forwarded-proto");
  if (proto == NULL)
    return 0;
  /* A chain of proxies lists one value each; the first is the client's. */
  size_t n = strcspn(proto, ", ");
  return n == 5 && strncasecmp(proto, "https", 5) == 0;
}

int op_web_token_chars_ok(const char *token, size_t len) {
  if (len == 0 || len > OP_AUTH_TOKEN_MAX || strlen(token) != len)
    return 0;
  for (size_t i = 0; i < len; i++) {
    char c = token[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
          c == '-' || c == '.'))
      return 0;
  }
  return 1;
}

void op_web_session_set_cookie(op_http_req_t *req, const char *token, long max_age) {
  char header[OP_AUTH_TOKEN_MAX + 160];
  snprintf(header, sizeof header,
           OP_WEB_COOKIE "=%s; HttpOnly; SameSite=Strict; Path=/; Max-Age=%ld%s", token, max_age,
           op_web_session_secure(req) ? "; Secure" : "");
  op_http_resp_header(req, "Set-Cookie", header);
}

static json_t *claims_json(const op_auth_claims_t *c) {
  json_t *roles = json_array();
  for (int i = 0; roles && i < c->nroles; i++)
    json_array_append_new(roles, json_string(c->roles[i]));
  return json_pack("{s:s, s:s, s:o}", "user_id", c->sub, "tenant_id", c->tenant_id, "roles",
                   roles ? roles : json_array());
}

static int verify(const op_config_t *cfg, const char *token, op_auth_claims_t *c,
                  const char **reason) {
  const char *secret = cfg->jwt_secret ? cfg->jwt_secret : "";
  *reason = NULL;
  int rc = op_auth_verify(secret, strlen(secret), token, op_now_ms() / 1000, OP_AUTH_LEEWAY_S, c,
                          reason);
  if (rc != 0 && *reason == NULL)
    *reason = "malformed"; /* no secret configured, or out of memory: still refused */
  return rc;
}

/* The signed-in user: lets a page that holds a valid cookie (HttpOnly, so
 * not readable by scripts) go straight to the dashboard. */
void op_web_session_whoami(op_http_req_t *req, void *ud) {
  char token[OP_AUTH_TOKEN_MAX + 1];
  op_auth_claims_t c;
  const char *reason;
  op_http_resp_header(req, "Cache-Control", "no-store");
  if (op_auth_from_request(req, token, sizeof token) <= 0 || verify(ud, token, &c, &reason) != 0) {
    op_http_respond_error(req, 401, "unauthorized", "not signed in");
    return;
  }
  op_http_respond_json(req, 200, claims_json(&c));
}

static void login_handler(op_http_req_t *req, void *ud) {
  size_t len;
  const char *body = op_http_req_body(req, &len);
  op_http_resp_header(req, "Cache-Control", "no-store");
  /* application/json only: a cross-site HTML form cannot send it without a
   * CORS preflight, so another site cannot sign a browser in with its own
   * token (login CSRF; SameSite does not guard a request without a cookie). */
  const char *type = op_http_req_header(req, "content-type");
  if (type == NULL || strncasecmp(type, "application/json", 16) != 0 ||
      (type[16] != '\0' && type[16] != ';' && type[16] != ' ')) {
    op_http_respond_error(req, 415, "unsupported_media_type", "the body must be application/json");
    return;
  }
  json_t *doc = json_loadb(body, len, 0, NULL);
  json_t *jt = json_object_get(doc, "token");
  if (!json_is_string(jt)) {
    json_decref(doc);
    op_http_respond_error(req, 422, "validation_failed", "token (a string) is required");
    return;
  }
  const char *token = json_string_value(jt);
  op_auth_claims_t c;
  const char *reason = "malformed";
  /* The alphabet check first: a token that verified is base64url and dots
   * anyway, and it is what makes the value safe to put in Set-Cookie. */
  if (!op_web_token_chars_ok(token, json_string_length(jt)) ||
      verify(ud, token, &c, &reason) != 0) {
    json_decref(doc);
    char msg[160];
    snprintf(msg, sizeof msg, "the token is not valid (%s)", reason);
    op_http_respond_error(req, 401, "unauthorized", msg);
    return;
  }
  /* exp may lie within the leeway behind now: still a valid token, so a
   * cookie of one second rather than Max-Age=0 (which would delete it). */
  long remaining = (long)(c.exp - op_now_ms() / 1000);
  op_web_session_set_cookie(req, token, remaining > 0 ? remaining : 1);
  json_decref(doc);
  json_t *user = claims_json(&c);
  if (user)
    json_object_set_new(user, "expires_at", json_integer(c.exp));
  op_http_respond_json(req, 200, user);
}

void op_web_session_logout(op_http_req_t *req, void *ud) {
  (void)ud;
  op_http_resp_header(req, "Cache-Control", "no-store");
  op_web_session_set_cookie(req, "", 0);
  op_http_respond(req, 204, NULL, NULL, 0);
}

int op_web_session_routes(op_http_router_t *r, const op_config_t *cfg) {
  void *ud = (void *)cfg; /* read only: the handlers take a const config */
  int rc = op_http_route(r, "GET", "/api/session", op_web_session_whoami, ud);
  if (rc == 0)
    rc = op_http_route(r, "POST", "/api/session", login_handler, ud);
  if (rc == 0)
    rc = op_http_route(r, "POST", "/api/session/logout", op_web_session_logout, NULL);
  if (rc == 0)
    rc = op_http_route(r, "DELETE", "/api/session", op_web_session_logout, NULL);
  return rc;
}
