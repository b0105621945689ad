/*
 * The pieces every contract validator of this module shares: the strict
 * parse of a message value, the error filler, and the value rules of
 * contracts/defs.schema.json (ids, decimals, currencies, timestamps, trace
 * ids) as small scans. Private to src/contracts/: validate.c (orders.events)
 * and messages.c (the other topics) use it; services use those two headers.
 *
 * Thread-safety: every function may run on any thread; nothing is shared.
 */
#ifndef OP_CONTRACTS_VALUES_H
#define OP_CONTRACTS_VALUES_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "contracts/validate.h"

/* Fills err (when not NULL) with reason (a static token) and a
 * printf-formatted message made printable ASCII: messages may quote input and
 * end up in Kafka headers, log lines and JSON. Returns OP_EINVAL. */
int op_contract_fail(op_contract_error_t *err, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Parses len bytes at data strictly: at most OP_CONTRACT_MAX_BYTES, not
 * empty, no duplicate member names, no U+0000 (raw or escaped), valid UTF-8,
 * no NaN, numbers within range. A scalar root parses (JSON_DECODE_ANY) so the
 * caller reports it as not_an_object. noun ("event", "message") names the
 * value in messages. Returns the document (caller owns it) or NULL with err
 * filled (too_large, invalid_json or duplicate_key).
 */
json_t *op_contract_load(const char *data, size_t len, const char *noun, op_contract_error_t *err);

/* How messages name the JSON type of a value ("an array", "null", ...). */
const char *op_contract_type_name(const json_t *v);

/* Characters (code points), as JSON Schema's maxLength counts them, of a
 * string jansson has decoded (valid UTF-8). */
size_t op_contract_chars(const char *s, size_t len);

/* defs#decimal, ^-?[0-9]{1,15}(\.[0-9]{1,4})?$ : 1 when s obeys it. */
int op_contract_decimal_ok(const char *s, size_t len);

/* defs#currency, ^[A-Z]{3}$ . */
int op_contract_currency_ok(const char *s, size_t len);

/* defs#trace_id, ^[0-9a-f]{32}$ . */
int op_contract_trace_id_ok(const char *s, size_t len);

/* defs#timestamp: an RFC 3339 date-time (op_parse_rfc3339) of a date that
 * exists (the schema's pattern spells out the days of each month, leap years
 * included; timegm would move 2026-02-30 to March). Sets *ms on success. */
int op_contract_timestamp_ok(const char *s, size_t len, int64_t *ms);

/* JSON Schema's "integer": any number with a zero fraction (1 and 1.0 are
 * both 1). Sets *out to its value as a double. */
int op_contract_integral(const json_t *v, double *out);

#endif
