/*
 * The replay window (DESIGN.md §4.4, §5 "Replay"): per tenant, the most recent
 * frames in memory, so that a client reconnecting with Last-Event-ID gets
 * exactly the events it missed without a database read.
 *
 * A tenant's window is bounded by count (max_frames, SSE_REPLAY_BUFFER_SIZE)
 * and by age (ttl_ms, SSE_REPLAY_BUFFER_TTL_SECONDS): a frame whose
 * created_ms is more than ttl_ms before the reader's now_ms is no longer
 * replayable. Expired frames are released lazily, on the tenant's next append
 * (measured against the new frame's created_ms) or by op_ring_expire.
 *
 * Positions are the tenant log's: per tenant 1, 2, 3, … with no gap. The ring
 * holds, per tenant, the newest position it knows of (last) and the frames of
 * a contiguous run of positions ending at last (possibly none). An append
 * that skips positions, and a note of a newer position, start a new run: the
 * older frames can no longer be part of a gapless replay and are released.
 * Positions at or below last that are not in the run exist, but only in the
 * durable tenant log; a tenant's first append at pos says the same of every
 * position before pos. Seeding after a restart is therefore
 * op_ring_note_position(tenant, last position in the log), or appending the
 * log's newest entries, rebuilt as frames, in order.
 *
 * Frames are shared with the live fan-out: the ring holds one reference per
 * frame it keeps (taken by op_ring_append) and hands readers references of
 * their own.
 *
 * Thread safety: every function may run on any thread concurrently, except
 * op_ring_set_free. In the service, appends run on the consumer thread and
 * reads on the HTTP loops. Tenants live in a table split into lock stripes;
 * a read holds its stripe's lock only to copy and reserve frame pointers.
 */
#ifndef OP_FANOUT_RING_H
#define OP_FANOUT_RING_H

#include <stddef.h>
#include <stdint.h>

#include "fanout/frame.h"

typedef struct op_ring_set_s op_ring_set_t;

/*
 * Creates an empty set of tenant windows of at most max_frames frames each
 * (0: keep positions only, so every read behind last is OP_ERANGE), frames
 * replayable for ttl_ms after their created_ms. Memory grows with use: a
 * tenant's slots double up to max_frames. Returns NULL on OOM or ttl_ms < 0.
 * The caller frees the set with op_ring_set_free.
 * Runs on: any thread.
 */
op_ring_set_t *op_ring_set_new(size_t max_frames, int64_t ttl_ms);

/* Releases every frame held and frees the set. NULL is a no-op.
 * Runs on: any thread, once no other thread uses the set. */
void op_ring_set_free(op_ring_set_t *set);

/*
 * Appends frame (borrowed; the ring takes its own reference) as the newest of
 * tenant_id's window, at position frame->pos. Returns:
 *   0           appended; frames beyond max_frames, older than the TTL
 *               (judged by frame->created_ms) or before a skipped position
 *               were released.
 *   OP_EEXIST   frame->pos is not above the tenant's last position: ignored,
 *               nothing changes (a redelivered event is harmless).
 *   OP_ENOMEM   out of memory. When the tenant was known its last position
 *               still advances to frame->pos (older frames dropped), so that
 *               no read ever skips the frame; otherwise nothing changes.
 *   OP_EINVAL   tenant_id NULL or empty, frame NULL, frame->pos <= 0.
 * Runs on: any thread (the consumer thread in the service).
 */
int op_ring_append(op_ring_set_t *set, const char *tenant_id, op_frame_t *frame);

/*
 * Reads the frames of tenant_id after after_pos, for a client that sent
 * Last-Event-ID: after_pos. *last_pos always receives the tenant's newest
 * position known to the ring (0 when the tenant is unknown) and *nout the
 * number of frames stored in out. Returns:
 *   0           every frame from after_pos + 1 to *last_pos is in out, in
 *               position order (none when after_pos == *last_pos).
 *   OP_EAGAIN   more than max_out frames are due: out holds the first max_out
 *               (after_pos + 1 …); read again after the last one returned.
 *   OP_ERANGE   after_pos is behind the window: the frame at after_pos + 1
 *               was evicted, expired at now_ms, or never held (only the
 *               durable tenant log has it). Try the log, or resync.
 *   OP_EINVAL   after_pos is ahead of *last_pos (or misuse: a NULL argument,
 *               out NULL with max_out > 0, after_pos < 0).
 *   OP_ENOENT   the tenant is unknown to the ring: consult the durable log.
 * With 0 and OP_EAGAIN each frame in out carries a reference for the caller,
 * who releases it (op_frame_release); with the others *nout is 0.
 * Runs on: any thread (the HTTP loops in the service).
 */
int op_ring_read(op_ring_set_t *set, const char *tenant_id, int64_t after_pos, int64_t now_ms,
                 op_frame_t **out, size_t max_out, size_t *nout, int64_t *last_pos);

/*
 * Records that positions up to pos exist for tenant_id but are not in memory
 * (after a restart: pos is the tenant log's last position; pos 0: the tenant
 * has no events yet). When pos is above the tenant's last position the
 * window's frames are released and last becomes pos. Returns 0 (tenant
 * created or advanced), OP_EEXIST (already at or past pos: nothing changes),
 * OP_ENOMEM, OP_EINVAL (tenant_id NULL or empty, pos < 0).
 * Runs on: any thread.
 */
int op_ring_note_position(op_ring_set_t *set, const char *tenant_id, int64_t pos);

/* Sets *pos to tenant_id's newest known position. Returns 0, OP_ENOENT (the
 * tenant is unknown; *pos = 0) or OP_EINVAL. Runs on: any thread. */
int op_ring_last_position(op_ring_set_t *set, const char *tenant_id, int64_t *pos);

/*
 * Releases, in every tenant, the frames no longer replayable at now_ms, and
 * the slots of windows left empty; tenants and their last positions stay.
 * Returns the number of frames released. For a periodic timer, so that idle
 * tenants do not keep expired frames until their next append.
 * Runs on: any thread; takes each stripe's lock in turn.
 */
size_t op_ring_expire(op_ring_set_t *set, int64_t now_ms);

/* Counts tenants and frames held (either pointer may be NULL), stripe by
 * stripe, so not one instant's snapshot. Runs on: any thread. */
void op_ring_stats(op_ring_set_t *set, size_t *tenants, size_t *frames);

/* The ids of every tenant known to the set, as a malloc'd array of
 * malloc'd strings (free each, then the array); *n receives the count.
 * Returns 0 or OP_ENOMEM (*out NULL). For a caller that must visit every
 * tenant (e.g. to catch up after a lost feed); no lock is held on return.
 * Runs on: any thread. */
int op_ring_tenants(op_ring_set_t *set, char ***out, size_t *n);

#endif
