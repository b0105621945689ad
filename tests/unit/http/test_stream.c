/*
 * Streams (the base of SSE): start, zero-copy writes of one shared
 * reference-counted frame from a per-loop tick hook, close by the server,
 * a client that talks on a stream, backpressure and callback order, the
 * per-loop hooks, and a graceful stop with a stream and an idle connection.
 */
#include "http/helpers.h"

#include <stdatomic.h>

#define MAX_SUBS 16

typedef struct {
  op_http_conn_t *conn;
  int sent;      /* frames queued */
  int close_at;  /* close after this many frames, 0: never */
  int in_flight; /* writes without done callback yet */
} sub_t;

typedef struct {
  sub_t *subs[MAX_SUBS];
  int nsubs;
  int seq;
} loop_state_t;

/* One frame, shared by every subscriber of a loop, freed by its last holder. */
typedef struct {
  int refs;
  size_t len;
  char text[64];
} frame_t;

static atomic_int streams_started, streams_closed, writes_ok, writes_failed, order_broken;
static atomic_int inits, dones, ticks, wrong_thread, one_shot_runs;
static atomic_size_t queued_seen;
static uv_thread_t main_thread;
static int frames_per_stream = 5;

static void frame_unref(frame_t *frame) {
  if (--frame->refs == 0)
    free(frame);
}

/* done_cb of a frame write: this stream no longer needs the bytes. */
static void frame_release(void *ud, int status) {
  atomic_fetch_add(status == 0 ? &writes_ok : &writes_failed, 1);
  frame_unref(ud);
}

static void on_stream_closed(op_http_conn_t *conn, void *ud) {
  sub_t *sub = op_http_conn_data(conn);
  loop_state_t *state = op_http_loop_data(op_http_conn_loop(conn));
  if (sub->in_flight != 0)
    atomic_fetch_add(&order_broken, 1); /* done callbacks must all come first */
  for (int i = 0; i < state->nsubs; i++)
    if (state->subs[i] == sub) {
      state->subs[i] = state->subs[--state->nsubs];
      break;
    }
  free(sub);
  atomic_fetch_add(&streams_closed, 1);
}

static void sub_done(void *ud, int status) {
  sub_t *sub = ud;
  sub->in_flight--;
  atomic_fetch_add(status == 0 ? &writes_ok : &writes_failed, 1);
}

static void sub_write_static(sub_t *sub, const char *text) {
  uv_buf_t buf = uv_buf_init((char *)text, (unsigned)strlen(text));
  if (op_http_stream_write(sub->conn, &buf, 1, sub_done, sub) == 0)
    sub->in_flight++;
}

/* ud: how many frames before the server closes the stream (0: never). */
static void events(op_http_req_t *req, void *ud) {
  loop_state_t *state = op_http_loop_data(op_http_req_loop(req));
  sub_t *sub = calloc(1, sizeof *sub);
  sub->close_at = (int)(uintptr_t)ud;
  op_http_resp_header(req, "Cache-Control", "no-cache");
  sub->conn =
      op_http_stream_start(req, 200, "Content-Type: text/event-stream\r\n", on_stream_closed, sub);
  if (sub->conn == NULL) {
    free(sub);
    op_http_respond_error(req, 500, "internal_error", "stream_start failed");
    return;
  }
  state->subs[state->nsubs++] = sub;
  sub_write_static(sub, ": hello\n\n");
  atomic_fetch_add(&streams_started, 1);
}

static char big[4 * 1024 * 1024];

/* Queues far more than the socket takes, to see backpressure. */
static void flood(op_http_req_t *req, void *ud) {
  loop_state_t *state = op_http_loop_data(op_http_req_loop(req));
  sub_t *sub = calloc(1, sizeof *sub);
  sub->conn = op_http_stream_start(req, 200, NULL, on_stream_closed, sub);
  state->subs[state->nsubs++] = sub;
  sub->sent = frames_per_stream; /* no ticking frames on this one */
  uv_buf_t bufs[3] = {uv_buf_init(big, sizeof big), uv_buf_init(big, sizeof big),
                      uv_buf_init(big, sizeof big)};
  if (op_http_stream_write(sub->conn, bufs, 3, sub_done, sub) == 0)
    sub->in_flight++;
  atomic_store(&queued_seen, op_http_stream_queued_bytes(sub->conn));
  atomic_fetch_add(&streams_started, 1);
}

#define BURST 65

static char burst_text[BURST][16];
static atomic_int burst_next_done; /* the next done callback expected */

/* The index of the write call carrying frame i: frames 40..59 share one. */
static int n_writes_before(int i) {
  return i < 40 ? i : i < 60 ? 40 : i - 19;
}

static void burst_done(void *ud, int status) {
  int index = (int)(uintptr_t)ud;
  if (status != 0 || index != atomic_load(&burst_next_done))
    atomic_fetch_add(&order_broken, 1);
  atomic_store(&burst_next_done, index + 1);
}

/* 40 single writes (more than one batch), one write of 20 buffers (more than
 * a batch holds), 5 more, then a close: bytes and callbacks stay in order. */
static void burst(op_http_req_t *req, void *ud) {
  loop_state_t *state = op_http_loop_data(op_http_req_loop(req));
  sub_t *sub = calloc(1, sizeof *sub);
  sub->conn = op_http_stream_start(req, 200, NULL, on_stream_closed, sub);
  sub->sent = frames_per_stream;
  state->subs[state->nsubs++] = sub;
  atomic_fetch_add(&streams_started, 1);
  uv_buf_t bufs[20];
  int n = 0;
  for (int i = 0; i < BURST; i++) {
    snprintf(burst_text[i], sizeof burst_text[i], "data: %d\n\n", i);
    uv_buf_t buf = uv_buf_init(burst_text[i], (unsigned)strlen(burst_text[i]));
    if (i >= 40 && i < 60) {
      bufs[n++] = buf;
      if (n == 20 && op_http_stream_write(sub->conn, bufs, 20, burst_done,
                                          (void *)(uintptr_t)n_writes_before(i)) != 0)
        atomic_fetch_add(&order_broken, 1);
      continue;
    }
    if (op_http_stream_write(sub->conn, &buf, 1, burst_done,
                             (void *)(uintptr_t)n_writes_before(i)) != 0)
      atomic_fetch_add(&order_broken, 1);
  }
  if (op_http_stream_queued_bytes(sub->conn) == 0)
    atomic_fetch_add(&order_broken, 1); /* corked bytes count as queued */
  op_http_stream_close(sub->conn);
}

static void hello(op_http_req_t *req, void *ud) {
  op_http_respond(req, 200, "text/plain", "hello", 5);
}

/* Each tick frames one event and queues the same bytes on every stream. */
static void on_tick(op_http_loop_t *loop, uint64_t now, void *ud) {
  loop_state_t *state = op_http_loop_data(loop);
  uv_thread_t self = uv_thread_self();
  if (uv_thread_equal(&self, &main_thread))
    atomic_fetch_add(&wrong_thread, 1);
  atomic_fetch_add(&ticks, 1);
  int wanted = 0;
  for (int i = 0; i < state->nsubs; i++)
    wanted |= state->subs[i]->sent < frames_per_stream;
  if (!wanted)
    return;
  frame_t *frame = calloc(1, sizeof *frame);
  frame->refs = 1; /* ours, while queuing */
  frame->len = (size_t)snprintf(frame->text, sizeof frame->text, "data: %d\n\n", ++state->seq);
  for (int i = state->nsubs - 1; i >= 0; i--) {
    sub_t *sub = state->subs[i];
    if (sub->sent >= frames_per_stream)
      continue;
    uv_buf_t buf = uv_buf_init(frame->text, (unsigned)frame->len);
    frame->refs++;
    if (op_http_stream_write(sub->conn, &buf, 1, frame_release, frame) != 0) {
      frame->refs--;
      continue;
    }
    sub->sent++;
    if (sub->close_at && sub->sent == sub->close_at)
      op_http_stream_close(sub->conn);
  }
  frame_unref(frame);
}

static void one_shot(op_http_loop_t *loop, uint64_t now, void *ud) {
  atomic_fetch_add(&one_shot_runs, 1);
  op_http_loop_remove_tick(loop, one_shot, ud);
}

static int loop_init(op_http_loop_t *loop, void *ud) {
  uv_thread_t self = uv_thread_self();
  if (uv_thread_equal(&self, &main_thread))
    atomic_fetch_add(&wrong_thread, 1);
  loop_state_t *state = calloc(1, sizeof *state);
  op_http_loop_set_data(loop, state);
  op_http_loop_add_tick(loop, on_tick, NULL);
  op_http_loop_add_tick(loop, one_shot, NULL);
  atomic_fetch_add(&inits, 1 << (op_http_loop_index(loop) * 4));
  return 0;
}

static void loop_done(op_http_loop_t *loop, void *ud) {
  loop_state_t *state = op_http_loop_data(loop);
  if (state->nsubs)
    atomic_fetch_add(&order_broken, 1); /* every stream is closed before this */
  free(state);
  atomic_fetch_add(&dones, 1);
}

static int setup(void **state) {
  atomic_store(&streams_started, 0);
  atomic_store(&streams_closed, 0);
  atomic_store(&writes_ok, 0);
  atomic_store(&writes_failed, 0);
  atomic_store(&order_broken, 0);
  atomic_store(&inits, 0);
  atomic_store(&dones, 0);
  atomic_store(&ticks, 0);
  atomic_store(&wrong_thread, 0);
  atomic_store(&one_shot_runs, 0);
  main_thread = uv_thread_self();
  test_server_t *t = test_server_new();
  assert_int_equal(op_http_route(t->router, "GET", "/events", events, NULL), 0);
  assert_int_equal(op_http_route(t->router, "GET", "/events3", events, (void *)(uintptr_t)3), 0);
  assert_int_equal(op_http_route(t->router, "GET", "/flood", flood, NULL), 0);
  assert_int_equal(op_http_route(t->router, "GET", "/hello", hello, NULL), 0);
  assert_int_equal(op_http_route(t->router, "GET", "/burst", burst, NULL), 0);
  atomic_store(&burst_next_done, 0);
  op_http_config_t cfg;
  test_config(&cfg);
  char err[128];
  t->server = op_http_server_new(&cfg, t->router, err, sizeof err);
  assert_non_null(t->server);
  op_http_server_set_loop_init(t->server, loop_init, NULL);
  op_http_server_set_loop_done(t->server, loop_done, NULL);
  test_server_start(t, &cfg);
  *state = t;
  return 0;
}

static int teardown(void **state) {
  test_server_free(*state);
  assert_int_equal(atomic_load(&dones), 2);
  assert_int_equal(atomic_load(&streams_closed), atomic_load(&streams_started));
  assert_int_equal(atomic_load(&order_broken), 0);
  assert_int_equal(atomic_load(&wrong_thread), 0);
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

static int open_stream(int port, const char *path, op_buf_t *out) {
  int fd = test_connect(port);
  char request[128];
  snprintf(request, sizeof request,
           "GET %s HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n", path);
  test_sends(fd, request);
  assert_int_equal(test_read(fd, out, ": hello\n\n", 5000), 2);
  return fd;
}

static void test_stream_frames(void **state) {
  test_server_t *t = *state;
  op_buf_t out = OP_BUF_INIT;
  int fd = open_stream(t->port, "/events", &out);
  assert_int_equal(strncmp(out.data, "HTTP/1.1 200 OK\r\n", 17), 0);
  assert_true(test_has_header(out.data, "Content-Type: text/event-stream"));
  assert_true(test_has_header(out.data, "Cache-Control: no-cache"));
  assert_true(test_has_header(out.data, "Connection: close"));
  assert_null(strstr(out.data, "Content-Length"));
  assert_int_equal(test_read(fd, &out, "data: 5\n\n", 5000), 2);
  const char *body = test_body_of(out.data);
  const char *prev = body;
  for (int i = 1; i <= 5; i++) {
    char frame[32];
    snprintf(frame, sizeof frame, "data: %d\n\n", i);
    const char *at = strstr(body, frame);
    assert_non_null(at);
    assert_true(at >= prev);
    prev = at;
  }
  assert_int_equal(test_count(body, "data: "), 5);
  assert_int_equal(atomic_load(&streams_closed), 0);
  close(fd);
  assert_true(wait_atomic(&streams_closed, 1, 5000));
  assert_int_equal(atomic_load(&writes_failed), 0);
  assert_int_equal(atomic_load(&writes_ok), 6); /* the prelude and five frames */
  op_buf_free(&out);
}

static void test_stream_closed_by_server(void **state) {
  test_server_t *t = *state;
  op_buf_t out = OP_BUF_INIT;
  int fd = open_stream(t->port, "/events3", &out);
  assert_int_equal(test_read(fd, &out, NULL, 5000), 1); /* clean end after three frames */
  assert_int_equal(test_count(test_body_of(out.data), "data: "), 3);
  close(fd);
  assert_true(wait_atomic(&streams_closed, 1, 5000));
  assert_int_equal(atomic_load(&writes_failed), 0);
  op_buf_free(&out);
}

static void test_stream_client_talks(void **state) {
  test_server_t *t = *state;
  op_buf_t out = OP_BUF_INIT;
  int fd = open_stream(t->port, "/events", &out);
  test_sends(fd, "GET /hello HTTP/1.1\r\n\r\n");
  assert_int_equal(test_read(fd, &out, NULL, 5000), 1);
  assert_null(strstr(out.data, "hello\r\n")); /* not answered as a request */
  close(fd);
  assert_true(wait_atomic(&streams_closed, 1, 5000));

  /* Bytes pipelined right behind the stream request count the same. */
  fd = test_connect(t->port);
  test_sends(fd, "GET /events HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\n\r\n");
  op_buf_reset(&out);
  assert_int_equal(test_read(fd, &out, NULL, 5000), 1);
  close(fd);
  assert_true(wait_atomic(&streams_closed, 2, 5000));
  op_buf_free(&out);
}

static void test_backpressure_and_callback_order(void **state) {
  test_server_t *t = *state;
  int fd = test_connect(t->port);
  test_sends(fd, "GET /flood HTTP/1.1\r\nHost: x\r\n\r\n");
  assert_true(wait_atomic(&streams_started, 1, 5000));
  /* The client reads nothing: most of 12 MiB is still queued in user space. */
  assert_true(atomic_load(&queued_seen) > 1024 * 1024);
  close(fd);
  assert_true(wait_atomic(&streams_closed, 1, 5000));
  assert_true(atomic_load(&writes_failed) >= 1); /* the flood was cut short */
  assert_int_equal(atomic_load(&order_broken), 0);
}

static void test_coalesced_writes_keep_order(void **state) {
  test_server_t *t = *state;
  op_buf_t out = OP_BUF_INIT;
  assert_true(test_exchange(t->port, "GET /burst HTTP/1.1\r\nHost: x\r\n\r\n", &out, 5000));
  const char *p = test_body_of(out.data);
  for (int i = 0; i < BURST; i++) {
    char frame[16];
    int n = snprintf(frame, sizeof frame, "data: %d\n\n", i);
    assert_int_equal(strncmp(p, frame, (size_t)n), 0);
    p += n;
  }
  assert_string_equal(p, "");
  assert_true(wait_atomic(&streams_closed, 1, 5000));
  assert_int_equal(atomic_load(&burst_next_done), BURST - 19); /* every write, in order */
  assert_int_equal(atomic_load(&order_broken), 0);
  op_buf_free(&out);
}

static void test_loop_hooks(void **state) {
  assert_int_equal(atomic_load(&inits), 0x11); /* loop 0 and loop 1, once each */
  assert_true(wait_atomic(&one_shot_runs, 2, 5000));
  int seen = atomic_load(&ticks);
  assert_true(wait_atomic(&ticks, seen + 4, 5000));
  assert_int_equal(atomic_load(&one_shot_runs), 2); /* it removed itself on each loop */
  assert_int_equal(atomic_load(&wrong_thread), 0);
  test_server_t *t = *state;
  assert_int_equal(op_http_server_loop_count(t->server), 2);
}

static void test_graceful_stop(void **state) {
  test_server_t *t = *state;
  op_buf_t stream_out = OP_BUF_INIT, idle_out = OP_BUF_INIT;
  int stream_fd = open_stream(t->port, "/events", &stream_out);
  int idle_fd = test_connect(t->port);
  test_sends(idle_fd, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
  assert_int_equal(test_read(idle_fd, &idle_out, "hello", 5000), 2);
  assert_int_equal(test_connections(), 2);

  uint64_t start = test_now_ms();
  op_http_server_stop(t->server);
  uint64_t elapsed = test_now_ms() - start;
  assert_true(elapsed < 1000);
  assert_int_equal(atomic_load(&streams_closed), 1);
  assert_int_equal(atomic_load(&dones), 2);
  assert_int_equal(test_connections(), 0);

  /* Both peers see a clean end of stream. */
  assert_int_equal(test_read(stream_fd, &stream_out, NULL, 2000), 1);
  assert_int_equal(test_read(idle_fd, &idle_out, NULL, 2000), 1);
  assert_int_equal(test_count(idle_out.data, "HTTP/1.1"), 1);
  close(stream_fd);
  close(idle_fd);
  op_buf_free(&stream_out);
  op_buf_free(&idle_out);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_stream_frames, setup, teardown),
      cmocka_unit_test_setup_teardown(test_stream_closed_by_server, setup, teardown),
      cmocka_unit_test_setup_teardown(test_stream_client_talks, setup, teardown),
      cmocka_unit_test_setup_teardown(test_backpressure_and_callback_order, setup, teardown),
      cmocka_unit_test_setup_teardown(test_coalesced_writes_keep_order, setup, teardown),
      cmocka_unit_test_setup_teardown(test_loop_hooks, setup, teardown),
      cmocka_unit_test_setup_teardown(test_graceful_stop, setup, teardown),
  };
  return TEST_MAIN(tests);
}
