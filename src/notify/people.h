/*
 * Notify's REST API for people: the user directory (users.h) and the in-app
 * inbox (inbox.h). Every endpoint needs a verified JWT; tenant and user come
 * from it only.
 *
 * Limitation (as in the order service): the database work of a request runs
 * on the HTTP loop that serves it, on that loop's own store connection,
 * opened on the loop's first request.
 */
#ifndef OP_NOTIFY_PEOPLE_H
#define OP_NOTIFY_PEOPLE_H

#include <jansson.h>
#include <stddef.h>

#include "auth/auth.h"
#include "core/config.h"
#include "http/http.h"
#include "store/loops.h"
#include "store/store.h"

typedef struct op_people_s {
  const op_config_t *cfg;
  op_store_loops_t stores; /* one connection per HTTP loop (store/loops.h) */
} op_people_t;

/* Adds the /api/users and /api/notifications routes. cfg is borrowed. NULL
 * + errbuf when out of memory. Runs on: the main thread, before the server
 * starts. */
op_people_t *op_people_new(const op_config_t *cfg, op_http_router_t *router, char *errbuf,
                           size_t errlen);

/* Closes the loops' connections; the HTTP server must be stopped. */
void op_people_free(op_people_t *people);

/* ---- for the handlers (Runs on: the loop owning req) --------------------- */

/* Verifies the token; answers 401 and returns OP_EAUTH on failure. */
int op_people_auth(op_people_t *people, op_http_req_t *req, op_auth_claims_t *claims);

/* The loop's store connection; NULL (503 sent) when it cannot be opened. */
op_store_t *op_people_store(op_people_t *people, op_http_req_t *req);

/* Logs the failure and answers 503. */
void op_people_store_failed(op_http_req_t *req, op_store_t *store, int rc);

/* The body as a JSON object; NULL with 400 sent when it is not one. */
json_t *op_people_body(op_http_req_t *req);

/* Answers 422 {"error":{"code":"validation_failed","message":…,"fields":[…]}}
 * naming the fields in the message too. fields is borrowed. */
void op_people_invalid(op_http_req_t *req, json_t *fields);

/* The routes of users_api.c and inbox.c. */
int op_users_routes(op_people_t *people, op_http_router_t *router);
int op_inbox_routes(op_people_t *people, op_http_router_t *router);

#endif
