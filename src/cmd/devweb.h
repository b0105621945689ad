/*
 * The dashboard in `orderpulse dev`: web/ served at "/" (web/static.h) and
 * the dev-only session endpoints of the sign-in page:
 *   GET  /api/dev/users           the demo users (no tokens)
 *   POST /api/dev/session         {"user_id"} -> cookie op_token (HttpOnly,
 *                                 SameSite=Strict), 200 the user
 *   GET  /api/dev/session         the cookie's (or bearer's) user, or 401
 *   POST /api/dev/session/logout  clears the cookie (204); DELETE
 *                                 /api/dev/session does the same
 * plus everything op_webhost_setup adds (the files, /api/session). Production
 * signs in with a token (POST /api/session); these routes exist in dev only.
 */
#ifndef OP_CMD_DEVWEB_H
#define OP_CMD_DEVWEB_H

#include "cmd/host.h"
#include "web/static.h"

/* Adds the routes to host's router (cfg's secret must be set). The web
 * directory missing is a warning (the APIs still run); returns the loaded
 * files (NULL when none), to free after the host with op_web_static_free.
 * *rc is 0, or 1 when a route could not be added. */
op_web_static_t *op_devweb_setup(op_host_t *host, const char *argv0, int *rc);

#endif
