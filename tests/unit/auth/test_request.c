/*
 * op_auth_from_request against a real in-process server: where the token is
 * looked for (Authorization: Bearer, then access_token, then the op_token
 * cookie), which place wins, and what a value that does not fit gives. The
 * last test goes from request to verified claims.
 *
 * Each test starts its own server. Run one test alone:
 * auth_test_request <name-pattern>.
 */
#include "http/helpers.h"

#include <jansson.h>

#include "auth/auth.h"
#include "core/clock.h"

#define SECRET "s3cr3t-for-unit-tests-only-0123456789abcdef"

/* Answers {"rc":<rc>,"token":<token or null>} with a buffer of len bytes. */
static void answer_lookup(op_http_req_t *req, size_t len) {
  char buf[OP_AUTH_TOKEN_MAX + 1];
  int rc = op_auth_from_request(req, buf, len);
  op_http_respond_json(req, 200, json_pack("{s:i, s:s?}", "rc", rc, "token", rc >= 0 ? buf : NULL));
}

static void lookup(op_http_req_t *req, void *ud) {
  answer_lookup(req, OP_AUTH_TOKEN_MAX + 1);
}

static void lookup_small(op_http_req_t *req, void *ud) {
  answer_lookup(req, 8);
}

/* Verifies the request's token as the SSE endpoint would: 200 with the
 * claims, or 401 with the reason token as the error code. */
static void whoami(op_http_req_t *req, void *ud) {
  char token[OP_AUTH_TOKEN_MAX + 1];
  int found = op_auth_from_request(req, token, sizeof token);
  op_auth_claims_t claims;
  const char *reason = NULL;
  int rc;
  if (found == OP_ERANGE) {
    rc = OP_EAUTH; /* too long to be a token */
    reason = "malformed";
  } else {
    rc = op_auth_verify(SECRET, strlen(SECRET), found >= 0 ? token : NULL, op_now_ms() / 1000,
                        OP_AUTH_LEEWAY_S, &claims, &reason);
  }
  if (rc != 0) {
    op_http_respond_error(req, 401, reason ? reason : "internal", "authentication required");
    return;
  }
  op_http_respond_json(req, 200,
                       json_pack("{s:s, s:s, s:i}", "sub", claims.sub, "tenant_id",
                                 claims.tenant_id, "nroles", claims.nroles));
}

static int setup(void **state) {
  test_server_t *t = test_server_new();
  assert_int_equal(op_http_route(t->router, "GET", "/token", lookup, NULL), 0);
  assert_int_equal(op_http_route(t->router, "GET", "/small", lookup_small, NULL), 0);
  assert_int_equal(op_http_route(t->router, "GET", "/whoami", whoami, NULL), 0);
  test_server_start(t, NULL);
  *state = t;
  return 0;
}

static int teardown(void **state) {
  test_server_free(*state);
  return 0;
}

/* GETs path with the extra header lines (NULL-terminated) and returns what
 * the lookup handler answered: the rc, and the token in token (or ""). */
static int lookup_with(void **state, const char *path, const char *const *headers, char *token,
                       size_t len) {
  test_server_t *t = *state;
  test_resp_t resp;
  assert_int_equal(test_request(NULL, t->port, "GET", path, NULL, headers, &resp), 0);
  assert_int_equal(resp.status, 200);
  json_error_t err;
  json_t *doc = json_loads(resp.body.data, 0, &err);
  assert_non_null(doc);
  int rc = (int)json_integer_value(json_object_get(doc, "rc"));
  const char *found = json_string_value(json_object_get(doc, "token"));
  snprintf(token, len, "%s", found ? found : "");
  json_decref(doc);
  test_resp_free(&resp);
  return rc;
}

static void expect_token(void **state, const char *path, const char *const *headers,
                         const char *want) {
  char token[OP_AUTH_TOKEN_MAX + 1];
  int rc = lookup_with(state, path, headers, token, sizeof token);
  assert_int_equal(rc, (int)strlen(want));
  assert_string_equal(token, want);
}

/* ---- Each place alone --------------------------------------------------- */

static void test_bearer_header(void **state) {
  const char *const headers[] = {"Authorization: Bearer aaa.bbb.ccc", NULL};
  expect_token(state, "/token", headers, "aaa.bbb.ccc");
}

static void test_bearer_scheme_any_case(void **state) {
  const char *const lower[] = {"Authorization: bearer aaa.bbb.ccc", NULL};
  expect_token(state, "/token", lower, "aaa.bbb.ccc");
  const char *const upper[] = {"Authorization: BEARER   aaa.bbb.ccc  ", NULL};
  expect_token(state, "/token", upper, "aaa.bbb.ccc");
  const char *const tab[] = {"authorization: Bearer\taaa.bbb.ccc", NULL};
  expect_token(state, "/token", tab, "aaa.bbb.ccc");
}

static void test_query_parameter(void **state) {
  expect_token(state, "/token?access_token=aaa.bbb.ccc", NULL, "aaa.bbb.ccc");
  expect_token(state, "/token?last_event_id=7&access_token=aaa.bbb.ccc&x=1", NULL, "aaa.bbb.ccc");
  /* Percent-decoded, as any query parameter. */
  expect_token(state, "/token?access_token=aaa%2Ebbb.ccc", NULL, "aaa.bbb.ccc");
}

static void test_cookie(void **state) {
  const char *const headers[] = {"Cookie: theme=dark; op_token=aaa.bbb.ccc; lang=en", NULL};
  expect_token(state, "/token", headers, "aaa.bbb.ccc");
}

static void test_nothing_presented(void **state) {
  char token[64];
  assert_int_equal(lookup_with(state, "/token", NULL, token, sizeof token), OP_ENOENT);
  const char *const others[] = {"Cookie: session=x", "X-Access-Token: aaa.bbb.ccc", NULL};
  assert_int_equal(lookup_with(state, "/token?token=aaa.bbb.ccc", others, token, sizeof token),
                   OP_ENOENT);
}

/* ---- Precedence --------------------------------------------------------- */

static void test_header_wins_over_query_and_cookie(void **state) {
  const char *const headers[] = {"Authorization: Bearer from.header.x",
                                 "Cookie: op_token=from.cookie.x", NULL};
  expect_token(state, "/token?access_token=from.query.x", headers, "from.header.x");
}

static void test_query_wins_over_cookie(void **state) {
  const char *const headers[] = {"Cookie: op_token=from.cookie.x", NULL};
  expect_token(state, "/token?access_token=from.query.x", headers, "from.query.x");
}

/* An Authorization header with another scheme, or an empty one, is passed over. */
static void test_other_schemes_passed_over(void **state) {
  const char *const basic[] = {"Authorization: Basic dXNlcjpwYXNz",
                               "Cookie: op_token=from.cookie.x", NULL};
  expect_token(state, "/token", basic, "from.cookie.x");
  const char *const glued[] = {"Authorization: Bearerfrom.header.x", NULL};
  expect_token(state, "/token?access_token=from.query.x", glued, "from.query.x");
  const char *const empty[] = {"Authorization: Bearer", NULL};
  expect_token(state, "/token?access_token=from.query.x", empty, "from.query.x");
}

static void test_empty_values_passed_over(void **state) {
  const char *const headers[] = {"Cookie: op_token=from.cookie.x", NULL};
  expect_token(state, "/token?access_token=", headers, "from.cookie.x");
  const char *const empty_cookie[] = {"Cookie: op_token=", NULL};
  char token[64];
  assert_int_equal(lookup_with(state, "/token", empty_cookie, token, sizeof token), OP_ENOENT);
}

/* ---- Sizes and arguments ------------------------------------------------ */

/* A value that does not fit is OP_ERANGE wherever it is found, and the
 * lookup does not fall back to a later place. */
static void test_too_long(void **state) {
  char token[64];
  const char *const bearer[] = {"Authorization: Bearer 0123456789", NULL};
  assert_int_equal(lookup_with(state, "/small?access_token=short", bearer, token, sizeof token),
                   OP_ERANGE);
  const char *const cookie[] = {"Cookie: op_token=short", NULL};
  assert_int_equal(
      lookup_with(state, "/small?access_token=0123456789", cookie, token, sizeof token), OP_ERANGE);
  const char *const long_cookie[] = {"Cookie: op_token=0123456789", NULL};
  assert_int_equal(lookup_with(state, "/small", long_cookie, token, sizeof token), OP_ERANGE);
  /* Seven bytes and the NUL fit in eight. */
  expect_token(state, "/small?access_token=0123456", NULL, "0123456");
}

static void test_arguments(void **state) {
  char buf[8];
  assert_int_equal(op_auth_from_request(NULL, buf, sizeof buf), OP_EINVAL);
}

/* ---- From request to claims --------------------------------------------- */

/* GETs /whoami with headers; returns the status and the body in out. */
static long whoami_with(void **state, const char *path, const char *const *headers, op_buf_t *out) {
  test_server_t *t = *state;
  test_resp_t resp;
  assert_int_equal(test_request(NULL, t->port, "GET", path, NULL, headers, &resp), 0);
  op_buf_reset(out);
  op_buf_puts(out, resp.body.data);
  long status = resp.status;
  test_resp_free(&resp);
  return status;
}

static void test_verified_from_each_place(void **state) {
  op_auth_claims_t claims;
  memset(&claims, 0, sizeof claims);
  strcpy(claims.sub, "u_7");
  strcpy(claims.tenant_id, "t_acme");
  strcpy(claims.roles[0], "viewer");
  claims.nroles = 1;
  claims.exp = op_now_ms() / 1000 + 600;
  char *token = NULL;
  assert_int_equal(op_auth_sign(SECRET, strlen(SECRET), &claims, &token), 0);

  char line[OP_AUTH_TOKEN_MAX + 64];
  op_buf_t body = OP_BUF_INIT;
  snprintf(line, sizeof line, "Authorization: Bearer %s", token);
  const char *const header[] = {line, NULL};
  assert_int_equal(whoami_with(state, "/whoami", header, &body), 200);
  assert_non_null(strstr(body.data, "\"tenant_id\":\"t_acme\""));
  assert_non_null(strstr(body.data, "\"sub\":\"u_7\""));

  snprintf(line, sizeof line, "/whoami?access_token=%s", token);
  assert_int_equal(whoami_with(state, line, NULL, &body), 200);
  assert_non_null(strstr(body.data, "\"tenant_id\":\"t_acme\""));

  snprintf(line, sizeof line, "Cookie: op_token=%s", token);
  const char *const cookie[] = {line, NULL};
  assert_int_equal(whoami_with(state, "/whoami", cookie, &body), 200);
  assert_non_null(strstr(body.data, "\"tenant_id\":\"t_acme\""));

  /* A bad token in the header is not rescued by a good one in the query. */
  char path[OP_AUTH_TOKEN_MAX + 64];
  snprintf(path, sizeof path, "/whoami?access_token=%s", token);
  const char *const bad[] = {"Authorization: Bearer aaa.bbb.ccc", NULL};
  assert_int_equal(whoami_with(state, path, bad, &body), 401);
  assert_non_null(strstr(body.data, "\"code\":\"malformed\""));
  /* The refusal does not echo the token. */
  assert_null(strstr(body.data, "aaa.bbb.ccc"));

  assert_int_equal(whoami_with(state, "/whoami", NULL, &body), 401);
  assert_non_null(strstr(body.data, "\"code\":\"missing_token\""));
  op_buf_free(&body);
  free(token);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_bearer_header, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bearer_scheme_any_case, setup, teardown),
      cmocka_unit_test_setup_teardown(test_query_parameter, setup, teardown),
      cmocka_unit_test_setup_teardown(test_cookie, setup, teardown),
      cmocka_unit_test_setup_teardown(test_nothing_presented, setup, teardown),
      cmocka_unit_test_setup_teardown(test_header_wins_over_query_and_cookie, setup, teardown),
      cmocka_unit_test_setup_teardown(test_query_wins_over_cookie, setup, teardown),
      cmocka_unit_test_setup_teardown(test_other_schemes_passed_over, setup, teardown),
      cmocka_unit_test_setup_teardown(test_empty_values_passed_over, setup, teardown),
      cmocka_unit_test_setup_teardown(test_too_long, setup, teardown),
      cmocka_unit_test(test_arguments),
      cmocka_unit_test_setup_teardown(test_verified_from_each_place, setup, teardown),
  };
  if (argc > 1)
    cmocka_set_test_filter(argv[1]);
  return TEST_MAIN(tests);
}
