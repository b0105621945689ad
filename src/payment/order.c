/*
 * orders.created as payment reads it: one jansson parse (strict), then the
 * schema's fields in the schema's order. The value checkers are the same
 * short scans as src/contracts/validate.c uses for orders.events (kept private
 * there, so repeated here rather than changing the contracts module).
 */
#include "payment/order.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"

#define ID_MAX 128
#define TEXT_MAX 256

const char *const op_order_reasons[] = {
#define XX(token, description) #token,
    OP_ORDER_REASON_MAP(XX)
#undef XX
};
const size_t op_order_reasons_len = sizeof op_order_reasons / sizeof op_order_reasons[0];

static int fail(op_order_error_t *err, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Fills err with reason and a message made printable ASCII (it may quote
 * input, and it ends up in a Kafka header). Returns OP_EINVAL. */
static int fail(op_order_error_t *err, const char *reason, const char *fmt, ...) {
  err->reason = reason;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err->message, sizeof err->message, fmt, ap);
  va_end(ap);
  for (char *s = err->message; *s; s++)
    if (*s < 0x20 || *s > 0x7E)
      *s = '?';
  return OP_EINVAL;
}

static const char *type_name(const json_t *v) {
  switch (json_typeof(v)) {
    case JSON_OBJECT:
      return "an object";
    case JSON_ARRAY:
      return "an array";
    case JSON_STRING:
      return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
      return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
      return "a boolean";
    default:
      return "null";
  }
}

/* Characters (code points) of a UTF-8 string jansson has already checked. */
static size_t count_chars(const char *s, size_t len) {
  size_t n = 0;
  for (size_t i = 0; i < len; i++)
    n += ((unsigned char)s[i] & 0xC0) != 0x80;
  return n;
}

/* op_parse_rfc3339 checks the layout and 1 <= day <= 31; the schema's pattern
 * also wants a day that exists in its month (leap years included). */
static int calendar_ok(const char *s) {
  static const unsigned char days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int year = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
  int month = (s[5] - '0') * 10 + (s[6] - '0');
  int day = (s[8] - '0') * 10 + (s[9] - '0');
  int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return day <= days[month - 1] + (month == 2 && leap);
}

static int currency_ok(const char *s, size_t len) {
  for (size_t i = 0; i < len; i++)
    if (s[i] < 'A' || s[i] > 'Z')
      return 0;
  return len == 3;
}

static int trace_id_ok(const char *s, size_t len) {
  for (size_t i = 0; i < len; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
      return 0;
  return len == 32;
}

/* JSON Schema's integer: any number with a zero fraction (2.0 is 2). */
static int integral(const json_t *v, double *out) {
  if (json_is_integer(v)) {
    *out = (double)json_integer_value(v);
    return 1;
  }
  if (!json_is_real(v))
    return 0;
  double d = json_real_value(v);
  *out = d;
  return d >= 9007199254740992.0 || d <= -9007199254740992.0 || d == (double)(int64_t)d;
}

/* Looks up a string member. Returns 1 with *out set, 0 when absent and not
 * required; fails (OP_EINVAL, returned as -1 here) on missing or non-string. */
static int get_string(json_t *obj, const char *where, const char *key, int required,
                      const char **out, size_t *len, op_order_error_t *err) {
  json_t *v = json_object_get(obj, key);
  if (v == NULL) {
    if (required) {
      fail(err, "missing_field", "%s%s is required", where, key);
      return -1;
    }
    return 0;
  }
  if (!json_is_string(v)) {
    fail(err, "wrong_type", "%s%s must be a string, not %s", where, key, type_name(v));
    return -1;
  }
  *out = json_string_value(v);
  *len = json_string_length(v);
  return 1;
}

static int check_id(json_t *obj, const char *where, const char *key, int required, const char **out,
                    op_order_error_t *err) {
  const char *s = NULL;
  size_t len = 0;
  int rc = get_string(obj, where, key, required, &s, &len, err);
  if (rc < 0)
    return OP_EINVAL;
  if (rc == 1 && (len < 1 || len > ID_MAX)) /* DESIGN.md §3 counts bytes */
    return fail(err, "invalid_id", "%s%s must be a non-empty string of at most 128 bytes", where,
                key);
  if (out)
    *out = s;
  return 0;
}

static int check_decimal(json_t *obj, const char *where, const char *key, const char **out,
                         op_dec_t *value, op_order_error_t *err) {
  const char *s = NULL;
  size_t len = 0;
  if (get_string(obj, where, key, 1, &s, &len, err) < 0)
    return OP_EINVAL;
  op_dec_t v;
  if (op_dec_parse_n(s, len, &v) != 0)
    return fail(err, "invalid_amount",
                "%s%s must be a decimal string like \"129.90\" (up to 15 digits, 4 decimals)",
                where, key);
  if (out)
    *out = s;
  if (value)
    *value = v;
  return 0;
}

static int check_line_items(json_t *root, op_order_error_t *err) {
  json_t *items = json_object_get(root, "line_items");
  if (items == NULL)
    return fail(err, "missing_field", "line_items is required");
  if (!json_is_array(items))
    return fail(err, "wrong_type", "line_items must be an array, not %s", type_name(items));
  if (json_array_size(items) == 0)
    return fail(err, "invalid_line_items", "line_items must hold at least one item");
  size_t i;
  json_t *item;
  json_array_foreach(items, i, item) {
    char where[48];
    snprintf(where, sizeof where, "line_items[%zu].", i);
    if (!json_is_object(item))
      return fail(err, "wrong_type", "line_items[%zu] must be an object, not %s", i,
                  type_name(item));
    if (check_id(item, where, "sku", 1, NULL, err) != 0)
      return OP_EINVAL;
    json_t *qty = json_object_get(item, "qty");
    double q;
    if (qty == NULL)
      return fail(err, "missing_field", "%sqty is required", where);
    if (!json_is_number(qty))
      return fail(err, "wrong_type", "%sqty must be an integer, not %s", where, type_name(qty));
    if (!integral(qty, &q) || q < 1)
      return fail(err, "invalid_qty", "%sqty must be an integer of at least 1", where);
    if (check_decimal(item, where, "unit_price", NULL, NULL, err) != 0)
      return OP_EINVAL;
  }
  return 0;
}

/* The schema's properties in its order; the first broken rule is reported. */
static int check_fields(json_t *root, op_order_t *order, op_order_error_t *err) {
  const char *s;
  size_t len;
  int rc;
  if (check_id(root, "", "order_id", 1, &order->order_id, err) ||
      check_id(root, "", "tenant_id", 1, &order->tenant_id, err) ||
      check_id(root, "", "user_id", 0, NULL, err) || check_line_items(root, err) ||
      check_decimal(root, "", "total_amount", &order->total_amount, &order->amount, err))
    return OP_EINVAL;
  if (get_string(root, "", "currency", 1, &s, &len, err) < 0)
    return OP_EINVAL;
  if (!currency_ok(s, len))
    return fail(err, "invalid_currency",
                "currency must be an ISO 4217 code of three capital letters like \"EUR\"");
  order->currency = s;
  if ((rc = get_string(root, "", "reference", 0, &s, &len, err)) < 0)
    return OP_EINVAL;
  if (rc == 1 && count_chars(s, len) > TEXT_MAX)
    return fail(err, "invalid_reference", "reference must be at most 256 characters");
  if (get_string(root, "", "created_at", 1, &s, &len, err) < 0)
    return OP_EINVAL;
  int64_t ms;
  if (op_parse_rfc3339(s, &ms) != 0 || !calendar_ok(s))
    return fail(err, "invalid_timestamp",
                "created_at must be an RFC 3339 date-time like \"2026-11-23T10:00:00.000Z\"");
  if ((rc = get_string(root, "", "trace_id", 0, &s, &len, err)) < 0)
    return OP_EINVAL;
  if (rc == 1 && !trace_id_ok(s, len))
    return fail(err, "invalid_trace_id", "trace_id must be 32 lower-case hex digits");
  order->trace_id = rc == 1 ? s : NULL;
  return 0;
}

int op_order_parse(const char *data, size_t len, op_order_t *order, op_order_error_t *err) {
  memset(order, 0, sizeof *order);
  if (len > OP_ORDER_MAX_BYTES)
    return fail(err, "too_large", "the message is %zu bytes, more than %d", len,
                OP_ORDER_MAX_BYTES);
  if (len == 0)
    return fail(err, "invalid_json", "the message is empty");
  json_error_t jerr;
  /* JSON_DECODE_ANY: a scalar root is reported as not_an_object. */
  json_t *root = json_loadb(data, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
  if (root == NULL) {
    if (json_error_code(&jerr) == json_error_duplicate_key)
      return fail(err, "duplicate_key", "the message repeats a member name: %s", jerr.text);
    return fail(err, "invalid_json", "the message is not valid JSON: %s (line %d, column %d)",
                jerr.text, jerr.line, jerr.column);
  }
  int rc = json_is_object(root) ? check_fields(root, order, err)
                                : fail(err, "not_an_object", "the message must be a JSON object");
  if (rc != 0) {
    json_decref(root);
    memset(order, 0, sizeof *order);
    return rc;
  }
  order->doc = root;
  return 0;
}

void op_order_clear(op_order_t *order) {
  if (order->doc)
    json_decref((json_t *)order->doc);
  order->doc = NULL;
}
