/* Exact decimal money: the contract's grammar, arithmetic bounds, formatting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/decimal.h"
#include "core/err.h"

static const char *fmt(op_dec_t v) {
  static char buf[OP_DEC_MAX_LEN];
  return op_dec_format(v, buf);
}

static void test_parse_and_format(void **state) {
  struct {
    const char *in, *out;
  } ok[] = {{"129.90", "129.90"},
            {"0", "0.00"},
            {"-1.5", "-1.50"},
            {"0.0001", "0.0001"},
            {"12.3450", "12.345"},
            {"-0.00", "0.00"},
            {"999999999999999.9999", "999999999999999.9999"}};
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    op_dec_t v;
    assert_int_equal(op_dec_parse(ok[i].in, &v), 0);
    assert_string_equal(fmt(v), ok[i].out);
  }
  const char *bad[] = {"",      "-",   ".5",    "1.",   "1.23456", "1e3",
                       "+1",    " 1",  "1,00",  "0x10", "NaN",     "1234567890123456",
                       "1.2.3", "--1", "12.34 "};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    op_dec_t v;
    assert_int_equal(op_dec_parse(bad[i], &v), OP_EINVAL);
  }
  op_dec_t v;
  assert_int_equal(op_dec_parse_n("12.50xyz", 5, &v), 0);
  assert_string_equal(fmt(v), "12.50");
  assert_int_equal(op_dec_parse(NULL, &v), OP_EINVAL);
  (void)state;
}

static void test_arithmetic(void **state) {
  op_dec_t a, b, r;
  assert_int_equal(op_dec_parse("0.10", &a), 0);
  assert_int_equal(op_dec_parse("0.20", &b), 0);
  assert_int_equal(op_dec_add(a, b, &r), 0);
  assert_string_equal(fmt(r), "0.30"); /* exactly, unlike a double */
  assert_int_equal(op_dec_mul_int(a, 3, &r), 0);
  assert_string_equal(fmt(r), "0.30");
  assert_int_equal(op_dec_parse("999999999999999.9999", &a), 0);
  assert_int_equal(op_dec_mul_int(a, 2, &r), OP_ERANGE);
  assert_int_equal(op_dec_mul_int(a, INT64_MAX, &r), OP_ERANGE);
  assert_int_equal(op_dec_add(a, a, &r), OP_ERANGE);
  assert_int_equal(op_dec_mul_int(a, -1, &r), 0);
  assert_string_equal(fmt(r), "-999999999999999.9999");
  (void)state;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_and_format),
      cmocka_unit_test(test_arithmetic),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
