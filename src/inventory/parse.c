/*
 * Validators of orders.created and payments.completed, written as a list of
 * field checks in the order of each schema's properties: the first broken
 * rule is the one reported. The value rules mirror contracts/defs.schema.json
 * (ids in bytes as DESIGN.md §3 says, decimals via core/decimal.h,
 * timestamps via op_parse_rfc3339 plus the calendar, trace ids as 32
 * lower-case hex digits).
 */
#include "inventory/parse.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/decimal.h"
#include "core/err.h"

static int fail(op_contract_error_t *err, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(op_contract_error_t *err, const char *reason, const char *fmt, ...) {
  if (err) {
    err->reason = reason;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    for (char *s = err->message; *s; s++) /* safe in a Kafka header and a log line */
      if (*s < 0x20 || *s > 0x7E)
        *s = '?';
  }
  return OP_EINVAL;
}

/* Strict JSON, as src/contracts/validate.c reads orders.events. */
static json_t *parse_doc(const char *data, size_t len, op_contract_error_t *err) {
  if (len > OP_CONTRACT_MAX_BYTES) {
    fail(err, "too_large", "the message is %zu bytes, more than the limit of %d bytes", len,
         OP_CONTRACT_MAX_BYTES);
    return NULL;
  }
  json_error_t jerr;
  json_t *root = json_loadb(data ? data : "", len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
  if (root == NULL) {
    int dup = strstr(jerr.text, "duplicate") != NULL;
    fail(err, dup ? "duplicate_key" : "invalid_json", "not strict JSON: %s", jerr.text);
    return NULL;
  }
  if (!json_is_object(root)) {
    json_decref(root);
    fail(err, "not_an_object", "the message must be a JSON object");
    return NULL;
  }
  return root;
}

static int calendar_ok(const char *s) {
  static const unsigned char days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int year = atoi((char[5]){s[0], s[1], s[2], s[3], 0});
  int month = (s[5] - '0') * 10 + (s[6] - '0');
  int day = (s[8] - '0') * 10 + (s[9] - '0');
  int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return day <= days[month - 1] + (month == 2 && leap);
}

/* Characters as JSON Schema's maxLength counts them (code points). */
static size_t count_chars(const char *s, size_t len) {
  size_t n = 0;
  for (size_t i = 0; i < len; i++)
    n += ((unsigned char)s[i] & 0xC0) != 0x80;
  return n;
}

typedef enum { ID, TEXT, DECIMAL, CURRENCY, TIME, TRACE } kind_t;

/* Checks the string field key of obj (named path in messages). Returns 0 and
 * sets *out (NULL when absent and optional), or fails. */
static int str_field(json_t *obj, const char *key, const char *path, int required, kind_t kind,
                     const char **out, op_contract_error_t *err) {
  json_t *v = json_object_get(obj, key);
  *out = NULL;
  if (v == NULL)
    return required ? fail(err, "missing_field", "%s is required", path) : 0;
  if (!json_is_string(v))
    return fail(err, "wrong_type", "%s must be a string", path);
  const char *s = json_string_value(v);
  size_t len = json_string_length(v);
  op_dec_t dec;
  int64_t ms;
  switch (kind) {
    case ID:
      if (len < 1 || len > 128)
        return fail(err, "invalid_id", "%s must be a non-empty string of at most 128 bytes", path);
      break;
    case TEXT:
      if (count_chars(s, len) > 256)
        return fail(err, "invalid_reference", "%s must be at most 256 characters", path);
      break;
    case DECIMAL:
      if (op_dec_parse_n(s, len, &dec) != 0)
        return fail(err, "invalid_amount", "%s must be a decimal string like \"129.90\"", path);
      break;
    case CURRENCY:
      if (len != 3 || strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != 3)
        return fail(err, "invalid_currency", "%s must be three capital letters like \"EUR\"", path);
      break;
    case TIME:
      if (strlen(s) != len || op_parse_rfc3339(s, &ms) != 0 || !calendar_ok(s))
        return fail(err, "invalid_timestamp", "%s must be an RFC 3339 date-time", path);
      break;
    case TRACE:
      if (len != 32 || strspn(s, "0123456789abcdef") != 32)
        return fail(err, "invalid_trace_id", "%s must be 32 lower-case hex digits", path);
      break;
  }
  *out = s;
  return 0;
}

/* JSON Schema's integer: 2 and 2.0 alike. */
static int integer_value(const json_t *v, int64_t *out) {
  if (json_is_integer(v)) {
    *out = json_integer_value(v);
    return 1;
  }
  if (!json_is_real(v))
    return 0;
  double d = json_real_value(v);
  if (d < -9.2e18 || d > 9.2e18 || d != (double)(int64_t)d)
    return 0;
  *out = (int64_t)d;
  return 1;
}

static int item_cmp(const void *a, const void *b) {
  return strcmp(((const op_inv_item_t *)a)->sku, ((const op_inv_item_t *)b)->sku);
}

/* line_items: validated, summed per sku, sorted by sku (the order in which
 * the store locks stock rows, so that two reservations never deadlock). */
static int parse_items(json_t *root, op_inv_order_t *out, op_contract_error_t *err) {
  json_t *arr = json_object_get(root, "line_items");
  if (arr == NULL)
    return fail(err, "missing_field", "line_items is required");
  if (!json_is_array(arr))
    return fail(err, "wrong_type", "line_items must be an array");
  size_t n = json_array_size(arr);
  if (n == 0)
    return fail(err, "missing_field", "line_items must hold at least one item");
  out->items = calloc(n, sizeof *out->items);
  if (out->items == NULL)
    return fail(err, "too_large", "out of memory");
  for (size_t i = 0; i < n; i++) {
    json_t *item = json_array_get(arr, i);
    char path[64];
    const char *sku, *price;
    int64_t qty;
    if (!json_is_object(item))
      return fail(err, "wrong_type", "line_items[%zu] must be an object", i);
    snprintf(path, sizeof path, "line_items[%zu].sku", i);
    if (str_field(item, "sku", path, 1, ID, &sku, err))
      return OP_EINVAL;
    json_t *q = json_object_get(item, "qty");
    if (q == NULL)
      return fail(err, "missing_field", "line_items[%zu].qty is required", i);
    if (!integer_value(q, &qty))
      return fail(err, "wrong_type", "line_items[%zu].qty must be an integer", i);
    if (qty < 1)
      return fail(err, "invalid_qty", "line_items[%zu].qty must be at least 1", i);
    snprintf(path, sizeof path, "line_items[%zu].unit_price", i);
    if (str_field(item, "unit_price", path, 1, DECIMAL, &price, err))
      return OP_EINVAL;
    size_t k = 0;
    while (k < out->nitems && strcmp(out->items[k].sku, sku) != 0)
      k++;
    if (k == out->nitems)
      out->items[out->nitems++] = (op_inv_item_t){sku, 0};
    if (out->items[k].qty > INT64_MAX - qty)
      return fail(err, "invalid_qty", "the quantities of sku %.64s add up beyond 64 bits", sku);
    out->items[k].qty += qty;
  }
  qsort(out->items, out->nitems, sizeof *out->items, item_cmp);
  return 0;
}

int op_inv_parse_order_created(const char *data, size_t len, op_inv_order_t *out,
                               op_contract_error_t *err) {
  memset(out, 0, sizeof *out);
  json_t *root = parse_doc(data, len, err);
  if (root == NULL)
    return OP_EINVAL;
  out->doc = root;
  const char *s;
  if (str_field(root, "order_id", "order_id", 1, ID, &out->order_id, err) ||
      str_field(root, "tenant_id", "tenant_id", 1, ID, &out->tenant_id, err) ||
      str_field(root, "user_id", "user_id", 0, ID, &s, err) || parse_items(root, out, err) ||
      str_field(root, "total_amount", "total_amount", 1, DECIMAL, &s, err) ||
      str_field(root, "currency", "currency", 1, CURRENCY, &s, err) ||
      str_field(root, "reference", "reference", 0, TEXT, &s, err) ||
      str_field(root, "created_at", "created_at", 1, TIME, &s, err) ||
      str_field(root, "trace_id", "trace_id", 0, TRACE, &out->trace_id, err)) {
    op_inv_order_clear(out);
    return OP_EINVAL;
  }
  return 0;
}

void op_inv_order_clear(op_inv_order_t *order) {
  free(order->items);
  json_decref(order->doc);
  memset(order, 0, sizeof *order);
}

int op_inv_parse_payment(const char *data, size_t len, op_inv_payment_t *out,
                         op_contract_error_t *err) {
  memset(out, 0, sizeof *out);
  json_t *root = parse_doc(data, len, err);
  if (root == NULL)
    return OP_EINVAL;
  out->doc = root;
  const char *state = NULL, *s;
  int rc = str_field(root, "order_id", "order_id", 1, ID, &out->order_id, err) ||
           str_field(root, "tenant_id", "tenant_id", 1, ID, &out->tenant_id, err) ||
           str_field(root, "payment_id", "payment_id", 1, ID, &out->payment_id, err);
  if (rc == 0) {
    json_t *v = json_object_get(root, "state");
    if (v == NULL)
      rc = fail(err, "missing_field", "state is required");
    else if (!json_is_string(v))
      rc = fail(err, "wrong_type", "state must be a string");
    else if (strcmp((state = json_string_value(v)), "succeeded") != 0 &&
             strcmp(state, "failed") != 0)
      rc = fail(err, "invalid_state", "state must be one of: succeeded failed");
  }
  if (rc == 0) {
    json_t *v = json_object_get(root, "reason");
    if (v == NULL && strcmp(state, "failed") == 0)
      rc = fail(err, "missing_field", "reason is required when state is failed");
    else if (v != NULL && !json_is_string(v))
      rc = fail(err, "wrong_type", "reason must be a string");
    else if (v != NULL && (json_string_length(v) < 1 ||
                           count_chars(json_string_value(v), json_string_length(v)) > 256))
      rc = fail(err, "invalid_reason", "reason must be a non-empty string of 1 to 256 characters");
  }
  rc = rc || str_field(root, "amount", "amount", 1, DECIMAL, &s, err) ||
       str_field(root, "currency", "currency", 1, CURRENCY, &s, err) ||
       str_field(root, "processed_at", "processed_at", 1, TIME, &s, err) ||
       str_field(root, "trace_id", "trace_id", 1, TRACE, &out->trace_id, err);
  if (rc) {
    op_inv_payment_clear(out);
    return OP_EINVAL;
  }
  out->succeeded = strcmp(state, "succeeded") == 0;
  return 0;
}

void op_inv_payment_clear(op_inv_payment_t *payment) {
  json_decref(payment->doc);
  memset(payment, 0, sizeof *payment);
}
