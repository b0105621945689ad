/*
 * The C validator of the orders.events contract (DESIGN.md §3).
 *
 * contracts/orders.events.schema.json is the source of truth; this module
 * follows it rule for rule, and tests/contracts/test_contracts.py checks that
 * it agrees with an independent JSON Schema validator on every sample in
 * tests/contracts/samples/orders.events/. The few places where a JSON Schema
 * cannot say what the contract means are documented in the schema's $comment
 * and in validate.c:
 *
 *   - ids (event_id, order_id, tenant_id, payload.user_id) are limited to 128
 *     BYTES of UTF-8 (DESIGN.md §3). JSON Schema's maxLength counts
 *     characters, so the schema's maxLength 128 is the same rule for ASCII ids
 *     and a weaker one for ids with multi-byte characters; this validator
 *     enforces the byte rule. Free text (payload.status, payload.reference)
 *     is limited in characters, exactly as the schema says.
 *   - the message value must be at most OP_CONTRACT_MAX_BYTES, must be
 *     strict JSON (UTF-8, no duplicate member names, no U+0000, no NaN, numbers
 *     within 64-bit range) — rules about the document, not about its fields.
 *
 * Thread-safety: every function may run on any thread; nothing is shared.
 */
#ifndef OP_CONTRACTS_VALIDATE_H
#define OP_CONTRACTS_VALIDATE_H

#include <stddef.h>

#include "core/event.h"

/* The largest message value accepted, in bytes (1 MiB). */
#define OP_CONTRACT_MAX_BYTES (1024 * 1024)

/*
 * The reason tokens, each a stable lower_snake_case word used as the metrics
 * label "reason" and as the value of the DLQ header "error". A token once
 * published is never renamed; new rules add new tokens.
 */
#define OP_CONTRACT_REASON_MAP(XX)                                                                 \
  XX(invalid_json, "not strict JSON: syntax, encoding, U+0000, or a number out of range")          \
  XX(duplicate_key, "an object has the same member name twice")                                    \
  XX(too_large, "the message value is larger than OP_CONTRACT_MAX_BYTES")                          \
  XX(not_an_object, "the document is not a JSON object")                                           \
  XX(missing_field, "a required field is absent")                                                  \
  XX(wrong_type, "a field has the wrong JSON type")                                                \
  XX(invalid_id, "an id is empty or longer than 128 bytes")                                        \
  XX(unknown_event_type, "event_type is not one of the known types")                               \
  XX(invalid_timestamp, "timestamp is not an RFC 3339 date-time")                                  \
  XX(unsupported_schema_version, "schema_version is not 1")                                        \
  XX(invalid_status, "payload.status is empty or longer than 64 characters")                       \
  XX(invalid_reference, "payload.reference is longer than 256 characters")                         \
  XX(invalid_amount, "payload.total_amount is not a decimal string")                               \
  XX(invalid_currency, "payload.currency is not three upper-case letters")

/* Every token of OP_CONTRACT_REASON_MAP in order, e.g. to pre-register metrics. */
extern const char *const op_contract_reasons[];
extern const size_t op_contract_reasons_len;

typedef struct op_contract_error_s {
  /* One of the tokens above; a static string. */
  const char *reason;
  /* One sentence naming the field, e.g. "payload.total_amount must be a
   * decimal string like \"129.90\"". Printable ASCII only, so it is safe in a
   * Kafka header, a log line and a JSON string alike. */
  char message[256];
} op_contract_error_t;

/*
 * Parses and validates one orders.events message value: len bytes at data,
 * not necessarily NUL-terminated (data may be NULL when len is 0).
 *
 * On success returns 0 and fills ev, overwriting all of it: the strings are
 * borrowed from a parsed document that ev owns (ev->doc) until
 * op_order_event_clear, except ev->event_type, which points at a static
 * string; optional fields that are absent or null are NULL; schema_version
 * is 1; ev->raw/raw_len are data/len (borrowed: the caller keeps data alive
 * as long as it uses them); transport fields (trace_id, partition, offset)
 * are zero for the caller to fill.
 *
 * On failure returns OP_EINVAL, fills *err (when err is not NULL) and leaves
 * ev zeroed, holding nothing to clear. The first rule broken, in the order of
 * the contract's fields, is the one reported.
 *
 * Runs on: any thread (the Kafka consumer thread in the services).
 */
int op_contract_parse_order_event(const char *data, size_t len, op_order_event_t *ev,
                                  op_contract_error_t *err);

/* Releases the document a successful parse kept and zeroes ev->doc; safe to
 * call twice and on a zeroed event. */
void op_order_event_clear(op_order_event_t *ev);

#endif
