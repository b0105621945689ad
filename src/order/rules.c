#include "order/rules.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"

/* ---- request body ------------------------------------------------------- */

static void bad(json_t *fields, const char *field, const char *reason) {
  json_array_append_new(fields, json_pack("{s:s, s:s}", "field", field, "reason", reason));
}

/* Characters of a UTF-8 string (jansson only hands out valid UTF-8). */
static size_t utf8_chars(const char *s) {
  size_t n = 0;
  for (; *s; s++)
    n += ((unsigned char)*s & 0xC0) != 0x80;
  return n;
}

static int currency_ok(const char *s) {
  return strlen(s) == 3 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z' &&
         s[2] >= 'A' && s[2] <= 'Z';
}

/* Checks one line item; returns 1 when valid (item filled). */
static int check_item(const json_t *obj, size_t i, op_order_item_t *item, json_t *fields) {
  char name[96];
  if (!json_is_object(obj)) {
    snprintf(name, sizeof name, "line_items[%zu]", i);
    bad(fields, name, "must be an object with sku, qty and unit_price");
    return 0;
  }
  int ok = 1;
  const char *key;
  json_t *val;
  json_object_foreach((json_t *)obj, key, val) {
    if (strcmp(key, "sku") && strcmp(key, "qty") && strcmp(key, "unit_price")) {
      snprintf(name, sizeof name, "line_items[%zu].%.40s", i, key);
      bad(fields, name, "unknown field");
      ok = 0;
    }
  }
  const json_t *sku = json_object_get(obj, "sku");
  snprintf(name, sizeof name, "line_items[%zu].sku", i);
  if (sku == NULL) {
    bad(fields, name, "is required");
    ok = 0;
  } else if (!json_is_string(sku)) {
    bad(fields, name, "must be a string");
    ok = 0;
  } else if (json_string_length(sku) < 1 || json_string_length(sku) > 128 ||
             strlen(json_string_value(sku)) != json_string_length(sku)) {
    bad(fields, name, "must be 1 to 128 bytes");
    ok = 0;
  } else {
    item->sku = json_string_value(sku);
  }
  const json_t *qty = json_object_get(obj, "qty");
  snprintf(name, sizeof name, "line_items[%zu].qty", i);
  if (qty == NULL) {
    bad(fields, name, "is required");
    ok = 0;
  } else if (!json_is_integer(qty)) {
    bad(fields, name, "must be an integer");
    ok = 0;
  } else if (json_integer_value(qty) < 1 || json_integer_value(qty) > OP_ORDER_MAX_QTY) {
    bad(fields, name, "must be between 1 and 10000");
    ok = 0;
  } else {
    item->qty = json_integer_value(qty);
  }
  const json_t *price = json_object_get(obj, "unit_price");
  snprintf(name, sizeof name, "line_items[%zu].unit_price", i);
  op_dec_t dec;
  if (price == NULL) {
    bad(fields, name, "is required");
    ok = 0;
  } else if (!json_is_string(price)) {
    bad(fields, name, "must be a decimal string like \"10.00\"");
    ok = 0;
  } else if (op_dec_parse_n(json_string_value(price), json_string_length(price), &dec) != 0) {
    bad(fields, name, "must be a decimal string like \"10.00\"");
    ok = 0;
  } else if (dec < 0 || json_string_value(price)[0] == '-') {
    bad(fields, name, "must not be negative");
    ok = 0;
  } else {
    item->unit_price = json_string_value(price);
  }
  return ok;
}

static int check_items(const json_t *items, op_order_req_t *out, json_t *fields) {
  if (items == NULL) {
    bad(fields, "line_items", "is required");
    return 0;
  }
  if (!json_is_array(items)) {
    bad(fields, "line_items", "must be an array");
    return 0;
  }
  size_t n = json_array_size(items);
  if (n < 1 || n > OP_ORDER_MAX_ITEMS) {
    bad(fields, "line_items", "must hold 1 to 100 items");
    return 0;
  }
  int ok = 1;
  for (size_t i = 0; i < n; i++)
    ok &= check_item(json_array_get(items, i), i, &out->items[i], fields);
  out->nitems = n;
  return ok;
}

/* Sums qty x unit_price exactly; returns 1 when the total is in range. */
static int compute_total(op_order_req_t *out, json_t *fields) {
  op_dec_t total = 0;
  for (size_t i = 0; i < out->nitems; i++) {
    op_dec_t price, line;
    if (op_dec_parse(out->items[i].unit_price, &price) != 0 ||
        op_dec_mul_int(price, out->items[i].qty, &line) != 0 ||
        op_dec_add(total, line, &total) != 0) {
      bad(fields, "total_amount", "the sum of qty x unit_price exceeds 15 integer digits");
      return 0;
    }
  }
  op_dec_format(total, out->total);
  size_t distinct = 0;
  for (size_t i = 0; i < out->nitems; i++) {
    size_t j = 0;
    while (j < i && strcmp(out->items[j].sku, out->items[i].sku) != 0)
      j++;
    distinct += j == i;
  }
  out->distinct_skus = distinct;
  return 1;
}

int op_order_req_check(const json_t *body, op_order_req_t *out, json_t *fields) {
  memset(out, 0, sizeof *out);
  if (!json_is_object(body)) {
    bad(fields, "body", "must be a JSON object");
    return OP_EINVAL;
  }
  int ok = 1;
  const char *key;
  json_t *val;
  json_object_foreach((json_t *)body, key, val) {
    if (strcmp(key, "line_items") && strcmp(key, "currency") && strcmp(key, "reference")) {
      char name[64];
      snprintf(name, sizeof name, "%.60s", key);
      bad(fields, name, "unknown field");
      ok = 0;
    }
  }
  int items_ok = check_items(json_object_get(body, "line_items"), out, fields);
  const json_t *cur = json_object_get(body, "currency");
  if (cur == NULL) {
    bad(fields, "currency", "is required");
    ok = 0;
  } else if (!json_is_string(cur) || !currency_ok(json_string_value(cur))) {
    bad(fields, "currency", "must be three capital letters (ISO 4217), e.g. EUR");
    ok = 0;
  } else {
    out->currency = json_string_value(cur);
  }
  const json_t *ref = json_object_get(body, "reference");
  if (ref != NULL && !json_is_null(ref)) {
    if (!json_is_string(ref) || strlen(json_string_value(ref)) != json_string_length(ref)) {
      bad(fields, "reference", "must be a string");
      ok = 0;
    } else if (utf8_chars(json_string_value(ref)) > OP_ORDER_REFERENCE_MAX) {
      bad(fields, "reference", "must be at most 256 characters");
      ok = 0;
    } else {
      out->reference = json_string_value(ref);
    }
  }
  if (items_ok && !compute_total(out, fields))
    ok = 0;
  return ok && items_ok ? 0 : OP_EINVAL;
}

int op_order_idem_key_ok(const char *key) {
  size_t n = strlen(key);
  if (n < 1 || n > OP_ORDER_IDEM_KEY_MAX)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (key[i] < 0x20 || key[i] > 0x7e)
      return 0;
  return 1;
}

/* ---- state machine ------------------------------------------------------ */

static const char *const STATUSES[] = {"created",      "paid",      "payment_failed", "reserved",
                                       "out_of_stock", "cancelled", "fulfilled"};

int op_order_status_known(const char *s) {
  for (size_t i = 0; i < sizeof STATUSES / sizeof STATUSES[0]; i++)
    if (strcmp(s, STATUSES[i]) == 0)
      return 1;
  return 0;
}

const char *op_order_after_payment(const char *status, int succeeded) {
  if (strcmp(status, "created") != 0)
    return NULL; /* a duplicate, a second outcome, or the order was cancelled first */
  return succeeded ? "paid" : "payment_failed";
}

const char *op_order_after_stock(const char *status, int64_t skus, int64_t reserved,
                                 int64_t out_of_stock) {
  if (strcmp(status, "paid") != 0)
    return NULL;
  if (out_of_stock > 0)
    return "out_of_stock";
  return skus > 0 && reserved >= skus ? "reserved" : NULL;
}

int op_order_can_cancel(const char *status) {
  return strcmp(status, "created") == 0 || strcmp(status, "paid") == 0 ||
         strcmp(status, "reserved") == 0;
}

int op_order_can_fulfill(const char *status) {
  return strcmp(status, "reserved") == 0;
}

/* ---- cursors ------------------------------------------------------------ */

void op_order_cursor_encode(int64_t seq, char out[17]) {
  snprintf(out, 17, "%016" PRIx64, (uint64_t)seq);
}

int op_order_cursor_decode(const char *s, int64_t *seq) {
  if (strlen(s) != 16)
    return OP_EINVAL;
  uint64_t v = 0;
  for (int i = 0; i < 16; i++) {
    char c = s[i];
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0)
      return OP_EINVAL;
    v = v << 4 | (uint64_t)d;
  }
  if (v < 1 || v > INT64_MAX)
    return OP_EINVAL;
  *seq = (int64_t)v;
  return 0;
}
