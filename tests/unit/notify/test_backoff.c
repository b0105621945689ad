/* The email sender's pure rules: retry delays, outcome classes, the
 * RFC 2047 subject. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "notify/mailpolicy.h"

static void delay_doubles_up_to_the_cap(void **state) {
  assert_int_equal(op_mail_retry_delay_ms(200, 10000, 1, 0), 200);
  assert_int_equal(op_mail_retry_delay_ms(200, 10000, 2, 0), 400);
  assert_int_equal(op_mail_retry_delay_ms(200, 10000, 3, 0), 800);
  assert_int_equal(op_mail_retry_delay_ms(200, 10000, 6, 0), 6400);
  assert_int_equal(op_mail_retry_delay_ms(200, 10000, 7, 0), 10000);
  assert_int_equal(op_mail_retry_delay_ms(200, 10000, 1000000, 0), 10000); /* no overflow */
  assert_int_equal(op_mail_retry_delay_ms(200, 10000, 0, 0), 200);         /* clamped */
}

static void jitter_is_at_most_a_quarter(void **state) {
  assert_int_equal(op_mail_retry_delay_ms(2000, 300000, 1, -1.0), 1500);
  assert_int_equal(op_mail_retry_delay_ms(2000, 300000, 1, 1.0), 2500);
  assert_int_equal(op_mail_retry_delay_ms(2000, 300000, 1, 5.0), 2500); /* clamped */
  assert_int_equal(op_mail_retry_delay_ms(300000, 300000, 9, 1.0), 375000);
  for (double j = -1.0; j <= 1.0; j += 0.125) {
    int64_t d = op_mail_retry_delay_ms(1000, 60000, 3, j);
    assert_true(d >= 3000 && d <= 5000);
  }
  assert_true(op_mail_retry_delay_ms(1, 1, 1, -1.0) >= 1);
}

static void outcomes_are_classified(void **state) {
  int conn = -1;
  assert_int_equal(op_mail_classify(CURLE_OK, 250, &conn), OP_MAIL_SENT);
  assert_int_equal(conn, 0);
  assert_int_equal(op_mail_classify(CURLE_SEND_ERROR, 550, &conn), OP_MAIL_FAILED);
  assert_int_equal(conn, 0);
  assert_int_equal(op_mail_classify(CURLE_SEND_ERROR, 451, &conn), OP_MAIL_RETRY);
  assert_int_equal(conn, 0);
  assert_int_equal(op_mail_classify(CURLE_LOGIN_DENIED, 535, &conn), OP_MAIL_RETRY);
  assert_int_equal(op_mail_classify(CURLE_COULDNT_CONNECT, 0, &conn), OP_MAIL_RETRY);
  assert_int_equal(conn, 1);
  assert_int_equal(op_mail_classify(CURLE_OPERATION_TIMEDOUT, 0, &conn), OP_MAIL_RETRY);
  assert_int_equal(conn, 1);
}

static void subject_header_is_encoded_when_not_ascii(void **state) {
  char *s = op_mail_subject_header("Order A-1 paid");
  assert_string_equal(s, "Order A-1 paid");
  free(s);
  s = op_mail_subject_header("Bestellung bezahlt: 129,90 \xe2\x82\xac");
  assert_string_equal(s, "=?UTF-8?B?QmVzdGVsbHVuZyBiZXphaGx0OiAxMjksOTAg4oKs?=");
  free(s);
  /* Long: several words, each <= 75 characters, none cutting a sequence. */
  char long_subject[301] = "";
  for (int i = 0; i < 100; i++)
    strcat(long_subject, "\xc3\xa9"); /* é */
  s = op_mail_subject_header(long_subject);
  for (char *w = strtok(s, " "); w; w = strtok(NULL, " ")) {
    assert_true(strlen(w) <= 75);
    assert_memory_equal(w, "=?UTF-8?B?", 10);
  }
  free(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(delay_doubles_up_to_the_cap),
      cmocka_unit_test(jitter_is_at_most_a_quarter),
      cmocka_unit_test(outcomes_are_classified),
      cmocka_unit_test(subject_header_is_encoded_when_not_ascii),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
