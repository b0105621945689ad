/*
 * Streams: a response without a length whose body the caller writes for as
 * long as the connection lives (Server-Sent Events).
 *
 * Writes are zero-copy: the caller's buffers are queued as they are, so one
 * frame can be queued on every subscriber of a loop without a copy per
 * subscriber.
 *
 * Writes are also coalesced. Each write(2) costs several microseconds of
 * kernel time, which is most of what a delivered frame costs, so a stream
 * write is first "corked" in a per-connection batch; the loop hands each
 * batch to libuv as one writev once the current callbacks are done (a
 * uv_check after the I/O phase, and a uv_idle that keeps the loop from
 * blocking in poll while anything is corked). K frames queued on a stream in
 * one loop iteration thus cost one system call, and none waits for a later
 * iteration. A batch carries the done callbacks of the writes it holds and
 * comes from a per-loop free list sized by the number of streams, which
 * keeps the allocator off the fan-out path.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "core/err.h"
#include "core/log.h"
#include "http/internal.h"

struct op_http_wreq_s {
  uv_write_t req;
  op_http_wreq_t *next_free;
  size_t slot;  /* index in loop->corked while corked */
  size_t bytes; /* corked bytes, counted by op_http_stream_queued_bytes */
  unsigned nbufs, ndone;
  uv_buf_t bufs[OP_HTTP_BATCH_BUFS];
  struct {
    op_http_write_cb cb;
    void *ud;
  } done[OP_HTTP_BATCH_BUFS];
};

/* An empty batch from the loop's free list or the allocator (NULL on OOM). */
static op_http_wreq_t *wreq_get(op_http_loop_t *loop) {
  op_http_wreq_t *wreq = loop->wreq_free;
  if (wreq) {
    loop->wreq_free = wreq->next_free;
    loop->nwreq_free--;
  } else {
    wreq = malloc(sizeof *wreq);
    if (wreq == NULL)
      return NULL;
  }
  wreq->nbufs = wreq->ndone = 0;
  wreq->bytes = 0;
  return wreq;
}

/* The cache keeps up to one batch per open stream (a fan-out has one in
 * flight on each), so that steady fan-out does not reach the allocator. */
static void wreq_put(op_http_loop_t *loop, op_http_wreq_t *wreq) {
  size_t cap = loop->nstreams > OP_HTTP_WREQ_CACHE ? loop->nstreams : OP_HTTP_WREQ_CACHE;
  if (loop->nwreq_free >= cap) {
    free(wreq);
    return;
  }
  wreq->next_free = loop->wreq_free;
  loop->wreq_free = wreq;
  loop->nwreq_free++;
}

/* Calls the batch's done callbacks in write order, then recycles it. */
static void wreq_finish(op_http_loop_t *loop, op_http_wreq_t *wreq, int status) {
  for (unsigned i = 0; i < wreq->ndone; i++)
    if (wreq->done[i].cb)
      wreq->done[i].cb(wreq->done[i].ud, status);
  wreq_put(loop, wreq);
}

/* A batch reached the kernel (or failed): a failure closes the stream, then
 * the batch's done callbacks run in write order. Runs on: the loop. */
static void on_stream_written(uv_write_t *write, int status) {
  op_http_wreq_t *wreq = (op_http_wreq_t *)write;
  op_http_conn_t *conn = write->handle->data;
  if (status < 0 && conn->state == CONN_STREAM)
    op_http__conn_close(conn);
  wreq_finish(conn->loop, wreq, status < 0 ? op_http__errno(status) : 0);
}

#define NO_SLOT ((size_t)-1)

/* Removes conn's batch from the loop's corked set (it stays conn->cork). */
void op_http__stream_cork_drop(op_http_conn_t *conn) {
  op_http_wreq_t *wreq = conn->cork;
  if (wreq && wreq->slot != NO_SLOT) {
    conn->loop->corked[wreq->slot] = NULL;
    wreq->slot = NO_SLOT;
  }
}

/*
 * Hands conn's batch to libuv. If libuv refuses it, the batch stays on the
 * connection, which is closed: its callbacks then run from the close
 * callback, before on_close, and never from inside the op_http_stream_write
 * call that may have triggered this flush. Runs on: the loop.
 */
void op_http__stream_flush(op_http_conn_t *conn) {
  op_http_wreq_t *wreq = conn->cork;
  if (wreq == NULL)
    return;
  op_http__stream_cork_drop(conn);
  conn->cork = NULL;
  int err =
      uv_write(&wreq->req, (uv_stream_t *)&conn->tcp, wreq->bufs, wreq->nbufs, on_stream_written);
  if (err) {
    conn->cork = wreq;
    op_http__conn_close(conn);
  }
}

/* Runs the done callbacks of writes that never reached the socket.
 * Runs on: the loop, in the connection's close callback, before on_close. */
void op_http__stream_cork_fail(op_http_conn_t *conn) {
  op_http_wreq_t *wreq = conn->cork;
  conn->cork = NULL;
  if (wreq)
    wreq_finish(conn->loop, wreq, OP_ECLOSED);
}

/* Flushes every corked stream of the loop. */
static void flush_all(op_http_loop_t *loop) {
  /* Callbacks of failed batches may cork more writes: walk to the end. */
  for (size_t i = 0; i < loop->ncorked; i++) {
    op_http_conn_t *conn = loop->corked[i];
    if (conn)
      op_http__stream_flush(conn);
  }
  loop->ncorked = 0;
  uv_check_stop(&loop->flush_check);
  uv_idle_stop(&loop->flush_idle);
}

static void on_flush_check(uv_check_t *check) {
  flush_all(check->data);
}

static void on_flush_idle(uv_idle_t *idle) {
  flush_all(idle->data);
}

void op_http__stream_loop_init(op_http_loop_t *loop) {
  uv_check_init(&loop->uv, &loop->flush_check);
  loop->flush_check.data = loop;
  uv_idle_init(&loop->uv, &loop->flush_idle);
  loop->flush_idle.data = loop;
}

void op_http__stream_loop_close(op_http_loop_t *loop) {
  uv_close((uv_handle_t *)&loop->flush_check, NULL);
  uv_close((uv_handle_t *)&loop->flush_idle, NULL);
}

/* Frees the batch cache and the corked set. Runs on: the loop thread, at exit. */
void op_http__stream_loop_free(op_http_loop_t *loop) {
  while (loop->wreq_free) {
    op_http_wreq_t *next = loop->wreq_free->next_free;
    free(loop->wreq_free);
    loop->wreq_free = next;
  }
  loop->nwreq_free = 0;
  free(loop->corked);
  loop->corked = NULL;
  loop->ncorked = loop->corked_cap = 0;
}

/* Starts a batch for conn and registers it for the next flush. */
static op_http_wreq_t *cork(op_http_conn_t *conn) {
  op_http_loop_t *loop = conn->loop;
  if (loop->ncorked == loop->corked_cap) {
    size_t cap = loop->corked_cap ? loop->corked_cap * 2 : 256;
    op_http_conn_t **corked = realloc(loop->corked, cap * sizeof *corked);
    if (corked == NULL)
      return NULL;
    loop->corked = corked;
    loop->corked_cap = cap;
  }
  op_http_wreq_t *wreq = wreq_get(loop);
  if (wreq == NULL)
    return NULL;
  if (loop->ncorked == 0) {
    uv_check_start(&loop->flush_check, on_flush_check);
    uv_idle_start(&loop->flush_idle, on_flush_idle);
  }
  wreq->slot = loop->ncorked;
  loop->corked[loop->ncorked++] = conn;
  conn->cork = wreq;
  return wreq;
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

/* True if the raw header lines name a Connection header of their own. */
static int has_connection_header(const char *lines) {
  for (const char *p = lines; p && *p;) {
    if (strncasecmp(p, "connection:", 11) == 0)
      return 1;
    const char *eol = strstr(p, "\r\n");
    p = eol ? eol + 2 : NULL;
  }
  return 0;
}

op_http_conn_t *op_http_stream_start(op_http_req_t *req, int status, const char *extra_headers,
                                     op_http_close_cb on_close, void *ud) {
  if (req == NULL || req->conn == NULL || !req->dispatched || req->answered ||
      !op_http__on_loop_thread(req->loop) || (extra_headers && !valid_raw_lines(extra_headers)))
    return NULL;
  op_http_conn_t *conn = req->conn;
  op_buf_t out = OP_BUF_INIT;
  /* The body is delimited by the end of the connection either way; a caller
   * may still name its own Connection header (SSE sends keep-alive). */
  int own_connection = has_connection_header(extra_headers);
  if (op_http__build_head(&out, conn->loop, status, NULL, 0, 0, &req->resp_headers, extra_headers,
                          own_connection, 0)) {
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

int op_http_stream_write(op_http_conn_t *conn, const uv_buf_t *bufs, unsigned nbufs,
                         op_http_write_cb done_cb, void *ud) {
  if (conn == NULL || bufs == NULL || nbufs == 0 || !op_http__on_loop_thread(conn->loop))
    return OP_EINVAL;
  if (conn->state != CONN_STREAM)
    return OP_ECLOSED;
  op_http_wreq_t *wreq = conn->cork;
  if (wreq && wreq->nbufs + nbufs > OP_HTTP_BATCH_BUFS) {
    /* The batch is full: it goes now (no callback runs from here, see
     * op_http__stream_flush), and this write starts the next one. */
    op_http__stream_flush(conn);
    if (conn->state != CONN_STREAM)
      return OP_ECLOSED;
    wreq = NULL;
  }
  if (nbufs > OP_HTTP_BATCH_BUFS) {
    /* Too many buffers to batch: written on its own, after what is corked. */
    op_http__stream_flush(conn);
    if (conn->state != CONN_STREAM)
      return OP_ECLOSED;
    wreq = wreq_get(conn->loop);
    if (wreq == NULL)
      return OP_ENOMEM;
    wreq->done[0].cb = done_cb;
    wreq->done[0].ud = ud;
    wreq->ndone = 1;
    int err = uv_write(&wreq->req, (uv_stream_t *)&conn->tcp, bufs, nbufs, on_stream_written);
    if (err) {
      wreq_put(conn->loop, wreq);
      return op_http__errno(err);
    }
    return 0;
  }
  if (wreq == NULL && (wreq = cork(conn)) == NULL)
    return OP_ENOMEM;
  for (unsigned i = 0; i < nbufs; i++) {
    wreq->bufs[wreq->nbufs++] = bufs[i];
    wreq->bytes += bufs[i].len;
  }
  wreq->done[wreq->ndone].cb = done_cb;
  wreq->done[wreq->ndone].ud = ud;
  wreq->ndone++;
  return 0;
}

int op_http_stream_set_sndbuf(op_http_conn_t *conn, int bytes) {
  uv_os_fd_t fd;
  if (uv_fileno((const uv_handle_t *)&conn->tcp, &fd) != 0)
    return OP_EINVAL;
  return setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes) == 0 ? 0 : OP_EIO;
}

size_t op_http_stream_queued_bytes(const op_http_conn_t *conn) {
  return uv_stream_get_write_queue_size((const uv_stream_t *)&conn->tcp) +
         (conn->cork ? conn->cork->bytes : 0);
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
