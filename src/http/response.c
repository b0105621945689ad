/*
 * Responses: the status line and headers, JSON bodies, and the respond calls
 * that consume a request.
 */
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "http/internal.h"

const char *op_http__reason(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 206:
      return "Partial Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 406:
      return "Not Acceptable";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 411:
      return "Length Required";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 417:
      return "Expectation Failed";
    case 422:
      return "Unprocessable Content";
    case 425:
      return "Too Early";
    case 426:
      return "Upgrade Required";
    case 428:
      return "Precondition Required";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return status >= 100 && status < 600 ? "Status" : NULL;
  }
}

static int has_ctl(const char *s) {
  for (; *s; s++)
    if ((unsigned char)*s < 0x20 && *s != '\t')
      return 1;
  return 0;
}

/*
 * Appends the status line and header block to out: Content-Type when given,
 * Content-Length when with_length, the handler's headers (extra), trusted
 * raw_lines, Date, and Connection. Returns 0, OP_EINVAL (bad status or a
 * content type with control characters) or OP_ENOMEM.
 */
int op_http__build_head(op_buf_t *out, op_http_loop_t *loop, int status, const char *content_type,
                        int with_length, size_t length, const op_buf_t *extra,
                        const char *raw_lines, int keep_alive, int http10) {
  const char *reason = op_http__reason(status);
  if (reason == NULL || (content_type && has_ctl(content_type)))
    return OP_EINVAL;
  int rc = op_buf_printf(out, "HTTP/1.1 %d %s\r\n", status, reason);
  if (rc == 0 && content_type)
    rc = op_buf_printf(out, "Content-Type: %s\r\n", content_type);
  if (rc == 0 && with_length)
    rc = op_buf_printf(out, "Content-Length: %zu\r\n", length);
  if (rc == 0 && extra && extra->len)
    rc = op_buf_append(out, extra->data, extra->len);
  if (rc == 0 && raw_lines)
    rc = op_buf_puts(out, raw_lines);
  if (rc == 0)
    rc = op_buf_puts(out, op_http__date(loop));
  if (rc == 0 && !keep_alive)
    rc = op_buf_puts(out, "Connection: close\r\n");
  else if (rc == 0 && http10)
    rc = op_buf_puts(out, "Connection: keep-alive\r\n");
  if (rc == 0)
    rc = op_buf_puts(out, "\r\n");
  return rc;
}

/* Appends {"error":{"code":…,"message":…}}; jansson escapes both strings. */
int op_http__error_body(op_buf_t *out, const char *code, const char *message) {
  json_t *doc = json_pack("{s:{s:s,s:s}}", "error", "code", code ? code : "error", "message",
                          message ? message : "");
  if (doc == NULL) /* e.g. a message that is not UTF-8 */
    doc = json_pack("{s:{s:s,s:s}}", "error", "code", "error", "message", "request failed");
  char *text = doc ? json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
  json_decref(doc);
  if (text == NULL)
    return OP_ENOMEM;
  int rc = op_buf_puts(out, text);
  free(text);
  return rc;
}

static int can_answer(const op_http_req_t *req) {
  return req && req->conn && req->dispatched && !req->answered &&
         op_http__on_loop_thread(req->loop);
}

int op_http_respond(op_http_req_t *req, int status, const char *content_type, const void *body,
                    size_t len) {
  if (!can_answer(req))
    return OP_EINVAL;
  op_http_conn_t *conn = req->conn;
  int keep_alive = req->keep_alive && !conn->loop->draining;
  int bodiless = status < 200 || status == 204 || status == 304;
  op_buf_t out = OP_BUF_INIT;
  int rc = op_http__build_head(&out, conn->loop, status, content_type, !bodiless, len,
                               &req->resp_headers, NULL, keep_alive,
                               req->http_major == 1 && req->http_minor == 0);
  int invalid = rc == OP_EINVAL;
  if (invalid) {
    op_log_error("http", "%s %s: invalid response (status %d)", op_http_req_method(req),
                 op_http_req_path(req), status);
    op_buf_reset(&out);
    status = 500;
    keep_alive = 0;
    bodiless = 1;
    rc = op_http__build_head(&out, conn->loop, status, NULL, 1, 0, NULL, NULL, 0, 0);
  }
  if (rc == 0 && !bodiless && !req->head && len)
    rc = op_buf_append(&out, body, len);
  req->answered = 1;
  conn->req = NULL;
  req->conn = NULL;
  op_http__count(conn->loop->server, status, req);
  if (rc) {
    op_buf_free(&out);
    op_http__conn_close(conn);
  } else if ((rc = op_http__conn_write(conn, &out)) == 0) {
    op_http__conn_request_done(conn, keep_alive);
  }
  if (!req->in_handler)
    op_http__req_free(req);
  return rc ? rc : invalid ? OP_ERANGE : 0;
}

int op_http_respond_json(op_http_req_t *req, int status, json_t *body) {
  if (!can_answer(req)) {
    json_decref(body);
    return OP_EINVAL;
  }
  char *text = body ? json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
  json_decref(body);
  if (text == NULL)
    return op_http_respond_error(req, 500, "internal_error", "could not build the response");
  int rc = op_http_respond(req, status, "application/json", text, strlen(text));
  free(text);
  return rc;
}

int op_http_respond_error(op_http_req_t *req, int status, const char *code, const char *message) {
  if (!can_answer(req))
    return OP_EINVAL;
  op_buf_t body = OP_BUF_INIT;
  int rc = op_http__error_body(&body, code, message);
  if (rc == 0)
    rc = op_http_respond(req, status, "application/json", body.data, body.len);
  else
    rc = op_http_respond(req, 500, NULL, NULL, 0);
  op_buf_free(&body);
  return rc;
}

/* The handler returned without answering or deferring: a bug, answered 500. */
void op_http__finish_unanswered(op_http_req_t *req) {
  op_log_error("http", "%s %s: handler returned without answering", op_http_req_method(req),
               op_http_req_path(req));
  op_http_respond_error(req, 500, "internal_error", "the request was not answered");
}

/* RFC 9110 token characters, the only ones allowed in a field name. */
static int is_token(const char *s) {
  if (*s == '\0')
    return 0;
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c <= 0x20 || c >= 0x7f || strchr("\"(),/:;<=>?@[\\]{}", c))
      return 0;
  }
  return 1;
}

int op_http_resp_header(op_http_req_t *req, const char *name, const char *value) {
  if (req == NULL || req->answered || name == NULL || value == NULL || !is_token(name) ||
      has_ctl(value))
    return OP_EINVAL;
  return op_buf_printf(&req->resp_headers, "%s: %s\r\n", name, value);
}
