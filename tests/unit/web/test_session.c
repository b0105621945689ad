/* The token sign-in's pure parts: what may go into the cookie, and finding
 * the web directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "auth/auth.h"
#include "web/session.h"
#include "web/static.h"

static void test_token_chars(void **state) {
  const char *jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.c2lnbmF0dXJl-_";
  assert_true(op_web_token_chars_ok(jwt, strlen(jwt)));
  assert_false(op_web_token_chars_ok("", 0));
  assert_false(op_web_token_chars_ok("a.b.c; Domain=evil", 18));
  assert_false(op_web_token_chars_ok("a.b c", 5));
  assert_false(op_web_token_chars_ok("a.b\r\nSet-Cookie: x", 18));
  assert_false(op_web_token_chars_ok("a=b", 3));
  /* An embedded NUL (a JSON string may hold \u0000) is refused. */
  assert_false(op_web_token_chars_ok("a.b\0c", 5));
  char *big = malloc(OP_AUTH_TOKEN_MAX + 2);
  assert_non_null(big);
  memset(big, 'a', OP_AUTH_TOKEN_MAX + 1);
  big[OP_AUTH_TOKEN_MAX + 1] = '\0';
  assert_false(op_web_token_chars_ok(big, OP_AUTH_TOKEN_MAX + 1));
  assert_true(op_web_token_chars_ok(big, OP_AUTH_TOKEN_MAX) == 0); /* length must match */
  big[OP_AUTH_TOKEN_MAX] = '\0';
  assert_true(op_web_token_chars_ok(big, OP_AUTH_TOKEN_MAX));
  free(big);
}

static void test_find_dir(void **state) {
  char out[4096];
  assert_int_equal(op_web_find_dir("/", NULL, out, sizeof out), 0);
  assert_string_equal(out, "/");
  assert_int_equal(op_web_find_dir("/no/such/dir/here", NULL, out, sizeof out), -1);
  assert_int_equal(op_web_find_dir("no-such-web-dir-0xyz", NULL, out, sizeof out), -1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_token_chars),
      cmocka_unit_test(test_find_dir),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
