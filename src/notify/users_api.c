/* The user directory's endpoints (people.h). Changing the directory needs the
 * Owner role of the token's tenant; reading and changing one's own
 * preferences needs only a token. */
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "notify/people.h"
#include "notify/users.h"

#define OWNER_ROLE "Owner"

/* Authenticates, and with owner set requires the Owner role (403). Returns
 * the loop's store, or NULL when answered. */
static op_store_t *begin(op_people_t *people, op_http_req_t *req, op_auth_claims_t *claims,
                         int owner) {
  if (op_people_auth(people, req, claims) != 0)
    return NULL;
  if (owner && !op_auth_has_role(claims, OWNER_ROLE)) {
    op_http_respond_error(req, 403, "forbidden", "this needs the Owner role");
    return NULL;
  }
  return op_people_store(people, req);
}

/* Answers with the stored user, or 404 / 503. */
static void respond_user(op_http_req_t *req, op_store_t *st, const char *tenant, const char *user,
                         int status) {
  json_t *doc = NULL;
  int rc = op_users_get(st, tenant, user, &doc);
  if (rc == OP_ENOENT)
    op_http_respond_error(req, 404, "not_found", "no such user");
  else if (rc != 0)
    op_people_store_failed(req, st, rc);
  else
    op_http_respond_json(req, status, doc);
}

/* Parses and checks the body; answers 400/422 and returns OP_EINVAL. */
static int read_input(op_http_req_t *req, op_user_mode_t mode, json_t **doc, op_user_input_t *in) {
  memset(in, 0, sizeof *in);
  if ((*doc = op_people_body(req)) == NULL)
    return OP_EINVAL;
  json_t *fields = json_array();
  int rc = op_user_check(*doc, mode, in, fields);
  if (rc != 0)
    op_people_invalid(req, fields);
  json_decref(fields);
  return rc;
}

static void create_handler(op_http_req_t *req, void *ud) {
  op_auth_claims_t claims;
  op_store_t *st = begin(ud, req, &claims, 1);
  json_t *doc = NULL;
  op_user_input_t in = {0};
  if (st == NULL || read_input(req, OP_USER_CREATE, &doc, &in) != 0)
    goto done;
  char generated[32];
  const char *user_id = in.user_id;
  if (user_id == NULL) {
    op_user_new_id(generated);
    user_id = generated;
  }
  int rc = op_users_insert(st, claims.tenant_id, user_id, &in, op_now_ms());
  if (rc == OP_EEXIST)
    op_http_respond_error(req, 409, "conflict", "a user with this user_id exists");
  else if (rc != 0)
    op_people_store_failed(req, st, rc);
  else {
    op_log_info("notify", "user %s added to tenant %s by %s", user_id, claims.tenant_id,
                claims.sub);
    respond_user(req, st, claims.tenant_id, user_id, 201);
  }
done:
  op_user_input_clear(&in);
  json_decref(doc);
}

static void list_handler(op_http_req_t *req, void *ud) {
  op_auth_claims_t claims;
  op_store_t *st = begin(ud, req, &claims, 1);
  if (st == NULL)
    return;
  json_t *doc = NULL;
  int rc = op_users_list(st, claims.tenant_id, &doc);
  if (rc != 0)
    op_people_store_failed(req, st, rc);
  else
    op_http_respond_json(req, 200, doc);
}

static void update(op_http_req_t *req, op_people_t *people, int owner, op_user_mode_t mode,
                   const char *user_or_null) {
  op_auth_claims_t claims;
  op_store_t *st = begin(people, req, &claims, owner);
  json_t *doc = NULL;
  op_user_input_t in;
  memset(&in, 0, sizeof in);
  if (st == NULL || read_input(req, mode, &doc, &in) != 0)
    goto done;
  const char *user = user_or_null ? user_or_null : claims.sub;
  int rc = op_users_update(st, claims.tenant_id, user, &in, op_now_ms());
  if (rc == OP_ENOENT)
    op_http_respond_error(req, 404, "not_found", "no such user");
  else if (rc != 0)
    op_people_store_failed(req, st, rc);
  else
    respond_user(req, st, claims.tenant_id, user, 200);
done:
  op_user_input_clear(&in);
  json_decref(doc);
}

static void patch_handler(op_http_req_t *req, void *ud) {
  update(req, ud, 1, OP_USER_PATCH, op_http_req_param(req, "id"));
}

static void prefs_handler(op_http_req_t *req, void *ud) {
  update(req, ud, 0, OP_USER_PREFS, NULL);
}

static void me_handler(op_http_req_t *req, void *ud) {
  op_auth_claims_t claims;
  op_store_t *st = begin(ud, req, &claims, 0);
  if (st != NULL)
    respond_user(req, st, claims.tenant_id, claims.sub, 200);
}

int op_users_routes(op_people_t *people, op_http_router_t *router) {
  /* /me routes first: routes are tried in the order added. */
  if (op_http_route(router, "GET", "/api/users/me", me_handler, people) ||
      op_http_route(router, "PATCH", "/api/users/me/preferences", prefs_handler, people) ||
      op_http_route(router, "POST", "/api/users", create_handler, people) ||
      op_http_route(router, "GET", "/api/users", list_handler, people) ||
      op_http_route(router, "PATCH", "/api/users/{id}", patch_handler, people))
    return OP_ENOMEM;
  return 0;
}
