/*
 * op_web_session: the dashboard's session cookie, for production and dev.
 *
 * The page never holds a token: the server keeps it in the cookie op_token
 * (HttpOnly, so scripts cannot read it; SameSite=Strict; Path=/), which
 * op_auth_from_request accepts on every API. Routes (op_web_session_routes):
 *   GET    /api/session         the signed-in user (cookie or bearer), or 401
 *   POST   /api/session         {"token": "<jwt>"}: a token issued by the
 *                               identity provider, verified exactly as an API
 *                               token (op_auth_verify: JWT_SECRET, HS256
 *                               pinned, exp/nbf with OP_AUTH_LEEWAY_S); 200
 *                               the user and the cookie with Max-Age = the
 *                               token's remaining lifetime; 401 when it is not
 *                               valid (the body names the reason, never the
 *                               token), 422 for a body without a token string,
 *                               415 unless Content-Type is application/json
 *                               (no login CSRF from another site's form)
 *   POST   /api/session/logout  clears the cookie (204); DELETE /api/session
 *                               does the same
 * The cookie is Secure when the request came over TLS: this server speaks
 * plain HTTP, so that is a proxy terminating TLS that says
 * X-Forwarded-Proto: https.
 */
#ifndef OP_WEB_SESSION_H
#define OP_WEB_SESSION_H

#include "core/config.h"
#include "http/http.h"

#define OP_WEB_COOKIE "op_token"

/* Adds the routes above; cfg (its jwt_secret) is borrowed for the router's
 * life. Returns 0 or a negative OP_E* code. Runs on: any thread, before start. */
int op_web_session_routes(op_http_router_t *router, const op_config_t *cfg);

/* Sets op_token=token with the attributes above (max_age 0 clears it). */
void op_web_session_set_cookie(op_http_req_t *req, const char *token, long max_age);

/* Handlers, for dev's /api/dev/session aliases: ud is the op_config_t. */
void op_web_session_whoami(op_http_req_t *req, void *ud);
void op_web_session_logout(op_http_req_t *req, void *ud);

/* 1 when the request came over TLS (X-Forwarded-Proto: https), else 0. */
int op_web_session_secure(const op_http_req_t *req);

/* 1 when token has the alphabet of a JWS compact token ([A-Za-z0-9_.-],
 * non-empty, at most OP_AUTH_TOKEN_MAX bytes): safe inside a cookie. */
int op_web_token_chars_ok(const char *token, size_t len);

#endif
