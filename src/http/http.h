/*
 * op_http: the HTTP/1.1 server under the orderpulse APIs and the SSE fan-out.
 *
 * Threads. A server runs N libuv loops, each on its own thread, each accepting
 * on its own SO_REUSEPORT socket bound to the same host:port and owning its
 * connections outright: nothing on the request path takes a lock. A request,
 * its connection and everything reached from them belong to that loop thread.
 * Handlers run there, and every op_http_req_*, op_http_resp*, op_http_stream_*
 * and op_http_loop_* call must be made there ("Runs on: the owning loop").
 * Work done on another thread comes back with a uv_async_t created in the
 * loop-init hook (op_http_server_set_loop_init).
 *
 * Lifetime of a request. The server allocates the request when its first byte
 * arrives and hands it to the matching handler once it is complete. The
 * handler then does exactly one of:
 *   - answer now: op_http_respond / _json / _error (or op_http_stream_start);
 *   - answer later: op_http_req_defer(req, cancel_cb, ud), return, and answer
 *     from the same loop thread when the result is ready. If the client goes
 *     away (or the server is stopped) first, cancel_cb runs on the loop
 *     thread and the request is freed when it returns: from then on the
 *     caller must forget the pointer. cancel_cb is the only way to learn this.
 * Answering consumes the request: the pointer is invalid once the respond
 * call returns (even when it returns an error). A handler that returns
 * without answering or deferring gets a 500 sent for it.
 *
 * Streams. op_http_stream_start turns the connection into a long-lived,
 * close-delimited response body (Server-Sent Events). The caller owns the
 * stream until its on_close callback, which is always the last callback for
 * that connection; the server frees the connection right after it returns.
 * Writes are zero-copy: the caller keeps the bytes alive until done_cb, which
 * lets one reference-counted frame be queued on thousands of streams. Writes
 * are coalesced: everything written to a stream during one loop iteration
 * leaves in one writev when the iteration's callbacks are done, so a burst
 * of frames costs one system call per stream, not one per frame.
 *
 * Memory. A connection costs one small struct: no per-connection read buffer
 * (each loop reads into one shared buffer and parses synchronously), no
 * per-connection timer (one timer per loop walks the non-stream connections
 * for timeouts and calls the tick hooks). A request's header and body bytes
 * live in a per-request buffer freed as soon as the request is answered.
 *
 * Errors: functions return 0 or a negative OP_E* code (core/err.h);
 * constructors return NULL and fill errbuf. A function that takes a callback
 * and fails never calls that callback.
 */
#ifndef OP_HTTP_HTTP_H
#define OP_HTTP_HTTP_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/config.h"

typedef struct op_http_server_s op_http_server_t;
typedef struct op_http_router_s op_http_router_t;
typedef struct op_http_loop_s op_http_loop_t;
typedef struct op_http_req_s op_http_req_t;
typedef struct op_http_conn_s op_http_conn_t;

/* Zero in any numeric field selects the default shown. Strings are borrowed
 * for the duration of op_http_server_new only. */
typedef struct op_http_config_s {
  const char *host;            /* NULL or "": 0.0.0.0 */
  int port;                    /* 0: an ephemeral port, see op_http_server_port */
  int threads;                 /* 0: one loop per core */
  int64_t header_timeout_ms;   /* 10000: headers must be complete by then (408) */
  int64_t idle_timeout_ms;     /* 60000: keep-alive idle, slow body, slow writes */
  int64_t max_body_bytes;      /* 1 MiB: larger bodies get 413 */
  int64_t shutdown_timeout_ms; /* 5000: how long stop waits for in-flight work */
  int64_t tick_ms;             /* 250: period of each loop's timer */
  int backlog;                 /* 511: listen(2) backlog */
} op_http_config_t;

/* Fills out from the process configuration (PORT, HTTP_HOST, HTTP_THREADS,
 * HTTP_HEADER_TIMEOUT_MS, HTTP_MAX_BODY_BYTES); other fields are zero. out
 * borrows core's strings. Runs on: any thread. */
void op_http_config_from(const op_config_t *core, op_http_config_t *out);

/* ---- Callbacks ---------------------------------------------------------- */

/* A route handler. Runs on: the loop owning req. */
typedef void (*op_http_handler_cb)(op_http_req_t *req, void *ud);

/* A deferred request's client went away, or the server is stopping. req is
 * freed when this returns. Runs on: the loop owning req. */
typedef void (*op_http_cancel_cb)(op_http_req_t *req, void *ud);

/* A stream's connection is closed; the last callback for conn, which is freed
 * when this returns. Runs on: the loop owning conn. */
typedef void (*op_http_close_cb)(op_http_conn_t *conn, void *ud);

/* A stream write finished: status 0, or OP_ECLOSED / OP_EIO when the bytes
 * were not (all) sent. The caller may release the bytes now. Runs on: the
 * loop owning the stream. */
typedef void (*op_http_write_cb)(void *ud, int status);

/* Per-loop set-up: runs on each loop's thread before it accepts anything.
 * Returns 0, or a negative OP_E* code that makes op_http_server_start fail. */
typedef int (*op_http_loop_init_cb)(op_http_loop_t *loop, void *ud);

/* Per-loop teardown: runs on each loop's thread during stop, after every
 * connection of the loop is closed; the caller closes its own handles here. */
typedef void (*op_http_loop_done_cb)(op_http_loop_t *loop, void *ud);

/* Called on every tick of the loop's timer with uv_now(). */
typedef void (*op_http_tick_cb)(op_http_loop_t *loop, uint64_t now_ms, void *ud);

/* ---- Router ------------------------------------------------------------- */

/* Returns an empty router (caller frees with op_http_router_free) or NULL on
 * allocation failure. Runs on: any thread. */
op_http_router_t *op_http_router_new(void);

/*
 * Adds a route. method is an upper-case method name or "*" for any; pattern
 * is an absolute path whose segments are literal or "{name}" (matches one
 * non-empty segment, read with op_http_req_param). Routes are tried in the
 * order added. A GET route also answers HEAD (without a body). Returns 0,
 * OP_EINVAL for a bad pattern, or OP_ENOMEM. Runs on: any thread, before the
 * server using the router is started; the router is read-only afterwards.
 */
int op_http_route(op_http_router_t *router, const char *method, const char *pattern,
                  op_http_handler_cb handler, void *ud);

/* Frees the router; only after every server using it is freed. */
void op_http_router_free(op_http_router_t *router);

/* Adds GET /health (op_health_render; 200 when ok or degraded, 503 when down)
 * and GET /metrics (op_metrics_render, Prometheus text 0.0.4). Returns 0 or
 * OP_ENOMEM. Runs on: any thread, before start. */
int op_http_add_builtin_routes(op_http_router_t *router);

/* ---- Server ------------------------------------------------------------- */

/* Creates a server (nothing bound yet). router is borrowed and must outlive
 * the server. Returns NULL with a message in errbuf on a bad configuration
 * or allocation failure. Caller frees with op_http_server_free. Runs on: any
 * thread. */
op_http_server_t *op_http_server_new(const op_http_config_t *cfg, op_http_router_t *router,
                                     char *errbuf, size_t errlen);

/* Registers the per-loop hooks (set before start; ud borrowed). */
void op_http_server_set_loop_init(op_http_server_t *server, op_http_loop_init_cb cb, void *ud);
void op_http_server_set_loop_done(op_http_server_t *server, op_http_loop_done_cb cb, void *ud);

/* Number of loops the server runs (known from op_http_server_new on). */
unsigned op_http_server_loop_count(const op_http_server_t *server);

/*
 * Binds and listens on every loop's socket synchronously (so "address in
 * use" is an error returned here, OP_EEXIST), then starts the loop threads
 * and waits until each ran its init hook and accepts. Returns 0; OP_EEXIST,
 * OP_ECONFIG (cannot resolve or bind the address), OP_EIO or OP_ENOMEM with
 * a one-line reason in op_http_server_error(); or the first failing init
 * hook's code. On failure nothing is left running. Runs on: one thread that
 * is not an HTTP loop; once per server.
 */
int op_http_server_start(op_http_server_t *server);

/* The bound port (the ephemeral one when configured with 0), 0 before start. */
int op_http_server_port(const op_http_server_t *server);

/* The reason for the last failure of op_http_server_start, or "". */
const char *op_http_server_error(const op_http_server_t *server);

/*
 * Graceful stop: stops accepting, closes idle keep-alive connections and
 * every stream (each stream's on_close runs), lets in-flight requests finish
 * for up to shutdown_timeout_ms and then closes what is left (deferred
 * requests get their cancel callback), runs the loop-done hooks and joins the
 * threads. Idempotent. Runs on: any thread except an HTTP loop.
 */
void op_http_server_stop(op_http_server_t *server);

/* Stops the server if needed and frees it. Runs on: as op_http_server_stop. */
void op_http_server_free(op_http_server_t *server);

/* ---- Loops (Runs on: the loop's own thread unless stated) --------------- */

/* The libuv loop, for the caller's own handles on this loop. */
uv_loop_t *op_http_loop_uv(op_http_loop_t *loop);

/* 0 .. op_http_server_loop_count()-1. Runs on: any thread. */
unsigned op_http_loop_index(const op_http_loop_t *loop);

/* One user pointer per loop, e.g. the fan-out's per-loop state. */
void op_http_loop_set_data(op_http_loop_t *loop, void *data);
void *op_http_loop_data(const op_http_loop_t *loop);

/* Adds a hook called on every tick of the loop's timer (in the order added).
 * Returns 0 or OP_ENOMEM. */
int op_http_loop_add_tick(op_http_loop_t *loop, op_http_tick_cb cb, void *ud);

/* Removes the first hook registered with cb and ud; OP_ENOENT if none. Safe
 * to call from inside a tick hook. */
int op_http_loop_remove_tick(op_http_loop_t *loop, op_http_tick_cb cb, void *ud);

/* ---- Requests (Runs on: the loop owning req; strings borrowed from req) -- */

const char *op_http_req_method(const op_http_req_t *req);       /* "GET", ... */
const char *op_http_req_path(const op_http_req_t *req);         /* raw path, no query */
const char *op_http_req_query_string(const op_http_req_t *req); /* raw, "" if none */
op_http_loop_t *op_http_req_loop(const op_http_req_t *req);

/* First header with this name (case-insensitive), value trimmed, or NULL. */
const char *op_http_req_header(const op_http_req_t *req, const char *name);

/* A "{name}" segment of the matched route, percent-decoded, or NULL. */
const char *op_http_req_param(const op_http_req_t *req, const char *name);

/*
 * Copies the first query parameter called name into buf, percent-decoded
 * ('+' is a space) and NUL-terminated. Returns its length, OP_ENOENT when
 * absent, OP_ERANGE when it does not fit in len bytes (buf then holds "").
 */
int op_http_req_query(const op_http_req_t *req, const char *name, char *buf, size_t len);

/* Same contract for a cookie of the Cookie header(s); surrounding double
 * quotes are removed, nothing is decoded. */
int op_http_req_cookie(const op_http_req_t *req, const char *name, char *buf, size_t len);

/* The request body (NUL-terminated for convenience, "" when empty). */
const char *op_http_req_body(const op_http_req_t *req, size_t *len);

/*
 * Marks req as answered later. Call from the handler, before it returns.
 * cancel runs if the connection closes before the answer (see top of file).
 * Returns 0, or OP_EINVAL when req was already answered or deferred.
 */
int op_http_req_defer(op_http_req_t *req, op_http_cancel_cb cancel, void *ud);

/* ---- Responses (Runs on: the loop owning req) --------------------------- */

/* Adds a response header (copied) for the coming response or stream. Returns
 * 0, OP_EINVAL for an invalid name or a value with CR/LF, or OP_ENOMEM. */
int op_http_resp_header(op_http_req_t *req, const char *name, const char *value);

/*
 * Sends the response: status line, Content-Type (when content_type is not
 * NULL), Content-Length, the added headers, Date and Connection, then body
 * (copied; omitted for HEAD, 204 and 304). Returns 0 or:
 *   OP_EINVAL  req cannot be answered (already answered, not handed to a
 *              handler, or not this loop's thread): req is left alone;
 *   OP_ERANGE  status outside 100..599 or a content type with control
 *              characters: a 500 was sent instead (req consumed);
 *   OP_ENOMEM, OP_ECLOSED  the bytes could not be queued: the connection is
 *              closed (req consumed).
 */
int op_http_respond(op_http_req_t *req, int status, const char *content_type, const void *body,
                    size_t len);

/* As op_http_respond with the compact JSON of body and application/json.
 * Steals the reference; a NULL body (a failed json_pack) sends a 500. */
int op_http_respond_json(op_http_req_t *req, int status, json_t *body);

/* Sends {"error":{"code":code,"message":message}} as application/json. */
int op_http_respond_error(op_http_req_t *req, int status, const char *code, const char *message);

/* ---- Streams (Runs on: the loop owning the stream) ---------------------- */

/*
 * Answers req with a status line, the added headers, extra_headers (trusted
 * "Name: value\r\n" lines written verbatim, may be NULL) and "Connection:
 * close" unless extra_headers has a Connection line of its own, and turns the connection into a
 * stream owned by the caller until on_close. The body is delimited by the end of the connection.
 * From now on the server reads only to notice the peer closing: a client that sends any byte is
 * closed. Consumes req on success. Returns the stream, or NULL (req still the caller's to answer;
 * on_close never called) on OP_ENOMEM, a bad extra_headers or misuse.
 */
op_http_conn_t *op_http_stream_start(op_http_req_t *req, int status, const char *extra_headers,
                                     op_http_close_cb on_close, void *ud);

/*
 * Queues bufs on the stream without copying the bytes: they must stay valid
 * until done_cb(ud, status), called once per successful call, later, on the
 * loop (never from inside this call), in write order, and always before
 * on_close. The bytes go out at the end of the current loop iteration,
 * together with the stream's other writes of that iteration. Returns 0;
 * OP_ECLOSED when the stream is closing; OP_ENOMEM; OP_EINVAL on misuse.
 */
int op_http_stream_write(op_http_conn_t *conn, const uv_buf_t *bufs, unsigned nbufs,
                         op_http_write_cb done_cb, void *ud);

/* Fixes the kernel's send buffer of the stream's socket (SO_SNDBUF, which
 * also turns off its autotuning, up to 4 MiB here): with it, what a client
 * that stops reading can hold in the kernel is bounded, and the bytes beyond
 * show up in op_http_stream_queued_bytes. Returns 0, OP_EINVAL or OP_EIO. */
int op_http_stream_set_sndbuf(op_http_conn_t *conn, int bytes);

/* Bytes written and not yet accepted by the kernel, for backpressure. */
size_t op_http_stream_queued_bytes(const op_http_conn_t *conn);

/* Ends the stream: the queued bytes are flushed (bounded by idle_timeout_ms),
 * the peer sees a clean end of stream, then on_close runs. Idempotent until
 * on_close; never call it after on_close returned. */
void op_http_stream_close(op_http_conn_t *conn);

op_http_loop_t *op_http_conn_loop(const op_http_conn_t *conn);
void op_http_conn_set_data(op_http_conn_t *conn, void *data);
void *op_http_conn_data(const op_http_conn_t *conn); /* initially the ud of stream_start */

#endif
