/* The user directory's validation: field names of bad and unknown fields,
 * per body kind, and the e-mail and id rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "notify/users.h"

/* Checks text as mode; returns the bad field names joined by ','. */
static char *check(const char *text, op_user_mode_t mode, int *rc, op_user_input_t *in) {
  static char names[512];
  json_t *doc = json_loads(text, 0, NULL);
  assert_non_null(doc);
  json_t *fields = json_array();
  *rc = op_user_check(doc, mode, in, fields);
  names[0] = '\0';
  size_t i;
  json_t *f;
  json_array_foreach(fields, i, f) {
    if (i)
      strcat(names, ",");
    strcat(names, json_string_value(f));
  }
  json_decref(fields);
  json_decref(doc);
  return names;
}

static void test_create_valid(void **state) {
  (void)state;
  op_user_input_t in;
  int rc;
  json_t *doc =
      json_loads("{\"email\":\"a@b.example\",\"display_name\":\"Ann\","
                 "\"roles\":[\"Owner\",\"Cashier\"],\"notification_email_enabled\":false}",
                 0, NULL);
  json_t *fields = json_array();
  rc = op_user_check(doc, OP_USER_CREATE, &in, fields);
  assert_int_equal(rc, 0);
  assert_int_equal(json_array_size(fields), 0);
  assert_string_equal(in.email, "a@b.example");
  assert_string_equal(in.roles, "[\"Owner\",\"Cashier\"]");
  assert_int_equal(in.email_enabled, 0);
  assert_int_equal(in.in_app_enabled, -1);
  assert_null(in.user_id);
  op_user_input_clear(&in);
  json_decref(fields);
  json_decref(doc);
}

static void test_create_bad_fields(void **state) {
  (void)state;
  op_user_input_t in;
  int rc;
  char *names = check("{\"email\":\"nope\",\"display_name\":\"\",\"roles\":\"Owner\","
                      "\"notification_in_app_enabled\":1,\"colour\":\"red\",\"user_id\":\"a b\"}",
                      OP_USER_CREATE, &rc, &in);
  assert_int_not_equal(rc, 0);
  assert_string_equal(names, "email,display_name,roles,notification_in_app_enabled,colour,user_id");
  op_user_input_clear(&in);
  names = check("{}", OP_USER_CREATE, &rc, &in);
  assert_int_not_equal(rc, 0);
  assert_string_equal(names, "email,display_name,roles");
  op_user_input_clear(&in);
}

static void test_roles_limits(void **state) {
  (void)state;
  op_user_input_t in;
  int rc;
  check("{\"roles\":[]}", OP_USER_PATCH, &rc, &in);
  assert_int_equal(rc, 0);
  op_user_input_clear(&in);
  check("{\"roles\":[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\",\"j\",\"k\",\"l\","
        "\"m\",\"n\",\"o\",\"p\",\"q\"]}",
        OP_USER_PATCH, &rc, &in);
  assert_int_not_equal(rc, 0); /* 17 roles */
  op_user_input_clear(&in);
  char body[256];
  snprintf(body, sizeof body, "{\"roles\":[\"%065d\"]}", 0);
  check(body, OP_USER_PATCH, &rc, &in);
  assert_int_not_equal(rc, 0); /* 65 bytes */
  op_user_input_clear(&in);
  check("{\"roles\":[\"\"]}", OP_USER_PATCH, &rc, &in);
  assert_int_not_equal(rc, 0);
  op_user_input_clear(&in);
  check("{\"roles\":[1]}", OP_USER_PATCH, &rc, &in);
  assert_int_not_equal(rc, 0);
  op_user_input_clear(&in);
}

static void test_patch_and_prefs(void **state) {
  (void)state;
  op_user_input_t in;
  int rc;
  char *names = check("{\"user_id\":\"u_x\",\"display_name\":\"B\"}", OP_USER_PATCH, &rc, &in);
  assert_int_not_equal(rc, 0);
  assert_string_equal(names, "user_id"); /* an id is not changed by PATCH */
  op_user_input_clear(&in);
  names = check("{\"notification_email_enabled\":false,\"email\":\"a@b.example\"}", OP_USER_PREFS,
                &rc, &in);
  assert_int_not_equal(rc, 0);
  assert_string_equal(names, "email");
  op_user_input_clear(&in);
  check("{\"notification_email_enabled\":false,\"notification_in_app_enabled\":true}",
        OP_USER_PREFS, &rc, &in);
  assert_int_equal(rc, 0);
  assert_int_equal(in.email_enabled, 0);
  assert_int_equal(in.in_app_enabled, 1);
  op_user_input_clear(&in);
  names = check("{\"notification_email_enabled\":\"no\"}", OP_USER_PREFS, &rc, &in);
  assert_string_equal(names, "notification_email_enabled");
  op_user_input_clear(&in);
}

static void test_email_and_id(void **state) {
  (void)state;
  assert_true(op_user_email_ok("owner@acme.example"));
  assert_true(op_user_email_ok("a.b+c@mail.acme.example"));
  assert_false(op_user_email_ok("owner"));
  assert_false(op_user_email_ok("@acme.example"));
  assert_false(op_user_email_ok("a@b"));
  assert_false(op_user_email_ok("a@@b.example"));
  assert_false(op_user_email_ok("a b@c.example"));
  assert_false(op_user_email_ok("a@b.example\r\nBcc: x@y.z"));
  assert_false(op_user_email_ok("a@.example"));
  assert_false(op_user_email_ok("a@b..example"));
  assert_false(op_user_email_ok("a@example."));
  assert_true(op_user_id_ok("u_acme_owner"));
  assert_false(op_user_id_ok(""));
  assert_false(op_user_id_ok("u 1"));
  assert_false(op_user_id_ok("me"));
  char id[32];
  op_user_new_id(id);
  assert_int_equal(strlen(id), 26);
  assert_memory_equal(id, "u_", 2);
  assert_true(op_user_id_ok(id));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_create_valid), cmocka_unit_test(test_create_bad_fields),
      cmocka_unit_test(test_roles_limits), cmocka_unit_test(test_patch_and_prefs),
      cmocka_unit_test(test_email_and_id),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
