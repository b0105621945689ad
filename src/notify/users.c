#include "notify/users.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/id.h"

/* ---- validation --------------------------------------------------------- */

int op_user_email_ok(const char *s) {
  size_t len = s ? strlen(s) : 0;
  if (len < 3 || len > OP_USER_EMAIL_MAX)
    return 0;
  const char *at = strchr(s, '@');
  if (at == NULL || at == s || strchr(at + 1, '@') != NULL || at - s > 64)
    return 0;
  for (const char *p = s; *p; p++)
    if ((unsigned char)*p <= 0x20 || *p == 0x7f || *p == '<' || *p == '>' || *p == ',' ||
        *p == ';' || *p == '"' || *p == '\\')
      return 0; /* none of these belongs in an address we hand to SMTP as it is */
  const char *domain = at + 1;
  const char *dot = strchr(domain, '.');
  size_t dlen = strlen(domain);
  return dot != NULL && dot != domain && domain[dlen - 1] != '.' && strstr(domain, "..") == NULL;
}

int op_user_id_ok(const char *s) {
  size_t len = s ? strlen(s) : 0;
  /* "me" names the caller in /api/users/me: no user may be called that. */
  if (len == 0 || len > OP_USER_ID_MAX || strcmp(s, "me") == 0)
    return 0;
  for (const char *p = s; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
          strchr("_.:@-", *p)))
      return 0;
  return 1;
}

static int has_control(const char *s) {
  for (; *s; s++)
    if ((unsigned char)*s < 0x20 || *s == 0x7f)
      return 1;
  return 0;
}

static int display_name_ok(const char *s) {
  size_t len = s ? strlen(s) : 0;
  return len >= 1 && len <= OP_USER_NAME_MAX && !has_control(s);
}

/* Canonical roles text, or NULL when v is not an array of at most 16 strings
 * of 1..64 bytes each (duplicates are kept: they change nothing). */
static char *roles_text(const json_t *v) {
  if (!json_is_array(v) || json_array_size(v) > OP_USER_ROLES_MAX)
    return NULL;
  size_t i;
  json_t *r;
  json_array_foreach(v, i, r) {
    const char *s = json_string_value(r);
    size_t len = s ? json_string_length(r) : 0;
    if (s == NULL || len == 0 || len > OP_USER_ROLE_MAX || strlen(s) != len || has_control(s))
      return NULL;
  }
  return json_dumps(v, JSON_COMPACT);
}

static int bool_field(const json_t *v, int *out) {
  if (!json_is_boolean(v))
    return -1;
  *out = json_is_true(v);
  return 0;
}

/* Checks one field; returns 0 when it is valid (and known for mode). */
static int check_field(const char *key, const json_t *v, op_user_mode_t mode, op_user_input_t *in) {
  int full = mode != OP_USER_PREFS;
  if (strcmp(key, "notification_email_enabled") == 0)
    return bool_field(v, &in->email_enabled);
  if (strcmp(key, "notification_in_app_enabled") == 0)
    return bool_field(v, &in->in_app_enabled);
  if (full && strcmp(key, "email") == 0) {
    in->email = json_string_value(v);
    return op_user_email_ok(in->email) ? 0 : -1;
  }
  if (full && strcmp(key, "display_name") == 0) {
    in->display_name = json_string_value(v);
    return display_name_ok(in->display_name) ? 0 : -1;
  }
  if (full && strcmp(key, "roles") == 0) {
    free(in->roles);
    in->roles = roles_text(v);
    return in->roles ? 0 : -1;
  }
  if (mode == OP_USER_CREATE && strcmp(key, "user_id") == 0) {
    in->user_id = json_string_value(v);
    return op_user_id_ok(in->user_id) ? 0 : -1;
  }
  return -1; /* unknown here (user_id cannot be changed by a PATCH) */
}

int op_user_check(const json_t *body, op_user_mode_t mode, op_user_input_t *in, json_t *fields) {
  memset(in, 0, sizeof *in);
  in->email_enabled = in->in_app_enabled = -1;
  int bad = 0;
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)body, key, v) {
    if (check_field(key, v, mode, in) != 0) {
      json_array_append_new(fields, json_string(key));
      bad = 1;
    }
  }
  if (mode == OP_USER_CREATE) {
    static const char *const required[] = {"email", "display_name", "roles"};
    for (size_t i = 0; i < 3; i++)
      if (json_object_get(body, required[i]) == NULL) {
        json_array_append_new(fields, json_string(required[i]));
        bad = 1;
      }
  }
  return bad ? OP_EINVAL : 0;
}

void op_user_input_clear(op_user_input_t *in) {
  free(in->roles);
  in->roles = NULL;
}

void op_user_new_id(char *out) {
  out[0] = 'u';
  out[1] = '_';
  op_random_hex(out + 2, 12);
}

/* ---- repository --------------------------------------------------------- */

static const char *flag(int v, int dflt) {
  return (v < 0 ? dflt : v) ? "1" : "0";
}

int op_users_insert(op_store_t *st, const char *tenant, const char *user_id,
                    const op_user_input_t *in, int64_t now_ms) {
  char now[24];
  snprintf(now, sizeof now, "%lld", (long long)now_ms);
  const char *params[] = {tenant,
                          user_id,
                          in->email,
                          in->display_name,
                          in->roles,
                          flag(in->email_enabled, 1),
                          flag(in->in_app_enabled, 1),
                          now};
  return op_store_exec(st,
                       "INSERT INTO notify_users (tenant_id, user_id, email, display_name, roles,"
                       " email_enabled, in_app_enabled, created_at, updated_at)"
                       " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
                       8, params, NULL);
}

int op_users_update(op_store_t *st, const char *tenant, const char *user_id,
                    const op_user_input_t *in, int64_t now_ms) {
  char now[24];
  snprintf(now, sizeof now, "%lld", (long long)now_ms);
  const char *em = in->email_enabled < 0 ? NULL : flag(in->email_enabled, 1);
  const char *ia = in->in_app_enabled < 0 ? NULL : flag(in->in_app_enabled, 1);
  const char *params[] = {tenant, user_id, in->email, in->display_name, in->roles, em, ia, now};
  /* One statement: COALESCE keeps what the body does not name, so two
   * concurrent PATCHes of different fields both hold. */
  int rc = op_store_exec(st,
                         "UPDATE notify_users SET email = COALESCE($3, email),"
                         " display_name = COALESCE($4, display_name),"
                         " roles = COALESCE($5, roles),"
                         " email_enabled = COALESCE(CAST($6 AS INTEGER), email_enabled),"
                         " in_app_enabled = COALESCE(CAST($7 AS INTEGER), in_app_enabled),"
                         " updated_at = CAST($8 AS BIGINT)"
                         " WHERE tenant_id = $1 AND user_id = $2",
                         8, params, NULL);
  if (rc == 0 && op_store_changes(st) == 0)
    rc = OP_ENOENT;
  return rc;
}

#define USER_COLUMNS                                                                               \
  "user_id, tenant_id, email, display_name, roles, email_enabled, in_app_enabled, created_at,"     \
  " updated_at"

static json_t *user_json(const op_rows_t *rows, size_t i) {
  int64_t em = 1, ia = 1, created = 0, updated = 0;
  op_rows_get_int64(rows, i, 5, &em);
  op_rows_get_int64(rows, i, 6, &ia);
  op_rows_get_int64(rows, i, 7, &created);
  op_rows_get_int64(rows, i, 8, &updated);
  json_t *roles = json_loads(op_rows_get(rows, i, 4), 0, NULL);
  char c[OP_ISO8601_LEN], u[OP_ISO8601_LEN];
  return json_pack("{s:s, s:s, s:s, s:s, s:o, s:b, s:b, s:s, s:s}", "user_id",
                   op_rows_get(rows, i, 0), "tenant_id", op_rows_get(rows, i, 1), "email",
                   op_rows_get(rows, i, 2), "display_name", op_rows_get(rows, i, 3), "roles",
                   roles ? roles : json_array(), "notification_email_enabled", em != 0,
                   "notification_in_app_enabled", ia != 0, "created_at", op_iso8601(created, c),
                   "updated_at", op_iso8601(updated, u));
}

int op_users_get(op_store_t *st, const char *tenant, const char *user_id, json_t **out) {
  *out = NULL;
  op_rows_t *rows = NULL;
  const char *params[] = {tenant, user_id};
  int rc = op_store_exec(
      st, "SELECT " USER_COLUMNS " FROM notify_users WHERE tenant_id = $1 AND user_id = $2", 2,
      params, &rows);
  if (rc == 0 && op_rows_count(rows) == 0)
    rc = OP_ENOENT;
  if (rc == 0 && (*out = user_json(rows, 0)) == NULL)
    rc = OP_ENOMEM;
  op_rows_free(rows);
  return rc;
}

int op_users_list(op_store_t *st, const char *tenant, json_t **out) {
  *out = NULL;
  op_rows_t *rows = NULL;
  const char *params[] = {tenant};
  int rc = op_store_exec(
      st, "SELECT " USER_COLUMNS " FROM notify_users WHERE tenant_id = $1 ORDER BY user_id", 1,
      params, &rows);
  json_t *users = rc == 0 ? json_array() : NULL;
  for (size_t i = 0; users && i < op_rows_count(rows); i++)
    if (json_array_append_new(users, user_json(rows, i)) != 0) {
      json_decref(users);
      users = NULL;
    }
  op_rows_free(rows);
  if (rc == 0 && (users == NULL || (*out = json_pack("{s:o}", "users", users)) == NULL))
    rc = OP_ENOMEM;
  return rc;
}
