/*
 * The in-process fan-out: a frame published for a tenant is queued, as the
 * same reference-counted bytes, on every subscriber of that tenant on every
 * HTTP loop. The publisher (the consumer thread) touches each loop only
 * through that loop's inbox (a mutex-guarded array and a uv_async_t); each
 * loop then writes to its own subscribers without any lock.
 *
 * Per subscriber, positions only increase: a frame whose position is not
 * beyond the last one sent is skipped, so replay and live delivery may
 * overlap without a duplicate. The queue of each subscriber is bounded in
 * bytes and frames; past either bound the subscriber's stream is closed (it
 * recovers by replay) so that one slow client never delays another.
 */
#ifndef OP_FANOUT_HUB_H
#define OP_FANOUT_HUB_H

#include <stddef.h>
#include <stdint.h>

#include "fanout/frame.h"
#include "http/http.h"

typedef struct op_hub_s op_hub_t;
typedef struct op_hub_sub_s op_hub_sub_t;

typedef struct op_hub_opts_s {
  unsigned nloops;
  size_t max_queued_bytes;  /* per subscriber, not yet accepted by the kernel */
  size_t max_queued_frames; /* per subscriber, written and not yet done */
  int64_t heartbeat_ms;     /* a comment frame to every subscriber this often */
} op_hub_opts_t;

/* NULL on allocation failure. Runs on: any thread. */
op_hub_t *op_hub_new(const op_hub_opts_t *opts);

/* Frees the hub; every loop must have been stopped. */
void op_hub_free(op_hub_t *hub);

/* Attaches the hub to an HTTP loop: its inbox, async handle and heartbeat
 * tick. Runs on: that loop, from the server's loop-init hook. */
int op_hub_loop_start(op_hub_t *hub, op_http_loop_t *loop);

/* Detaches it and drops what its inbox still holds. Runs on: that loop, from
 * the loop-done hook (after every stream of the loop is closed). */
void op_hub_loop_stop(op_hub_t *hub, op_http_loop_t *loop);

/* Queues frame for every subscriber of tenant_id on every loop (the frame is
 * reserved per loop; the caller keeps its own reference). Returns 0 or
 * OP_ENOMEM. Runs on: any thread. */
int op_hub_publish(op_hub_t *hub, const char *tenant_id, op_frame_t *frame);

/* Queues frame for the subscribers of tenant_id whose user_id is user_id
 * only (e.g. a user's own notification). The frame must have pos 0: it never
 * advances a subscriber's position, and it also reaches a subscriber held for
 * replay. Returns 0, OP_EINVAL (pos not 0, user_id NULL) or OP_ENOMEM.
 * Runs on: any thread. */
int op_hub_publish_user(op_hub_t *hub, const char *tenant_id, const char *user_id,
                        op_frame_t *frame);

/* Subscribes a started stream for tenant_id; frames with pos <= last_pos are
 * never sent to it. user_id (copied, may be NULL) is for per-user delivery.
 * NULL on allocation failure. Runs on: the loop owning conn. */
op_hub_sub_t *op_hub_subscribe(op_hub_t *hub, op_http_conn_t *conn, const char *tenant_id,
                               const char *user_id, int64_t last_pos);

/* Writes frame to this subscriber now (replay, per-connection frames); a
 * frame with pos > 0 also advances the subscriber's position, and one at or
 * below it is skipped (returns 0). Returns 0, OP_EFULL (too slow: the stream
 * is being closed) or OP_ECLOSED. Runs on: the loop owning sub. */
int op_hub_send(op_hub_sub_t *sub, op_frame_t *frame);

/* Sets the subscriber's position: frames up to pos are skipped from now on.
 * A resync uses it to continue live from the tenant's newest position, which
 * may be below a client's bogus Last-Event-ID. Runs on: the loop owning sub,
 * in the same callback that subscribed (before any live frame reached it). */
void op_hub_sub_set_position(op_hub_sub_t *sub, int64_t pos);

/* Called once, on the loop, when every frame written to sub has been handed
 * to the kernel. */
typedef void (*op_hub_drain_cb)(op_hub_sub_t *sub, void *ud);

/* While held, live frames skip sub: a caller replaying in steps holds it, and
 * picks up what was published meanwhile from the replay ring, in order, in
 * its next step. Runs on: the loop owning sub. */
void op_hub_sub_hold(op_hub_sub_t *sub, int hold);

/* Arms cb for the next time sub's queue is empty (once; NULL disarms). It is
 * not called if the stream closes first. Runs on: the loop owning sub. */
void op_hub_sub_on_drain(op_hub_sub_t *sub, op_hub_drain_cb cb, void *ud);

/* One pointer for the caller's own per-subscriber state. */
void op_hub_sub_set_data(op_hub_sub_t *sub, void *data);
void *op_hub_sub_data(const op_hub_sub_t *sub);

/* The hub sub belongs to. */
op_hub_t *op_hub_sub_hub(const op_hub_sub_t *sub);

/* The subscriber's last position sent. */
int64_t op_hub_sub_position(const op_hub_sub_t *sub);

/* Removes and frees sub: call from the stream's on_close. Runs on: its loop. */
void op_hub_unsubscribe(op_hub_sub_t *sub);

/* Subscribers on all loops (approximate while loops run). Any thread. */
int64_t op_hub_count(const op_hub_t *hub);

#endif
