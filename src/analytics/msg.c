#include "analytics/msg.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
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

/* ---- the rules of one field --------------------------------------------- */

typedef enum {
  F_ID,        /* defs#id: 1..128 bytes */
  F_DECIMAL,   /* defs#decimal */
  F_CURRENCY,  /* defs#currency */
  F_TIMESTAMP, /* defs#timestamp */
  F_TRACE,     /* defs#trace_id */
  F_INT,       /* integer >= min (when has_min) */
  F_ENUM,      /* one of values */
  F_TEXT,      /* string of min..max characters */
  F_TEXT_NULL, /* F_TEXT or null */
  F_ITEMS,     /* orders.created line_items */
} ftype_t;

typedef struct {
  const char *name;
  ftype_t type;
  int required;
  int64_t min, max; /* F_INT: min when max != 0; F_TEXT: character counts */
  const char *const *values;
} field_t;

#define REQ 1
#define OPT 0

static const char *const PAYMENT_STATES[] = {"succeeded", "failed", NULL};
static const char *const STOCK_STATES[] = {"reserved", "released", "out_of_stock", NULL};
static const char *const CHANNELS[] = {"in_app", "email", NULL};
static const char *const NOTIFY_STATES[] = {"queued", "sent", "failed", NULL};

/* Each table follows its schema's "properties" in order; NULL name ends it. */
static const field_t CREATED[] = {
    {"order_id", F_ID, REQ, 0, 0, NULL},          {"tenant_id", F_ID, REQ, 0, 0, NULL},
    {"user_id", F_ID, OPT, 0, 0, NULL},           {"line_items", F_ITEMS, REQ, 0, 0, NULL},
    {"total_amount", F_DECIMAL, REQ, 0, 0, NULL}, {"currency", F_CURRENCY, REQ, 0, 0, NULL},
    {"reference", F_TEXT, OPT, 0, 256, NULL},     {"created_at", F_TIMESTAMP, REQ, 0, 0, NULL},
    {"trace_id", F_TRACE, OPT, 0, 0, NULL},       {NULL, 0, 0, 0, 0, NULL},
};

static const field_t AUDIT[] = {
    {"order_id", F_ID, REQ, 0, 0, NULL},
    {"tenant_id", F_ID, REQ, 0, 0, NULL},
    {"event_id", F_ID, OPT, 0, 0, NULL},
    {"action", F_TEXT, REQ, 1, 64, NULL},
    {"from_status", F_TEXT_NULL, OPT, 0, 64, NULL},
    {"to_status", F_TEXT, OPT, 1, 64, NULL},
    {"actor", F_ID, OPT, 0, 0, NULL},
    {"at", F_TIMESTAMP, REQ, 0, 0, NULL},
    {"trace_id", F_TRACE, OPT, 0, 0, NULL},
    {NULL, 0, 0, 0, 0, NULL},
};

static const field_t PAYMENT[] = {
    {"order_id", F_ID, REQ, 0, 0, NULL},       {"tenant_id", F_ID, REQ, 0, 0, NULL},
    {"payment_id", F_ID, REQ, 0, 0, NULL},     {"state", F_ENUM, REQ, 0, 0, PAYMENT_STATES},
    {"reason", F_TEXT, OPT, 1, 256, NULL},     {"amount", F_DECIMAL, REQ, 0, 0, NULL},
    {"currency", F_CURRENCY, REQ, 0, 0, NULL}, {"processed_at", F_TIMESTAMP, REQ, 0, 0, NULL},
    {"trace_id", F_TRACE, REQ, 0, 0, NULL},    {NULL, 0, 0, 0, 0, NULL},
};

static const field_t INVENTORY[] = {
    {"sku", F_ID, REQ, 0, 0, NULL},
    {"tenant_id", F_ID, REQ, 0, 0, NULL},
    {"order_id", F_ID, REQ, 0, 0, NULL},
    {"delta", F_INT, REQ, 0, 0, NULL},
    {"reservation_id", F_ID, REQ, 0, 0, NULL},
    {"state", F_ENUM, REQ, 0, 0, STOCK_STATES},
    {"processed_at", F_TIMESTAMP, REQ, 0, 0, NULL},
    {"trace_id", F_TRACE, REQ, 0, 0, NULL},
    {"available", F_INT, OPT, 0, 1, NULL}, /* optional, integer >= 0 */
    {NULL, 0, 0, 0, 0, NULL},
};

static const field_t NOTIFICATION[] = {
    {"notification_id", F_ID, REQ, 0, 0, NULL},
    {"tenant_id", F_ID, REQ, 0, 0, NULL},
    {"user_id", F_ID, REQ, 0, 0, NULL},
    {"channel", F_ENUM, REQ, 0, 0, CHANNELS},
    {"template", F_TEXT, REQ, 1, 128, NULL},
    {"state", F_ENUM, REQ, 0, 0, NOTIFY_STATES},
    {"order_id", F_ID, REQ, 0, 0, NULL},
    {"sent_at", F_TIMESTAMP, OPT, 0, 0, NULL},
    {"reason", F_TEXT, OPT, 1, 512, NULL},
    {"trace_id", F_TRACE, REQ, 0, 0, NULL},
    {NULL, 0, 0, 0, 0, NULL},
};

static int fail(op_contract_error_t *err, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(op_contract_error_t *err, const char *reason, const char *fmt, ...) {
  if (err) {
    err->reason = reason;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
  }
  return OP_EINVAL;
}

/* Characters of a valid UTF-8 string (jansson only hands out valid UTF-8). */
static size_t utf8_chars(const char *s) {
  size_t n = 0;
  for (; *s; s++)
    n += ((unsigned char)*s & 0xC0) != 0x80;
  return n;
}

static int leap(int y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* RFC 3339 (op_parse_rfc3339) of a day that exists: the schema's pattern
 * refuses 2026-02-30, which timegm would quietly move to March. */
static int timestamp_ok(const char *s, int64_t *ms) {
  if (op_parse_rfc3339(s, ms) != 0)
    return 0;
  int y = atoi(s), m = (s[5] - '0') * 10 + (s[6] - '0'), d = (s[8] - '0') * 10 + (s[9] - '0');
  static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return d <= days[m - 1] + (m == 2 && leap(y));
}

static int id_ok(const char *s) {
  size_t n = strlen(s);
  return n >= 1 && n <= OP_ID_MAX;
}

static int currency_ok(const char *s) {
  return strlen(s) == 3 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z' &&
         s[2] >= 'A' && s[2] <= 'Z';
}

static int trace_ok(const char *s) {
  if (strlen(s) != 32)
    return 0;
  for (; *s; s++)
    if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
      return 0;
  return 1;
}

static int check_items(json_t *items, op_contract_error_t *err) {
  if (!json_is_array(items))
    return fail(err, "wrong_type", "line_items must be an array");
  if (json_array_size(items) == 0)
    return fail(err, "invalid_value", "line_items must hold at least one item");
  size_t i;
  json_t *item;
  json_array_foreach(items, i, item) {
    if (!json_is_object(item))
      return fail(err, "wrong_type", "line_items[%zu] must be an object", i);
    json_t *sku = json_object_get(item, "sku"), *qty = json_object_get(item, "qty"),
           *price = json_object_get(item, "unit_price");
    op_dec_t dec;
    if (sku == NULL || qty == NULL || price == NULL)
      return fail(err, "missing_field", "line_items[%zu] needs sku, qty and unit_price", i);
    if (!json_is_string(sku) || !json_is_integer(qty) || !json_is_string(price))
      return fail(err, "wrong_type", "line_items[%zu] has a field of the wrong type", i);
    if (!id_ok(json_string_value(sku)))
      return fail(err, "invalid_id", "line_items[%zu].sku must be 1 to 128 bytes", i);
    if (json_integer_value(qty) < 1)
      return fail(err, "invalid_value", "line_items[%zu].qty must be at least 1", i);
    if (op_dec_parse(json_string_value(price), &dec) != 0)
      return fail(err, "invalid_amount", "line_items[%zu].unit_price must be a decimal string", i);
  }
  return 0;
}

static int check_field(json_t *doc, const field_t *f, op_contract_error_t *err) {
  json_t *v = json_object_get(doc, f->name);
  if (v == NULL)
    return f->required ? fail(err, "missing_field", "%s is required", f->name) : 0;
  if (f->type == F_ITEMS)
    return check_items(v, err);
  if (f->type == F_INT) {
    if (!json_is_integer(v))
      return fail(err, "wrong_type", "%s must be an integer", f->name);
    if (f->max && json_integer_value(v) < f->min)
      return fail(err, "invalid_value", "%s must be at least %lld", f->name, (long long)f->min);
    return 0;
  }
  if (f->type == F_TEXT_NULL && json_is_null(v))
    return 0;
  if (!json_is_string(v))
    return fail(err, "wrong_type", "%s must be a string", f->name);
  const char *s = json_string_value(v);
  op_dec_t dec;
  int64_t ms;
  switch (f->type) {
    case F_ID:
      return id_ok(s) ? 0 : fail(err, "invalid_id", "%s must be 1 to 128 bytes", f->name);
    case F_DECIMAL:
      return op_dec_parse(s, &dec) == 0
                 ? 0
                 : fail(err, "invalid_amount", "%s must be a decimal string like \"129.90\"",
                        f->name);
    case F_CURRENCY:
      return currency_ok(s)
                 ? 0
                 : fail(err, "invalid_currency", "%s must be three capital letters", f->name);
    case F_TIMESTAMP:
      return timestamp_ok(s, &ms)
                 ? 0
                 : fail(err, "invalid_timestamp", "%s must be an RFC 3339 date-time", f->name);
    case F_TRACE:
      return trace_ok(s)
                 ? 0
                 : fail(err, "invalid_value", "%s must be 32 lower-case hex digits", f->name);
    case F_ENUM:
      for (const char *const *e = f->values; *e; e++)
        if (strcmp(*e, s) == 0)
          return 0;
      return fail(err, "invalid_value", "%s has a value the contract does not list", f->name);
    default: { /* F_TEXT, F_TEXT_NULL */
      size_t n = utf8_chars(s);
      if ((int64_t)n < f->min || (int64_t)n > f->max)
        return fail(err, "invalid_value", "%s must be %lld to %lld characters", f->name,
                    (long long)f->min, (long long)f->max);
      return 0;
    }
  }
}

static int check_fields(json_t *doc, const field_t *fields, op_contract_error_t *err) {
  for (const field_t *f = fields; f->name; f++)
    if (check_field(doc, f, err) != 0)
      return OP_EINVAL;
  return 0;
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

static const char *str(json_t *doc, const char *name) {
  return json_string_value(json_object_get(doc, name)); /* NULL when absent or not a string */
}

/* Fills msg from a validated document of a topic other than orders.events. */
static int extract(op_an_msg_t *msg, json_t *doc, op_contract_error_t *err) {
  msg->tenant_id = str(doc, "tenant_id");
  msg->order_id = str(doc, "order_id");
  switch (msg->kind) {
    case OP_AN_ORDER_CREATED: {
      const char *parts[] = {msg->tenant_id, msg->order_id};
      msg->key = make_key(msg->kind, parts, 2);
      break;
    }
    case OP_AN_PAYMENT: {
      const char *state = str(doc, "state");
      msg->succeeded = strcmp(state, "succeeded") == 0;
      if (!msg->succeeded && json_object_get(doc, "reason") == NULL)
        return fail(err, "missing_field", "reason is required when state is failed");
      op_dec_parse(str(doc, "amount"), &msg->amount);
      msg->currency = str(doc, "currency");
      const char *parts[] = {msg->tenant_id, msg->order_id, state, str(doc, "payment_id")};
      msg->key = make_key(msg->kind, parts, 4);
      break;
    }
    case OP_AN_INVENTORY: {
      msg->sku = str(doc, "sku");
      json_t *avail = json_object_get(doc, "available");
      msg->has_available = avail != NULL;
      msg->available = avail ? json_integer_value(avail) : 0;
      const char *parts[] = {msg->tenant_id, str(doc, "reservation_id"), msg->sku,
                             str(doc, "state")};
      msg->key = make_key(msg->kind, parts, 4);
      break;
    }
    case OP_AN_AUDIT: {
      const char *parts[] = {msg->tenant_id, msg->order_id, str(doc, "action"),
                             str(doc, "to_status"), str(doc, "at")};
      msg->key = make_key(msg->kind, parts, 5);
      break;
    }
    case OP_AN_NOTIFICATION: {
      const char *state = str(doc, "state");
      if (strcmp(state, "sent") == 0 && json_object_get(doc, "sent_at") == NULL)
        return fail(err, "missing_field", "sent_at is required when state is sent");
      if (strcmp(state, "failed") == 0 && json_object_get(doc, "reason") == NULL)
        return fail(err, "missing_field", "reason is required when state is failed");
      const char *parts[] = {msg->tenant_id, str(doc, "notification_id"), state};
      msg->key = make_key(msg->kind, parts, 3);
      break;
    }
    default:
      return OP_EINVAL;
  }
  return msg->key ? 0 : OP_ENOMEM;
}

static int parse_order_event(const char *data, size_t len, op_an_msg_t *msg,
                             op_contract_error_t *err) {
  if (op_contract_parse_order_event(data, len, &msg->event, err) != 0)
    return OP_EINVAL;
  op_order_event_t *ev = &msg->event;
  msg->tenant_id = ev->tenant_id;
  msg->order_id = ev->order_id;
  msg->event_type = ev->event_type;
  msg->status = ev->status;
  msg->ts_ms = ev->timestamp_ms;
  const char *parts[] = {ev->tenant_id, ev->event_id};
  msg->key = make_key(OP_AN_ORDER_EVENT, parts, 2);
  return msg->key ? 0 : OP_ENOMEM;
}

int op_an_msg_parse(op_an_kind_t kind, const char *data, size_t len, op_an_msg_t *msg,
                    op_contract_error_t *err) {
  memset(msg, 0, sizeof *msg);
  msg->kind = kind;
  int rc;
  if (kind == OP_AN_ORDER_EVENT) {
    rc = parse_order_event(data, len, msg, err);
  } else if (len > OP_CONTRACT_MAX_BYTES) {
    rc = fail(err, "too_large", "the message is larger than 1 MiB");
  } else {
    json_error_t jerr;
    /* Strict JSON as the contracts read it: no member twice, no U+0000
     * (jansson refuses it unless asked), nothing after the document; a
     * scalar document parses, to be refused as not an object. */
    json_t *doc =
        json_loadb(data ? data : "", len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (doc == NULL) {
      rc = json_error_code(&jerr) == json_error_duplicate_key
               ? fail(err, "duplicate_key", "an object has the same member name twice")
               : fail(err, "invalid_json", "not JSON: line %d: %.160s", jerr.line, jerr.text);
    } else if (!json_is_object(doc)) {
      json_decref(doc);
      rc = fail(err, "not_an_object", "the message must be a JSON object");
    } else {
      static const field_t *const tables[OP_AN_KINDS] = {[OP_AN_ORDER_CREATED] = CREATED,
                                                         [OP_AN_AUDIT] = AUDIT,
                                                         [OP_AN_PAYMENT] = PAYMENT,
                                                         [OP_AN_INVENTORY] = INVENTORY,
                                                         [OP_AN_NOTIFICATION] = NOTIFICATION};
      msg->doc = doc;
      rc = check_fields(doc, tables[kind], err);
      if (rc == 0)
        rc = extract(msg, doc, err);
    }
  }
  if (rc != 0) {
    op_an_msg_clear(msg);
    memset(msg, 0, sizeof *msg);
  }
  return rc;
}

void op_an_msg_clear(op_an_msg_t *msg) {
  if (msg->doc)
    json_decref(msg->doc);
  msg->doc = NULL;
  op_order_event_clear(&msg->event);
  free(msg->key);
  msg->key = NULL;
}
