/* The dashboard's static files: names served, content types, the walk. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "web/static.h"

static void put(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static void test_names(void **state) {
  assert_true(op_web_name_ok("index.html"));
  assert_true(op_web_name_ok("app-1_2.min.js"));
  assert_false(op_web_name_ok(".hidden"));
  assert_false(op_web_name_ok(".."));
  assert_false(op_web_name_ok("a b.js"));
  assert_false(op_web_name_ok("{id}"));
  assert_false(op_web_name_ok("x%2e.js"));
  assert_false(op_web_name_ok(""));
}

static void test_types(void **state) {
  assert_string_equal(op_web_content_type("index.html"), "text/html; charset=utf-8");
  assert_string_equal(op_web_content_type("main.js"), "text/javascript; charset=utf-8");
  assert_string_equal(op_web_content_type("app.css"), "text/css; charset=utf-8");
  assert_string_equal(op_web_content_type("logo.svg"), "image/svg+xml");
  assert_string_equal(op_web_content_type("README"), "application/octet-stream");
}

static void test_walk(void **state) {
  char dir[] = "/tmp/op-web-test-XXXXXX", path[256];
  assert_non_null(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/index.html", dir);
  put(path, "<!doctype html>");
  snprintf(path, sizeof path, "%s/.secret", dir);
  put(path, "no");
  snprintf(path, sizeof path, "%s/bad name.js", dir);
  put(path, "no");
  snprintf(path, sizeof path, "%s/js", dir);
  assert_int_equal(mkdir(path, 0700), 0);
  snprintf(path, sizeof path, "%s/js/main.js", dir);
  put(path, "export {};");

  op_http_router_t *router = op_http_router_new();
  char err[256];
  op_web_static_t *web = op_web_static_load(dir, router, err, sizeof err);
  assert_non_null(web);
  assert_int_equal(op_web_static_count(web), 2); /* index.html, js/main.js */
  op_http_router_free(router);
  op_web_static_free(web);

  router = op_http_router_new();
  assert_null(op_web_static_load("/nonexistent/op-web", router, err, sizeof err));
  assert_non_null(strstr(err, "cannot open"));
  op_http_router_free(router);

  snprintf(path, sizeof path, "rm -rf '%s'", dir);
  assert_int_equal(system(path), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_names),
      cmocka_unit_test(test_types),
      cmocka_unit_test(test_walk),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
