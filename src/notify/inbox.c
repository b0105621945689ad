#include "notify/inbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/id.h"
#include "notify/people.h"

#define LIST_DEFAULT 50
#define LIST_MAX 100

json_t *op_inbox_json(const op_inbox_row_t *row) {
  char created[OP_ISO8601_LEN], read[OP_ISO8601_LEN];
  json_t *data = json_loads(row->data ? row->data : "{}", 0, NULL);
  return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:b, s:o}", "notification_id",
                   row->notification_id, "event_type", row->event_type, "template", row->template,
                   "order_id", row->order_id, "title", row->title, "body", row->body, "data",
                   data ? data : json_object(), "created_at", op_iso8601(row->created_at, created),
                   "read", row->read_at != 0, "read_at",
                   row->read_at ? json_string(op_iso8601(row->read_at, read)) : json_null());
}

#define INBOX_COLUMNS                                                                              \
  "notification_id, event_type, template, order_id, title, body, data, created_at, read_at"

static json_t *row_json(const op_rows_t *rows, size_t i) {
  op_inbox_row_t row = {.notification_id = op_rows_get(rows, i, 0),
                        .event_type = op_rows_get(rows, i, 1),
                        .template = op_rows_get(rows, i, 2),
                        .order_id = op_rows_get(rows, i, 3),
                        .title = op_rows_get(rows, i, 4),
                        .body = op_rows_get(rows, i, 5),
                        .data = op_rows_get(rows, i, 6)};
  op_rows_get_int64(rows, i, 7, &row.created_at);
  op_rows_get_int64(rows, i, 8, &row.read_at);
  return op_inbox_json(&row);
}

static int unread_count(op_store_t *st, const char *tenant, const char *user, int64_t *out) {
  op_rows_t *rows = NULL;
  const char *params[] = {tenant, user};
  int rc = op_store_exec(st,
                         "SELECT COUNT(*) FROM notify_inbox WHERE tenant_id = $1 AND user_id = $2"
                         " AND read_at IS NULL",
                         2, params, &rows);
  *out = 0;
  if (rc == 0)
    op_rows_get_int64(rows, 0, 0, out);
  op_rows_free(rows);
  return rc;
}

/* A cursor is a notification_id: a UUID's shape. */
static int cursor_ok(const char *s) {
  if (strlen(s) != OP_UUID_LEN)
    return 0;
  for (size_t i = 0; i < OP_UUID_LEN; i++) {
    int dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
      return 0;
  }
  return 1;
}

/* Reads the query; answers 400 and returns OP_EINVAL when it is bad. */
static int read_query(op_http_req_t *req, int *unread, long *limit, char *cursor, size_t clen) {
  char buf[64];
  *unread = 0;
  *limit = LIST_DEFAULT;
  cursor[0] = '\0';
  int rc = op_http_req_query(req, "unread", buf, sizeof buf);
  if (rc >= 0) {
    if (strcmp(buf, "true") != 0 && strcmp(buf, "false") != 0) {
      op_http_respond_error(req, 400, "invalid_query", "unread must be true or false");
      return OP_EINVAL;
    }
    *unread = strcmp(buf, "true") == 0;
  }
  rc = op_http_req_query(req, "limit", buf, sizeof buf);
  if (rc != OP_ENOENT) {
    char *end = NULL;
    *limit = rc > 0 ? strtol(buf, &end, 10) : 0;
    if (rc <= 0 || *end != '\0' || *limit < 1 || *limit > LIST_MAX) {
      op_http_respond_error(req, 400, "invalid_query", "limit must be an integer from 1 to 100");
      return OP_EINVAL;
    }
  }
  rc = op_http_req_query(req, "cursor", cursor, clen);
  if (rc != OP_ENOENT && (rc < 0 || (rc > 0 && !cursor_ok(cursor)))) {
    op_http_respond_error(req, 400, "invalid_query", "cursor must be a next_cursor value");
    return OP_EINVAL;
  }
  if (rc < 0)
    cursor[0] = '\0';
  return 0;
}

/* Four fixed statements (cursor or not, unread only or not): each is
 * prepared once per connection and uses the (tenant, user, id) index. */
static const char *list_sql(int cursor, int unread) {
  static const char *const sql[2][2] = {
      {"SELECT " INBOX_COLUMNS " FROM notify_inbox WHERE tenant_id = $1 AND user_id = $2"
       " ORDER BY notification_id DESC LIMIT $3",
       "SELECT " INBOX_COLUMNS " FROM notify_inbox WHERE tenant_id = $1 AND user_id = $2"
       " AND read_at IS NULL ORDER BY notification_id DESC LIMIT $3"},
      {"SELECT " INBOX_COLUMNS " FROM notify_inbox WHERE tenant_id = $1 AND user_id = $2"
       " AND notification_id < $4 ORDER BY notification_id DESC LIMIT $3",
       "SELECT " INBOX_COLUMNS " FROM notify_inbox WHERE tenant_id = $1 AND user_id = $2"
       " AND notification_id < $4 AND read_at IS NULL ORDER BY notification_id DESC LIMIT $3"}};
  return sql[cursor != 0][unread != 0];
}

static void list_handler(op_http_req_t *req, void *ud) {
  op_auth_claims_t claims;
  int unread;
  long limit;
  char cursor[64];
  if (op_people_auth(ud, req, &claims) != 0 ||
      read_query(req, &unread, &limit, cursor, sizeof cursor) != 0)
    return;
  op_store_t *st = op_people_store(ud, req);
  if (st == NULL)
    return;
  char lim[24];
  snprintf(lim, sizeof lim, "%ld", limit + 1); /* one more tells whether a next page exists */
  const char *params[] = {claims.tenant_id, claims.sub, lim, cursor};
  op_rows_t *rows = NULL;
  int64_t count = 0;
  int rc = op_store_exec(st, list_sql(cursor[0], unread), cursor[0] ? 4 : 3, params, &rows);
  if (rc == 0)
    rc = unread_count(st, claims.tenant_id, claims.sub, &count);
  if (rc != 0) {
    op_rows_free(rows);
    op_people_store_failed(req, st, rc);
    return;
  }
  size_t n = op_rows_count(rows);
  size_t shown = n > (size_t)limit ? (size_t)limit : n;
  json_t *list = json_array();
  for (size_t i = 0; list && i < shown; i++)
    json_array_append_new(list, row_json(rows, i));
  json_t *next = n > shown ? json_string(op_rows_get(rows, shown - 1, 0)) : json_null();
  op_rows_free(rows);
  op_http_respond_json(req, 200,
                       json_pack("{s:o, s:I, s:o}", "notifications", list, "unread_count",
                                 (json_int_t)count, "next_cursor", next));
}

static void read_handler(op_http_req_t *req, void *ud) {
  op_auth_claims_t claims;
  if (op_people_auth(ud, req, &claims) != 0)
    return;
  op_store_t *st = op_people_store(ud, req);
  if (st == NULL)
    return;
  const char *id = op_http_req_param(req, "id");
  char now[24];
  snprintf(now, sizeof now, "%lld", (long long)op_now_ms());
  const char *params[] = {claims.tenant_id, claims.sub, id, now};
  /* Idempotent: a notification read before keeps its first read_at. */
  int rc = op_store_exec(st,
                         "UPDATE notify_inbox SET read_at = CAST($4 AS BIGINT) WHERE tenant_id = $1"
                         " AND user_id = $2 AND notification_id = $3 AND read_at IS NULL",
                         4, params, NULL);
  op_rows_t *rows = NULL;
  if (rc == 0)
    rc = op_store_exec(st,
                       "SELECT " INBOX_COLUMNS " FROM notify_inbox WHERE tenant_id = $1"
                       " AND user_id = $2 AND notification_id = $3",
                       3, params, &rows);
  if (rc != 0)
    op_people_store_failed(req, st, rc);
  else if (op_rows_count(rows) == 0)
    op_http_respond_error(req, 404, "not_found", "no such notification");
  else
    op_http_respond_json(req, 200, row_json(rows, 0));
  op_rows_free(rows);
}

static void read_all_handler(op_http_req_t *req, void *ud) {
  op_auth_claims_t claims;
  if (op_people_auth(ud, req, &claims) != 0)
    return;
  op_store_t *st = op_people_store(ud, req);
  if (st == NULL)
    return;
  char now[24];
  snprintf(now, sizeof now, "%lld", (long long)op_now_ms());
  const char *params[] = {claims.tenant_id, claims.sub, now};
  int rc = op_store_exec(st,
                         "UPDATE notify_inbox SET read_at = CAST($3 AS BIGINT) WHERE tenant_id = $1"
                         " AND user_id = $2 AND read_at IS NULL",
                         3, params, NULL);
  if (rc != 0) {
    op_people_store_failed(req, st, rc);
    return;
  }
  json_int_t marked = (json_int_t)op_store_changes(st);
  op_http_respond_json(req, 200,
                       json_pack("{s:I, s:I}", "marked", marked, "unread_count", (json_int_t)0));
}

int op_inbox_routes(op_people_t *people, op_http_router_t *router) {
  if (op_http_route(router, "GET", "/api/notifications", list_handler, people) ||
      op_http_route(router, "POST", "/api/notifications/read-all", read_all_handler, people) ||
      op_http_route(router, "POST", "/api/notifications/{id}/read", read_handler, people))
    return OP_ENOMEM;
  return 0;
}
