/* The order service's pure rules: request validation, states, consumed messages, cursors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "contracts/messages.h"
#include "core/err.h"
#include "order/rules.h"

/* The last body checked: req's strings point into it until the next check. */
static json_t *last_doc;

static void release_last(void) {
  json_decref(last_doc);
  last_doc = NULL;
}

/* Checks body; returns the comma-joined field names reported ("" when valid). */
static char *check(const char *body, op_order_req_t *req) {
  static char out[1024];
  release_last();
  json_t *doc = last_doc = json_loads(body, 0, NULL);
  assert_non_null(doc);
  json_t *fields = json_array();
  int rc = op_order_req_check(doc, req, fields);
  out[0] = '\0';
  size_t i;
  json_t *f;
  json_array_foreach(fields, i, f) {
    if (i)
      strcat(out, ",");
    strcat(out, json_string_value(json_object_get(f, "field")));
    assert_true(strlen(json_string_value(json_object_get(f, "reason"))) > 0);
  }
  assert_int_equal(rc == 0, out[0] == '\0');
  json_decref(fields);
  return out;
}

static void test_valid_request_total_is_exact(void **state) {
  op_order_req_t *req = malloc(sizeof *req);
  /* 3 x 0.10 is 0.30 exactly (a double gives 0.30000000000000004). */
  assert_string_equal(check("{\"line_items\":[{\"sku\":\"a\",\"qty\":3,\"unit_price\":\"0.10\"},"
                            "{\"sku\":\"b\",\"qty\":1,\"unit_price\":\"1.0001\"},"
                            "{\"sku\":\"a\",\"qty\":1,\"unit_price\":\"0\"}],"
                            "\"currency\":\"EUR\",\"reference\":null}",
                            req),
                      "");
  assert_string_equal(req->total, "1.3001");
  assert_int_equal(req->nitems, 3);
  assert_int_equal(req->distinct_skus, 2);
  assert_null(req->reference);
  assert_string_equal(req->currency, "EUR");
  release_last();
  free(req);
}

static void test_every_bad_field_is_named(void **state) {
  op_order_req_t *req = malloc(sizeof *req);
  struct {
    const char *body, *fields;
  } cases[] = {
      {"{}", "line_items,currency"},
      {"[]", "body"},
      {"{\"line_items\":[],\"currency\":\"EUR\"}", "line_items"},
      {"{\"line_items\":[1],\"currency\":\"EUR\",\"x\":1}", "x,line_items[0]"},
      {"{\"line_items\":[{\"sku\":\"\",\"qty\":0,\"unit_price\":\"-1\",\"y\":2}],"
       "\"currency\":\"eur\",\"reference\":7}",
       "line_items[0].y,line_items[0].sku,line_items[0].qty,line_items[0].unit_price,currency,"
       "reference"},
      {"{\"line_items\":[{\"sku\":\"a\",\"qty\":10001,\"unit_price\":1.5}],\"currency\":\"EURO\"}",
       "line_items[0].qty,line_items[0].unit_price,currency"},
      {"{\"line_items\":[{\"sku\":\"a\",\"qty\":2.0,\"unit_price\":\"1.23456\"}],"
       "\"currency\":\"EUR\"}",
       "line_items[0].qty,line_items[0].unit_price"},
      {"{\"line_items\":[{\"sku\":\"a\",\"qty\":10000,"
       "\"unit_price\":\"999999999999999.9999\"}],\"currency\":\"EUR\"}",
       "total_amount"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    assert_string_equal(check(cases[i].body, req), cases[i].fields);
  release_last();
  /* 101 items, a 129-byte sku, a 257-character reference. */
  json_t *doc = json_pack("{s:[], s:s}", "line_items", "currency", "EUR");
  for (int i = 0; i < 101; i++)
    json_array_append_new(json_object_get(doc, "line_items"),
                          json_pack("{s:s, s:i, s:s}", "sku", "a", "qty", 1, "unit_price", "1"));
  json_t *fields = json_array();
  assert_int_equal(op_order_req_check(doc, req, fields), OP_EINVAL);
  assert_string_equal(json_string_value(json_object_get(json_array_get(fields, 0), "field")),
                      "line_items");
  json_decref(fields);
  json_decref(doc);
  char sku[130], ref[600];
  memset(sku, 's', 129);
  sku[129] = '\0';
  /* 257 characters of two bytes each, and 256 of them, which pass. */
  for (int n = 257; n >= 256; n--) {
    ref[0] = '\0';
    for (int i = 0; i < n; i++)
      strcat(ref, i < 256 / 2 ? "\xc3\xa9" : "e");
    doc = json_pack("{s:[{s:s, s:i, s:s}], s:s, s:s}", "line_items", "sku", n == 257 ? sku : "a",
                    "qty", 1, "unit_price", "1", "currency", "EUR", "reference", ref);
    assert_non_null(doc);
    fields = json_array();
    assert_int_equal(op_order_req_check(doc, req, fields), n == 257 ? OP_EINVAL : 0);
    assert_int_equal(json_array_size(fields), n == 257 ? 2 : 0);
    json_decref(fields);
    json_decref(doc);
  }
  free(req);
}

static void test_idempotency_keys(void **state) {
  char key[300];
  memset(key, 'k', 255);
  key[255] = '\0';
  assert_true(op_order_idem_key_ok(key));
  key[255] = 'k';
  key[256] = '\0';
  assert_false(op_order_idem_key_ok(key));
  assert_false(op_order_idem_key_ok(""));
  assert_false(op_order_idem_key_ok("a\tb"));
  assert_false(op_order_idem_key_ok("caf\xc3\xa9"));
  assert_true(op_order_idem_key_ok("order 1/2 ~!"));
}

static void test_state_machine(void **state) {
  assert_string_equal(op_order_after_payment("created", 1), "paid");
  assert_string_equal(op_order_after_payment("created", 0), "payment_failed");
  const char *later[] = {"paid",         "payment_failed", "reserved",
                         "out_of_stock", "cancelled",      "fulfilled"};
  for (size_t i = 0; i < 6; i++) {
    assert_null(op_order_after_payment(later[i], 1));
    assert_null(op_order_after_payment(later[i], 0));
    if (strcmp(later[i], "paid") != 0)
      assert_null(op_order_after_stock(later[i], 1, 1, 0));
  }
  assert_null(op_order_after_stock("created", 2, 2, 0)); /* kept until paid */
  assert_null(op_order_after_stock("paid", 2, 1, 0));
  assert_string_equal(op_order_after_stock("paid", 2, 2, 0), "reserved");
  assert_string_equal(op_order_after_stock("paid", 2, 1, 1), "out_of_stock");
  assert_string_equal(op_order_after_stock("paid", 2, 2, 1), "out_of_stock");
  assert_null(op_order_after_stock("cancelled", 2, 2, 0));
  assert_true(op_order_can_cancel("created") && op_order_can_cancel("paid") &&
              op_order_can_cancel("reserved"));
  assert_false(op_order_can_cancel("payment_failed") || op_order_can_cancel("cancelled") ||
               op_order_can_cancel("fulfilled") || op_order_can_cancel("out_of_stock"));
  assert_true(op_order_can_fulfill("reserved"));
  assert_false(op_order_can_fulfill("paid") || op_order_can_fulfill("created"));
  assert_true(op_order_status_known("out_of_stock"));
  assert_false(op_order_status_known("shipped"));
}

#define PAY                                                                                        \
  "{\"order_id\":\"ord_1\",\"tenant_id\":\"t\",\"payment_id\":\"p\",\"state\":\"%s\",%s"           \
  "\"amount\":\"1.00\",\"currency\":\"EUR\",\"processed_at\":\"2026-11-23T10:00:00Z\","            \
  "\"trace_id\":\"%s\"}"
#define TRACE "4bf92f3577b34da6a3ce929d0e0e4736"

/* The service consumes through the shared parsers (contracts/messages.h);
 * these pin the reason tokens its DLQ reports and the fields it reads. */
static const char *parse_pay(const char *state, const char *extra, const char *trace) {
  char buf[512];
  snprintf(buf, sizeof buf, PAY, state, extra, trace);
  op_payment_completed_t p;
  op_contract_error_t err;
  if (op_contract_parse_payment_completed(buf, strlen(buf), &p, &err) != 0)
    return err.reason;
  assert_int_equal(p.succeeded, strcmp(state, "succeeded") == 0);
  op_payment_completed_clear(&p);
  return "ok";
}

static void test_consumed_messages(void **state) {
  assert_string_equal(parse_pay("succeeded", "", TRACE), "ok");
  assert_string_equal(parse_pay("failed", "\"reason\":\"card_declined\",", TRACE), "ok");
  assert_string_equal(parse_pay("failed", "", TRACE), "missing_field");
  assert_string_equal(parse_pay("failed", "\"reason\":\"\",", TRACE), "invalid_reason");
  assert_string_equal(parse_pay("maybe", "", TRACE), "invalid_state");
  assert_string_equal(parse_pay("succeeded", "", "ABC"), "invalid_trace_id");
  assert_string_equal(parse_pay("succeeded", "\"order_id\":\"x\",", TRACE), "duplicate_key");
  op_payment_completed_t p;
  op_contract_error_t err;
  assert_int_equal(op_contract_parse_payment_completed("nope", 4, &p, &err), OP_EINVAL);
  assert_string_equal(err.reason, "invalid_json");
  assert_int_equal(op_contract_parse_payment_completed("[]", 2, &p, &err), OP_EINVAL);
  assert_string_equal(err.reason, "not_an_object");
  const char *stock = "{\"sku\":\"s\",\"tenant_id\":\"t\",\"order_id\":\"o\",\"delta\":-2,"
                      "\"reservation_id\":\"r\",\"state\":\"reserved\","
                      "\"processed_at\":\"2026-11-23T10:00:00.000Z\",\"trace_id\":\"" TRACE "\"}";
  op_inventory_updated_t s;
  assert_int_equal(op_contract_parse_inventory_updated(stock, strlen(stock), &s, &err), 0);
  assert_string_equal(s.state, "reserved");
  assert_string_equal(s.reservation_id, "r");
  op_inventory_updated_clear(&s);
  assert_int_equal(op_contract_parse_inventory_updated("{\"sku\":\"\"}", 10, &s, &err), OP_EINVAL);
  assert_string_equal(err.reason, "invalid_id");
  const char *text_delta = "{\"sku\":\"s\",\"tenant_id\":\"t\",\"order_id\":\"o\",\"delta\":\"1\"}";
  assert_int_equal(op_contract_parse_inventory_updated(text_delta, strlen(text_delta), &s, &err),
                   OP_EINVAL);
  assert_string_equal(err.reason, "wrong_type");
}

static void test_cursor_round_trip(void **state) {
  char enc[17];
  int64_t seq;
  op_order_cursor_encode(12345, enc);
  assert_int_equal(strlen(enc), 16);
  assert_int_equal(op_order_cursor_decode(enc, &seq), 0);
  assert_int_equal(seq, 12345);
  assert_int_equal(op_order_cursor_decode("0000000000000000", &seq), OP_EINVAL);
  assert_int_equal(op_order_cursor_decode("zz", &seq), OP_EINVAL);
  assert_int_equal(op_order_cursor_decode("ffffffffffffffff", &seq), OP_EINVAL);
  assert_int_equal(op_order_cursor_decode("000000000000000G", &seq), OP_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_valid_request_total_is_exact),
      cmocka_unit_test(test_every_bad_field_is_named),
      cmocka_unit_test(test_idempotency_keys),
      cmocka_unit_test(test_state_machine),
      cmocka_unit_test(test_consumed_messages),
      cmocka_unit_test(test_cursor_round_trip),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
