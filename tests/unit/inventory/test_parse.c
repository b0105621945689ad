/*
 * The inventory service's parsers: the line items of an orders.created are
 * summed per sku and sorted (the message itself is validated by the
 * contracts module, tested in tests/unit/contracts/test_messages.c), and the
 * seed files (CSV and JSON) are read all-or-nothing with errors naming the
 * line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "inventory/parse.h"

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

static void test_items_sum_beyond_64_bits(void **state) {
  const char *json = "{\"order_id\":\"o1\",\"tenant_id\":\"t1\",\"line_items\":["
                     "{\"sku\":\"A\",\"qty\":9223372036854775807,\"unit_price\":\"1\"},"
                     "{\"sku\":\"A\",\"qty\":1,\"unit_price\":\"1\"}],\"total_amount\":\"6.00\","
                     "\"currency\":\"EUR\",\"created_at\":\"2026-11-23T10:00:00Z\"}";
  op_inv_order_t order;
  op_contract_error_t err = {0};
  assert_int_not_equal(op_inv_parse_order_created(json, strlen(json), &order, &err), 0);
  assert_string_equal(err.reason, "invalid_qty");
  assert_null(order.items);
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
      cmocka_unit_test(test_items_summed_and_sorted),
      cmocka_unit_test(test_items_sum_beyond_64_bits),
      cmocka_unit_test(test_seed_csv),
      cmocka_unit_test(test_seed_csv_errors),
      cmocka_unit_test(test_seed_json),
      cmocka_unit_test(test_seed_detect),
  };
  if (argc > 1)
    cmocka_set_test_filter(argv[1]);
  return cmocka_run_group_tests(tests, NULL, NULL);
}
