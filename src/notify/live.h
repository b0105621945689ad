/*
 * Real-time delivery for notify: GET /api/sse/notifications (also
 * /events/stream) and GET /api/orders/snapshot. Stored events are framed once
 * on the consumer thread (op_live_publish), kept in the replay ring, and fanned
 * out to the HTTP loops by the hub. A client reconnecting with Last-Event-ID
 * gets what it missed from the ring or, when the ring does not reach back that
 * far, from the durable tenant log, then live; outside the replay window it
 * gets `event: resync` and the snapshot URL.
 */
#ifndef OP_NOTIFY_LIVE_H
#define OP_NOTIFY_LIVE_H

#include <stddef.h>

#include "core/config.h"
#include "core/event.h"
#include "http/http.h"
#include "store/events.h"

typedef struct op_live_s op_live_t;

/* Registers the routes on router. cfg is borrowed. NULL + errbuf on error.
 * Runs on: the main thread, before the server starts. */
op_live_t *op_live_new(const op_config_t *cfg, op_http_router_t *router, char *errbuf,
                       size_t errlen);

/* Creates the hub for server's loops and installs the loop hooks. Returns 0
 * or OP_E*. Runs on: the main thread, before op_http_server_start. */
int op_live_attach(op_live_t *live, op_http_server_t *server);

/* Frames the stored (not duplicate) events of a batch and hands them to the
 * ring and the hub; results as returned by op_events_apply. With REDIS_URL
 * the frames go to Redis instead (duplicates too, at their stored position
 * read on store: see op_scale_publish) and every instance's bus thread feeds
 * its ring and hub. Returns 0, or OP_E* when Redis did not take them (the
 * batch must fail so that its offsets are not committed). Runs on: the
 * consumer thread, after the batch's transaction committed. */
int op_live_publish(op_live_t *live, op_store_t *store, const op_order_event_t *evs,
                    const op_event_result_t *results, size_t n);

/* Pushes a notification object (JSON text) to user_id's own SSE connections
 * of tenant_id as `event: notification` with no id line (SSE ids stay the
 * tenant's positions). Not replayed: the inbox API is the durable view.
 * Runs on: the consumer thread, after the transaction that stored it. */
void op_live_notify_user(op_live_t *live, const char *tenant_id, const char *user_id,
                         const char *json);

/* Frees everything; the HTTP server must be stopped. */
void op_live_free(op_live_t *live);

#endif
