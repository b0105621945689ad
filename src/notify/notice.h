/*
 * notifications.events messages (contracts/notifications.events.schema.json):
 * one per state change of a notification, keyed by user_id. They are not
 * produced directly: op_notice_enqueue adds the message to
 * notify_publish_outbox inside the caller's transaction (the one that made
 * the change), and notify's relay publishes the outbox in id order. So a
 * state change is published if and only if it was stored.
 */
#ifndef OP_NOTIFY_NOTICE_H
#define OP_NOTIFY_NOTICE_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

#define OP_NOTICE_TOPIC "notifications.events"

typedef struct op_notice_s {
  const char *notification_id;
  const char *tenant_id;
  const char *user_id;
  const char *channel;  /* "in_app" or "email" */
  const char *template; /* the template name: the event type, e.g. "order_paid" */
  const char *state;    /* "queued", "sent" or "failed" */
  const char *order_id;
  int64_t sent_at_ms;   /* state "sent": when; otherwise ignored */
  const char *reason;   /* state "failed": why; otherwise ignored */
  const char *trace_id; /* 32 lower-case hex digits; NULL or invalid: a new one */
} op_notice_t;

/* Builds the message. Returns a malloc'd NUL-terminated JSON text, or NULL
 * when out of memory. */
char *op_notice_json(const op_notice_t *n);

/* Adds the message to notify_publish_outbox (created_at = now_ms). Call it
 * inside the transaction that stores the change. Returns 0 or OP_E*. */
int op_notice_enqueue(op_store_t *store, const op_notice_t *n, int64_t now_ms);

#endif
