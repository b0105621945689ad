/*
 * The router: a list of (method, pattern, handler) tried in order. A pattern
 * is split into segments once, when the route is added; a request path is
 * compared segment by segment without copying. Read-only once servers run,
 * so the loops share it without locks.
 */
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "http/internal.h"

typedef struct {
  const char *text; /* literal text, or the parameter's name */
  size_t len;
  int param;
} segment_t;

typedef struct route_s {
  struct route_s *next;
  char *method;
  char *storage; /* the pattern, cut into the segments' strings */
  segment_t *segs;
  unsigned nsegs;
  op_http_handler_cb handler;
  void *ud;
} route_t;

struct op_http_router_s {
  route_t *head;
  route_t **tail;
};

op_http_router_t *op_http_router_new(void) {
  op_http_router_t *router = calloc(1, sizeof *router);
  if (router)
    router->tail = &router->head;
  return router;
}

static void route_free(route_t *route) {
  free(route->method);
  free(route->storage);
  free(route->segs);
  free(route);
}

void op_http_router_free(op_http_router_t *router) {
  if (router == NULL)
    return;
  route_t *route = router->head;
  while (route) {
    route_t *next = route->next;
    route_free(route);
    route = next;
  }
  free(router);
}

static int valid_method(const char *method) {
  if (strcmp(method, "*") == 0)
    return 1;
  if (*method == '\0')
    return 0;
  for (const char *p = method; *p; p++)
    if (*p < 'A' || *p > 'Z')
      return 0;
  return 1;
}

/* Cuts "/a/{id}/b" into segments "a", param "id", "b" ("/" is one empty
 * segment, as a request path "/" is). Returns 0 or OP_EINVAL/OP_ENOMEM. */
static int split_pattern(route_t *route, const char *pattern) {
  if (pattern[0] != '/')
    return OP_EINVAL;
  route->storage = strdup(pattern + 1);
  unsigned n = 1, nparams = 0;
  for (const char *p = pattern + 1; *p; p++)
    n += *p == '/';
  route->segs = calloc(n, sizeof *route->segs);
  if (route->storage == NULL || route->segs == NULL)
    return OP_ENOMEM;
  char *s = route->storage;
  for (unsigned i = 0; i < n; i++) {
    char *slash = strchr(s, '/');
    if (slash)
      *slash = '\0';
    size_t len = strlen(s);
    segment_t *seg = &route->segs[i];
    if (len && s[0] == '{') {
      if (len < 3 || s[len - 1] != '}' || ++nparams > OP_HTTP_MAX_PARAMS)
        return OP_EINVAL;
      s[len - 1] = '\0';
      seg->text = s + 1;
      seg->len = len - 2;
      seg->param = 1;
    } else {
      if (strchr(s, '{') || strchr(s, '}'))
        return OP_EINVAL;
      seg->text = s;
      seg->len = len;
    }
    s = slash ? slash + 1 : s + len;
  }
  route->nsegs = n;
  return 0;
}

int op_http_route(op_http_router_t *router, const char *method, const char *pattern,
                  op_http_handler_cb handler, void *ud) {
  if (router == NULL || method == NULL || pattern == NULL || handler == NULL ||
      !valid_method(method))
    return OP_EINVAL;
  route_t *route = calloc(1, sizeof *route);
  if (route == NULL)
    return OP_ENOMEM;
  route->method = strdup(method);
  int rc = route->method ? split_pattern(route, pattern) : OP_ENOMEM;
  if (rc) {
    route_free(route);
    return rc;
  }
  route->handler = handler;
  route->ud = ud;
  *router->tail = route;
  router->tail = &route->next;
  return 0;
}

typedef struct {
  const char *name;
  size_t off, len;
} capture_t;

/* Returns 1 when path matches the route's segments, filling caps (offsets
 * relative to path) for its parameters. */
static int path_matches(const route_t *route, const char *path, capture_t *caps, unsigned *ncaps) {
  if (path[0] != '/')
    return 0;
  const char *p = path + 1;
  *ncaps = 0;
  for (unsigned i = 0; i < route->nsegs; i++) {
    const char *slash = strchr(p, '/');
    size_t len = slash ? (size_t)(slash - p) : strlen(p);
    const segment_t *seg = &route->segs[i];
    if (seg->param) {
      if (len == 0)
        return 0;
      caps[*ncaps].name = seg->text;
      caps[*ncaps].off = (size_t)(p - path);
      caps[*ncaps].len = len;
      (*ncaps)++;
    } else if (len != seg->len || memcmp(p, seg->text, len) != 0) {
      return 0;
    }
    if (slash == NULL)
      return i + 1 == route->nsegs;
    p = slash + 1;
  }
  return 0; /* the path has more segments */
}

static int method_matches(const route_t *route, const char *method) {
  return strcmp(route->method, "*") == 0 || strcmp(route->method, method) == 0 ||
         (strcmp(method, "HEAD") == 0 && strcmp(route->method, "GET") == 0);
}

/* Appends method to the comma-separated list in allow unless already there. */
static void allow_add(char *allow, size_t len, const char *method) {
  size_t mlen = strlen(method);
  for (const char *p = allow; *p;) {
    const char *comma = strstr(p, ", ");
    size_t n = comma ? (size_t)(comma - p) : strlen(p);
    if (n == mlen && memcmp(p, method, n) == 0)
      return;
    p = comma ? comma + 2 : p + n;
  }
  size_t used = strlen(allow);
  if (used + mlen + 3 > len)
    return;
  if (used) {
    memcpy(allow + used, ", ", 2);
    used += 2;
  }
  memcpy(allow + used, method, mlen + 1);
}

int op_http__route(const op_http_router_t *router, op_http_req_t *req, op_http_handler_cb *handler,
                   void **ud, char *allow, size_t allow_len) {
  const char *method = op_http_req_method(req);
  int path_known = 0;
  capture_t caps[OP_HTTP_MAX_PARAMS];
  unsigned ncaps;
  allow[0] = '\0';
  for (const route_t *route = router->head; route; route = route->next) {
    if (!path_matches(route, op_http_req_path(req), caps, &ncaps))
      continue;
    if (!method_matches(route, method)) {
      path_known = 1;
      allow_add(allow, allow_len, route->method);
      if (strcmp(route->method, "GET") == 0)
        allow_add(allow, allow_len, "HEAD");
      continue;
    }
    for (unsigned i = 0; i < ncaps; i++)
      if (op_http__req_add_param(req, caps[i].name, req->path + caps[i].off, caps[i].len))
        return OP_ENOMEM;
    *handler = route->handler;
    *ud = route->ud;
    return 0;
  }
  return path_known ? 405 : 404;
}
