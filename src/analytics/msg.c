/*
 * Analytics' reader of every topic (msg.h): the contracts module validates,
 * this file picks the fields analytics uses and builds each message's
 * identity, the key of its dedupe row.
 */
#include "analytics/msg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

const char *const op_an_topics[OP_AN_KINDS] = {
    "orders.created",     "orders.events",     "orders.audit",
    "payments.completed", "inventory.updated", "notifications.events",
};

int op_an_kind_of(const char *topic) {
  for (int k = 0; k < OP_AN_KINDS; k++)
    if (strcmp(op_an_topics[k], topic) == 0)
      return k;
  return -1;
}

/* ---- identity ------------------------------------------------------------ */

/* topic, then each part as "<bytes>:<value>", so that no two different
 * identities give one key whatever bytes the ids hold. NULL parts count as
 * absent ("-"). Returns a malloc'd key or NULL. */
static char *make_key(op_an_kind_t kind, const char *const *parts, size_t n) {
  size_t len = strlen(op_an_topics[kind]) + 1;
  for (size_t i = 0; i < n; i++)
    len += (parts[i] ? strlen(parts[i]) : 0) + 24;
  char *key = malloc(len);
  if (key == NULL)
    return NULL;
  size_t off = (size_t)snprintf(key, len, "%s", op_an_topics[kind]);
  for (size_t i = 0; i < n; i++)
    off += parts[i] ? (size_t)snprintf(key + off, len - off, "|%zu:%s", strlen(parts[i]), parts[i])
                    : (size_t)snprintf(key + off, len - off, "|-");
  return key;
}

/* Each fills msg from a validated message of its topic: the fields analytics
 * uses and the identity. Returns 0 or OP_ENOMEM. */

static int from_created(op_an_msg_t *msg) {
  const op_order_created_t *created = &msg->m.created;
  msg->tenant_id = created->tenant_id;
  msg->order_id = created->order_id;
  const char *parts[] = {created->tenant_id, created->order_id};
  msg->key = make_key(msg->kind, parts, 2);
  return msg->key ? 0 : OP_ENOMEM;
}

static int from_event(op_an_msg_t *msg) {
  const op_order_event_t *ev = &msg->m.event;
  msg->tenant_id = ev->tenant_id;
  msg->order_id = ev->order_id;
  msg->event_type = ev->event_type;
  msg->status = ev->status;
  msg->ts_ms = ev->timestamp_ms;
  const char *parts[] = {ev->tenant_id, ev->event_id};
  msg->key = make_key(msg->kind, parts, 2);
  return msg->key ? 0 : OP_ENOMEM;
}

static int from_audit(op_an_msg_t *msg) {
  const op_order_audit_t *audit = &msg->m.audit;
  msg->tenant_id = audit->tenant_id;
  msg->order_id = audit->order_id;
  const char *parts[] = {audit->tenant_id, audit->order_id, audit->action, audit->to_status,
                         audit->at};
  msg->key = make_key(msg->kind, parts, 5);
  return msg->key ? 0 : OP_ENOMEM;
}

static int from_payment(op_an_msg_t *msg) {
  const op_payment_completed_t *pay = &msg->m.payment;
  msg->tenant_id = pay->tenant_id;
  msg->order_id = pay->order_id;
  msg->succeeded = pay->succeeded;
  msg->amount = pay->amount_value;
  msg->currency = pay->currency;
  const char *parts[] = {pay->tenant_id, pay->order_id, pay->state, pay->payment_id};
  msg->key = make_key(msg->kind, parts, 4);
  return msg->key ? 0 : OP_ENOMEM;
}

static int from_stock(op_an_msg_t *msg) {
  const op_inventory_updated_t *stock = &msg->m.stock;
  msg->tenant_id = stock->tenant_id;
  msg->order_id = stock->order_id;
  msg->sku = stock->sku;
  msg->has_available = stock->has_available;
  msg->available = stock->available;
  const char *parts[] = {stock->tenant_id, stock->reservation_id, stock->sku, stock->state};
  msg->key = make_key(msg->kind, parts, 4);
  return msg->key ? 0 : OP_ENOMEM;
}

static int from_notification(op_an_msg_t *msg) {
  const op_notification_event_t *note = &msg->m.notification;
  msg->tenant_id = note->tenant_id;
  msg->order_id = note->order_id;
  const char *parts[] = {note->tenant_id, note->notification_id, note->state};
  msg->key = make_key(msg->kind, parts, 3);
  return msg->key ? 0 : OP_ENOMEM;
}

int op_an_msg_parse(op_an_kind_t kind, const char *data, size_t len, op_an_msg_t *msg,
                    op_contract_error_t *err) {
  memset(msg, 0, sizeof *msg);
  msg->kind = kind;
  int rc;
  switch (kind) {
    case OP_AN_ORDER_CREATED:
      rc = op_contract_parse_order_created(data, len, &msg->m.created, err);
      rc = rc ? rc : from_created(msg);
      break;
    case OP_AN_ORDER_EVENT:
      rc = op_contract_parse_order_event(data, len, &msg->m.event, err);
      rc = rc ? rc : from_event(msg);
      break;
    case OP_AN_AUDIT:
      rc = op_contract_parse_order_audit(data, len, &msg->m.audit, err);
      rc = rc ? rc : from_audit(msg);
      break;
    case OP_AN_PAYMENT:
      rc = op_contract_parse_payment_completed(data, len, &msg->m.payment, err);
      rc = rc ? rc : from_payment(msg);
      break;
    case OP_AN_INVENTORY:
      rc = op_contract_parse_inventory_updated(data, len, &msg->m.stock, err);
      rc = rc ? rc : from_stock(msg);
      break;
    case OP_AN_NOTIFICATION:
      rc = op_contract_parse_notification_event(data, len, &msg->m.notification, err);
      rc = rc ? rc : from_notification(msg);
      break;
    default:
      return OP_EINVAL;
  }
  if (rc != 0) {
    op_an_msg_clear(msg);
    memset(msg, 0, sizeof *msg);
  }
  return rc;
}

/* A failed parse leaves its struct zeroed, so clearing the kind's member is
 * always safe. */
void op_an_msg_clear(op_an_msg_t *msg) {
  switch (msg->kind) {
    case OP_AN_ORDER_CREATED:
      op_order_created_clear(&msg->m.created);
      break;
    case OP_AN_ORDER_EVENT:
      op_order_event_clear(&msg->m.event);
      break;
    case OP_AN_AUDIT:
      op_order_audit_clear(&msg->m.audit);
      break;
    case OP_AN_PAYMENT:
      op_payment_completed_clear(&msg->m.payment);
      break;
    case OP_AN_INVENTORY:
      op_inventory_updated_clear(&msg->m.stock);
      break;
    case OP_AN_NOTIFICATION:
      op_notification_event_clear(&msg->m.notification);
      break;
    default:
      break;
  }
  free(msg->key);
  msg->key = NULL;
}
