/*
 * Server and router lifecycle: connection churn leaves nothing behind,
 * "address in use" comes back from start, every loop accepts on the shared
 * port, bad configurations and routes are refused, and a server that never
 * started can be stopped and freed.
 */
#include "http/helpers.h"

#include <dirent.h>
#include <stdatomic.h>
#include <sys/resource.h>

static atomic_int hits_by_loop[8];

static void which_loop(op_http_req_t *req, void *ud) {
  unsigned index = op_http_loop_index(op_http_req_loop(req));
  atomic_fetch_add(&hits_by_loop[index % 8], 1);
  op_http_respond(req, 200, "text/plain", "ok", 2);
}

static int setup(void **state) {
  for (int i = 0; i < 8; i++)
    atomic_store(&hits_by_loop[i], 0);
  test_server_t *t = test_server_new();
  assert_int_equal(op_http_route(t->router, "GET", "/which", which_loop, NULL), 0);
  test_server_start(t, NULL);
  *state = t;
  return 0;
}

static int teardown(void **state) {
  test_server_free(*state);
  return 0;
}

/* 1,000 connections opened and dropped in various states; the gauge returns
 * to zero and LeakSanitizer finds nothing at exit. */
static void test_connection_churn(void **state) {
  test_server_t *t = *state;
  static const char *const sends[] = {
      NULL,                                                    /* nothing at all */
      "GET /which HTTP/1.1\r\nHost",                           /* half a request */
      "GET /which HTTP/1.1\r\nHost: x\r\n\r\n",                /* a full one, answer unread */
      "POST /which HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc", /* half a body */
      "\x16\x03\x01 garbage",                                  /* not HTTP */
  };
  for (int i = 0; i < 1000; i++) {
    int fd = test_connect(t->port);
    const char *data = sends[i % 5];
    if (data)
      test_sends(fd, data);
    if (i % 2) {
      struct linger lg = {1, 0}; /* every other one ends with a reset */
      setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    close(fd);
  }
  assert_true(test_wait_connections(0, 10000));
  test_resp_t resp;
  assert_int_equal(test_get(t->port, "/which", &resp), CURLE_OK); /* still serving */
  assert_int_equal(resp.status, 200);
  test_resp_free(&resp);
}

static void test_both_loops_accept(void **state) {
  test_server_t *t = *state;
  /* SO_REUSEPORT spreads connections by their source port; 64 fresh
   * connections all landing on one of two loops has odds of 2^-63. */
  for (int i = 0; i < 64; i++) {
    op_buf_t out = OP_BUF_INIT;
    assert_true(test_exchange(
        t->port, "GET /which HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", &out, 5000));
    assert_non_null(strstr(out.data, "200 OK"));
    op_buf_free(&out);
  }
  assert_true(atomic_load(&hits_by_loop[0]) > 0);
  assert_true(atomic_load(&hits_by_loop[1]) > 0);
  assert_int_equal(atomic_load(&hits_by_loop[0]) + atomic_load(&hits_by_loop[1]), 64);
}

static int open_fds(void) {
  int n = 0;
  DIR *dir = opendir("/proc/self/fd");
  while (readdir(dir))
    n++;
  closedir(dir);
  return n - 3; /* ".", ".." and the directory itself */
}

static double cpu_ms(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
         (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

/* Out of descriptors at accept(): the loops shed the backlog and pause
 * instead of spinning, and serve again once descriptors are back. */
static void test_emfile_does_not_spin(void **state) {
  test_server_t *t = *state;
  enum { CLIENTS = 60 };
  int fds[CLIENTS];
  for (int i = 0; i < CLIENTS; i++) {
    fds[i] = socket(AF_INET, SOCK_STREAM, 0); /* taken before the limit drops */
    assert_true(fds[i] >= 0);
  }
  struct rlimit old, low;
  assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
  low = old;
  low.rlim_cur = (rlim_t)open_fds() + 4; /* room for a few accepted connections */
  assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);

  struct sockaddr_in addr = {0};
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)t->port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (int i = 0; i < CLIENTS; i++)
    assert_int_equal(connect(fds[i], (struct sockaddr *)&addr, sizeof addr), 0);

  /* Over half a second, two spinning loops would burn about a second of CPU. */
  double cpu0 = cpu_ms();
  uint64_t until = test_now_ms() + 500;
  while (test_now_ms() < until)
    poll(NULL, 0, (int)(until - test_now_ms()));
  double spent = cpu_ms() - cpu0;
  assert_true(spent < 250);
  /* At most the 4 free slots, plus the spare descriptor of each of the two
   * loops: while one loop has given its spare up to shed the backlog, the
   * other may accept into that slot. */
  assert_true(test_connections() <= 4 + 2);

  for (int i = 0; i < CLIENTS; i++)
    close(fds[i]);
  assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
  assert_true(test_wait_connections(0, 5000));
  test_resp_t resp;
  assert_int_equal(test_get(t->port, "/which", &resp), CURLE_OK);
  assert_int_equal(resp.status, 200);
  test_resp_free(&resp);
}

static void test_address_in_use(void **state) {
  /* A plain listener without SO_REUSEPORT holds the port. */
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in addr = {0};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof addr), 0);
  assert_int_equal(listen(fd, 8), 0);
  socklen_t len = sizeof addr;
  getsockname(fd, (struct sockaddr *)&addr, &len);

  op_http_router_t *router = op_http_router_new();
  op_http_config_t cfg;
  test_config(&cfg);
  cfg.port = ntohs(addr.sin_port);
  char err[128];
  op_http_server_t *server = op_http_server_new(&cfg, router, err, sizeof err);
  assert_non_null(server);
  assert_int_equal(op_http_server_start(server), OP_EEXIST);
  assert_non_null(strstr(op_http_server_error(server), "in use"));
  assert_int_equal(op_http_server_start(server), OP_ECONFLICT); /* once per server */
  op_http_server_stop(server);
  op_http_server_free(server);
  op_http_router_free(router);
  close(fd);
}

static int failing_init(op_http_loop_t *loop, void *ud) {
  return op_http_loop_index(loop) == 1 ? OP_EIO : 0;
}

static atomic_int done_calls;

static void count_done(op_http_loop_t *loop, void *ud) {
  atomic_fetch_add(&done_calls, 1);
}

static void test_failing_loop_init(void **state) {
  atomic_store(&done_calls, 0);
  op_http_router_t *router = op_http_router_new();
  op_http_config_t cfg;
  test_config(&cfg);
  char err[128];
  op_http_server_t *server = op_http_server_new(&cfg, router, err, sizeof err);
  op_http_server_set_loop_init(server, failing_init, NULL);
  op_http_server_set_loop_done(server, count_done, NULL);
  assert_int_equal(op_http_server_start(server), OP_EIO);
  assert_int_equal(atomic_load(&done_calls), 1); /* the loop whose init succeeded */
  op_http_server_free(server);
  op_http_router_free(router);
}

static void test_config_checks(void **state) {
  op_http_router_t *router = op_http_router_new();
  op_http_config_t cfg;
  char err[128];
  test_config(&cfg);
  cfg.port = 70000;
  assert_null(op_http_server_new(&cfg, router, err, sizeof err));
  assert_non_null(strstr(err, "invalid"));
  test_config(&cfg);
  cfg.threads = -1;
  assert_null(op_http_server_new(&cfg, router, err, sizeof err));
  assert_null(op_http_server_new(&cfg, NULL, err, sizeof err));

  /* threads 0: one loop per core. Never started: stop and free are fine. */
  test_config(&cfg);
  cfg.threads = 0;
  op_http_server_t *server = op_http_server_new(&cfg, router, err, sizeof err);
  assert_non_null(server);
  assert_int_equal(op_http_server_loop_count(server), uv_available_parallelism());
  assert_int_equal(op_http_server_port(server), 0);
  op_http_server_stop(server);
  op_http_server_free(server);
  op_http_router_free(router);

  /* Settings from the process configuration. */
  op_config_t core = {0};
  core.http_host = "127.0.0.1";
  core.port = 8080;
  core.http_threads = 3;
  core.http_header_timeout_ms = 1234;
  core.http_max_body_bytes = 99;
  op_http_config_from(&core, &cfg);
  assert_string_equal(cfg.host, "127.0.0.1");
  assert_int_equal(cfg.port, 8080);
  assert_int_equal(cfg.threads, 3);
  assert_int_equal(cfg.header_timeout_ms, 1234);
  assert_int_equal(cfg.max_body_bytes, 99);
}

static void noop(op_http_req_t *req, void *ud) {}

static void test_route_checks(void **state) {
  op_http_router_t *router = op_http_router_new();
  assert_int_equal(op_http_route(router, "GET", "no-slash", noop, NULL), OP_EINVAL);
  assert_int_equal(op_http_route(router, "GET", "/a/{}", noop, NULL), OP_EINVAL);
  assert_int_equal(op_http_route(router, "GET", "/a/{id", noop, NULL), OP_EINVAL);
  assert_int_equal(op_http_route(router, "GET", "/a/x{id}", noop, NULL), OP_EINVAL);
  assert_int_equal(op_http_route(router, "get", "/a", noop, NULL), OP_EINVAL);
  assert_int_equal(op_http_route(router, "GET", "/a", NULL, NULL), OP_EINVAL);
  assert_int_equal(op_http_route(router, "GET", "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}", noop, NULL),
                   OP_EINVAL);
  assert_int_equal(op_http_route(router, "GET", "/", noop, NULL), 0);
  assert_int_equal(op_http_route(router, "*", "/a/{id}/b", noop, NULL), 0);
  op_http_router_free(router);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_connection_churn, setup, teardown),
      cmocka_unit_test_setup_teardown(test_both_loops_accept, setup, teardown),
      cmocka_unit_test_setup_teardown(test_emfile_does_not_spin, setup, teardown),
      cmocka_unit_test(test_address_in_use),
      cmocka_unit_test(test_failing_loop_init),
      cmocka_unit_test(test_config_checks),
      cmocka_unit_test(test_route_checks),
  };
  return TEST_MAIN(tests);
}
