/*
 * Deferred answers: a handler keeps the request and answers later on its
 * loop, woken by a uv_async_t from a worker thread or by a uv_timer; the
 * client going away (or the server stopping) cancels it.
 */
#include "http/helpers.h"

#include <stdatomic.h>

#define MAX_LOOPS 4
#define MAX_QUEUED 64

/* Per-loop state created by the loop-init hook, as a fan-out engine would. */
typedef struct {
  uv_async_t async;
  op_http_req_t *queue[MAX_QUEUED];
  int nqueued;
} loop_state_t;

static loop_state_t *states[MAX_LOOPS];
static atomic_int deferred_count;
static atomic_int cancel_count;
static atomic_int init_count;
static atomic_int done_count;

typedef struct {
  uv_timer_t timer;
  op_http_req_t *req;
} later_t;

static void on_async(uv_async_t *async) {
  loop_state_t *state = async->data;
  for (int i = 0; i < state->nqueued; i++) {
    char text[32];
    int n = snprintf(text, sizeof text, "async %d", i);
    op_http_respond(state->queue[i], 200, "text/plain", text, (size_t)n);
  }
  state->nqueued = 0;
}

static int loop_init(op_http_loop_t *loop, void *ud) {
  loop_state_t *state = calloc(1, sizeof *state);
  if (state == NULL)
    return OP_ENOMEM;
  uv_async_init(op_http_loop_uv(loop), &state->async, on_async);
  state->async.data = state;
  op_http_loop_set_data(loop, state);
  states[op_http_loop_index(loop)] = state;
  atomic_fetch_add(&init_count, 1);
  return 0;
}

static void free_state(uv_handle_t *handle) {
  free(handle->data);
}

static void loop_done(op_http_loop_t *loop, void *ud) {
  loop_state_t *state = op_http_loop_data(loop);
  states[op_http_loop_index(loop)] = NULL;
  uv_close((uv_handle_t *)&state->async, free_state);
  atomic_fetch_add(&done_count, 1);
}

static void cancel_queued(op_http_req_t *req, void *ud) {
  loop_state_t *state = ud;
  for (int i = 0; i < state->nqueued; i++)
    if (state->queue[i] == req) {
      state->queue[i] = state->queue[--state->nqueued];
      break;
    }
  atomic_fetch_add(&cancel_count, 1);
}

/* Waits for a worker: queued on the loop until the async handle fires. */
static void via_async(op_http_req_t *req, void *ud) {
  loop_state_t *state = op_http_loop_data(op_http_req_loop(req));
  if (state->nqueued == MAX_QUEUED) {
    op_http_respond_error(req, 503, "busy", "queue full");
    return;
  }
  op_http_req_defer(req, cancel_queued, state);
  state->queue[state->nqueued++] = req;
  atomic_fetch_add(&deferred_count, 1);
}

static void free_later(uv_handle_t *handle) {
  free(handle->data);
}

static void on_later(uv_timer_t *timer) {
  later_t *later = timer->data;
  op_http_respond(later->req, 200, "text/plain", "later", 5);
  uv_close((uv_handle_t *)&later->timer, free_later);
}

static void cancel_later(op_http_req_t *req, void *ud) {
  later_t *later = ud;
  later->req = NULL; /* the request is freed when this returns */
  uv_close((uv_handle_t *)&later->timer, free_later);
  atomic_fetch_add(&cancel_count, 1);
}

/* Answers after the number of milliseconds in ud. */
static void via_timer(op_http_req_t *req, void *ud) {
  later_t *later = calloc(1, sizeof *later);
  later->req = req;
  uv_timer_init(op_http_loop_uv(op_http_req_loop(req)), &later->timer);
  later->timer.data = later;
  op_http_req_defer(req, cancel_later, later);
  uv_timer_start(&later->timer, on_later, (uint64_t)(uintptr_t)ud, 0);
  atomic_fetch_add(&deferred_count, 1);
}

static void hello(op_http_req_t *req, void *ud) {
  op_http_respond(req, 200, "text/plain", "hello", 5);
}

static test_server_t *start(int64_t shutdown_timeout_ms) {
  atomic_store(&deferred_count, 0);
  atomic_store(&cancel_count, 0);
  atomic_store(&init_count, 0);
  atomic_store(&done_count, 0);
  test_server_t *t = test_server_new();
  assert_int_equal(op_http_route(t->router, "GET", "/async", via_async, NULL), 0);
  assert_int_equal(op_http_route(t->router, "GET", "/soon", via_timer, (void *)(uintptr_t)50), 0);
  assert_int_equal(op_http_route(t->router, "GET", "/slow", via_timer, (void *)(uintptr_t)300), 0);
  assert_int_equal(op_http_route(t->router, "GET", "/never", via_timer, (void *)(uintptr_t)600000),
                   0);
  assert_int_equal(op_http_route(t->router, "GET", "/hello", hello, NULL), 0);
  op_http_config_t cfg;
  test_config(&cfg);
  cfg.shutdown_timeout_ms = shutdown_timeout_ms;
  char err[128];
  t->server = op_http_server_new(&cfg, t->router, err, sizeof err);
  assert_non_null(t->server);
  op_http_server_set_loop_init(t->server, loop_init, NULL);
  op_http_server_set_loop_done(t->server, loop_done, NULL);
  test_server_start(t, &cfg);
  assert_int_equal(atomic_load(&init_count), 2);
  return t;
}

static int setup(void **state) {
  *state = start(2000);
  return 0;
}

static int teardown(void **state) {
  test_server_free(*state);
  assert_int_equal(atomic_load(&done_count), 2);
  return 0;
}

static int wait_atomic(atomic_int *value, int want, int timeout_ms) {
  uint64_t deadline = test_now_ms() + (uint64_t)timeout_ms;
  while (atomic_load(value) < want) {
    if (test_now_ms() > deadline)
      return 0;
    poll(NULL, 0, 2);
  }
  return 1;
}

/* Plays the database worker: once the request is parked, wakes every loop. */
static void worker(void *arg) {
  if (!wait_atomic(&deferred_count, 1, 5000))
    return;
  for (int i = 0; i < MAX_LOOPS; i++)
    if (states[i])
      uv_async_send(&states[i]->async);
}

static void test_answer_from_worker_via_async(void **state) {
  test_server_t *t = *state;
  uv_thread_t thread;
  assert_int_equal(uv_thread_create(&thread, worker, NULL), 0);
  test_resp_t resp;
  assert_int_equal(test_get(t->port, "/async", &resp), CURLE_OK);
  uv_thread_join(&thread);
  assert_int_equal(resp.status, 200);
  assert_string_equal(resp.body.data, "async 0");
  test_resp_free(&resp);
}

static void test_answer_from_timer(void **state) {
  test_server_t *t = *state;
  test_resp_t resp;
  assert_int_equal(test_get(t->port, "/soon", &resp), CURLE_OK);
  assert_int_equal(resp.status, 200);
  assert_string_equal(resp.body.data, "later");
  assert_int_equal(atomic_load(&cancel_count), 0);
  test_resp_free(&resp);
}

static void test_pipelined_behind_deferred(void **state) {
  test_server_t *t = *state;
  op_buf_t out = OP_BUF_INIT;
  assert_true(test_exchange(t->port,
                            "GET /soon HTTP/1.1\r\nHost: x\r\n\r\n"
                            "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
                            "GET /soon HTTP/1.1\r\nHost: x\r\n\r\n"
                            "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                            &out, 5000));
  const char *p = out.data;
  const char *expected[] = {"later", "hello", "later", "hello"};
  for (int i = 0; i < 4; i++) {
    p = strstr(p, "HTTP/1.1 200 OK");
    assert_non_null(p);
    assert_int_equal(strncmp(strstr(p, "\r\n\r\n") + 4, expected[i], 5), 0);
    p++;
  }
  op_buf_free(&out);
}

static void test_client_gone_while_deferred(void **state) {
  test_server_t *t = *state;
  int fd = test_connect(t->port);
  test_sends(fd, "GET /never HTTP/1.1\r\nHost: x\r\n\r\n");
  assert_true(wait_atomic(&deferred_count, 1, 5000));
  close(fd);
  assert_true(wait_atomic(&cancel_count, 1, 5000));
  assert_true(test_wait_connections(0, 5000));

  /* Same through the async path: the queue entry is withdrawn. */
  fd = test_connect(t->port);
  test_sends(fd, "GET /async HTTP/1.1\r\nHost: x\r\n\r\n");
  assert_true(wait_atomic(&deferred_count, 2, 5000));
  close(fd);
  assert_true(wait_atomic(&cancel_count, 2, 5000));
  for (int i = 0; i < MAX_LOOPS; i++)
    if (states[i])
      uv_async_send(&states[i]->async); /* nothing left to answer */

  test_resp_t resp;
  assert_int_equal(test_get(t->port, "/hello", &resp), CURLE_OK);
  assert_int_equal(resp.status, 200);
  test_resp_free(&resp);
}

/* stop() lets a deferred request finish, with Connection: close. */
static void test_stop_waits_for_deferred(void **state) {
  test_server_t *t = *state;
  int fd = test_connect(t->port);
  test_sends(fd, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
  assert_true(wait_atomic(&deferred_count, 1, 5000));
  uint64_t start = test_now_ms();
  op_http_server_stop(t->server);
  assert_true(test_now_ms() - start < 1900); /* before shutdown_timeout_ms */
  op_buf_t out = OP_BUF_INIT;
  assert_int_equal(test_read(fd, &out, NULL, 5000), 1);
  close(fd);
  assert_non_null(strstr(out.data, "HTTP/1.1 200 OK"));
  assert_true(test_has_header(out.data, "Connection: close"));
  assert_string_equal(test_body_of(out.data), "later");
  assert_int_equal(atomic_load(&cancel_count), 0);
  op_buf_free(&out);
}

/* Past shutdown_timeout_ms a deferred request is cancelled and stop returns. */
static void test_stop_cancels_after_timeout(void **state) {
  test_server_free(*state);
  test_server_t *t = start(200);
  *state = t;
  int fd = test_connect(t->port);
  test_sends(fd, "GET /never HTTP/1.1\r\nHost: x\r\n\r\n");
  assert_true(wait_atomic(&deferred_count, 1, 5000));
  uint64_t start_ms = test_now_ms();
  op_http_server_stop(t->server);
  uint64_t elapsed = test_now_ms() - start_ms;
  assert_true(elapsed >= 150 && elapsed < 2000);
  assert_int_equal(atomic_load(&cancel_count), 1);
  op_buf_t out = OP_BUF_INIT;
  assert_int_equal(test_read(fd, &out, NULL, 5000), 1);
  assert_int_equal(out.len, 0); /* closed without an answer */
  close(fd);
  op_buf_free(&out);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_answer_from_worker_via_async, setup, teardown),
      cmocka_unit_test_setup_teardown(test_answer_from_timer, setup, teardown),
      cmocka_unit_test_setup_teardown(test_pipelined_behind_deferred, setup, teardown),
      cmocka_unit_test_setup_teardown(test_client_gone_while_deferred, setup, teardown),
      cmocka_unit_test_setup_teardown(test_stop_waits_for_deferred, setup, teardown),
      cmocka_unit_test_setup_teardown(test_stop_cancels_after_timeout, setup, teardown),
  };
  return TEST_MAIN(tests);
}
