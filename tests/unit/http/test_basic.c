/*
 * Requests and responses over libcurl and raw sockets: handlers, route
 * parameters, query, headers and cookies, 404/405 error shape, HEAD,
 * keep-alive, pipelining, HTTP/1.0, /health and /metrics.
 */
#include "http/helpers.h"

#include <jansson.h>
#include <strings.h>

#include "core/health.h"

static void hello(op_http_req_t *req, void *ud) {
  op_http_respond(req, 200, "text/plain", "hello", 5);
}

/* Echoes what the request API sees, as JSON built with jansson. */
static void inspect(op_http_req_t *req, void *ud) {
  char last[64], small[4], token[128];
  size_t body_len;
  const char *body = op_http_req_body(req, &body_len);
  int last_rc = op_http_req_query(req, "last_event_id", last, sizeof last);
  int small_rc = op_http_req_query(req, "last_event_id", small, sizeof small);
  int missing_rc = op_http_req_query(req, "nope", small, sizeof small);
  int token_rc = op_http_req_cookie(req, "op_token", token, sizeof token);
  const char *auth = op_http_req_header(req, "AUTHORIZATION");
  const char *id = op_http_req_param(req, "id");
  const char *item = op_http_req_param(req, "item");
  json_t *doc =
      json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:s?, s:i, s:s?, s:i, s:i, s:s?, s:i, s:s#, s:b}",
                "method", op_http_req_method(req), "path", op_http_req_path(req), "query",
                op_http_req_query_string(req), "id", id, "item", item, "last_event_id",
                last_rc >= 0 ? last : NULL, "last_rc", last_rc, "auth", auth, "small_rc", small_rc,
                "missing_rc", missing_rc, "token", token_rc >= 0 ? token : NULL, "token_rc",
                token_rc, "body", body, (int)body_len, "on_loop", op_http_req_loop(req) != NULL);
  op_http_respond_json(req, 200, doc);
}

/* Results are reported in the answer: cmocka asserts belong to the test thread. */
static void with_headers(op_http_req_t *req, void *ud) {
  int ok = op_http_resp_header(req, "Retry-After", "5") == 0 &&
           op_http_resp_header(req, "X-Bad", "a\r\nInjected: 1") == OP_EINVAL &&
           op_http_resp_header(req, "Bad Name", "x") == OP_EINVAL;
  if (ok)
    op_http_respond_error(req, 503, "unavailable", "try again \"later\"");
  else
    op_http_respond_error(req, 500, "test_failed", "op_http_resp_header");
}

static void forgets(op_http_req_t *req, void *ud) {
  /* returns without answering: the server answers 500 */
}

static void null_json(op_http_req_t *req, void *ud) {
  op_http_respond_json(req, 200, NULL);
}

static void echo_n(op_http_req_t *req, void *ud) {
  char n[16];
  int len = op_http_req_query(req, "n", n, sizeof n);
  op_http_respond(req, 200, "text/plain", n, len > 0 ? (size_t)len : 0);
}

static int setup(void **state) {
  test_server_t *t = test_server_new();
  assert_int_equal(op_http_route(t->router, "GET", "/hello", hello, NULL), 0);
  assert_int_equal(op_http_route(t->router, "*", "/api/orders/{id}/items/{item}", inspect, NULL),
                   0);
  assert_int_equal(op_http_route(t->router, "GET", "/inspect", inspect, NULL), 0);
  assert_int_equal(op_http_route(t->router, "POST", "/inspect", inspect, NULL), 0);
  assert_int_equal(op_http_route(t->router, "GET", "/headers", with_headers, NULL), 0);
  assert_int_equal(op_http_route(t->router, "GET", "/forgets", forgets, NULL), 0);
  assert_int_equal(op_http_route(t->router, "GET", "/null-json", null_json, NULL), 0);
  assert_int_equal(op_http_route(t->router, "GET", "/echo", echo_n, NULL), 0);
  assert_int_equal(op_http_route(t->router, "DELETE", "/hello", hello, NULL), 0);
  assert_int_equal(op_http_add_builtin_routes(t->router), 0);
  test_server_start(t, NULL);
  *state = t;
  return 0;
}

static int teardown(void **state) {
  test_server_free(*state);
  op_health_reset();
  return 0;
}

static json_t *body_json(const test_resp_t *resp) {
  json_error_t err;
  json_t *doc = json_loads(resp->body.data, 0, &err);
  if (doc == NULL)
    fail_msg("not JSON (%s): %s", err.text, resp->body.data);
  return doc;
}

static void test_handler_200(void **state) {
  test_server_t *t = *state;
  test_resp_t resp;
  assert_int_equal(test_get(t->port, "/hello", &resp), CURLE_OK);
  assert_int_equal(resp.status, 200);
  assert_string_equal(resp.body.data, "hello");
  assert_true(test_has_header(resp.headers.data, "Content-Type: text/plain"));
  assert_true(test_has_header(resp.headers.data, "Content-Length: 5"));
  assert_non_null(strstr(resp.headers.data, "Date: "));
  test_resp_free(&resp);
}

static void test_path_params(void **state) {
  test_server_t *t = *state;
  test_resp_t resp;
  assert_int_equal(test_get(t->port, "/api/orders/ord%2F1%20x/items/sku-9", &resp), CURLE_OK);
  assert_int_equal(resp.status, 200);
  json_t *doc = body_json(&resp);
  assert_string_equal(json_string_value(json_object_get(doc, "id")), "ord/1 x");
  assert_string_equal(json_string_value(json_object_get(doc, "item")), "sku-9");
  assert_string_equal(json_string_value(json_object_get(doc, "path")),
                      "/api/orders/ord%2F1%20x/items/sku-9");
  json_decref(doc);
  test_resp_free(&resp);

  /* A "{name}" segment never matches an empty segment or extra segments. */
  assert_int_equal(test_get(t->port, "/api/orders//items/x", &resp), CURLE_OK);
  assert_int_equal(resp.status, 404);
  test_resp_free(&resp);
  assert_int_equal(test_get(t->port, "/api/orders/1/items/x/y", &resp), CURLE_OK);
  assert_int_equal(resp.status, 404);
  test_resp_free(&resp);
}

static void test_query_decoding(void **state) {
  test_server_t *t = *state;
  test_resp_t resp;
  assert_int_equal(test_get(t->port, "/inspect?x=1&last_event_id=t_a%3A42+b%2b&flag", &resp),
                   CURLE_OK);
  assert_int_equal(resp.status, 200);
  json_t *doc = body_json(&resp);
  assert_string_equal(json_string_value(json_object_get(doc, "last_event_id")), "t_a:42 b+");
  assert_int_equal(json_integer_value(json_object_get(doc, "last_rc")), 9);
  assert_int_equal(json_integer_value(json_object_get(doc, "small_rc")), OP_ERANGE);
  assert_int_equal(json_integer_value(json_object_get(doc, "missing_rc")), OP_ENOENT);
  assert_string_equal(json_string_value(json_object_get(doc, "query")),
                      "x=1&last_event_id=t_a%3A42+b%2b&flag");
  assert_string_equal(json_string_value(json_object_get(doc, "path")), "/inspect");
  json_decref(doc);
  test_resp_free(&resp);
}

static void test_headers_cookies_body(void **state) {
  test_server_t *t = *state;
  test_resp_t resp;
  const char *headers[] = {"authorization: Bearer abc",
                           "Cookie: theme=dark; op_token=\"tok.en\"; other=1", NULL};
  assert_int_equal(test_request(NULL, t->port, "POST", "/inspect", "{\"a\":1}", headers, &resp),
                   CURLE_OK);
  assert_int_equal(resp.status, 200);
  json_t *doc = body_json(&resp);
  assert_string_equal(json_string_value(json_object_get(doc, "auth")), "Bearer abc");
  assert_string_equal(json_string_value(json_object_get(doc, "token")), "tok.en");
  assert_string_equal(json_string_value(json_object_get(doc, "body")), "{\"a\":1}");
  assert_string_equal(json_string_value(json_object_get(doc, "method")), "POST");
  assert_true(json_is_true(json_object_get(doc, "on_loop")));
  json_decref(doc);
  test_resp_free(&resp);
}

static void test_not_found_shape(void **state) {
  test_server_t *t = *state;
  test_resp_t resp;
  assert_int_equal(test_get(t->port, "/nowhere", &resp), CURLE_OK);
  assert_int_equal(resp.status, 404);
  assert_string_equal(resp.body.data,
                      "{\"error\":{\"code\":\"not_found\",\"message\":\"no such resource\"}}");
  assert_true(test_has_header(resp.headers.data, "Content-Type: application/json"));
  test_resp_free(&resp);
}

static void test_method_not_allowed(void **state) {
  test_server_t *t = *state;
  test_resp_t resp;
  assert_int_equal(test_request(NULL, t->port, "PUT", "/hello", NULL, NULL, &resp), CURLE_OK);
  assert_int_equal(resp.status, 405);
  assert_true(test_has_header(resp.headers.data, "Allow: GET, HEAD, DELETE"));
  assert_string_equal(resp.body.data, "{\"error\":{\"code\":\"method_not_allowed\","
                                      "\"message\":\"method not allowed on this resource\"}}");
  test_resp_free(&resp);
}

static void test_error_and_headers(void **state) {
  test_server_t *t = *state;
  test_resp_t resp;
  assert_int_equal(test_get(t->port, "/headers", &resp), CURLE_OK);
  assert_int_equal(resp.status, 503);
  assert_true(test_has_header(resp.headers.data, "Retry-After: 5"));
  assert_null(strstr(resp.headers.data, "Injected"));
  json_t *doc = body_json(&resp);
  json_t *err = json_object_get(doc, "error");
  assert_int_equal(json_object_size(doc), 1);
  assert_int_equal(json_object_size(err), 2);
  assert_string_equal(json_string_value(json_object_get(err, "message")), "try again \"later\"");
  json_decref(doc);
  test_resp_free(&resp);
}

static void test_unanswered_is_500(void **state) {
  test_server_t *t = *state;
  test_resp_t resp;
  assert_int_equal(test_get(t->port, "/forgets", &resp), CURLE_OK);
  assert_int_equal(resp.status, 500);
  test_resp_free(&resp);
  assert_int_equal(test_get(t->port, "/null-json", &resp), CURLE_OK);
  assert_int_equal(resp.status, 500);
  assert_non_null(strstr(resp.body.data, "internal_error"));
  test_resp_free(&resp);
}

static void test_head(void **state) {
  test_server_t *t = *state;
  /* Raw, so that any stray body bytes would show up before the next answer. */
  int fd = test_connect(t->port);
  test_sends(fd, "HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\n"
                 "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  op_buf_t out = OP_BUF_INIT;
  assert_int_equal(test_read(fd, &out, NULL, 5000), 1);
  close(fd);
  assert_int_equal(test_count(out.data, "HTTP/1.1 200 OK\r\n"), 2);
  assert_int_equal(test_count(out.data, "Content-Length: 5\r\n"), 2);
  const char *second = strstr(out.data + 1, "HTTP/1.1 200 OK");
  assert_non_null(second);
  assert_memory_equal(second - 4, "\r\n\r\n", 4); /* nothing between the two heads */
  assert_string_equal(test_body_of(second), "hello");
  op_buf_free(&out);
}

static void test_keep_alive(void **state) {
  test_server_t *t = *state;
  CURL *curl = curl_easy_init();
  long total = 0;
  for (int i = 0; i < 5; i++) {
    test_resp_t resp;
    assert_int_equal(test_request(curl, t->port, "GET", "/hello", NULL, NULL, &resp), CURLE_OK);
    assert_int_equal(resp.status, 200);
    total += resp.connects;
    assert_int_equal(test_connections(), 1);
    test_resp_free(&resp);
  }
  assert_int_equal(total, 1);
  curl_easy_cleanup(curl);
  assert_true(test_wait_connections(0, 5000));
}

static void test_pipelined_in_order(void **state) {
  test_server_t *t = *state;
  op_buf_t out = OP_BUF_INIT;
  assert_true(test_exchange(t->port,
                            "GET /echo?n=one HTTP/1.1\r\nHost: x\r\n\r\n"
                            "GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n"
                            "POST /inspect HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
                            "GET /echo?n=four HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                            &out, 5000));
  const char *one = strstr(out.data, "\r\n\r\none");
  const char *two = strstr(out.data, "404 Not Found");
  const char *three = strstr(out.data, "\"body\":\"abc\"");
  const char *four = strstr(out.data, "\r\n\r\nfour");
  assert_non_null(one);
  assert_non_null(two);
  assert_non_null(three);
  assert_non_null(four);
  assert_true(one < two && two < three && three < four);
  assert_int_equal(test_count(out.data, "HTTP/1.1 "), 4);
  assert_true(test_has_header(out.data, "Connection: close"));
  op_buf_free(&out);
}

static void test_connection_close_and_http10(void **state) {
  test_server_t *t = *state;
  op_buf_t out = OP_BUF_INIT;
  /* HTTP/1.0 without keep-alive: answered, then closed by the server. */
  assert_true(test_exchange(t->port, "GET /hello HTTP/1.0\r\n\r\n", &out, 5000));
  assert_non_null(strstr(out.data, "HTTP/1.1 200 OK"));
  assert_true(test_has_header(out.data, "Connection: close"));
  op_buf_free(&out);

  /* HTTP/1.0 with keep-alive: the connection stays open for a second request. */
  int fd = test_connect(t->port);
  test_sends(fd, "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  assert_int_equal(test_read(fd, &out, "hello", 5000), 2);
  assert_true(test_has_header(out.data, "Connection: keep-alive"));
  op_buf_reset(&out);
  test_sends(fd, "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  assert_int_equal(test_read(fd, &out, NULL, 5000), 1);
  assert_non_null(strstr(out.data, "hello"));
  close(fd);
  op_buf_free(&out);
}

static void test_health(void **state) {
  test_server_t *t = *state;
  test_resp_t resp;
  op_health_register("database", 1);
  op_health_set("database", OP_HEALTH_OK, "connected");
  assert_int_equal(test_get(t->port, "/health", &resp), CURLE_OK);
  assert_int_equal(resp.status, 200);
  assert_non_null(strstr(resp.body.data, "\"status\":\"ok\""));
  test_resp_free(&resp);

  op_health_register("redis", 0);
  op_health_set("redis", OP_HEALTH_DOWN, "refused");
  assert_int_equal(test_get(t->port, "/health", &resp), CURLE_OK);
  assert_int_equal(resp.status, 200);
  assert_non_null(strstr(resp.body.data, "\"status\":\"degraded\""));
  test_resp_free(&resp);

  op_health_set("database", OP_HEALTH_DOWN, "gone");
  assert_int_equal(test_get(t->port, "/health", &resp), CURLE_OK);
  assert_int_equal(resp.status, 503);
  assert_non_null(strstr(resp.body.data, "\"status\":\"down\""));
  assert_true(test_has_header(resp.headers.data, "Content-Type: application/json"));
  test_resp_free(&resp);
}

static void test_metrics(void **state) {
  test_server_t *t = *state;
  test_resp_t resp;
  assert_int_equal(test_get(t->port, "/hello", &resp), CURLE_OK);
  test_resp_free(&resp);
  assert_int_equal(test_get(t->port, "/nowhere", &resp), CURLE_OK);
  test_resp_free(&resp);
  assert_true(test_wait_connections(0, 5000)); /* the two above are closed */
  assert_int_equal(test_get(t->port, "/metrics", &resp), CURLE_OK);
  assert_int_equal(resp.status, 200);
  assert_true(test_has_header(resp.headers.data, "Content-Type: text/plain; version=0.0.4"));
  assert_non_null(strstr(resp.body.data, "orderpulse_http_requests_total{code=\"200\"} "));
  assert_non_null(strstr(resp.body.data, "orderpulse_http_requests_total{code=\"404\"} "));
  assert_non_null(strstr(resp.body.data, "# TYPE orderpulse_http_request_seconds histogram"));
  assert_non_null(strstr(resp.body.data, "orderpulse_http_request_seconds_count "));
  assert_non_null(strstr(resp.body.data, "# TYPE orderpulse_http_connections gauge"));
  /* The connection asking is the one open connection. */
  assert_non_null(strstr(resp.body.data, "\norderpulse_http_connections 1\n"));
  test_resp_free(&resp);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_handler_200, setup, teardown),
      cmocka_unit_test_setup_teardown(test_path_params, setup, teardown),
      cmocka_unit_test_setup_teardown(test_query_decoding, setup, teardown),
      cmocka_unit_test_setup_teardown(test_headers_cookies_body, setup, teardown),
      cmocka_unit_test_setup_teardown(test_not_found_shape, setup, teardown),
      cmocka_unit_test_setup_teardown(test_method_not_allowed, setup, teardown),
      cmocka_unit_test_setup_teardown(test_error_and_headers, setup, teardown),
      cmocka_unit_test_setup_teardown(test_unanswered_is_500, setup, teardown),
      cmocka_unit_test_setup_teardown(test_head, setup, teardown),
      cmocka_unit_test_setup_teardown(test_keep_alive, setup, teardown),
      cmocka_unit_test_setup_teardown(test_pipelined_in_order, setup, teardown),
      cmocka_unit_test_setup_teardown(test_connection_close_and_http10, setup, teardown),
      cmocka_unit_test_setup_teardown(test_health, setup, teardown),
      cmocka_unit_test_setup_teardown(test_metrics, setup, teardown),
  };
  return TEST_MAIN(tests);
}
