/*
 * notifications.events relay: publishes notify_publish_outbox rows in id
 * order (key msg_key = user_id, header traceparent from the row's trace id)
 * with the idempotent producer, flushes, then deletes the published rows.
 * The same shape as the order service's relay (src/order/relay.c): a crash
 * between the publish and the delete publishes those messages again (the
 * same bytes and notification_id; consumers dedupe), nothing is lost.
 * It polls every 200 ms and op_notify_relay_wake starts a pass at once.
 */
#ifndef OP_NOTIFY_RELAY_H
#define OP_NOTIFY_RELAY_H

#include <stddef.h>

#include "core/config.h"

typedef struct op_notify_relay_s op_notify_relay_t;

op_notify_relay_t *op_notify_relay_new(const op_config_t *cfg, const char *brokers, char *errbuf,
                                       size_t errlen);
int op_notify_relay_start(op_notify_relay_t *r);
void op_notify_relay_wake(op_notify_relay_t *r);
/* Stops after one last pass and joins the thread; frees. NULL is a no-op. */
void op_notify_relay_free(op_notify_relay_t *r);

#endif
