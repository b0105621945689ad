/*
 * op_contract_parse_order_event: what a successful parse hands over, who owns
 * it, and what a failed one leaves behind. The rules for each field's value
 * are in test_values.c; the shared samples in test_samples.c.
 *
 * Run one test alone: contracts_test_parse <name-pattern>.
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

#define EXAMPLE                                                                                    \
  "{\"event_id\":\"5f0c6c1e-8a2b-4c1d-9e3f-0a1b2c3d4e5f\",\"event_type\":\"order_paid\","          \
  "\"order_id\":\"ord_123\",\"tenant_id\":\"t_acme\",\"timestamp\":\"2026-11-23T10:00:00.000Z\","  \
  "\"payload\":{\"status\":\"paid\",\"reference\":\"A-1001\",\"total_amount\":\"129.90\","         \
  "\"currency\":\"EUR\",\"user_id\":\"u_7\"}}"

#define MINIMAL                                                                                    \
  "{\"event_id\":\"e1\",\"event_type\":\"order_created\",\"order_id\":\"o1\","                     \
  "\"tenant_id\":\"t1\",\"timestamp\":\"2026-11-23T10:00:00Z\",\"payload\":{\"status\":\"new\"}}"

/* Parses a copy of text in a heap buffer of exactly its length, with no NUL
 * after it, so that the sanitizer catches any read past the end. The copy is
 * freed before returning: whatever the test reads afterwards must live in the
 * parsed document, not in the input. */
static int parse_exact(const char *text, op_order_event_t *ev, op_contract_error_t *err) {
  size_t len = strlen(text);
  char *copy = malloc(len ? len : 1);
  assert_non_null(copy);
  memcpy(copy, text, len);
  int rc = op_contract_parse_order_event(copy, len, ev, err);
  if (rc == 0) {
    assert_ptr_equal(ev->raw, copy);
    assert_int_equal(ev->raw_len, len);
    ev->raw = NULL; /* borrowed from the buffer freed below */
  }
  free(copy);
  return rc;
}

static void test_design_example(void **state) {
  op_order_event_t ev;
  op_contract_error_t err;
  assert_int_equal(parse_exact(EXAMPLE, &ev, &err), 0);
  assert_string_equal(ev.event_id, "5f0c6c1e-8a2b-4c1d-9e3f-0a1b2c3d4e5f");
  assert_string_equal(ev.event_type, "order_paid");
  assert_string_equal(ev.order_id, "ord_123");
  assert_string_equal(ev.tenant_id, "t_acme");
  assert_string_equal(ev.timestamp, "2026-11-23T10:00:00.000Z");
  assert_int_equal(ev.timestamp_ms, INT64_C(1795428000000));
  assert_int_equal(ev.schema_version, 1);
  assert_string_equal(ev.status, "paid");
  assert_string_equal(ev.reference, "A-1001");
  assert_string_equal(ev.total_amount, "129.90");
  assert_string_equal(ev.currency, "EUR");
  assert_string_equal(ev.user_id, "u_7");
  /* Transport fields are the caller's to fill. */
  assert_null(ev.trace_id);
  assert_int_equal(ev.partition, 0);
  assert_int_equal(ev.offset, 0);
  assert_non_null(ev.doc);
  op_order_event_clear(&ev);
  assert_null(ev.doc);
}

static void test_optional_fields_absent_or_null(void **state) {
  op_order_event_t ev;
  assert_int_equal(parse_exact(MINIMAL, &ev, NULL), 0);
  assert_string_equal(ev.status, "new");
  assert_null(ev.reference);
  assert_null(ev.total_amount);
  assert_null(ev.currency);
  assert_null(ev.user_id);
  op_order_event_clear(&ev);

  const char *nulls = "{\"event_id\":\"e1\",\"event_type\":\"order_paid\",\"order_id\":\"o1\","
                      "\"tenant_id\":\"t1\",\"timestamp\":\"2026-11-23T10:00:00Z\",\"payload\":"
                      "{\"status\":\"paid\",\"reference\":null,\"total_amount\":null,"
                      "\"currency\":null,\"user_id\":null}}";
  assert_int_equal(parse_exact(nulls, &ev, NULL), 0);
  assert_null(ev.reference);
  assert_null(ev.total_amount);
  assert_null(ev.currency);
  assert_null(ev.user_id);
  op_order_event_clear(&ev);
}

static void test_event_type_is_static(void **state) {
  /* event_type points at a static string: it may key a metrics label cache
   * and stays valid after the document is freed. */
  op_order_event_t a, b;
  assert_int_equal(parse_exact(EXAMPLE, &a, NULL), 0);
  assert_int_equal(parse_exact(EXAMPLE, &b, NULL), 0);
  assert_ptr_equal(a.event_type, b.event_type);
  const char *type = a.event_type;
  op_order_event_clear(&a);
  op_order_event_clear(&b);
  assert_string_equal(type, "order_paid");
}

static void test_clear_twice_and_on_zeroed_event(void **state) {
  op_order_event_t ev;
  assert_int_equal(parse_exact(EXAMPLE, &ev, NULL), 0);
  op_order_event_clear(&ev);
  op_order_event_clear(&ev);
  op_order_event_t zero;
  memset(&zero, 0, sizeof zero);
  op_order_event_clear(&zero);
}

static void test_failure_leaves_event_zeroed(void **state) {
  op_order_event_t ev, zero;
  memset(&zero, 0, sizeof zero);
  memset(&ev, 0x5A, sizeof ev);
  op_contract_error_t err;
  /* Breaks the last rule, after every other field was stored. */
  const char *bad = "{\"event_id\":\"e1\",\"event_type\":\"order_paid\",\"order_id\":\"o1\","
                    "\"tenant_id\":\"t1\",\"timestamp\":\"2026-11-23T10:00:00Z\",\"payload\":"
                    "{\"status\":\"paid\",\"user_id\":\"\"}}";
  assert_int_equal(parse_exact(bad, &ev, &err), OP_EINVAL);
  assert_string_equal(err.reason, "invalid_id");
  assert_memory_equal(&ev, &zero, sizeof ev);
  op_order_event_clear(&ev); /* allowed, and a no-op */
}

static void test_error_is_optional(void **state) {
  op_order_event_t ev;
  assert_int_equal(parse_exact("[]", &ev, NULL), OP_EINVAL);
  assert_int_equal(op_contract_parse_order_event(NULL, 0, &ev, NULL), OP_EINVAL);
}

static void test_empty_and_null_input(void **state) {
  op_order_event_t ev;
  op_contract_error_t err;
  assert_int_equal(op_contract_parse_order_event(NULL, 0, &ev, &err), OP_EINVAL);
  assert_string_equal(err.reason, "invalid_json");
  assert_string_equal(err.message, "the event is empty");
}

static void test_first_broken_rule_is_reported(void **state) {
  /* event_id is missing and the amount is bad: fields are checked in the
   * schema's order, so event_id is the one reported. */
  op_order_event_t ev;
  op_contract_error_t err;
  const char *bad = "{\"event_type\":\"order_paid\",\"order_id\":\"o1\",\"tenant_id\":\"t1\","
                    "\"timestamp\":\"2026-11-23T10:00:00Z\",\"payload\":{\"status\":\"paid\","
                    "\"total_amount\":12.5}}";
  assert_int_equal(parse_exact(bad, &ev, &err), OP_EINVAL);
  assert_string_equal(err.reason, "missing_field");
  assert_string_equal(err.message, "event_id is required");
}

static void test_messages_name_the_field(void **state) {
  op_order_event_t ev;
  op_contract_error_t err;
  const char *amount = "{\"event_id\":\"e1\",\"event_type\":\"order_paid\",\"order_id\":\"o1\","
                       "\"tenant_id\":\"t1\",\"timestamp\":\"2026-11-23T10:00:00Z\",\"payload\":"
                       "{\"status\":\"paid\",\"total_amount\":129.9}}";
  assert_int_equal(parse_exact(amount, &ev, &err), OP_EINVAL);
  assert_string_equal(err.reason, "wrong_type");
  assert_non_null(strstr(err.message, "payload.total_amount must be a decimal string like "
                                      "\"129.90\""));
  assert_non_null(strstr(err.message, "not a number"));

  const char *status = "{\"event_id\":\"e1\",\"event_type\":\"order_paid\",\"order_id\":\"o1\","
                       "\"tenant_id\":\"t1\",\"timestamp\":\"2026-11-23T10:00:00Z\",\"payload\":"
                       "{}}";
  assert_int_equal(parse_exact(status, &ev, &err), OP_EINVAL);
  assert_string_equal(err.reason, "missing_field");
  assert_string_equal(err.message, "payload.status is required");

  assert_int_equal(parse_exact("{\"a\":1,\"a\":2}", &ev, &err), OP_EINVAL);
  assert_string_equal(err.reason, "duplicate_key");
  assert_non_null(strstr(err.message, "\"a\""));

  assert_int_equal(parse_exact("{\"event_id\": tru}", &ev, &err), OP_EINVAL);
  assert_string_equal(err.reason, "invalid_json");
  assert_non_null(strstr(err.message, "line 1"));
}

static void test_messages_are_printable_ascii(void **state) {
  /* jansson quotes the input near the error; the message must still be safe
   * in a Kafka header and a JSON string. */
  static const char *inputs[] = {"{\"a\":tru\xc3\xa9}", "\xef\xbb\xbf{}", "{\"a\":\"\x01\"}",
                                 "{\"a\":\"\xff\xfe\"}"};
  for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
    op_order_event_t ev;
    op_contract_error_t err;
    assert_int_equal(parse_exact(inputs[i], &ev, &err), OP_EINVAL);
    assert_string_equal(err.reason, "invalid_json");
    for (const char *p = err.message; *p; p++)
      assert_true(*p >= 0x20 && *p <= 0x7E);
  }
}

static void test_nul_bytes_are_rejected(void **state) {
  op_order_event_t ev;
  op_contract_error_t err;
  static const char raw_in_string[] = "{\"event_id\":\"e\0\"}";
  assert_int_equal(
      op_contract_parse_order_event(raw_in_string, sizeof raw_in_string - 1, &ev, &err), OP_EINVAL);
  assert_string_equal(err.reason, "invalid_json");
  static const char raw_after[] = "{}\0";
  assert_int_equal(op_contract_parse_order_event(raw_after, sizeof raw_after - 1, &ev, &err),
                   OP_EINVAL);
  assert_string_equal(err.reason, "invalid_json");
  assert_int_equal(parse_exact("{\"event_id\":\"e\\u0000\"}", &ev, &err), OP_EINVAL);
  assert_string_equal(err.reason, "invalid_json");
}

static void test_size_limit(void **state) {
  /* A valid event padded to exactly OP_CONTRACT_MAX_BYTES passes; one byte
   * more is too_large, without being parsed. */
  size_t max = OP_CONTRACT_MAX_BYTES;
  char *buf = malloc(max + 1);
  assert_non_null(buf);
  const char *head = "{\"pad\":\"";
  char tail[256];
  snprintf(tail, sizeof tail, "\",%s", MINIMAL + 1); /* MINIMAL without its '{' */
  size_t hlen = strlen(head), tlen = strlen(tail);
  memcpy(buf, head, hlen);
  memset(buf + hlen, 'p', max - hlen - tlen);
  memcpy(buf + max - tlen, tail, tlen);
  op_order_event_t ev;
  op_contract_error_t err;
  assert_int_equal(op_contract_parse_order_event(buf, max, &ev, &err), 0);
  op_order_event_clear(&ev);
  buf[max] = ' ';
  assert_int_equal(op_contract_parse_order_event(buf, max + 1, &ev, &err), OP_EINVAL);
  assert_string_equal(err.reason, "too_large");
  assert_non_null(strstr(err.message, "1048577 bytes"));
  free(buf);
}

static void test_reason_tokens(void **state) {
  assert_int_equal(op_contract_reasons_len, 14);
  for (size_t i = 0; i < op_contract_reasons_len; i++) {
    const char *token = op_contract_reasons[i];
    assert_true(strlen(token) > 0);
    for (const char *p = token; *p; p++)
      assert_true((*p >= 'a' && *p <= 'z') || *p == '_');
    for (size_t j = 0; j < i; j++)
      assert_string_not_equal(token, op_contract_reasons[j]);
  }
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_design_example),
      cmocka_unit_test(test_optional_fields_absent_or_null),
      cmocka_unit_test(test_event_type_is_static),
      cmocka_unit_test(test_clear_twice_and_on_zeroed_event),
      cmocka_unit_test(test_failure_leaves_event_zeroed),
      cmocka_unit_test(test_error_is_optional),
      cmocka_unit_test(test_empty_and_null_input),
      cmocka_unit_test(test_first_broken_rule_is_reported),
      cmocka_unit_test(test_messages_name_the_field),
      cmocka_unit_test(test_messages_are_printable_ascii),
      cmocka_unit_test(test_nul_bytes_are_rejected),
      cmocka_unit_test(test_size_limit),
      cmocka_unit_test(test_reason_tokens),
  };
  if (argc > 1)
    cmocka_set_test_filter(argv[1]);
  return cmocka_run_group_tests(tests, NULL, NULL);
}
