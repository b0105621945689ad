/* The Redis bus's pure parts: REDIS_URL parsing, message encoding, and the
 * per-tenant sequencer (ordering, holding, gap fill, resync). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "notify/bus.h"
#include "notify/seq.h"

/* ---- REDIS_URL ------------------------------------------------------------ */

static void url_ok(void **state) {
  (void)state;
  op_bus_url_t u;
  char err[256];
  assert_int_equal(op_bus_parse_url("redis://127.0.0.1:6380", &u, err, sizeof err), 0);
  assert_string_equal(u.host, "127.0.0.1");
  assert_int_equal(u.port, 6380);
  assert_string_equal(u.password, "");
  assert_int_equal(op_bus_parse_url("redis://:s3cret@cache/2", &u, err, sizeof err), 0);
  assert_string_equal(u.host, "cache");
  assert_int_equal(u.port, 6379);
  assert_string_equal(u.password, "s3cret");
  assert_int_equal(u.db, 2);
  assert_int_equal(op_bus_parse_url("redis://user:pw@h:1/", &u, err, sizeof err), 0);
  assert_string_equal(u.password, "pw");
}

static void url_bad(void **state) {
  (void)state;
  const char *bad[] = {"redis://",        "redis://:6379",   "redis://h:0",  "redis://h:70000",
                       "redis://h:12x",   "redis://h/db",    "rediss://h:1", "http://h:1",
                       "redis://h:1/2/3", "redis://h:1?x=1", "redis://h:-1"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    op_bus_url_t u;
    char err[256] = "";
    assert_int_equal(op_bus_parse_url(bad[i], &u, err, sizeof err), OP_ECONFIG);
    assert_non_null(strstr(err, "REDIS_URL"));
  }
}

/* ---- messages ---------------------------------------------------------------- */

static void encode_decode(void **state) {
  (void)state;
  op_frame_t *f = op_frame_event(42, "order_paid", "{\"a\":\"x\\ny\"}", 12);
  f->event_ms = 1795000000123;
  size_t len;
  char *msg = op_bus_encode_event("t_acme", f, &len);
  assert_non_null(msg);
  op_bus_msg_t m;
  assert_int_equal(op_bus_decode(msg, len, &m), 0);
  assert_int_equal(m.kind, 'E');
  assert_string_equal(m.tenant, "t_acme");
  assert_int_equal(m.frame->pos, 42);
  assert_int_equal(m.frame->event_ms, 1795000000123);
  assert_int_equal(m.frame->len, f->len);
  assert_memory_equal(m.frame->data, f->data, f->len);
  op_frame_release(m.frame);
  free(m.scratch);
  free(msg);

  msg = op_bus_encode_user("t_acme", "u_7", f, &len);
  assert_int_equal(op_bus_decode(msg, len, &m), 0);
  assert_int_equal(m.kind, 'U');
  assert_string_equal(m.user, "u_7");
  assert_int_equal(m.frame->pos, 0);
  assert_memory_equal(m.frame->data, f->data, f->len);
  op_frame_release(m.frame);
  free(m.scratch);
  free(msg);

  assert_null(op_bus_encode_event("t\nx", f, &len));
  assert_null(op_bus_encode_user("t", "u\n", f, &len));
  op_frame_release(f);

  const char *bad[] = {"",
                       "E",
                       "E\nt\n",
                       "E\nt\n0\n1\nid: 0\n\n",
                       "E\nt\nx\n1\nd",
                       "E\nt\n1\n1\n",
                       "X\nt\n1\n1\nd",
                       "U\nt\n\nd",
                       "EE\nt\n1\n1\nd"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_int_equal(op_bus_decode(bad[i], strlen(bad[i]), &m), OP_EPROTO);
}

/* ---- sequencer ----------------------------------------------------------------- */

typedef struct world_s {
  int64_t last;     /* -1: unknown tenant */
  int64_t log_last; /* the "database": positions 1..log_last exist */
  int64_t log_from; /* positions before this were purged */
  int db_down;
  int64_t got[256]; /* delivered positions, in order */
  size_t ngot;
  int resyncs;
  int fills;
} world_t;

static int64_t w_last(const char *tenant, void *ud) {
  (void)tenant;
  return ((world_t *)ud)->last;
}

static void w_deliver(const char *tenant, op_frame_t *frame, void *ud) {
  world_t *w = ud;
  (void)tenant;
  if (w->last >= 0 && frame->pos <= w->last)
    return; /* as the ring does */
  w->got[w->ngot++] = frame->pos;
  w->last = frame->pos;
}

static int w_fill(const char *tenant, int64_t after, int64_t upto, void *ud) {
  world_t *w = ud;
  w->fills++;
  if (w->db_down)
    return OP_EDBDOWN;
  if (upto == INT64_MAX)
    upto = w->log_last;
  if (after + 1 < w->log_from && upto > after) {
    w->last = upto; /* as scale.c does: the ring jumps */
    return OP_ERANGE;
  }
  for (int64_t p = after + 1; p <= upto; p++) {
    op_frame_t *f = op_frame_event(p, "x", "d", 1);
    w_deliver(tenant, f, w);
    op_frame_release(f);
  }
  return 0;
}

static void w_resync(const char *tenant, void *ud) {
  (void)tenant;
  ((world_t *)ud)->resyncs++;
}

static op_seq_t *new_seq(world_t *w) {
  op_seq_ops_t ops = {w_last, w_deliver, w_fill, w_resync, w};
  return op_seq_new(&ops, 100, 1000, 50);
}

static void offer(op_seq_t *seq, int64_t pos, int64_t now) {
  op_frame_t *f = op_frame_event(pos, "x", "d", 1);
  op_seq_offer(seq, "t", f, now);
  op_frame_release(f);
}

static void seq_reorders(void **state) {
  (void)state;
  world_t w = {.last = 0, .log_last = 100};
  op_seq_t *seq = new_seq(&w);
  offer(seq, 2, 0);
  offer(seq, 3, 1);
  assert_int_equal(w.ngot, 0);
  assert_int_equal(op_seq_held(seq), 2);
  offer(seq, 1, 5);
  assert_int_equal(w.ngot, 3);
  offer(seq, 2, 6); /* a re-publish: dropped */
  assert_int_equal(w.ngot, 3);
  for (int i = 0; i < 3; i++)
    assert_int_equal(w.got[i], i + 1);
  assert_int_equal(op_seq_held(seq), 0);
  assert_int_equal(w.fills, 0);
  op_seq_free(seq);
}

static void seq_fills_after_hold(void **state) {
  (void)state;
  world_t w = {.last = 0, .log_last = 100};
  op_seq_t *seq = new_seq(&w);
  offer(seq, 4, 0);
  op_seq_tick(seq, 50);
  assert_int_equal(w.ngot, 0);
  op_seq_tick(seq, 100);
  assert_int_equal(w.ngot, 4);
  for (int i = 0; i < 4; i++)
    assert_int_equal(w.got[i], i + 1);
  assert_int_equal(w.fills, 1);
  assert_int_equal(w.resyncs, 0);
  op_seq_free(seq);
}

static void seq_db_down_then_resync(void **state) {
  (void)state;
  world_t w = {.last = 0, .log_last = 100, .db_down = 1};
  op_seq_t *seq = new_seq(&w);
  offer(seq, 3, 0);
  op_seq_tick(seq, 100);
  assert_int_equal(w.ngot, 0); /* retried later */
  op_seq_tick(seq, 200);
  assert_int_equal(w.ngot, 0);
  op_seq_tick(seq, 1100); /* waited max_wait: resync, then the held frame */
  assert_int_equal(w.resyncs, 1);
  assert_int_equal(w.ngot, 1);
  assert_int_equal(w.got[0], 3);
  op_seq_free(seq);
}

static void seq_purged_range_resyncs(void **state) {
  (void)state;
  world_t w = {.last = 0, .log_last = 100, .log_from = 50};
  op_seq_t *seq = new_seq(&w);
  offer(seq, 60, 0);
  op_seq_tick(seq, 100);
  assert_int_equal(w.resyncs, 1);
  assert_int_equal(w.ngot, 1);
  assert_int_equal(w.got[0], 60);
  op_seq_free(seq);
}

static void seq_unknown_tenant_and_catch_up(void **state) {
  (void)state;
  world_t w = {.last = -1, .log_last = 10};
  op_seq_t *seq = new_seq(&w);
  offer(seq, 7, 0); /* nobody follows the tenant here: delivered as it comes */
  assert_int_equal(w.ngot, 1);
  w.log_last = 12;
  assert_int_equal(op_seq_catch_up(seq, "t", 10), 0);
  assert_int_equal(w.ngot, 6);
  assert_int_equal(w.got[5], 12);
  w.db_down = 1;
  assert_int_not_equal(op_seq_catch_up(seq, "t", 20), 0);
  op_seq_free(seq);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(url_ok),
      cmocka_unit_test(url_bad),
      cmocka_unit_test(encode_decode),
      cmocka_unit_test(seq_reorders),
      cmocka_unit_test(seq_fills_after_hold),
      cmocka_unit_test(seq_db_down_then_resync),
      cmocka_unit_test(seq_purged_range_resyncs),
      cmocka_unit_test(seq_unknown_tenant_and_catch_up),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
