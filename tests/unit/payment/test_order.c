/* orders.created as payment reads it: the contract's samples, and the reason
 * token of each kind of bad message. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "payment/order.h"

/* tests/contracts/samples/orders.created, found from this file's path. */
static void samples_dir(const char *kind, char *out, size_t len) {
  const char *here = __FILE__;
  const char *cut = strstr(here, "tests/unit/payment/");
  assert_non_null(cut);
  snprintf(out, len, "%.*stests/contracts/samples/orders.created/%s", (int)(cut - here), here,
           kind);
}

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  char *buf = malloc(1 << 20);
  assert_non_null(buf);
  *len = fread(buf, 1, 1 << 20, f);
  fclose(f);
  return buf;
}

static int check_dir(const char *kind, int expect_ok) {
  char dir[1024];
  samples_dir(kind, dir, sizeof dir);
  DIR *d = opendir(dir);
  assert_non_null(d);
  int count = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strstr(e->d_name, ".json") == NULL)
      continue;
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    size_t len;
    char *data = slurp(path, &len);
    op_order_t order;
    op_order_error_t err = {0};
    int rc = op_order_parse(data, len, &order, &err);
    if ((rc == 0) != expect_ok)
      fail_msg("%s/%s: rc %d (%s: %s)", kind, e->d_name, rc, err.reason ? err.reason : "",
               err.message);
    op_order_clear(&order);
    free(data);
    count++;
  }
  closedir(d);
  return count;
}

static void test_contract_samples(void **state) {
  assert_true(check_dir("good", 1) >= 2);
  assert_true(check_dir("bad", 0) >= 9);
  (void)state;
}

#define BASE_HEAD "{\"order_id\":\"ord_1\",\"tenant_id\":\"t_1\","
#define ITEMS "\"line_items\":[{\"sku\":\"S\",\"qty\":2,\"unit_price\":\"5.00\"}],"
#define TAIL "\"currency\":\"EUR\",\"created_at\":\"2026-11-23T10:00:00.000Z\"}"

static void test_reasons(void **state) {
  struct {
    const char *json, *reason;
  } cases[] = {
      {"not json", "invalid_json"},
      {"", "invalid_json"},
      {"[1]", "not_an_object"},
      {"{\"order_id\":\"a\",\"order_id\":\"b\"}", "duplicate_key"},
      {"{\"tenant_id\":\"t\"}", "missing_field"},
      {"{\"order_id\":7}", "wrong_type"},
      {"{\"order_id\":\"\"}", "invalid_id"},
      {BASE_HEAD "\"line_items\":[]," TAIL, "invalid_line_items"},
      {BASE_HEAD "\"line_items\":{}," TAIL, "wrong_type"},
      {BASE_HEAD "\"line_items\":[{\"sku\":\"S\",\"qty\":0,\"unit_price\":\"1\"}]," TAIL,
       "invalid_qty"},
      {BASE_HEAD "\"line_items\":[{\"sku\":\"S\",\"qty\":1.5,\"unit_price\":\"1\"}]," TAIL,
       "invalid_qty"},
      {BASE_HEAD "\"line_items\":[{\"sku\":\"S\",\"qty\":\"1\",\"unit_price\":\"1\"}]," TAIL,
       "wrong_type"},
      {BASE_HEAD "\"line_items\":[{\"qty\":1,\"unit_price\":\"1\"}]," TAIL, "missing_field"},
      {BASE_HEAD ITEMS "\"total_amount\":\"1.2.3\"," TAIL, "invalid_amount"},
      {BASE_HEAD ITEMS "\"total_amount\":10.5," TAIL, "wrong_type"},
      {BASE_HEAD ITEMS TAIL, "missing_field"},
      {BASE_HEAD ITEMS "\"total_amount\":\"10.00\",\"currency\":\"eur\","
                       "\"created_at\":\"2026-11-23T10:00:00Z\"}",
       "invalid_currency"},
      {BASE_HEAD ITEMS "\"total_amount\":\"10.00\",\"currency\":\"EUR\","
                       "\"created_at\":\"2026-02-30T10:00:00Z\"}",
       "invalid_timestamp"},
      {BASE_HEAD ITEMS "\"total_amount\":\"10.00\",\"trace_id\":\"ABC\"," TAIL, "invalid_trace_id"},
      {BASE_HEAD "\"user_id\":null," ITEMS "\"total_amount\":\"10.00\"," TAIL, "wrong_type"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    op_order_t order;
    op_order_error_t err = {0};
    int rc = op_order_parse(cases[i].json, strlen(cases[i].json), &order, &err);
    if (rc != OP_EINVAL || strcmp(err.reason, cases[i].reason) != 0)
      fail_msg("case %zu: rc %d reason %s (want %s): %s", i, rc, err.reason ? err.reason : "-",
               cases[i].reason, err.message);
    assert_true(err.message[0] != '\0');
  }
  (void)state;
}

static void test_fields(void **state) {
  const char *json = BASE_HEAD ITEMS "\"total_amount\":\"10.13\",\"reference\":\"A-1\","
                                     "\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\"," TAIL;
  op_order_t order;
  op_order_error_t err = {0};
  assert_int_equal(op_order_parse(json, strlen(json), &order, &err), 0);
  assert_string_equal(order.order_id, "ord_1");
  assert_string_equal(order.tenant_id, "t_1");
  assert_string_equal(order.total_amount, "10.13");
  assert_string_equal(order.currency, "EUR");
  assert_string_equal(order.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  assert_true(order.amount == (op_dec_t)101300);
  op_order_clear(&order);
  op_order_clear(&order);
  (void)state;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_contract_samples),
      cmocka_unit_test(test_reasons),
      cmocka_unit_test(test_fields),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
