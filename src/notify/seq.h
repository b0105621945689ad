/*
 * Per-tenant ordering of the event frames that arrive over the Redis bus
 * (DESIGN.md §4.4 across instances). Two instances may commit positions p and
 * p+1 of one tenant and publish them in the other order; subscribers must
 * still get p before p+1, and never a gap.
 *
 * A frame at the tenant's next position is delivered at once, then every
 * held frame that now follows. A frame further ahead is held; when its gap is
 * still open hold_ms later, the sequencer asks for the missing positions
 * (fill: the shared database's tenant log has them, since a position commits
 * only after its predecessor did). A range the log no longer holds is
 * answered with a resync to the tenant's subscribers, then the held frames.
 * A fill that fails for a transient reason (the database is down) is retried
 * every hold_ms; past max_held frames or max_wait_ms of waiting the tenant
 * resyncs rather than hold without bound.
 *
 * Not thread-safe: one thread (the bus thread) calls everything.
 */
#ifndef OP_NOTIFY_SEQ_H
#define OP_NOTIFY_SEQ_H

#include <stddef.h>
#include <stdint.h>

#include "fanout/frame.h"

typedef struct op_seq_ops_s {
  /* The tenant's newest position delivered (or known to exist) here; -1 when
   * the tenant is unknown (then any frame is delivered as it comes: nobody
   * here follows the tenant yet). */
  int64_t (*last)(const char *tenant, void *ud);
  /* Delivers frame (borrowed) as the tenant's next position. */
  void (*deliver)(const char *tenant, op_frame_t *frame, void *ud);
  /* Delivers, in order, the positions after..upto (INT64_MAX: up to the
   * newest stored) from the durable log. Returns 0 when every one of them was
   * delivered, OP_ERANGE when the log no longer holds part of the range (or it
   * is longer than the replay window), anything else: try again later. */
  int (*fill)(const char *tenant, int64_t after, int64_t upto, void *ud);
  /* The tenant's subscribers must resync (positions were lost to them). */
  void (*resync)(const char *tenant, void *ud);
  void *ud;
} op_seq_ops_t;

typedef struct op_seq_s op_seq_t;

/* ops is copied. NULL when out of memory. */
op_seq_t *op_seq_new(const op_seq_ops_t *ops, int64_t hold_ms, int64_t max_wait_ms,
                     size_t max_held);

/* Releases every held frame. NULL is a no-op. */
void op_seq_free(op_seq_t *seq);

/* A frame (pos > 0, borrowed) for tenant arrived at now_ms. */
void op_seq_offer(op_seq_t *seq, const char *tenant, op_frame_t *frame, int64_t now_ms);

/* Resolves the gaps that waited hold_ms. Call it often (every few ms). */
void op_seq_tick(op_seq_t *seq, int64_t now_ms);

/* Brings tenant up to the newest stored position (after a lost
 * subscription): fill(last, INT64_MAX), resync when that range is gone, then
 * the held frames. Returns 0 or fill's transient error (try again). */
int op_seq_catch_up(op_seq_t *seq, const char *tenant, int64_t now_ms);

/* Frames held, all tenants. */
size_t op_seq_held(const op_seq_t *seq);

#endif
