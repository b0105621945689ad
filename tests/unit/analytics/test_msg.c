/* Analytics' reader of every topic: contract rules, reason tokens and message
 * identities. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "analytics/msg.h"
#include "core/err.h"

#define TRACE "\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\""

static const char *reason_of(op_an_kind_t kind, const char *json) {
  static op_contract_error_t err;
  op_an_msg_t msg;
  memset(&err, 0, sizeof err);
  int rc = op_an_msg_parse(kind, json, strlen(json), &msg, &err);
  if (rc == 0) {
    op_an_msg_clear(&msg);
    return "ok";
  }
  assert_int_equal(rc, OP_EINVAL);
  return err.reason;
}

static const char *PAY_OK =
    "{\"order_id\":\"o1\",\"tenant_id\":\"t\",\"payment_id\":\"p1\",\"state\":\"succeeded\","
    "\"amount\":\"129.90\",\"currency\":\"EUR\",\"processed_at\":\"2026-11-23T10:00:00Z\"," TRACE
    "}";

static void test_payment(void **state) {
  op_an_msg_t msg;
  op_contract_error_t err;
  assert_int_equal(op_an_msg_parse(OP_AN_PAYMENT, PAY_OK, strlen(PAY_OK), &msg, &err), 0);
  assert_string_equal(msg.tenant_id, "t");
  assert_string_equal(msg.currency, "EUR");
  assert_true(msg.succeeded);
  assert_true(msg.amount == (op_dec_t)1299000);
  assert_string_equal(msg.key, "payments.completed|1:t|2:o1|9:succeeded|2:p1");
  op_an_msg_clear(&msg);

  assert_string_equal(reason_of(OP_AN_PAYMENT,
                                "{\"order_id\":\"o1\",\"tenant_id\":\"t\",\"payment_id\":\"p\","
                                "\"state\":\"failed\",\"amount\":\"1.00\",\"currency\":\"EUR\","
                                "\"processed_at\":\"2026-11-23T10:00:00Z\"," TRACE "}"),
                      "missing_field"); /* reason is required when failed */
  assert_string_equal(reason_of(OP_AN_PAYMENT,
                                "{\"order_id\":\"o1\",\"tenant_id\":\"t\",\"payment_id\":\"p\","
                                "\"state\":\"pending\",\"amount\":\"1.00\",\"currency\":\"EUR\","
                                "\"processed_at\":\"2026-11-23T10:00:00Z\"," TRACE "}"),
                      "invalid_state");
  assert_string_equal(reason_of(OP_AN_PAYMENT,
                                "{\"order_id\":\"o1\",\"tenant_id\":\"t\",\"payment_id\":\"p\","
                                "\"state\":\"succeeded\",\"amount\":\"1.00001\","
                                "\"currency\":\"EUR\","
                                "\"processed_at\":\"2026-11-23T10:00:00Z\"," TRACE "}"),
                      "invalid_amount");
  assert_string_equal(reason_of(OP_AN_PAYMENT,
                                "{\"order_id\":\"\",\"tenant_id\":\"t\",\"payment_id\":\"p\","
                                "\"state\":\"succeeded\",\"amount\":\"1.00\","
                                "\"currency\":\"EUR\","
                                "\"processed_at\":\"2026-11-23T10:00:00Z\"," TRACE "}"),
                      "invalid_id");
  assert_string_equal(reason_of(OP_AN_PAYMENT,
                                "{\"order_id\":\"o\",\"tenant_id\":\"t\",\"payment_id\":\"p\","
                                "\"state\":\"succeeded\",\"amount\":\"1.00\","
                                "\"currency\":\"EUR\","
                                "\"processed_at\":\"2026-11-23T10:00:00Z\"}"),
                      "missing_field"); /* trace_id is required on this topic */
}

static void test_inventory_available(void **state) {
  const char *base = "{\"sku\":\"S-1\",\"tenant_id\":\"t\",\"order_id\":\"o\",\"delta\":-2,"
                     "\"reservation_id\":\"r\",\"state\":\"reserved\","
                     "\"processed_at\":\"2026-11-23T10:00:00.5+01:00\"," TRACE;
  char doc[512];
  op_an_msg_t msg;
  op_contract_error_t err;
  snprintf(doc, sizeof doc, "%s,\"available\":4}", base);
  assert_int_equal(op_an_msg_parse(OP_AN_INVENTORY, doc, strlen(doc), &msg, &err), 0);
  assert_true(msg.has_available);
  assert_int_equal(msg.available, 4);
  assert_string_equal(msg.sku, "S-1");
  assert_string_equal(msg.key, "inventory.updated|1:t|1:r|3:S-1|8:reserved");
  op_an_msg_clear(&msg);
  snprintf(doc, sizeof doc, "%s}", base);
  assert_int_equal(op_an_msg_parse(OP_AN_INVENTORY, doc, strlen(doc), &msg, &err), 0);
  assert_false(msg.has_available); /* optional */
  op_an_msg_clear(&msg);
  snprintf(doc, sizeof doc, "%s,\"available\":-1}", base);
  assert_string_equal(reason_of(OP_AN_INVENTORY, doc), "invalid_value");
  snprintf(doc, sizeof doc, "%s,\"available\":1.5}", base);
  assert_string_equal(reason_of(OP_AN_INVENTORY, doc), "wrong_type");
}

static void test_created_audit_notification(void **state) {
  assert_string_equal(
      reason_of(OP_AN_ORDER_CREATED,
                "{\"order_id\":\"o\",\"tenant_id\":\"t\",\"line_items\":[{\"sku\":\"S\","
                "\"qty\":2,\"unit_price\":\"10.00\"}],\"total_amount\":\"20.00\","
                "\"currency\":\"EUR\",\"created_at\":\"2028-02-29T10:00:00Z\"}"),
      "ok");
  assert_string_equal(
      reason_of(OP_AN_ORDER_CREATED,
                "{\"order_id\":\"o\",\"tenant_id\":\"t\",\"line_items\":[{\"sku\":\"S\","
                "\"qty\":0,\"unit_price\":\"10.00\"}],\"total_amount\":\"20.00\","
                "\"currency\":\"EUR\",\"created_at\":\"2026-11-23T10:00:00Z\"}"),
      "invalid_qty");
  assert_string_equal(reason_of(OP_AN_ORDER_CREATED,
                                "{\"order_id\":\"o\",\"tenant_id\":\"t\",\"line_items\":[],"
                                "\"total_amount\":\"20.00\",\"currency\":\"EUR\","
                                "\"created_at\":\"2026-11-23T10:00:00Z\"}"),
                      "invalid_line_items");
  assert_string_equal(
      reason_of(OP_AN_ORDER_CREATED,
                "{\"order_id\":\"o\",\"tenant_id\":\"t\",\"line_items\":[{\"sku\":\"S\","
                "\"qty\":1,\"unit_price\":\"10.00\"}],\"total_amount\":\"20.00\","
                "\"currency\":\"EURO\",\"created_at\":\"2026-11-23T10:00:00Z\"}"),
      "invalid_currency");
  /* 2027 is not a leap year. */
  assert_string_equal(reason_of(OP_AN_AUDIT,
                                "{\"order_id\":\"o\",\"tenant_id\":\"t\","
                                "\"action\":\"paid\",\"at\":\"2027-02-29T10:00:00Z\"}"),
                      "invalid_timestamp");
  op_an_msg_t msg;
  op_contract_error_t err;
  const char *audit =
      "{\"order_id\":\"o\",\"tenant_id\":\"t\",\"action\":\"paid\","
      "\"from_status\":null,\"to_status\":\"paid\",\"at\":\"2026-11-23T10:00:00Z\"}";
  assert_int_equal(op_an_msg_parse(OP_AN_AUDIT, audit, strlen(audit), &msg, &err), 0);
  assert_string_equal(msg.key, "orders.audit|1:t|1:o|4:paid|4:paid|20:2026-11-23T10:00:00Z");
  op_an_msg_clear(&msg);
  assert_string_equal(reason_of(OP_AN_NOTIFICATION,
                                "{\"notification_id\":\"n\",\"tenant_id\":\"t\",\"user_id\":\"u\","
                                "\"channel\":\"in_app\",\"template\":\"x\",\"state\":\"sent\","
                                "\"order_id\":\"o\"," TRACE "}"),
                      "missing_field"); /* sent_at when sent */
}

static void test_order_event_uses_the_contract_validator(void **state) {
  const char *ev = "{\"event_id\":\"e1\",\"event_type\":\"order_paid\",\"order_id\":\"o\","
                   "\"tenant_id\":\"t\",\"timestamp\":\"2026-11-23T10:00:01.250Z\","
                   "\"payload\":{\"status\":\"paid\"}}";
  op_an_msg_t msg;
  op_contract_error_t err;
  assert_int_equal(op_an_msg_parse(OP_AN_ORDER_EVENT, ev, strlen(ev), &msg, &err), 0);
  assert_string_equal(msg.event_type, "order_paid");
  assert_string_equal(msg.status, "paid");
  assert_int_equal(msg.ts_ms % 1000, 250);
  assert_string_equal(msg.key, "orders.events|1:t|2:e1");
  op_an_msg_clear(&msg);
  assert_string_equal(reason_of(OP_AN_ORDER_EVENT, "{\"event_id\":\"e1\"}"), "missing_field");
}

static void test_kinds(void **state) {
  for (int k = 0; k < OP_AN_KINDS; k++)
    assert_int_equal(op_an_kind_of(op_an_topics[k]), k);
  assert_int_equal(op_an_kind_of("orders.events.dlq"), -1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_payment),
      cmocka_unit_test(test_inventory_available),
      cmocka_unit_test(test_created_audit_notification),
      cmocka_unit_test(test_order_event_uses_the_contract_validator),
      cmocka_unit_test(test_kinds),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
