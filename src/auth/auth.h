/*
 * op_auth: access tokens for the orderpulse APIs and the SSE endpoint.
 *
 * A token is a JWT (RFC 7519) in JWS compact form, signed with HMAC-SHA256
 * and the shared secret JWT_SECRET. Its claims:
 *
 *   sub        the user id: a non-empty string of at most OP_AUTH_ID_MAX bytes
 *   tenant_id  the tenant: a non-empty string of at most OP_AUTH_ID_MAX bytes
 *   roles      optional array of at most OP_AUTH_ROLES_MAX non-empty strings
 *              of at most OP_AUTH_ROLE_MAX bytes each (absent: no roles)
 *   exp        required, integer seconds since the Unix epoch
 *   nbf        optional, integer seconds since the Unix epoch
 *
 * Other claims (iat, iss, jti, ...) are ignored. The tenant a request acts
 * for comes from a verified token only, never from a parameter beside it.
 *
 * The algorithm is pinned: whatever the token's header says, only HS256 is
 * accepted. "none", HS384/HS512 (even when signed with the right secret),
 * RS256 and every other algorithm are refused before any claim is read.
 * libjwt checks the structure and the signature; the algorithm pin and the
 * claim rules are ours (jwt.c).
 *
 * Nothing in this module logs, and no message it produces contains a token
 * or a secret.
 *
 * Errors: functions return 0 (or a length) or a negative OP_E* code
 * (core/err.h). Thread-safety: every function may run on any thread;
 * nothing is shared between calls.
 */
#ifndef OP_AUTH_AUTH_H
#define OP_AUTH_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "http/http.h"

#define OP_AUTH_ID_MAX 128     /* bytes of sub and tenant_id, as ids in DESIGN.md §3 */
#define OP_AUTH_ROLES_MAX 16   /* roles per token */
#define OP_AUTH_ROLE_MAX 64    /* bytes of one role */
#define OP_AUTH_TOKEN_MAX 4096 /* bytes of a token; longer ones are malformed */
#define OP_AUTH_LEEWAY_S 30    /* the recommended clock-skew allowance for exp and nbf */

/*
 * The reason tokens of a refused token: stable lower_snake_case words, used
 * as the label of orderpulse_sse_auth_failures_total{reason}. A token once
 * published is never renamed; new rules add new tokens.
 */
#define OP_AUTH_REASON_MAP(XX)                                                                     \
  XX(missing_token, "no token was presented")                                                      \
  XX(malformed, "not a JWS compact token: segments, base64url, JSON or size")                      \
  XX(bad_algorithm, "the header names an algorithm other than HS256")                              \
  XX(bad_signature, "the HS256 signature does not match the secret")                               \
  XX(expired, "exp is not after now minus the leeway")                                             \
  XX(not_yet_valid, "nbf is after now plus the leeway")                                            \
  XX(missing_claim, "sub, tenant_id or exp is absent, null or an empty string")                    \
  XX(bad_claim, "a claim has the wrong type, is too long, or roles break their limits")

/* Every token of OP_AUTH_REASON_MAP in order, e.g. to pre-register metrics. */
extern const char *const op_auth_reasons[];
extern const size_t op_auth_reasons_len;

/* The claims of a verified token. Strings are NUL-terminated. */
typedef struct op_auth_claims_s {
  char sub[OP_AUTH_ID_MAX + 1];
  char tenant_id[OP_AUTH_ID_MAX + 1];
  char roles[OP_AUTH_ROLES_MAX][OP_AUTH_ROLE_MAX + 1];
  int nroles;
  int64_t exp; /* seconds since the Unix epoch */
} op_auth_claims_t;

/*
 * Verifies token (NUL-terminated) against secret (secret_len bytes) at time
 * now_s (seconds since the Unix epoch) and fills out with its claims.
 *
 * The token is accepted when it is well formed, its header names HS256, its
 * signature matches, exp > now_s - leeway_s, nbf (when present) <= now_s +
 * leeway_s, and its claims follow the rules at the top of this file.
 * A negative leeway_s counts as 0.
 *
 * Returns 0 with out filled and *reason set to NULL; or OP_EAUTH with out
 * zeroed and *reason set to one of op_auth_reasons (a static string); or
 * OP_EINVAL (secret NULL or empty, out NULL) / OP_ENOMEM with out zeroed and
 * *reason NULL. reason may be NULL when the caller does not want it.
 * Runs on: any thread.
 */
int op_auth_verify(const char *secret, size_t secret_len, const char *token, int64_t now_s,
                   int leeway_s, op_auth_claims_t *out, const char **reason);

/* Returns 1 when the claims hold role (compared exactly), else 0. NULL-safe. */
int op_auth_has_role(const op_auth_claims_t *claims, const char *role);

/*
 * Signs claims into a new HS256 token (header {"alg":"HS256","typ":"JWT"};
 * claims sub, tenant_id, roles and exp), for the demo users of `orderpulse
 * dev` and for tests. The claims must follow the rules op_auth_verify
 * enforces (strings NUL-terminated within their arrays).
 *
 * Returns 0 with *token_out set to a NUL-terminated token that the caller
 * frees with free(); OP_EINVAL for a NULL argument, an empty secret or
 * claims breaking the rules; OP_ENOMEM. *token_out is NULL on failure.
 * Runs on: any thread.
 */
int op_auth_sign(const char *secret, size_t secret_len, const op_auth_claims_t *claims,
                 char **token_out);

/*
 * Finds the token a request presents and copies it into buf (NUL-terminated).
 * Looks, in this order, at:
 *   1. the Authorization header with the scheme "Bearer" (any case);
 *   2. the query parameter access_token (percent-decoded);
 *   3. the cookie op_token (a browser EventSource cannot set headers).
 * The first place that holds a non-empty value wins; an Authorization
 * header with another scheme (e.g. Basic) is passed over. The value is
 * copied as found: checking it is op_auth_verify's job.
 *
 * Returns the token's length; OP_ENOENT when no place holds one; OP_ERANGE
 * when the winning value does not fit in len bytes (buf then holds "", and
 * the caller should treat the token as malformed, not as missing); OP_EINVAL
 * for a NULL argument or len 0. A buffer of OP_AUTH_TOKEN_MAX + 1 bytes
 * holds every token op_auth_verify could accept.
 * Runs on: the loop owning req.
 */
int op_auth_from_request(const op_http_req_t *req, char *buf, size_t len);

/*
 * The claims of the token req presents, verified with secret at the current
 * time (leeway OP_AUTH_LEEWAY_S). On failure answers 401 with the JSON error
 * ("a bearer token is required" or "the token is invalid or expired") and
 * returns OP_EAUTH. Runs on: the loop owning req.
 */
int op_auth_request(op_http_req_t *req, const char *secret, op_auth_claims_t *claims);

#endif
