/*
 * The inventory service's parsers: orders.created and payments.completed
 * agree with their schemas on every sample (tests/contracts/samples/<topic>/
 * good and bad), the line items are summed per sku and sorted, and the seed
 * files (CSV and JSON) are read all-or-nothing with errors naming the line.
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

#include "inventory/parse.h"

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  *len = fread(buf, 1, (size_t)n, f);
  buf[*len] = '\0';
  fclose(f);
  return buf;
}

/* tests/contracts/samples/<topic>/<kind>, from this file's path. */
static void samples_dir(const char *topic, const char *kind, char *out, size_t len) {
  const char *self = __FILE__;
  const char *cut = strstr(self, "tests/unit/");
  snprintf(out, len, "%.*stests/contracts/samples/%s/%s", (int)(cut - self), self, topic, kind);
}

typedef int (*check_fn)(const char *data, size_t len, const char **reason);

static int check_order(const char *data, size_t len, const char **reason) {
  op_inv_order_t order;
  op_contract_error_t err = {0};
  int rc = op_inv_parse_order_created(data, len, &order, &err);
  if (rc == 0)
    op_inv_order_clear(&order);
  *reason = err.reason;
  return rc;
}

static int check_payment(const char *data, size_t len, const char **reason) {
  op_inv_payment_t pay;
  op_contract_error_t err = {0};
  int rc = op_inv_parse_payment(data, len, &pay, &err);
  if (rc == 0)
    op_inv_payment_clear(&pay);
  *reason = err.reason;
  return rc;
}

static void run_samples(const char *topic, check_fn check) {
  const char *kinds[] = {"good", "bad"};
  for (int k = 0; k < 2; k++) {
    char dir[1024];
    samples_dir(topic, kinds[k], dir, sizeof dir);
    DIR *d = opendir(dir);
    assert_non_null(d);
    int seen = 0;
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL) {
      if (ent->d_name[0] == '.')
        continue;
      char path[1400];
      snprintf(path, sizeof path, "%s/%s", dir, ent->d_name);
      size_t len = 0;
      char *data = slurp(path, &len);
      assert_non_null(data);
      const char *reason = NULL;
      int rc = check(data, len, &reason);
      if ((rc == 0) != (k == 0))
        fail_msg("%s/%s: expected %s, got rc %d (%s)", topic, ent->d_name, kinds[k], rc,
                 reason ? reason : "-");
      if (k == 1)
        assert_non_null(reason);
      free(data);
      seen++;
    }
    closedir(d);
    assert_true(seen > 0);
  }
}

static void test_order_samples(void **state) {
  run_samples("orders.created", check_order);
}

static void test_payment_samples(void **state) {
  run_samples("payments.completed", check_payment);
}

static const char ORDER[] =
    "{\"order_id\":\"o1\",\"tenant_id\":\"t1\",\"line_items\":["
    "{\"sku\":\"B\",\"qty\":2,\"unit_price\":\"1.00\"},{\"sku\":\"A\",\"qty\":1,\"unit_price\":"
    "\"1\"},"
    "{\"sku\":\"B\",\"qty\":3.0,\"unit_price\":\"1.00\"}],\"total_amount\":\"6.00\",\"currency\":"
    "\"EUR\",\"created_at\":\"2026-11-23T10:00:00Z\"}";

static void test_items_summed_and_sorted(void **state) {
  op_inv_order_t order;
  assert_int_equal(op_inv_parse_order_created(ORDER, strlen(ORDER), &order, NULL), 0);
  assert_int_equal(order.nitems, 2);
  assert_string_equal(order.items[0].sku, "A");
  assert_int_equal(order.items[0].qty, 1);
  assert_string_equal(order.items[1].sku, "B");
  assert_int_equal(order.items[1].qty, 5);
  assert_null(order.trace_id);
  op_inv_order_clear(&order);
}

static void expect_reason(check_fn check, const char *doc, const char *reason) {
  const char *got = NULL;
  assert_int_not_equal(check(doc, strlen(doc), &got), 0);
  assert_non_null(got);
  assert_string_equal(got, reason);
}

static void test_message_reasons(void **state) {
  expect_reason(check_order, "{", "invalid_json");
  expect_reason(check_order, "[]", "not_an_object");
  expect_reason(check_order, "{\"order_id\":\"a\",\"order_id\":\"b\"}", "duplicate_key");
  expect_reason(check_order, "{\"tenant_id\":\"t\"}", "missing_field");
  expect_reason(check_order, "{\"order_id\":\"\",\"tenant_id\":\"t\"}", "invalid_id");
  expect_reason(check_order,
                "{\"order_id\":\"o\",\"tenant_id\":\"t\",\"line_items\":[{\"sku\":\"A\",\"qty\":0,"
                "\"unit_price\":\"1\"}]}",
                "invalid_qty");
  expect_reason(check_payment,
                "{\"order_id\":\"o\",\"tenant_id\":\"t\",\"payment_id\":\"p\",\"state\":\"maybe\"}",
                "invalid_state");
  expect_reason(check_payment,
                "{\"order_id\":\"o\",\"tenant_id\":\"t\",\"payment_id\":\"p\",\"state\":"
                "\"succeeded\",\"amount\":\"1\",\"currency\":\"EUR\",\"processed_at\":"
                "\"2026-02-30T00:00:00Z\",\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\"}",
                "invalid_timestamp");
}

static int seed(const char *text, op_inv_seed_format_t fmt, op_inv_seed_row_t **rows, size_t *n,
                char *err) {
  return op_inv_seed_parse(fmt, text, strlen(text), rows, n, err, 256);
}

static void test_seed_csv(void **state) {
  op_inv_seed_row_t *rows;
  size_t n;
  char err[256];
  assert_int_equal(
      seed("tenant_id,sku,quantity\r\n t1 , A ,5\r\n\nt1,B,0\n", OP_INV_SEED_CSV, &rows, &n, err),
      0);
  assert_int_equal(n, 2);
  assert_string_equal(rows[0].tenant_id, "t1");
  assert_string_equal(rows[0].sku, "A");
  assert_int_equal(rows[0].quantity, 5);
  assert_int_equal(rows[1].line, 4);
  free(rows);
}

static void expect_seed_error(const char *text, op_inv_seed_format_t fmt, const char *needle) {
  op_inv_seed_row_t *rows = (op_inv_seed_row_t *)1;
  size_t n = 7;
  char err[256] = "";
  assert_int_not_equal(seed(text, fmt, &rows, &n, err), 0);
  assert_null(rows);
  assert_int_equal(n, 0);
  if (strstr(err, needle) == NULL)
    fail_msg("error \"%s\" does not name \"%s\"", err, needle);
}

static void test_seed_csv_errors(void **state) {
  expect_seed_error("", OP_INV_SEED_CSV, "header");
  expect_seed_error("sku,tenant_id,quantity\n", OP_INV_SEED_CSV, "line 1: the header");
  expect_seed_error("tenant_id,sku,quantity\nt1,A,5\nt1,B\n", OP_INV_SEED_CSV,
                    "line 3: expected 3");
  expect_seed_error("tenant_id,sku,quantity\nt1,A,5,9\n", OP_INV_SEED_CSV, "line 2: expected 3");
  expect_seed_error("tenant_id,sku,quantity\nt1,A,-1\n", OP_INV_SEED_CSV, "line 2: quantity");
  expect_seed_error("tenant_id,sku,quantity\nt1,A,1.5\n", OP_INV_SEED_CSV, "line 2: quantity");
  expect_seed_error("tenant_id,sku,quantity\nt1,A,1000000001\n", OP_INV_SEED_CSV,
                    "line 2: quantity");
  expect_seed_error("tenant_id,sku,quantity\nt1,,1\n", OP_INV_SEED_CSV, "line 2: sku");
  expect_seed_error("tenant_id,sku,quantity\n,A,1\n", OP_INV_SEED_CSV, "line 2: tenant_id");
  expect_seed_error("tenant_id,sku,quantity\nt1,A,1\nt1,A,2\n", OP_INV_SEED_CSV,
                    "line 3: tenant_id t1, sku A is already set by line 2");
}

static void test_seed_json(void **state) {
  op_inv_seed_row_t *rows;
  size_t n;
  char err[256];
  const char *doc = "[{\"tenant_id\":\"t1\",\"sku\":\"A\",\"quantity\":1000000000},"
                    "{\"sku\":\"B\",\"quantity\":0,\"tenant_id\":\"t2\"}]";
  assert_int_equal(seed(doc, OP_INV_SEED_JSON, &rows, &n, err), 0);
  assert_int_equal(n, 2);
  assert_int_equal(rows[0].quantity, 1000000000);
  assert_string_equal(rows[1].tenant_id, "t2");
  free(rows);
  expect_seed_error("[", OP_INV_SEED_JSON, "invalid JSON");
  expect_seed_error("{}", OP_INV_SEED_JSON, "must be an array");
  expect_seed_error("[{\"tenant_id\":\"t\",\"sku\":\"A\",\"quantity\":\"5\"}]", OP_INV_SEED_JSON,
                    "entry 1: quantity");
  expect_seed_error("[{\"tenant_id\":\"t\",\"sku\":\"A\",\"quantity\":5,\"x\":1}]",
                    OP_INV_SEED_JSON, "entry 1: unknown field \"x\"");
  expect_seed_error("[{\"tenant_id\":\"t\",\"sku\":\"A\",\"quantity\":5},3]", OP_INV_SEED_JSON,
                    "entry 2: must be an object");
  expect_seed_error("[{\"tenant_id\":\"t\",\"sku\":\"A\",\"quantity\":5.5}]", OP_INV_SEED_JSON,
                    "entry 1: quantity");
}

static void test_seed_detect(void **state) {
  assert_int_equal(op_inv_seed_detect("x.CSV", "[", 1), OP_INV_SEED_CSV);
  assert_int_equal(op_inv_seed_detect("x.json", "t", 1), OP_INV_SEED_JSON);
  assert_int_equal(op_inv_seed_detect("stock", "  \n[{}]", 6), OP_INV_SEED_JSON);
  assert_int_equal(op_inv_seed_detect("stock", "tenant_id", 9), OP_INV_SEED_CSV);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_order_samples),
      cmocka_unit_test(test_payment_samples),
      cmocka_unit_test(test_items_summed_and_sorted),
      cmocka_unit_test(test_message_reasons),
      cmocka_unit_test(test_seed_csv),
      cmocka_unit_test(test_seed_csv_errors),
      cmocka_unit_test(test_seed_json),
      cmocka_unit_test(test_seed_detect),
  };
  if (argc > 1)
    cmocka_set_test_filter(argv[1]);
  return cmocka_run_group_tests(tests, NULL, NULL);
}
