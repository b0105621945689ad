#include "notify/recipients.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/id.h"
#include "core/log.h"
#include "notify/inbox.h"
#include "notify/notice.h"

/* ---- the role map ------------------------------------------------------- */

static int fail(char *errbuf, size_t errlen, const char *fmt, const char *what, size_t len) {
  snprintf(errbuf, errlen, fmt, (int)len, what);
  return OP_ECONFIG;
}

/* Trims spaces around [*s, *s + *len). */
static void trim(const char **s, size_t *len) {
  while (*len && (**s == ' ' || **s == '\t'))
    (*s)++, (*len)--;
  while (*len && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t'))
    (*len)--;
}

static int type_ok(const char *s, size_t len) {
  if (len == 0 || len > OP_EVENT_TYPE_MAX)
    return 0;
  for (size_t i = 0; i < len; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
      return 0;
  return 1;
}

static int role_ok(const char *s, size_t len) {
  if (len == 0 || len > OP_ROLE_NAME_MAX)
    return 0;
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f || s[i] == '=')
      return 0;
  return 1;
}

/* Parses one "type=Role,Role" section into e. */
static int parse_entry(const char *s, size_t len, op_role_map_entry_t *e, char *errbuf,
                       size_t errlen) {
  const char *eq = memchr(s, '=', len);
  if (eq == NULL)
    return fail(errbuf, errlen, "NOTIFY_RECIPIENT_ROLES: \"%.*s\" is not event_type=Role,Role", s,
                len);
  const char *type = s;
  size_t tlen = (size_t)(eq - s);
  trim(&type, &tlen);
  if (!type_ok(type, tlen))
    return fail(errbuf, errlen,
                "NOTIFY_RECIPIENT_ROLES: event type \"%.*s\" must be 1 to 64 of a-z, 0-9 and _",
                type, tlen);
  memcpy(e->event_type, type, tlen);
  e->event_type[tlen] = '\0';
  const char *p = eq + 1, *end = s + len;
  for (;;) {
    const char *comma = memchr(p, ',', (size_t)(end - p));
    const char *stop = comma ? comma : end;
    const char *role = p;
    size_t rlen = (size_t)(stop - p);
    trim(&role, &rlen);
    if (!role_ok(role, rlen))
      return fail(errbuf, errlen,
                  "NOTIFY_RECIPIENT_ROLES: role \"%.*s\" must be 1 to 64 bytes without control "
                  "characters or =",
                  role, rlen);
    if (e->nroles == OP_ROLE_MAP_MAX_ROLES)
      return fail(errbuf, errlen, "NOTIFY_RECIPIENT_ROLES: %.*s maps more than 16 roles",
                  e->event_type, tlen);
    memcpy(e->roles[e->nroles], role, rlen);
    e->roles[e->nroles++][rlen] = '\0';
    if (comma == NULL)
      break;
    p = comma + 1;
  }
  return 0;
}

int op_role_map_parse(const char *text, op_role_map_t *map, char *errbuf, size_t errlen) {
  memset(map, 0, sizeof *map);
  const char *p = text ? text : "";
  for (;;) {
    const char *semi = strchr(p, ';');
    size_t len = semi ? (size_t)(semi - p) : strlen(p);
    const char *sect = p;
    trim(&sect, &len);
    if (len > 0) {
      if (map->n == OP_ROLE_MAP_MAX_TYPES)
        return fail(errbuf, errlen, "NOTIFY_RECIPIENT_ROLES: more than 32 event types%.*s", "", 0);
      op_role_map_entry_t *e = &map->entries[map->n];
      int rc = parse_entry(sect, len, e, errbuf, errlen);
      if (rc != 0)
        return rc;
      if (op_role_map_find(map, e->event_type) != NULL)
        return fail(errbuf, errlen, "NOTIFY_RECIPIENT_ROLES: event type %.*s is mapped twice",
                    e->event_type, strlen(e->event_type));
      map->n++;
    }
    if (semi == NULL)
      return 0;
    p = semi + 1;
  }
}

const op_role_map_entry_t *op_role_map_find(const op_role_map_t *map, const char *event_type) {
  for (int i = 0; event_type && i < map->n; i++)
    if (strcmp(map->entries[i].event_type, event_type) == 0)
      return &map->entries[i];
  return NULL;
}

int op_role_map_matches(const op_role_map_entry_t *entry, const char *const *roles, size_t n) {
  for (size_t i = 0; entry && i < n; i++)
    for (int j = 0; roles[i] && j < entry->nroles; j++)
      if (strcmp(roles[i], entry->roles[j]) == 0)
        return 1;
  return 0;
}

int op_role_map_matches_json(const op_role_map_entry_t *entry, const char *roles_json) {
  json_t *arr = roles_json ? json_loads(roles_json, 0, NULL) : NULL;
  int match = 0;
  size_t i;
  json_t *v;
  json_array_foreach(arr, i, v) {
    const char *role = json_string_value(v);
    if (role && op_role_map_matches(entry, &role, 1)) {
      match = 1;
      break;
    }
  }
  json_decref(arr);
  return match;
}

/* ---- texts -------------------------------------------------------------- */

void op_recipients_texts(const op_order_event_t *ev, char *title, size_t tlen, char *body,
                         size_t blen) {
  const char *name = ev->reference && *ev->reference ? ev->reference : ev->order_id;
  const char *status = ev->status ? ev->status : "";
  if (strcmp(ev->event_type, "order_paid") == 0)
    snprintf(title, tlen, "Order %s paid", name);
  else if (strcmp(ev->event_type, "order_created") == 0)
    snprintf(title, tlen, "Order %s created", name);
  else if (strcmp(ev->event_type, "order_status_updated") == 0)
    snprintf(title, tlen, "Order %s is now %s", name, status);
  else
    snprintf(title, tlen, "Order %s: %s", name, ev->event_type);
  if (ev->total_amount && ev->currency)
    snprintf(body, blen, "%s %s", ev->total_amount, ev->currency);
  else
    snprintf(body, blen, "Status: %s", status);
}

/* ---- rows in the consumer's transaction --------------------------------- */

static json_t *str_or_null(const char *s) {
  return s ? json_string(s) : json_null();
}

static char *dump(json_t *doc) {
  char *text = doc ? json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
  json_decref(doc);
  return text;
}

static int push_pending(op_recipients_t *rc, const op_order_event_t *ev, const char *user,
                        char *json) {
  if (rc->npending == rc->cap) {
    size_t cap = rc->cap ? rc->cap * 2 : 16;
    op_pending_push_t *grown = realloc(rc->pending, cap * sizeof *grown);
    if (grown == NULL)
      return OP_ENOMEM;
    rc->pending = grown;
    rc->cap = cap;
  }
  op_pending_push_t *p = &rc->pending[rc->npending];
  p->tenant_id = strdup(ev->tenant_id);
  p->user_id = strdup(user);
  p->json = json;
  rc->npending++;
  return p->tenant_id && p->user_id ? 0 : OP_ENOMEM;
}

typedef struct user_row_s {
  const char *user_id, *email, *display_name;
  int email_enabled, in_app_enabled;
} user_row_t;

static int add_inbox(op_recipients_t *rc, op_store_t *st, const op_order_event_t *ev,
                     const user_row_t *u, const char *id, int64_t now_ms) {
  char title[320], body[160], created[24];
  op_recipients_texts(ev, title, sizeof title, body, sizeof body);
  snprintf(created, sizeof created, "%lld", (long long)now_ms);
  char *data =
      dump(json_pack("{s:s, s:o, s:o, s:o, s:o}", "order_id", ev->order_id, "reference",
                     str_or_null(ev->reference), "total_amount", str_or_null(ev->total_amount),
                     "currency", str_or_null(ev->currency), "status", str_or_null(ev->status)));
  if (data == NULL)
    return OP_ENOMEM;
  const char *params[] = {id,           ev->tenant_id,  u->user_id, ev->event_id, ev->event_type,
                          ev->order_id, ev->event_type, title,      body,         data,
                          created};
  int r = op_store_exec(st,
                        "INSERT INTO notify_inbox (notification_id, tenant_id, user_id, event_id,"
                        " event_type, order_id, template, title, body, data, created_at)"
                        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                        11, params, NULL);
  op_inbox_row_t row = {.notification_id = id,
                        .event_type = ev->event_type,
                        .template = ev->event_type,
                        .order_id = ev->order_id,
                        .title = title,
                        .body = body,
                        .data = data,
                        .created_at = now_ms};
  char *json = r == 0 ? dump(op_inbox_json(&row)) : NULL;
  free(data);
  if (r != 0)
    return r;
  if (json == NULL)
    return OP_ENOMEM;
  op_notice_t notice = {.notification_id = id,
                        .tenant_id = ev->tenant_id,
                        .user_id = u->user_id,
                        .channel = "in_app",
                        .template = ev->event_type,
                        .state = "sent",
                        .order_id = ev->order_id,
                        .sent_at_ms = now_ms,
                        .trace_id = ev->trace_id};
  r = op_notice_enqueue(st, &notice, now_ms);
  if (r != 0) {
    free(json);
    return r;
  }
  return push_pending(rc, ev, u->user_id, json);
}

static int add_email(op_store_t *st, const op_order_event_t *ev, const user_row_t *u,
                     const char *id, int64_t now_ms) {
  char created[24];
  snprintf(created, sizeof created, "%lld", (long long)now_ms);
  char *vars = dump(json_pack("{s:s, s:o, s:o, s:o, s:o, s:s, s:s, s:s, s:s, s:s, s:s}", "order_id",
                              ev->order_id, "reference", str_or_null(ev->reference), "total_amount",
                              str_or_null(ev->total_amount), "currency", str_or_null(ev->currency),
                              "status", str_or_null(ev->status), "tenant_id", ev->tenant_id,
                              "user_id", u->user_id, "display_name", u->display_name, "email",
                              u->email, "event_id", ev->event_id, "timestamp", ev->timestamp));
  if (vars == NULL)
    return OP_ENOMEM;
  const char *params[] = {id,           ev->tenant_id, u->user_id,     ev->event_id, ev->event_type,
                          ev->order_id, u->email,      ev->event_type, vars,         ev->trace_id,
                          created};
  int r = op_store_exec(st,
                        "INSERT INTO notify_email_outbox (notification_id, tenant_id, user_id,"
                        " event_id, event_type, order_id, to_addr, template, vars, state,"
                        " attempts, next_attempt_at, trace_id, created_at) VALUES ($1, $2, $3,"
                        " $4, $5, $6, $7, $8, $9, 'queued', 0, $11, $10, $11)",
                        11, params, NULL);
  free(vars);
  if (r != 0)
    return r;
  op_notice_t notice = {.notification_id = id,
                        .tenant_id = ev->tenant_id,
                        .user_id = u->user_id,
                        .channel = "email",
                        .template = ev->event_type,
                        .state = "queued",
                        .order_id = ev->order_id,
                        .trace_id = ev->trace_id};
  return op_notice_enqueue(st, &notice, now_ms);
}

/* The rows for one stored event of a mapped type. */
static int apply_event(op_recipients_t *rc, op_store_t *st, const op_order_event_t *ev,
                       const op_role_map_entry_t *entry, int64_t now_ms) {
  op_rows_t *rows = NULL;
  const char *params[] = {ev->tenant_id};
  /* A tenant's directory is small (people, not customers): the role filter
   * runs here on the stored JSON rather than in portable SQL. */
  int r = op_store_exec(st,
                        "SELECT user_id, email, display_name, roles, email_enabled,"
                        " in_app_enabled FROM notify_users WHERE tenant_id = $1 ORDER BY user_id",
                        1, params, &rows);
  for (size_t i = 0; r == 0 && i < op_rows_count(rows); i++) {
    if (!op_role_map_matches_json(entry, op_rows_get(rows, i, 3)))
      continue;
    int64_t em = 0, ia = 0;
    op_rows_get_int64(rows, i, 4, &em);
    op_rows_get_int64(rows, i, 5, &ia);
    user_row_t u = {op_rows_get(rows, i, 0), op_rows_get(rows, i, 1), op_rows_get(rows, i, 2),
                    em != 0, ia != 0};
    if (!u.email_enabled && !u.in_app_enabled)
      continue;
    char id[OP_UUID_LEN + 1];
    op_uuid_v7(id);
    if (u.in_app_enabled)
      r = add_inbox(rc, st, ev, &u, id, now_ms);
    if (r == 0 && u.email_enabled && (r = add_email(st, ev, &u, id, now_ms)) == 0)
      rc->nemails++;
  }
  op_rows_free(rows);
  return r;
}

int op_recipients_apply(op_recipients_t *rc, op_store_t *store, const op_order_event_t *evs,
                        const op_event_result_t *results, size_t n, int64_t now_ms) {
  for (size_t i = 0; i < n; i++) {
    if (results[i].duplicate)
      continue;
    const op_role_map_entry_t *entry = op_role_map_find(&rc->map, evs[i].event_type);
    if (entry == NULL)
      continue;
    int r = apply_event(rc, store, &evs[i], entry, now_ms);
    if (r != 0)
      return r;
  }
  return 0;
}

void op_recipients_clear(op_recipients_t *rc) {
  for (size_t i = 0; i < rc->npending; i++) {
    free(rc->pending[i].tenant_id);
    free(rc->pending[i].user_id);
    free(rc->pending[i].json);
  }
  rc->npending = 0;
  rc->nemails = 0;
}
