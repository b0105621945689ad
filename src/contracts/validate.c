#include "contracts/validate.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"

typedef enum { K_ID, K_TYPE, K_TIMESTAMP, K_STATUS, K_TEXT, K_AMOUNT, K_CURRENCY } kind_t;

/* One row per field of the contract: where it is, whether it is required,
 * which rule checks it, and where the parsed value goes. Adding a field is
 * one row. */
typedef struct {
  const char *name;
  int in_payload;
  int required;
  kind_t kind;
  size_t offset; /* of the const char * in op_order_event_t */
} field_t;

#define F(name, payload, req, kind, member)                                                        \
  { name, payload, req, kind, offsetof(op_order_event_t, member) }

static const field_t fields[] = {
    F("event_id", 0, 1, K_ID, event_id),          F("event_type", 0, 1, K_TYPE, event_type),
    F("order_id", 0, 1, K_ID, order_id),          F("tenant_id", 0, 1, K_ID, tenant_id),
    F("timestamp", 0, 1, K_TIMESTAMP, timestamp), F("status", 1, 1, K_STATUS, status),
    F("reference", 1, 0, K_TEXT, reference),      F("total_amount", 1, 0, K_AMOUNT, total_amount),
    F("currency", 1, 0, K_CURRENCY, currency),    F("user_id", 1, 0, K_ID, user_id),
};

static const char *const event_types[] = {"order_created", "order_paid", "order_status_updated"};

static int fail(op_contract_error_t *err, const char *reason, const char *fmt, const char *field) {
  err->reason = reason;
  snprintf(err->message, sizeof err->message, fmt, field);
  return OP_EINVAL;
}

/* Money: an optional minus, 1-15 integer digits, optionally a point and 1-4
 * digits (the schema's pattern). A regex engine would be heavier than this
 * loop for one fixed shape. */
static int is_decimal(const char *s) {
  if (*s == '-')
    s++;
  int digits = 0;
  while (*s >= '0' && *s <= '9' && digits <= 15)
    s++, digits++;
  if (digits == 0 || digits > 15)
    return 0;
  if (*s == '.') {
    s++;
    int frac = 0;
    while (*s >= '0' && *s <= '9' && frac <= 4)
      s++, frac++;
    if (frac == 0 || frac > 4)
      return 0;
  }
  return *s == '\0';
}

static int check_field(const field_t *f, const char *s, size_t len, op_order_event_t *ev,
                       op_contract_error_t *err) {
  char where[48];
  snprintf(where, sizeof where, "%s%s", f->in_payload ? "payload." : "", f->name);
  switch (f->kind) {
    case K_ID:
      if (len == 0 || len > OP_ID_MAX)
        return fail(err, "invalid_id", "%s must be a non-empty string of at most 128 bytes", where);
      break;
    case K_TYPE: {
      size_t i;
      for (i = 0; i < sizeof event_types / sizeof event_types[0]; i++)
        if (strcmp(s, event_types[i]) == 0)
          break;
      if (i == sizeof event_types / sizeof event_types[0])
        return fail(err, "unknown_event_type",
                    "%s must be one of order_created, order_paid, order_status_updated", where);
      break;
    }
    case K_TIMESTAMP:
      if (op_parse_rfc3339(s, &ev->timestamp_ms) != 0)
        return fail(err, "invalid_timestamp", "%s must be an RFC 3339 date-time", where);
      break;
    case K_STATUS:
      if (len == 0 || len > 64)
        return fail(err, "invalid_status", "%s must be a non-empty string of at most 64 bytes",
                    where);
      break;
    case K_TEXT:
      if (len > 256)
        return fail(err, "too_large", "%s must be at most 256 bytes", where);
      break;
    case K_AMOUNT:
      if (!is_decimal(s))
        return fail(err, "invalid_amount", "%s must be a decimal string like \"129.90\"", where);
      break;
    case K_CURRENCY:
      if (len != 3 || s[0] < 'A' || s[0] > 'Z' || s[1] < 'A' || s[1] > 'Z' || s[2] < 'A' ||
          s[2] > 'Z')
        return fail(err, "invalid_currency", "%s must be an ISO 4217 code like \"EUR\"", where);
      break;
  }
  *(const char **)((char *)ev + f->offset) = s;
  return 0;
}

int op_contract_parse_order_event(const char *data, size_t len, op_order_event_t *ev,
                                  op_contract_error_t *err) {
  memset(ev, 0, sizeof *ev);
  if (len > OP_CONTRACT_MAX_BYTES)
    return fail(err, "too_large", "%s is larger than 1 MiB", "the event");
  json_error_t jerr;
  json_t *root = json_loadb(data ? data : "", len, JSON_REJECT_DUPLICATES, &jerr);
  if (root == NULL) {
    err->reason = "invalid_json";
    snprintf(err->message, sizeof err->message, "not valid JSON: %s (line %d, column %d)",
             jerr.text, jerr.line, jerr.column);
    return OP_EINVAL;
  }
  int rc = 0;
  json_t *payload = json_object_get(root, "payload");
  json_t *version = json_object_get(root, "schema_version");
  if (!json_is_object(root)) {
    rc = fail(err, "not_an_object", "%s must be a JSON object", "the event");
  } else if (payload == NULL) {
    rc = fail(err, "missing_field", "%s is required", "payload");
  } else if (!json_is_object(payload)) {
    rc = fail(err, "wrong_type", "%s must be an object", "payload");
  } else if (version && !json_is_integer(version)) {
    rc = fail(err, "wrong_type", "%s must be an integer", "schema_version");
  } else if (version && json_integer_value(version) != 1) {
    rc = fail(err, "unsupported_schema_version", "%s must be 1 (the only version supported)",
              "schema_version");
  }
  for (size_t i = 0; rc == 0 && i < sizeof fields / sizeof fields[0]; i++) {
    const field_t *f = &fields[i];
    json_t *v = json_object_get(f->in_payload ? payload : root, f->name);
    char where[48];
    snprintf(where, sizeof where, "%s%s", f->in_payload ? "payload." : "", f->name);
    if (v == NULL || (json_is_null(v) && !f->required)) {
      if (f->required)
        rc = fail(err, "missing_field", "%s is required", where);
      continue;
    }
    if (!json_is_string(v)) {
      rc = fail(err, "wrong_type", "%s must be a string", where);
      continue;
    }
    rc = check_field(f, json_string_value(v), json_string_length(v), ev, err);
  }
  if (rc != 0) {
    json_decref(root);
    memset(ev, 0, sizeof *ev);
    return rc;
  }
  ev->schema_version = 1;
  ev->raw = data;
  ev->raw_len = len;
  ev->doc = root;
  return 0;
}

void op_order_event_clear(op_order_event_t *ev) {
  if (ev->doc)
    json_decref((json_t *)ev->doc);
  ev->doc = NULL;
}
