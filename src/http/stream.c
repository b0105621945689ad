/*
 * Streams: a response without a length whose body the caller writes for as
 * long as the connection lives (Server-Sent Events).
 *
 * A stream write queues the caller's buffers as they are (libuv copies only
 * the small uv_buf_t array), so one frame can be queued on every subscriber
 * of a loop without a copy per subscriber. The uv_write_t each write needs
 * comes from a per-loop free list, which keeps the allocator off the
 * fan-out path once the list is warm.
 */
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "http/internal.h"

struct op_http_wreq_s {
  uv_write_t req;
  op_http_wreq_t *next_free;
  op_http_write_cb cb;
  void *ud;
};

static op_http_wreq_t *wreq_get(op_http_loop_t *loop) {
  op_http_wreq_t *wreq = loop->wreq_free;
  if (wreq) {
    loop->wreq_free = wreq->next_free;
    loop->nwreq_free--;
    return wreq;
  }
  return malloc(sizeof *wreq);
}

static void wreq_put(op_http_loop_t *loop, op_http_wreq_t *wreq) {
  if (loop->nwreq_free >= OP_HTTP_WREQ_CACHE) {
    free(wreq);
    return;
  }
  wreq->next_free = loop->wreq_free;
  loop->wreq_free = wreq;
  loop->nwreq_free++;
}

/* Frees the cached write requests. Runs on: the loop thread, at exit. */
void op_http__wreq_cache_free(op_http_loop_t *loop) {
  while (loop->wreq_free) {
    op_http_wreq_t *next = loop->wreq_free->next_free;
    free(loop->wreq_free);
    loop->wreq_free = next;
  }
  loop->nwreq_free = 0;
}

/* Lines of "Name: value\r\n", nothing else: no blank line, no bare CR/LF. */
static int valid_raw_lines(const char *lines) {
  size_t len = strlen(lines);
  if (len == 0)
    return 1;
  if (len < 2 || strcmp(lines + len - 2, "\r\n") != 0 || strstr(lines, "\r\n\r\n") ||
      strncmp(lines, "\r\n", 2) == 0)
    return 0;
  for (const char *p = lines; *p; p++)
    if ((*p == '\r' && p[1] != '\n') || (*p == '\n' && (p == lines || p[-1] != '\r')))
      return 0;
  return 1;
}

op_http_conn_t *op_http_stream_start(op_http_req_t *req, int status, const char *extra_headers,
                                     op_http_close_cb on_close, void *ud) {
  if (req == NULL || req->conn == NULL || !req->dispatched || req->answered ||
      !op_http__on_loop_thread(req->loop) || (extra_headers && !valid_raw_lines(extra_headers)))
    return NULL;
  op_http_conn_t *conn = req->conn;
  op_buf_t out = OP_BUF_INIT;
  if (op_http__build_head(&out, conn->loop, status, NULL, 0, 0, &req->resp_headers, extra_headers,
                          0, 0)) {
    op_buf_free(&out);
    return NULL;
  }
  req->answered = 1;
  conn->req = NULL;
  req->conn = NULL;
  op_http__count(conn->loop->server, status, req);
  if (!req->in_handler)
    op_http__req_free(req);
  op_http__conn_become_stream(conn, on_close, ud);
  /* From here on the caller owns the stream; should the write fail, the
   * connection is closed and on_close reports it, as for any later failure. */
  if (op_http__conn_write(conn, &out) == 0)
    op_http__conn_stream_started(conn);
  return conn;
}

static void on_stream_written(uv_write_t *write, int status) {
  op_http_wreq_t *wreq = (op_http_wreq_t *)write;
  op_http_conn_t *conn = write->handle->data;
  op_http_write_cb cb = wreq->cb;
  void *ud = wreq->ud;
  wreq_put(conn->loop, wreq);
  if (status < 0 && conn->state == CONN_STREAM)
    op_http__conn_close(conn);
  if (cb)
    cb(ud, status < 0 ? op_http__errno(status) : 0);
}

int op_http_stream_write(op_http_conn_t *conn, const uv_buf_t *bufs, unsigned nbufs,
                         op_http_write_cb done_cb, void *ud) {
  if (conn == NULL || bufs == NULL || nbufs == 0 || !op_http__on_loop_thread(conn->loop))
    return OP_EINVAL;
  if (conn->state != CONN_STREAM)
    return OP_ECLOSED;
  op_http_wreq_t *wreq = wreq_get(conn->loop);
  if (wreq == NULL)
    return OP_ENOMEM;
  wreq->cb = done_cb;
  wreq->ud = ud;
  int err = uv_write(&wreq->req, (uv_stream_t *)&conn->tcp, bufs, nbufs, on_stream_written);
  if (err) {
    wreq_put(conn->loop, wreq);
    return op_http__errno(err);
  }
  return 0;
}

size_t op_http_stream_queued_bytes(const op_http_conn_t *conn) {
  return uv_stream_get_write_queue_size((const uv_stream_t *)&conn->tcp);
}

void op_http_stream_close(op_http_conn_t *conn) {
  if (conn == NULL || conn->state != CONN_STREAM)
    return;
  op_http__conn_end_stream(conn);
}

op_http_loop_t *op_http_conn_loop(const op_http_conn_t *conn) {
  return conn->loop;
}

void op_http_conn_set_data(op_http_conn_t *conn, void *data) {
  conn->data = data;
}

void *op_http_conn_data(const op_http_conn_t *conn) {
  return conn->data;
}
