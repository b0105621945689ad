/*
 * The in-app inbox: notify_inbox rows as notification objects, and the
 * endpoints GET /api/notifications, POST /api/notifications/{id}/read and
 * POST /api/notifications/read-all (people.h), scoped to the token's tenant
 * and user. notification_id is a UUIDv7, so its order is creation order: it
 * is the list's sort key and its cursor.
 */
#ifndef OP_NOTIFY_INBOX_H
#define OP_NOTIFY_INBOX_H

#include <jansson.h>
#include <stdint.h>

typedef struct op_inbox_row_s {
  const char *notification_id, *event_type, *template, *order_id, *title, *body;
  const char *data;   /* JSON object text */
  int64_t created_at; /* ms */
  int64_t read_at;    /* ms; 0 when unread */
} op_inbox_row_t;

/* The notification object: {"notification_id","event_type","template",
 * "order_id","title","body","data":{…},"created_at","read","read_at"}.
 * NULL when out of memory. */
json_t *op_inbox_json(const op_inbox_row_t *row);

#endif
