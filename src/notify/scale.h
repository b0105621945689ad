/*
 * Scale-out of live delivery (DESIGN.md §8), with REDIS_URL set: the
 * consuming instance publishes each stored event's frame on the Redis bus
 * (notify/bus.h) instead of handing it to its own ring and hub; every
 * instance, consuming or not, receives the frames on its bus thread, puts
 * them in tenant position order (notify/seq.h, gaps filled from the shared
 * tenant log) and feeds its ring and hub. So every instance delivers every
 * event of a tenant to its own subscribers, once, in position order.
 */
#ifndef OP_NOTIFY_SCALE_H
#define OP_NOTIFY_SCALE_H

#include <stddef.h>

#include "core/config.h"
#include "core/event.h"
#include "fanout/frame.h"
#include "fanout/hub.h"
#include "fanout/ring.h"
#include "store/events.h"
#include "store/store.h"

typedef struct op_scale_s op_scale_t;

/* Frames a stored event (the live module's framing). */
typedef op_frame_t *(*op_scale_frame_fn)(const op_order_event_t *ev, int64_t pos);

/* cfg->redis_url must be set. ring is borrowed. NULL + errbuf on error.
 * Runs on: the main thread. */
op_scale_t *op_scale_new(const op_config_t *cfg, op_ring_set_t *ring, op_scale_frame_fn frame,
                         char *errbuf, size_t errlen);

/* Sets the hub and starts the bus thread. Runs on: the main thread, once the
 * hub exists. Returns 0 or OP_E*. */
int op_scale_start(op_scale_t *sc, op_hub_t *hub);

/*
 * Publishes the frames of a batch's events on the bus and waits until Redis
 * took them. Returns 0, or OP_EIO: then the batch handler fails, Kafka
 * offsets are not committed, and the batch comes again.
 *
 * Duplicates (results[i].duplicate) are published too, at their stored
 * position read back from the tenant log on store: a batch whose transaction
 * committed but whose publish never happened (the process died in between,
 * or Redis was down) comes back as all duplicates, and must still reach the
 * other instances. Receivers drop positions they have (the sequencer), so a
 * re-publish is harmless. Runs on: the consumer thread.
 */
int op_scale_publish(op_scale_t *sc, op_store_t *store, const op_order_event_t *evs,
                     const op_event_result_t *results, size_t n);

/* A per-user frame (no position) for tenant/user, over the bus. Same thread
 * and result rules as op_scale_publish (call op_scale_flush after). */
int op_scale_publish_user(op_scale_t *sc, const char *tenant, const char *user,
                          const op_frame_t *frame);
int op_scale_flush(op_scale_t *sc);

/* Stops the bus thread and frees everything. NULL is a no-op. */
void op_scale_free(op_scale_t *sc);

#endif
