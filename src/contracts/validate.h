/*
 * The C validator of the orders.events contract (contracts/orders.events.schema.json,
 * DESIGN.md §3). The JSON Schema is the source of truth; tests/contracts checks
 * that this validator agrees with an independent JSON Schema validator on every
 * sample.
 */
#ifndef OP_CONTRACTS_VALIDATE_H
#define OP_CONTRACTS_VALIDATE_H

#include <stddef.h>

#include "core/event.h"

#define OP_CONTRACT_MAX_BYTES (1024 * 1024)

typedef struct op_contract_error_s {
  /* A short stable token, used as a metrics label and the DLQ "error" header:
   * invalid_json, not_an_object, missing_field, wrong_type, invalid_id,
   * unknown_event_type, invalid_timestamp, invalid_amount, invalid_currency,
   * invalid_status, unsupported_schema_version, too_large. */
  const char *reason;
  char message[256]; /* one sentence naming the field */
} op_contract_error_t;

/*
 * Parses and validates one message value (not NUL-terminated). On success
 * returns 0 and fills ev: its strings are borrowed from a document that ev
 * owns until op_order_event_clear; ev->raw/raw_len point at data. On failure
 * returns OP_EINVAL, fills err, and ev holds nothing to clear.
 * Runs on: any thread.
 */
int op_contract_parse_order_event(const char *data, size_t len, op_order_event_t *ev,
                                  op_contract_error_t *err);

/* Releases what op_contract_parse_order_event kept; safe on a cleared event. */
void op_order_event_clear(op_order_event_t *ev);

#endif
