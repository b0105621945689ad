/* The replay window: the read contract SSE replay depends on, eviction by
 * count and age, seeding, tenants apart, and concurrent appends and reads. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/clock.h"
#include "core/err.h"
#include "fanout/frame.h"
#include "fanout/ring.h"

#define T0 1000000 /* a created_ms for frames of tests that do not age them */
#define TTL 300000

/* A frame at pos, data "<tag>:<pos>", created at created_ms. */
static op_frame_t *make(const char *tag, int64_t pos, int64_t created_ms) {
  char data[64];
  int n = snprintf(data, sizeof data, "%s:%lld", tag, (long long)pos);
  op_frame_t *frame = op_frame_event(pos, "order_paid", data, (size_t)n);
  assert_non_null(frame);
  frame->created_ms = created_ms;
  return frame;
}

/* Appends a frame and drops the builder's reference: the ring's is left. */
static int append(op_ring_set_t *set, const char *tenant, const char *tag, int64_t pos,
                  int64_t created_ms) {
  op_frame_t *frame = make(tag, pos, created_ms);
  int rc = op_ring_append(set, tenant, frame);
  op_frame_release(frame);
  return rc;
}

static void append_range(op_ring_set_t *set, const char *tenant, int64_t from, int64_t to) {
  for (int64_t pos = from; pos <= to; pos++)
    assert_int_equal(append(set, tenant, tenant, pos, T0), 0);
}

/* Reads and checks the result: rc, the frames' positions (from after_pos + 1,
 * consecutive) and their tags, and last_pos; releases the frames. */
static void expect_read(op_ring_set_t *set, const char *tenant, int64_t after_pos, int64_t now_ms,
                        size_t max_out, int rc, size_t n, int64_t last) {
  op_frame_t *out[64];
  size_t nout = 99;
  int64_t last_pos = -1;
  assert_true(max_out <= 64);
  assert_int_equal(op_ring_read(set, tenant, after_pos, now_ms, out, max_out, &nout, &last_pos),
                   rc);
  assert_int_equal(nout, n);
  assert_int_equal(last_pos, last);
  for (size_t i = 0; i < nout; i++) {
    int64_t pos = after_pos + 1 + (int64_t)i;
    assert_int_equal(out[i]->pos, pos);
    char want[64];
    snprintf(want, sizeof want, "data: %s:%lld\n", tenant, (long long)pos);
    assert_non_null(strstr(out[i]->data, want));
    op_frame_release(out[i]);
  }
}

static size_t frames_held(op_ring_set_t *set) {
  size_t frames;
  op_ring_stats(set, NULL, &frames);
  return frames;
}

static void test_in_order(void **state) {
  size_t live = op_frame_live_count();
  op_ring_set_t *set = op_ring_set_new(1000, TTL);
  append_range(set, "t1", 1, 5);
  assert_int_equal(op_frame_live_count(), live + 5); /* held by the ring only */
  expect_read(set, "t1", 0, T0, 64, 0, 5, 5);
  int64_t last;
  assert_int_equal(op_ring_last_position(set, "t1", &last), 0);
  assert_int_equal(last, 5);
  op_ring_set_free(set);
  assert_int_equal(op_frame_live_count(), live);
}

static void test_exact_last(void **state) {
  op_ring_set_t *set = op_ring_set_new(1000, TTL);
  append_range(set, "t1", 1, 5);
  expect_read(set, "t1", 5, T0, 64, 0, 0, 5);
  /* Up to date even when the newest frame is long expired. */
  expect_read(set, "t1", 5, T0 + 10 * TTL, 64, 0, 0, 5);
  op_ring_set_free(set);
}

static void test_inside_window(void **state) {
  op_ring_set_t *set = op_ring_set_new(1000, TTL);
  append_range(set, "t1", 1, 5);
  expect_read(set, "t1", 3, T0, 64, 0, 2, 5);
  expect_read(set, "t1", 4, T0, 64, 0, 1, 5);
  op_ring_set_free(set);
}

static void test_reader_holds_frames(void **state) {
  /* Frames a reader got stay valid after the ring lets them go. */
  size_t live = op_frame_live_count();
  op_ring_set_t *set = op_ring_set_new(2, TTL);
  append_range(set, "t1", 1, 2);
  op_frame_t *out[2];
  size_t n;
  int64_t last;
  assert_int_equal(op_ring_read(set, "t1", 0, T0, out, 2, &n, &last), 0);
  assert_int_equal(n, 2);
  append_range(set, "t1", 3, 4); /* evicts 1 and 2 from the ring */
  op_ring_set_free(set);
  assert_int_equal(op_frame_live_count(), live + 2);
  assert_non_null(strstr(out[0]->data, "data: t1:1\n"));
  assert_non_null(strstr(out[1]->data, "data: t1:2\n"));
  op_frame_release(out[0]);
  op_frame_release(out[1]);
  assert_int_equal(op_frame_live_count(), live);
}

static void test_evicted_by_count(void **state) {
  size_t live = op_frame_live_count();
  op_ring_set_t *set = op_ring_set_new(3, TTL);
  append_range(set, "t1", 1, 5);
  assert_int_equal(frames_held(set), 3);
  assert_int_equal(op_frame_live_count(), live + 3); /* 1 and 2 were freed */
  expect_read(set, "t1", 0, T0, 64, OP_ERANGE, 0, 5);
  expect_read(set, "t1", 1, T0, 64, OP_ERANGE, 0, 5);
  expect_read(set, "t1", 2, T0, 64, 0, 3, 5);
  expect_read(set, "t1", 4, T0, 64, 0, 1, 5);
  op_ring_set_free(set);
  assert_int_equal(op_frame_live_count(), live);
}

static void test_window_grows_to_max(void **state) {
  /* Slots grow by doubling, wrapping around, up to exactly max_frames. */
  op_ring_set_t *set = op_ring_set_new(1000, TTL);
  append_range(set, "t1", 1, 2500);
  assert_int_equal(frames_held(set), 1000);
  expect_read(set, "t1", 1499, T0, 64, OP_ERANGE, 0, 2500);
  expect_read(set, "t1", 1500, T0, 64, OP_EAGAIN, 64, 2500);
  expect_read(set, "t1", 2450, T0, 64, 0, 50, 2500);
  op_ring_set_free(set);
}

static void test_expired_by_ttl(void **state) {
  op_ring_set_t *set = op_ring_set_new(1000, 5000);
  assert_int_equal(append(set, "t1", "t1", 1, 1000), 0);
  assert_int_equal(append(set, "t1", "t1", 2, 2000), 0);
  assert_int_equal(append(set, "t1", "t1", 3, 3000), 0);
  /* At 7500 frame 1 is 6500 ms old and 2 is 5500 ms old: both expired. */
  expect_read(set, "t1", 0, 7500, 64, OP_ERANGE, 0, 3);
  expect_read(set, "t1", 1, 7500, 64, OP_ERANGE, 0, 3);
  expect_read(set, "t1", 2, 7500, 64, 0, 1, 3);
  /* Exactly ttl old still counts; one millisecond more does not. */
  expect_read(set, "t1", 0, 6000, 64, 0, 3, 3);
  expect_read(set, "t1", 0, 6001, 64, OP_ERANGE, 0, 3);
  /* A reader whose clock is behind the frames' sees them as fresh. */
  expect_read(set, "t1", 0, 0, 64, 0, 3, 3);
  /* Nothing was released by reading. */
  assert_int_equal(frames_held(set), 3);
  op_ring_set_free(set);
}

static void test_clock_stepped_back(void **state) {
  /* The wall clock went back between two frames: the later frame is the
   * older one. Every frame handed out is judged, not just the first. */
  op_ring_set_t *set = op_ring_set_new(1000, 5000);
  assert_int_equal(append(set, "t1", "t1", 1, 5000), 0);
  assert_int_equal(append(set, "t1", "t1", 2, 1000), 0); /* nothing pruned */
  assert_int_equal(frames_held(set), 2);
  expect_read(set, "t1", 0, 6000, 64, 0, 2, 2);
  expect_read(set, "t1", 0, 7000, 64, OP_ERANGE, 0, 2); /* 2 is 6000 ms old */
  expect_read(set, "t1", 1, 7000, 64, OP_ERANGE, 0, 2);
  expect_read(set, "t1", 0, 7000, 1, OP_EAGAIN, 1, 2); /* 1 alone is fresh */
  op_ring_set_free(set);
}

static void test_expiry_released_on_append(void **state) {
  size_t live = op_frame_live_count();
  op_ring_set_t *set = op_ring_set_new(1000, 5000);
  assert_int_equal(append(set, "t1", "t1", 1, 1000), 0);
  assert_int_equal(append(set, "t1", "t1", 2, 2000), 0);
  assert_int_equal(append(set, "t1", "t1", 3, 6500), 0); /* 1 is now too old */
  assert_int_equal(frames_held(set), 2);
  assert_int_equal(op_frame_live_count(), live + 2);
  expect_read(set, "t1", 0, 6500, 64, OP_ERANGE, 0, 3);
  expect_read(set, "t1", 1, 6500, 64, 0, 2, 3);
  op_ring_set_free(set);
}

static void test_expire_sweep(void **state) {
  size_t live = op_frame_live_count();
  op_ring_set_t *set = op_ring_set_new(1000, 5000);
  assert_int_equal(append(set, "a", "a", 1, 1000), 0);
  assert_int_equal(append(set, "a", "a", 2, 5500), 0); /* a:1 is 4500 ms old: kept */
  assert_int_equal(append(set, "b", "b", 1, 2000), 0);
  assert_int_equal(op_ring_expire(set, 8000), 2); /* a:1 and b:1 */
  assert_int_equal(frames_held(set), 1);
  assert_int_equal(op_frame_live_count(), live + 1);
  /* The tenants and their positions stay. */
  expect_read(set, "b", 0, 8000, 64, OP_ERANGE, 0, 1);
  expect_read(set, "b", 1, 8000, 64, 0, 0, 1);
  expect_read(set, "a", 1, 8000, 64, 0, 1, 2);
  assert_int_equal(op_ring_expire(set, 8000), 0);
  /* A tenant emptied by the sweep takes frames again. */
  assert_int_equal(append(set, "b", "b", 2, 9000), 0);
  expect_read(set, "b", 1, 9000, 64, 0, 1, 2);
  op_ring_set_free(set);
  assert_int_equal(op_frame_live_count(), live);
}

static void test_ahead(void **state) {
  op_ring_set_t *set = op_ring_set_new(1000, TTL);
  append_range(set, "t1", 1, 5);
  expect_read(set, "t1", 6, T0, 64, OP_EINVAL, 0, 5);
  expect_read(set, "t1", INT64_MAX, T0, 64, OP_EINVAL, 0, 5);
  op_ring_set_free(set);
}

static void test_unknown_tenant(void **state) {
  op_ring_set_t *set = op_ring_set_new(1000, TTL);
  expect_read(set, "t1", 0, T0, 64, OP_ENOENT, 0, 0);
  append_range(set, "t1", 1, 2);
  expect_read(set, "t2", 0, T0, 64, OP_ENOENT, 0, 0);
  expect_read(set, "t", 0, T0, 64, OP_ENOENT, 0, 0);
  expect_read(set, "t10", 0, T0, 64, OP_ENOENT, 0, 0);
  int64_t last = -1;
  assert_int_equal(op_ring_last_position(set, "t2", &last), OP_ENOENT);
  assert_int_equal(last, 0);
  op_ring_set_free(set);
}

static void test_duplicate_ignored(void **state) {
  size_t live = op_frame_live_count();
  op_ring_set_t *set = op_ring_set_new(1000, TTL);
  append_range(set, "t1", 1, 3);
  /* Redelivered or older positions, even with other bytes, change nothing
   * and are not retained. */
  assert_int_equal(append(set, "t1", "other", 2, T0), OP_EEXIST);
  assert_int_equal(append(set, "t1", "other", 3, T0), OP_EEXIST);
  assert_int_equal(append(set, "t1", "other", 1, T0), OP_EEXIST);
  assert_int_equal(op_frame_live_count(), live + 3);
  expect_read(set, "t1", 0, T0, 64, 0, 3, 3); /* the tags are still "t1" */
  /* The same frame appended twice is held once. */
  op_frame_t *frame = make("t1", 4, T0);
  assert_int_equal(op_ring_append(set, "t1", frame), 0);
  assert_int_equal(op_ring_append(set, "t1", frame), OP_EEXIST);
  assert_int_equal(atomic_load(&frame->refcount), 2);
  op_frame_release(frame);
  op_ring_set_free(set);
  assert_int_equal(op_frame_live_count(), live);
}

static void test_tenants_independent(void **state) {
  op_ring_set_t *set = op_ring_set_new(3, TTL);
  append_range(set, "acme", 1, 3);
  append_range(set, "globex", 1, 2);
  expect_read(set, "acme", 0, T0, 64, 0, 3, 3);
  expect_read(set, "globex", 0, T0, 64, 0, 2, 2); /* tags "globex" */
  /* Eviction and a duplicate in one tenant leave the other alone. */
  append_range(set, "acme", 4, 10);
  assert_int_equal(append(set, "acme", "acme", 2, T0), OP_EEXIST);
  assert_int_equal(append(set, "globex", "globex", 3, T0), 0);
  expect_read(set, "acme", 0, T0, 64, OP_ERANGE, 0, 10);
  expect_read(set, "acme", 7, T0, 64, 0, 3, 10);
  expect_read(set, "globex", 0, T0, 64, 0, 3, 3);
  size_t tenants, frames;
  op_ring_stats(set, &tenants, &frames);
  assert_int_equal(tenants, 2);
  assert_int_equal(frames, 6);
  op_ring_set_free(set);
}

static void test_many_tenants(void **state) {
  /* Enough tenants to grow every stripe's map several times. */
  op_ring_set_t *set = op_ring_set_new(4, TTL);
  char id[32];
  for (int i = 0; i < 5000; i++) {
    snprintf(id, sizeof id, "tenant-%d", i);
    append_range(set, id, 1, (i % 5) + 1);
  }
  for (int i = 0; i < 5000; i++) {
    snprintf(id, sizeof id, "tenant-%d", i);
    int64_t last = (i % 5) + 1;
    if (last <= 4)
      expect_read(set, id, 0, T0, 64, 0, (size_t)last, last);
    else
      expect_read(set, id, 1, T0, 64, 0, 4, last);
  }
  size_t tenants;
  op_ring_stats(set, &tenants, NULL);
  assert_int_equal(tenants, 5000);
  op_ring_set_free(set);
}

static void test_max_out_continuation(void **state) {
  op_ring_set_t *set = op_ring_set_new(1000, TTL);
  append_range(set, "t1", 1, 10);
  expect_read(set, "t1", 0, T0, 4, OP_EAGAIN, 4, 10);
  expect_read(set, "t1", 4, T0, 4, OP_EAGAIN, 4, 10);
  expect_read(set, "t1", 8, T0, 4, 0, 2, 10);
  /* Exactly max_out due is complete. */
  expect_read(set, "t1", 6, T0, 4, 0, 4, 10);
  /* max_out 0 only tells whether frames are due. */
  op_frame_t *none = NULL;
  size_t n;
  int64_t last;
  assert_int_equal(op_ring_read(set, "t1", 3, T0, NULL, 0, &n, &last), OP_EAGAIN);
  assert_int_equal(n, 0);
  assert_int_equal(last, 10);
  assert_int_equal(op_ring_read(set, "t1", 10, T0, &none, 0, &n, &last), 0);
  assert_int_equal(op_ring_read(set, "t1", 0, T0 + 2 * TTL, NULL, 0, &n, &last), OP_ERANGE);
  op_ring_set_free(set);
}

static void test_gap_starts_new_run(void **state) {
  size_t live = op_frame_live_count();
  op_ring_set_t *set = op_ring_set_new(1000, TTL);
  append_range(set, "t1", 1, 3);
  assert_int_equal(append(set, "t1", "t1", 5, T0), 0); /* 4 was never appended */
  assert_int_equal(op_frame_live_count(), live + 1);
  expect_read(set, "t1", 2, T0, 64, OP_ERANGE, 0, 5); /* would need 4 */
  expect_read(set, "t1", 3, T0, 64, OP_ERANGE, 0, 5);
  expect_read(set, "t1", 4, T0, 64, 0, 1, 5);
  /* 4 arriving late is older than last: ignored. */
  assert_int_equal(append(set, "t1", "t1", 4, T0), OP_EEXIST);
  op_ring_set_free(set);
}

static void test_first_append_seeds(void **state) {
  /* After a restart the log's newest entries, rebuilt as frames, are
   * appended in order: positions before the first are in the log only. */
  op_ring_set_t *set = op_ring_set_new(1000, TTL);
  append_range(set, "t1", 41, 45);
  expect_read(set, "t1", 40, T0, 64, 0, 5, 45);
  expect_read(set, "t1", 39, T0, 64, OP_ERANGE, 0, 45);
  expect_read(set, "t1", 0, T0, 64, OP_ERANGE, 0, 45);
  op_ring_set_free(set);
}

static void test_note_position(void **state) {
  size_t live = op_frame_live_count();
  op_ring_set_t *set = op_ring_set_new(1000, TTL);
  assert_int_equal(op_ring_note_position(set, "t1", 100), 0);
  expect_read(set, "t1", 100, T0, 64, 0, 0, 100);
  expect_read(set, "t1", 99, T0, 64, OP_ERANGE, 0, 100);
  expect_read(set, "t1", 101, T0, 64, OP_EINVAL, 0, 100);
  append_range(set, "t1", 101, 102);
  expect_read(set, "t1", 100, T0, 64, 0, 2, 102);
  /* Not past last: nothing changes. */
  assert_int_equal(op_ring_note_position(set, "t1", 50), OP_EEXIST);
  assert_int_equal(op_ring_note_position(set, "t1", 102), OP_EEXIST);
  expect_read(set, "t1", 100, T0, 64, 0, 2, 102);
  /* Past last: the frames in memory no longer lead up to it. */
  assert_int_equal(op_ring_note_position(set, "t1", 110), 0);
  assert_int_equal(op_frame_live_count(), live);
  expect_read(set, "t1", 102, T0, 64, OP_ERANGE, 0, 110);
  expect_read(set, "t1", 110, T0, 64, 0, 0, 110);
  /* A tenant with no events yet: known, at 0. */
  assert_int_equal(op_ring_note_position(set, "t2", 0), 0);
  expect_read(set, "t2", 0, T0, 64, 0, 0, 0);
  assert_int_equal(op_ring_note_position(set, "t2", 0), OP_EEXIST);
  append_range(set, "t2", 1, 1);
  expect_read(set, "t2", 0, T0, 64, 0, 1, 1);
  op_ring_set_free(set);
}

static void test_positions_only(void **state) {
  size_t live = op_frame_live_count();
  op_ring_set_t *set = op_ring_set_new(0, TTL);
  append_range(set, "t1", 1, 3);
  assert_int_equal(op_frame_live_count(), live);
  expect_read(set, "t1", 3, T0, 64, 0, 0, 3);
  expect_read(set, "t1", 2, T0, 64, OP_ERANGE, 0, 3);
  expect_read(set, "t1", 4, T0, 64, OP_EINVAL, 0, 3);
  assert_int_equal(append(set, "t1", "t1", 3, T0), OP_EEXIST);
  op_ring_set_free(set);
}

static void test_invalid_arguments(void **state) {
  assert_null(op_ring_set_new(10, -1));
  op_ring_set_t *set = op_ring_set_new(10, TTL);
  op_frame_t *frame = make("t1", 1, T0);
  op_frame_t *idless = op_frame_comment("ping");
  assert_int_equal(op_ring_append(set, NULL, frame), OP_EINVAL);
  assert_int_equal(op_ring_append(set, "", frame), OP_EINVAL);
  assert_int_equal(op_ring_append(set, "t1", NULL), OP_EINVAL);
  assert_int_equal(op_ring_append(set, "t1", idless), OP_EINVAL);
  assert_int_equal(op_ring_append(NULL, "t1", frame), OP_EINVAL);
  assert_int_equal(atomic_load(&frame->refcount), 1);
  expect_read(set, "t1", 0, T0, 64, OP_ENOENT, 0, 0); /* nothing was added */

  op_frame_t *out[1];
  size_t n = 7;
  int64_t last = 7;
  assert_int_equal(op_ring_read(set, "t1", -1, T0, out, 1, &n, &last), OP_EINVAL);
  assert_int_equal(n, 0);
  assert_int_equal(last, 0);
  assert_int_equal(op_ring_read(set, "t1", 0, T0, NULL, 1, &n, &last), OP_EINVAL);
  assert_int_equal(op_ring_read(set, NULL, 0, T0, out, 1, &n, &last), OP_EINVAL);
  assert_int_equal(op_ring_read(set, "t1", 0, T0, out, 1, NULL, &last), OP_EINVAL);
  assert_int_equal(op_ring_read(set, "t1", 0, T0, out, 1, &n, NULL), OP_EINVAL);
  assert_int_equal(op_ring_note_position(set, "t1", -1), OP_EINVAL);
  assert_int_equal(op_ring_note_position(set, "", 1), OP_EINVAL);
  assert_int_equal(op_ring_last_position(set, "t1", NULL), OP_EINVAL);
  op_frame_release(frame);
  op_frame_release(idless);
  op_ring_set_free(set);
  op_ring_set_free(NULL);
  assert_int_equal(op_ring_expire(NULL, T0), 0);
}

/* ---- Concurrent appends and reads ---- */

#define READERS 4
#define TENANTS 3
#define POSITIONS 20000

typedef struct shared_s {
  op_ring_set_t *set;
  const char *tenants[TENANTS];
  _Atomic int done; /* the appender finished */
} shared_t;

typedef struct reader_s {
  shared_t *shared;
  unsigned seed;
  /* Results, checked on the main thread (cmocka asserts only there). */
  long frames;
  long resyncs;
  long violations;
  int64_t caught_up[TENANTS];
} reader_t;

static void *appender_main(void *arg) {
  shared_t *shared = arg;
  for (int64_t pos = 1; pos <= POSITIONS; pos++) {
    for (int t = 0; t < TENANTS; t++) {
      op_frame_t *frame = make(shared->tenants[t], pos, T0 + pos);
      if (op_ring_append(shared->set, shared->tenants[t], frame) != 0)
        abort();
      /* A redelivered position is ignored. */
      if (op_ring_append(shared->set, shared->tenants[t], frame) != OP_EEXIST)
        abort();
      op_frame_release(frame);
    }
  }
  atomic_store(&shared->done, 1);
  return NULL;
}

/* Follows each tenant like a reconnecting client: from its cursor, frames
 * must be after_pos + 1, + 2, … with the tenant's bytes; behind the window
 * it resyncs to last_pos; it is never ahead. */
static void *reader_main(void *arg) {
  reader_t *reader = arg;
  shared_t *shared = reader->shared;
  int64_t cursor[TENANTS] = {0};
  int64_t seen_last[TENANTS] = {0};
  op_frame_t *out[16];
  /* Bounded by time while the appender runs (it may be starved on a busy
   * machine), then by rounds to catch up: ample, each round reads up to 16. */
  uint64_t deadline = op_mono_ns() + 120ull * 1000000000ull;
  long after = 0;
  for (;;) {
    int finished = atomic_load(&shared->done);
    if ((finished && ++after > 2000000) || op_mono_ns() > deadline)
      break;
    int t = (int)(rand_r(&reader->seed) % TENANTS);
    size_t max_out = 1 + rand_r(&reader->seed) % 16;
    size_t n;
    int64_t last;
    int rc = op_ring_read(shared->set, shared->tenants[t], cursor[t], T0 + POSITIONS, out, max_out,
                          &n, &last);
    if (rc == OP_ENOENT) {
      if (n != 0 || last != 0 || cursor[t] != 0)
        reader->violations++;
      continue;
    }
    if (last < seen_last[t] || last < cursor[t])
      reader->violations++; /* last never goes back */
    seen_last[t] = last;
    if (rc == OP_ERANGE) {
      if (n != 0)
        reader->violations++;
      cursor[t] = last;
      reader->resyncs++;
      continue;
    }
    if (rc != 0 && rc != OP_EAGAIN) {
      reader->violations++;
      continue;
    }
    if (n > max_out || (rc == 0 && cursor[t] + (int64_t)n != last) ||
        (rc == OP_EAGAIN && n != max_out))
      reader->violations++;
    for (size_t i = 0; i < n; i++) {
      char want[64];
      snprintf(want, sizeof want, "data: %s:%lld\n", shared->tenants[t],
               (long long)(cursor[t] + 1));
      if (out[i]->pos != cursor[t] + 1 || strstr(out[i]->data, want) == NULL)
        reader->violations++;
      cursor[t] = out[i]->pos;
      op_frame_release(out[i]);
    }
    reader->frames += (long)n;
    if (finished) {
      int all = 1;
      for (int k = 0; k < TENANTS; k++)
        all &= cursor[k] == POSITIONS;
      if (all)
        break;
    }
  }
  for (int k = 0; k < TENANTS; k++)
    reader->caught_up[k] = cursor[k];
  return NULL;
}

static void test_concurrent_appends_and_reads(void **state) {
  size_t live = op_frame_live_count();
  shared_t shared = {.set = op_ring_set_new(64, TTL), .tenants = {"acme", "globex", "initech"}};
  pthread_t appender;
  pthread_t readers[READERS];
  reader_t reader[READERS];
  for (int i = 0; i < READERS; i++) {
    reader[i] = (reader_t){.shared = &shared, .seed = 7u + (unsigned)i};
    assert_int_equal(pthread_create(&readers[i], NULL, reader_main, &reader[i]), 0);
  }
  assert_int_equal(pthread_create(&appender, NULL, appender_main, &shared), 0);
  assert_int_equal(pthread_join(appender, NULL), 0);
  for (int i = 0; i < READERS; i++) {
    assert_int_equal(pthread_join(readers[i], NULL), 0);
    assert_int_equal(reader[i].violations, 0);
    for (int t = 0; t < TENANTS; t++)
      assert_int_equal(reader[i].caught_up[t], POSITIONS);
    assert_true(reader[i].frames > 0);
  }
  size_t frames;
  op_ring_stats(shared.set, NULL, &frames);
  assert_int_equal(frames, 64 * TENANTS);
  op_ring_set_free(shared.set);
  assert_int_equal(op_frame_live_count(), live);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_in_order),
      cmocka_unit_test(test_exact_last),
      cmocka_unit_test(test_inside_window),
      cmocka_unit_test(test_reader_holds_frames),
      cmocka_unit_test(test_evicted_by_count),
      cmocka_unit_test(test_window_grows_to_max),
      cmocka_unit_test(test_expired_by_ttl),
      cmocka_unit_test(test_clock_stepped_back),
      cmocka_unit_test(test_expiry_released_on_append),
      cmocka_unit_test(test_expire_sweep),
      cmocka_unit_test(test_ahead),
      cmocka_unit_test(test_unknown_tenant),
      cmocka_unit_test(test_duplicate_ignored),
      cmocka_unit_test(test_tenants_independent),
      cmocka_unit_test(test_many_tenants),
      cmocka_unit_test(test_max_out_continuation),
      cmocka_unit_test(test_gap_starts_new_run),
      cmocka_unit_test(test_first_append_seeds),
      cmocka_unit_test(test_note_position),
      cmocka_unit_test(test_positions_only),
      cmocka_unit_test(test_invalid_arguments),
      cmocka_unit_test(test_concurrent_appends_and_reads),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
