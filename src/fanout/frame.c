/*
 * SSE frames. Each constructor measures the frame first, then allocates the
 * header and the bytes together and writes them in a second pass with the
 * same code, so the length is exact and there is one allocation per frame.
 */
#include "fanout/frame.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"

/* Inputs above this are refused, so that no size computation can overflow. */
#define FRAME_INPUT_MAX (SIZE_MAX / 16)

static atomic_size_t live_frames;

/*
 * Writes text as lines "<prefix><line>\n", splitting at "\r\n", "\n" and a
 * lone "\r" (the EventSource parser's line breaks, which may not appear inside
 * a field). An empty text is one empty line. With out NULL only counts.
 * Returns the number of bytes (to be) written.
 */
static size_t put_lines(char *out, const char *prefix, size_t prefix_len, const char *text,
                        size_t len) {
  size_t n = 0;
  size_t start = 0;
  for (size_t i = 0; i <= len; i++) {
    if (i < len && text[i] != '\r' && text[i] != '\n')
      continue;
    size_t seg = i - start;
    if (out) {
      memcpy(out + n, prefix, prefix_len);
      if (seg)
        memcpy(out + n + prefix_len, text + start, seg);
      out[n + prefix_len + seg] = '\n';
    }
    n += prefix_len + seg + 1;
    if (i + 1 < len && text[i] == '\r' && text[i + 1] == '\n')
      i++;
    start = i + 1;
  }
  return n;
}

/* Allocates a frame with one reference and room for len bytes plus a NUL. */
static op_frame_t *frame_alloc(size_t len) {
  op_frame_t *frame = malloc(sizeof *frame + len + 1);
  if (frame == NULL) {
    errno = ENOMEM;
    return NULL;
  }
  atomic_init(&frame->refcount, 1u);
  frame->pos = 0;
  frame->created_ms = op_now_ms();
  frame->event_ms = frame->created_ms;
  frame->len = len;
  frame->data[len] = '\0';
  atomic_fetch_add_explicit(&live_frames, 1, memory_order_relaxed);
  return frame;
}

static op_frame_t *invalid(void) {
  errno = EINVAL;
  return NULL;
}

op_frame_t *op_frame_event(int64_t pos, const char *event, const char *data, size_t data_len) {
  if (pos < 0 || (data == NULL && data_len > 0) || data_len > FRAME_INPUT_MAX)
    return invalid();
  size_t event_len = 0;
  if (event) {
    event_len = strlen(event);
    if (event_len == 0 || event_len > FRAME_INPUT_MAX || strpbrk(event, "\r\n"))
      return invalid();
  }
  if (data == NULL)
    data = "";

  char id[32];
  int id_len = 0;
  if (pos > 0)
    id_len = snprintf(id, sizeof id, "id: %" PRId64 "\n", pos);
  size_t len = (size_t)id_len;
  if (event)
    len += sizeof "event: " - 1 + event_len + 1;
  len += put_lines(NULL, "data: ", 6, data, data_len) + 1;

  op_frame_t *frame = frame_alloc(len);
  if (frame == NULL)
    return NULL;
  frame->pos = pos;
  char *p = frame->data;
  memcpy(p, id, (size_t)id_len);
  p += id_len;
  if (event) {
    memcpy(p, "event: ", 7);
    memcpy(p + 7, event, event_len);
    p[7 + event_len] = '\n';
    p += 7 + event_len + 1;
  }
  p += put_lines(p, "data: ", 6, data, data_len);
  *p++ = '\n';
  assert((size_t)(p - frame->data) == len);
  return frame;
}

op_frame_t *op_frame_comment(const char *text) {
  if (text == NULL)
    return invalid();
  size_t text_len = strlen(text);
  if (text_len > FRAME_INPUT_MAX)
    return invalid();
  size_t len = put_lines(NULL, ": ", 2, text, text_len) + 1;
  op_frame_t *frame = frame_alloc(len);
  if (frame == NULL)
    return NULL;
  size_t n = put_lines(frame->data, ": ", 2, text, text_len);
  frame->data[n] = '\n';
  return frame;
}

op_frame_t *op_frame_raw(const char *bytes, size_t len) {
  if (bytes == NULL || len == 0)
    return invalid();
  op_frame_t *frame = frame_alloc(len);
  if (frame == NULL)
    return NULL;
  memcpy(frame->data, bytes, len);
  return frame;
}

op_frame_t *op_frame_reserve(op_frame_t *frame) {
  /* Relaxed is enough: the caller already holds a reference, so the frame
   * cannot be freed concurrently, and nothing is published by this store. */
  unsigned old = atomic_fetch_add_explicit(&frame->refcount, 1u, memory_order_relaxed);
  assert(old > 0 && old < UINT_MAX);
  (void)old;
  return frame;
}

void op_frame_release(op_frame_t *frame) {
  if (frame == NULL)
    return;
  /* acq_rel: this holder's reads of the frame happen before the decrement
   * (release), and the thread that sees the count reach zero observes every
   * other holder's reads before it frees (acquire). */
  unsigned old = atomic_fetch_sub_explicit(&frame->refcount, 1u, memory_order_acq_rel);
  assert(old > 0);
  if (old == 1) {
    atomic_fetch_sub_explicit(&live_frames, 1, memory_order_relaxed);
    free(frame);
  }
}

size_t op_frame_live_count(void) {
  return atomic_load_explicit(&live_frames, memory_order_relaxed);
}
