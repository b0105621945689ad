/* The role map (NOTIFY_RECIPIENT_ROLES) and recipient selection, the latter
 * on an in-memory SQLite store with the real migrations. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "notify/recipients.h"
#include "store/events.h"
#include "store/store.h"

static void test_parse_default(void **state) {
  (void)state;
  op_role_map_t map;
  char err[256];
  assert_int_equal(op_role_map_parse(" order_paid = Owner, Manager ,Cashier ; order_created=Owner;",
                                     &map, err, sizeof err),
                   0);
  assert_int_equal(map.n, 2);
  const op_role_map_entry_t *e = op_role_map_find(&map, "order_paid");
  assert_non_null(e);
  assert_int_equal(e->nroles, 3);
  assert_string_equal(e->roles[1], "Manager");
  assert_null(op_role_map_find(&map, "order_status_updated"));
  const char *cashier[] = {"Staff", "Cashier"}, *staff[] = {"Staff"}, *lower[] = {"owner"};
  assert_true(op_role_map_matches(e, cashier, 2));
  assert_false(op_role_map_matches(e, staff, 1));
  assert_false(op_role_map_matches(e, lower, 1)); /* exact, case-sensitive */
  assert_false(op_role_map_matches(NULL, cashier, 2));
  assert_true(op_role_map_matches_json(e, "[\"Viewer\",\"Owner\"]"));
  assert_false(op_role_map_matches_json(e, "[]"));
  assert_false(op_role_map_matches_json(e, "not json"));
  assert_int_equal(op_role_map_parse("", &map, err, sizeof err), 0);
  assert_int_equal(map.n, 0);
}

static void test_parse_bad(void **state) {
  (void)state;
  static const char *const bad[] = {"order_paid",        "=Owner",
                                    "order_paid=",       "order_paid=Owner,,Cashier",
                                    "Order_Paid=Owner",  "order_paid=Owner;order_paid=Manager",
                                    "order_paid=Own=er", "order paid=Owner"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    op_role_map_t map;
    char err[256] = "";
    assert_int_equal(op_role_map_parse(bad[i], &map, err, sizeof err), OP_ECONFIG);
    assert_non_null(strstr(err, "NOTIFY_RECIPIENT_ROLES"));
    assert_null(strchr(err, '\n'));
  }
}

static void test_texts(void **state) {
  (void)state;
  op_order_event_t ev = {.event_type = "order_paid",
                         .order_id = "ord_1",
                         .reference = "A-1001",
                         .total_amount = "129.90",
                         .currency = "EUR",
                         .status = "paid"};
  char title[128], body[64];
  op_recipients_texts(&ev, title, sizeof title, body, sizeof body);
  assert_string_equal(title, "Order A-1001 paid");
  assert_string_equal(body, "129.90 EUR");
  ev.reference = NULL;
  op_recipients_texts(&ev, title, sizeof title, body, sizeof body);
  assert_string_equal(title, "Order ord_1 paid");
  ev.event_type = "order_status_updated";
  ev.status = "shipped";
  ev.total_amount = NULL;
  op_recipients_texts(&ev, title, sizeof title, body, sizeof body);
  assert_string_equal(title, "Order ord_1 is now shipped");
  assert_string_equal(body, "Status: shipped");
}

static void add_user(op_store_t *st, const char *tenant, const char *user, const char *roles,
                     const char *email_on, const char *in_app_on) {
  const char *p[] = {tenant, user, roles, email_on, in_app_on};
  assert_int_equal(op_store_exec(st,
                                 "INSERT INTO notify_users VALUES ($1, $2, 'x@y.example', 'X', $3,"
                                 " $4, $5, 0, 0)",
                                 5, p, NULL),
                   0);
}

static int64_t count(op_store_t *st, const char *sql) {
  op_rows_t *rows = NULL;
  int64_t n = -1;
  assert_int_equal(op_store_exec(st, sql, 0, NULL, &rows), 0);
  op_rows_get_int64(rows, 0, 0, &n);
  op_rows_free(rows);
  return n;
}

static void test_selection(void **state) {
  (void)state;
  char err[256];
  op_store_t *st = op_store_open("sqlite://:memory:", err, sizeof err);
  assert_non_null(st);
  assert_int_equal(op_store_migrate(st, err, sizeof err), 0);
  add_user(st, "t1", "u_owner", "[\"Owner\"]", "1", "1");
  add_user(st, "t1", "u_cashier", "[\"Cashier\"]", "0", "1"); /* in-app only */
  add_user(st, "t1", "u_manager", "[\"Manager\"]", "1", "0"); /* email only */
  add_user(st, "t1", "u_viewer", "[\"Viewer\"]", "1", "1");   /* outside the map */
  add_user(st, "t2", "u_other", "[\"Owner\"]", "1", "1");     /* another tenant */
  op_recipients_t rc = {0};
  assert_int_equal(op_role_map_parse("order_paid=Owner,Manager,Cashier", &rc.map, err, sizeof err),
                   0);
  const char *raw = "{}";
  op_order_event_t evs[3] = {{.event_id = "e1",
                              .event_type = "order_paid",
                              .order_id = "o1",
                              .tenant_id = "t1",
                              .timestamp = "2025-01-01T00:00:00Z",
                              .status = "paid",
                              .reference = "A-1",
                              .total_amount = "1.00",
                              .currency = "EUR",
                              .raw = raw,
                              .raw_len = 2},
                             {.event_id = "e2",
                              .event_type = "order_created",
                              .order_id = "o1",
                              .tenant_id = "t1",
                              .timestamp = "2025-01-01T00:00:00Z",
                              .status = "created",
                              .raw = raw,
                              .raw_len = 2},
                             {.event_id = "e1",
                              .event_type = "order_paid",
                              .order_id = "o1",
                              .tenant_id = "t1",
                              .timestamp = "2025-01-01T00:00:00Z",
                              .status = "paid",
                              .raw = raw,
                              .raw_len = 2}};
  op_event_result_t results[3];
  for (int round = 0; round < 2; round++) { /* the second round is a redelivery */
    assert_int_equal(op_store_begin(st), 0);
    assert_int_equal(op_events_apply(st, evs, 3, results, 1000), 0);
    assert_int_equal(op_recipients_apply(&rc, st, evs, results, 3, 1000), 0);
    assert_int_equal(op_store_commit(st), 0);
    assert_int_equal(rc.npending, round == 0 ? 2 : 0);
    op_recipients_clear(&rc);
  }
  assert_int_equal(count(st, "SELECT COUNT(*) FROM notify_inbox"), 2);
  assert_int_equal(count(st, "SELECT COUNT(*) FROM notify_inbox WHERE user_id IN"
                             " ('u_owner', 'u_cashier') AND title = 'Order A-1 paid'"),
                   2);
  assert_int_equal(count(st, "SELECT COUNT(*) FROM notify_email_outbox WHERE state = 'queued'"), 2);
  assert_int_equal(count(st, "SELECT COUNT(*) FROM notify_email_outbox WHERE user_id IN"
                             " ('u_owner', 'u_manager')"),
                   2);
  assert_int_equal(count(st, "SELECT COUNT(*) FROM notify_publish_outbox"), 4);
  /* the owner's two channels share one notification id */
  assert_int_equal(count(st, "SELECT COUNT(*) FROM notify_inbox i JOIN notify_email_outbox e"
                             " ON e.notification_id = i.notification_id"),
                   1);
  free(rc.pending);
  op_store_close(st);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_default),
      cmocka_unit_test(test_parse_bad),
      cmocka_unit_test(test_texts),
      cmocka_unit_test(test_selection),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
