/*
 * Notify's user directory (notify_users): validation of the API's bodies and
 * the repository. Any role name is accepted; only the role map
 * (recipients.h) decides who is notified.
 */
#ifndef OP_NOTIFY_USERS_H
#define OP_NOTIFY_USERS_H

#include <jansson.h>
#include <stdint.h>

#include "store/store.h"

#define OP_USER_ID_MAX 128
#define OP_USER_EMAIL_MAX 254
#define OP_USER_NAME_MAX 128
#define OP_USER_ROLES_MAX 16
#define OP_USER_ROLE_MAX 64

/* Which body is checked: POST /api/users, PATCH /api/users/{id}, PATCH
 * /api/users/me/preferences. */
typedef enum { OP_USER_CREATE, OP_USER_PATCH, OP_USER_PREFS } op_user_mode_t;

/* A validated body. Strings borrow from the JSON document; NULL (or -1 for
 * the booleans) means "not given". roles is the canonical JSON array text
 * (malloc'd; free with op_user_input_clear). */
typedef struct op_user_input_s {
  const char *user_id, *email, *display_name;
  char *roles;
  int email_enabled, in_app_enabled;
} op_user_input_t;

/* 1 when s looks like an e-mail address: local@domain, 3..254 bytes, no
 * spaces or control characters, a dot inside the domain. */
int op_user_email_ok(const char *s);

/* 1 when s is a valid user id: 1..128 bytes of [A-Za-z0-9_.:@-]. */
int op_user_id_ok(const char *s);

/*
 * Checks body (a JSON object) for mode and fills in. Unknown fields, wrong
 * types and bad values are appended by name to fields (a JSON array), in the
 * body's order; required fields missing (create: email, display_name, roles)
 * too. Returns 0 when valid, else OP_EINVAL (in may be partly filled; clear it
 * all the same).
 */
int op_user_check(const json_t *body, op_user_mode_t mode, op_user_input_t *in, json_t *fields);

void op_user_input_clear(op_user_input_t *in);

/* "u_" and 24 hex digits into out (27 bytes). */
void op_user_new_id(char *out);

/* Inserts a user (defaults: both preferences on). OP_EEXIST when the id is
 * taken in the tenant. */
int op_users_insert(op_store_t *st, const char *tenant, const char *user_id,
                    const op_user_input_t *in, int64_t now_ms);

/* Applies the given fields of in to the user. OP_ENOENT when there is none. */
int op_users_update(op_store_t *st, const char *tenant, const char *user_id,
                    const op_user_input_t *in, int64_t now_ms);

/* The user as the API's object into *out; OP_ENOENT when there is none. */
int op_users_get(op_store_t *st, const char *tenant, const char *user_id, json_t **out);

/* {"users":[…]} of the tenant, by user_id. */
int op_users_list(op_store_t *st, const char *tenant, json_t **out);

#endif
