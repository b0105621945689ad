#include "cmd/devweb.h"

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/auth.h"
#include "cmd/demo.h"
#include "core/clock.h"
#include "core/log.h"

#define COOKIE "op_token"

static int is_dir(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/*
 * WEB_DIR as given when it is absolute or exists from the working directory;
 * else looked up from the binary's directory upwards (build/orderpulse finds
 * ../web), so `orderpulse dev` run from anywhere still has its dashboard.
 */
static int find_web_dir(const char *setting, const char *argv0, char *out, size_t len) {
  if (setting[0] == '/' || is_dir(setting)) {
    snprintf(out, len, "%s", setting);
    return is_dir(out) ? 0 : -1;
  }
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) {
    if (realpath(argv0, exe) == NULL)
      return -1;
  } else {
    exe[n] = '\0';
  }
  for (int up = 0; up < 4; up++) {
    char *slash = strrchr(exe, '/');
    if (slash == NULL)
      break;
    *slash = '\0';
    snprintf(out, len, "%s/%s", exe[0] ? exe : "", setting);
    if (is_dir(out))
      return 0;
  }
  return -1;
}

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

static void set_cookie(op_http_req_t *req, const char *token, long max_age) {
  char header[OP_AUTH_TOKEN_MAX + 128];
  snprintf(header, sizeof header, COOKIE "=%s; HttpOnly; SameSite=Strict; Path=/; Max-Age=%ld",
           token, max_age);
  op_http_resp_header(req, "Set-Cookie", header);
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
  set_cookie(req, token, OP_DEMO_TOKEN_TTL_S);
  free(token);
  op_http_resp_header(req, "Cache-Control", "no-store");
  op_http_respond_json(req, 200, user_json(found));
}

/* The signed-in user: lets a page that holds a valid cookie (HttpOnly, so
 * not readable by scripts) go straight to the dashboard. */
static void whoami_handler(op_http_req_t *req, void *ud) {
  const op_config_t *cfg = ud;
  char token[OP_AUTH_TOKEN_MAX + 1];
  op_auth_claims_t c;
  int len = op_auth_from_request(req, token, sizeof token);
  if (len <= 0 || op_auth_verify(cfg->jwt_secret, strlen(cfg->jwt_secret), token,
                                 op_now_ms() / 1000, OP_AUTH_LEEWAY_S, &c, NULL) != 0) {
    op_http_respond_error(req, 401, "unauthorized", "not signed in");
    return;
  }
  json_t *roles = json_array();
  for (int i = 0; roles && i < c.nroles; i++)
    json_array_append_new(roles, json_string(c.roles[i]));
  op_http_resp_header(req, "Cache-Control", "no-store");
  op_http_respond_json(req, 200,
                       json_pack("{s:s, s:s, s:o}", "user_id", c.sub, "tenant_id", c.tenant_id,
                                 "roles", roles ? roles : json_array()));
}

static void logout_handler(op_http_req_t *req, void *ud) {
  set_cookie(req, "", 0);
  op_http_respond(req, 204, NULL, NULL, 0);
}

op_web_static_t *op_devweb_setup(op_host_t *host, const char *argv0, int *rc) {
  op_http_router_t *r = host->router;
  void *cfg = &host->cfg;
  *rc = 0;
  if (op_http_route(r, "GET", "/api/dev/users", users_handler, NULL) ||
      op_http_route(r, "GET", "/api/dev/session", whoami_handler, cfg) ||
      op_http_route(r, "POST", "/api/dev/session", login_handler, cfg) ||
      op_http_route(r, "DELETE", "/api/dev/session", logout_handler, NULL) ||
      op_http_route(r, "POST", "/api/dev/session/logout", logout_handler, NULL)) {
    *rc = 1;
    return NULL;
  }
  char dir[PATH_MAX + 64];
  if (find_web_dir(host->cfg.web_dir, argv0, dir, sizeof dir) != 0) {
    op_log_warn("dev", "no web directory %s (WEB_DIR): the dashboard is not served",
                host->cfg.web_dir);
    return NULL;
  }
  char err[256];
  op_web_static_t *web = op_web_static_load(dir, r, err, sizeof err);
  if (web == NULL) {
    op_log_error("dev", "the dashboard: %s", err);
    *rc = 1;
    return NULL;
  }
  op_log_info("dev", "serving the dashboard from %s (%zu files)", dir, op_web_static_count(web));
  return web;
}
