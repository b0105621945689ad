/*
 * Requests: the per-request buffer and what handlers read from it.
 *
 * Everything a request carries lives in req->raw as NUL-terminated strings
 * addressed by offset (the buffer grows while the request is parsed, so no
 * pointer into it is kept), plus the body in req->body. Both are freed as
 * soon as the request is answered.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"
#include "http/internal.h"

op_http_req_t *op_http__req_new(op_http_conn_t *conn) {
  op_http_req_t *req = calloc(1, sizeof *req);
  if (req == NULL)
    return NULL;
  req->conn = conn;
  req->loop = conn->loop;
  req->start_ns = uv_hrtime();
  return req;
}

void op_http__req_free(op_http_req_t *req) {
  if (req == NULL)
    return;
  op_buf_free(&req->raw);
  op_buf_free(&req->body);
  op_buf_free(&req->resp_headers);
  free(req->hdrs);
  free(req);
}

/* ---- Percent-decoding ---- */

static int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Returns the next decoded byte of [*p, end) and advances *p. A '%' not
 * followed by two hex digits stands for itself. */
static unsigned char next_decoded(const char **p, const char *end, int plus_is_space) {
  const char *s = *p;
  if (*s == '%' && end - s >= 3 && hex_value(s[1]) >= 0 && hex_value(s[2]) >= 0) {
    *p = s + 3;
    return (unsigned char)(hex_value(s[1]) * 16 + hex_value(s[2]));
  }
  *p = s + 1;
  if (*s == '+' && plus_is_space)
    return ' ';
  return (unsigned char)*s;
}

size_t op_http__pct_decode(char *out, const char *in, size_t len, int plus_is_space) {
  const char *p = in, *end = in + len;
  size_t n = 0;
  while (p < end)
    out[n++] = (char)next_decoded(&p, end, plus_is_space);
  out[n] = '\0';
  return n;
}

static size_t decoded_len(const char *in, size_t len, int plus_is_space) {
  const char *p = in, *end = in + len;
  size_t n = 0;
  while (p < end) {
    next_decoded(&p, end, plus_is_space);
    n++;
  }
  return n;
}

static int decoded_equals(const char *in, size_t len, const char *name) {
  const char *p = in, *end = in + len;
  while (p < end) {
    if (*name == '\0' || next_decoded(&p, end, 1) != (unsigned char)*name)
      return 0;
    name++;
  }
  return *name == '\0';
}

/* ---- Target and parameters ---- */

/*
 * Splits the request target into path and query, appended to raw as two
 * NUL-terminated strings. Accepts origin form ("/a?b"), absolute form
 * ("http://host/a?b") and "*". Returns 0, OP_EPROTO for another form, or
 * OP_ENOMEM.
 */
int op_http__req_parse_target(op_http_req_t *req) {
  size_t len = req->url_len;
  /* Reserve first: url points into raw, which must not move while copied. */
  if (op_buf_reserve(&req->raw, len + 3))
    return OP_ENOMEM;
  const char *url = req->raw.data, *end = url + len, *p = url;
  const char *path, *path_end, *query = "", *query_end;
  size_t scheme = 0;
  if (len >= 7 && strncasecmp(url, "http://", 7) == 0)
    scheme = 7;
  else if (len >= 8 && strncasecmp(url, "https://", 8) == 0)
    scheme = 8;
  if (scheme) {
    p = url + scheme; /* absolute form: skip the authority */
    while (p < end && *p != '/' && *p != '?' && *p != '#')
      p++;
  } else if (len == 1 && *url == '*') {
    p = end; /* asterisk form, OPTIONS * */
  } else if (len == 0 || *url != '/') {
    return OP_EPROTO;
  }
  path = p;
  while (p < end && *p != '?' && *p != '#')
    p++;
  path_end = p;
  if (path == path_end) {
    path = scheme ? "/" : "*";
    path_end = path + 1;
  }
  if (p < end && *p == '?') {
    query = ++p;
    while (p < end && *p != '#')
      p++;
  }
  query_end = *query ? p : query;
  req->path = (uint32_t)req->raw.len;
  op_buf_append(&req->raw, path, (size_t)(path_end - path)); /* cannot fail: reserved */
  op_buf_append(&req->raw, "", 1);
  req->query = (uint32_t)req->raw.len;
  op_buf_append(&req->raw, query, (size_t)(query_end - query));
  op_buf_append(&req->raw, "", 1);
  return 0;
}

/* Records a route parameter: the path bytes at raw offset off, decoded. */
int op_http__req_add_param(op_http_req_t *req, const char *name, size_t off, size_t len) {
  if (req->nparams == OP_HTTP_MAX_PARAMS)
    return OP_ERANGE;
  if (op_buf_reserve(&req->raw, len + 1))
    return OP_ENOMEM;
  size_t at = req->raw.len;
  size_t n = op_http__pct_decode(req->raw.data + at, req->raw.data + off, len, 0);
  req->raw.len += n + 1;
  req->params[req->nparams].name = name;
  req->params[req->nparams].value = (uint32_t)at;
  req->nparams++;
  return 0;
}

/* ---- Accessors ---- */

const char *op_http_req_method(const op_http_req_t *req) {
  return llhttp_method_name((llhttp_method_t)req->method);
}

const char *op_http_req_path(const op_http_req_t *req) {
  return req->raw.data + req->path;
}

const char *op_http_req_query_string(const op_http_req_t *req) {
  return req->raw.data + req->query;
}

op_http_loop_t *op_http_req_loop(const op_http_req_t *req) {
  return req->loop;
}

const char *op_http_req_header(const op_http_req_t *req, const char *name) {
  for (uint32_t i = 0; i < req->nhdrs; i++)
    if (strcasecmp(req->raw.data + req->hdrs[i].name, name) == 0)
      return req->raw.data + req->hdrs[i].value;
  return NULL;
}

const char *op_http_req_param(const op_http_req_t *req, const char *name) {
  for (unsigned i = 0; i < req->nparams; i++)
    if (strcmp(req->params[i].name, name) == 0)
      return req->raw.data + req->params[i].value;
  return NULL;
}

const char *op_http_req_body(const op_http_req_t *req, size_t *len) {
  if (len)
    *len = req->body.len;
  return req->body.data ? req->body.data : "";
}

/* Copies value (decoded when asked) into buf. Returns its length, or
 * OP_ERANGE with buf set to "" when it does not fit. */
static int copy_out(char *buf, size_t len, const char *value, size_t vlen, int decode) {
  size_t need = decode ? decoded_len(value, vlen, 1) : vlen;
  if (need + 1 > len) {
    if (len)
      buf[0] = '\0';
    return OP_ERANGE;
  }
  if (decode) {
    op_http__pct_decode(buf, value, vlen, 1);
  } else {
    memcpy(buf, value, vlen);
    buf[vlen] = '\0';
  }
  return (int)need;
}

int op_http_req_query(const op_http_req_t *req, const char *name, char *buf, size_t len) {
  const char *p = req->raw.data + req->query;
  while (*p) {
    const char *pair = p, *amp = strchr(p, '&');
    const char *pair_end = amp ? amp : p + strlen(p);
    const char *eq = memchr(pair, '=', (size_t)(pair_end - pair));
    const char *key_end = eq ? eq : pair_end;
    if (decoded_equals(pair, (size_t)(key_end - pair), name)) {
      const char *value = eq ? eq + 1 : pair_end;
      return copy_out(buf, len, value, (size_t)(pair_end - value), 1);
    }
    p = amp ? amp + 1 : pair_end;
  }
  return OP_ENOENT;
}

int op_http_req_cookie(const op_http_req_t *req, const char *name, char *buf, size_t len) {
  size_t nlen = strlen(name);
  for (uint32_t i = 0; i < req->nhdrs; i++) {
    if (strcasecmp(req->raw.data + req->hdrs[i].name, "cookie") != 0)
      continue;
    const char *p = req->raw.data + req->hdrs[i].value;
    while (*p) {
      while (*p == ' ' || *p == '\t' || *p == ';')
        p++;
      const char *key = p;
      while (*p && *p != '=' && *p != ';')
        p++;
      const char *key_end = p;
      while (key_end > key && (key_end[-1] == ' ' || key_end[-1] == '\t'))
        key_end--;
      const char *value = p, *value_end = p;
      if (*p == '=') {
        value = ++p;
        while (*p && *p != ';')
          p++;
        value_end = p;
        while (value < value_end && (*value == ' ' || *value == '\t'))
          value++;
        while (value_end > value && (value_end[-1] == ' ' || value_end[-1] == '\t'))
          value_end--;
        if (value_end - value >= 2 && *value == '"' && value_end[-1] == '"') {
          value++;
          value_end--;
        }
      }
      if ((size_t)(key_end - key) == nlen && memcmp(key, name, nlen) == 0)
        return copy_out(buf, len, value, (size_t)(value_end - value), 0);
    }
  }
  return OP_ENOENT;
}

int op_http_req_defer(op_http_req_t *req, op_http_cancel_cb cancel, void *ud) {
  if (req == NULL || !req->dispatched || req->answered || req->deferred)
    return OP_EINVAL;
  req->deferred = 1;
  req->cancel = cancel;
  req->cancel_ud = ud;
  return 0;
}
