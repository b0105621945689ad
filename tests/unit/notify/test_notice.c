/* notifications.events messages: each state's message passes the topic's own
 * validator (contracts/messages.h), and enqueue stores it in the outbox. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "contracts/messages.h"
#include "notify/notice.h"
#include "store/store.h"

static op_notice_t sample(const char *state) {
  op_notice_t n = {.notification_id = "0193a0b2-0000-7000-8000-000000000001",
                   .tenant_id = "t_acme",
                   .user_id = "u_owner",
                   .channel = "email",
                   .template = "order_paid",
                   .state = state,
                   .order_id = "ord_1",
                   .sent_at_ms = 1795000000000,
                   .reason = "550 mailbox unavailable",
                   .trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"};
  return n;
}

static void check_valid(const op_notice_t *n, op_notification_event_t *out) {
  char *text = op_notice_json(n);
  assert_non_null(text);
  op_contract_error_t err;
  int rc = op_contract_parse_notification_event(text, strlen(text), out, &err);
  if (rc != 0)
    fail_msg("%s: %s", err.reason, err.message);
  free(text);
}

static void every_state_follows_the_contract(void **state) {
  (void)state;
  static const char *const states[] = {"queued", "sent", "failed"};
  for (size_t i = 0; i < 3; i++) {
    op_notice_t n = sample(states[i]);
    op_notification_event_t ev;
    check_valid(&n, &ev);
    assert_string_equal(ev.state, states[i]);
    assert_string_equal(ev.user_id, "u_owner");
    assert_string_equal(ev.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    op_notification_event_clear(&ev);
  }
}

static void missing_trace_gets_a_new_one_and_long_reason_is_cut(void **state) {
  (void)state;
  char reason[2000];
  memset(reason, 'x', sizeof reason - 1);
  reason[sizeof reason - 1] = '\0';
  op_notice_t n = sample("failed");
  n.trace_id = "not-a-trace";
  n.reason = reason;
  op_notification_event_t ev;
  check_valid(&n, &ev);
  assert_int_equal(strlen(ev.trace_id), 32);
  assert_string_not_equal(ev.trace_id, "not-a-trace");
  op_notification_event_clear(&ev);
}

static int count_rows(op_rows_t *rows) {
  int n = (int)op_rows_count(rows);
  op_rows_free(rows);
  return n;
}

static void enqueue_stores_the_message(void **state) {
  (void)state;
  char err[256];
  op_store_t *store = op_store_open("sqlite://:memory:", err, sizeof err);
  assert_non_null(store);
  assert_int_equal(op_store_migrate(store, err, sizeof err), 0);
  op_notice_t n = sample("queued");
  assert_int_equal(op_notice_enqueue(store, &n, 1795000000000), 0);
  op_rows_t *rows = NULL;
  assert_int_equal(
      op_store_exec(store, "SELECT msg_key, trace_id FROM notify_publish_outbox", 0, NULL, &rows),
      0);
  assert_string_equal(op_rows_get(rows, 0, 0), "u_owner");
  assert_string_equal(op_rows_get(rows, 0, 1), "4bf92f3577b34da6a3ce929d0e0e4736");
  assert_int_equal(count_rows(rows), 1);
  op_store_close(store);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(every_state_follows_the_contract),
      cmocka_unit_test(missing_trace_gets_a_new_one_and_long_reason_is_cut),
      cmocka_unit_test(enqueue_stores_the_message),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
