/*
 * The payment service's reader of orders.created: strict JSON, then the rules
 * of contracts/orders.created.schema.json for every field (not only the ones
 * payment uses), so that what payment accepts is what the contract allows.
 * tests/unit/payment/test_order.c runs it over the contract's samples.
 *
 * Like src/contracts/validate.c (orders.events), ids are limited to 128
 * bytes, free text to 256 characters, and the value must be strict JSON
 * (no duplicate member names, no U+0000, valid UTF-8).
 *
 * Thread-safety: any thread; nothing is shared.
 */
#ifndef OP_PAYMENT_ORDER_H
#define OP_PAYMENT_ORDER_H

#include <stddef.h>

#include "core/decimal.h"

/* The largest message value accepted, in bytes. */
#define OP_ORDER_MAX_BYTES (1024 * 1024)

/* Reason tokens: the DLQ header "error" and the metrics label "reason". */
#define OP_ORDER_REASON_MAP(XX)                                                                    \
  XX(invalid_json, "not strict JSON")                                                              \
  XX(duplicate_key, "an object has the same member name twice")                                    \
  XX(too_large, "the message value is larger than OP_ORDER_MAX_BYTES")                             \
  XX(not_an_object, "the document is not a JSON object")                                           \
  XX(missing_field, "a required field is absent")                                                  \
  XX(wrong_type, "a field has the wrong JSON type")                                                \
  XX(invalid_id, "an id is empty or longer than 128 bytes")                                        \
  XX(invalid_line_items, "line_items is empty")                                                    \
  XX(invalid_qty, "a line item's qty is not an integer of at least 1")                             \
  XX(invalid_amount, "an amount is not a decimal string")                                          \
  XX(invalid_currency, "currency is not three upper-case letters")                                 \
  XX(invalid_reference, "reference is longer than 256 characters")                                 \
  XX(invalid_timestamp, "created_at is not an RFC 3339 date-time")                                 \
  XX(invalid_trace_id, "trace_id is not 32 lower-case hex digits")

extern const char *const op_order_reasons[];
extern const size_t op_order_reasons_len;

typedef struct op_order_error_s {
  const char *reason; /* a token above; static */
  char message[256];  /* one sentence, printable ASCII */
} op_order_error_t;

/* The fields payment uses, borrowed from the parsed document (doc) that the
 * order owns until op_order_clear. trace_id is NULL when absent. */
typedef struct op_order_s {
  const char *order_id;
  const char *tenant_id;
  const char *total_amount;
  const char *currency;
  const char *trace_id;
  op_dec_t amount; /* total_amount, parsed */
  void *doc;
} op_order_t;

/* Parses and validates one orders.created value (len bytes at data, not
 * necessarily NUL-terminated). Returns 0 with order filled, or OP_EINVAL with
 * err filled and order zeroed (nothing to clear). The first broken rule, in
 * the schema's field order, is reported. */
int op_order_parse(const char *data, size_t len, op_order_t *order, op_order_error_t *err);

/* Releases the document; safe twice and on a zeroed order. */
void op_order_clear(op_order_t *order);

#endif
