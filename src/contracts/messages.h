/*
 * The C validators of the Kafka contracts other than orders.events
 * (validate.h): orders.created, payments.completed, inventory.updated,
 * orders.audit and notifications.events. One parse function per topic, each
 * following contracts/<topic>.schema.json rule for rule: required fields,
 * JSON types, ids of 1 to 128 BYTES (DESIGN.md §3, as validate.h explains),
 * decimal strings (core/decimal.h), currencies, RFC 3339 timestamps of real
 * dates, enums, text lengths in characters, integer minimums, trace ids of 32
 * lower-case hex digits, and the schemas' "required when" rules. The document
 * rules (strict JSON, OP_CONTRACT_MAX_BYTES) are those of validate.h.
 *
 * tests/unit/contracts/test_messages.c runs every sample of
 * tests/contracts/samples/<topic>/ through them; test_contracts.py checks
 * the same samples against the schemas.
 *
 * One documented difference: an integer written as a real of 2^63 or more
 * (1e30) is an integer to JSON Schema but does not fit the C struct; it is
 * refused with the field's reason token.
 *
 * Every parse function: len bytes at data (not necessarily NUL-terminated).
 * On success returns 0 and fills out, overwriting all of it: strings are
 * borrowed from a parsed document out owns (out->doc) until its _clear;
 * enum fields point at static strings; absent optional fields are NULL (or
 * zero with has_ flags). On failure returns OP_EINVAL with *err filled (when
 * err is not NULL; the first broken rule in the schema's field order) and out
 * zeroed, holding nothing to clear; OP_ENOMEM (err says too_large) only if
 * the line items of an orders.created cannot be allocated.
 *
 * Thread-safety: every function may run on any thread; nothing is shared.
 */
#ifndef OP_CONTRACTS_MESSAGES_H
#define OP_CONTRACTS_MESSAGES_H

#include <stddef.h>
#include <stdint.h>

#include "contracts/validate.h"
#include "core/decimal.h"

/*
 * Reason tokens of these topics beyond OP_CONTRACT_REASON_MAP (which they
 * also use: the document rules, missing_field, wrong_type, invalid_id,
 * invalid_timestamp, invalid_amount, invalid_currency, invalid_reference,
 * invalid_status for orders.audit's statuses). Stable, like those.
 */
#define OP_MESSAGE_REASON_MAP(XX)                                                                  \
  XX(invalid_line_items, "orders.created line_items is empty")                                     \
  XX(invalid_qty, "a line item's qty is not an integer of at least 1")                             \
  XX(invalid_trace_id, "trace_id is not 32 lower-case hex digits")                                 \
  XX(invalid_state, "state is not one of the topic's states")                                      \
  XX(invalid_reason, "reason is empty or too long")                                                \
  XX(invalid_value, "another field breaks its rule (action, template, channel, delta, available)")

/* Every token a message of any topic may fail with: OP_CONTRACT_REASON_MAP,
 * then OP_MESSAGE_REASON_MAP, e.g. to pre-register metrics. */
extern const char *const op_message_reasons[];
extern const size_t op_message_reasons_len;

/* ---- orders.created ------------------------------------------------------ */

typedef struct op_line_item_s {
  const char *sku;
  int64_t qty; /* >= 1 */
  const char *unit_price;
  op_dec_t price; /* unit_price, parsed */
} op_line_item_t;

typedef struct op_order_created_s {
  const char *order_id;
  const char *tenant_id;
  const char *user_id;   /* optional */
  op_line_item_t *items; /* nitems >= 1, in message order; owned */
  size_t nitems;
  const char *total_amount;
  op_dec_t total; /* total_amount, parsed */
  const char *currency;
  const char *reference; /* optional */
  const char *created_at;
  int64_t created_at_ms;
  const char *trace_id; /* optional */
  void *doc;            /* json_t *: owns the strings */
} op_order_created_t;

int op_contract_parse_order_created(const char *data, size_t len, op_order_created_t *out,
                                    op_contract_error_t *err);
/* Releases what a successful parse holds and zeroes out; safe twice. */
void op_order_created_clear(op_order_created_t *out);

/* ---- payments.completed -------------------------------------------------- */

typedef struct op_payment_completed_s {
  const char *order_id;
  const char *tenant_id;
  const char *payment_id;
  const char *state;  /* static: "succeeded" or "failed" */
  int succeeded;      /* state is "succeeded" */
  const char *reason; /* required when failed, optional otherwise */
  const char *amount;
  op_dec_t amount_value; /* amount, parsed */
  const char *currency;
  const char *processed_at;
  int64_t processed_at_ms;
  const char *trace_id;
  void *doc;
} op_payment_completed_t;

int op_contract_parse_payment_completed(const char *data, size_t len, op_payment_completed_t *out,
                                        op_contract_error_t *err);
void op_payment_completed_clear(op_payment_completed_t *out);

/* ---- inventory.updated --------------------------------------------------- */

typedef struct op_inventory_updated_s {
  const char *sku;
  const char *tenant_id;
  const char *order_id;
  int64_t delta;
  const char *reservation_id;
  const char *state; /* static: "reserved", "released" or "out_of_stock" */
  const char *processed_at;
  int64_t processed_at_ms;
  const char *trace_id;
  int has_available; /* available is present */
  int64_t available; /* >= 0 */
  void *doc;
} op_inventory_updated_t;

int op_contract_parse_inventory_updated(const char *data, size_t len, op_inventory_updated_t *out,
                                        op_contract_error_t *err);
void op_inventory_updated_clear(op_inventory_updated_t *out);

/* ---- orders.audit -------------------------------------------------------- */

typedef struct op_order_audit_s {
  const char *order_id;
  const char *tenant_id;
  const char *event_id; /* optional */
  const char *action;
  const char *from_status; /* optional; NULL also when null */
  const char *to_status;   /* optional */
  const char *actor;       /* optional */
  const char *at;
  int64_t at_ms;
  const char *trace_id; /* optional */
  void *doc;
} op_order_audit_t;

int op_contract_parse_order_audit(const char *data, size_t len, op_order_audit_t *out,
                                  op_contract_error_t *err);
void op_order_audit_clear(op_order_audit_t *out);

/* ---- notifications.events ------------------------------------------------ */

typedef struct op_notification_event_s {
  const char *notification_id;
  const char *tenant_id;
  const char *user_id;
  const char *channel; /* static: "in_app" or "email" */
  const char *template_name;
  const char *state; /* static: "queued", "sent" or "failed" */
  const char *order_id;
  const char *sent_at; /* required when sent, optional otherwise */
  int64_t sent_at_ms;
  const char *reason; /* required when failed, optional otherwise */
  const char *trace_id;
  void *doc;
} op_notification_event_t;

int op_contract_parse_notification_event(const char *data, size_t len, op_notification_event_t *out,
                                         op_contract_error_t *err);
void op_notification_event_clear(op_notification_event_t *out);

#endif
