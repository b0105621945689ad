/*
 * Connections: reading into the loop's shared buffer, parsing with llhttp,
 * handing complete requests to the router, and the ways a connection ends.
 *
 * One request at a time: llhttp is paused when a request is complete, the
 * handler runs, and parsing continues only once that request is answered.
 * Bytes that arrive meanwhile (pipelining) are the only thing kept per
 * connection, in conn->pending, and only until they are parsed. Responses
 * are queued in request order on the socket, so answers stay in order.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "http/internal.h"

enum {
  CONN_IN_STREAMS = 1 << 4, /* on loop->streams rather than loop->conns */
  CONN_STREAMED = 1 << 5,   /* became a stream at some point */
};

static int on_message_begin(llhttp_t *parser);
static int on_url(llhttp_t *parser, const char *at, size_t len);
static int on_url_complete(llhttp_t *parser);
static int on_header_field(llhttp_t *parser, const char *at, size_t len);
static int on_header_field_complete(llhttp_t *parser);
static int on_header_value(llhttp_t *parser, const char *at, size_t len);
static int on_header_value_complete(llhttp_t *parser);
static int on_headers_complete(llhttp_t *parser);
static int on_body(llhttp_t *parser, const char *at, size_t len);
static int on_message_complete(llhttp_t *parser);

static const llhttp_settings_t parser_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_url_complete = on_url_complete,
    .on_header_field = on_header_field,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

static void conn_feed(op_http_conn_t *conn, const char *data, size_t len);

/* ---- Lists ---- */

void op_http__list_push(op_http_conn_t **head, op_http_conn_t *conn) {
  conn->prev = NULL;
  conn->next = *head;
  if (*head)
    (*head)->prev = conn;
  *head = conn;
}

void op_http__list_remove(op_http_conn_t **head, op_http_conn_t *conn) {
  if (conn->prev)
    conn->prev->next = conn->next;
  else
    *head = conn->next;
  if (conn->next)
    conn->next->prev = conn->prev;
  conn->prev = conn->next = NULL;
}

static op_http_conn_t **conn_list(op_http_conn_t *conn) {
  return (conn->flags & CONN_IN_STREAMS) ? &conn->loop->streams : &conn->loop->conns;
}

static uint64_t now_ms(const op_http_conn_t *conn) {
  return uv_now(&conn->loop->uv);
}

static const op_http_config_t *cfg_of(const op_http_conn_t *conn) {
  return &conn->loop->server->cfg;
}

static int backlogged(const op_http_conn_t *conn) {
  return uv_stream_get_write_queue_size((const uv_stream_t *)&conn->tcp) > OP_HTTP_WRITE_BACKLOG;
}

/* ---- Reading ---- */

/* Every connection of a loop reads into the loop's one buffer: read_cb
 * parses synchronously and keeps nothing pointing into it. */
static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf) {
  op_http_conn_t *conn = handle->data;
  buf->base = conn->loop->read_buf;
  buf->len = OP_HTTP_READ_BUF_SIZE;
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);

static void start_reading(op_http_conn_t *conn) {
  if (conn->flags & (CONN_READING | CONN_EOF))
    return;
  if (uv_read_start((uv_stream_t *)&conn->tcp, on_alloc, on_read) == 0)
    conn->flags |= CONN_READING;
  else
    op_http__conn_close(conn);
}

static void stop_reading(op_http_conn_t *conn) {
  if (conn->flags & CONN_READING) {
    uv_read_stop((uv_stream_t *)&conn->tcp);
    conn->flags &= ~CONN_READING;
  }
}

/* Keeps bytes the parser may not see yet; they are parsed, in order, when
 * the pending answer is out (conn_resume). Runs on: the loop. */
static void keep_pending(op_http_conn_t *conn, const char *data, size_t len) {
  if (op_buf_append(&conn->pending, data, len)) {
    op_http__conn_close(conn);
    return;
  }
  conn->flags |= CONN_RESUME;
  if (conn->pending.len > OP_HTTP_MAX_PIPELINE || conn->state != CONN_HANDLER)
    stop_reading(conn);
}

/* Reacts to input by state: parse it, keep it while an answer is pending,
 * discard it while lingering, or close a stream that was sent anything; an
 * end of input ends the connection (gracefully when nothing is in flight).
 * Runs on: the loop. */
static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf) {
  op_http_conn_t *conn = stream->data;
  if (nread == 0)
    return;
  if (nread < 0) {
    conn->flags |= CONN_EOF;
    conn->flags &= ~CONN_READING;
    if (nread != UV_EOF) {
      op_http__conn_close(conn);
      return;
    }
    switch (conn->state) {
      case CONN_LINGER:
        if (!conn->shutdown)
          op_http__conn_close(conn); /* our FIN is out too */
        break;
      case CONN_IDLE:
        op_http__conn_shutdown(conn); /* flush what is queued, then close */
        break;
      case CONN_HEADERS:
        if (conn->req == NULL) {
          op_http__conn_shutdown(conn);
          break;
        }
        op_http__conn_close(conn);
        break;
      default:
        op_http__conn_close(conn); /* a deferred request is cancelled */
        break;
    }
    return;
  }
  switch (conn->state) {
    case CONN_STREAM:
      op_http__conn_close(conn); /* a stream client must not send anything */
      return;
    case CONN_LINGER:
    case CONN_CLOSED:
      return; /* discarded */
    case CONN_BODY:
      conn->deadline = now_ms(conn) + (uint64_t)cfg_of(conn)->idle_timeout_ms;
      break;
    default:
      break;
  }
  if (conn->state == CONN_HANDLER || conn->pending.len) {
    keep_pending(conn, buf->base, (size_t)nread);
    return;
  }
  conn_feed(conn, buf->base, (size_t)nread);
}

/* ---- Dispatch ---- */

static void parse_failed(op_http_conn_t *conn, llhttp_errno_t err) {
  if (conn->err_status) {
    op_http__conn_fail(conn, conn->err_status, conn->err_code, conn->err_msg);
    return;
  }
  const char *reason = llhttp_get_error_reason(&conn->parser);
  op_http__conn_fail(conn, 400, "bad_request", reason && *reason ? reason : "malformed request");
}

/* Hands the complete request to its route, or answers 400/404/405 itself. */
static void dispatch(op_http_conn_t *conn) {
  op_http_req_t *req = conn->req;
  conn->state = CONN_HANDLER;
  conn->deadline = 0;
  req->dispatched = 1;
  if (op_http__req_parse_target(req)) {
    op_http_respond_error(req, 400, "bad_request", "invalid request target");
    return;
  }
  op_http_handler_cb handler = NULL;
  void *ud = NULL;
  char allow[256];
  int found = op_http__route(conn->loop->server->router, req, &handler, &ud, allow, sizeof allow);
  if (found == 404) {
    op_http_respond_error(req, 404, "not_found", "no such resource");
    return;
  }
  if (found == 405) {
    op_http_resp_header(req, "Allow", allow);
    op_http_respond_error(req, 405, "method_not_allowed", "method not allowed on this resource");
    return;
  }
  if (found != 0) {
    op_http_respond_error(req, 500, "internal_error", "out of memory");
    return;
  }
  req->in_handler = 1;
  handler(req, ud);
  req->in_handler = 0;
  if (req->answered || req->orphaned)
    op_http__req_free(req);
  else if (!req->deferred)
    op_http__finish_unanswered(req);
}

/*
 * Parses data, dispatching each complete request. Stops when a request is
 * waiting for its answer or the socket has too much queued: what is left is
 * kept in conn->pending. Runs on: the loop, never inside a handler.
 */
static void conn_feed(op_http_conn_t *conn, const char *data, size_t len) {
  while (len > 0) {
    switch (conn->state) {
      case CONN_STREAM:
        op_http__conn_close(conn); /* bytes pipelined after a stream request */
        return;
      case CONN_LINGER:
      case CONN_CLOSED:
        return;
      case CONN_HANDLER:
        keep_pending(conn, data, len);
        return;
      default:
        break;
    }
    if (backlogged(conn)) {
      keep_pending(conn, data, len);
      return;
    }
    if (llhttp_get_errno(&conn->parser) == HPE_PAUSED)
      llhttp_resume(&conn->parser);
    llhttp_errno_t err = llhttp_execute(&conn->parser, data, len);
    if (err == HPE_OK)
      return;
    if (err != HPE_PAUSED) {
      parse_failed(conn, err);
      return;
    }
    size_t used = (size_t)(llhttp_get_error_pos(&conn->parser) - data);
    data += used;
    len -= used;
    dispatch(conn);
  }
}

/* Parses what was kept while an answer was pending, then reads again.
 * Runs on: the loop (a write callback). */
static void conn_resume(op_http_conn_t *conn) {
  conn->flags &= ~CONN_RESUME;
  if (conn->state != CONN_IDLE && conn->state != CONN_HEADERS && conn->state != CONN_BODY)
    return;
  if (backlogged(conn)) {
    conn->flags |= CONN_RESUME; /* again at the next write completion */
    return;
  }
  op_buf_t pending = conn->pending;
  conn->pending = (op_buf_t)OP_BUF_INIT;
  if (pending.len)
    conn_feed(conn, pending.data, pending.len);
  op_buf_free(&pending);
  if (conn->state == CONN_CLOSED || conn->state == CONN_LINGER || conn->state == CONN_STREAM)
    return;
  if (conn->pending.len <= OP_HTTP_MAX_PIPELINE && !backlogged(conn))
    start_reading(conn);
}

/* ---- Writing ---- */

typedef struct {
  uv_write_t req;
  op_buf_t buf;
} resp_write_t;

/* A response write finished: frees its bytes and resumes parsing kept
 * input when an answer was what parsing waited for. Runs on: the loop. */
static void on_written(uv_write_t *write, int status) {
  resp_write_t *rw = (resp_write_t *)write;
  op_http_conn_t *conn = write->handle->data;
  op_buf_free(&rw->buf);
  free(rw);
  if (conn->state == CONN_CLOSED)
    return;
  if (status < 0) {
    op_http__conn_close(conn);
    return;
  }
  if (conn->flags & CONN_RESUME)
    conn_resume(conn);
}

/* Queues owned bytes (taken from *owned, which is left empty). On failure
 * the connection is closed. Returns 0 or an OP_E* code. Runs on: the loop. */
int op_http__conn_write(op_http_conn_t *conn, op_buf_t *owned) {
  op_buf_t buf = *owned;
  *owned = (op_buf_t)OP_BUF_INIT;
  if (conn->state == CONN_CLOSED) {
    op_buf_free(&buf);
    return OP_ECLOSED;
  }
  resp_write_t *rw = malloc(sizeof *rw);
  if (rw == NULL) {
    op_buf_free(&buf);
    op_http__conn_close(conn);
    return OP_ENOMEM;
  }
  rw->buf = buf;
  uv_buf_t b = uv_buf_init(buf.data, (unsigned)buf.len);
  int err = uv_write(&rw->req, (uv_stream_t *)&conn->tcp, &b, 1, on_written);
  if (err) {
    op_buf_free(&rw->buf);
    free(rw);
    op_http__conn_close(conn);
    return op_http__errno(err);
  }
  return 0;
}

static void on_continue_written(uv_write_t *write, int status) {
  free(write);
}

/* "100 Continue" for a client that asked before sending its body. */
static void send_continue(op_http_conn_t *conn) {
  static const char line[] = "HTTP/1.1 100 Continue\r\n\r\n";
  uv_write_t *write = malloc(sizeof *write);
  if (write == NULL)
    return; /* the client sends its body after its own short wait anyway */
  uv_buf_t b = uv_buf_init((char *)line, sizeof line - 1);
  if (uv_write(write, (uv_stream_t *)&conn->tcp, &b, 1, on_continue_written))
    free(write);
}

/* ---- How a connection ends ---- */

static void on_closed(uv_handle_t *handle) {
  op_http_conn_t *conn = handle->data;
  op_http_loop_t *loop = conn->loop;
  op_http__stream_cork_fail(conn); /* writes never handed over: done before on_close */
  if (conn->flags & CONN_STREAMED)
    loop->nstreams--;
  if (conn->on_close)
    conn->on_close(conn, conn->data);
  free(conn);
  op_http__loop_conn_freed(loop);
}

/* Closes at once: a request not answered yet is dropped (a deferred one gets
 * its cancel callback first), queued writes fail with ECANCELED, and the
 * connection is freed in uv_close's callback. Idempotent. Runs on: the loop. */
void op_http__conn_close(op_http_conn_t *conn) {
  if (conn->state == CONN_CLOSED)
    return;
  op_http__list_remove(conn_list(conn), conn);
  conn->flags &= ~CONN_IN_STREAMS;
  conn->state = CONN_CLOSED;
  conn->deadline = 0;
  op_http_req_t *req = conn->req;
  conn->req = NULL;
  if (req) {
    req->conn = NULL;
    if (req->in_handler) {
      req->orphaned = 1; /* freed by dispatch when the handler returns */
    } else {
      if (req->deferred && req->cancel)
        req->cancel(req, req->cancel_ud);
      op_http__req_free(req);
    }
  }
  op_buf_free(&conn->pending);
  op_http__stream_cork_drop(conn);
  uv_close((uv_handle_t *)&conn->tcp, on_closed);
}

/* Our FIN is out (everything queued was written). Runs on: the loop. */
static void on_shutdown(uv_shutdown_t *shutdown, int status) {
  op_http_conn_t *conn = shutdown->handle->data;
  free(shutdown);
  if (conn->state == CONN_CLOSED)
    return;
  conn->shutdown = NULL;
  if (status < 0 || (conn->flags & (CONN_EOF | CONN_STREAMED)) || conn->loop->draining) {
    op_http__conn_close(conn); /* when stopping, an answer fully sent is the end */
    return;
  }
  /* Our FIN is out; keep reading (and discarding) until the peer's, so that
   * unread input does not turn our close into a reset that could destroy the
   * response before the client has read it. */
  uint64_t linger = (uint64_t)cfg_of(conn)->idle_timeout_ms;
  if (linger > OP_HTTP_LINGER_MS)
    linger = OP_HTTP_LINGER_MS;
  conn->deadline = now_ms(conn) + linger;
}

/* Ends the connection gracefully: what is queued is written, then our FIN,
 * then the peer's is awaited (bounded by the timer). Runs on: the loop. */
void op_http__conn_shutdown(op_http_conn_t *conn) {
  if (conn->state == CONN_CLOSED || conn->shutdown)
    return;
  if (conn->req && !conn->req->in_handler) {
    op_http__req_free(conn->req);
    conn->req = NULL;
  }
  conn->state = CONN_LINGER;
  conn->deadline = now_ms(conn) + (uint64_t)cfg_of(conn)->idle_timeout_ms;
  op_buf_free(&conn->pending);
  conn->flags &= ~CONN_RESUME;
  uv_shutdown_t *shutdown = malloc(sizeof *shutdown);
  if (shutdown == NULL || uv_shutdown(shutdown, (uv_stream_t *)&conn->tcp, on_shutdown) != 0) {
    free(shutdown);
    op_http__conn_close(conn);
    return;
  }
  conn->shutdown = shutdown;
  start_reading(conn);
}

/* Answers with an error that was not produced by a handler (parse errors,
 * limits, timeouts) and ends the connection. Runs on: the loop. */
void op_http__conn_fail(op_http_conn_t *conn, int status, const char *code, const char *message) {
  if (conn->state == CONN_CLOSED || conn->state == CONN_LINGER || conn->state == CONN_STREAM)
    return;
  op_http_req_t *req = conn->req;
  op_buf_t body = OP_BUF_INIT, out = OP_BUF_INIT;
  int head = req && req->head;
  int http10 = req && req->http_major == 1 && req->http_minor == 0;
  int rc = op_http__error_body(&body, code, message);
  if (rc == 0)
    rc = op_http__build_head(&out, conn->loop, status, "application/json", 1, body.len, NULL, NULL,
                             0, http10);
  if (rc == 0 && !head)
    rc = op_buf_append(&out, body.data, body.len);
  op_buf_free(&body);
  op_http__count(conn->loop->server, status, req);
  if (op_log_enabled(OP_LOG_DEBUG))
    op_log_debug("http", "closing connection with %d %s: %s", status, code, message);
  if (rc) {
    op_buf_free(&out);
    op_http__conn_close(conn);
    return;
  }
  if (op_http__conn_write(conn, &out) == 0)
    op_http__conn_shutdown(conn);
}

/* The request's answer is queued: wait for the next request or end.
 * Runs on: the loop. */
void op_http__conn_request_done(op_http_conn_t *conn, int keep_alive) {
  if (conn->state == CONN_CLOSED)
    return;
  llhttp_reset(&conn->parser); /* clears the pause; settings and data are kept */
  if (!keep_alive) {
    op_http__conn_shutdown(conn);
    return;
  }
  conn->state = CONN_IDLE;
  conn->deadline = now_ms(conn) + (uint64_t)cfg_of(conn)->idle_timeout_ms;
  if (conn->pending.len || !(conn->flags & CONN_READING))
    conn->flags |= CONN_RESUME;
}

/* A deadline passed (see the states in internal.h). Runs on: the loop's timer. */
void op_http__conn_expire(op_http_conn_t *conn, uint64_t now) {
  switch (conn->state) {
    case CONN_HEADERS:
      op_http__conn_fail(conn, 408, "request_timeout", "request headers not received in time");
      break;
    case CONN_BODY:
      op_http__conn_fail(conn, 408, "request_timeout", "request body not received in time");
      break;
    case CONN_IDLE:
    case CONN_LINGER:
      op_http__conn_close(conn);
      break;
    default:
      conn->deadline = 0;
      break;
  }
}

/* The server is stopping: connections with nothing in flight end now,
 * streams are ended cleanly, requests being read or answered may finish
 * (their answer will carry Connection: close) and connections lingering
 * after their answer close once it is sent. Runs on: the loop. */
void op_http__conn_drain(op_http_conn_t *conn) {
  switch (conn->state) {
    case CONN_IDLE:
    case CONN_HEADERS:
      op_http__conn_close(conn);
      break;
    case CONN_STREAM:
      op_http_stream_close(conn);
      break;
    case CONN_LINGER:
      if (conn->shutdown == NULL)
        op_http__conn_close(conn); /* answered and our FIN sent */
      break;
    default:
      break;
  }
}

/* Takes a freshly accepted descriptor (closed on failure). Runs on: the loop. */
void op_http__conn_accept(op_http_loop_t *loop, int fd) {
  op_http_conn_t *conn = calloc(1, sizeof *conn);
  if (conn == NULL || uv_tcp_init(&loop->uv, &conn->tcp) != 0) {
    op_log_error("http", "cannot take a new connection: out of memory");
    free(conn);
    close(fd);
    return;
  }
  conn->tcp.data = conn;
  conn->loop = loop;
  loop->nconns++;
  op_gauge_add(loop->server->m_connections, 1);
  llhttp_init(&conn->parser, HTTP_REQUEST, &parser_settings);
  conn->parser.data = conn;
  conn->state = CONN_HEADERS;
  conn->deadline = uv_now(&loop->uv) + (uint64_t)loop->server->cfg.header_timeout_ms;
  op_http__list_push(&loop->conns, conn);
  if (uv_tcp_open(&conn->tcp, fd) != 0) {
    close(fd);
    op_http__conn_close(conn);
    return;
  }
  uv_tcp_nodelay(&conn->tcp, 1);
  start_reading(conn);
}

/* ---- Streams' hooks into the connection ---- */

/* Moves conn from the request machinery to the stream list. */
void op_http__conn_become_stream(op_http_conn_t *conn, op_http_close_cb on_close, void *ud) {
  op_http__list_remove(&conn->loop->conns, conn);
  op_http__list_push(&conn->loop->streams, conn);
  conn->flags |= CONN_IN_STREAMS | CONN_STREAMED;
  conn->loop->nstreams++;
  conn->flags &= ~CONN_RESUME;
  conn->state = CONN_STREAM;
  conn->deadline = 0;
  conn->on_close = on_close;
  conn->data = ud;
}

/* Ends a stream gracefully; it goes back on the timer's list so that a peer
 * that does not read cannot hold it open past idle_timeout_ms. */
void op_http__conn_end_stream(op_http_conn_t *conn) {
  op_http__list_remove(&conn->loop->streams, conn);
  conn->flags &= ~CONN_IN_STREAMS;
  op_http__list_push(&conn->loop->conns, conn);
  op_http__stream_flush(conn); /* corked writes go before our FIN */
  if (conn->state == CONN_STREAM)
    op_http__conn_shutdown(conn);
}

/* After stream start: bytes that followed the request mean a misbehaving
 * client; otherwise keep reading to notice the peer closing. */
void op_http__conn_stream_started(op_http_conn_t *conn) {
  if (conn->state != CONN_STREAM)
    return;
  if (conn->pending.len) {
    op_http__conn_close(conn);
    return;
  }
  if (conn->loop->draining) {
    op_http__conn_end_stream(conn);
    return;
  }
  start_reading(conn);
}

/* ---- Parser callbacks (run inside llhttp_execute, on the loop) ---- */

static int fail_with(op_http_conn_t *conn, int status, const char *code, const char *message) {
  conn->err_status = (uint16_t)status;
  conn->err_code = code;
  conn->err_msg = message;
  return -1;
}

static int out_of_memory(op_http_conn_t *conn) {
  return fail_with(conn, 503, "unavailable", "out of memory");
}

static int on_message_begin(llhttp_t *parser) {
  op_http_conn_t *conn = parser->data;
  if (conn->req == NULL) {
    conn->req = op_http__req_new(conn);
    if (conn->req == NULL)
      return out_of_memory(conn);
  }
  if (conn->state == CONN_IDLE) {
    conn->state = CONN_HEADERS;
    conn->deadline = now_ms(conn) + (uint64_t)cfg_of(conn)->header_timeout_ms;
  }
  return 0;
}

static int on_url(llhttp_t *parser, const char *at, size_t len) {
  op_http_conn_t *conn = parser->data;
  op_http_req_t *req = conn->req;
  if (req->url_len + len > OP_HTTP_MAX_URL)
    return fail_with(conn, 414, "uri_too_long", "request target longer than 8 KiB");
  if (op_buf_append(&req->raw, at, len))
    return out_of_memory(conn);
  req->url_len += (uint32_t)len;
  return 0;
}

static int on_url_complete(llhttp_t *parser) {
  op_http_conn_t *conn = parser->data;
  op_http_req_t *req = conn->req;
  req->method = parser->method;
  req->head = parser->method == HTTP_HEAD;
  return op_buf_append(&req->raw, "", 1) ? out_of_memory(conn) : 0;
}

static int count_header_bytes(op_http_conn_t *conn, size_t len) {
  op_http_req_t *req = conn->req;
  req->header_bytes += len;
  if (req->header_bytes > OP_HTTP_MAX_HEADER_BYTES)
    return fail_with(conn, 431, "headers_too_large", "request headers larger than 16 KiB");
  return 0;
}

/* Header names and values are appended to req->raw; a name split across
 * reads arrives in pieces and continues the current entry. */
static int on_header_field(llhttp_t *parser, const char *at, size_t len) {
  op_http_conn_t *conn = parser->data;
  op_http_req_t *req = conn->req;
  if (!req->in_field) {
    if (req->nhdrs == OP_HTTP_MAX_HEADERS)
      return fail_with(conn, 431, "headers_too_large", "more than 100 request headers");
    if (req->nhdrs == req->hdrs_cap) {
      uint32_t cap = req->hdrs_cap ? req->hdrs_cap * 2 : 16;
      op_http_hdr_t *hdrs = realloc(req->hdrs, cap * sizeof *hdrs);
      if (hdrs == NULL)
        return out_of_memory(conn);
      req->hdrs = hdrs;
      req->hdrs_cap = cap;
    }
    req->hdrs[req->nhdrs].name = (uint32_t)req->raw.len;
    req->hdrs[req->nhdrs].value = (uint32_t)req->raw.len;
    req->nhdrs++;
    req->in_field = 1;
  }
  if (count_header_bytes(conn, len))
    return -1;
  return op_buf_append(&req->raw, at, len) ? out_of_memory(conn) : 0;
}

static int on_header_field_complete(llhttp_t *parser) {
  op_http_conn_t *conn = parser->data;
  op_http_req_t *req = conn->req;
  if (op_buf_append(&req->raw, "", 1))
    return out_of_memory(conn);
  req->in_field = 0;
  req->hdrs[req->nhdrs - 1].value = (uint32_t)req->raw.len;
  return 0;
}

static int on_header_value(llhttp_t *parser, const char *at, size_t len) {
  op_http_conn_t *conn = parser->data;
  if (count_header_bytes(conn, len))
    return -1;
  return op_buf_append(&conn->req->raw, at, len) ? out_of_memory(conn) : 0;
}

static int on_header_value_complete(llhttp_t *parser) {
  op_http_conn_t *conn = parser->data;
  op_http_req_t *req = conn->req;
  uint32_t start = req->hdrs[req->nhdrs - 1].value;
  while (req->raw.len > start &&
         (req->raw.data[req->raw.len - 1] == ' ' || req->raw.data[req->raw.len - 1] == '\t'))
    req->raw.len--;
  return op_buf_append(&req->raw, "", 1) ? out_of_memory(conn) : 0;
}

/* Transfer-Encoding: only "chunked" is understood. A request whose last
 * coding is not chunked has no determinable length (400); chunked preceded
 * by a coding we do not implement is 501 (RFC 9112, 6.1 and 6.3). */
static int check_transfer_encoding(op_http_conn_t *conn) {
  op_http_req_t *req = conn->req;
  int unknown = 0, last_chunked = 0;
  for (uint32_t i = 0; i < req->nhdrs; i++) {
    if (strcasecmp(req->raw.data + req->hdrs[i].name, "transfer-encoding") != 0)
      continue;
    const char *p = req->raw.data + req->hdrs[i].value;
    while (*p) {
      while (*p == ' ' || *p == '\t' || *p == ',')
        p++;
      if (*p == '\0')
        break;
      const char *start = p;
      while (*p && *p != ',' && *p != ' ' && *p != '\t' && *p != ';')
        p++;
      last_chunked = (size_t)(p - start) == 7 && strncasecmp(start, "chunked", 7) == 0;
      unknown |= !last_chunked;
      while (*p && *p != ',')
        p++;
    }
  }
  if (!last_chunked)
    return fail_with(conn, 400, "bad_request", "Transfer-Encoding must end with chunked");
  if (unknown)
    return fail_with(conn, 501, "not_implemented", "unsupported transfer coding");
  return 0;
}

/* Checks what can be refused before the body: version, CONNECT, Upgrade,
 * Transfer-Encoding, the declared length and Expect. Returns 0 or -1 with
 * the answer in conn->err_*. */
static int on_headers_complete(llhttp_t *parser) {
  op_http_conn_t *conn = parser->data;
  op_http_req_t *req = conn->req;
  req->http_major = parser->http_major;
  req->http_minor = parser->http_minor;
  req->keep_alive = llhttp_should_keep_alive(parser) != 0;
  if (parser->http_major != 1)
    return fail_with(conn, 505, "http_version_not_supported", "only HTTP/1.x is supported");
  if (parser->method == HTTP_CONNECT)
    return fail_with(conn, 501, "not_implemented", "CONNECT is not supported");
  if (parser->upgrade) {
    /* h2c is an offer we may ignore and stay on HTTP/1.1 (RFC 9110, 7.8);
     * any other protocol switch cannot be served here. */
    const char *upgrade = op_http_req_header(req, "upgrade");
    if (upgrade == NULL || strcasecmp(upgrade, "h2c") != 0)
      return fail_with(conn, 501, "not_implemented", "protocol upgrade is not supported");
    parser->upgrade = 0;
  }
  if ((parser->flags & F_TRANSFER_ENCODING) && check_transfer_encoding(conn))
    return -1;
  uint64_t max_body = (uint64_t)cfg_of(conn)->max_body_bytes;
  if ((parser->flags & F_CONTENT_LENGTH) && parser->content_length > max_body)
    return fail_with(conn, 413, "payload_too_large", "request body larger than the limit");
  const char *expect = op_http_req_header(req, "expect");
  if (expect) {
    if (strcasecmp(expect, "100-continue") != 0)
      return fail_with(conn, 417, "expectation_failed", "unsupported Expect header");
    if (parser->http_minor >= 1 && ((parser->flags & F_CHUNKED) || parser->content_length > 0))
      send_continue(conn);
  }
  conn->state = CONN_BODY;
  conn->deadline = now_ms(conn) + (uint64_t)cfg_of(conn)->idle_timeout_ms;
  return 0;
}

static int on_body(llhttp_t *parser, const char *at, size_t len) {
  op_http_conn_t *conn = parser->data;
  op_http_req_t *req = conn->req;
  if (req->body.len + len > (uint64_t)cfg_of(conn)->max_body_bytes)
    return fail_with(conn, 413, "payload_too_large", "request body larger than the limit");
  return op_buf_append(&req->body, at, len) ? out_of_memory(conn) : 0;
}

static int on_message_complete(llhttp_t *parser) {
  return HPE_PAUSED; /* dispatched by conn_feed, outside the parser */
}
