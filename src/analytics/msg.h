/*
 * Analytics' reader of every topic it consumes: parses one message value,
 * checks it against its topic's contract (contracts/<topic>.schema.json) and
 * extracts what analytics uses, with the message's identity (its dedupe key).
 *
 * Every topic goes through the project's validators: orders.events through
 * contracts/validate.h (op_contract_parse_order_event), the others through
 * contracts/messages.h, which check every field of their schema; their
 * reason tokens are the DLQ "error" header. Analytics adds no rule of its
 * own: this file only picks the fields it uses and builds the identity.
 *
 * Thread-safety: every function may run on any thread; nothing is shared.
 */
#ifndef OP_ANALYTICS_MSG_H
#define OP_ANALYTICS_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "contracts/messages.h"
#include "contracts/validate.h"
#include "core/decimal.h"
#include "core/event.h"

typedef enum {
  OP_AN_ORDER_CREATED = 0, /* orders.created */
  OP_AN_ORDER_EVENT,       /* orders.events */
  OP_AN_AUDIT,             /* orders.audit */
  OP_AN_PAYMENT,           /* payments.completed */
  OP_AN_INVENTORY,         /* inventory.updated */
  OP_AN_NOTIFICATION,      /* notifications.events */
  OP_AN_KINDS
} op_an_kind_t;

/* The topic names, indexed by op_an_kind_t. */
extern const char *const op_an_topics[OP_AN_KINDS];

/* One valid message. Strings are borrowed from the parsed document the
 * message owns until op_an_msg_clear; key is owned (malloc). */
typedef struct op_an_msg_s {
  op_an_kind_t kind;
  char *key; /* the message's identity: topic and the id fields, length-prefixed */
  const char *tenant_id;
  const char *order_id; /* every topic has one */
  /* payments.completed */
  int succeeded;
  op_dec_t amount;
  const char *currency;
  /* orders.events */
  const char *event_type;
  const char *status;
  int64_t ts_ms;
  /* inventory.updated */
  const char *sku;
  int has_available;
  int64_t available;

  /* The validated message of kind; it owns the document the strings above
   * are borrowed from. */
  union {
    op_order_created_t created;
    op_order_event_t event;
    op_order_audit_t audit;
    op_payment_completed_t payment;
    op_inventory_updated_t stock;
    op_notification_event_t notification;
  } m;
} op_an_msg_t;

/* The kind of a topic name, or -1 for a topic analytics does not read. */
int op_an_kind_of(const char *topic);

/*
 * Parses and validates len bytes at data (not NUL-terminated) as a message
 * of kind. Returns 0 with msg filled (the caller calls op_an_msg_clear), or
 * OP_EINVAL with err filled (reason token and one sentence) and msg holding
 * nothing, or OP_ENOMEM.
 */
int op_an_msg_parse(op_an_kind_t kind, const char *data, size_t len, op_an_msg_t *msg,
                    op_contract_error_t *err);

/* Releases what a successful parse holds; safe on a zeroed message. */
void op_an_msg_clear(op_an_msg_t *msg);

#endif
