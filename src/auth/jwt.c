/*
 * HS256 access tokens: verification with a pinned algorithm, claim rules,
 * and signing.
 *
 * libjwt 1.10 does the base64url, the JSON and the HMAC; what it does not do
 * is decide which algorithm is acceptable. jwt_decode() verifies a token
 * with whatever algorithm its header names, so an HS512 token signed with
 * our secret decodes fine, and so, in some builds, does an unsigned
 * "alg":"none" token even when a key is passed; it also reads "hs256" or
 * "None" as HS256 or none. The rule here is therefore: decode with the key,
 * then refuse anything whose jwt_get_alg() is not JWT_ALG_HS256 or whose
 * header does not spell "HS256" exactly, before a single claim is read.
 *
 * A decode that fails is decoded a second time without a key, only to name
 * the reason for the metrics (malformed, bad_algorithm or bad_signature).
 * Nothing from that second decode is trusted or returned: libjwt parses an
 * unkeyed token without checking anything, which is exactly why the claims
 * are only ever read from the keyed one.
 *
 * The signature comparison is libjwt's. Upstream 1.10 compared with
 * strcmp(), a timing side channel (CVE-2024-25189); Debian's
 * 1.10.2-1+deb12u1, which this project builds against, compares in constant
 * time. An older libjwt must not be used here.
 *
 * Claims are read from the verified token as one JSON object
 * (jwt_get_grants_json) and checked with jansson, so that a claim that is
 * absent and one of the wrong type are told apart.
 */
#include <errno.h>
#include <jansson.h>
#include <jwt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "core/err.h"

const char *const op_auth_reasons[] = {
#define XX(token, description) #token,
    OP_AUTH_REASON_MAP(XX)
#undef XX
};
const size_t op_auth_reasons_len = sizeof op_auth_reasons / sizeof op_auth_reasons[0];

/* The reasons as named constants, so that a typo is a compile error. */
#define XX(token, description) static const char *const R_##token = #token;
OP_AUTH_REASON_MAP(XX)
#undef XX

/* ---- Structure ---------------------------------------------------------- */

static int is_base64url(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

/*
 * Returns 1 when token has the shape of a JWS compact token: at most
 * OP_AUTH_TOKEN_MAX bytes of base64url in exactly three segments, the first
 * two non-empty. The signature may be empty so that an unsigned "alg":"none"
 * token is reported as bad_algorithm, which is what it is. This only keeps
 * obvious garbage (padding, spaces, a fourth segment, megabytes) away from
 * libjwt; whether the segments decode is libjwt's business.
 */
static int has_jws_shape(const char *token) {
  size_t seg_len[3] = {0, 0, 0};
  int seg = 0;
  size_t n = 0;
  for (const char *p = token; *p; p++, n++) {
    if (n >= OP_AUTH_TOKEN_MAX)
      return 0;
    if (*p == '.') {
      if (++seg > 2)
        return 0;
    } else if (is_base64url((unsigned char)*p)) {
      seg_len[seg]++;
    } else {
      return 0;
    }
  }
  return seg == 2 && seg_len[0] > 0 && seg_len[1] > 0;
}

/*
 * Names the reason a keyed jwt_decode() refused a well-shaped token: decodes
 * it again without a key and looks at the header's "alg". Returns a static
 * reason token. The unkeyed decode is never trusted for anything else.
 */
static const char *refusal_reason(const char *token) {
  jwt_t *jwt = NULL;
  if (jwt_decode(&jwt, token, NULL, 0) != 0 || jwt == NULL)
    return R_malformed;
  const char *alg = jwt_get_header(jwt, "alg");
  const char *reason = alg != NULL && strcmp(alg, "HS256") == 0 ? R_bad_signature : R_bad_algorithm;
  jwt_free(jwt);
  return reason;
}

/* ---- Claims ------------------------------------------------------------- */

/*
 * Copies the string claim name of grants into dst (max bytes + NUL).
 * Returns NULL, or the reason it cannot: missing_claim when absent, null or
 * "", bad_claim when not a string, longer than max bytes or holding U+0000.
 */
static const char *copy_id_claim(json_t *grants, const char *name, char *dst, size_t max) {
  json_t *value = json_object_get(grants, name);
  if (value == NULL || json_is_null(value))
    return R_missing_claim;
  if (!json_is_string(value))
    return R_bad_claim;
  size_t len = json_string_length(value);
  if (len == 0)
    return R_missing_claim;
  const char *s = json_string_value(value);
  if (len > max || strlen(s) != len)
    return R_bad_claim;
  memcpy(dst, s, len + 1);
  return NULL;
}

/* Copies the optional roles claim. Returns NULL or bad_claim. */
static const char *copy_roles(json_t *grants, op_auth_claims_t *claims) {
  json_t *roles = json_object_get(grants, "roles");
  claims->nroles = 0;
  if (roles == NULL || json_is_null(roles))
    return NULL;
  if (!json_is_array(roles) || json_array_size(roles) > OP_AUTH_ROLES_MAX)
    return R_bad_claim;
  size_t i;
  json_t *role;
  json_array_foreach(roles, i, role) {
    if (!json_is_string(role))
      return R_bad_claim;
    size_t len = json_string_length(role);
    const char *s = json_string_value(role);
    if (len == 0 || len > OP_AUTH_ROLE_MAX || strlen(s) != len)
      return R_bad_claim;
    memcpy(claims->roles[i], s, len + 1);
  }
  claims->nroles = (int)json_array_size(roles);
  return NULL;
}

/*
 * Reads the integer time claim name into *out. Returns NULL (and *present
 * 1 or 0), or bad_claim when it is present and not a JSON integer.
 */
static const char *read_time_claim(json_t *grants, const char *name, int64_t *out, int *present) {
  json_t *value = json_object_get(grants, name);
  *present = 0;
  if (value == NULL || json_is_null(value))
    return NULL;
  if (!json_is_integer(value))
    return R_bad_claim;
  *out = (int64_t)json_integer_value(value);
  *present = 1;
  return NULL;
}

/*
 * Checks the claims of a verified token (grants, the payload object) at
 * now_s with leeway_s >= 0 and fills claims. Returns NULL or a reason.
 * Time claims come first: an expired token is reported as expired even
 * when its other claims are wrong too.
 */
static const char *check_claims(json_t *grants, int64_t now_s, int leeway_s,
                                op_auth_claims_t *claims) {
  if (!json_is_object(grants))
    return R_malformed;
  int present;
  const char *reason = read_time_claim(grants, "exp", &claims->exp, &present);
  if (reason)
    return reason;
  if (!present)
    return R_missing_claim;
  /* RFC 7519 4.1.4: now must be before exp. Written as a subtraction from
   * now so that an exp near INT64_MAX cannot overflow. */
  int64_t earliest_exp;
  if (__builtin_sub_overflow(now_s, (int64_t)leeway_s, &earliest_exp))
    earliest_exp = INT64_MIN;
  if (claims->exp <= earliest_exp)
    return R_expired;
  int64_t nbf;
  reason = read_time_claim(grants, "nbf", &nbf, &present);
  if (reason)
    return reason;
  int64_t latest_nbf;
  if (__builtin_add_overflow(now_s, (int64_t)leeway_s, &latest_nbf))
    latest_nbf = INT64_MAX;
  if (present && nbf > latest_nbf)
    return R_not_yet_valid;
  if ((reason = copy_id_claim(grants, "sub", claims->sub, OP_AUTH_ID_MAX)) != NULL)
    return reason;
  if ((reason = copy_id_claim(grants, "tenant_id", claims->tenant_id, OP_AUTH_ID_MAX)) != NULL)
    return reason;
  return copy_roles(grants, claims);
}

/* ---- Verify ------------------------------------------------------------- */

/* Sets *reason_out (when wanted) and returns rc. */
static int finish(int rc, const char *reason, const char **reason_out) {
  if (reason_out)
    *reason_out = reason;
  return rc;
}

int op_auth_verify(const char *secret, size_t secret_len, const char *token, int64_t now_s,
                   int leeway_s, op_auth_claims_t *out, const char **reason) {
  if (out != NULL)
    memset(out, 0, sizeof *out);
  if (secret == NULL || secret_len == 0 || secret_len > INT_MAX || out == NULL)
    return finish(OP_EINVAL, NULL, reason);
  if (token == NULL || token[0] == '\0')
    return finish(OP_EAUTH, R_missing_token, reason);
  if (!has_jws_shape(token))
    return finish(OP_EAUTH, R_malformed, reason);
  if (leeway_s < 0)
    leeway_s = 0;

  jwt_t *jwt = NULL;
  int err = jwt_decode(&jwt, token, (const unsigned char *)secret, (int)secret_len);
  if (err == ENOMEM)
    return finish(OP_ENOMEM, NULL, reason);
  if (err != 0 || jwt == NULL)
    return finish(OP_EAUTH, refusal_reason(token), reason);
  /* The pin: nothing about this token is looked at unless it is HS256.
   * libjwt matches algorithm names without regard to case, RFC 7515 does
   * not: "hs256" is refused too. */
  const char *alg = jwt_get_header(jwt, "alg");
  if (jwt_get_alg(jwt) != JWT_ALG_HS256 || alg == NULL || strcmp(alg, "HS256") != 0) {
    jwt_free(jwt);
    return finish(OP_EAUTH, R_bad_algorithm, reason);
  }

  char *text = jwt_get_grants_json(jwt, NULL);
  jwt_free(jwt);
  if (text == NULL)
    return finish(OP_ENOMEM, NULL, reason);
  json_error_t jerr;
  json_t *grants = json_loads(text, 0, &jerr);
  free(text);
  if (grants == NULL)
    return finish(OP_EAUTH, R_malformed, reason);

  op_auth_claims_t claims;
  memset(&claims, 0, sizeof claims);
  const char *why = check_claims(grants, now_s, leeway_s, &claims);
  json_decref(grants);
  if (why != NULL)
    return finish(OP_EAUTH, why, reason);
  *out = claims;
  return finish(0, NULL, reason);
}

int op_auth_has_role(const op_auth_claims_t *claims, const char *role) {
  if (claims == NULL || role == NULL)
    return 0;
  for (int i = 0; i < claims->nroles && i < OP_AUTH_ROLES_MAX; i++)
    if (strcmp(claims->roles[i], role) == 0)
      return 1;
  return 0;
}

/* ---- Sign --------------------------------------------------------------- */

/* Returns 1 when s is a non-empty string NUL-terminated within max + 1 bytes. */
static int valid_field(const char *s, size_t max) {
  size_t len = strnlen(s, max + 1);
  return len > 0 && len <= max;
}

static int valid_claims(const op_auth_claims_t *claims) {
  if (!valid_field(claims->sub, OP_AUTH_ID_MAX) || !valid_field(claims->tenant_id, OP_AUTH_ID_MAX))
    return 0;
  if (claims->nroles < 0 || claims->nroles > OP_AUTH_ROLES_MAX)
    return 0;
  for (int i = 0; i < claims->nroles; i++)
    if (!valid_field(claims->roles[i], OP_AUTH_ROLE_MAX))
      return 0;
  return 1;
}

/* Builds the payload object of claims, or NULL (invalid UTF-8, no memory). */
static json_t *claims_json(const op_auth_claims_t *claims) {
  json_t *roles = json_array();
  if (roles == NULL)
    return NULL;
  for (int i = 0; i < claims->nroles; i++) {
    if (json_array_append_new(roles, json_string(claims->roles[i])) != 0) {
      json_decref(roles);
      return NULL;
    }
  }
  return json_pack("{s:s, s:s, s:o, s:I}", "sub", claims->sub, "tenant_id", claims->tenant_id,
                   "roles", roles, "exp", (json_int_t)claims->exp);
}

int op_auth_sign(const char *secret, size_t secret_len, const op_auth_claims_t *claims,
                 char **token_out) {
  if (token_out == NULL)
    return OP_EINVAL;
  *token_out = NULL;
  if (secret == NULL || secret_len == 0 || secret_len > INT_MAX || claims == NULL ||
      !valid_claims(claims))
    return OP_EINVAL;

  json_t *payload = claims_json(claims);
  if (payload == NULL)
    return OP_EINVAL; /* json_string refuses invalid UTF-8; no memory is the rarer cause */
  char *text = json_dumps(payload, JSON_COMPACT);
  json_decref(payload);
  if (text == NULL)
    return OP_ENOMEM;

  jwt_t *jwt = NULL;
  int rc = OP_ENOMEM;
  if (jwt_new(&jwt) != 0)
    goto done;
  rc = OP_EINVAL;
  if (jwt_add_grants_json(jwt, text) != 0 ||
      jwt_set_alg(jwt, JWT_ALG_HS256, (const unsigned char *)secret, (int)secret_len) != 0)
    goto done;
  char *encoded = jwt_encode_str(jwt);
  rc = OP_ENOMEM;
  if (encoded == NULL)
    goto done;
  /* Our own copy, so that the caller's free() never depends on libjwt's
   * allocator. */
  *token_out = strdup(encoded);
  free(encoded);
  rc = *token_out ? 0 : OP_ENOMEM;
done:
  jwt_free(jwt);
  free(text);
  return rc;
}
