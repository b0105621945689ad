/*
 * bench_sse: a load client for notify's SSE endpoint (GET /api/sse/notifications).
 *
 * It opens N subscribers spread over T tenants (subscriber i belongs to tenant
 * i mod T, whose access token is the i-th --token), binding the source
 * addresses 127.0.0.1 … 127.0.0.K in turn so that more connections fit than
 * one address's ephemeral ports allow, and forks W worker processes so that
 * no process holds more files than its limit (`ulimit -Hn`). Each worker owns
 * its share of the connections on one epoll set with non-blocking sockets.
 *
 * This is a test client, not product code: rather than use an HTTP library it
 * speaks just enough HTTP/1.1 to send one GET and read a response head, and
 * parses the event stream by hand as notify writes it (LF line ends, a frame
 * ends with a blank line, a close-delimited body). Per order event it takes
 * the SSE id and the event's "timestamp" (inside data.data, RFC 3339, set by
 * the producer to its send time): latency = time received - that timestamp,
 * on the same machine's clock.
 *
 * Control, one command a line on stdin (bench/sse_run.py drives it):
 *   expect <tenant> <first> <last>  the ids a round should bring to that tenant
 *   start                           begins a round: counters and latencies reset
 *   stop <wait_ms>                  ends it once every subscriber has its tenant's
 *                                   last id, or after wait_ms; prints the round
 *   quit (or end of input)          closes everything and exits
 * Output, one JSON object a line on stdout: "connected" once every connection
 * is held or has failed, then one "round" per stop. Misses are counted per
 * subscriber from the SSE ids, which are consecutive per tenant: expected is
 * last - first + 1 for every subscriber held when the round started.
 *
 * Usage: bench_sse --port P --conns N --token TOKEN [--token TOKEN ...]
 *          [--host 127.0.0.1] [--path /api/sse/notifications] [--workers W]
 *          [--src-addrs K] [--window M] [--connect-timeout S]
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define MAX_TENANTS 1024
#define MAX_WORKERS 32
#define SCRATCH_SIZE (256 * 1024)
#define MAX_CARRY (64 * 1024) /* a partial frame larger than this is a protocol error */
#define MAX_TRIES 3           /* connection attempts per subscriber */
#define CMD_FD_TAG UINT32_MAX

/* Latency histogram: log-linear over microseconds, 128 sub-buckets per power
 * of two (< 0.8 % error), exact below 256 µs, up to 2^36 µs. */
#define H_SUB 128
#define H_BUCKETS (30 * H_SUB + 2 * H_SUB)
#define H_MAX_US ((int64_t)1 << 36)

enum { ST_IDLE, ST_CONNECTING, ST_SENDING, ST_HEAD, ST_STREAM, ST_CLOSED, ST_FAILED };

typedef struct conn_s {
  int fd;
  uint8_t state;
  uint8_t tries;
  uint8_t counted; /* held when the round started: its expectation counts */
  uint16_t tenant;
  uint32_t sent; /* request bytes written */
  int64_t last_id;
  uint32_t got; /* ids of the round's range received, each once */
  uint32_t ncarry;
  char *carry; /* an incomplete frame (or response head) kept between reads */
} conn_t;

typedef struct cmd_s {
  int32_t type;
  int32_t tenant;
  int64_t a, b;
} cmd_t;

enum { CMD_EXPECT = 1, CMD_START, CMD_STOP, CMD_QUIT };

typedef struct hello_s {
  int64_t held, failed, refused, seconds_ms;
} hello_t;

typedef struct result_s {
  int64_t held, dropped, deliveries, duplicates, resyncs, heartbeats, bad, negative;
  int64_t first_rx_us, last_rx_us, min_us, max_us, complete;
  int64_t expected[MAX_TENANTS], got[MAX_TENANTS];
  uint64_t hist[H_BUCKETS];
} result_t;

typedef struct options_s {
  const char *host, *path;
  int port;
  long conns;
  int workers, src_addrs, window, connect_timeout_s;
  int ntokens;
  char *tokens[MAX_TENANTS];
} options_t;

typedef struct worker_s {
  const options_t *opt;
  long lo, n; /* global index of the first connection, and how many */
  conn_t *conns;
  int ep, cmd_fd, res_fd;
  char *scratch;
  char *requests[MAX_TENANTS];
  size_t request_len[MAX_TENANTS];
  long inflight, held, failed, refused, next_to_start;
  int measuring;
  int64_t stop_deadline_us; /* 0: no stop pending */
  int64_t first[MAX_TENANTS], last[MAX_TENANTS];
  result_t res;
  char ts_cache[48]; /* the last timestamp text parsed, and its value */
  size_t ts_cache_len;
  int64_t ts_cache_us;
} worker_t;

static int64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void die(const char *what) {
  fprintf(stderr, "bench_sse: %s: %s\n", what, strerror(errno));
  exit(2);
}

static int write_all(int fd, const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    ssize_t w = write(fd, p, len);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return -1;
    p += w;
    len -= (size_t)w;
  }
  return 0;
}

/* Reads exactly len bytes; -1 on end of file or error. */
static int read_all(int fd, void *buf, size_t len) {
  char *p = buf;
  while (len > 0) {
    ssize_t r = read(fd, p, len);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      return -1;
    p += r;
    len -= (size_t)r;
  }
  return 0;
}

/* ---- histogram ------------------------------------------------------------ */

static unsigned h_index(int64_t us) {
  if (us < 0)
    us = 0;
  if (us >= H_MAX_US)
    us = H_MAX_US - 1;
  uint64_t v = (uint64_t)us;
  if (v < 2 * H_SUB)
    return (unsigned)v;
  unsigned e = (unsigned)(63 - __builtin_clzll(v)) - 7; /* v >> e is in [128, 256) */
  return e * H_SUB + (unsigned)(v >> e);
}

/* The middle of a bucket's range, in µs. */
static double h_value(unsigned idx) {
  if (idx < 2 * H_SUB)
    return idx;
  unsigned e = idx / H_SUB - 1;
  uint64_t m = idx - e * H_SUB;
  return (double)(m << e) + (double)((uint64_t)1 << e) / 2.0;
}

static double h_quantile(const uint64_t *hist, uint64_t total, double q) {
  if (total == 0)
    return 0;
  uint64_t rank = (uint64_t)(q * (double)total + 0.999999);
  if (rank < 1)
    rank = 1;
  uint64_t seen = 0;
  for (unsigned i = 0; i < H_BUCKETS; i++) {
    seen += hist[i];
    if (seen >= rank)
      return h_value(i);
  }
  return h_value(H_BUCKETS - 1);
}

/* ---- one connection ------------------------------------------------------- */

static void conn_close(worker_t *w, conn_t *c, uint8_t state) {
  if (c->fd >= 0) {
    epoll_ctl(w->ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
  }
  c->fd = -1;
  free(c->carry);
  c->carry = NULL;
  c->ncarry = 0;
  c->state = state;
}

static int conn_start(worker_t *w, conn_t *c, long idx) {
  const options_t *o = w->opt;
  long global = w->lo + idx;
  c->tries++;
  c->sent = 0;
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0)
    return -1;
  int one = 1;
  /* The port is chosen at connect(), per destination, not at bind(). */
  setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
  struct sockaddr_in src = {.sin_family = AF_INET};
  src.sin_addr.s_addr = htonl(0x7f000001u + (uint32_t)(global % o->src_addrs));
  struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)o->port)};
  inet_pton(AF_INET, o->host, &dst.sin_addr);
  if (bind(c->fd, (struct sockaddr *)&src, sizeof src) != 0 ||
      (connect(c->fd, (struct sockaddr *)&dst, sizeof dst) != 0 && errno != EINPROGRESS)) {
    close(c->fd);
    c->fd = -1;
    return -1;
  }
  struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = (uint32_t)idx};
  if (epoll_ctl(w->ep, EPOLL_CTL_ADD, c->fd, &ev) != 0)
    die("epoll_ctl");
  c->state = ST_CONNECTING;
  w->inflight++;
  return 0;
}

/* A connection attempt failed: try again, or give the subscriber up. */
static void conn_retry(worker_t *w, conn_t *c, long idx) {
  conn_close(w, c, ST_IDLE);
  w->inflight--;
  while (c->tries < MAX_TRIES) {
    if (conn_start(w, c, idx) == 0)
      return;
  }
  c->state = ST_FAILED;
  w->failed++;
}

static void conn_send(worker_t *w, conn_t *c, long idx) {
  const char *req = w->requests[c->tenant];
  size_t len = w->request_len[c->tenant];
  while (c->sent < len) {
    ssize_t n = write(c->fd, req + c->sent, len - c->sent);
    if (n < 0 && errno == EAGAIN)
      return;
    if (n <= 0) {
      conn_retry(w, c, idx);
      return;
    }
    c->sent += (uint32_t)n;
  }
  struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.u32 = (uint32_t)idx};
  epoll_ctl(w->ep, EPOLL_CTL_MOD, c->fd, &ev);
  c->state = ST_HEAD;
}

static int64_t event_timestamp(worker_t *w, const char *data, size_t len) {
  static const char key[] = "\"timestamp\":\"";
  const char *p = memmem(data, len, key, sizeof key - 1);
  if (p == NULL)
    return -1;
  p += sizeof key - 1;
  const char *end = memchr(p, '"', len - (size_t)(p - data));
  if (end == NULL)
    return -1;
  size_t tlen = (size_t)(end - p);
  /* Every subscriber of a tenant gets the same text: parse it once. */
  if (tlen == w->ts_cache_len && memcmp(p, w->ts_cache, tlen) == 0)
    return w->ts_cache_us;
  int64_t us = -1;
  if (op_parse_rfc3339_us(p, tlen, &us) != 0)
    us = -1;
  if (us >= 0 && tlen < sizeof w->ts_cache) {
    memcpy(w->ts_cache, p, tlen);
    w->ts_cache_len = tlen;
    w->ts_cache_us = us;
  }
  return us;
}

/* One frame: its lines, "field: value" or ":comment". */
static void on_frame(worker_t *w, conn_t *c, const char *p, size_t len, int64_t rx_us) {
  const char *event = NULL, *data = NULL;
  size_t event_len = 0, data_len = 0;
  int64_t id = 0;
  int comment = 0;
  for (const char *end = p + len; p < end;) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    size_t n = eol ? (size_t)(eol - p) : (size_t)(end - p);
    if (n >= 4 && memcmp(p, "id: ", 4) == 0) {
      id = 0;
      for (size_t i = 4; i < n && p[i] >= '0' && p[i] <= '9'; i++)
        id = id * 10 + (p[i] - '0');
    } else if (n >= 7 && memcmp(p, "event: ", 7) == 0) {
      event = p + 7;
      event_len = n - 7;
    } else if (n >= 6 && memcmp(p, "data: ", 6) == 0) {
      data = p + 6;
      data_len = n - 6;
    } else if (n >= 1 && p[0] == ':') {
      comment = 1;
    }
    p += n + 1;
  }
  if (event && event_len == 6 && memcmp(event, "resync", 6) == 0) {
    w->res.resyncs++;
    return;
  }
  if (id <= 0 || data == NULL) {
    w->res.heartbeats += comment;
    return;
  }
  if (id <= c->last_id) {
    w->res.duplicates++;
    return;
  }
  c->last_id = id;
  if (!w->measuring)
    return;
  if (id >= w->first[c->tenant] && id <= w->last[c->tenant])
    c->got++;
  int64_t ts = event_timestamp(w, data, data_len);
  if (ts < 0) {
    w->res.bad++;
    return;
  }
  int64_t lat = rx_us - ts;
  if (lat < 0) {
    w->res.negative++;
    lat = 0;
  }
  w->res.deliveries++;
  w->res.hist[h_index(lat)]++;
  if (lat > w->res.max_us)
    w->res.max_us = lat;
  if (lat < w->res.min_us)
    w->res.min_us = lat;
  if (w->res.first_rx_us == 0)
    w->res.first_rx_us = rx_us;
  w->res.last_rx_us = rx_us;
}

/* Parses every complete frame of buf; returns the bytes consumed. */
static size_t on_stream_bytes(worker_t *w, conn_t *c, const char *buf, size_t len, int64_t rx_us) {
  size_t off = 0;
  while (off < len) {
    const char *end = memmem(buf + off, len - off, "\n\n", 2);
    if (end == NULL)
      break;
    size_t flen = (size_t)(end - (buf + off)) + 1;
    on_frame(w, c, buf + off, flen, rx_us);
    off += flen + 1;
  }
  return off;
}

/* The response head: a 200 makes the subscriber held. Returns the bytes of
 * the head, 0 if it is not complete yet, -1 if the subscriber failed. */
static long on_head(worker_t *w, const char *buf, size_t len) {
  const char *end = memmem(buf, len, "\r\n\r\n", 4);
  if (end == NULL)
    return len > 8192 ? -1 : 0;
  /* A load client of our own reads only the status code of a response head
   * it asked for; the server under test is the one that parses HTTP. */
  int status = 0;
  if (len > 12 && memcmp(buf, "HTTP/1.1 ", 9) == 0)
    for (int i = 9; i < 12 && buf[i] >= '0' && buf[i] <= '9'; i++)
      status = status * 10 + (buf[i] - '0');
  if (status != 200) {
    if (status == 503)
      w->refused++;
    return -1;
  }
  return (long)(end - buf) + 4;
}

static void conn_read(worker_t *w, conn_t *c, long idx) {
  char *buf = w->scratch;
  size_t have = c->ncarry;
  if (have) {
    memcpy(buf, c->carry, have);
    free(c->carry);
    c->carry = NULL;
    c->ncarry = 0;
  }
  ssize_t r;
  do
    r = read(c->fd, buf + have, SCRATCH_SIZE - have);
  while (r < 0 && errno == EINTR);
  if (r < 0 && errno == EAGAIN) {
    r = 0;
    if (have == 0)
      return;
  } else if (r <= 0) {
    /* End of stream or reset. */
    if (c->state == ST_STREAM) {
      w->held--;
      w->res.dropped++;
      conn_close(w, c, ST_CLOSED);
    } else {
      conn_retry(w, c, idx);
    }
    return;
  }
  int64_t rx = now_us();
  size_t len = have + (size_t)r, off = 0;
  if (c->state == ST_HEAD) {
    long head = on_head(w, buf, len);
    if (head < 0) {
      conn_close(w, c, ST_FAILED);
      w->inflight--;
      w->failed++;
      return;
    }
    if (head == 0)
      goto keep;
    off = (size_t)head;
    c->state = ST_STREAM;
    w->inflight--;
    w->held++;
  }
  off += on_stream_bytes(w, c, buf + off, len - off, rx);
keep:
  if (off < len) {
    size_t rest = len - off;
    if (rest > MAX_CARRY || (c->carry = malloc(rest)) == NULL) {
      w->res.bad++;
      if (c->state == ST_STREAM)
        w->held--, w->res.dropped++;
      else
        w->inflight--, w->failed++;
      conn_close(w, c, ST_CLOSED);
      return;
    }
    memcpy(c->carry, buf + off, rest);
    c->ncarry = (uint32_t)rest;
  }
}

static void on_conn_event(worker_t *w, long idx, uint32_t events) {
  conn_t *c = &w->conns[idx];
  switch (c->state) {
    case ST_CONNECTING: {
      int err = 0;
      socklen_t elen = sizeof err;
      getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &elen);
      if (err != 0 || (events & (EPOLLERR | EPOLLHUP))) {
        conn_retry(w, c, idx);
        return;
      }
      c->state = ST_SENDING;
      conn_send(w, c, idx);
      return;
    }
    case ST_SENDING:
      conn_send(w, c, idx);
      return;
    case ST_HEAD:
    case ST_STREAM:
      conn_read(w, c, idx);
      return;
    default:
      return;
  }
}

/* ---- the worker ----------------------------------------------------------- */

static void round_reset(worker_t *w) {
  memset(&w->res, 0, sizeof w->res);
  w->res.min_us = INT64_MAX;
  for (long i = 0; i < w->n; i++) {
    conn_t *c = &w->conns[i];
    c->got = 0;
    c->counted = c->state == ST_STREAM && w->last[c->tenant] >= w->first[c->tenant];
  }
}

/* True once every subscriber still held has its tenant's last id. */
static int round_complete(worker_t *w) {
  long complete = 0, pending = 0;
  for (long i = 0; i < w->n; i++) {
    conn_t *c = &w->conns[i];
    if (!c->counted || c->state != ST_STREAM)
      continue;
    if (c->last_id >= w->last[c->tenant])
      complete++;
    else
      pending++;
  }
  w->res.complete = complete;
  return pending == 0;
}

static void round_send(worker_t *w) {
  w->res.held = w->held;
  for (long i = 0; i < w->n; i++) {
    conn_t *c = &w->conns[i];
    if (!c->counted)
      continue;
    w->res.expected[c->tenant] += w->last[c->tenant] - w->first[c->tenant] + 1;
    w->res.got[c->tenant] += c->got;
  }
  if (write_all(w->res_fd, &w->res, sizeof w->res) != 0)
    exit(3);
  w->measuring = 0;
  w->stop_deadline_us = 0;
}

static void worker_command(worker_t *w) {
  cmd_t cmd;
  if (read_all(w->cmd_fd, &cmd, sizeof cmd) != 0)
    cmd.type = CMD_QUIT;
  switch (cmd.type) {
    case CMD_EXPECT:
      if (cmd.tenant >= 0 && cmd.tenant < MAX_TENANTS) {
        w->first[cmd.tenant] = cmd.a;
        w->last[cmd.tenant] = cmd.b;
      }
      break;
    case CMD_START:
      round_reset(w);
      w->measuring = 1;
      break;
    case CMD_STOP:
      w->stop_deadline_us = now_us() + cmd.a * 1000;
      break;
    default:
      for (long i = 0; i < w->n; i++)
        conn_close(w, &w->conns[i], ST_CLOSED);
      exit(0);
  }
}

static void worker_main(worker_t *w) {
  const options_t *o = w->opt;
  w->ep = epoll_create1(EPOLL_CLOEXEC);
  w->scratch = malloc(SCRATCH_SIZE);
  w->conns = calloc((size_t)w->n, sizeof *w->conns);
  if (w->ep < 0 || w->scratch == NULL || w->conns == NULL)
    die("worker setup");
  for (int t = 0; t < o->ntokens; t++) {
    char *req = NULL;
    int len = asprintf(&req,
                       "GET %s HTTP/1.1\r\nHost: %s:%d\r\nAccept: text/event-stream\r\n"
                       "Authorization: Bearer %s\r\n\r\n",
                       o->path, o->host, o->port, o->tokens[t]);
    if (len < 0)
      die("asprintf");
    w->requests[t] = req;
    w->request_len[t] = (size_t)len;
  }
  for (long i = 0; i < w->n; i++) {
    w->conns[i].fd = -1;
    w->conns[i].tenant = (uint16_t)((w->lo + i) % o->ntokens);
  }

  struct epoll_event cev = {.events = EPOLLIN, .data.u32 = CMD_FD_TAG};
  if (epoll_ctl(w->ep, EPOLL_CTL_ADD, w->cmd_fd, &cev) != 0)
    die("epoll_ctl");

  enum { MAX_EVENTS = 512 };
  struct epoll_event evs[MAX_EVENTS];
  int64_t started = mono_ms(), deadline = started + (int64_t)o->connect_timeout_s * 1000;
  int connecting = 1;
  int64_t last_check_ms = 0;
  for (;;) {
    if (connecting) {
      while (w->next_to_start < w->n && w->inflight < o->window) {
        conn_t *c = &w->conns[w->next_to_start];
        if (conn_start(w, c, w->next_to_start) != 0) {
          c->state = ST_FAILED;
          w->failed++;
        }
        w->next_to_start++;
      }
      int timed_out = mono_ms() >= deadline;
      if ((w->next_to_start == w->n && w->inflight == 0) || timed_out) {
        for (long i = 0; i < w->n; i++) {
          conn_t *c = &w->conns[i];
          if (c->state != ST_STREAM && c->state != ST_FAILED && c->state != ST_CLOSED) {
            if (c->state != ST_IDLE)
              w->inflight--;
            conn_close(w, c, ST_FAILED);
            w->failed++;
          }
        }
        hello_t hello = {w->held, w->failed, w->refused, mono_ms() - started};
        if (write_all(w->res_fd, &hello, sizeof hello) != 0)
          exit(3);
        connecting = 0;
      }
    }
    int nev = epoll_wait(w->ep, evs, MAX_EVENTS, 50);
    if (nev < 0 && errno != EINTR)
      die("epoll_wait");
    for (int i = 0; i < nev; i++) {
      if (evs[i].data.u32 == CMD_FD_TAG)
        worker_command(w);
      else
        on_conn_event(w, evs[i].data.u32, evs[i].events);
    }
    if (w->stop_deadline_us) {
      int64_t now = mono_ms();
      if (now - last_check_ms >= 20) {
        last_check_ms = now;
        if (round_complete(w) || now_us() >= w->stop_deadline_us)
          round_send(w);
      }
    }
  }
}

/* ---- the parent ----------------------------------------------------------- */

static pid_t pids[MAX_WORKERS];
static int nworkers;

static void kill_workers(void) {
  for (int i = 0; i < nworkers; i++)
    if (pids[i] > 0)
      kill(pids[i], SIGTERM);
}

static void usage(void) {
  fprintf(stderr, "usage: bench_sse --port P --conns N --token TOKEN [--token TOKEN ...]\n"
                  "  [--host 127.0.0.1] [--path /api/sse/notifications] [--workers W]\n"
                  "  [--src-addrs K] [--window M] [--connect-timeout S]\n");
  exit(2);
}

static void parse_options(int argc, char **argv, options_t *o) {
  static const struct option longs[] = {{"host", required_argument, NULL, 'h'},
                                        {"port", required_argument, NULL, 'p'},
                                        {"path", required_argument, NULL, 'P'},
                                        {"conns", required_argument, NULL, 'n'},
                                        {"token", required_argument, NULL, 't'},
                                        {"workers", required_argument, NULL, 'w'},
                                        {"src-addrs", required_argument, NULL, 'a'},
                                        {"window", required_argument, NULL, 'W'},
                                        {"connect-timeout", required_argument, NULL, 'c'},
                                        {NULL, 0, NULL, 0}};
  *o = (options_t){.host = "127.0.0.1",
                   .path = "/api/sse/notifications",
                   .src_addrs = 4,
                   .window = 256,
                   .connect_timeout_s = 180};
  int ch;
  while ((ch = getopt_long(argc, argv, "", longs, NULL)) != -1) {
    switch (ch) {
      case 'h':
        o->host = optarg;
        break;
      case 'p':
        o->port = atoi(optarg);
        break;
      case 'P':
        o->path = optarg;
        break;
      case 'n':
        o->conns = atol(optarg);
        break;
      case 't':
        if (o->ntokens == MAX_TENANTS)
          usage();
        o->tokens[o->ntokens++] = optarg;
        break;
      case 'w':
        o->workers = atoi(optarg);
        break;
      case 'a':
        o->src_addrs = atoi(optarg);
        break;
      case 'W':
        o->window = atoi(optarg);
        break;
      case 'c':
        o->connect_timeout_s = atoi(optarg);
        break;
      default:
        usage();
    }
  }
  if (o->port <= 0 || o->port > 65535 || o->conns <= 0 || o->ntokens == 0 || o->src_addrs < 1 ||
      o->src_addrs > 254 || o->window < 1 || o->connect_timeout_s < 1)
    usage();
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
    die("getrlimit");
  /* Each worker may use its whole file limit, less a few for itself. */
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  long per = (long)rl.rlim_cur - 64;
  if (o->workers <= 0)
    o->workers = (int)((o->conns + per - 1) / per) < 2 ? 2 : (int)((o->conns + per - 1) / per);
  if (o->workers > MAX_WORKERS || o->conns / o->workers + 1 > per) {
    fprintf(stderr, "bench_sse: %ld connections need more than %d workers of %ld files\n", o->conns,
            o->workers, per);
    exit(2);
  }
}

static void print_round(const options_t *o, result_t *all) {
  uint64_t total = 0;
  for (unsigned i = 0; i < H_BUCKETS; i++)
    total += all->hist[i];
  int64_t expected = 0, got = 0;
  int tenants_missing = 0;
  for (int t = 0; t < o->ntokens; t++) {
    expected += all->expected[t];
    got += all->got[t];
    tenants_missing += all->got[t] < all->expected[t];
  }
  double window_s =
      all->last_rx_us > all->first_rx_us ? (double)(all->last_rx_us - all->first_rx_us) / 1e6 : 0;
  printf("{\"phase\":\"round\",\"held\":%" PRId64 ",\"dropped\":%" PRId64 ",\"deliveries\":%" PRId64
         ",\"first_rx_us\":%" PRId64 ",\"last_rx_us\":%" PRId64
         ",\"rx_window_s\":%.3f,\"expected\":%" PRId64 ",\"received\":%" PRId64
         ",\"missed\":%" PRId64 ",\"tenants_with_misses\":%d,\"complete_subscribers\":%" PRId64
         ",\"duplicates\":%" PRId64 ",\"resyncs\":%" PRId64 ",\"heartbeats\":%" PRId64
         ",\"bad\":%" PRId64 ",\"negative_latencies\":%" PRId64
         ",\"latency_ms\":{\"min\":%.3f,\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"p999\":%.3f,"
         "\"max\":%.3f}",
         all->held, all->dropped, all->deliveries, all->first_rx_us, all->last_rx_us, window_s,
         expected, got, expected - got, tenants_missing, all->complete, all->duplicates,
         all->resyncs, all->heartbeats, all->bad, all->negative,
         total ? (double)all->min_us / 1e3 : 0, h_quantile(all->hist, total, 0.50) / 1e3,
         h_quantile(all->hist, total, 0.90) / 1e3, h_quantile(all->hist, total, 0.99) / 1e3,
         h_quantile(all->hist, total, 0.999) / 1e3, (double)all->max_us / 1e3);
  printf(",\"missed_by_tenant\":{");
  int first = 1;
  for (int t = 0; t < o->ntokens; t++) {
    if (all->got[t] < all->expected[t]) {
      printf("%s\"%d\":[%" PRId64 ",%" PRId64 "]", first ? "" : ",", t, all->expected[t],
             all->got[t]);
      first = 0;
    }
  }
  printf("}}\n");
  fflush(stdout);
}

static void merge(result_t *all, const result_t *r) {
  all->held += r->held;
  all->dropped += r->dropped;
  all->deliveries += r->deliveries;
  all->duplicates += r->duplicates;
  all->resyncs += r->resyncs;
  all->heartbeats += r->heartbeats;
  all->bad += r->bad;
  all->negative += r->negative;
  all->complete += r->complete;
  if (r->first_rx_us && (all->first_rx_us == 0 || r->first_rx_us < all->first_rx_us))
    all->first_rx_us = r->first_rx_us;
  if (r->last_rx_us > all->last_rx_us)
    all->last_rx_us = r->last_rx_us;
  if (r->deliveries && r->min_us < all->min_us)
    all->min_us = r->min_us;
  if (r->max_us > all->max_us)
    all->max_us = r->max_us;
  for (int t = 0; t < MAX_TENANTS; t++) {
    all->expected[t] += r->expected[t];
    all->got[t] += r->got[t];
  }
  for (unsigned i = 0; i < H_BUCKETS; i++)
    all->hist[i] += r->hist[i];
}

int main(int argc, char **argv) {
  static options_t opt;
  parse_options(argc, argv, &opt);
  signal(SIGPIPE, SIG_IGN);
  int cmd_fds[MAX_WORKERS], res_fds[MAX_WORKERS];
  nworkers = opt.workers;
  fflush(stdout);
  for (int i = 0; i < nworkers; i++) {
    int cp[2], rp[2];
    if (pipe2(cp, O_CLOEXEC) != 0 || pipe2(rp, O_CLOEXEC) != 0)
      die("pipe");
    pid_t pid = fork();
    if (pid < 0) {
      kill_workers();
      die("fork");
    }
    if (pid == 0) {
      for (int j = 0; j < i; j++) {
        close(cmd_fds[j]);
        close(res_fds[j]);
      }
      close(cp[1]);
      close(rp[0]);
      static worker_t w;
      w.opt = &opt;
      w.lo = opt.conns * i / nworkers;
      w.n = opt.conns * (i + 1) / nworkers - w.lo;
      w.cmd_fd = cp[0];
      w.res_fd = rp[1];
      worker_main(&w);
      exit(0);
    }
    pids[i] = pid;
    close(cp[0]);
    close(rp[1]);
    cmd_fds[i] = cp[1];
    res_fds[i] = rp[0];
  }

  hello_t sum = {0};
  for (int i = 0; i < nworkers; i++) {
    hello_t h;
    if (read_all(res_fds[i], &h, sizeof h) != 0) {
      fprintf(stderr, "bench_sse: worker %d ended early\n", i);
      kill_workers();
      return 1;
    }
    sum.held += h.held;
    sum.failed += h.failed;
    sum.refused += h.refused;
    if (h.seconds_ms > sum.seconds_ms)
      sum.seconds_ms = h.seconds_ms;
  }
  printf("{\"phase\":\"connected\",\"held\":%" PRId64 ",\"failed\":%" PRId64
         ",\"refused_503\":%" PRId64 ",\"workers\":%d,\"seconds\":%.2f,\"worker_pids\":[",
         sum.held, sum.failed, sum.refused, nworkers, (double)sum.seconds_ms / 1e3);
  for (int i = 0; i < nworkers; i++)
    printf("%s%d", i ? "," : "", (int)pids[i]);
  printf("]}\n");
  fflush(stdout);

  static result_t all, one;
  char line[256];
  int rc = 0;
  while (fgets(line, sizeof line, stdin) != NULL) {
    cmd_t cmd = {0};
    int tenant = 0;
    long long a = 0, b = 0;
    if (sscanf(line, "expect %d %lld %lld", &tenant, &a, &b) == 3)
      cmd = (cmd_t){CMD_EXPECT, tenant, a, b};
    else if (strncmp(line, "start", 5) == 0)
      cmd.type = CMD_START;
    else if (sscanf(line, "stop %lld", &a) == 1)
      cmd = (cmd_t){CMD_STOP, 0, a, 0};
    else if (strncmp(line, "quit", 4) == 0)
      break;
    else {
      fprintf(stderr, "bench_sse: unknown command: %s", line);
      continue;
    }
    for (int i = 0; i < nworkers; i++)
      if (write_all(cmd_fds[i], &cmd, sizeof cmd) != 0) {
        rc = 1;
        goto out;
      }
    if (cmd.type != CMD_STOP)
      continue;
    memset(&all, 0, sizeof all);
    all.min_us = INT64_MAX;
    for (int i = 0; i < nworkers; i++) {
      if (read_all(res_fds[i], &one, sizeof one) != 0) {
        fprintf(stderr, "bench_sse: worker %d ended early\n", i);
        rc = 1;
        goto out;
      }
      merge(&all, &one);
    }
    print_round(&opt, &all);
  }
out:;
  cmd_t quit = {.type = CMD_QUIT};
  for (int i = 0; i < nworkers; i++)
    write_all(cmd_fds[i], &quit, sizeof quit);
  for (int i = 0; i < nworkers; i++) {
    close(cmd_fds[i]);
    /* A worker that does not end within 10 s is killed. */
    int status;
    for (int tries = 0; tries < 100; tries++) {
      if (waitpid(pids[i], &status, WNOHANG) == pids[i]) {
        pids[i] = 0;
        break;
      }
      struct timespec ts = {0, 100 * 1000 * 1000};
      nanosleep(&ts, NULL);
    }
    if (pids[i] > 0) {
      kill(pids[i], SIGKILL);
      waitpid(pids[i], &status, 0);
    }
  }
  return rc;
}
