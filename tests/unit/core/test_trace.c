/* W3C traceparent: parsing, new ids, propagation with a new span. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "core/trace.h"

#define TP "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

static void test_parse(void **state) {
  char id[OP_TRACE_ID_LEN + 1];
  assert_int_equal(op_trace_parse(TP, strlen(TP), id), 0);
  assert_string_equal(id, "4bf92f3577b34da6a3ce929d0e0e4736");
  const char *bad[] = {
      "",
      "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", /* version */
      "00-00000000000000000000000000000000-00f067aa0ba902b7-01", /* zero trace */
      "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", /* zero span */
      "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", /* upper case */
      "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01", /* misplaced dash */
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",    /* short */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_int_equal(op_trace_parse(bad[i], strlen(bad[i]), id), OP_EINVAL);
  /* Not NUL-terminated: only len bytes are read. */
  assert_int_equal(op_trace_parse(TP, 20, id), OP_EINVAL);
  (void)state;
}

static void test_propagate_and_new(void **state) {
  char out[OP_TRACEPARENT_LEN + 1], id[OP_TRACE_ID_LEN + 1], again[OP_TRACEPARENT_LEN + 1];
  op_traceparent("4bf92f3577b34da6a3ce929d0e0e4736", out);
  assert_int_equal(strlen(out), OP_TRACEPARENT_LEN);
  assert_int_equal(op_trace_parse(out, strlen(out), id), 0);
  assert_string_equal(id, "4bf92f3577b34da6a3ce929d0e0e4736");
  op_traceparent("4bf92f3577b34da6a3ce929d0e0e4736", again);
  assert_string_not_equal(out + 36, again + 36); /* a new span per hop */

  op_traceparent(NULL, out);
  assert_int_equal(op_trace_parse(out, strlen(out), id), 0);
  op_traceparent("not-a-trace-id", again);
  assert_int_equal(op_trace_parse(again, strlen(again), id), 0);
  assert_memory_not_equal(out + 3, again + 3, OP_TRACE_ID_LEN); /* each a new trace */
  (void)state;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse),
      cmocka_unit_test(test_propagate_and_new),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
