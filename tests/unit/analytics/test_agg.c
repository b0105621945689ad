/* Analytics arithmetic: nearest-rank percentiles, money as two integer sums,
 * windows and success rates. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "analytics/agg.h"
#include "core/err.h"

static const char *fmt(op_dec_t v) {
  static char buf[OP_DEC_MAX_LEN];
  return op_dec_format(v, buf);
}

static void test_percentile_nearest_rank(void **state) {
  int64_t v[] = {3000, 80, 450, 999, 120};
  op_an_sort(v, 5);
  int64_t sorted[] = {80, 120, 450, 999, 3000};
  assert_memory_equal(v, sorted, sizeof sorted);
  int64_t out;
  assert_int_equal(op_an_percentile(v, 5, 50, &out), 0);
  assert_int_equal(out, 450); /* rank ceil(2.5) = 3 */
  assert_int_equal(op_an_percentile(v, 5, 95, &out), 0);
  assert_int_equal(out, 3000); /* rank ceil(4.75) = 5 */
  assert_int_equal(op_an_percentile(v, 5, 100, &out), 0);
  assert_int_equal(out, 3000);
  assert_int_equal(op_an_percentile(v, 5, 1, &out), 0);
  assert_int_equal(out, 80);
  /* An even count: p50 is the lower middle value, never an interpolation. */
  int64_t four[] = {10, 20, 30, 40};
  assert_int_equal(op_an_percentile(four, 4, 50, &out), 0);
  assert_int_equal(out, 20);
  int64_t one[] = {7};
  assert_int_equal(op_an_percentile(one, 1, 95, &out), 0);
  assert_int_equal(out, 7);
}

static void test_percentile_large_and_edges(void **state) {
  static int64_t v[10000];
  for (size_t i = 0; i < 10000; i++)
    v[i] = (int64_t)(9999 - i); /* 0..9999 reversed */
  op_an_sort(v, 10000);
  int64_t out;
  assert_int_equal(op_an_percentile(v, 10000, 50, &out), 0);
  assert_int_equal(out, 4999); /* rank 5000 */
  assert_int_equal(op_an_percentile(v, 10000, 95, &out), 0);
  assert_int_equal(out, 9499); /* rank 9500 */
  assert_int_equal(op_an_percentile(v, 0, 50, &out), OP_ENOENT);
  assert_int_equal(op_an_percentile(v, 10, 0, &out), OP_EINVAL);
  assert_int_equal(op_an_percentile(v, 10, 101, &out), OP_EINVAL);
}

static op_dec_t dec(const char *s) {
  op_dec_t v;
  assert_int_equal(op_dec_parse(s, &v), 0);
  return v;
}

static void test_money_sums_are_exact(void **state) {
  /* 0.10 + 0.20 + … summed as parts: exact where a double is not. */
  const char *amounts[] = {"0.10", "0.20", "129.90", "10.05", "0.01", "999999999999999.9999",
                           "-5.5"};
  int64_t whole = 0, frac = 0;
  op_dec_t direct = 0;
  for (size_t i = 0; i < sizeof amounts / sizeof amounts[0]; i++) {
    int64_t w, f;
    op_an_money_split(dec(amounts[i]), &w, &f);
    whole += w;
    frac += f;
    direct += dec(amounts[i]);
  }
  assert_true(op_an_money_join(whole, frac) == direct);
  assert_string_equal(fmt(op_an_money_join(whole, frac)), "1000000000000134.7599");
  int64_t w, f;
  op_an_money_split(dec("-1.2345"), &w, &f);
  assert_int_equal(w, -1);
  assert_int_equal(f, -2345);
  assert_string_equal(fmt(op_an_money_join(w, f)), "-1.2345");
  /* Many small amounts: the ten-thousandths carry into whole units on join. */
  whole = frac = 0;
  for (int i = 0; i < 100000; i++) {
    op_an_money_split(dec("0.99"), &w, &f);
    whole += w;
    frac += f;
  }
  assert_string_equal(fmt(op_an_money_join(whole, frac)), "99000.00");
}

static void test_windows_and_rates(void **state) {
  assert_int_equal(op_an_window_start(1795600000123, 60000), 1795599960000);
  assert_int_equal(op_an_window_start(120000, 60000), 120000);
  assert_int_equal(op_an_window_start(119999, 60000), 60000);
  assert_int_equal(op_an_window_start(-1, 60000), -60000);
  assert_true(op_an_success_rate(0, 0) < 0);
  assert_true(op_an_success_rate(3, 1) == 0.75);
  assert_true(op_an_success_rate(0, 2) == 0.0);
  assert_true(op_an_success_rate(5, 0) == 1.0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_percentile_nearest_rank),
      cmocka_unit_test(test_percentile_large_and_edges),
      cmocka_unit_test(test_money_sums_are_exact),
      cmocka_unit_test(test_windows_and_rates),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
