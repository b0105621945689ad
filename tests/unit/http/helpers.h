/*
 * Helpers shared by the op_http unit tests: an in-process server on
 * 127.0.0.1 with an ephemeral port and two loops, a libcurl client, and raw
 * sockets with bounded poll()-based reads for what curl will not send.
 */
#ifndef OP_TEST_HTTP_HELPERS_H
#define OP_TEST_HTTP_HELPERS_H

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "core/metrics.h"
#include "http/http.h"

typedef struct {
  op_http_router_t *router;
  op_http_server_t *server;
  int port;
} test_server_t;

static inline uint64_t test_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Fills cfg for tests: 127.0.0.1, port 0, two loops, short stop timeout. */
static inline void test_config(op_http_config_t *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->host = "127.0.0.1";
  cfg->threads = 2;
  cfg->shutdown_timeout_ms = 2000;
  cfg->tick_ms = 50;
}

static inline test_server_t *test_server_new(void) {
  test_server_t *t = calloc(1, sizeof *t);
  assert_non_null(t);
  t->router = op_http_router_new();
  assert_non_null(t->router);
  return t;
}

/* Creates and starts the server with cfg (test_config() when NULL). */
static inline void test_server_start(test_server_t *t, const op_http_config_t *cfg) {
  op_http_config_t defaults;
  if (cfg == NULL) {
    test_config(&defaults);
    cfg = &defaults;
  }
  char err[256];
  if (t->server == NULL) {
    t->server = op_http_server_new(cfg, t->router, err, sizeof err);
    if (t->server == NULL)
      fail_msg("op_http_server_new: %s", err);
  }
  int rc = op_http_server_start(t->server);
  if (rc)
    fail_msg("op_http_server_start: %s (%s)", op_strerror(rc), op_http_server_error(t->server));
  t->port = op_http_server_port(t->server);
  assert_true(t->port > 0);
}

static inline int64_t test_connections(void) {
  return op_gauge_value(op_gauge("orderpulse_http_connections", NULL, NULL));
}

/* Waits (bounded) until the connections gauge reads want. */
static inline int test_wait_connections(int64_t want, int timeout_ms) {
  uint64_t deadline = test_now_ms() + (uint64_t)timeout_ms;
  while (test_connections() != want) {
    if (test_now_ms() > deadline)
      return 0;
    poll(NULL, 0, 5);
  }
  return 1;
}

/* Stops and frees everything; every connection must be gone afterwards. */
static inline void test_server_free(test_server_t *t) {
  if (t == NULL)
    return;
  op_http_server_free(t->server);
  op_http_router_free(t->router);
  assert_int_equal(test_connections(), 0);
  free(t);
}

/* ---- libcurl ---- */

typedef struct {
  long status;
  op_buf_t body;
  op_buf_t headers;
  long connects;
} test_resp_t;

static inline size_t test_curl_sink(char *ptr, size_t size, size_t n, void *ud) {
  op_buf_append(ud, ptr, size * n);
  return size * n;
}

static inline void test_resp_free(test_resp_t *resp) {
  op_buf_free(&resp->body);
  op_buf_free(&resp->headers);
  memset(resp, 0, sizeof *resp);
}

/*
 * Performs one request with curl (reusing curl when not NULL, so that
 * keep-alive can be observed). body NULL: no request body. headers: extra
 * "Name: value" lines, NULL-terminated array or NULL. Returns the CURLcode.
 */
static inline int test_request(CURL *curl, int port, const char *method, const char *path,
                               const char *body, const char *const *headers, test_resp_t *resp) {
  int own = curl == NULL;
  if (own)
    curl = curl_easy_init();
  assert_non_null(curl);
  char url[9300];
  snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
  struct curl_slist *list = NULL;
  for (const char *const *h = headers; h && *h; h++)
    list = curl_slist_append(list, *h);
  memset(resp, 0, sizeof *resp);
  curl_easy_setopt(curl, CURLOPT_URL, url);
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(curl, CURLOPT_NOBODY, strcmp(method, "HEAD") == 0 ? 1L : 0L);
  if (body) {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
  } else if (strcmp(method, "HEAD") != 0) {
    curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
  }
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, test_curl_sink);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &resp->body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, test_curl_sink);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &resp->headers);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  int rc = (int)curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &resp->status);
  curl_easy_getinfo(curl, CURLINFO_NUM_CONNECTS, &resp->connects);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, NULL);
  curl_slist_free_all(list);
  if (own)
    curl_easy_cleanup(curl);
  if (resp->body.data == NULL)
    op_buf_puts(&resp->body, "");
  if (resp->headers.data == NULL)
    op_buf_puts(&resp->headers, "");
  return rc;
}

static inline int test_get(int port, const char *path, test_resp_t *resp) {
  return test_request(NULL, port, "GET", path, NULL, NULL, resp);
}

/* Case-insensitive search for a header line "name: value" in raw headers. */
static inline int test_has_header(const char *headers, const char *line) {
  size_t n = strlen(line);
  for (const char *p = headers; *p; p++)
    if (strncasecmp(p, line, n) == 0 && (p[n] == '\r' || p[n] == '\n'))
      return 1;
  return 0;
}

/* ---- Raw sockets ---- */

static inline int test_connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  struct sockaddr_in addr = {0};
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof addr), 0);
  return fd;
}

static inline void test_send(int fd, const char *data, size_t len) {
  while (len) {
    ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR)
      continue;
    assert_true(n > 0);
    data += n;
    len -= (size_t)n;
  }
}

static inline void test_sends(int fd, const char *s) {
  test_send(fd, s, strlen(s));
}

/*
 * Reads into out until the peer closes (returns 1), until out contains
 * needle when needle is not NULL (returns 2), or until timeout_ms pass
 * (returns 0). Uses poll(), never a sleep.
 */
static inline int test_read(int fd, op_buf_t *out, const char *needle, int timeout_ms) {
  uint64_t deadline = test_now_ms() + (uint64_t)timeout_ms;
  for (;;) {
    if (needle && out->data && strstr(out->data, needle))
      return 2;
    uint64_t now = test_now_ms();
    if (now >= deadline)
      return 0;
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int r = poll(&pfd, 1, (int)(deadline - now));
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      return 0;
    char chunk[16384];
    ssize_t n = recv(fd, chunk, sizeof chunk, 0);
    if (n > 0) {
      op_buf_append(out, chunk, (size_t)n);
      continue;
    }
    if (n == 0 || errno == ECONNRESET)
      return 1;
    if (errno != EINTR && errno != EAGAIN)
      return 1;
  }
}

/* Connects, sends request, reads until the server closes (bounded). Returns
 * 1 when the server closed the connection. */
static inline int test_exchange(int port, const char *request, op_buf_t *out, int timeout_ms) {
  int fd = test_connect(port);
  test_sends(fd, request);
  int rc = test_read(fd, out, NULL, timeout_ms);
  close(fd);
  if (out->data == NULL)
    op_buf_puts(out, "");
  return rc == 1;
}

/* Number of non-overlapping occurrences of needle in s. */
static inline int test_count(const char *s, const char *needle) {
  int n = 0;
  size_t len = strlen(needle);
  for (const char *p = s; (p = strstr(p, needle)) != NULL; p += len)
    n++;
  return n;
}

/* The body after the first blank line of a raw response. */
static inline const char *test_body_of(const char *raw) {
  const char *p = strstr(raw, "\r\n\r\n");
  return p ? p + 4 : "";
}

/* Runs the tests with logging kept quiet and curl initialised once. */
static inline int test_main(const char *name, const struct CMUnitTest *tests, size_t n) {
  op_log_set_level(OP_LOG_ERROR);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  int failed = _cmocka_run_group_tests(name, tests, n, NULL, NULL);
  curl_global_cleanup();
  op_metrics_reset();
  return failed;
}

#define TEST_MAIN(tests) test_main(__FILE__, tests, sizeof tests / sizeof tests[0])

#endif
