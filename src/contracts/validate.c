/*
 * The orders.events validator: one jansson parse, then one pass over a table
 * of field rules that mirrors contracts/orders.events.schema.json row for
 * row. Adding a field is one row in `rules`; adding an event type is one word
 * in EVENT_TYPES.
 *
 * The value rules (ids, decimal strings, currency codes, timestamps) are
 * the small hand-written checkers of values.c, shared with messages.c (the
 * other topics), rather than a regex library. This runs for every message on the consumer thread;
 * bench/validate_bench.c measures it. jansson's parse is about nine tenths of
 * the time, the rule pass (hash lookups, these scans, the timestamp
 * conversion) well under a tenth.
 */
#include "contracts/validate.h"

#include <jansson.h>
#include <string.h>

#include "contracts/values.h"
#include "core/err.h"

const char *const op_contract_reasons[] = {
#define XX(token, description) #token,
    OP_CONTRACT_REASON_MAP(XX)
#undef XX
};
const size_t op_contract_reasons_len = sizeof op_contract_reasons / sizeof op_contract_reasons[0];

/* The event types of the contract; the schema's event_type enum lists the same. */
#define EVENT_TYPES(XX) XX(order_created) XX(order_paid) XX(order_status_updated)

static const char *const event_types[] = {
#define XX(type) #type,
    EVENT_TYPES(XX)
#undef XX
};

/* " order_created order_paid order_status_updated", for messages. */
#define EVENT_TYPE_WORD(type) " " #type
#define EVENT_TYPES_TEXT EVENT_TYPES(EVENT_TYPE_WORD)

/* ---- the rule table ------------------------------------------------------ */

typedef enum { IN_ROOT = 0, IN_PAYLOAD = 1 } scope_t;

typedef enum {
  REQUIRED,
  OPTIONAL, /* may be absent; null is a wrong type */
  NULLABLE  /* may be absent or null, both meaning "not given" */
} presence_t;

typedef enum {
  V_ID,       /* string, 1..max bytes */
  V_TEXT,     /* string, min..max characters */
  V_TYPE,     /* string, one of event_types */
  V_TIME,     /* string, RFC 3339 date-time of a real calendar date */
  V_DECIMAL,  /* string, decimal money */
  V_CURRENCY, /* string, three capital letters */
  V_VERSION,  /* integer, a supported schema_version */
  V_OBJECT    /* object; the scope of the rows that follow it */
} value_t;

typedef struct {
  const char *key;
  scope_t scope;
  presence_t presence;
  value_t value;
  size_t min, max;    /* bounds for V_ID and V_TEXT */
  const char *reason; /* token when the value breaks its rule */
  const char *expect; /* completes "<field> ..." in every message but "is required" */
  ptrdiff_t member;   /* offset of the const char * in op_order_event_t, or NO_MEMBER */
} rule_t;

#define NO_MEMBER ((ptrdiff_t)-1)
#define AT(member) ((ptrdiff_t)offsetof(op_order_event_t, member))

/* In the order of the schema; the first broken rule is the one reported.
 * `payload` comes before the rows scoped to it. */
static const rule_t rules[] = {
    {"event_id", IN_ROOT, REQUIRED, V_ID, 1, OP_ID_MAX, "invalid_id",
     "must be a non-empty string of at most 128 bytes", AT(event_id)},
    {"event_type", IN_ROOT, REQUIRED, V_TYPE, 0, 0, "unknown_event_type",
     "must be one of:" EVENT_TYPES_TEXT, NO_MEMBER},
    {"order_id", IN_ROOT, REQUIRED, V_ID, 1, OP_ID_MAX, "invalid_id",
     "must be a non-empty string of at most 128 bytes", AT(order_id)},
    {"tenant_id", IN_ROOT, REQUIRED, V_ID, 1, OP_ID_MAX, "invalid_id",
     "must be a non-empty string of at most 128 bytes", AT(tenant_id)},
    {"timestamp", IN_ROOT, REQUIRED, V_TIME, 0, 0, "invalid_timestamp",
     "must be an RFC 3339 date-time string like \"2026-11-23T10:00:00.000Z\"", AT(timestamp)},
    {"schema_version", IN_ROOT, OPTIONAL, V_VERSION, 0, 0, "unsupported_schema_version",
     "must be the integer 1, the only version supported", NO_MEMBER},
    {"payload", IN_ROOT, REQUIRED, V_OBJECT, 0, 0, "wrong_type", "must be an object", NO_MEMBER},
    {"status", IN_PAYLOAD, REQUIRED, V_TEXT, 1, 64, "invalid_status",
     "must be a non-empty string of at most 64 characters", AT(status)},
    {"reference", IN_PAYLOAD, NULLABLE, V_TEXT, 0, 256, "invalid_reference",
     "must be a string of at most 256 characters, or null", AT(reference)},
    {"total_amount", IN_PAYLOAD, NULLABLE, V_DECIMAL, 0, 0, "invalid_amount",
     "must be a decimal string like \"129.90\" (up to 15 digits, 4 decimals), or null",
     AT(total_amount)},
    {"currency", IN_PAYLOAD, NULLABLE, V_CURRENCY, 0, 0, "invalid_currency",
     "must be an ISO 4217 code of three capital letters like \"EUR\", or null", AT(currency)},
    {"user_id", IN_PAYLOAD, NULLABLE, V_ID, 1, OP_ID_MAX, "invalid_id",
     "must be a non-empty string of at most 128 bytes, or null", AT(user_id)},
};

#define NRULES (sizeof rules / sizeof rules[0])

static const char *prefix(const rule_t *rule) {
  return rule->scope == IN_PAYLOAD ? "payload." : "";
}

/* Whether v has the JSON type that a value kind needs (JSON Schema's types:
 * an integral real is an integer). */
static int type_ok(value_t value, const json_t *v) {
  double ignored;
  switch (value) {
    case V_OBJECT:
      return json_is_object(v);
    case V_VERSION:
      return op_contract_integral(v, &ignored);
    default:
      return json_is_string(v);
  }
}

/* Applies rule to the present, non-null value v; on success stores a string
 * value in ev. Returns 1 when the value obeys the rule, 0 when not. */
static int value_ok(const rule_t *rule, json_t *v, op_order_event_t *ev) {
  const char *s = json_string_value(v); /* NULL for non-strings */
  size_t len = json_string_length(v);
  size_t i;
  double version;
  switch (rule->value) {
    case V_ID: /* DESIGN.md §3 counts an id's bytes, not its characters */
      if (len < rule->min || len > rule->max)
        return 0;
      break;
    case V_TEXT: {
      size_t n = op_contract_chars(s, len);
      if (n < rule->min || n > rule->max)
        return 0;
      break;
    }
    case V_TYPE:
      for (i = 0; i < sizeof event_types / sizeof event_types[0]; i++)
        if (strcmp(s, event_types[i]) == 0)
          break;
      if (i == sizeof event_types / sizeof event_types[0])
        return 0;
      ev->event_type = event_types[i]; /* static: outlives the document */
      break;
    case V_TIME:
      if (!op_contract_timestamp_ok(s, len, &ev->timestamp_ms))
        return 0;
      break;
    case V_DECIMAL:
      if (!op_contract_decimal_ok(s, len))
        return 0;
      break;
    case V_CURRENCY:
      if (!op_contract_currency_ok(s, len))
        return 0;
      break;
    case V_VERSION:
      if (!op_contract_integral(v, &version) || version != 1.0)
        return 0;
      break;
    case V_OBJECT:
      break;
  }
  if (rule->member != NO_MEMBER)
    *(const char **)(void *)((char *)ev + rule->member) = s;
  return 1;
}

/* Walks the rule table over the parsed object root. Returns 0 or OP_EINVAL
 * with err filled for the first broken rule. */
static int check_rules(json_t *root, op_order_event_t *ev, op_contract_error_t *err) {
  json_t *scopes[2] = {root, NULL};
  for (size_t i = 0; i < NRULES; i++) {
    const rule_t *rule = &rules[i];
    json_t *v = json_object_get(scopes[rule->scope], rule->key);
    if (v == NULL || (json_is_null(v) && rule->presence == NULLABLE)) {
      if (rule->presence == REQUIRED)
        return op_contract_fail(err, "missing_field", "%s%s is required", prefix(rule), rule->key);
      continue;
    }
    if (!type_ok(rule->value, v))
      return op_contract_fail(err, "wrong_type", "%s%s %s, not %s", prefix(rule), rule->key,
                              rule->expect, op_contract_type_name(v));
    if (!value_ok(rule, v, ev))
      return op_contract_fail(err, rule->reason, "%s%s %s", prefix(rule), rule->key, rule->expect);
    if (rule->value == V_OBJECT)
      scopes[IN_PAYLOAD] = v;
  }
  return 0;
}

/* ---- the API ------------------------------------------------------------- */

int op_contract_parse_order_event(const char *data, size_t len, op_order_event_t *ev,
                                  op_contract_error_t *err) {
  memset(ev, 0, sizeof *ev);
  json_t *root = op_contract_load(data, len, "event", err);
  if (root == NULL)
    return OP_EINVAL;
  int rc = json_is_object(root)
               ? check_rules(root, ev, err)
               : op_contract_fail(err, "not_an_object", "the event must be a JSON object");
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
  if (ev->doc != NULL)
    json_decref((json_t *)ev->doc);
  ev->doc = NULL;
}
