/*
 * The value rules of the orders.events contract, field by field, at their
 * boundaries: each case puts one value into an otherwise valid event and
 * names the reason expected (NULL: valid). The same rules are written as
 * patterns in contracts/defs.schema.json; the schema-side agreement is
 * checked by tests/contracts/test_contracts.py over the samples.
 *
 * Run one test alone: contracts_test_values <name-pattern>.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "contracts/validate.h"
#include "core/err.h"

typedef struct {
  const char *value; /* JSON text of the value, spliced into the event */
  const char *reason;
} value_case_t;

/* An event whose field (top level, or payload.<field> when in_payload) is
 * replaced by value; NULL value leaves the field out. Caller frees. */
static char *event_with(const char *field, int in_payload, const char *value) {
  static const char *const top[] = {"event_id",  "event_type", "order_id",
                                    "tenant_id", "timestamp",  "schema_version"};
  static const char *const top_default[] = {"\"e1\"", "\"order_paid\"",           "\"o1\"",
                                            "\"t1\"", "\"2026-11-23T10:00:00Z\"", NULL};
  static const char *const pay[] = {"status", "reference", "total_amount", "currency", "user_id"};
  static const char *const pay_default[] = {"\"paid\"", "\"A-1\"", "\"129.90\"", "\"EUR\"",
                                            "\"u_7\""};
  size_t cap = 4096 + (value ? strlen(value) : 0);
  char *out = malloc(cap);
  assert_non_null(out);
  size_t n = (size_t)snprintf(out, cap, "{");
  for (size_t i = 0; i < sizeof top / sizeof top[0]; i++) {
    const char *v = !in_payload && strcmp(field, top[i]) == 0 ? value : top_default[i];
    if (v != NULL)
      n += (size_t)snprintf(out + n, cap - n, "\"%s\":%s,", top[i], v);
  }
  n += (size_t)snprintf(out + n, cap - n, "\"payload\":{");
  const char *sep = "";
  for (size_t i = 0; i < sizeof pay / sizeof pay[0]; i++) {
    const char *v = in_payload && strcmp(field, pay[i]) == 0 ? value : pay_default[i];
    if (v != NULL) {
      n += (size_t)snprintf(out + n, cap - n, "%s\"%s\":%s", sep, pay[i], v);
      sep = ",";
    }
  }
  snprintf(out + n, cap - n, "}}");
  return out;
}

static void check(const char *field, int in_payload, const value_case_t *cases, size_t ncases) {
  for (size_t i = 0; i < ncases; i++) {
    char *text = event_with(field, in_payload, cases[i].value);
    op_order_event_t ev;
    op_contract_error_t err = {0};
    int rc = op_contract_parse_order_event(text, strlen(text), &ev, &err);
    if (cases[i].reason == NULL) {
      if (rc != 0)
        fail_msg("%s = %s: rejected (%s: %s)", field, cases[i].value, err.reason, err.message);
      op_order_event_clear(&ev);
    } else if (rc == 0) {
      op_order_event_clear(&ev);
      fail_msg("%s = %s: accepted, expected %s", field, cases[i].value, cases[i].reason);
    } else if (strcmp(err.reason, cases[i].reason) != 0) {
      fail_msg("%s = %s: %s (%s), expected %s", field, cases[i].value, err.reason, err.message,
               cases[i].reason);
    }
    free(text);
  }
}

/* A JSON string of n copies of unit (UTF-8), caller frees. */
static char *repeat(const char *unit, size_t n) {
  size_t len = strlen(unit);
  char *out = malloc(n * len + 3);
  assert_non_null(out);
  out[0] = '"';
  for (size_t i = 0; i < n; i++)
    memcpy(out + 1 + i * len, unit, len);
  memcpy(out + 1 + n * len, "\"", 2);
  return out;
}

#define CHECK(field, in_payload, cases)                                                            \
  check(field, in_payload, cases, sizeof cases / sizeof *cases)

static void test_amount(void **state) {
  static const value_case_t cases[] = {
      {"\"0\"", NULL},
      {"\"129.90\"", NULL},
      {"\"-5.5\"", NULL},
      {"\"-0.0001\"", NULL},
      {"\"007\"", NULL},
      {"\"999999999999999.9999\"", NULL},
      {"null", NULL},
      {NULL, NULL},
      {"\"1234567890123456\"", "invalid_amount"},
      {"\"1.00001\"", "invalid_amount"},
      {"\"12.3.4\"", "invalid_amount"},
      {"\"\"", "invalid_amount"},
      {"\"-\"", "invalid_amount"},
      {"\"-.5\"", "invalid_amount"},
      {"\".5\"", "invalid_amount"},
      {"\"5.\"", "invalid_amount"},
      {"\"+1\"", "invalid_amount"},
      {"\"1e3\"", "invalid_amount"},
      {"\"129,90\"", "invalid_amount"},
      {"\" 1\"", "invalid_amount"},
      {"\"1 \"", "invalid_amount"},
      {"\"1\\n\"", "invalid_amount"},
      {"\"--1\"", "invalid_amount"},
      {"129.9", "wrong_type"},
      {"130", "wrong_type"},
      {"true", "wrong_type"},
  };
  CHECK("total_amount", 1, cases);
}

static void test_currency(void **state) {
  static const value_case_t cases[] = {
      {"\"EUR\"", NULL},
      {"\"JPY\"", NULL},
      {"null", NULL},
      {NULL, NULL},
      {"\"eur\"", "invalid_currency"},
      {"\"EU\"", "invalid_currency"},
      {"\"EURO\"", "invalid_currency"},
      {"\"EU1\"", "invalid_currency"},
      {"\"\"", "invalid_currency"},
      {"\"EUR\\n\"", "invalid_currency"},
      {"\"\\u00c4UR\"", "invalid_currency"},
      {"978", "wrong_type"},
  };
  CHECK("currency", 1, cases);
}

static void test_timestamp(void **state) {
  static const value_case_t cases[] = {
      {"\"2026-11-23T10:00:00Z\"", NULL},
      {"\"2026-11-23T10:00:00.000Z\"", NULL},
      {"\"2026-11-23t10:00:00.123456789z\"", NULL},
      {"\"2026-11-23T11:00:00+01:00\"", NULL},
      {"\"2026-11-23T05:30:00-04:30\"", NULL},
      {"\"2028-02-29T00:00:00Z\"", NULL},
      {"\"2000-02-29T00:00:00Z\"", NULL},
      {"\"2026-12-31T23:59:60Z\"", NULL},
      {"\"2026-01-31T00:00:00Z\"", NULL},
      {"\"2026-04-30T00:00:00Z\"", NULL},
      {"\"2027-02-29T00:00:00Z\"", "invalid_timestamp"},
      {"\"1900-02-29T00:00:00Z\"", "invalid_timestamp"},
      {"\"2026-02-30T00:00:00Z\"", "invalid_timestamp"},
      {"\"2026-04-31T00:00:00Z\"", "invalid_timestamp"},
      {"\"2026-00-10T00:00:00Z\"", "invalid_timestamp"},
      {"\"2026-13-10T00:00:00Z\"", "invalid_timestamp"},
      {"\"2026-11-00T00:00:00Z\"", "invalid_timestamp"},
      {"\"2026-11-23T24:00:00Z\"", "invalid_timestamp"},
      {"\"2026-11-23T10:60:00Z\"", "invalid_timestamp"},
      {"\"2026-11-23T10:00:61Z\"", "invalid_timestamp"},
      {"\"2026-11-23T10:00:00\"", "invalid_timestamp"},
      {"\"2026-11-23 10:00:00Z\"", "invalid_timestamp"},
      {"\"2026-11-23T10:00Z\"", "invalid_timestamp"},
      {"\"2026-11-23T10:00:00.Z\"", "invalid_timestamp"},
      {"\"2026-11-23T10:00:00+0100\"", "invalid_timestamp"},
      {"\"2026-11-23T10:00:00+24:00\"", "invalid_timestamp"},
      {"\"2026-11-23T10:00:00Z \"", "invalid_timestamp"},
      {"\"2026-11-23T10:00:00Z\\n\"", "invalid_timestamp"},
      {"\"2026-11-23\"", "invalid_timestamp"},
      {"\"\"", "invalid_timestamp"},
      {"1795428000000", "wrong_type"},
      {NULL, "missing_field"},
  };
  CHECK("timestamp", 0, cases);
}

static void test_timestamp_ms(void **state) {
  /* The offset is applied: 11:00+01:00 is 10:00Z. */
  char *text = event_with("timestamp", 0, "\"2026-11-23T11:00:00.250+01:00\"");
  op_order_event_t ev;
  assert_int_equal(op_contract_parse_order_event(text, strlen(text), &ev, NULL), 0);
  assert_int_equal(ev.timestamp_ms, INT64_C(1795428000250));
  op_order_event_clear(&ev);
  free(text);
}

static void test_event_type(void **state) {
  static const value_case_t cases[] = {
      {"\"order_created\"", NULL},
      {"\"order_paid\"", NULL},
      {"\"order_status_updated\"", NULL},
      {"\"order_exploded\"", "unknown_event_type"},
      {"\"Order_Paid\"", "unknown_event_type"},
      {"\"order_paid \"", "unknown_event_type"},
      {"\"order_pai\"", "unknown_event_type"},
      {"\"\"", "unknown_event_type"},
      {"[\"order_paid\"]", "wrong_type"},
      {"null", "wrong_type"},
      {NULL, "missing_field"},
  };
  CHECK("event_type", 0, cases);
}

static void test_schema_version(void **state) {
  static const value_case_t cases[] = {
      {NULL, NULL},
      {"1", NULL},
      {"1.0", NULL},
      {"1e0", NULL},
      {"2", "unsupported_schema_version"},
      {"0", "unsupported_schema_version"},
      {"-1", "unsupported_schema_version"},
      {"2.0", "unsupported_schema_version"},
      {"1e300", "unsupported_schema_version"},
      {"1.5", "wrong_type"},
      {"\"1\"", "wrong_type"},
      {"null", "wrong_type"},
      {"true", "wrong_type"},
  };
  CHECK("schema_version", 0, cases);
}

static void test_ids_count_bytes(void **state) {
  /* 128 bytes pass and 129 fail, whatever the characters: 64 x "ü" is 64
   * characters, 128 bytes; 43 x "€" is 43 characters but 129 bytes, which
   * the schema's maxLength would let through (see validate.h). */
  char *ascii128 = repeat("x", 128), *ascii129 = repeat("x", 129);
  char *u128 = repeat("\xc3\xbc", 64), *euro129 = repeat("\xe2\x82\xac", 43);
  const value_case_t cases[] = {
      {"\"a\"", NULL},          {ascii128, NULL},        {u128, NULL},
      {ascii129, "invalid_id"}, {euro129, "invalid_id"}, {"\"\"", "invalid_id"},
      {"42", "wrong_type"},     {"null", "wrong_type"},  {NULL, "missing_field"},
  };
  static const char *const ids[] = {"event_id", "order_id", "tenant_id"};
  for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
    CHECK(ids[i], 0, cases);
  /* payload.user_id is optional and nullable. */
  const value_case_t user[] = {
      {ascii128, NULL},        {u128, NULL},           {"null", NULL},      {NULL, NULL},
      {euro129, "invalid_id"}, {"\"\"", "invalid_id"}, {"7", "wrong_type"},
  };
  CHECK("user_id", 1, user);
  free(ascii128);
  free(ascii129);
  free(u128);
  free(euro129);
}

static void test_text_counts_characters(void **state) {
  /* status and reference are limited in characters, as the schema says. */
  char *s64 = repeat("\xc3\xa9", 64), *s65 = repeat("e", 65), *m65 = repeat("\xc3\xa9", 65);
  char *r256 = repeat("\xf0\x9f\x8d\x95", 256), *r257 = repeat("r", 257);
  const value_case_t status[] = {
      {"\"x\"", NULL},
      {s64, NULL},
      {s65, "invalid_status"},
      {m65, "invalid_status"},
      {"\"\"", "invalid_status"},
      {"true", "wrong_type"},
      {"null", "wrong_type"},
      {NULL, "missing_field"},
  };
  CHECK("status", 1, status);
  const value_case_t reference[] = {
      {"\"\"", NULL},
      {r256, NULL},
      {"null", NULL},
      {NULL, NULL},
      {"\"\\ud83c\\udf55\"", NULL},
      {r257, "invalid_reference"},
      {"{}", "wrong_type"},
  };
  CHECK("reference", 1, reference);
  free(s64);
  free(s65);
  free(m65);
  free(r256);
  free(r257);
}

static void test_payload_and_root_shapes(void **state) {
  static const char *const not_objects[] = {"[]", "\"x\"", "42", "null", "true"};
  for (size_t i = 0; i < sizeof not_objects / sizeof not_objects[0]; i++) {
    op_order_event_t ev;
    op_contract_error_t err;
    assert_int_equal(
        op_contract_parse_order_event(not_objects[i], strlen(not_objects[i]), &ev, &err),
        OP_EINVAL);
    assert_string_equal(err.reason, "not_an_object");
  }
  static const char *const payloads[] = {"\"paid\"", "[]", "null", "1"};
  for (size_t i = 0; i < sizeof payloads / sizeof payloads[0]; i++) {
    char text[512];
    snprintf(text, sizeof text,
             "{\"event_id\":\"e\",\"event_type\":\"order_paid\",\"order_id\":\"o\","
             "\"tenant_id\":\"t\",\"timestamp\":\"2026-11-23T10:00:00Z\",\"payload\":%s}",
             payloads[i]);
    op_order_event_t ev;
    op_contract_error_t err;
    assert_int_equal(op_contract_parse_order_event(text, strlen(text), &ev, &err), OP_EINVAL);
    assert_string_equal(err.reason, "wrong_type");
    assert_non_null(strstr(err.message, "payload must be an object"));
  }
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_amount),
      cmocka_unit_test(test_currency),
      cmocka_unit_test(test_timestamp),
      cmocka_unit_test(test_timestamp_ms),
      cmocka_unit_test(test_event_type),
      cmocka_unit_test(test_schema_version),
      cmocka_unit_test(test_ids_count_bytes),
      cmocka_unit_test(test_text_counts_characters),
      cmocka_unit_test(test_payload_and_root_shapes),
  };
  if (argc > 1)
    cmocka_set_test_filter(argv[1]);
  return cmocka_run_group_tests(tests, NULL, NULL);
}
