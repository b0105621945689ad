/* Configuration: defaults, environment, flags, validation and masking. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/config.h"
#include "core/err.h"

static const char *vars[] = {"PORT",      "DATABASE_URL", "JWT_SECRET",   "LOG_LEVEL",
                             "REDIS_URL", "SMTP_URL",     "KAFKA_BROKERS"};

static int clean_env(void **state) {
  for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
    unsetenv(vars[i]);
  return 0;
}

static int load(op_config_t *cfg, char *err, int argc, char **argv) {
  return op_config_load(cfg, &argc, argv, err, 256);
}

static void test_defaults(void **state) {
  op_config_t cfg;
  char err[256];
  char *argv[] = {"x", NULL};
  assert_int_equal(load(&cfg, err, 1, argv), 0);
  assert_int_equal(cfg.port, 8080);
  assert_string_equal(cfg.database_url, "sqlite://data/orderpulse.db");
  assert_int_equal(cfg.sse_heartbeat_seconds, 15);
  assert_int_equal(cfg.sse_replay_buffer_ttl_seconds, 300);
  assert_int_equal(cfg.sse_replay_buffer_size, 1000);
  assert_true(op_config_embedded_kafka(&cfg));
  op_config_free(&cfg);
}

static void test_env_then_flags(void **state) {
  setenv("PORT", "9000", 1);
  setenv("DATABASE_URL", "postgres://u:p@h/db", 1);
  op_config_t cfg;
  char err[256];
  char *argv[] = {"x", "--port", "9100", "keep", "--log-level=debug", "--other", NULL};
  int argc = 6;
  assert_int_equal(op_config_load(&cfg, &argc, argv, err, sizeof err), 0);
  assert_int_equal(cfg.port, 9100); /* the flag wins over the environment */
  assert_string_equal(cfg.database_url, "postgres://u:p@h/db");
  assert_string_equal(cfg.log_level, "debug");
  /* Arguments that are not settings stay, in order. */
  assert_int_equal(argc, 3);
  assert_string_equal(argv[1], "keep");
  assert_string_equal(argv[2], "--other");
  op_config_free(&cfg);
}

static void expect_error(const char *var, const char *value, const char *needle) {
  setenv(var, value, 1);
  op_config_t cfg;
  char err[256] = "";
  char *argv[] = {"x", NULL};
  assert_int_equal(load(&cfg, err, 1, argv), OP_ECONFIG);
  assert_non_null(strstr(err, var));
  assert_non_null(strstr(err, needle));
  assert_null(strchr(err, '\n'));
  op_config_free(&cfg);
  unsetenv(var);
}

static void test_invalid_values(void **state) {
  expect_error("PORT", "eighty", "not an integer");
  expect_error("PORT", "70000", "out of range");
  expect_error("PORT", "", "not an integer");
  expect_error("DATABASE_URL", "mysql://x/y", "unsupported scheme");
  expect_error("DATABASE_URL", "just-a-path", "not a URL");
  expect_error("REDIS_URL", "http://x", "unsupported scheme");
  expect_error("LOG_LEVEL", "loud", "LOG_LEVEL");
}

static void test_flag_without_value(void **state) {
  op_config_t cfg;
  char err[256];
  char *argv[] = {"x", "--port", NULL};
  assert_int_equal(load(&cfg, err, 2, argv), OP_ECONFIG);
  assert_non_null(strstr(err, "--port"));
  op_config_free(&cfg);
}

static void test_print_masks_secrets(void **state) {
  setenv("JWT_SECRET", "supersecret", 1);
  setenv("DATABASE_URL", "postgres://app:hunter2@db:5432/orders", 1);
  setenv("SMTP_URL", "smtp://mailer:pw123@mx:25", 1);
  op_config_t cfg;
  char err[256];
  char *argv[] = {"x", NULL};
  assert_int_equal(load(&cfg, err, 1, argv), 0);
  char *text = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&text, &len);
  op_config_print(&cfg, out);
  fclose(out);
  assert_null(strstr(text, "supersecret"));
  assert_null(strstr(text, "hunter2"));
  assert_null(strstr(text, "pw123"));
  assert_non_null(strstr(text, "JWT_SECRET=****"));
  assert_non_null(strstr(text, "DATABASE_URL=postgres://app:****@db:5432/orders"));
  assert_non_null(strstr(text, "SMTP_URL=smtp://mailer:****@mx:25"));
  free(text);
  op_config_free(&cfg);
}

static void test_mask_url_without_password(void **state) {
  char out[128];
  op_config_mask_url("postgres://app@db/orders", out, sizeof out);
  assert_string_equal(out, "postgres://app@db/orders");
  op_config_mask_url("redis://:pw@host:6379", out, sizeof out);
  assert_string_equal(out, "redis://:****@host:6379");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_defaults, clean_env),
      cmocka_unit_test_setup(test_env_then_flags, clean_env),
      cmocka_unit_test_setup(test_invalid_values, clean_env),
      cmocka_unit_test_setup(test_flag_without_value, clean_env),
      cmocka_unit_test_setup(test_print_masks_secrets, clean_env),
      cmocka_unit_test_setup(test_mask_url_without_password, clean_env),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
