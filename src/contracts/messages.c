/*
 * The validators of messages.h: one function per topic that reads the
 * schema's properties in the schema's order with a handful of field readers,
 * one per kind of value in contracts/defs.schema.json. The first broken rule
 * is the one reported. The value rules themselves are values.c's, shared with
 * the orders.events validator.
 */
#include "contracts/messages.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contracts/values.h"
#include "core/err.h"
#include "core/event.h"

const char *const op_message_reasons[] = {
#define XX(token, description) #token,
    OP_CONTRACT_REASON_MAP(XX) OP_MESSAGE_REASON_MAP(XX)
#undef XX
};
const size_t op_message_reasons_len = sizeof op_message_reasons / sizeof op_message_reasons[0];

/* ---- field readers -------------------------------------------------------
 * Each reads one member of r->obj, named r->where + key in messages, and
 * returns 0 (out set; NULL or untouched when absent and allowed) or
 * OP_EINVAL with r->err filled. */

typedef struct {
  json_t *obj;
  const char *where; /* "" or "line_items[2]." */
  op_contract_error_t *err;
} reader_t;

typedef enum {
  OPTIONAL = 0, /* may be absent; null is a wrong type */
  REQUIRED = 1,
  NULLABLE = 2 /* may be absent or null, both meaning "not given" */
} presence_t;

#define ID_RULE "must be a non-empty string of at most 128 bytes"

/* The member key: 1 with *v set, 0 when absent (or null and NULLABLE) and
 * allowed to be, -1 with err filled when required and absent. */
static int member(const reader_t *r, const char *key, presence_t presence, json_t **v) {
  *v = json_object_get(r->obj, key);
  if (*v != NULL && !(json_is_null(*v) && presence == NULLABLE))
    return 1;
  *v = NULL;
  if (presence != REQUIRED)
    return 0;
  op_contract_fail(r->err, "missing_field", "%s%s is required", r->where, key);
  return -1;
}

/* A string member; rule completes "<field> ..." in the wrong-type message.
 * Returns as member(), -1 also for a value that is not a string. */
static int string(const reader_t *r, const char *key, presence_t presence, const char *rule,
                  const char **s, size_t *len) {
  json_t *v;
  int rc = member(r, key, presence, &v);
  if (rc != 1)
    return rc;
  if (!json_is_string(v)) {
    op_contract_fail(r->err, "wrong_type", "%s%s %s, not %s", r->where, key, rule,
                     op_contract_type_name(v));
    return -1;
  }
  *s = json_string_value(v);
  *len = json_string_length(v);
  return 1;
}

/* defs#id: 1 to 128 bytes (DESIGN.md §3 counts bytes, not characters). */
static int id(const reader_t *r, const char *key, presence_t presence, const char **out) {
  const char *s = NULL;
  size_t len = 0;
  int rc = string(r, key, presence, ID_RULE, &s, &len);
  if (rc < 0)
    return OP_EINVAL;
  if (rc == 1 && (len < 1 || len > OP_ID_MAX))
    return op_contract_fail(r->err, "invalid_id", "%s%s " ID_RULE, r->where, key);
  *out = s;
  return 0;
}

/* A string of min to max characters (JSON Schema's minLength/maxLength). */
static int text(const reader_t *r, const char *key, presence_t presence, size_t min, size_t max,
                const char *reason, const char **out) {
  char rule[80];
  snprintf(rule, sizeof rule, "must be a string of %zu to %zu characters", min, max);
  const char *s = NULL;
  size_t len = 0;
  int rc = string(r, key, presence, rule, &s, &len);
  if (rc < 0)
    return OP_EINVAL;
  size_t n = rc == 1 ? op_contract_chars(s, len) : 0;
  if (rc == 1 && (n < min || n > max))
    return op_contract_fail(r->err, reason, "%s%s %s", r->where, key, rule);
  *out = s;
  return 0;
}

/* defs#decimal, required wherever the schemas use it. */
static int decimal(const reader_t *r, const char *key, const char **out, op_dec_t *value) {
  static const char rule[] =
      "must be a decimal string like \"129.90\" (up to 15 digits, 4 decimals)";
  const char *s = NULL;
  size_t len = 0;
  if (string(r, key, REQUIRED, rule, &s, &len) < 0)
    return OP_EINVAL;
  if (op_dec_parse_n(s, len, value) != 0)
    return op_contract_fail(r->err, "invalid_amount", "%s%s %s", r->where, key, rule);
  *out = s;
  return 0;
}

/* defs#currency, required wherever the schemas use it. */
static int currency(const reader_t *r, const char *key, const char **out) {
  static const char rule[] = "must be an ISO 4217 code of three capital letters like \"EUR\"";
  const char *s = NULL;
  size_t len = 0;
  if (string(r, key, REQUIRED, rule, &s, &len) < 0)
    return OP_EINVAL;
  if (!op_contract_currency_ok(s, len))
    return op_contract_fail(r->err, "invalid_currency", "%s%s %s", r->where, key, rule);
  *out = s;
  return 0;
}

/* defs#timestamp. */
static int timestamp(const reader_t *r, const char *key, presence_t presence, const char **out,
                     int64_t *ms) {
  static const char rule[] = "must be an RFC 3339 date-time string like \"2026-11-23T10:00:00Z\"";
  const char *s = NULL;
  size_t len = 0;
  int rc = string(r, key, presence, rule, &s, &len);
  if (rc < 0)
    return OP_EINVAL;
  if (rc == 1 && !op_contract_timestamp_ok(s, len, ms))
    return op_contract_fail(r->err, "invalid_timestamp", "%s%s %s", r->where, key, rule);
  *out = s;
  return 0;
}

/* defs#trace_id. */
static int trace_id(const reader_t *r, presence_t presence, const char **out) {
  static const char rule[] = "must be 32 lower-case hex digits";
  const char *s = NULL;
  size_t len = 0;
  int rc = string(r, "trace_id", presence, rule, &s, &len);
  if (rc < 0)
    return OP_EINVAL;
  if (rc == 1 && !op_contract_trace_id_ok(s, len))
    return op_contract_fail(r->err, "invalid_trace_id", "%strace_id %s", r->where, rule);
  *out = s;
  return 0;
}

/* A required string enum: values is NULL-terminated, list names them for
 * messages. *out is the static string of values. */
static int one_of(const reader_t *r, const char *key, const char *const *values, const char *list,
                  const char *reason, const char **out) {
  const char *s = NULL;
  size_t len = 0;
  if (string(r, key, REQUIRED, list, &s, &len) < 0)
    return OP_EINVAL;
  for (const char *const *value = values; *value; value++)
    if (strlen(*value) == len && memcmp(*value, s, len) == 0) {
      *out = *value;
      return 0;
    }
  return op_contract_fail(r->err, reason, "%s%s %s", r->where, key, list);
}

/* JSON Schema's integer of at least min: a string or a fraction (1.5) is a
 * wrong type (2.0 is the integer 2); below min or beyond 64 bits breaks reason.
 * *present (when not NULL) says whether the member was there. */
static int integer(const reader_t *r, const char *key, presence_t presence, int64_t min,
                   const char *reason, int64_t *out, int *present) {
  json_t *v;
  int rc = member(r, key, presence, &v);
  if (present != NULL)
    *present = rc == 1;
  if (rc != 1)
    return rc < 0 ? OP_EINVAL : 0;
  double d;
  if (!op_contract_integral(v, &d))
    return op_contract_fail(r->err, "wrong_type", "%s%s must be an integer, not %s", r->where, key,
                            json_is_number(v) ? "a fraction" : op_contract_type_name(v));
  if (d < (double)min || d >= 9223372036854775808.0)
    return op_contract_fail(r->err, reason, "%s%s must be an integer of at least %lld", r->where,
                            key, (long long)min);
  *out = json_is_integer(v) ? json_integer_value(v) : (int64_t)d;
  return 0;
}

/* ---- documents -----------------------------------------------------------
 * Every topic's parse is parse() with the topic's field pass. */

/* Reads the fields of one topic from r into the struct at msg. Returns 0 or
 * OP_EINVAL (OP_ENOMEM) with r->err filled; it frees what it allocated when it
 * fails. */
typedef int (*fields_fn)(const reader_t *r, void *msg);

/* Zeroes the struct at out (size bytes), parses data strictly as a JSON
 * object into *doc (a member of out) and runs fields over it. On failure
 * releases the document and leaves out zeroed. */
static int parse(const char *data, size_t len, void *out, size_t size, void **doc, fields_fn fields,
                 op_contract_error_t *err) {
  memset(out, 0, size);
  json_t *root = op_contract_load(data, len, "message", err);
  if (root == NULL)
    return OP_EINVAL;
  if (!json_is_object(root)) {
    json_decref(root);
    return op_contract_fail(err, "not_an_object", "the message must be a JSON object");
  }
  *doc = root;
  reader_t r = {root, "", err};
  int rc = fields(&r, out);
  if (rc != 0) {
    json_decref(root);
    memset(out, 0, size);
  }
  return rc;
}

/* Releases the document of a parsed struct and zeroes it. */
static void release(void *out, size_t size, void *doc) {
  json_decref(doc);
  memset(out, 0, size);
}

/* ---- orders.created ------------------------------------------------------ */

static int line_items(const reader_t *r, op_order_created_t *out) {
  json_t *items;
  if (member(r, "line_items", REQUIRED, &items) < 0)
    return OP_EINVAL;
  if (!json_is_array(items))
    return op_contract_fail(r->err, "wrong_type", "line_items must be an array, not %s",
                            op_contract_type_name(items));
  size_t n = json_array_size(items);
  if (n == 0)
    return op_contract_fail(r->err, "invalid_line_items", "line_items must hold at least one item");
  out->items = calloc(n, sizeof *out->items);
  if (out->items == NULL) {
    op_contract_fail(r->err, "too_large", "no memory for %zu line items", n);
    return OP_ENOMEM;
  }
  for (size_t i = 0; i < n; i++) {
    char where[48];
    snprintf(where, sizeof where, "line_items[%zu].", i);
    reader_t item = {json_array_get(items, i), where, r->err};
    op_line_item_t *line = &out->items[i];
    if (!json_is_object(item.obj))
      return op_contract_fail(r->err, "wrong_type", "line_items[%zu] must be an object, not %s", i,
                              op_contract_type_name(item.obj));
    if (id(&item, "sku", REQUIRED, &line->sku) ||
        integer(&item, "qty", REQUIRED, 1, "invalid_qty", &line->qty, NULL) ||
        decimal(&item, "unit_price", &line->unit_price, &line->price))
      return OP_EINVAL;
    out->nitems++;
  }
  return 0;
}

static int created_fields(const reader_t *r, void *msg) {
  op_order_created_t *out = msg;
  int rc = id(r, "order_id", REQUIRED, &out->order_id) ||
           id(r, "tenant_id", REQUIRED, &out->tenant_id) ||
           id(r, "user_id", OPTIONAL, &out->user_id);
  if (rc == 0)
    rc = line_items(r, out);
  if (rc == 0 && (decimal(r, "total_amount", &out->total_amount, &out->total) ||
                  currency(r, "currency", &out->currency) ||
                  text(r, "reference", OPTIONAL, 0, 256, "invalid_reference", &out->reference) ||
                  timestamp(r, "created_at", REQUIRED, &out->created_at, &out->created_at_ms) ||
                  trace_id(r, OPTIONAL, &out->trace_id)))
    rc = OP_EINVAL;
  if (rc != 0)
    free(out->items);
  return rc;
}

int op_contract_parse_order_created(const char *data, size_t len, op_order_created_t *out,
                                    op_contract_error_t *err) {
  return parse(data, len, out, sizeof *out, &out->doc, created_fields, err);
}

void op_order_created_clear(op_order_created_t *out) {
  free(out->items);
  release(out, sizeof *out, out->doc);
}

/* ---- payments.completed -------------------------------------------------- */

static const char *const PAYMENT_STATES[] = {"succeeded", "failed", NULL};

static int payment_fields(const reader_t *r, void *msg) {
  op_payment_completed_t *out = msg;
  int rc = id(r, "order_id", REQUIRED, &out->order_id) ||
           id(r, "tenant_id", REQUIRED, &out->tenant_id) ||
           id(r, "payment_id", REQUIRED, &out->payment_id) ||
           one_of(r, "state", PAYMENT_STATES, "must be one of: succeeded failed", "invalid_state",
                  &out->state);
  if (rc == 0) {
    out->succeeded = strcmp(out->state, "succeeded") == 0;
    /* The schema's if/then: a failed payment says why. */
    rc = text(r, "reason", out->succeeded ? OPTIONAL : REQUIRED, 1, 256, "invalid_reason",
              &out->reason);
    if (rc != 0 && !out->succeeded && json_object_get(r->obj, "reason") == NULL)
      op_contract_fail(r->err, "missing_field", "reason is required when state is failed");
  }
  return rc || decimal(r, "amount", &out->amount, &out->amount_value) ||
                 currency(r, "currency", &out->currency) ||
                 timestamp(r, "processed_at", REQUIRED, &out->processed_at,
                           &out->processed_at_ms) ||
                 trace_id(r, REQUIRED, &out->trace_id)
             ? OP_EINVAL
             : 0;
}

int op_contract_parse_payment_completed(const char *data, size_t len, op_payment_completed_t *out,
                                        op_contract_error_t *err) {
  return parse(data, len, out, sizeof *out, &out->doc, payment_fields, err);
}

void op_payment_completed_clear(op_payment_completed_t *out) {
  release(out, sizeof *out, out->doc);
}

/* ---- inventory.updated --------------------------------------------------- */

static const char *const STOCK_STATES[] = {"reserved", "released", "out_of_stock", NULL};

static int stock_fields(const reader_t *r, void *msg) {
  op_inventory_updated_t *out = msg;
  return id(r, "sku", REQUIRED, &out->sku) || id(r, "tenant_id", REQUIRED, &out->tenant_id) ||
                 id(r, "order_id", REQUIRED, &out->order_id) ||
                 integer(r, "delta", REQUIRED, INT64_MIN, "invalid_value", &out->delta, NULL) ||
                 id(r, "reservation_id", REQUIRED, &out->reservation_id) ||
                 one_of(r, "state", STOCK_STATES, "must be one of: reserved released out_of_stock",
                        "invalid_state", &out->state) ||
                 timestamp(r, "processed_at", REQUIRED, &out->processed_at,
                           &out->processed_at_ms) ||
                 trace_id(r, REQUIRED, &out->trace_id) ||
                 integer(r, "available", OPTIONAL, 0, "invalid_value", &out->available,
                         &out->has_available)
             ? OP_EINVAL
             : 0;
}

int op_contract_parse_inventory_updated(const char *data, size_t len, op_inventory_updated_t *out,
                                        op_contract_error_t *err) {
  return parse(data, len, out, sizeof *out, &out->doc, stock_fields, err);
}

void op_inventory_updated_clear(op_inventory_updated_t *out) {
  release(out, sizeof *out, out->doc);
}

/* ---- orders.audit -------------------------------------------------------- */

static int audit_fields(const reader_t *r, void *msg) {
  op_order_audit_t *out = msg;
  return id(r, "order_id", REQUIRED, &out->order_id) ||
                 id(r, "tenant_id", REQUIRED, &out->tenant_id) ||
                 id(r, "event_id", OPTIONAL, &out->event_id) ||
                 text(r, "action", REQUIRED, 1, 64, "invalid_value", &out->action) ||
                 text(r, "from_status", NULLABLE, 0, 64, "invalid_status", &out->from_status) ||
                 text(r, "to_status", OPTIONAL, 1, 64, "invalid_status", &out->to_status) ||
                 id(r, "actor", OPTIONAL, &out->actor) ||
                 timestamp(r, "at", REQUIRED, &out->at, &out->at_ms) ||
                 trace_id(r, OPTIONAL, &out->trace_id)
             ? OP_EINVAL
             : 0;
}

int op_contract_parse_order_audit(const char *data, size_t len, op_order_audit_t *out,
                                  op_contract_error_t *err) {
  return parse(data, len, out, sizeof *out, &out->doc, audit_fields, err);
}

void op_order_audit_clear(op_order_audit_t *out) {
  release(out, sizeof *out, out->doc);
}

/* ---- notifications.events ------------------------------------------------ */

static const char *const CHANNELS[] = {"in_app", "email", NULL};
static const char *const NOTIFY_STATES[] = {"queued", "sent", "failed", NULL};

static int notification_fields(const reader_t *r, void *msg) {
  op_notification_event_t *out = msg;
  if (id(r, "notification_id", REQUIRED, &out->notification_id) ||
      id(r, "tenant_id", REQUIRED, &out->tenant_id) || id(r, "user_id", REQUIRED, &out->user_id) ||
      one_of(r, "channel", CHANNELS, "must be one of: in_app email", "invalid_value",
             &out->channel) ||
      text(r, "template", REQUIRED, 1, 128, "invalid_value", &out->template_name) ||
      one_of(r, "state", NOTIFY_STATES, "must be one of: queued sent failed", "invalid_state",
             &out->state) ||
      id(r, "order_id", REQUIRED, &out->order_id))
    return OP_EINVAL;
  /* The schema's allOf of if/then: sent says when, failed says why. */
  int sent = strcmp(out->state, "sent") == 0;
  int failed = strcmp(out->state, "failed") == 0;
  if (timestamp(r, "sent_at", sent ? REQUIRED : OPTIONAL, &out->sent_at, &out->sent_at_ms) != 0) {
    if (sent && json_object_get(r->obj, "sent_at") == NULL)
      op_contract_fail(r->err, "missing_field", "sent_at is required when state is sent");
    return OP_EINVAL;
  }
  if (text(r, "reason", failed ? REQUIRED : OPTIONAL, 1, 512, "invalid_reason", &out->reason)) {
    if (failed && json_object_get(r->obj, "reason") == NULL)
      op_contract_fail(r->err, "missing_field", "reason is required when state is failed");
    return OP_EINVAL;
  }
  return trace_id(r, REQUIRED, &out->trace_id) ? OP_EINVAL : 0;
}

int op_contract_parse_notification_event(const char *data, size_t len, op_notification_event_t *out,
                                         op_contract_error_t *err) {
  return parse(data, len, out, sizeof *out, &out->doc, notification_fields, err);
}

void op_notification_event_clear(op_notification_event_t *out) {
  release(out, sizeof *out, out->doc);
}
