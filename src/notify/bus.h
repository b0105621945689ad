/*
 * The Redis bus between notify instances (DESIGN.md §8): one PUBLISH channel,
 * OP_BUS_CHANNEL, that every instance subscribes to. Two message kinds:
 *
 *   event          a stored event's SSE frame: tenant, position, the event's
 *                  timestamp and the frame's bytes (published by the instance
 *                  that consumed the event, after its transaction committed)
 *   publish_user   a per-user frame: tenant, user, bytes; no position
 *
 * Publishing (op_bus_publish*, op_bus_flush) runs on one thread (the consumer
 * thread) over a blocking connection; commands are pipelined and flush waits
 * for every reply, so "flush returned 0" means Redis accepted the batch. The
 * subscriber runs on a thread of its own (a libuv loop with hiredis' async
 * client): it reconnects with exponential backoff and calls the sink on that
 * thread. A tick callback runs every OP_BUS_TICK_MS on the same thread.
 *
 * /health component "redis" (non-critical): ok while both connections are
 * up, degraded otherwise.
 */
#ifndef OP_NOTIFY_BUS_H
#define OP_NOTIFY_BUS_H

#include <stddef.h>
#include <stdint.h>

#include "fanout/frame.h"

#define OP_BUS_CHANNEL "op:bus"
#define OP_BUS_TICK_MS 20

typedef struct op_bus_url_s {
  char host[256];
  int port;
  char password[256]; /* empty: no AUTH */
  int db;
} op_bus_url_t;

/* Parses redis://[[user]:password@]host[:port][/db]. Returns 0 or OP_ECONFIG
 * with one line in errbuf (rediss:// is refused: no TLS in this client). */
int op_bus_parse_url(const char *url, op_bus_url_t *out, char *errbuf, size_t errlen);

typedef struct op_bus_sink_s {
  /* An event frame: pos > 0, frame->pos = pos, frame->event_ms set; the
   * frame is borrowed (reserve it to keep it). */
  void (*on_event)(const char *tenant, op_frame_t *frame, void *ud);
  /* A per-user frame (borrowed). May be NULL: ignored. */
  void (*on_user)(const char *tenant, const char *user, op_frame_t *frame, void *ud);
  /* The subscription is (re)established: what was published meanwhile was
   * missed and must be caught up from the durable log. */
  void (*on_subscribed)(void *ud);
  void (*on_tick)(int64_t now_ms, void *ud);
  void *ud;
} op_bus_sink_t;

typedef struct op_bus_s op_bus_t;

/* Parses url and prepares both connections (none is opened yet). sink is
 * copied. NULL + errbuf on error. Runs on: the main thread. */
op_bus_t *op_bus_new(const char *url, const op_bus_sink_t *sink, char *errbuf, size_t errlen);

/* Starts the subscriber thread. Returns 0 or OP_E*. */
int op_bus_start(op_bus_t *bus);

/* Queues one event frame (pos > 0) for tenant. Returns 0, OP_EINVAL (a
 * tenant with a line break) or OP_EIO (no connection: flush fails too).
 * Runs on: the publishing thread. */
int op_bus_publish(op_bus_t *bus, const char *tenant, const op_frame_t *frame);

/* Queues one per-user frame. Same rules. */
int op_bus_publish_user(op_bus_t *bus, const char *tenant, const char *user,
                        const op_frame_t *frame);

/* Sends what was queued and waits for every reply. Returns 0, or OP_EIO when
 * any command may not have reached Redis (the connection is dropped; the next
 * publish reconnects). Runs on: the publishing thread. */
int op_bus_flush(op_bus_t *bus);

/* True while the subscriber is subscribed. Any thread. */
int op_bus_subscribed(const op_bus_t *bus);

/* Stops the subscriber thread and frees everything. NULL is a no-op. */
void op_bus_free(op_bus_t *bus);

/* Message encoding, exposed for tests. Each returns a malloc'd buffer and
 * its length in *len, or NULL (OOM, or a field with a line break). */
char *op_bus_encode_event(const char *tenant, const op_frame_t *frame, size_t *len);
char *op_bus_encode_user(const char *tenant, const char *user, const op_frame_t *frame,
                         size_t *len);

/* Decodes a message: kind 'E' or 'U'; tenant and user point into a copy in
 * *scratch (free it); *frame gets a new frame (release it). 0 or OP_EPROTO. */
typedef struct op_bus_msg_s {
  char kind;
  const char *tenant;
  const char *user;
  op_frame_t *frame;
  char *scratch;
} op_bus_msg_t;
int op_bus_decode(const char *msg, size_t len, op_bus_msg_t *out);

#endif
