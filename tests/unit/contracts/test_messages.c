/*
 * The validators of messages.h: every sample of tests/contracts/samples/
 * <topic>/ for the five topics (good/ parse, bad/ fail with a reason token
 * of op_message_reasons), each from a buffer of exactly its size so that the
 * sanitizers see any read past the end; then the reason of each rule, and
 * the fields a successful parse fills. tests/contracts/test_contracts.py
 * checks the same samples against the JSON Schemas.
 *
 * Run one test alone: contracts_test_messages <name-pattern>.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "contracts/messages.h"
#include "core/err.h"

/* Parses one value as its topic; returns the parse's rc and the reason. */
typedef int (*parse_fn)(const char *data, size_t len, const char **reason);

#define PARSER(name, type, parse, clear)                                                           \
  static int name(const char *data, size_t len, const char **reason) {                             \
    type msg;                                                                                      \
    op_contract_error_t err = {0};                                                                 \
    int rc = parse(data, len, &msg, &err);                                                         \
    if (rc == 0)                                                                                   \
      clear(&msg);                                                                                 \
    *reason = rc == 0 ? "ok" : err.reason;                                                         \
    if (rc != 0 && (err.reason == NULL || err.message[0] == '\0'))                                 \
      fail_msg("rc %d without a reason and a message", rc);                                        \
    return rc;                                                                                     \
  }

PARSER(created, op_order_created_t, op_contract_parse_order_created, op_order_created_clear)
PARSER(payment, op_payment_completed_t, op_contract_parse_payment_completed,
       op_payment_completed_clear)
PARSER(stock, op_inventory_updated_t, op_contract_parse_inventory_updated,
       op_inventory_updated_clear)
PARSER(audit, op_order_audit_t, op_contract_parse_order_audit, op_order_audit_clear)
PARSER(notification, op_notification_event_t, op_contract_parse_notification_event,
       op_notification_event_clear)

static const char *reason_of(parse_fn parse, const char *json) {
  const char *reason;
  /* An exact-size heap copy: no NUL after the value. */
  size_t len = strlen(json);
  char *copy = malloc(len + 1);
  assert_non_null(copy);
  memcpy(copy, json, len);
  parse(len ? copy : NULL, len, &reason);
  free(copy);
  return reason;
}

static int known_reason(const char *reason) {
  for (size_t i = 0; i < op_message_reasons_len; i++)
    if (strcmp(op_message_reasons[i], reason) == 0)
      return 1;
  return 0;
}

/* ---- samples ------------------------------------------------------------- */

static void samples_dir(const char *topic, const char *kind, char *out, size_t len) {
  const char *env = getenv("OP_SAMPLES_ROOT");
  if (env != NULL && *env) {
    snprintf(out, len, "%s/%s/%s", env, topic, kind);
    return;
  }
  const char *self = __FILE__;
  const char *unit = strstr(self, "/unit/contracts/");
  assert_non_null(unit);
  snprintf(out, len, "%.*s/contracts/samples/%s/%s", (int)(unit - self), self, topic, kind);
}

static char *read_exact(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    fail_msg("cannot open %s", path);
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fseek(f, 0, SEEK_SET);
  assert_true(size > 0);
  char *data = malloc((size_t)size);
  assert_non_null(data);
  assert_int_equal(fread(data, 1, (size_t)size, f), (size_t)size);
  fclose(f);
  *len = (size_t)size;
  return data;
}

static int is_sample(const struct dirent *entry) {
  size_t len = strlen(entry->d_name);
  return len > 5 && strcmp(entry->d_name + len - 5, ".json") == 0;
}

static void run_samples(const char *topic, parse_fn parse) {
  static const char *const kinds[] = {"good", "bad"};
  for (int k = 0; k < 2; k++) {
    char dir[4096];
    samples_dir(topic, kinds[k], dir, sizeof dir);
    struct dirent **entries;
    int n = scandir(dir, &entries, is_sample, alphasort);
    if (n <= 0)
      fail_msg("no samples in %s", dir);
    for (int i = 0; i < n; i++) {
      char path[4400];
      snprintf(path, sizeof path, "%s/%s", dir, entries[i]->d_name);
      size_t len;
      char *data = read_exact(path, &len);
      const char *reason;
      int rc = parse(data, len, &reason);
      if ((rc == 0) != (k == 0))
        fail_msg("%s/%s/%s: %s", topic, kinds[k], entries[i]->d_name, reason);
      if (rc != 0 && !known_reason(reason))
        fail_msg("%s/%s: unknown reason %s", topic, entries[i]->d_name, reason);
      free(data);
      free(entries[i]);
    }
    free(entries);
  }
}

static void test_samples_orders_created(void **state) {
  run_samples("orders.created", created);
}

static void test_samples_payments_completed(void **state) {
  run_samples("payments.completed", payment);
}

static void test_samples_inventory_updated(void **state) {
  run_samples("inventory.updated", stock);
}

static void test_samples_orders_audit(void **state) {
  run_samples("orders.audit", audit);
}

static void test_samples_notifications_events(void **state) {
  run_samples("notifications.events", notification);
}

/* ---- reasons ------------------------------------------------------------- */

#define TRACE "\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\""
#define HEAD "{\"order_id\":\"ord_1\",\"tenant_id\":\"t_1\","
#define ITEMS "\"line_items\":[{\"sku\":\"S\",\"qty\":2,\"unit_price\":\"5.00\"}],"
#define TAIL "\"currency\":\"EUR\",\"created_at\":\"2026-11-23T10:00:00.000Z\"}"
#define ITEM(body) HEAD "\"line_items\":[" body "]," TAIL

static void test_documents(void **state) {
  assert_string_equal(reason_of(created, "not json"), "invalid_json");
  assert_string_equal(reason_of(created, ""), "invalid_json");
  assert_string_equal(reason_of(payment, "{\"a\":1} x"), "invalid_json");
  assert_string_equal(reason_of(payment, "{\"a\":\"\\u0000\"}"), "invalid_json");
  assert_string_equal(reason_of(notification, "{\"a\":1,\"a\":2}"), "duplicate_key");
  assert_string_equal(reason_of(stock, "[1,2]"), "not_an_object");
  assert_string_equal(reason_of(audit, "\"x\""), "not_an_object");
  size_t len = OP_CONTRACT_MAX_BYTES + 1;
  char *big = malloc(len);
  assert_non_null(big);
  memset(big, ' ', len);
  const char *reason;
  assert_int_equal(created(big, len, &reason), OP_EINVAL);
  assert_string_equal(reason, "too_large");
  free(big);
}

static void test_orders_created_reasons(void **state) {
  static const struct {
    const char *json, *reason;
  } cases[] = {
      {"{\"tenant_id\":\"t\"}", "missing_field"},
      {"{\"order_id\":7}", "wrong_type"},
      {"{\"order_id\":\"\"}", "invalid_id"},
      {HEAD "\"line_items\":[]," TAIL, "invalid_line_items"},
      {HEAD "\"line_items\":{}," TAIL, "wrong_type"},
      {ITEM("7"), "wrong_type"},
      {ITEM("{\"sku\":\"S\",\"qty\":0,\"unit_price\":\"1\"}"), "invalid_qty"},
      {ITEM("{\"sku\":\"S\",\"qty\":1.5,\"unit_price\":\"1\"}"), "wrong_type"},
      {ITEM("{\"sku\":\"S\",\"qty\":\"1\",\"unit_price\":\"1\"}"), "wrong_type"},
      {ITEM("{\"qty\":1,\"unit_price\":\"1\"}"), "missing_field"},
      {ITEM("{\"sku\":\"S\",\"qty\":1,\"unit_price\":\"abc\"}"), "invalid_amount"},
      {HEAD ITEMS "\"total_amount\":\"1.2.3\"," TAIL, "invalid_amount"},
      {HEAD ITEMS "\"total_amount\":\"1.23456\"," TAIL, "invalid_amount"},
      {HEAD ITEMS "\"total_amount\":10.5," TAIL, "wrong_type"},
      {HEAD ITEMS TAIL, "missing_field"},
      {HEAD ITEMS "\"total_amount\":\"10.00\",\"currency\":\"eur\","
                  "\"created_at\":\"2026-11-23T10:00:00Z\"}",
       "invalid_currency"},
      {HEAD ITEMS "\"total_amount\":\"10.00\",\"currency\":\"EUR\","
                  "\"created_at\":\"2026-02-30T10:00:00Z\"}",
       "invalid_timestamp"},
      {HEAD ITEMS "\"total_amount\":\"10.00\",\"reference\":7," TAIL, "wrong_type"},
      {HEAD ITEMS "\"total_amount\":\"10.00\",\"trace_id\":\"ABC\"," TAIL, "invalid_trace_id"},
      {HEAD "\"user_id\":null," ITEMS "\"total_amount\":\"10.00\"," TAIL, "wrong_type"},
      {HEAD ITEMS "\"total_amount\":\"10.00\",\"created_at\":\"2028-02-29T10:00:00Z\","
                  "\"currency\":\"EUR\"}",
       "ok"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const char *got = reason_of(created, cases[i].json);
    if (strcmp(got, cases[i].reason) != 0)
      fail_msg("case %zu: %s, want %s: %s", i, got, cases[i].reason, cases[i].json);
  }
}

#define PAY(state, extra)                                                                          \
  "{\"order_id\":\"o1\",\"tenant_id\":\"t\",\"payment_id\":\"p1\",\"state\":\"" state "\"," extra  \
  "\"amount\":\"129.90\",\"currency\":\"EUR\",\"processed_at\":\"2026-11-23T10:00:00Z\"," TRACE    \
  "}"

static void test_payments_completed_reasons(void **state) {
  assert_string_equal(reason_of(payment, PAY("succeeded", "")), "ok");
  assert_string_equal(reason_of(payment, PAY("failed", "\"reason\":\"card_declined\",")), "ok");
  assert_string_equal(reason_of(payment, PAY("failed", "")), "missing_field");
  assert_string_equal(reason_of(payment, PAY("failed", "\"reason\":\"\",")), "invalid_reason");
  assert_string_equal(reason_of(payment, PAY("failed", "\"reason\":null,")), "wrong_type");
  assert_string_equal(reason_of(payment, PAY("pending", "")), "invalid_state");
  assert_string_equal(reason_of(payment, "{\"order_id\":\"o\",\"tenant_id\":\"t\",\"payment_id\":"
                                         "\"p\",\"state\":\"succeeded\",\"amount\":12.5}"),
                      "wrong_type");
  assert_string_equal(reason_of(payment, "{\"order_id\":\"o\",\"tenant_id\":\"t\",\"payment_id\":"
                                         "\"p\",\"state\":\"succeeded\",\"amount\":\"1.00\","
                                         "\"currency\":\"EUR\","
                                         "\"processed_at\":\"2026-11-23T10:00:00Z\"}"),
                      "missing_field"); /* trace_id is required on this topic */

  op_payment_completed_t msg;
  op_contract_error_t err;
  const char *json = PAY("succeeded", "");
  assert_int_equal(op_contract_parse_payment_completed(json, strlen(json), &msg, &err), 0);
  assert_string_equal(msg.payment_id, "p1");
  assert_string_equal(msg.state, "succeeded");
  assert_true(msg.succeeded);
  assert_null(msg.reason);
  assert_true(msg.amount_value == (op_dec_t)1299000);
  op_payment_completed_clear(&msg);
  op_payment_completed_clear(&msg);
}

#define STOCK(extra)                                                                               \
  "{\"sku\":\"S\",\"tenant_id\":\"t\",\"order_id\":\"o\",\"delta\":-2,\"reservation_id\":\"r\","   \
  "\"state\":\"reserved\",\"processed_at\":\"2026-11-23T10:00:00Z\"," TRACE extra "}"

static void test_inventory_updated_reasons(void **state) {
  assert_string_equal(reason_of(stock, STOCK("")), "ok");
  assert_string_equal(reason_of(stock, STOCK(",\"available\":0")), "ok");
  assert_string_equal(reason_of(stock, STOCK(",\"available\":4.0")), "ok");
  assert_string_equal(reason_of(stock, STOCK(",\"available\":-3")), "invalid_value");
  assert_string_equal(reason_of(stock, STOCK(",\"available\":1.5")), "wrong_type");
  assert_string_equal(reason_of(stock, STOCK(",\"available\":\"4\"")), "wrong_type");
  assert_string_equal(reason_of(stock, STOCK(",\"available\":1e30")), "invalid_value");

  op_inventory_updated_t msg;
  op_contract_error_t err;
  const char *json = STOCK(",\"available\":7");
  assert_int_equal(op_contract_parse_inventory_updated(json, strlen(json), &msg, &err), 0);
  assert_int_equal(msg.delta, -2);
  assert_string_equal(msg.state, "reserved");
  assert_true(msg.has_available);
  assert_int_equal(msg.available, 7);
  op_inventory_updated_clear(&msg);
}

static void test_audit_and_notification_reasons(void **state) {
  assert_string_equal(reason_of(audit, "{\"order_id\":\"o\",\"tenant_id\":\"t\","
                                       "\"action\":\"paid\",\"at\":\"2027-02-29T10:00:00Z\"}"),
                      "invalid_timestamp");
  assert_string_equal(reason_of(audit, "{\"order_id\":\"o\",\"tenant_id\":\"t\","
                                       "\"action\":\"\",\"at\":\"2026-11-23T10:00:00Z\"}"),
                      "invalid_value");
  assert_string_equal(reason_of(audit, "{\"order_id\":\"o\",\"tenant_id\":\"t\",\"action\":\"p\","
                                       "\"from_status\":null,\"to_status\":\"\","
                                       "\"at\":\"2026-11-23T10:00:00Z\"}"),
                      "invalid_status");
  op_order_audit_t msg;
  op_contract_error_t err;
  const char *json = "{\"order_id\":\"o\",\"tenant_id\":\"t\",\"action\":\"paid\","
                     "\"from_status\":null,\"to_status\":\"paid\",\"at\":\"2026-11-23T10:00:00Z\"}";
  assert_int_equal(op_contract_parse_order_audit(json, strlen(json), &msg, &err), 0);
  assert_null(msg.from_status);
  assert_string_equal(msg.to_status, "paid");
  op_order_audit_clear(&msg);

#define NOTE(fields)                                                                               \
  "{\"notification_id\":\"n\",\"tenant_id\":\"t\",\"user_id\":\"u\"," fields                       \
  ",\"order_id\":\"o\"," TRACE "}"
  assert_string_equal(
      reason_of(notification, NOTE("\"channel\":\"in_app\",\"template\":\"x\",\"state\":\"sent\"")),
      "missing_field");
  assert_string_equal(
      reason_of(notification, NOTE("\"channel\":\"in_app\",\"template\":\"x\",\"state\":"
                                   "\"failed\"")),
      "missing_field");
  assert_string_equal(
      reason_of(notification, NOTE("\"channel\":\"sms\",\"template\":\"x\",\"state\":\"queued\"")),
      "invalid_value");
  assert_string_equal(
      reason_of(notification, NOTE("\"channel\":\"email\",\"template\":\"x\",\"state\":\"lost\"")),
      "invalid_state");
  assert_string_equal(
      reason_of(notification,
                NOTE("\"channel\":\"email\",\"template\":\"x\",\"state\":\"queued\"")),
      "ok");
}

static void test_order_created_fields(void **state) {
  const char *json = HEAD "\"line_items\":[{\"sku\":\"B\",\"qty\":2,\"unit_price\":\"1.00\"},"
                          "{\"sku\":\"A\",\"qty\":3.0,\"unit_price\":\"2\"}],"
                          "\"total_amount\":\"10.13\",\"reference\":\"A-1\"," TRACE "," TAIL;
  op_order_created_t order;
  op_contract_error_t err;
  assert_int_equal(op_contract_parse_order_created(json, strlen(json), &order, &err), 0);
  assert_string_equal(order.order_id, "ord_1");
  assert_string_equal(order.tenant_id, "t_1");
  assert_null(order.user_id);
  assert_int_equal(order.nitems, 2);
  assert_string_equal(order.items[1].sku, "A");
  assert_int_equal(order.items[1].qty, 3);
  assert_true(order.items[1].price == (op_dec_t)20000);
  assert_string_equal(order.total_amount, "10.13");
  assert_true(order.total == (op_dec_t)101300);
  assert_string_equal(order.currency, "EUR");
  assert_string_equal(order.reference, "A-1");
  assert_string_equal(order.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  op_order_created_clear(&order);
  op_order_created_clear(&order);
}

static void test_reason_tokens_are_distinct(void **state) {
  assert_int_equal(op_message_reasons_len, op_contract_reasons_len + 6);
  for (size_t i = 0; i < op_message_reasons_len; i++)
    for (size_t j = i + 1; j < op_message_reasons_len; j++)
      assert_string_not_equal(op_message_reasons[i], op_message_reasons[j]);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_samples_orders_created),
      cmocka_unit_test(test_samples_payments_completed),
      cmocka_unit_test(test_samples_inventory_updated),
      cmocka_unit_test(test_samples_orders_audit),
      cmocka_unit_test(test_samples_notifications_events),
      cmocka_unit_test(test_documents),
      cmocka_unit_test(test_orders_created_reasons),
      cmocka_unit_test(test_payments_completed_reasons),
      cmocka_unit_test(test_inventory_updated_reasons),
      cmocka_unit_test(test_audit_and_notification_reasons),
      cmocka_unit_test(test_order_created_fields),
      cmocka_unit_test(test_reason_tokens_are_distinct),
  };
  if (argc > 1)
    cmocka_set_test_filter(argv[1]);
  return cmocka_run_group_tests(tests, NULL, NULL);
}
