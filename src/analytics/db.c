/*
 * Analytics' SQL, written once for both backends with $N parameters. One
 * message is a handful of small statements in the caller's transaction; the
 * totals are increments done by the database (x = x + $n), so two instances
 * consuming different partitions of one tenant never lose an update.
 */
#include "analytics/db.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analytics/agg.h"
#include "core/clock.h"
#include "core/err.h"

#define NUM 24

typedef struct {
  char v[NUM];
} num_t;

static num_t num(int64_t v) {
  num_t n;
  snprintf(n.v, sizeof n.v, "%" PRId64, v);
  return n;
}

static int exec(op_store_t *st, const char *sql, int n, const char *const *params) {
  return op_store_exec(st, sql, n, params, NULL);
}

/* ---- apply ---------------------------------------------------------------- */

typedef struct {
  int64_t orders, succeeded, failed, audit, notifications;
} deltas_t;

static int add_totals(op_store_t *st, const char *tenant, int64_t window_start, deltas_t d,
                      int64_t now_ms) {
  num_t o = num(d.orders), s = num(d.succeeded), f = num(d.failed), a = num(d.audit),
        n = num(d.notifications), now = num(now_ms), ws = num(window_start);
  const char *tp[] = {tenant, o.v, s.v, f.v, a.v, n.v, now.v};
  int rc = exec(st,
                "INSERT INTO analytics_tenants (tenant_id, orders_total, payments_succeeded, "
                "payments_failed, audit_records, notifications, updated_at) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (tenant_id) DO UPDATE SET "
                "orders_total = analytics_tenants.orders_total + excluded.orders_total, "
                "payments_succeeded = analytics_tenants.payments_succeeded + "
                "excluded.payments_succeeded, "
                "payments_failed = analytics_tenants.payments_failed + excluded.payments_failed, "
                "audit_records = analytics_tenants.audit_records + excluded.audit_records, "
                "notifications = analytics_tenants.notifications + excluded.notifications, "
                "updated_at = excluded.updated_at",
                7, tp);
  if (rc)
    return rc;
  /* Every message marks its tenant active in the window, so the window is
   * published even when it only saw, say, inventory updates. */
  const char *wp[] = {tenant, ws.v, o.v, s.v, f.v};
  return exec(st,
              "INSERT INTO analytics_windows (tenant_id, window_start, orders, payments_succeeded, "
              "payments_failed, payload, published) VALUES ($1, $2, $3, $4, $5, NULL, 0) "
              "ON CONFLICT (tenant_id, window_start) DO UPDATE SET "
              "orders = analytics_windows.orders + excluded.orders, "
              "payments_succeeded = analytics_windows.payments_succeeded + "
              "excluded.payments_succeeded, "
              "payments_failed = analytics_windows.payments_failed + excluded.payments_failed",
              5, wp);
}

static int add_revenue(op_store_t *st, const op_an_msg_t *msg, int64_t window_start) {
  int64_t whole, frac;
  op_an_money_split(msg->amount, &whole, &frac);
  num_t w = num(whole), f = num(frac), ws = num(window_start);
  const char *tp[] = {msg->tenant_id, msg->currency, w.v, f.v};
  int rc = exec(st,
                "INSERT INTO analytics_revenue (tenant_id, currency, whole, frac) "
                "VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id, currency) DO UPDATE SET "
                "whole = analytics_revenue.whole + excluded.whole, "
                "frac = analytics_revenue.frac + excluded.frac",
                4, tp);
  if (rc)
    return rc;
  const char *wp[] = {msg->tenant_id, ws.v, msg->currency, w.v, f.v};
  return exec(st,
              "INSERT INTO analytics_window_revenue (tenant_id, window_start, currency, whole, "
              "frac) VALUES ($1, $2, $3, $4, $5) "
              "ON CONFLICT (tenant_id, window_start, currency) DO UPDATE SET "
              "whole = analytics_window_revenue.whole + excluded.whole, "
              "frac = analytics_window_revenue.frac + excluded.frac",
              5, wp);
}

/* The order's latest status; its created and paid times (the first seen of
 * each); and, once both are known, its created→paid latency, recorded once
 * in the window of the message that completed the pair. */
static int apply_order_event(op_store_t *st, const op_an_msg_t *msg, int64_t window_start) {
  int created = strcmp(msg->event_type, "order_created") == 0;
  int paid = strcmp(msg->event_type, "order_paid") == 0;
  num_t ts = num(msg->ts_ms);
  const char *p[] = {msg->tenant_id, msg->order_id, msg->status, created ? ts.v : NULL,
                     paid ? ts.v : NULL};
  op_rows_t *rows = NULL;
  int rc = op_store_exec(
      st,
      "INSERT INTO analytics_orders (tenant_id, order_id, status, created_ms, paid_ms, "
      "latency_done) VALUES ($1, $2, $3, $4, $5, 0) ON CONFLICT (tenant_id, order_id) DO UPDATE "
      "SET status = excluded.status, "
      "created_ms = COALESCE(analytics_orders.created_ms, excluded.created_ms), "
      "paid_ms = COALESCE(analytics_orders.paid_ms, excluded.paid_ms) "
      "RETURNING created_ms, paid_ms, latency_done",
      5, p, &rows);
  if (rc)
    return rc;
  int64_t c_ms, p_ms, done = 1;
  int complete = op_rows_get_int64(rows, 0, 0, &c_ms) == 0 &&
                 op_rows_get_int64(rows, 0, 1, &p_ms) == 0 &&
                 op_rows_get_int64(rows, 0, 2, &done) == 0 && done == 0;
  op_rows_free(rows);
  if (!complete)
    return 0;
  /* Clocks of two hosts can disagree; a negative latency counts as 0 (the
   * contract's minimum) rather than being dropped. */
  num_t lat = num(p_ms > c_ms ? p_ms - c_ms : 0), ws = num(window_start);
  const char *lp[] = {msg->tenant_id, msg->order_id, lat.v, ws.v};
  rc = exec(st,
            "INSERT INTO analytics_latencies (tenant_id, order_id, latency_ms, window_start) "
            "VALUES ($1, $2, $3, $4)",
            4, lp);
  if (rc)
    return rc;
  const char *up[] = {msg->tenant_id, msg->order_id};
  return exec(st,
              "UPDATE analytics_orders SET latency_done = 1 WHERE tenant_id = $1 AND order_id = $2",
              2, up);
}

static int apply_stock(op_store_t *st, const op_an_msg_t *msg, int64_t now_ms) {
  num_t avail = num(msg->available), now = num(now_ms);
  const char *p[] = {msg->tenant_id, msg->sku, avail.v, now.v};
  return exec(st,
              "INSERT INTO analytics_stock (tenant_id, sku, available, updated_at) "
              "VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id, sku) DO UPDATE SET "
              "available = excluded.available, updated_at = excluded.updated_at",
              4, p);
}

int op_an_db_apply(op_store_t *st, const op_an_msg_t *msg, int64_t now_ms, int64_t window_ms,
                   int *fresh) {
  *fresh = 0;
  num_t now = num(now_ms);
  const char *sp[] = {msg->key, now.v};
  int rc = exec(st,
                "INSERT INTO analytics_seen (dedupe_key, received_at) VALUES ($1, $2) "
                "ON CONFLICT (dedupe_key) DO NOTHING",
                2, sp);
  if (rc)
    return rc;
  if (op_store_changes(st) == 0)
    return 0; /* seen before: nothing changes */
  *fresh = 1;
  int64_t window_start = op_an_window_start(now_ms, window_ms);
  deltas_t d = {0};
  switch (msg->kind) {
    case OP_AN_ORDER_CREATED:
      d.orders = 1;
      break;
    case OP_AN_PAYMENT:
      d.succeeded = msg->succeeded;
      d.failed = !msg->succeeded;
      break;
    case OP_AN_AUDIT:
      d.audit = 1;
      break;
    case OP_AN_NOTIFICATION:
      d.notifications = 1;
      break;
    default:
      break;
  }
  rc = add_totals(st, msg->tenant_id, window_start, d, now_ms);
  if (rc == 0 && msg->kind == OP_AN_PAYMENT && msg->succeeded)
    rc = add_revenue(st, msg, window_start);
  if (rc == 0 && msg->kind == OP_AN_ORDER_EVENT)
    rc = apply_order_event(st, msg, window_start);
  if (rc == 0 && msg->kind == OP_AN_INVENTORY && msg->has_available)
    rc = apply_stock(st, msg, now_ms);
  return rc;
}

/* ---- reads ---------------------------------------------------------------- */

/* {"EUR":"129.90",…} from rows of (currency, whole, frac). */
static json_t *revenue_object(op_rows_t *rows) {
  json_t *obj = json_object();
  for (size_t i = 0; obj && i < op_rows_count(rows); i++) {
    int64_t whole = 0, frac = 0;
    op_rows_get_int64(rows, i, 1, &whole);
    op_rows_get_int64(rows, i, 2, &frac);
    char text[OP_DEC_MAX_LEN];
    op_dec_format(op_an_money_join(whole, frac), text);
    json_object_set_new(obj, op_rows_get(rows, i, 0), json_string(text));
  }
  return obj;
}

/* {"p50":…,"p95":…} of the latencies in rows' first column, nulls when none. */
static json_t *latency_object(op_rows_t *rows) {
  size_t n = op_rows_count(rows);
  int64_t *v = malloc((n ? n : 1) * sizeof *v);
  if (v == NULL)
    return NULL;
  for (size_t i = 0; i < n; i++)
    op_rows_get_int64(rows, i, 0, &v[i]);
  op_an_sort(v, n);
  int64_t p50, p95;
  int ok = op_an_percentile(v, n, 50, &p50) == 0 && op_an_percentile(v, n, 95, &p95) == 0;
  free(v);
  return json_pack("{s:o,s:o}", "p50", ok ? json_integer(p50) : json_null(), "p95",
                   ok ? json_integer(p95) : json_null());
}

static json_t *rate_value(int64_t succeeded, int64_t failed) {
  double rate = op_an_success_rate(succeeded, failed);
  return rate < 0 ? json_null() : json_real(rate);
}

static int low_stock_array(op_store_t *st, const char *tenant, int64_t low_stock, json_t **out) {
  num_t lim = num(low_stock);
  const char *p[] = {tenant, lim.v};
  op_rows_t *rows = NULL;
  int rc = op_store_exec(st,
                         "SELECT sku FROM analytics_stock WHERE tenant_id = $1 AND available < $2 "
                         "ORDER BY sku",
                         2, p, &rows);
  if (rc)
    return rc;
  json_t *arr = json_array();
  for (size_t i = 0; arr && i < op_rows_count(rows); i++)
    json_array_append_new(arr, json_string(op_rows_get(rows, i, 0)));
  op_rows_free(rows);
  *out = arr;
  return arr ? 0 : OP_ENOMEM;
}

int op_an_db_summary(op_store_t *st, const char *tenant, int64_t low_stock, json_t **out) {
  const char *p[] = {tenant};
  op_rows_t *tot = NULL, *rev = NULL, *status = NULL, *lat = NULL;
  json_t *low = NULL;
  int rc = op_store_exec(st,
                         "SELECT orders_total, payments_succeeded, payments_failed, updated_at "
                         "FROM analytics_tenants WHERE tenant_id = $1",
                         1, p, &tot);
  if (rc == 0)
    rc = op_store_exec(st,
                       "SELECT currency, whole, frac FROM analytics_revenue WHERE tenant_id = $1 "
                       "ORDER BY currency",
                       1, p, &rev);
  if (rc == 0)
    rc = op_store_exec(st,
                       "SELECT status, COUNT(*) FROM analytics_orders WHERE tenant_id = $1 AND "
                       "status IS NOT NULL GROUP BY status ORDER BY status",
                       1, p, &status);
  if (rc == 0)
    rc = op_store_exec(st,
                       "SELECT latency_ms FROM analytics_latencies WHERE tenant_id = $1 "
                       "ORDER BY id DESC LIMIT " OP_AN_LATENCY_KEEP_TEXT,
                       1, p, &lat);
  if (rc == 0)
    rc = low_stock_array(st, tenant, low_stock, &low);
  if (rc == 0) {
    int64_t orders = 0, succeeded = 0, failed = 0, updated = -1;
    op_rows_get_int64(tot, 0, 0, &orders);
    op_rows_get_int64(tot, 0, 1, &succeeded);
    op_rows_get_int64(tot, 0, 2, &failed);
    op_rows_get_int64(tot, 0, 3, &updated);
    json_t *by_status = json_object();
    for (size_t i = 0; by_status && i < op_rows_count(status); i++) {
      int64_t count = 0;
      op_rows_get_int64(status, i, 1, &count);
      json_object_set_new(by_status, op_rows_get(status, i, 0), json_integer(count));
    }
    char iso[OP_ISO8601_LEN];
    *out = json_pack("{s:s,s:I,s:o,s:o,s:{s:I,s:I,s:o},s:o,s:o,s:o}", "tenant_id", tenant,
                     "orders_total", (json_int_t)orders, "orders_by_status", by_status, "revenue",
                     revenue_object(rev), "payments", "succeeded", (json_int_t)succeeded, "failed",
                     (json_int_t)failed, "success_rate", rate_value(succeeded, failed),
                     "latency_ms", latency_object(lat), "low_stock_skus", low, "updated_at",
                     updated >= 0 ? json_string(op_iso8601(updated, iso)) : json_null());
    low = NULL; /* stolen by json_pack, even on failure */
    if (*out == NULL)
      rc = OP_ENOMEM;
  }
  json_decref(low);
  op_rows_free(tot);
  op_rows_free(rev);
  op_rows_free(status);
  op_rows_free(lat);
  return rc;
}

/* ---- windows -------------------------------------------------------------- */

int op_an_db_pending(op_store_t *st, int64_t open_start, op_an_window_t *out, size_t max,
                     size_t *n) {
  num_t open = num(open_start);
  const char *p[] = {open.v};
  op_rows_t *rows = NULL;
  *n = 0;
  int rc = op_store_exec(st,
                         "SELECT tenant_id, window_start, orders, payments_succeeded, "
                         "payments_failed FROM analytics_windows WHERE published = 0 AND "
                         "window_start < $1 ORDER BY window_start, tenant_id LIMIT 64",
                         1, p, &rows);
  if (rc)
    return rc;
  for (size_t i = 0; i < op_rows_count(rows) && *n < max; i++) {
    op_an_window_t *w = &out[(*n)++];
    snprintf(w->tenant_id, sizeof w->tenant_id, "%s", op_rows_get(rows, i, 0));
    op_rows_get_int64(rows, i, 1, &w->start);
    op_rows_get_int64(rows, i, 2, &w->orders);
    op_rows_get_int64(rows, i, 3, &w->succeeded);
    op_rows_get_int64(rows, i, 4, &w->failed);
  }
  op_rows_free(rows);
  return 0;
}

static int build_payload(op_store_t *st, const op_an_window_t *w, int64_t window_ms,
                         int64_t low_stock, char **text) {
  num_t ws = num(w->start);
  const char *p[] = {w->tenant_id, ws.v};
  op_rows_t *rev = NULL, *lat = NULL;
  json_t *low = NULL;
  int rc = op_store_exec(st,
                         "SELECT currency, whole, frac FROM analytics_window_revenue WHERE "
                         "tenant_id = $1 AND window_start = $2 ORDER BY currency",
                         2, p, &rev);
  if (rc == 0)
    rc = op_store_exec(st,
                       "SELECT latency_ms FROM analytics_latencies WHERE tenant_id = $1 AND "
                       "window_start = $2",
                       2, p, &lat);
  if (rc == 0)
    rc = low_stock_array(st, w->tenant_id, low_stock, &low);
  if (rc == 0) {
    char from[OP_ISO8601_LEN], to[OP_ISO8601_LEN];
    json_t *doc =
        json_pack("{s:s,s:s,s:s,s:I,s:o,s:o,s:o,s:o}", "tenant_id", w->tenant_id, "window_start",
                  op_iso8601(w->start, from), "window_end", op_iso8601(w->start + window_ms, to),
                  "orders", (json_int_t)w->orders, "revenue", revenue_object(rev),
                  "payment_success_rate", rate_value(w->succeeded, w->failed), "latency_ms",
                  latency_object(lat), "low_stock_skus", low);
    low = NULL;
    *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (*text == NULL)
      rc = OP_ENOMEM;
  }
  json_decref(low);
  op_rows_free(rev);
  op_rows_free(lat);
  return rc;
}

int op_an_db_window_payload(op_store_t *st, const op_an_window_t *w, int64_t window_ms,
                            int64_t low_stock, char **out) {
  num_t ws = num(w->start);
  const char *p[] = {w->tenant_id, ws.v};
  op_rows_t *rows = NULL;
  *out = NULL;
  int rc = op_store_exec(st,
                         "SELECT payload FROM analytics_windows WHERE tenant_id = $1 AND "
                         "window_start = $2",
                         2, p, &rows);
  if (rc)
    return rc;
  const char *stored = op_rows_get(rows, 0, 0);
  if (stored) {
    *out = strdup(stored);
    op_rows_free(rows);
    return *out ? 0 : OP_ENOMEM;
  }
  op_rows_free(rows);
  char *text = NULL;
  rc = build_payload(st, w, window_ms, low_stock, &text);
  if (rc)
    return rc;
  const char *up[] = {w->tenant_id, ws.v, text};
  rc = exec(st,
            "UPDATE analytics_windows SET payload = $3 WHERE tenant_id = $1 AND "
            "window_start = $2 AND payload IS NULL",
            3, up);
  if (rc) {
    free(text);
    return rc;
  }
  *out = text;
  return 0;
}

int op_an_db_mark_published(op_store_t *st, const op_an_window_t *w) {
  num_t ws = num(w->start);
  const char *p[] = {w->tenant_id, ws.v};
  return exec(st,
              "UPDATE analytics_windows SET published = 1 WHERE tenant_id = $1 AND "
              "window_start = $2",
              2, p);
}

int op_an_db_trim_latencies(op_store_t *st, const char *tenant, int64_t open_start) {
  num_t open = num(open_start);
  const char *p[] = {tenant, open.v};
  /* The id of the newest row beyond the kept ones; no such row: no delete. */
  return exec(st,
              "DELETE FROM analytics_latencies WHERE tenant_id = $1 AND window_start < $2 AND "
              "id <= (SELECT id FROM analytics_latencies WHERE tenant_id = $1 ORDER BY id DESC "
              "LIMIT 1 OFFSET " OP_AN_LATENCY_KEEP_TEXT ")",
              2, p);
}

int op_an_db_purge(op_store_t *st, int64_t horizon_ms) {
  num_t h = num(horizon_ms);
  const char *p[] = {h.v};
  int rc = exec(st, "DELETE FROM analytics_seen WHERE received_at < $1", 1, p);
  if (rc == 0)
    rc = exec(st, "DELETE FROM analytics_windows WHERE published = 1 AND window_start < $1", 1, p);
  if (rc == 0)
    rc = exec(st,
              "DELETE FROM analytics_window_revenue WHERE window_start < $1 AND NOT EXISTS "
              "(SELECT 1 FROM analytics_windows w WHERE w.tenant_id = "
              "analytics_window_revenue.tenant_id AND w.window_start = "
              "analytics_window_revenue.window_start)",
              1, p);
  return rc;
}
