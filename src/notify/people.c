#include "notify/people.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"

op_people_t *op_people_new(const op_config_t *cfg, op_http_router_t *router, char *errbuf,
                           size_t errlen) {
  op_people_t *people = calloc(1, sizeof *people);
  if (people == NULL || op_users_routes(people, router) != 0 ||
      op_inbox_routes(people, router) != 0) {
    snprintf(errbuf, errlen, "out of memory");
    free(people);
    return NULL;
  }
  people->cfg = cfg;
  people->stores.url = cfg->database_url;
  return people;
}

void op_people_free(op_people_t *people) {
  if (people == NULL)
    return;
  op_store_loops_close(&people->stores);
  free(people);
}

int op_people_auth(op_people_t *people, op_http_req_t *req, op_auth_claims_t *claims) {
  return op_auth_request(req, people->cfg->jwt_secret, claims);
}

op_store_t *op_people_store(op_people_t *people, op_http_req_t *req) {
  unsigned i = op_http_loop_index(op_http_req_loop(req));
  char err[256];
  op_store_t *st = op_store_loops_get(&people->stores, i, err, sizeof err);
  if (st == NULL) {
    op_log_error("notify", "HTTP loop %u: %s", i, err);
    op_http_respond_error(req, 503, "unavailable", "the notification store cannot be reached");
  }
  return st;
}

void op_people_store_failed(op_http_req_t *req, op_store_t *store, int rc) {
  op_log_error("notify", "store: %s: %s", op_strerror(rc), op_store_errmsg(store));
  op_http_respond_error(req, 503, "unavailable", "the notification store failed; try again");
}

json_t *op_people_body(op_http_req_t *req) {
  size_t len;
  const char *body = op_http_req_body(req, &len);
  json_error_t jerr;
  json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
  if (doc == NULL) {
    op_http_respond_error(req, 400, "invalid_json", "the request body is not valid JSON");
    return NULL;
  }
  if (!json_is_object(doc)) {
    json_decref(doc);
    op_http_respond_error(req, 400, "invalid_json", "the request body must be a JSON object");
    return NULL;
  }
  return doc;
}

void op_people_invalid(op_http_req_t *req, json_t *fields) {
  char message[512];
  size_t len = (size_t)snprintf(message, sizeof message, "invalid or unknown fields:");
  size_t i;
  json_t *f;
  json_array_foreach(fields, i, f) {
    if (len < sizeof message)
      len += (size_t)snprintf(message + len, sizeof message - len, "%s %s", i ? "," : "",
                              json_string_value(f));
  }
  op_http_respond_json(req, 422,
                       json_pack("{s:{s:s, s:s, s:O}}", "error", "code", "validation_failed",
                                 "message", message, "fields", fields));
}
