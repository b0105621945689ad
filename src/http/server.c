/*
 * The server: N loops on N threads, one SO_REUSEPORT listening socket each,
 * one timer each, and the start/stop handshakes with the caller's thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "http/internal.h"

enum { SERVER_NEW, SERVER_RUNNING, SERVER_STOPPED };

#define DRAIN_TICK_MS 20

static _Atomic int64_t overload_logged_sec; /* rate limit of the EMFILE log line */

int op_http__errno(int err) {
  if (err < 0)
    err = -err; /* libuv's codes are negated errno values on Unix */
  switch (err) {
    case 0:
      return 0;
    case ENOMEM:
    case ENOBUFS:
      return OP_ENOMEM;
    case EADDRINUSE:
      return OP_EEXIST;
    case EADDRNOTAVAIL:
    case EACCES:
    case EAFNOSUPPORT:
      return OP_ECONFIG;
    case EAGAIN:
      return OP_EAGAIN;
    case EINVAL:
      return OP_EINVAL;
    case ETIMEDOUT:
      return OP_ETIMEDOUT;
    case ECANCELED:
    case EPIPE:
    case ECONNRESET:
    case ENOTCONN:
    case EBADF:
    case ESHUTDOWN:
      return OP_ECLOSED;
    default:
      return OP_EIO;
  }
}

void op_http_config_from(const op_config_t *core, op_http_config_t *out) {
  memset(out, 0, sizeof *out);
  out->host = core->http_host;
  out->port = (int)core->port;
  out->threads = (int)core->http_threads;
  out->header_timeout_ms = core->http_header_timeout_ms;
  out->max_body_bytes = core->http_max_body_bytes;
}

/* ---- Metrics and small per-loop helpers ---- */

void op_http__count(op_http_server_t *server, int status, const op_http_req_t *req) {
  if (status < 100 || status > 599)
    status = 500;
  op_metric_t *m = atomic_load_explicit(&server->m_codes[status], memory_order_acquire);
  if (m == NULL) {
    /* Registration takes the registry lock once per status code; the registry
     * returns the same series to every racing thread. */
    char labels[32];
    snprintf(labels, sizeof labels, "code=\"%d\"", status);
    m = op_counter("orderpulse_http_requests_total", "HTTP responses sent, by status code", labels);
    atomic_store_explicit(&server->m_codes[status], m, memory_order_release);
  }
  op_counter_add(m, 1);
  if (req)
    op_histogram_observe(server->m_seconds, (double)(uv_hrtime() - req->start_ns) / 1e9);
}

const char *op_http__date(op_http_loop_t *loop) {
  static const char *days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char *months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  time_t now = time(NULL);
  if ((int64_t)now != loop->date_sec) {
    struct tm tm;
    gmtime_r(&now, &tm);
    snprintf(loop->date, sizeof loop->date, "Date: %s, %02d %s %04d %02d:%02d:%02d GMT\r\n",
             days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour,
             tm.tm_min, tm.tm_sec);
    loop->date_sec = (int64_t)now;
  }
  return loop->date;
}

int op_http__on_loop_thread(const op_http_loop_t *loop) {
  uv_thread_t self = uv_thread_self();
  return uv_thread_equal(&self, &loop->thread);
}

/* ---- Accepting ---- */

static void on_listen(uv_poll_t *poll, int status, int events);
static void on_tick(uv_timer_t *timer);

static void accept_resume(op_http_loop_t *loop) {
  loop->accept_resume_at = 0;
  if (loop->listen_open && !loop->listening && !loop->draining &&
      uv_poll_start(&loop->listen_poll, UV_READABLE, on_listen) == 0)
    loop->listening = 1;
}

/*
 * accept() failed for lack of descriptors or memory. Accepting is not done by
 * libuv's uv_listen here: its EMFILE remedy (close a spare descriptor, accept
 * and drop the backlog, reopen the spare) is per loop, and with several loops
 * in one process another thread can take the freed slot, after which libuv
 * retries accept() in a tight loop. Instead: give up our own spare descriptor
 * to accept and drop what is queued (clients get a prompt close rather than a
 * connect timeout), take the spare back, and stop polling the listening
 * socket until the next tick or until one of our connections closes. The log
 * line is limited to one per second for the whole process.
 */
static void accept_overloaded(op_http_loop_t *loop, int err) {
  int64_t sec = (int64_t)(uv_now(&loop->uv) / 1000);
  int64_t last = atomic_load(&overload_logged_sec);
  if (sec != last && atomic_compare_exchange_strong(&overload_logged_sec, &last, sec))
    op_log_warn("http", "accept: %s; shedding connections on loop %u", strerror(err), loop->index);
  if (loop->reserve_fd >= 0) {
    close(loop->reserve_fd);
    loop->reserve_fd = -1;
    for (int i = 0; i < OP_HTTP_ACCEPT_BATCH; i++) {
      int fd = accept4(loop->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0)
        break;
      close(fd);
    }
    loop->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  }
  if (loop->listening) {
    uv_poll_stop(&loop->listen_poll);
    loop->listening = 0;
  }
  loop->accept_resume_at = uv_now(&loop->uv) + (uint64_t)loop->server->cfg.tick_ms;
}

/* Accepts up to a batch of connections. Runs on: the loop. */
static void on_listen(uv_poll_t *poll, int status, int events) {
  op_http_loop_t *loop = poll->data;
  if (status < 0) {
    op_log_error("http", "listening socket: %s", uv_strerror(status));
    return;
  }
  for (int i = 0; i < OP_HTTP_ACCEPT_BATCH && !loop->draining; i++) {
    int fd = accept4(loop->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      op_http__conn_accept(loop, fd);
      continue;
    }
    switch (errno) {
      case EINTR:
      case ECONNABORTED:
      case EPROTO:
        continue;
      case EAGAIN:
        return;
      case EMFILE:
      case ENFILE:
      case ENOBUFS:
      case ENOMEM:
        accept_overloaded(loop, errno);
        return;
      default:
        op_log_error("http", "accept: %s", strerror(errno));
        return;
    }
  }
}

/* A connection of this loop was freed. Runs on: the loop. */
void op_http__loop_conn_freed(op_http_loop_t *loop) {
  loop->nconns--;
  op_gauge_add(loop->server->m_connections, -1);
  if (loop->accept_resume_at)
    accept_resume(loop); /* a descriptor was just released */
  if (loop->draining && loop->nconns == 0 && !loop->finished) {
    /* Finishing closes the timer; do it from the timer's own next run so that
     * nothing below this frame touches a closing handle. */
    uv_timer_start(&loop->tick, on_tick, 0, DRAIN_TICK_MS);
  }
}

/* ---- The per-loop timer ---- */

static void on_listen_closed(uv_handle_t *handle) {
  op_http_loop_t *loop = handle->data;
  close(loop->listen_fd);
  loop->listen_fd = -1;
}

static void close_listener(op_http_loop_t *loop) {
  if (loop->listen_open) {
    loop->listen_open = 0;
    loop->listening = 0;
    uv_close((uv_handle_t *)&loop->listen_poll, on_listen_closed);
  } else if (loop->listen_fd >= 0) {
    close(loop->listen_fd);
    loop->listen_fd = -1;
  }
}

/* Every connection is gone: runs the loop-done hook, closes our handles and
 * lets uv_run return. Runs on: the loop (its timer). */
static void finish_loop(op_http_loop_t *loop) {
  op_http_server_t *server = loop->server;
  loop->finished = 1;
  if (server->loop_done)
    server->loop_done(loop, server->loop_done_ud);
  close_listener(loop);
  uv_close((uv_handle_t *)&loop->tick, NULL);
  uv_close((uv_handle_t *)&loop->stop_async, NULL);
  op_http__stream_loop_close(loop);
  uv_stop(&loop->uv); /* the caller's handles, if any are left, are closed by the thread */
}

static void run_ticks(op_http_loop_t *loop, uint64_t now) {
  /* Hooks may add or remove hooks: iterate by index over the count at entry,
   * removals only clear a slot (compacted below). */
  unsigned n = loop->nticks;
  for (unsigned i = 0; i < n && i < loop->nticks; i++)
    if (loop->ticks[i].cb)
      loop->ticks[i].cb(loop, now, loop->ticks[i].ud);
  unsigned kept = 0;
  for (unsigned i = 0; i < loop->nticks; i++)
    if (loop->ticks[i].cb)
      loop->ticks[kept++] = loop->ticks[i];
  loop->nticks = kept;
}

/* Walks the non-stream connections for expired deadlines, runs the tick
 * hooks, resumes accepting after overload, and drives the drain on stop.
 * Runs on: the loop. */
static void on_tick(uv_timer_t *timer) {
  op_http_loop_t *loop = timer->data;
  uint64_t now = uv_now(&loop->uv);
  if (loop->finished)
    return;
  for (op_http_conn_t *conn = loop->conns, *next; conn; conn = next) {
    next = conn->next;
    if (conn->deadline && now >= conn->deadline)
      op_http__conn_expire(conn, now);
  }
  run_ticks(loop, now);
  if (loop->accept_resume_at && now >= loop->accept_resume_at)
    accept_resume(loop);
  if (loop->draining) {
    if (now >= loop->drain_deadline) {
      for (op_http_conn_t *conn = loop->conns, *next; conn; conn = next) {
        next = conn->next;
        op_http__conn_close(conn);
      }
      for (op_http_conn_t *conn = loop->streams, *next; conn; conn = next) {
        next = conn->next;
        op_http__conn_close(conn);
      }
    }
    if (loop->nconns == 0)
      finish_loop(loop);
  }
}

/* Starts the drain: no more accepting, idle connections and streams closed,
 * in-flight requests given until drain_deadline. Runs on: the loop. */
static void on_stop(uv_async_t *async) {
  op_http_loop_t *loop = async->data;
  if (loop->draining)
    return;
  loop->draining = 1;
  loop->drain_deadline = uv_now(&loop->uv) + (uint64_t)loop->server->cfg.shutdown_timeout_ms;
  close_listener(loop);
  for (op_http_conn_t *conn = loop->conns, *next; conn; conn = next) {
    next = conn->next;
    op_http__conn_drain(conn);
  }
  for (op_http_conn_t *conn = loop->streams, *next; conn; conn = next) {
    next = conn->next;
    op_http__conn_drain(conn);
  }
  uv_timer_start(&loop->tick, on_tick, 0, DRAIN_TICK_MS);
}

/* ---- Loop threads ---- */

static void report_ready(op_http_server_t *server, op_http_loop_t *loop, int rc) {
  uv_mutex_lock(&server->lock);
  if (rc && server->start_error == 0) {
    server->start_error = rc;
    snprintf(server->error, sizeof server->error, "loop %u failed to start: %s", loop->index,
             op_strerror(rc));
  }
  loop->ready_rc = rc;
  server->nready++;
  uv_cond_signal(&server->cond);
  uv_mutex_unlock(&server->lock);
}

/* Closes a handle its owner left open after the loop-done hook, so that the
 * loop can be closed and the thread joined. */
static void close_leftover(uv_handle_t *handle, void *arg) {
  if (!uv_is_closing(handle)) {
    op_log_warn("http", "loop %u: closing a handle left open by its owner",
                ((op_http_loop_t *)arg)->index);
    uv_close(handle, NULL);
  }
}

/* Sets up the loop's handles and runs it until the drain finishes.
 * Runs on: the loop's own thread. */
static void loop_main(void *arg) {
  op_http_loop_t *loop = arg;
  op_http_server_t *server = loop->server;
  int rc = 0, inited = 0;
  loop->thread = uv_thread_self();
  char name[16];
  snprintf(name, sizeof name, "op-http-%u", loop->index);
  pthread_setname_np(pthread_self(), name);

  uv_timer_init(&loop->uv, &loop->tick);
  loop->tick.data = loop;
  uv_async_init(&loop->uv, &loop->stop_async, on_stop);
  loop->stop_async.data = loop;
  op_http__stream_loop_init(loop);
  loop->read_buf = malloc(OP_HTTP_READ_BUF_SIZE);
  loop->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (loop->read_buf == NULL)
    rc = OP_ENOMEM;
  if (rc == 0 && server->loop_init) {
    rc = server->loop_init(loop, server->loop_init_ud);
    inited = rc == 0;
  }
  if (rc == 0) {
    int err = uv_poll_init(&loop->uv, &loop->listen_poll, loop->listen_fd);
    if (err == 0) {
      loop->listen_open = 1;
      loop->listen_poll.data = loop;
      err = uv_poll_start(&loop->listen_poll, UV_READABLE, on_listen);
      loop->listening = err == 0;
    }
    rc = op_http__errno(err);
  }
  if (rc == 0)
    rc = op_http__errno(uv_timer_start(&loop->tick, on_tick, (uint64_t)server->cfg.tick_ms,
                                       (uint64_t)server->cfg.tick_ms));
  report_ready(server, loop, rc);

  if (rc == 0) {
    uv_run(&loop->uv, UV_RUN_DEFAULT);
  } else {
    if (inited && server->loop_done)
      server->loop_done(loop, server->loop_done_ud);
    close_listener(loop);
    uv_close((uv_handle_t *)&loop->tick, NULL);
    uv_close((uv_handle_t *)&loop->stop_async, NULL);
    op_http__stream_loop_close(loop);
  }
  uv_walk(&loop->uv, close_leftover, loop);
  uv_run(&loop->uv, UV_RUN_DEFAULT);
  if (uv_loop_close(&loop->uv))
    op_log_error("http", "loop %u: handles still open at exit", loop->index);
  op_http__stream_loop_free(loop);
  free(loop->read_buf);
  loop->read_buf = NULL;
  if (loop->reserve_fd >= 0)
    close(loop->reserve_fd);
  loop->reserve_fd = -1;
}

/* ---- Listening sockets ---- */

static int open_listener(op_http_server_t *server, const struct addrinfo *ai, int port,
                         int *fd_out) {
  struct sockaddr_storage addr;
  memcpy(&addr, ai->ai_addr, ai->ai_addrlen);
  if (addr.ss_family == AF_INET6)
    ((struct sockaddr_in6 *)&addr)->sin6_port = htons((uint16_t)port);
  else
    ((struct sockaddr_in *)&addr)->sin_port = htons((uint16_t)port);

  int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    goto fail;
  int one = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
      setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one))
    goto fail;
  if (bind(fd, (struct sockaddr *)&addr, ai->ai_addrlen) || listen(fd, server->cfg.backlog))
    goto fail;
  *fd_out = fd;
  return 0;
fail:;
  int err = errno;
  snprintf(server->error, sizeof server->error, "listen on %s:%d: %s", server->host, port,
           strerror(err));
  if (fd >= 0)
    close(fd);
  return op_http__errno(err);
}

static int bound_port(int fd) {
  struct sockaddr_storage addr;
  socklen_t len = sizeof addr;
  if (getsockname(fd, (struct sockaddr *)&addr, &len))
    return -1;
  if (addr.ss_family == AF_INET6)
    return ntohs(((struct sockaddr_in6 *)&addr)->sin6_port);
  return ntohs(((struct sockaddr_in *)&addr)->sin_port);
}

/* Resolves the host and opens one listening socket per loop, all on the
 * same port. Returns 0 or an OP_E* code with server->error filled. Runs on:
 * the thread calling op_http_server_start. */
static int open_listeners(op_http_server_t *server) {
  struct addrinfo hints = {0}, *res = NULL;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  int gai = getaddrinfo(server->host, NULL, &hints, &res);
  if (gai) {
    snprintf(server->error, sizeof server->error, "resolve %s: %s", server->host,
             gai_strerror(gai));
    return OP_ECONFIG;
  }
  int port = server->cfg.port, rc = 0;
  for (unsigned i = 0; i < server->nloops && rc == 0; i++) {
    rc = open_listener(server, res, port, &server->loops[i].listen_fd);
    if (rc == 0 && port == 0) {
      /* The first socket picks the ephemeral port, the others share it. */
      port = bound_port(server->loops[i].listen_fd);
      if (port <= 0)
        rc = OP_EIO;
    }
  }
  freeaddrinfo(res);
  if (rc == 0)
    server->port = port;
  return rc;
}

/* ---- Lifecycle ---- */

op_http_server_t *op_http_server_new(const op_http_config_t *cfg, op_http_router_t *router,
                                     char *errbuf, size_t errlen) {
  if (cfg == NULL || router == NULL) {
    snprintf(errbuf, errlen, "http: configuration and router are required");
    return NULL;
  }
  if (cfg->port < 0 || cfg->port > 65535 || cfg->threads < 0 || cfg->threads > 1024 ||
      cfg->header_timeout_ms < 0 || cfg->idle_timeout_ms < 0 || cfg->max_body_bytes < 0 ||
      cfg->shutdown_timeout_ms < 0 || cfg->tick_ms < 0 || cfg->backlog < 0) {
    snprintf(errbuf, errlen, "http: invalid configuration (port %d, threads %d)", cfg->port,
             cfg->threads);
    return NULL;
  }
  op_http_server_t *server = calloc(1, sizeof *server);
  if (server == NULL)
    goto nomem;
  server->cfg = *cfg;
  op_http_config_t *c = &server->cfg;
  server->host = strdup(cfg->host && *cfg->host ? cfg->host : "0.0.0.0");
  if (server->host == NULL)
    goto nomem;
  c->host = server->host;
  if (c->threads == 0)
    c->threads = (int)uv_available_parallelism();
  if (c->header_timeout_ms == 0)
    c->header_timeout_ms = 10000;
  if (c->idle_timeout_ms == 0)
    c->idle_timeout_ms = 60000;
  if (c->max_body_bytes == 0)
    c->max_body_bytes = 1024 * 1024;
  if (c->shutdown_timeout_ms == 0)
    c->shutdown_timeout_ms = 5000;
  if (c->tick_ms == 0)
    c->tick_ms = 250;
  if (c->backlog == 0)
    c->backlog = 511;
  server->nloops = (unsigned)c->threads;
  server->router = router;
  server->loops = calloc(server->nloops, sizeof *server->loops);
  if (server->loops == NULL)
    goto nomem;
  for (unsigned i = 0; i < server->nloops; i++) {
    server->loops[i].server = server;
    server->loops[i].index = i;
    server->loops[i].listen_fd = -1;
    server->loops[i].reserve_fd = -1;
    server->loops[i].date_sec = -1;
  }
  uv_mutex_init(&server->lock);
  uv_cond_init(&server->cond);
  server->m_connections =
      op_gauge("orderpulse_http_connections", "Open HTTP connections (streams included)", NULL);
  server->m_seconds = op_histogram("orderpulse_http_request_seconds",
                                   "Time from a request's first byte to its answer being queued",
                                   NULL, op_latency_buckets, op_latency_buckets_len);
  return server;
nomem:
  snprintf(errbuf, errlen, "http: out of memory");
  if (server) {
    free(server->host);
    free(server);
  }
  return NULL;
}

void op_http_server_set_loop_init(op_http_server_t *server, op_http_loop_init_cb cb, void *ud) {
  server->loop_init = cb;
  server->loop_init_ud = ud;
}

void op_http_server_set_loop_done(op_http_server_t *server, op_http_loop_done_cb cb, void *ud) {
  server->loop_done = cb;
  server->loop_done_ud = ud;
}

unsigned op_http_server_loop_count(const op_http_server_t *server) {
  return server->nloops;
}

int op_http_server_port(const op_http_server_t *server) {
  return server->port;
}

const char *op_http_server_error(const op_http_server_t *server) {
  return server->error;
}

/* Asks the running loops to stop (optionally) and joins every started
 * thread. Runs on: the thread that started the server. */
static void join_loops(op_http_server_t *server, int send_stop) {
  for (unsigned i = 0; i < server->nloops; i++) {
    op_http_loop_t *loop = &server->loops[i];
    if (!loop->thread_started)
      continue;
    if (send_stop && loop->ready_rc == 0)
      uv_async_send(&loop->stop_async);
  }
  for (unsigned i = 0; i < server->nloops; i++) {
    op_http_loop_t *loop = &server->loops[i];
    if (!loop->thread_started)
      continue;
    uv_thread_join(&loop->thread_handle);
    loop->thread_started = 0;
  }
}

/*
 * A write to a connection the peer has reset raises SIGPIPE, whose default
 * action ends the process. If nobody chose a disposition for it, ignore it so
 * that such writes fail with EPIPE instead; a handler the caller installed is
 * left alone.
 */
static void ignore_sigpipe(void) {
  struct sigaction old;
  if (sigaction(SIGPIPE, NULL, &old) == 0 && old.sa_handler == SIG_DFL) {
    struct sigaction ign;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &ign, NULL);
  }
}

int op_http_server_start(op_http_server_t *server) {
  if (server->state != SERVER_NEW)
    return OP_ECONFLICT;
  server->error[0] = '\0';
  ignore_sigpipe();
  int rc = open_listeners(server);
  unsigned started = 0;
  for (unsigned i = 0; rc == 0 && i < server->nloops; i++) {
    op_http_loop_t *loop = &server->loops[i];
    int err = uv_loop_init(&loop->uv);
    if (err == 0) {
      err = uv_thread_create(&loop->thread_handle, loop_main, loop);
      if (err)
        uv_loop_close(&loop->uv);
    }
    if (err) {
      rc = op_http__errno(err);
      snprintf(server->error, sizeof server->error, "start loop %u: %s", i, uv_strerror(err));
      break;
    }
    loop->thread_started = 1;
    started++;
  }
  uv_mutex_lock(&server->lock);
  while (server->nready < started)
    uv_cond_wait(&server->cond, &server->lock);
  if (rc == 0)
    rc = server->start_error;
  uv_mutex_unlock(&server->lock);

  if (rc) {
    /* Loops that started are stopped; those that failed have already exited. */
    join_loops(server, 1);
    for (unsigned i = 0; i < server->nloops; i++)
      if (server->loops[i].listen_fd >= 0) {
        close(server->loops[i].listen_fd);
        server->loops[i].listen_fd = -1;
      }
    server->state = SERVER_STOPPED;
    op_log_error("http", "%s", server->error);
    return rc;
  }
  server->state = SERVER_RUNNING;
  op_log_info("http", "listening on %s:%d with %u loops", server->host, server->port,
              server->nloops);
  return 0;
}

void op_http_server_stop(op_http_server_t *server) {
  if (server == NULL || server->state != SERVER_RUNNING)
    return;
  server->state = SERVER_STOPPED;
  join_loops(server, 1);
  op_log_info("http", "stopped");
}

void op_http_server_free(op_http_server_t *server) {
  if (server == NULL)
    return;
  op_http_server_stop(server);
  uv_mutex_destroy(&server->lock);
  uv_cond_destroy(&server->cond);
  for (unsigned i = 0; i < server->nloops; i++)
    free(server->loops[i].ticks);
  free(server->loops);
  free(server->host);
  free(server);
}

/* ---- Loop accessors ---- */

uv_loop_t *op_http_loop_uv(op_http_loop_t *loop) {
  return &loop->uv;
}

unsigned op_http_loop_index(const op_http_loop_t *loop) {
  return loop->index;
}

void op_http_loop_set_data(op_http_loop_t *loop, void *data) {
  loop->data = data;
}

void *op_http_loop_data(const op_http_loop_t *loop) {
  return loop->data;
}

int op_http_loop_add_tick(op_http_loop_t *loop, op_http_tick_cb cb, void *ud) {
  if (cb == NULL)
    return OP_EINVAL;
  if (loop->nticks == loop->ticks_cap) {
    unsigned cap = loop->ticks_cap ? loop->ticks_cap * 2 : 4;
    op_http_tick_t *ticks = realloc(loop->ticks, cap * sizeof *ticks);
    if (ticks == NULL)
      return OP_ENOMEM;
    loop->ticks = ticks;
    loop->ticks_cap = cap;
  }
  loop->ticks[loop->nticks].cb = cb;
  loop->ticks[loop->nticks].ud = ud;
  loop->nticks++;
  return 0;
}

int op_http_loop_remove_tick(op_http_loop_t *loop, op_http_tick_cb cb, void *ud) {
  for (unsigned i = 0; i < loop->nticks; i++)
    if (loop->ticks[i].cb == cb && loop->ticks[i].ud == ud) {
      loop->ticks[i].cb = NULL; /* compacted after the current tick */
      return 0;
    }
  return OP_ENOENT;
}
