/*
 * Who is told about an event: the role map (NOTIFY_RECIPIENT_ROLES,
 * "event_type=Role,Role;event_type=Role") and, inside notify's consumer
 * transaction, the inbox rows, email outbox rows and notifications.events
 * notices for each stored event whose type is mapped.
 *
 * A recipient is a user of the event's tenant (notify_users) holding at least
 * one of the roles mapped to the event type (exact, case-sensitive match).
 * Per recipient: an inbox row when in-app is enabled (notice in_app "sent"),
 * an email outbox row (state queued, due now) when email is enabled (notice
 * email "queued"). Both rows of one (event, user) share one notification_id
 * (a UUIDv7), so the two channels of a notification can be told together.
 */
#ifndef OP_NOTIFY_RECIPIENTS_H
#define OP_NOTIFY_RECIPIENTS_H

#include <stddef.h>
#include <stdint.h>

#include "core/event.h"
#include "store/events.h"
#include "store/store.h"

#define OP_ROLE_MAP_MAX_TYPES 32
#define OP_ROLE_MAP_MAX_ROLES 16
#define OP_ROLE_NAME_MAX 64
#define OP_EVENT_TYPE_MAX 64

typedef struct op_role_map_entry_s {
  char event_type[OP_EVENT_TYPE_MAX + 1];
  char roles[OP_ROLE_MAP_MAX_ROLES][OP_ROLE_NAME_MAX + 1];
  int nroles;
} op_role_map_entry_t;

typedef struct op_role_map_s {
  op_role_map_entry_t entries[OP_ROLE_MAP_MAX_TYPES];
  int n;
} op_role_map_t;

/*
 * Parses "event_type=Role,Role;event_type=Role". Spaces around names are
 * ignored, an empty text or empty ';' sections map nothing. An event type is
 * 1..64 of [a-z0-9_]; a role 1..64 bytes without control characters, ',',
 * ';' or '='; every type has at least one role and appears once. Returns 0,
 * or OP_ECONFIG with one line in errbuf. Runs on: any thread.
 */
int op_role_map_parse(const char *text, op_role_map_t *map, char *errbuf, size_t errlen);

/* The entry for event_type, or NULL when it is not mapped. */
const op_role_map_entry_t *op_role_map_find(const op_role_map_t *map, const char *event_type);

/* 1 when one of roles[0..n) is mapped in entry (NULL entry: 0). */
int op_role_map_matches(const op_role_map_entry_t *entry, const char *const *roles, size_t n);

/* The same for a user's roles as stored: a JSON array of strings (text). */
int op_role_map_matches_json(const op_role_map_entry_t *entry, const char *roles_json);

/* The inbox texts of an event: title "Order A-1001 paid" and body
 * "129.90 EUR" for order_paid, and similar for the other types. */
void op_recipients_texts(const op_order_event_t *ev, char *title, size_t tlen, char *body,
                         size_t blen);

/* One in-app notification made in the transaction, to push after commit. */
typedef struct op_pending_push_s {
  char *tenant_id;
  char *user_id;
  char *json; /* the notification object (inbox.h) */
} op_pending_push_t;

typedef struct op_recipients_s {
  op_role_map_t map;
  op_pending_push_t *pending;
  size_t npending, cap;
  size_t nemails; /* email rows made since the last clear */
} op_recipients_t;

/*
 * Creates the rows for the stored (not duplicate) events of a batch whose
 * type is mapped. Must run inside the transaction that applied the events
 * (results as op_events_apply returned them); the caller rolls back on
 * failure. The in-app notifications made are appended to rc->pending; the
 * caller pushes them after commit and clears them either way.
 * Returns 0 or OP_E*. Runs on: the consumer thread.
 */
int op_recipients_apply(op_recipients_t *rc, op_store_t *store, const op_order_event_t *evs,
                        const op_event_result_t *results, size_t n, int64_t now_ms);

/* Frees the pending pushes (after they were pushed, or after a rollback). */
void op_recipients_clear(op_recipients_t *rc);

#endif
