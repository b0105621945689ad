/*
 * The shared value rules and document rules of the contracts (values.h).
 * Each value checker is a single left-to-right scan of a short string with no
 * allocation and no compiled pattern, next to the schema pattern it
 * implements; they run for every message on the consumer threads.
 */
#include "contracts/values.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/decimal.h"
#include "core/err.h"

int op_contract_fail(op_contract_error_t *err, const char *reason, const char *fmt, ...) {
  if (err == NULL)
    return OP_EINVAL;
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

json_t *op_contract_load(const char *data, size_t len, const char *noun, op_contract_error_t *err) {
  if (len > OP_CONTRACT_MAX_BYTES) {
    op_contract_fail(err, "too_large", "the %s is %zu bytes, more than the limit of %d bytes", noun,
                     len, OP_CONTRACT_MAX_BYTES);
    return NULL;
  }
  if (len == 0) {
    op_contract_fail(err, "invalid_json", "the %s is empty", noun);
    return NULL;
  }
  json_error_t jerr;
  json_t *root = json_loadb(data, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
  if (root == NULL) {
    if (json_error_code(&jerr) == json_error_duplicate_key)
      op_contract_fail(err, "duplicate_key",
                       "the %s repeats a member name: %s (line %d, column %d)", noun, jerr.text,
                       jerr.line, jerr.column);
    else
      op_contract_fail(err, "invalid_json", "the %s is not valid JSON: %s (line %d, column %d)",
                       noun, jerr.text, jerr.line, jerr.column);
  }
  return root;
}

const char *op_contract_type_name(const json_t *v) {
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

/* A code point starts at every byte that is not a UTF-8 continuation byte
 * (10xxxxxx). */
size_t op_contract_chars(const char *s, size_t len) {
  size_t n = 0;
  for (size_t i = 0; i < len; i++)
    n += ((unsigned char)s[i] & 0xC0) != 0x80;
  return n;
}

/* core/decimal.h parses exactly the contract's decimal. */
int op_contract_decimal_ok(const char *s, size_t len) {
  op_dec_t ignored;
  return op_dec_parse_n(s, len, &ignored) == 0;
}

int op_contract_currency_ok(const char *s, size_t len) {
  for (size_t i = 0; i < len; i++)
    if (s[i] < 'A' || s[i] > 'Z')
      return 0;
  return len == 3;
}

int op_contract_trace_id_ok(const char *s, size_t len) {
  for (size_t i = 0; i < len; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
      return 0;
  return len == 32;
}

/* op_parse_rfc3339 checks the layout and 1 <= month <= 12, 1 <= day <= 31;
 * this adds the length of the month. */
static int calendar_ok(const char *s) {
  static const unsigned char days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int year = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
  int month = (s[5] - '0') * 10 + (s[6] - '0');
  int day = (s[8] - '0') * 10 + (s[9] - '0');
  int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return day <= days[month - 1] + (month == 2 && leap);
}

int op_contract_timestamp_ok(const char *s, size_t len, int64_t *ms) {
  return strlen(s) == len && op_parse_rfc3339(s, ms) == 0 && calendar_ok(s);
}

/* Doubles of magnitude 2^53 or more are all integral. */
int op_contract_integral(const json_t *v, double *out) {
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
