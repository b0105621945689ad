/*
 * Private to src/http: the structures behind the opaque types of http.h and
 * the functions the module's files share. Names with the op_http__ prefix
 * are not part of the API.
 */
#ifndef OP_HTTP_INTERNAL_H
#define OP_HTTP_INTERNAL_H

#include <llhttp.h>
#include <stdatomic.h>
#include <stdint.h>
#include <uv.h>

#include "core/buf.h"
#include "core/metrics.h"
#include "http/http.h"

#define OP_HTTP_READ_BUF_SIZE (64 * 1024) /* one per loop */
#define OP_HTTP_MAX_URL 8192              /* longer: 414 */
#define OP_HTTP_MAX_HEADER_BYTES 16384    /* names + values, more: 431 */
#define OP_HTTP_MAX_HEADERS 100           /* more: 431 */
#define OP_HTTP_MAX_PARAMS 8              /* "{name}" segments per route */
#define OP_HTTP_MAX_PIPELINE (64 * 1024)  /* bytes buffered while a response is pending */
#define OP_HTTP_WRITE_BACKLOG (64 * 1024) /* stop parsing while more is queued */
#define OP_HTTP_LINGER_MS 2000            /* wait for the peer's FIN after ours */
#define OP_HTTP_ACCEPT_BATCH 64           /* accepts per wake-up, for fairness */
#define OP_HTTP_WREQ_CACHE 1024           /* cached stream write requests, at least */
#define OP_HTTP_BATCH_BUFS 16             /* buffers coalesced into one stream write */

/* ---- Connections ---- */

typedef struct op_http_wreq_s op_http_wreq_t; /* a batch of stream writes */

typedef enum {
  CONN_HEADERS, /* waiting for / reading a request's headers: header timeout */
  CONN_BODY,    /* reading a body: idle timeout since the last read */
  CONN_HANDLER, /* request handed over, no answer yet: no timeout */
  CONN_IDLE,    /* keep-alive, between requests: idle timeout */
  CONN_LINGER,  /* our side is done: flushing, then waiting for the peer's FIN */
  CONN_STREAM,  /* owned by a stream user until on_close */
  CONN_CLOSED   /* uv_close called; freed in its callback */
} conn_state_t;

/* Flags of op_http_conn_t.flags. */
enum {
  CONN_READING = 1 << 0,  /* uv_read_start is in effect */
  CONN_RESUME = 1 << 1,   /* parse conn->pending at the next write completion */
  CONN_EOF = 1 << 2,      /* the peer shut its side down */
  CONN_SHUTDOWN = 1 << 3, /* uv_shutdown issued */
};

struct op_http_conn_s {
  uv_tcp_t tcp; /* tcp.data == this */
  llhttp_t parser;
  op_http_loop_t *loop;
  op_http_conn_t *prev, *next; /* the loop's conns or streams list */
  op_http_req_t *req;          /* the request being read or answered */
  op_buf_t pending;            /* unparsed bytes kept while the parser waits */
  uint64_t deadline;           /* uv_now() ms when the state expires, 0: never */
  uv_shutdown_t *shutdown;
  op_http_wreq_t *cork;      /* stream writes not yet handed to libuv */
  op_http_close_cb on_close; /* streams */
  void *data;
  uint8_t state;
  uint8_t flags;
  uint16_t err_status; /* status chosen by a parser callback that failed */
  const char *err_code;
  const char *err_msg;
};

/* ---- Requests ---- */

typedef struct {
  uint32_t name; /* offsets into req->raw of NUL-terminated strings */
  uint32_t value;
} op_http_hdr_t;

typedef struct {
  const char *name; /* borrowed from the route */
  uint32_t value;   /* offset into req->raw, decoded and NUL-terminated */
} op_http_param_t;

struct op_http_req_s {
  op_http_conn_t *conn;
  op_http_loop_t *loop;
  op_buf_t raw; /* url, header names and values, then path, query, params */
  op_buf_t body;
  op_http_hdr_t *hdrs;
  uint32_t nhdrs, hdrs_cap;
  uint32_t url_len; /* the url starts at raw offset 0 */
  uint32_t path, query;
  size_t header_bytes;
  op_http_param_t params[OP_HTTP_MAX_PARAMS];
  unsigned nparams;
  op_buf_t resp_headers; /* "Name: value\r\n" lines added by the handler */
  op_http_cancel_cb cancel;
  void *cancel_ud;
  uint64_t start_ns;
  uint8_t method;
  uint8_t http_major, http_minor;
  unsigned keep_alive : 1;
  unsigned head : 1;       /* HEAD: answer without a body */
  unsigned in_field : 1;   /* the parser is inside a header name */
  unsigned in_handler : 1; /* the handler's frame is on the stack */
  unsigned dispatched : 1; /* handed to a handler */
  unsigned deferred : 1;   /* op_http_req_defer was called */
  unsigned answered : 1;   /* respond or stream_start succeeded */
  unsigned orphaned : 1;   /* the connection closed under a running handler */
};

/* ---- Loops and the server ---- */

typedef struct {
  op_http_tick_cb cb;
  void *ud;
} op_http_tick_t;

struct op_http_loop_s {
  op_http_server_t *server;
  unsigned index;
  uv_loop_t uv;
  uv_thread_t thread;        /* set by the loop thread itself */
  uv_thread_t thread_handle; /* set by op_http_server_start, for joining */
  int thread_started;
  int ready_rc; /* what the loop reported at start-up */
  int listen_fd;
  uv_poll_t listen_poll;
  int listening;             /* listen_poll started */
  int listen_open;           /* listen_poll initialised and not closed */
  uint64_t accept_resume_at; /* accept paused after EMFILE until then, 0: not paused */
  uint64_t emfile_logged_at;
  int reserve_fd; /* spare descriptor given up to shed load on EMFILE */
  uv_timer_t tick;
  uv_async_t stop_async;
  char *read_buf;
  int read_buf_busy;
  op_http_conn_t *conns;   /* non-stream connections, walked by the timer */
  op_http_conn_t *streams; /* stream connections */
  size_t nconns;           /* open or closing connections of any kind */
  op_http_tick_t *ticks;
  unsigned nticks, ticks_cap;
  void *data;
  size_t nstreams;        /* open streams, which size the write request cache */
  uv_check_t flush_check; /* flushes corked stream writes after I/O callbacks */
  uv_idle_t flush_idle;   /* ... and keeps poll from blocking while any are corked */
  op_http_conn_t **corked;
  size_t ncorked, corked_cap;
  op_http_wreq_t *wreq_free;
  size_t nwreq_free;
  int64_t date_sec;
  char date[64]; /* "Date: ...\r\n" */
  int draining;
  uint64_t drain_deadline;
  int finished; /* loop-done hook ran, our handles are closing */
};

struct op_http_server_s {
  op_http_config_t cfg; /* cfg.host points at host */
  char *host;
  op_http_router_t *router;
  op_http_loop_t *loops;
  unsigned nloops;
  int port;
  int state; /* 0 new, 1 running, 2 stopped */
  char error[256];
  op_http_loop_init_cb loop_init;
  void *loop_init_ud;
  op_http_loop_done_cb loop_done;
  void *loop_done_ud;
  uv_mutex_t lock; /* start-up handshake only */
  uv_cond_t cond;
  unsigned nready;
  int start_error;
  op_metric_t *m_connections;
  op_metric_t *m_seconds;
  _Atomic(op_metric_t *) m_codes[600];
};

/* ---- Shared functions ----
 * Unless stated, each runs on the loop thread owning its argument and
 * returns 0 or a negative OP_E* code where it returns int. */

/* Translates a positive errno or a negative libuv error into an OP_E* code.
 * Runs on: any thread. */
int op_http__errno(int err);

/* server.c */
int op_http__on_loop_thread(const op_http_loop_t *loop); /* any thread */
/* A connection was freed: gauge, accept resumption, end of the drain. */
void op_http__loop_conn_freed(op_http_loop_t *loop);
/* The loop's cached "Date: ...\r\n" line, refreshed once a second. */
const char *op_http__date(op_http_loop_t *loop);
/* Counts an answer by status, and its latency when req is not NULL. */
void op_http__count(op_http_server_t *server, int status, const op_http_req_t *req);

/* conn.c: connection states and the ways a connection ends */
void op_http__conn_accept(op_http_loop_t *loop, int fd);       /* takes fd, even on failure */
void op_http__conn_close(op_http_conn_t *conn);                /* at once; idempotent */
void op_http__conn_shutdown(op_http_conn_t *conn);             /* flush, FIN, linger */
void op_http__conn_expire(op_http_conn_t *conn, uint64_t now); /* deadline passed */
void op_http__conn_drain(op_http_conn_t *conn);                /* server stopping */
/* The current request is answered: keep-alive or end. */
void op_http__conn_request_done(op_http_conn_t *conn, int keep_alive);
/* Queues bytes taken from *owned; on failure the connection is closed. */
int op_http__conn_write(op_http_conn_t *conn, op_buf_t *owned);
/* Answers a JSON error no handler produced (parse errors, limits, timeouts)
 * and ends the connection. */
void op_http__conn_fail(op_http_conn_t *conn, int status, const char *code, const char *message);
void op_http__list_remove(op_http_conn_t **head, op_http_conn_t *conn);
void op_http__list_push(op_http_conn_t **head, op_http_conn_t *conn);
/* Stream transitions: start (moves conn to the stream list), started (checks
 * for bytes the client should not have sent), end (graceful close). */
void op_http__conn_become_stream(op_http_conn_t *conn, op_http_close_cb on_close, void *ud);
void op_http__conn_stream_started(op_http_conn_t *conn);
void op_http__conn_end_stream(op_http_conn_t *conn);

/* request.c */
op_http_req_t *op_http__req_new(op_http_conn_t *conn); /* NULL on OOM; freed below */
void op_http__req_free(op_http_req_t *req);
/* Splits the target into path and query (OP_EPROTO for a bad form). */
int op_http__req_parse_target(op_http_req_t *req);
/* Records route parameter name (borrowed) = the path bytes at raw[off..+len]. */
int op_http__req_add_param(op_http_req_t *req, const char *name, size_t off, size_t len);
/* Decodes len bytes of in into out (room for len + 1); returns the length.
 * Runs on: any thread. */
size_t op_http__pct_decode(char *out, const char *in, size_t len, int plus_is_space);

/* response.c */
const char *op_http__reason(int status); /* NULL outside 100..599; any thread */
int op_http__build_head(op_buf_t *out, op_http_loop_t *loop, int status, const char *content_type,
                        int with_length, size_t length, const op_buf_t *extra,
                        const char *raw_lines, int keep_alive, int http10);
/* Appends {"error":{"code":…,"message":…}}. Runs on: any thread. */
int op_http__error_body(op_buf_t *out, const char *code, const char *message);
/* The handler returned without answering or deferring: answers 500. */
void op_http__finish_unanswered(op_http_req_t *req);

/* router.c: returns 0 (handler and ud set, params recorded), 404, 405 (allow
 * filled with the path's methods) or OP_ENOMEM. */
int op_http__route(const op_http_router_t *router, op_http_req_t *req, op_http_handler_cb *handler,
                   void **ud, char *allow, size_t allow_len);

/* stream.c: the per-loop write batching (see stream.c) */
void op_http__stream_loop_init(op_http_loop_t *loop);
void op_http__stream_loop_close(op_http_loop_t *loop);
void op_http__stream_loop_free(op_http_loop_t *loop); /* after the loop is closed */
void op_http__stream_flush(op_http_conn_t *conn);     /* hands conn's batch to libuv now */
void op_http__stream_cork_drop(op_http_conn_t *conn); /* conn closes: leave the flush set */
void op_http__stream_cork_fail(op_http_conn_t *conn); /* in on_closed: fail unsent writes */

#endif
