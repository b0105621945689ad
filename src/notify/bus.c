#include "notify/bus.h"

#include <hiredis/adapters/libuv.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/health.h"
#include "core/log.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define PUB_CONNECT_TIMEOUT_MS 1000
#define PUB_IO_TIMEOUT_MS 3000
#define SUB_CONNECT_TIMEOUT_MS 3000

struct op_bus_s {
  op_bus_url_t url;
  op_bus_sink_t sink;

  /* publisher: the publishing thread only */
  redisContext *pub;
  size_t queued; /* commands appended, replies not read yet */
  int pub_failed;
  int pub_events; /* an event frame was queued (or tried) since the last flush */
  atomic_int pub_ok;

  /* subscriber: its thread only, but for stop/subscribed */
  pthread_t thread;
  int started;
  uv_loop_t loop;
  uv_async_t stop_async;
  uv_timer_t tick;
  redisAsyncContext *ac;
  int64_t backoff_ms;
  int64_t reconnect_at_ms; /* 0: no reconnect due */
  int64_t connect_ms;      /* when the current connection attempt began */
  int stopping;
  atomic_int subscribed;
};

/* ---- URL ------------------------------------------------------------------ */

static int bad_url(char *errbuf, size_t errlen, const char *why) {
  snprintf(errbuf, errlen, "REDIS_URL: %s (expected redis://[:password@]host:port[/db])", why);
  return OP_ECONFIG;
}

int op_bus_parse_url(const char *url, op_bus_url_t *out, char *errbuf, size_t errlen) {
  memset(out, 0, sizeof *out);
  out->port = 6379;
  if (strncmp(url, "rediss://", 9) == 0)
    return bad_url(errbuf, errlen, "rediss:// (TLS) is not supported");
  if (strncmp(url, "redis://", 8) != 0)
    return bad_url(errbuf, errlen, "not a redis:// URL");
  const char *p = url + 8;
  const char *at = strrchr(p, '@');
  if (at) {
    const char *colon = memchr(p, ':', (size_t)(at - p));
    const char *pw = colon ? colon + 1 : p;
    if ((size_t)(at - pw) >= sizeof out->password)
      return bad_url(errbuf, errlen, "password too long");
    memcpy(out->password, pw, (size_t)(at - pw));
    p = at + 1;
  }
  size_t hlen = strcspn(p, ":/");
  if (hlen == 0 || hlen >= sizeof out->host)
    return bad_url(errbuf, errlen, "missing or too long host");
  memcpy(out->host, p, hlen);
  p += hlen;
  if (*p == ':') {
    char *end;
    long port = strtol(p + 1, &end, 10);
    if (end == p + 1 || port < 1 || port > 65535 || (*end && *end != '/'))
      return bad_url(errbuf, errlen, "bad port");
    out->port = (int)port;
    p = end;
  }
  if (*p == '/' && p[1]) {
    char *end;
    long db = strtol(p + 1, &end, 10);
    if (end == p + 1 || *end || db < 0 || db > 1000000)
      return bad_url(errbuf, errlen, "bad database number");
    out->db = (int)db;
  } else if (*p && strcmp(p, "/") != 0) {
    return bad_url(errbuf, errlen, "unexpected characters after the host");
  }
  return 0;
}

/* ---- messages --------------------------------------------------------------- */

/* "E\n<tenant>\n<pos>\n<event_ms>\n<frame bytes>" and
 * "U\n<tenant>\n<user>\n<frame bytes>": the header is line-based (ids have no
 * line breaks; refused otherwise), the frame is the rest, as it is. */
static char *encode(const char *head, size_t hlen, const op_frame_t *frame, size_t *len) {
  char *buf = malloc(hlen + frame->len);
  if (buf == NULL)
    return NULL;
  memcpy(buf, head, hlen);
  memcpy(buf + hlen, frame->data, frame->len);
  *len = hlen + frame->len;
  return buf;
}

char *op_bus_encode_event(const char *tenant, const op_frame_t *frame, size_t *len) {
  char head[512];
  if (strchr(tenant, '\n') || strlen(tenant) > 300 || frame->pos <= 0)
    return NULL;
  int n = snprintf(head, sizeof head, "E\n%s\n%" PRId64 "\n%" PRId64 "\n", tenant, frame->pos,
                   frame->event_ms);
  return encode(head, (size_t)n, frame, len);
}

char *op_bus_encode_user(const char *tenant, const char *user, const op_frame_t *frame,
                         size_t *len) {
  char head[700];
  if (strchr(tenant, '\n') || strchr(user, '\n') || strlen(tenant) > 300 || strlen(user) > 300)
    return NULL;
  int n = snprintf(head, sizeof head, "U\n%s\n%s\n", tenant, user);
  return encode(head, (size_t)n, frame, len);
}

/* Splits the next line off [*p, end): NUL-terminates it in place. */
static char *next_line(char **p, char *end) {
  char *nl = memchr(*p, '\n', (size_t)(end - *p));
  if (nl == NULL)
    return NULL;
  char *line = *p;
  *nl = '\0';
  *p = nl + 1;
  return line;
}

static int parse_i64(const char *s, int64_t *out) {
  char *end;
  long long v = strtoll(s, &end, 10);
  if (end == s || *end)
    return OP_EPROTO;
  *out = v;
  return 0;
}

int op_bus_decode(const char *msg, size_t len, op_bus_msg_t *out) {
  memset(out, 0, sizeof *out);
  char *copy = malloc(len + 1);
  if (copy == NULL)
    return OP_ENOMEM;
  memcpy(copy, msg, len);
  copy[len] = '\0';
  out->scratch = copy;
  char *p = copy, *end = copy + len;
  char *kind = next_line(&p, end);
  char *tenant = kind ? next_line(&p, end) : NULL;
  int64_t pos = 0, event_ms = 0;
  if (tenant == NULL || *tenant == '\0' || strlen(kind) != 1)
    goto bad;
  out->kind = kind[0];
  out->tenant = tenant;
  if (out->kind == 'E') {
    char *spos = next_line(&p, end);
    char *sms = spos ? next_line(&p, end) : NULL;
    if (sms == NULL || parse_i64(spos, &pos) || parse_i64(sms, &event_ms) || pos <= 0)
      goto bad;
  } else if (out->kind == 'U') {
    out->user = next_line(&p, end);
    if (out->user == NULL || *out->user == '\0')
      goto bad;
  } else {
    goto bad;
  }
  if (p == end)
    goto bad;
  out->frame = op_frame_raw(p, (size_t)(end - p));
  if (out->frame == NULL) {
    free(copy);
    out->scratch = NULL;
    return OP_ENOMEM;
  }
  out->frame->pos = pos; /* not shared yet: the builder may set it */
  out->frame->event_ms = event_ms;
  return 0;
bad:
  free(copy);
  out->scratch = NULL;
  return OP_EPROTO;
}

/* ---- health ------------------------------------------------------------------ */

static void update_health(op_bus_t *bus) {
  int sub = atomic_load(&bus->subscribed), pub = atomic_load(&bus->pub_ok);
  if (sub && pub)
    op_health_set("redis", OP_HEALTH_OK, "connected");
  else
    op_health_set("redis", OP_HEALTH_DEGRADED,
                  !sub ? "subscriber disconnected, reconnecting" : "publisher failing, retrying");
}

/* ---- publisher (blocking, pipelined) ------------------------------------------ */

/*
 * The publisher failed. Only a failure with event frames in hand marks it
 * failing on /health: the batch handler retries those, and the retry's
 * success marks it ok again. Per-user frames alone are best effort and
 * nothing retries them, so a failed push (Redis gone between a batch's
 * events and its notifications) would leave /health degraded after Redis is
 * back, until the next event happened to be published.
 */
static void pub_failing(op_bus_t *bus) {
  if (bus->pub_events && atomic_exchange(&bus->pub_ok, 0))
    update_health(bus);
}

static void pub_drop(op_bus_t *bus, const char *why) {
  if (bus->pub) {
    op_log_warn("notify", "redis publisher: %s", why);
    redisFree(bus->pub);
  }
  bus->pub = NULL;
  bus->queued = 0;
  pub_failing(bus);
}

static int pub_connect(op_bus_t *bus) {
  struct timeval ct = {PUB_CONNECT_TIMEOUT_MS / 1000, (PUB_CONNECT_TIMEOUT_MS % 1000) * 1000};
  struct timeval io = {PUB_IO_TIMEOUT_MS / 1000, (PUB_IO_TIMEOUT_MS % 1000) * 1000};
  redisContext *c = redisConnectWithTimeout(bus->url.host, bus->url.port, ct);
  if (c == NULL || c->err || redisSetTimeout(c, io) != REDIS_OK) {
    pub_failing(bus);
    op_log_warn("notify", "redis publisher: cannot connect to %s:%d: %s", bus->url.host,
                bus->url.port, c ? c->errstr : "out of memory");
    if (c)
      redisFree(c);
    return OP_EIO;
  }
  if (bus->url.password[0]) {
    redisReply *r = redisCommand(c, "AUTH %s", bus->url.password);
    int ok = r && r->type != REDIS_REPLY_ERROR;
    if (r)
      freeReplyObject(r);
    if (!ok) {
      op_log_warn("notify", "redis publisher: AUTH refused");
      pub_failing(bus);
      redisFree(c);
      return OP_EIO;
    }
  }
  bus->pub = c;
  bus->queued = 0;
  bus->pub_failed = 0;
  return 0;
}

static int pub_append(op_bus_t *bus, char *msg, size_t len) {
  if (msg == NULL)
    return OP_EINVAL;
  if (bus->pub == NULL && pub_connect(bus) != 0) {
    bus->pub_failed = 1;
    free(msg);
    return OP_EIO;
  }
  int rc = redisAppendCommand(bus->pub, "PUBLISH %s %b", OP_BUS_CHANNEL, msg, len);
  free(msg);
  if (rc != REDIS_OK) {
    bus->pub_failed = 1;
    pub_drop(bus, "cannot queue a command");
    return OP_EIO;
  }
  bus->queued++;
  return 0;
}

int op_bus_publish(op_bus_t *bus, const char *tenant, const op_frame_t *frame) {
  bus->pub_events = 1;
  size_t len = 0;
  char *msg = op_bus_encode_event(tenant, frame, &len);
  return pub_append(bus, msg, len);
}

int op_bus_publish_user(op_bus_t *bus, const char *tenant, const char *user,
                        const op_frame_t *frame) {
  size_t len = 0;
  char *msg = op_bus_encode_user(tenant, user, frame, &len);
  return pub_append(bus, msg, len);
}

int op_bus_flush(op_bus_t *bus) {
  int failed = bus->pub_failed;
  bus->pub_failed = 0;
  while (!failed && bus->queued > 0) {
    redisReply *r = NULL;
    if (redisGetReply(bus->pub, (void **)&r) != REDIS_OK || r == NULL) {
      pub_drop(bus, bus->pub->errstr[0] ? bus->pub->errstr : "connection lost");
      bus->pub_events = 0;
      return OP_EIO;
    }
    failed = r->type == REDIS_REPLY_ERROR;
    freeReplyObject(r);
    bus->queued--;
  }
  if (failed)
    pub_drop(bus, "a PUBLISH failed");
  bus->pub_events = 0;
  if (failed)
    return OP_EIO;
  /* Only a live connection proves Redis took something (a flush of nothing
   * while disconnected proves nothing). */
  if (bus->pub && !atomic_exchange(&bus->pub_ok, 1))
    update_health(bus);
  return 0;
}

/* ---- subscriber (its own thread and libuv loop) ---------------------------------- */

static void sub_connect(op_bus_t *bus);

static void schedule_reconnect(op_bus_t *bus) {
  bus->ac = NULL;
  if (atomic_exchange(&bus->subscribed, 0))
    update_health(bus);
  if (bus->stopping)
    return;
  bus->reconnect_at_ms = op_now_ms() + bus->backoff_ms;
  bus->backoff_ms = bus->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : bus->backoff_ms * 2;
}

static void on_message(redisAsyncContext *ac, void *r, void *ud) {
  op_bus_t *bus = ud;
  redisReply *reply = r;
  (void)ac;
  if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements < 3)
    return;
  const redisReply *kind = reply->element[0];
  if (kind->type != REDIS_REPLY_STRING)
    return;
  if (strcmp(kind->str, "subscribe") == 0) {
    bus->backoff_ms = BACKOFF_MIN_MS;
    atomic_store(&bus->subscribed, 1);
    update_health(bus);
    op_log_info("notify", "redis: subscribed to %s on %s:%d", OP_BUS_CHANNEL, bus->url.host,
                bus->url.port);
    if (bus->sink.on_subscribed)
      bus->sink.on_subscribed(bus->sink.ud);
    return;
  }
  const redisReply *payload = reply->element[2];
  if (strcmp(kind->str, "message") != 0 || payload->type != REDIS_REPLY_STRING)
    return;
  op_bus_msg_t msg;
  if (op_bus_decode(payload->str, payload->len, &msg) != 0) {
    op_log_warn("notify", "redis: ignoring a malformed bus message (%zu bytes)", payload->len);
    return;
  }
  if (msg.kind == 'E')
    bus->sink.on_event(msg.tenant, msg.frame, bus->sink.ud);
  else if (bus->sink.on_user)
    bus->sink.on_user(msg.tenant, msg.user, msg.frame, bus->sink.ud);
  op_frame_release(msg.frame);
  free(msg.scratch);
}

static void on_connect(const redisAsyncContext *ac, int status) {
  op_bus_t *bus = ac->data;
  if (status != REDIS_OK) {
    op_log_warn("notify", "redis subscriber: cannot connect to %s:%d: %s", bus->url.host,
                bus->url.port, ac->errstr);
    schedule_reconnect(bus); /* hiredis frees ac after this callback */
  }
}

static void on_disconnect(const redisAsyncContext *ac, int status) {
  op_bus_t *bus = ac->data;
  if (status != REDIS_OK)
    op_log_warn("notify", "redis subscriber: connection lost: %s", ac->errstr);
  schedule_reconnect(bus);
}

static void sub_connect(op_bus_t *bus) {
  bus->reconnect_at_ms = 0;
  redisAsyncContext *ac = redisAsyncConnect(bus->url.host, bus->url.port);
  if (ac == NULL || ac->err) {
    op_log_warn("notify", "redis subscriber: %s", ac ? ac->errstr : "out of memory");
    if (ac)
      redisAsyncFree(ac);
    schedule_reconnect(bus);
    return;
  }
  ac->data = bus;
  if (redisLibuvAttach(ac, &bus->loop) != REDIS_OK) {
    redisAsyncFree(ac);
    schedule_reconnect(bus);
    return;
  }
  redisAsyncSetConnectCallback(ac, on_connect);
  redisAsyncSetDisconnectCallback(ac, on_disconnect);
  if (bus->url.password[0])
    redisAsyncCommand(ac, NULL, NULL, "AUTH %s", bus->url.password);
  redisAsyncCommand(ac, on_message, bus, "SUBSCRIBE %s", OP_BUS_CHANNEL);
  bus->ac = ac;
  bus->connect_ms = op_now_ms();
}

/*
 * hiredis 0.14's libuv adapter ignores a poll error (a refused connect, a
 * reset): libuv stops the poll handle and the context would wait forever.
 * So a context whose poll handle stopped, or that is not subscribed
 * SUB_CONNECT_TIMEOUT_MS after it began, is dropped and replaced. (While
 * connected hiredis always wants to read, so a stopped handle means an error.)
 */
static void watchdog(op_bus_t *bus, int64_t now) {
  redisAsyncContext *ac = bus->ac;
  if (ac == NULL || bus->stopping)
    return;
  const redisLibuvEvents *ev = ac->ev.data;
  int dead = ev && !uv_is_active((const uv_handle_t *)&ev->handle);
  int slow = !atomic_load(&bus->subscribed) && now - bus->connect_ms > SUB_CONNECT_TIMEOUT_MS;
  if (!dead && !slow)
    return;
  op_log_warn("notify", "redis subscriber: %s; reconnecting",
              dead ? "connection failed" : "not subscribed in time");
  redisAsyncFree(ac); /* may call on_disconnect, which schedules the reconnect */
  if (bus->ac == ac)
    schedule_reconnect(bus);
}

static void on_tick(uv_timer_t *t) {
  op_bus_t *bus = t->data;
  int64_t now = op_now_ms();
  watchdog(bus, now);
  if (bus->ac == NULL && bus->reconnect_at_ms && now >= bus->reconnect_at_ms)
    sub_connect(bus);
  if (bus->sink.on_tick)
    bus->sink.on_tick(now, bus->sink.ud);
}

static void on_stop(uv_async_t *a) {
  op_bus_t *bus = a->data;
  bus->stopping = 1;
  /* Freed rather than disconnected: a disconnect waits for pending replies,
   * which a connection attempt stuck in the adapter (see watchdog) never gets. */
  if (bus->ac)
    redisAsyncFree(bus->ac);
  bus->ac = NULL;
  uv_close((uv_handle_t *)&bus->tick, NULL);
  uv_close((uv_handle_t *)&bus->stop_async, NULL);
}

static void *sub_main(void *arg) {
  op_bus_t *bus = arg;
  sub_connect(bus);
  uv_run(&bus->loop, UV_RUN_DEFAULT);
  return NULL;
}

op_bus_t *op_bus_new(const char *url, const op_bus_sink_t *sink, char *errbuf, size_t errlen) {
  op_bus_t *bus = calloc(1, sizeof *bus);
  if (bus == NULL) {
    snprintf(errbuf, errlen, "out of memory");
    return NULL;
  }
  if (op_bus_parse_url(url, &bus->url, errbuf, errlen) != 0) {
    free(bus);
    return NULL;
  }
  bus->sink = *sink;
  bus->backoff_ms = BACKOFF_MIN_MS;
  atomic_store(&bus->pub_ok, 1); /* no failure yet (an instance that never publishes stays ok) */
  op_health_register("redis", 0);
  update_health(bus);
  return bus;
}

int op_bus_start(op_bus_t *bus) {
  if (uv_loop_init(&bus->loop) != 0)
    return OP_EIO;
  bus->stop_async.data = bus;
  bus->tick.data = bus;
  if (uv_async_init(&bus->loop, &bus->stop_async, on_stop) != 0 ||
      uv_timer_init(&bus->loop, &bus->tick) != 0 ||
      uv_timer_start(&bus->tick, on_tick, OP_BUS_TICK_MS, OP_BUS_TICK_MS) != 0)
    return OP_EIO;
  if (pthread_create(&bus->thread, NULL, sub_main, bus) != 0)
    return OP_ENOMEM;
  bus->started = 1;
  return 0;
}

int op_bus_subscribed(const op_bus_t *bus) {
  return atomic_load(&bus->subscribed);
}

void op_bus_free(op_bus_t *bus) {
  if (bus == NULL)
    return;
  if (bus->started) {
    uv_async_send(&bus->stop_async);
    pthread_join(bus->thread, NULL);
    uv_loop_close(&bus->loop);
  }
  if (bus->pub)
    redisFree(bus->pub);
  free(bus);
}
