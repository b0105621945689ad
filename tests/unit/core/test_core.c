/* Core helpers: time formats, metrics rendering, health aggregation, buffers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/health.h"
#include "core/metrics.h"

static void test_rfc3339(void **state) {
  int64_t ms;
  assert_int_equal(op_parse_rfc3339("2026-11-23T10:00:00.000Z", &ms), 0);
  assert_int_equal(ms, 1795428000000LL);
  assert_int_equal(op_parse_rfc3339("2026-11-23T11:00:00.5+01:00", &ms), 0);
  assert_int_equal(ms, 1795428000500LL);
  assert_int_equal(op_parse_rfc3339("2026-11-23T10:00:00Z", &ms), 0);
  int64_t us;
  const char *t = "2026-11-23T10:00:00.123456789Z trailing";
  assert_int_equal(op_parse_rfc3339_us(t, 30, &us), 0);
  assert_int_equal(us, 1795428000123456LL);
  assert_int_equal(op_parse_rfc3339_us(t, 31, &us), OP_EINVAL);
  assert_int_equal(op_parse_rfc3339("1969-12-31T23:59:59.9995Z", &ms), 0);
  assert_int_equal(ms, -1); /* floor, not truncation towards zero */
  const char *bad[] = {"",
                       "yesterday",
                       "2026-11-23",
                       "2026-11-23T10:00:00",
                       "2026-13-01T00:00:00Z",
                       "2026-11-23T10:00:00.Z",
                       "2026-11-23T10:00:00Zjunk",
                       "2026-11-23 10:00:00Z"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_int_equal(op_parse_rfc3339(bad[i], &ms), OP_EINVAL);
  char out[OP_ISO8601_LEN];
  assert_string_equal(op_iso8601(1795428000123LL, out), "2026-11-23T10:00:00.123Z");
}

static void test_metrics_render(void **state) {
  op_metrics_reset();
  op_metric_t *c = op_counter("t_total", "a counter", "kind=\"a\"");
  assert_ptr_equal(c, op_counter("t_total", "a counter", "kind=\"a\""));
  op_counter_add(c, 3);
  op_gauge_set(op_gauge("t_gauge", "a gauge", NULL), -2);
  const double bounds[] = {0.1, 1};
  op_metric_t *h = op_histogram("t_seconds", "a histogram", NULL, bounds, 2);
  op_histogram_observe(h, 0.05);
  op_histogram_observe(h, 0.5);
  op_histogram_observe(h, 5);
  op_buf_t out = OP_BUF_INIT;
  assert_int_equal(op_metrics_render(&out), 0);
  assert_non_null(strstr(out.data, "# TYPE t_total counter\nt_total{kind=\"a\"} 3\n"));
  assert_non_null(strstr(out.data, "t_gauge -2\n"));
  assert_non_null(strstr(out.data, "t_seconds_bucket{le=\"0.1\"} 1\n"));
  assert_non_null(strstr(out.data, "t_seconds_bucket{le=\"1\"} 2\n"));
  assert_non_null(strstr(out.data, "t_seconds_bucket{le=\"+Inf\"} 3\n"));
  assert_non_null(strstr(out.data, "t_seconds_count 3\n"));
  op_buf_free(&out);
  op_metrics_reset();
}

static void test_health(void **state) {
  op_health_reset();
  op_health_register("database", 1);
  op_health_register("kafka", 0);
  op_health_set("database", OP_HEALTH_OK, "sqlite");
  op_health_set("kafka", OP_HEALTH_OK, "consuming");
  assert_int_equal(op_health_overall(), OP_HEALTH_OK);
  op_health_set("kafka", OP_HEALTH_DOWN, "all brokers down");
  assert_int_equal(op_health_overall(), OP_HEALTH_DEGRADED);
  op_health_set("database", OP_HEALTH_DOWN, "connection refused");
  op_buf_t out = OP_BUF_INIT;
  assert_int_equal(op_health_render(&out), OP_HEALTH_DOWN);
  assert_non_null(strstr(out.data, "\"status\":\"down\""));
  assert_non_null(
      strstr(out.data, "\"kafka\":{\"status\":\"down\",\"detail\":\"all brokers down\"}"));
  op_buf_free(&out);
  op_health_reset();
}

static void test_buf_and_errors(void **state) {
  op_buf_t b = OP_BUF_INIT;
  for (int i = 0; i < 1000; i++)
    assert_int_equal(op_buf_printf(&b, "%d,", i), 0);
  assert_int_equal(b.len, strlen(b.data));
  assert_memory_equal(b.data, "0,1,2,", 6);
  op_buf_free(&b);
  assert_string_equal(op_err_name(OP_EDBDOWN), "EDBDOWN");
  assert_string_equal(op_strerror(OP_ETIMEDOUT), "operation timed out");
  assert_string_equal(op_strerror(-999), "unknown error");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rfc3339),
      cmocka_unit_test(test_metrics_render),
      cmocka_unit_test(test_health),
      cmocka_unit_test(test_buf_and_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
