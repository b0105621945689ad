/* SSE frames: framing, line breaks, rejection of bad input, reference counts. */
#include <errno.h>
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
#include "fanout/frame.h"

/* ---- An EventSource parser (WHATWG HTML §9.2.6), to read frames back ---- */

typedef struct parsed_s {
  int events;      /* events dispatched */
  char type[64];   /* of the last event; "message" when no event field */
  char data[4096]; /* of the last event */
  char id[32];     /* last event id buffer */
} parsed_t;

static void field(parsed_t *p, char *type, char *data, size_t *data_len, const char *line,
                  size_t len) {
  const char *colon = memchr(line, ':', len);
  if (colon == line)
    return; /* a comment */
  size_t name_len = colon ? (size_t)(colon - line) : len;
  const char *value = colon ? colon + 1 : line + len;
  size_t value_len = colon ? len - name_len - 1 : 0;
  if (value_len && value[0] == ' ') {
    value++;
    value_len--;
  }
  if (name_len == 5 && memcmp(line, "event", 5) == 0) {
    assert_true(value_len < 64);
    memcpy(type, value, value_len);
    type[value_len] = '\0';
  } else if (name_len == 4 && memcmp(line, "data", 4) == 0) {
    assert_true(*data_len + value_len + 1 < 4096);
    memcpy(data + *data_len, value, value_len);
    *data_len += value_len;
    data[(*data_len)++] = '\n';
  } else if (name_len == 2 && memcmp(line, "id", 2) == 0) {
    assert_true(value_len < 32);
    memcpy(p->id, value, value_len);
    p->id[value_len] = '\0';
  }
}

/* Parses a whole stream; the state of the last dispatched event is kept. */
static void parse_stream(parsed_t *p, const char *s, size_t len) {
  char type[64] = "";
  char data[4096];
  size_t data_len = 0;
  memset(p, 0, sizeof *p);
  size_t start = 0;
  for (size_t i = 0; i < len; i++) {
    if (s[i] != '\r' && s[i] != '\n')
      continue;
    if (i == start) { /* a blank line dispatches */
      if (data_len) {
        data_len--; /* the last LF */
        memcpy(p->data, data, data_len);
        p->data[data_len] = '\0';
        snprintf(p->type, sizeof p->type, "%s", type[0] ? type : "message");
        p->events++;
      }
      data_len = 0;
      type[0] = '\0';
    } else {
      field(p, type, data, &data_len, s + start, i - start);
    }
    if (s[i] == '\r' && i + 1 < len && s[i + 1] == '\n')
      i++;
    start = i + 1;
  }
  assert_int_equal(start, len); /* a frame ends with a line break */
}

/* Frames data, checks the bytes when expected is given, and that a browser
 * reads the event back with every line break turned into LF. */
static void check_event(const char *data, size_t data_len, const char *expected,
                        const char *browser_data) {
  op_frame_t *frame = op_frame_event(7, "order_paid", data, data_len);
  assert_non_null(frame);
  if (expected) {
    assert_int_equal(frame->len, strlen(expected));
    assert_memory_equal(frame->data, expected, frame->len);
  }
  assert_int_equal(frame->data[frame->len], '\0');
  parsed_t p;
  parse_stream(&p, frame->data, frame->len);
  assert_int_equal(p.events, 1);
  assert_string_equal(p.type, "order_paid");
  assert_string_equal(p.id, "7");
  assert_string_equal(p.data, browser_data);
  op_frame_release(frame);
}

/* ---- Tests ---- */

static void test_event_simple(void **state) {
  size_t live = op_frame_live_count();
  int64_t before = op_now_ms();
  const char *json = "{\"order_id\":\"ord_1\",\"status\":\"paid\"}";
  op_frame_t *frame = op_frame_event(42, "order_paid", json, strlen(json));
  assert_non_null(frame);
  assert_string_equal(
      frame->data, "id: 42\nevent: order_paid\ndata: {\"order_id\":\"ord_1\",\"status\":\"paid\"}"
                   "\n\n");
  assert_int_equal(frame->len, strlen(frame->data));
  assert_int_equal(frame->pos, 42);
  assert_int_equal(atomic_load(&frame->refcount), 1);
  assert_true(frame->created_ms >= before && frame->created_ms <= op_now_ms());
  assert_int_equal(frame->event_ms, frame->created_ms);
  assert_int_equal(op_frame_live_count(), live + 1);
  op_frame_release(frame);
  assert_int_equal(op_frame_live_count(), live);
}

static void test_event_data_not_terminated(void **state) {
  const char buf[] = {'a', 'b', 'c', 'X', 'Y'}; /* no NUL; only 3 bytes are data */
  op_frame_t *frame = op_frame_event(1, "e", buf, 3);
  assert_non_null(frame);
  assert_string_equal(frame->data, "id: 1\nevent: e\ndata: abc\n\n");
  op_frame_release(frame);
}

static void test_event_without_id_or_name(void **state) {
  op_frame_t *frame = op_frame_event(0, NULL, "x", 1);
  assert_non_null(frame);
  assert_string_equal(frame->data, "data: x\n\n");
  assert_int_equal(frame->pos, 0);
  op_frame_release(frame);

  frame = op_frame_event(0, "ping", "x", 1);
  assert_non_null(frame);
  assert_string_equal(frame->data, "event: ping\ndata: x\n\n");
  op_frame_release(frame);

  frame = op_frame_event(INT64_MAX, NULL, "x", 1);
  assert_non_null(frame);
  assert_string_equal(frame->data, "id: 9223372036854775807\ndata: x\n\n");
  op_frame_release(frame);
}

static void test_event_lf(void **state) {
  check_event("a\nb\nc", 5, "id: 7\nevent: order_paid\ndata: a\ndata: b\ndata: c\n\n", "a\nb\nc");
}

static void test_event_crlf(void **state) {
  check_event("a\r\nb\r\nc", 7, "id: 7\nevent: order_paid\ndata: a\ndata: b\ndata: c\n\n",
              "a\nb\nc");
}

static void test_event_lone_cr(void **state) {
  check_event("a\rb\rc", 5, "id: 7\nevent: order_paid\ndata: a\ndata: b\ndata: c\n\n", "a\nb\nc");
  /* "\r\r" is two breaks, "\n\r" is two breaks, "\r\n" is one. */
  check_event("a\r\rb\n\rc", 7,
              "id: 7\nevent: order_paid\ndata: a\ndata: \ndata: b\ndata: \ndata: c\n\n",
              "a\n\nb\n\nc");
}

static void test_event_trailing_and_leading_breaks(void **state) {
  check_event("a\n", 2, "id: 7\nevent: order_paid\ndata: a\ndata: \n\n", "a\n");
  check_event("a\r\n", 3, "id: 7\nevent: order_paid\ndata: a\ndata: \n\n", "a\n");
  check_event("a\r", 2, "id: 7\nevent: order_paid\ndata: a\ndata: \n\n", "a\n");
  check_event("\na", 2, "id: 7\nevent: order_paid\ndata: \ndata: a\n\n", "\na");
  check_event("\n", 1, "id: 7\nevent: order_paid\ndata: \ndata: \n\n", "\n");
  check_event("\r\n\r\n", 4, "id: 7\nevent: order_paid\ndata: \ndata: \ndata: \n\n", "\n\n");
}

static void test_event_empty_data(void **state) {
  /* One empty data line: the browser still dispatches the event, with "". */
  check_event("", 0, "id: 7\nevent: order_paid\ndata: \n\n", "");
  check_event(NULL, 0, "id: 7\nevent: order_paid\ndata: \n\n", "");
}

static void test_event_leading_space_and_colons(void **state) {
  /* The parser strips one space after "data:"; ours is that one. */
  check_event(" a", 2, "id: 7\nevent: order_paid\ndata:  a\n\n", " a");
  check_event("data: x\n\nid: 9", 14,
              "id: 7\nevent: order_paid\ndata: data: x\ndata: \ndata: id: 9\n\n",
              "data: x\n\nid: 9");
}

static void test_event_utf8(void **state) {
  const char *text = "Grüße, € 129,90 — 注文 🎉";
  char expected[256];
  snprintf(expected, sizeof expected, "id: 7\nevent: order_paid\ndata: %s\n\n", text);
  check_event(text, strlen(text), expected, text);
  /* Bytes that are not valid UTF-8 are not ours to judge: unchanged too. */
  check_event("\xff\xfe", 2, "id: 7\nevent: order_paid\ndata: \xff\xfe\n\n", "\xff\xfe");
}

static void test_event_random_roundtrip(void **state) {
  /* Random data over an alphabet rich in line breaks: the browser's view is
   * always the data with each break (CRLF, LF, CR) turned into one LF. */
  static const char alphabet[] = "ab \r\n:\xc3\xa9";
  unsigned seed = 12345;
  for (int round = 0; round < 2000; round++) {
    char data[64];
    char want[64];
    seed = seed * 1103515245u + 12345u;
    size_t len = (seed >> 16) % sizeof data;
    for (size_t i = 0; i < len; i++) {
      seed = seed * 1103515245u + 12345u;
      data[i] = alphabet[(seed >> 16) % (sizeof alphabet - 1)];
    }
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
      if (data[i] == '\r' && i + 1 < len && data[i + 1] == '\n')
        i++;
      want[n++] = data[i] == '\r' ? '\n' : data[i];
    }
    want[n] = '\0';
    check_event(data, len, NULL, want);
  }
}

static void test_event_invalid(void **state) {
  size_t live = op_frame_live_count();
  errno = 0;
  assert_null(op_frame_event(1, "order\npaid", "x", 1));
  assert_int_equal(errno, EINVAL);
  assert_null(op_frame_event(1, "order\rpaid", "x", 1));
  assert_null(op_frame_event(1, "order_paid\r\n", "x", 1));
  assert_null(op_frame_event(1, "\n", "x", 1));
  assert_null(op_frame_event(1, "", "x", 1));
  assert_null(op_frame_event(-1, "e", "x", 1));
  assert_null(op_frame_event(1, "e", NULL, 3));
  assert_null(op_frame_event(1, "e", "x", SIZE_MAX));
  assert_int_equal(op_frame_live_count(), live);
}

static void test_comment(void **state) {
  op_frame_t *frame = op_frame_comment("ping");
  assert_non_null(frame);
  assert_string_equal(frame->data, ": ping\n\n");
  assert_int_equal(frame->len, 8);
  assert_int_equal(frame->pos, 0);
  parsed_t p;
  parse_stream(&p, frame->data, frame->len);
  assert_int_equal(p.events, 0);
  op_frame_release(frame);

  frame = op_frame_comment("");
  assert_string_equal(frame->data, ": \n\n");
  op_frame_release(frame);

  /* A line break cannot smuggle a field out of a comment. */
  frame = op_frame_comment("a\ndata: x\r\nb\rc");
  assert_string_equal(frame->data, ": a\n: data: x\n: b\n: c\n\n");
  parse_stream(&p, frame->data, frame->len);
  assert_int_equal(p.events, 0);
  op_frame_release(frame);

  errno = 0;
  assert_null(op_frame_comment(NULL));
  assert_int_equal(errno, EINVAL);
}

static void test_raw(void **state) {
  op_frame_t *frame = op_frame_raw("retry: 3000\n\n", 13);
  assert_non_null(frame);
  assert_string_equal(frame->data, "retry: 3000\n\n");
  assert_int_equal(frame->len, 13);
  assert_int_equal(frame->pos, 0);
  op_frame_release(frame);

  const char bytes[] = {'a', '\0', 'b', '\n', '\n'};
  frame = op_frame_raw(bytes, sizeof bytes);
  assert_int_equal(frame->len, 5);
  assert_memory_equal(frame->data, bytes, 5);
  op_frame_release(frame);

  assert_null(op_frame_raw(NULL, 3));
  assert_null(op_frame_raw("x", 0));
}

static void test_refcount(void **state) {
  size_t live = op_frame_live_count();
  op_frame_t *frame = op_frame_comment("x");
  assert_ptr_equal(op_frame_reserve(frame), frame);
  assert_ptr_equal(op_frame_reserve(frame), frame);
  assert_int_equal(atomic_load(&frame->refcount), 3);
  op_frame_release(frame);
  op_frame_release(frame);
  assert_int_equal(atomic_load(&frame->refcount), 1);
  assert_int_equal(op_frame_live_count(), live + 1);
  op_frame_release(frame);
  assert_int_equal(op_frame_live_count(), live);
  op_frame_release(NULL);
}

#define THREADS 8
#define ROUNDS 20000

typedef struct holder_s {
  op_frame_t *frame; /* one reference owned by the thread */
  int mismatches;
} holder_t;

static void *holder_main(void *arg) {
  holder_t *holder = arg;
  op_frame_t *frame = holder->frame;
  op_frame_t *held[4];
  for (int i = 0; i < ROUNDS; i++) {
    for (int k = 0; k < 4; k++)
      held[k] = op_frame_reserve(frame);
    /* The bytes stay readable while any reference is held. */
    if (frame->len != 14 || memcmp(frame->data, ": shared one\n\n", 14) != 0)
      holder->mismatches++;
    for (int k = 0; k < 4; k++)
      op_frame_release(held[k]);
  }
  op_frame_release(frame); /* the reference handed over at start */
  return NULL;
}

static void test_refcount_threads(void **state) {
  size_t live = op_frame_live_count();
  op_frame_t *frame = op_frame_comment("shared one");
  assert_non_null(frame);
  pthread_t threads[THREADS];
  holder_t holders[THREADS];
  for (int i = 0; i < THREADS; i++) {
    holders[i] = (holder_t){op_frame_reserve(frame), 0};
    assert_int_equal(pthread_create(&threads[i], NULL, holder_main, &holders[i]), 0);
  }
  for (int i = 0; i < THREADS; i++) {
    assert_int_equal(pthread_join(threads[i], NULL), 0);
    assert_int_equal(holders[i].mismatches, 0);
  }
  /* Every thread's references are back; the builder's one keeps it alive. */
  assert_int_equal(atomic_load(&frame->refcount), 1);
  assert_int_equal(op_frame_live_count(), live + 1);
  op_frame_release(frame);
  assert_int_equal(op_frame_live_count(), live);
}

/* The last release may happen on any thread: hand frames to threads that
 * race to drop them; each frame is freed once (ASan reports a double free,
 * LSan a leak; the live count checks both). */
static void *dropper_main(void *arg) {
  op_frame_t **frames = arg;
  for (int i = 0; i < 1000; i++)
    op_frame_release(frames[i]);
  return NULL;
}

static void test_last_release_on_any_thread(void **state) {
  size_t live = op_frame_live_count();
  op_frame_t *frames[1000];
  for (int i = 0; i < 1000; i++) {
    frames[i] = op_frame_event(i + 1, "e", "d", 1);
    assert_non_null(frames[i]);
    for (int k = 1; k < THREADS; k++)
      op_frame_reserve(frames[i]);
  }
  pthread_t threads[THREADS];
  for (int i = 0; i < THREADS; i++)
    assert_int_equal(pthread_create(&threads[i], NULL, dropper_main, frames), 0);
  for (int i = 0; i < THREADS; i++)
    assert_int_equal(pthread_join(threads[i], NULL), 0);
  assert_int_equal(op_frame_live_count(), live);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_event_simple),
      cmocka_unit_test(test_event_data_not_terminated),
      cmocka_unit_test(test_event_without_id_or_name),
      cmocka_unit_test(test_event_lf),
      cmocka_unit_test(test_event_crlf),
      cmocka_unit_test(test_event_lone_cr),
      cmocka_unit_test(test_event_trailing_and_leading_breaks),
      cmocka_unit_test(test_event_empty_data),
      cmocka_unit_test(test_event_leading_space_and_colons),
      cmocka_unit_test(test_event_utf8),
      cmocka_unit_test(test_event_random_roundtrip),
      cmocka_unit_test(test_event_invalid),
      cmocka_unit_test(test_comment),
      cmocka_unit_test(test_raw),
      cmocka_unit_test(test_refcount),
      cmocka_unit_test(test_refcount_threads),
      cmocka_unit_test(test_last_release_on_any_thread),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
