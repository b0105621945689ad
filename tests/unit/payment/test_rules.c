/* The simulated gateway's deterministic rule, the retry backoff, and the
 * payments.completed value built from a stored row. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/config.h"
#include "core/err.h"
#include "payment/gateway.h"
#include "payment/record.h"

static op_dec_t dec(const char *s) {
  op_dec_t v;
  assert_int_equal(op_dec_parse(s, &v), 0);
  return v;
}

static void test_rule_13_declines(void **state) {
  const char *amounts[] = {"10.13", "0.13", "10.130", "999.1300"};
  for (size_t i = 0; i < sizeof amounts / sizeof amounts[0]; i++) {
    op_charge_outcome_t out;
    char reason[OP_CHARGE_REASON_MAX] = "";
    for (int attempt = 1; attempt <= 3; attempt++) {
      assert_int_equal(op_gateway_rule(dec(amounts[i]), attempt, &out, reason), 1);
      assert_int_equal(out, OP_CHARGE_DECLINED);
      assert_string_equal(reason, "card_declined");
    }
  }
  (void)state;
}

static void test_rule_99_fails_twice_then_succeeds(void **state) {
  op_charge_outcome_t out;
  char reason[OP_CHARGE_REASON_MAX] = "";
  assert_int_equal(op_gateway_rule(dec("42.99"), 1, &out, reason), 1);
  assert_int_equal(out, OP_CHARGE_TRANSIENT);
  assert_int_equal(op_gateway_rule(dec("42.99"), 2, &out, reason), 1);
  assert_int_equal(out, OP_CHARGE_TRANSIENT);
  assert_int_equal(op_gateway_rule(dec("42.99"), 3, &out, reason), 1);
  assert_int_equal(out, OP_CHARGE_SUCCEEDED);
  assert_int_equal(op_gateway_rule(dec("42.990"), 4, &out, reason), 1);
  assert_int_equal(out, OP_CHARGE_SUCCEEDED);
  (void)state;
}

static void test_rule_leaves_the_rest_to_chance(void **state) {
  const char *amounts[] = {"10.00", "0", "13", "99", "1.3", "1.9", "10.1301", "10.0013", "0.99001"};
  for (size_t i = 0; i < sizeof amounts / sizeof amounts[0]; i++) {
    op_dec_t v;
    if (op_dec_parse(amounts[i], &v) != 0)
      continue; /* "0.99001": five decimals, not an amount */
    op_charge_outcome_t out;
    char reason[OP_CHARGE_REASON_MAX] = "";
    assert_int_equal(op_gateway_rule(v, 1, &out, reason), 0);
  }
  op_charge_outcome_t out;
  char reason[OP_CHARGE_REASON_MAX] = "";
  assert_int_equal(op_gateway_rule(dec("-5.00"), 1, &out, reason), 1);
  assert_int_equal(out, OP_CHARGE_DECLINED);
  assert_string_equal(reason, "invalid_amount");
  (void)state;
}

static void test_sim_gateway_rates(void **state) {
  char err[128];
  op_charge_t req = {.order_id = "o", .tenant_id = "t", .payment_id = "p", .currency = "EUR"};
  req.amount = dec("10.00");
  req.attempt = 1;
  op_gateway_t *all = op_gateway_sim_new(0, 1.0, err, sizeof err);
  op_gateway_t *none = op_gateway_sim_new(0, 0.0, err, sizeof err);
  assert_non_null(all);
  assert_non_null(none);
  for (int i = 0; i < 200; i++) {
    char reason[OP_CHARGE_REASON_MAX] = "";
    assert_int_equal(all->charge(all, &req, reason), OP_CHARGE_DECLINED);
    assert_string_equal(reason, "card_declined");
    assert_int_equal(none->charge(none, &req, reason), OP_CHARGE_SUCCEEDED);
  }
  /* The rule comes before chance: .99 still recovers at rate 1.0. */
  req.amount = dec("1.99");
  req.attempt = 3;
  char reason[OP_CHARGE_REASON_MAX] = "";
  assert_int_equal(all->charge(all, &req, reason), OP_CHARGE_SUCCEEDED);
  all->free(all);
  none->free(none);
  assert_null(op_gateway_sim_new(0, 1.5, err, sizeof err));
  (void)state;
}

static void test_backoff(void **state) {
  assert_int_equal(op_payment_backoff_ms(1), 50);
  assert_int_equal(op_payment_backoff_ms(2), 100);
  assert_int_equal(op_payment_backoff_ms(3), 200);
  assert_int_equal(op_payment_backoff_ms(5), 800);
  assert_int_equal(op_payment_backoff_ms(6), 1600);
  assert_int_equal(op_payment_backoff_ms(7), 2000);
  assert_int_equal(op_payment_backoff_ms(8), 2000);
  assert_int_equal(op_payment_backoff_ms(1000), 2000);
  assert_int_equal(op_payment_backoff_ms(0), 50);
  (void)state;
}

static void test_rate_parsing(void **state) {
  const char *ok[] = {"0", "0.0", "1", "1.0", "0.25", ".5", "1e-1"};
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    double v = -1;
    assert_int_equal(op_config_parse_rate(ok[i], &v), 0);
    assert_true(v >= 0.0 && v <= 1.0);
  }
  const char *bad[] = {"", " 0.5", "-0.1", "1.01", "2", "nan", "inf", "0x1", "0.5x", "half", NULL};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    double v;
    assert_int_equal(op_config_parse_rate(bad[i], &v), OP_EINVAL);
  }
  (void)state;
}

static void test_body_and_ids(void **state) {
  op_payment_t p;
  memset(&p, 0, sizeof p);
  strcpy(p.order_id, "ord_1");
  strcpy(p.tenant_id, "t_acme");
  op_payment_new_id(p.payment_id);
  assert_int_equal(strlen(p.payment_id), 36);
  assert_int_equal(p.payment_id[14], '4');
  strcpy(p.state, "failed");
  strcpy(p.reason, "card_declined");
  strcpy(p.amount, "10.13");
  strcpy(p.currency, "EUR");
  strcpy(p.processed_at, "2026-11-23T10:00:00.000Z");
  strcpy(p.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  char *a = op_payment_body(&p);
  char *b = op_payment_body(&p);
  assert_non_null(a);
  assert_string_equal(a, b); /* the same row, the same bytes */
  char expect[512];
  snprintf(expect, sizeof expect,
           "{\"order_id\":\"ord_1\",\"tenant_id\":\"t_acme\",\"payment_id\":\"%s\","
           "\"state\":\"failed\",\"reason\":\"card_declined\",\"amount\":\"10.13\","
           "\"currency\":\"EUR\",\"processed_at\":\"2026-11-23T10:00:00.000Z\","
           "\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\"}",
           p.payment_id);
  assert_string_equal(a, expect);
  free(a);
  free(b);
  strcpy(p.state, "succeeded");
  p.reason[0] = '\0';
  a = op_payment_body(&p);
  assert_null(strstr(a, "reason"));
  free(a);
  char other[37];
  op_payment_new_id(other);
  assert_string_not_equal(other, p.payment_id);
  (void)state;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rule_13_declines),
      cmocka_unit_test(test_rule_99_fails_twice_then_succeeds),
      cmocka_unit_test(test_rule_leaves_the_rest_to_chance),
      cmocka_unit_test(test_sim_gateway_rates),
      cmocka_unit_test(test_backoff),
      cmocka_unit_test(test_rate_parsing),
      cmocka_unit_test(test_body_and_ids),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
