/*
 * Where a request carries its access token: the Authorization header, the
 * access_token query parameter, or the op_token cookie, in that order.
 *
 * The header comes first because it is the only place a token does not end
 * up in URLs, proxies' logs or browser history; the query parameter and the
 * cookie exist for the browser's EventSource, which cannot set headers.
 */
#include <limits.h>
#include <string.h>
#include <strings.h>

#include "auth/auth.h"
#include "core/clock.h"
#include "core/err.h"

/* Copies the n bytes at s into buf as a string. Returns n, or OP_ERANGE with
 * buf set to "" when they do not fit. */
static int copy_token(const char *s, size_t n, char *buf, size_t len) {
  if (n >= len || n > INT_MAX) {
    buf[0] = '\0';
    return OP_ERANGE;
  }
  memcpy(buf, s, n);
  buf[n] = '\0';
  return (int)n;
}

/*
 * Returns the token of an "Authorization: Bearer <token>" header (its length
 * in *n), or NULL when the header is absent, names another scheme or holds
 * an empty token. The scheme is case-insensitive (RFC 7235 2.1); the server
 * has already trimmed the value.
 */
static const char *bearer_token(const op_http_req_t *req, size_t *n) {
  static const char scheme[] = "Bearer";
  const size_t scheme_len = sizeof scheme - 1;
  const char *value = op_http_req_header(req, "Authorization");
  if (value == NULL || strncasecmp(value, scheme, scheme_len) != 0)
    return NULL;
  const char *p = value + scheme_len;
  if (*p != ' ' && *p != '\t')
    return NULL;
  while (*p == ' ' || *p == '\t')
    p++;
  *n = strlen(p);
  return *n > 0 ? p : NULL;
}

int op_auth_from_request(const op_http_req_t *req, char *buf, size_t len) {
  if (req == NULL || buf == NULL || len == 0)
    return OP_EINVAL;
  size_t n;
  const char *bearer = bearer_token(req, &n);
  if (bearer != NULL)
    return copy_token(bearer, n, buf, len);
  int rc = op_http_req_query(req, "access_token", buf, len);
  if (rc != 0 && rc != OP_ENOENT)
    return rc; /* a length > 0, or OP_ERANGE */
  rc = op_http_req_cookie(req, "op_token", buf, len);
  if (rc != 0 && rc != OP_ENOENT)
    return rc;
  buf[0] = '\0';
  return OP_ENOENT;
}

int op_auth_request(op_http_req_t *req, const char *secret, op_auth_claims_t *claims) {
  char token[OP_AUTH_TOKEN_MAX + 1];
  int len = op_auth_from_request(req, token, sizeof token);
  if (len == OP_ENOENT) {
    op_http_respond_error(req, 401, "unauthorized", "a bearer token is required");
    return OP_EAUTH;
  }
  /* A token too long for the buffer (OP_ERANGE) is malformed, not missing. */
  if (len < 0 || op_auth_verify(secret, strlen(secret), token, op_now_ms() / 1000, OP_AUTH_LEEWAY_S,
                                claims, NULL) != 0) {
    op_http_respond_error(req, 401, "unauthorized", "the token is invalid or expired");
    return OP_EAUTH;
  }
  return 0;
}
