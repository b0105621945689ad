/* payment_payments through record.c on an in-memory SQLite database: insert
 * once per order, the retry list, the guarded retry update, the unemitted
 * outcomes. (PostgreSQL is covered by tests/integration/test_payment.py.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "payment/record.h"

static int setup(void **state) {
  char err[256];
  op_store_t *store = op_store_open("sqlite://:memory:", err, sizeof err);
  assert_non_null(store);
  assert_int_equal(op_store_migrate(store, err, sizeof err), 0);
  *state = store;
  return 0;
}

static int teardown(void **state) {
  op_store_close(*state);
  return 0;
}

static op_payment_t make(const char *order_id, const char *state, int64_t attempts, int64_t next) {
  op_payment_t p;
  memset(&p, 0, sizeof p);
  snprintf(p.order_id, sizeof p.order_id, "%s", order_id);
  snprintf(p.tenant_id, sizeof p.tenant_id, "t_1");
  op_payment_new_id(p.payment_id);
  snprintf(p.state, sizeof p.state, "%s", state);
  snprintf(p.amount, sizeof p.amount, "10.99");
  snprintf(p.currency, sizeof p.currency, "EUR");
  snprintf(p.trace_id, sizeof p.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  p.attempts = attempts;
  p.next_attempt_at = next;
  if (strcmp(state, OP_PAYMENT_PENDING) != 0) {
    snprintf(p.processed_at, sizeof p.processed_at, "2026-11-23T10:00:00.000Z");
    p.emitted = 1;
  }
  return p;
}

static void test_insert_once_per_order(void **state) {
  op_store_t *store = *state;
  op_payment_t a = make("ord_1", OP_PAYMENT_SUCCEEDED, 1, 0);
  op_payment_t b = make("ord_1", OP_PAYMENT_FAILED, 1, 0);
  int inserted;
  assert_int_equal(op_payment_insert(store, &a, 1000, &inserted), 0);
  assert_true(inserted);
  assert_int_equal(op_payment_insert(store, &b, 1000, &inserted), 0);
  assert_false(inserted);
  op_payment_t got;
  assert_int_equal(op_payment_get(store, "ord_1", &got), 0);
  assert_string_equal(got.payment_id, a.payment_id);
  assert_string_equal(got.state, OP_PAYMENT_SUCCEEDED);
  assert_string_equal(got.reason, "");
  assert_string_equal(got.processed_at, a.processed_at);
  assert_int_equal(got.emitted, 1);
  assert_int_equal(op_payment_get(store, "ord_none", &got), OP_ENOENT);
}

static void test_retry_list(void **state) {
  op_store_t *store = *state;
  op_payment_t late = make("ord_late", OP_PAYMENT_PENDING, 1, 5000);
  op_payment_t due = make("ord_due", OP_PAYMENT_PENDING, 2, 1500);
  int inserted;
  assert_int_equal(op_payment_insert(store, &late, 1000, &inserted), 0);
  assert_int_equal(op_payment_insert(store, &due, 1000, &inserted), 0);
  op_payment_t rows[4];
  size_t n;
  assert_int_equal(op_payment_due(store, 2000, rows, 4, &n), 0);
  assert_int_equal(n, 1);
  assert_string_equal(rows[0].order_id, "ord_due");
  assert_int_equal(rows[0].attempts, 2);
  assert_int_equal(rows[0].next_attempt_at, 1500);
  assert_string_equal(rows[0].processed_at, "");

  /* Decided by attempt 3; a second writer that saw attempts = 2 loses. */
  op_payment_t done = rows[0];
  done.attempts = 3;
  snprintf(done.state, sizeof done.state, OP_PAYMENT_SUCCEEDED);
  snprintf(done.processed_at, sizeof done.processed_at, "2026-11-23T10:00:01.000Z");
  int updated;
  assert_int_equal(op_payment_update(store, &done, 2, &updated), 0);
  assert_true(updated);
  assert_int_equal(op_payment_update(store, &done, 2, &updated), 0);
  assert_false(updated);
  assert_int_equal(op_payment_due(store, 2000, rows, 4, &n), 0);
  assert_int_equal(n, 0);
  assert_int_equal(op_payment_due(store, 6000, rows, 4, &n), 0);
  assert_int_equal(n, 1);

  /* Decided by a retry: unemitted until marked. */
  assert_int_equal(op_payment_unemitted(store, rows, 4, &n), 0);
  assert_int_equal(n, 1);
  assert_string_equal(rows[0].order_id, "ord_due");
  assert_string_equal(rows[0].processed_at, "2026-11-23T10:00:01.000Z");
  assert_int_equal(op_payment_mark_emitted(store, "ord_due"), 0);
  assert_int_equal(op_payment_unemitted(store, rows, 4, &n), 0);
  assert_int_equal(n, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_insert_once_per_order, setup, teardown),
      cmocka_unit_test_setup_teardown(test_retry_list, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
