/*
 * Malformed and oversized input, driven over raw sockets: 400 then close,
 * 413 (Content-Length and chunked), 414, 431, 408 on slow headers, idle
 * keep-alive close, unsupported Transfer-Encoding, Upgrade and Expect.
 */
#include "http/helpers.h"

#include <strings.h>

#define MAX_BODY 1024

static void body_length(op_http_req_t *req, void *ud) {
  size_t len;
  op_http_req_body(req, &len);
  char text[32];
  int n = snprintf(text, sizeof text, "%zu", len);
  op_http_respond(req, 200, "text/plain", text, (size_t)n);
}

static void hello(op_http_req_t *req, void *ud) {
  op_http_respond(req, 200, "text/plain", "hello", 5);
}

static int setup(void **state) {
  test_server_t *t = test_server_new();
  assert_int_equal(op_http_route(t->router, "POST", "/upload", body_length, NULL), 0);
  assert_int_equal(op_http_route(t->router, "GET", "/hello", hello, NULL), 0);
  op_http_config_t cfg;
  test_config(&cfg);
  cfg.max_body_bytes = MAX_BODY;
  cfg.header_timeout_ms = 300;
  cfg.idle_timeout_ms = 400;
  test_server_start(t, &cfg);
  *state = t;
  return 0;
}

static int teardown(void **state) {
  test_server_free(*state);
  return 0;
}

/* Sends request on a fresh connection; the server must answer status with
 * the JSON error code and then close. */
static void expect_error_and_close(int port, const char *request, const char *status,
                                   const char *code) {
  op_buf_t out = OP_BUF_INIT;
  assert_true(test_exchange(port, request, &out, 5000));
  if (strncmp(out.data, status, strlen(status)) != 0)
    fail_msg("expected %s, got: %.200s", status, out.data);
  char want[128];
  snprintf(want, sizeof want, "{\"error\":{\"code\":\"%s\",\"message\":\"", code);
  assert_ptr_equal(strstr(test_body_of(out.data), want), test_body_of(out.data));
  assert_true(test_has_header(out.data, "Content-Type: application/json"));
  assert_true(test_has_header(out.data, "Connection: close"));
  op_buf_free(&out);
}

static void test_garbage_400_then_close(void **state) {
  test_server_t *t = *state;
  expect_error_and_close(t->port, "\x01\x02garbage\r\n\r\n", "HTTP/1.1 400 ", "bad_request");
  expect_error_and_close(t->port, "GET /hello HTTP/1.1\r\nBad Header\r\n\r\n", "HTTP/1.1 400 ",
                         "bad_request");
  expect_error_and_close(t->port, "GET nope HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 400 ",
                         "bad_request");
  /* A valid request first, then garbage: first answered, then 400 and close. */
  op_buf_t out = OP_BUF_INIT;
  assert_true(
      test_exchange(t->port, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\nBLAH\r\n\r\n", &out, 5000));
  assert_non_null(strstr(out.data, "HTTP/1.1 200 OK"));
  assert_non_null(strstr(out.data, "HTTP/1.1 400 Bad Request"));
  op_buf_free(&out);
}

static void test_body_limits(void **state) {
  test_server_t *t = *state;
  /* Rejected on the Content-Length alone, before any body byte is sent. */
  expect_error_and_close(t->port,
                         "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1025\r\n\r\n",
                         "HTTP/1.1 413 ", "payload_too_large");

  /* Chunked: counted as the chunks come. */
  op_buf_t req = OP_BUF_INIT;
  op_buf_puts(&req, "POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
  for (int i = 0; i < 5; i++) {
    op_buf_puts(&req, "100\r\n");
    for (int k = 0; k < 256; k++)
      op_buf_puts(&req, "x");
    op_buf_puts(&req, "\r\n");
  }
  op_buf_puts(&req, "0\r\n\r\n");
  expect_error_and_close(t->port, req.data, "HTTP/1.1 413 ", "payload_too_large");
  op_buf_free(&req);

  /* Within the limit, chunked or not, the body reaches the handler. */
  test_resp_t resp;
  char *big = malloc(MAX_BODY + 1);
  memset(big, 'y', MAX_BODY);
  big[MAX_BODY] = '\0';
  assert_int_equal(test_request(NULL, t->port, "POST", "/upload", big, NULL, &resp), CURLE_OK);
  assert_int_equal(resp.status, 200);
  assert_string_equal(resp.body.data, "1024");
  test_resp_free(&resp);
  free(big);
  op_buf_t out = OP_BUF_INIT;
  assert_true(test_exchange(t->port,
                            "POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                            "Connection: close\r\n\r\n5\r\nhello\r\n3\r\nabc\r\n0\r\n\r\n",
                            &out, 5000));
  assert_string_equal(test_body_of(out.data), "8");
  op_buf_free(&out);
}

static void test_uri_too_long(void **state) {
  test_server_t *t = *state;
  op_buf_t req = OP_BUF_INIT;
  op_buf_puts(&req, "GET /");
  for (int i = 0; i < 8200; i++)
    op_buf_puts(&req, "a");
  op_buf_puts(&req, " HTTP/1.1\r\nHost: x\r\n\r\n");
  expect_error_and_close(t->port, req.data, "HTTP/1.1 414 ", "uri_too_long");
  op_buf_free(&req);
}

static void test_headers_too_large(void **state) {
  test_server_t *t = *state;
  op_buf_t req = OP_BUF_INIT;
  op_buf_puts(&req, "GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: ");
  for (int i = 0; i < 17 * 1024; i++)
    op_buf_puts(&req, "b");
  op_buf_puts(&req, "\r\n\r\n");
  expect_error_and_close(t->port, req.data, "HTTP/1.1 431 ", "headers_too_large");
  op_buf_reset(&req);

  op_buf_puts(&req, "GET /hello HTTP/1.1\r\n");
  for (int i = 0; i < 101; i++)
    op_buf_printf(&req, "X-H%d: %d\r\n", i, i);
  op_buf_puts(&req, "\r\n");
  expect_error_and_close(t->port, req.data, "HTTP/1.1 431 ", "headers_too_large");
  op_buf_reset(&req);

  /* 100 headers are fine. */
  op_buf_puts(&req, "GET /hello HTTP/1.1\r\nConnection: close\r\n");
  for (int i = 0; i < 99; i++)
    op_buf_printf(&req, "X-H%d: %d\r\n", i, i);
  op_buf_puts(&req, "\r\n");
  op_buf_t out = OP_BUF_INIT;
  assert_true(test_exchange(t->port, req.data, &out, 5000));
  assert_non_null(strstr(out.data, "HTTP/1.1 200 OK"));
  op_buf_free(&out);
  op_buf_free(&req);
}

static void test_header_timeout(void **state) {
  test_server_t *t = *state;
  int fd = test_connect(t->port);
  uint64_t start = test_now_ms();
  test_sends(fd, "GET /hello HTTP/1.1\r\nHost: x\r\n"); /* headers never finished */
  op_buf_t out = OP_BUF_INIT;
  assert_int_equal(test_read(fd, &out, NULL, 5000), 1);
  uint64_t elapsed = test_now_ms() - start;
  close(fd);
  assert_non_null(strstr(out.data, "HTTP/1.1 408 Request Timeout"));
  assert_non_null(strstr(out.data, "\"code\":\"request_timeout\""));
  assert_true(elapsed >= 250);
  assert_true(elapsed < 3000);
  op_buf_free(&out);

  /* A connection that sends nothing at all times out the same way. */
  fd = test_connect(t->port);
  assert_int_equal(test_read(fd, &out, NULL, 5000), 1);
  assert_non_null(strstr(out.data, "408"));
  close(fd);
  op_buf_free(&out);
}

static void test_idle_keep_alive_closed(void **state) {
  test_server_t *t = *state;
  int fd = test_connect(t->port);
  test_sends(fd, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
  op_buf_t out = OP_BUF_INIT;
  assert_int_equal(test_read(fd, &out, "hello", 5000), 2);
  uint64_t start = test_now_ms();
  assert_int_equal(test_read(fd, &out, NULL, 5000), 1); /* closed after idle_timeout_ms */
  uint64_t elapsed = test_now_ms() - start;
  assert_true(elapsed >= 300 && elapsed < 3000);
  assert_int_equal(test_count(out.data, "HTTP/1.1"), 1); /* no 408 for an idle connection */
  close(fd);
  op_buf_free(&out);
  assert_true(test_wait_connections(0, 5000));
}

static void test_transfer_encoding_upgrade_expect(void **state) {
  test_server_t *t = *state;
  expect_error_and_close(t->port,
                         "POST /upload HTTP/1.1\r\nHost: x\r\n"
                         "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
                         "HTTP/1.1 501 ", "not_implemented");
  expect_error_and_close(t->port,
                         "POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
                         "HTTP/1.1 400 ", "bad_request");
  expect_error_and_close(t->port,
                         "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
                         "Upgrade: websocket\r\n\r\n",
                         "HTTP/1.1 501 ", "not_implemented");
  expect_error_and_close(t->port, "CONNECT example.com:443 HTTP/1.1\r\nHost: x\r\n\r\n",
                         "HTTP/1.1 501 ", "not_implemented");
  expect_error_and_close(t->port,
                         "POST /upload HTTP/1.1\r\nHost: x\r\nExpect: something\r\n"
                         "Content-Length: 3\r\n\r\nabc",
                         "HTTP/1.1 417 ", "expectation_failed");
  expect_error_and_close(t->port, "GET /hello HTTP/2.0\r\nHost: x\r\n\r\n", "HTTP/1.1 505 ",
                         "http_version_not_supported");

  /* An h2c offer is ignored: answered over HTTP/1.1. */
  op_buf_t out = OP_BUF_INIT;
  assert_true(test_exchange(t->port,
                            "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, close\r\n"
                            "Upgrade: h2c\r\n\r\n",
                            &out, 5000));
  assert_non_null(strstr(out.data, "HTTP/1.1 200 OK"));
  op_buf_reset(&out);

  /* Expect: 100-continue gets its interim answer before the body is sent. */
  int fd = test_connect(t->port);
  test_sends(fd, "POST /upload HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                 "Content-Length: 4\r\nConnection: close\r\n\r\n");
  assert_int_equal(test_read(fd, &out, "HTTP/1.1 100 Continue\r\n\r\n", 5000), 2);
  test_sends(fd, "abcd");
  assert_int_equal(test_read(fd, &out, NULL, 5000), 1);
  assert_non_null(strstr(out.data, "HTTP/1.1 200 OK"));
  assert_string_equal(test_body_of(strstr(out.data, "HTTP/1.1 200")), "4");
  close(fd);
  op_buf_free(&out);
}

static void test_errors_are_counted(void **state) {
  test_server_t *t = *state;
  op_metric_t *m = op_counter("orderpulse_http_requests_total", NULL, "code=\"400\"");
  uint64_t before = op_counter_value(m);
  expect_error_and_close(t->port, "NOT HTTP\r\n\r\n", "HTTP/1.1 400 ", "bad_request");
  assert_int_equal(op_counter_value(m), before + 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_garbage_400_then_close, setup, teardown),
      cmocka_unit_test_setup_teardown(test_body_limits, setup, teardown),
      cmocka_unit_test_setup_teardown(test_uri_too_long, setup, teardown),
      cmocka_unit_test_setup_teardown(test_headers_too_large, setup, teardown),
      cmocka_unit_test_setup_teardown(test_header_timeout, setup, teardown),
      cmocka_unit_test_setup_teardown(test_idle_keep_alive_closed, setup, teardown),
      cmocka_unit_test_setup_teardown(test_transfer_encoding_upgrade_expect, setup, teardown),
      cmocka_unit_test_setup_teardown(test_errors_are_counted, setup, teardown),
  };
  return TEST_MAIN(tests);
}
