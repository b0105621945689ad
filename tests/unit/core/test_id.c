/* Identifiers: hex, UUIDv4 and time-ordered UUIDv7. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/clock.h"
#include "core/id.h"

static void assert_uuid_shape(const char *u, char version) {
  assert_int_equal(strlen(u), OP_UUID_LEN);
  for (int i = 0; i < OP_UUID_LEN; i++) {
    if (i == 8 || i == 13 || i == 18 || i == 23)
      assert_int_equal(u[i], '-');
    else
      assert_non_null(strchr("0123456789abcdef", u[i]));
  }
  assert_int_equal(u[14], version);
  assert_non_null(strchr("89ab", u[19])); /* variant 10xx */
}

static void test_uuids(void **state) {
  char a[OP_UUID_LEN + 1], b[OP_UUID_LEN + 1];
  op_uuid_v4(a);
  op_uuid_v4(b);
  assert_uuid_shape(a, '4');
  assert_string_not_equal(a, b);
  int64_t before = op_now_ms();
  op_uuid_v7(a);
  assert_uuid_shape(a, '7');
  /* The first 48 bits are the time in ms. */
  char ms_hex[13];
  memcpy(ms_hex, a, 8);
  memcpy(ms_hex + 8, a + 9, 4);
  ms_hex[12] = '\0';
  int64_t ms = (int64_t)strtoll(ms_hex, NULL, 16);
  assert_true(ms >= before && ms <= op_now_ms());
  /* Ids made in later milliseconds sort after. */
  uint64_t start = op_mono_ns();
  while (op_now_ms() == ms && op_mono_ns() - start < 1000000000ull)
    ;
  op_uuid_v7(b);
  assert_true(strcmp(a, b) < 0);
  (void)state;
}

/* Ids made one after another strictly increase, also many within one ms
 * (an inbox lists notifications by id, newest first). */
static void test_v7_increases(void **state) {
  (void)state;
  char prev[OP_UUID_LEN + 1], cur[OP_UUID_LEN + 1];
  op_uuid_v7(prev);
  for (int i = 0; i < 20000; i++) {
    op_uuid_v7(cur);
    assert_uuid_shape(cur, '7');
    if (strcmp(prev, cur) >= 0)
      fail_msg("%s is not after %s", cur, prev);
    memcpy(prev, cur, sizeof prev);
  }
}

static void test_hex(void **state) {
  char h[129];
  op_random_hex(h, 64);
  assert_int_equal(strlen(h), 128);
  op_random_hex(h, 3);
  assert_int_equal(strlen(h), 6);
  assert_int_equal(strspn(h, "0123456789abcdef"), 6);
  (void)state;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_uuids),
      cmocka_unit_test(test_hex),
      cmocka_unit_test(test_v7_increases),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
