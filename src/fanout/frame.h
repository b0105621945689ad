/*
 * SSE frames: an event formatted once into one reference-counted buffer whose
 * bytes are queued, without copies, on every subscriber of its tenant
 * (DESIGN.md §5 "Fan-out").
 *
 * A frame is one allocation: the header below followed by its bytes. It is
 * built on one thread (the consumer), then shared: every holder (the replay
 * ring, each loop's queue, each connection's pending write) takes a reference
 * with op_frame_reserve and gives it back with op_frame_release; the last
 * release frees the frame. Reserve and release are atomic, so references may
 * be taken and dropped on any thread.
 *
 * Until the frame is shared its builder may set pos, created_ms and event_ms
 * (e.g. event_ms to the event's timestamp, created_ms to a tenant-log entry's
 * created_at when rebuilding a frame for replay). Once shared, every field but
 * refcount is read-only, and data is never written again.
 */
#ifndef OP_FANOUT_FRAME_H
#define OP_FANOUT_FRAME_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef struct op_frame_s {
  atomic_uint refcount; /* holders; the frame is freed when it drops to zero */
  int64_t pos;          /* position in the tenant log (the SSE id); 0: no id */
  int64_t created_ms;   /* wall clock when framed; the replay ring ages on it */
  int64_t event_ms;     /* the event's timestamp, for delivery latency */
  size_t len;           /* bytes in data, the trailing NUL not counted */
  char data[];          /* the frame's bytes, then a NUL (not part of the frame) */
} op_frame_t;

/*
 * Frames one event:
 *
 *   id: <pos>\n                 (omitted when pos is 0)
 *   event: <event>\n            (omitted when event is NULL)
 *   data: <line>\n              (one per line of data)
 *   \n
 *
 * data (data_len bytes, need not be NUL-terminated, may be NULL when data_len
 * is 0) is split into lines at "\r\n", "\n" and a lone "\r", the line breaks
 * of the WHATWG EventSource parser, so the browser's MessageEvent.data is
 * data with every line break turned into "\n". Empty data is one empty
 * "data: " line, so the event is still dispatched. Other bytes, multi-byte
 * UTF-8 included, pass through unchanged.
 *
 * Returns a frame with one reference (the caller's), refcount 1, created_ms
 * and event_ms set to now. Returns NULL, with errno EINVAL, when pos < 0,
 * event is empty or contains CR or LF, or data is NULL with data_len > 0;
 * NULL with errno ENOMEM when out of memory.
 * Runs on: any thread.
 */
op_frame_t *op_frame_event(int64_t pos, const char *event, const char *data, size_t data_len);

/*
 * Frames a comment, ": <text>\n\n", e.g. the heartbeat. Browsers ignore it;
 * proxies see traffic. A text with line breaks becomes several comment lines
 * (split as op_frame_event splits data). pos is 0. Returns a frame with one
 * reference, or NULL (errno EINVAL when text is NULL, ENOMEM).
 * Runs on: any thread.
 */
op_frame_t *op_frame_comment(const char *text);

/*
 * Wraps bytes the caller already formatted, copied as they are, e.g.
 * "retry: 3000\n\n". The caller answers for their being valid SSE. pos is 0.
 * Returns a frame with one reference, or NULL (errno EINVAL when bytes is NULL
 * or len is 0, ENOMEM).
 * Runs on: any thread.
 */
op_frame_t *op_frame_raw(const char *bytes, size_t len);

/*
 * Takes one more reference for a new holder; the caller must already hold
 * one (directly or through a structure it has locked). Returns frame.
 * Runs on: any thread.
 */
op_frame_t *op_frame_reserve(op_frame_t *frame);

/*
 * Gives back one reference; the last one frees the frame. NULL is a no-op.
 * The caller must not touch the frame afterwards.
 * Runs on: any thread.
 */
void op_frame_release(op_frame_t *frame);

/* Frames allocated and not yet freed, process-wide: for a gauge and for leak
 * checks in tests. Runs on: any thread. */
size_t op_frame_live_count(void);

#endif
