#include "notify/live.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "contracts/validate.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/health.h"
#include "core/log.h"
#include "core/metrics.h"
#include "fanout/frame.h"
#include "fanout/hub.h"
#include "fanout/ring.h"
#include "notify/scale.h"
#include "store/store.h"

#define MAX_LOOPS 64
#define REPLAY_CHUNK 64
/* One replay step stays well below a subscriber's queue bounds (at least
 * 1024 frames and 128 KiB, see SSE_CLIENT_QUEUE_*): the next step starts when
 * the kernel took this one. */
#define REPLAY_STEP 512
#define REPLAY_STEP_BYTES (96 * 1024)
#define STREAM_SNDBUF (64 * 1024)
#define SNAPSHOT_URL "/api/orders/snapshot"
#define PUSH_PAUSE_MS 1000

typedef struct loop_state_s {
  op_store_t *store; /* this loop's own connection, for replay and snapshots */
} loop_state_t;

struct op_live_s {
  const op_config_t *cfg;
  op_hub_t *hub;
  op_ring_set_t *ring;
  op_scale_t *scale;     /* with REDIS_URL: frames travel over Redis (notify/scale.h) */
  int64_t push_after_ms; /* consumer thread: no per-user push over Redis before this */
  loop_state_t loops[MAX_LOOPS];
  op_metric_t *m_replayed, *m_resyncs;
};

/* ---- framing (consumer thread, and replay from the tenant log) --------- */

static json_t *str_or_null(const char *s) {
  return s ? json_string(s) : json_null();
}

/* Frames one stored event as the SSE contract says: id = position, event =
 * type, data = {"id","event","data":{…},"trace_id"} on one line. */
static op_frame_t *frame_event(const op_order_event_t *ev, int64_t pos) {
  json_t *doc = json_pack("{s:s, s:s, s:{s:s, s:s, s:o, s:o, s:o, s:o, s:s}, s:o}", "id",
                          ev->event_id, "event", ev->event_type, "data", "order_id", ev->order_id,
                          "tenant_id", ev->tenant_id, "status", str_or_null(ev->status),
                          "reference", str_or_null(ev->reference), "total_amount",
                          str_or_null(ev->total_amount), "currency", str_or_null(ev->currency),
                          "timestamp", ev->timestamp, "trace_id", str_or_null(ev->trace_id));
  if (doc == NULL)
    return NULL;
  char *text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(doc);
  if (text == NULL)
    return NULL;
  op_frame_t *frame = op_frame_event(pos, ev->event_type, text, strlen(text));
  free(text);
  if (frame)
    frame->event_ms = ev->timestamp_ms;
  return frame;
}

int op_live_publish(op_live_t *live, op_store_t *store, const op_order_event_t *evs,
                    const op_event_result_t *results, size_t n) {
  if (live->scale) {
    int rc = op_scale_publish(live->scale, store, evs, results, n);
    if (rc == 0)
      live->push_after_ms = 0; /* Redis took the events: the pushes may go again */
    return rc;
  }
  for (size_t i = 0; i < n; i++) {
    if (results[i].duplicate)
      continue;
    op_frame_t *frame = frame_event(&evs[i], results[i].position);
    if (frame == NULL) {
      op_log_error("notify", "cannot frame event %s: out of memory", evs[i].event_id);
      continue;
    }
    op_ring_append(live->ring, evs[i].tenant_id, frame);
    if (live->hub)
      op_hub_publish(live->hub, evs[i].tenant_id, frame);
    op_frame_release(frame);
  }
  return 0;
}

void op_live_notify_user(op_live_t *live, const char *tenant_id, const char *user_id,
                         const char *json) {
  if (live->hub == NULL)
    return;
  op_frame_t *frame = op_frame_event(0, "notification", json, strlen(json));
  if (frame == NULL) {
    op_log_error("notify", "cannot frame a notification for %s: out of memory", user_id);
    return;
  }
  frame->event_ms = 0; /* not an order event: kept out of the delivery latency */
  /* Over Redis the recipient's streams may be on any instance. A failure
   * loses only the live push: the inbox row is durable. The flush runs even
   * when queuing failed (it clears the publisher's failure for the next
   * batch). After a failure the pushes of the next PUSH_PAUSE_MS are dropped
   * without trying: each try could block this thread for a connect or I/O
   * timeout, per notification of the batch, while the inbox has them all. */
  if (live->scale) {
    int64_t now = op_now_ms();
    int rc = now < live->push_after_ms ? OP_EIO : 0;
    if (rc == 0) {
      rc = op_scale_publish_user(live->scale, tenant_id, user_id, frame);
      int frc = op_scale_flush(live->scale);
      rc = rc ? rc : frc;
      if (rc != 0 && rc != OP_EINVAL)
        live->push_after_ms = now + PUSH_PAUSE_MS;
    }
    if (rc != 0)
      op_log_warn("notify", "a notification for %s not pushed live (%s); it is in the inbox",
                  user_id, op_strerror(rc));
  } else {
    op_hub_publish_user(live->hub, tenant_id, user_id, frame);
  }
  op_frame_release(frame);
}

/* ---- authentication and request helpers (HTTP loops) ------------------- */

static op_metric_t *auth_failures(const char *reason) {
  char labels[64];
  snprintf(labels, sizeof labels, "reason=\"%s\"", reason);
  return op_counter("orderpulse_sse_auth_failures_total", "Requests refused for their token",
                    labels);
}

/* Adds the CORS headers when the request's Origin is allowed. */
static void add_cors(op_live_t *live, op_http_req_t *req) {
  const char *origin = op_http_req_header(req, "origin");
  const char *list = live->cfg->cors_allowed_origins;
  if (origin == NULL || *list == '\0')
    return;
  size_t olen = strlen(origin);
  for (const char *p = list; *p;) {
    const char *end = strchr(p, ',');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    while (len && *p == ' ')
      p++, len--;
    while (len && p[len - 1] == ' ')
      len--;
    if ((len == 1 && *p == '*') || (len == olen && strncmp(p, origin, len) == 0)) {
      op_http_resp_header(req, "Access-Control-Allow-Origin", origin);
      op_http_resp_header(req, "Access-Control-Allow-Credentials", "true");
      op_http_resp_header(req, "Vary", "Origin");
      return;
    }
    if (end == NULL)
      break;
    p = end + 1;
  }
}

/* Verifies the request's token; on failure answers 401 and returns OP_EAUTH. */
static int authenticate(op_live_t *live, op_http_req_t *req, op_auth_claims_t *claims) {
  char token[OP_AUTH_TOKEN_MAX + 1];
  const char *reason = NULL;
  int len = op_auth_from_request(req, token, sizeof token);
  int rc;
  if (len == OP_ENOENT) {
    reason = "missing_token";
    rc = OP_EAUTH;
  } else if (len < 0) {
    reason = "malformed";
    rc = OP_EAUTH;
  } else {
    rc = op_auth_verify(live->cfg->jwt_secret, strlen(live->cfg->jwt_secret), token,
                        op_now_ms() / 1000, OP_AUTH_LEEWAY_S, claims, &reason);
  }
  if (rc == 0)
    return 0;
  op_counter_add(auth_failures(reason ? reason : "malformed"), 1);
  add_cors(live, req);
  op_http_resp_header(req, "WWW-Authenticate", "Bearer");
  char message[128];
  snprintf(message, sizeof message, "a valid access token is required (%s)",
           reason ? reason : "malformed");
  op_http_respond_error(req, 401, "unauthorized", message);
  return OP_EAUTH;
}

/* Parses a position: decimal digits only, no sign, fits int64. */
static int parse_position(const char *s, int64_t *out) {
  if (s == NULL || *s == '\0' || strlen(s) > 18)
    return OP_EINVAL;
  int64_t v = 0;
  for (; *s; s++) {
    if (*s < '0' || *s > '9')
      return OP_EINVAL;
    v = v * 10 + (*s - '0');
  }
  *out = v;
  return 0;
}

static loop_state_t *loop_state(op_live_t *live, op_http_req_t *req) {
  return &live->loops[op_http_loop_index(op_http_req_loop(req))];
}

/* ---- SSE ---------------------------------------------------------------- */

typedef struct replay_s {
  op_live_t *live;
  op_hub_sub_t *sub;
  int64_t oldest_ms; /* entries created before this are outside the window */
  size_t sent, bytes;
  int failed;
  int expired;
} replay_t;

/* Sends one tenant-log entry (the durable replay path). */
static int replay_entry(const op_log_entry_t *entry, void *arg) {
  replay_t *r = arg;
  if (entry->created_at < r->oldest_ms) {
    r->expired = 1;
    return 1;
  }
  op_order_event_t ev;
  op_contract_error_t err;
  if (op_contract_parse_order_event(entry->body, entry->body_len, &ev, &err) != 0) {
    op_log_error("notify", "tenant log entry %lld does not parse: %s", (long long)entry->pos,
                 err.message);
    r->failed = 1;
    return 1;
  }
  ev.trace_id = entry->trace_id;
  op_frame_t *frame = frame_event(&ev, entry->pos);
  op_order_event_clear(&ev);
  if (frame == NULL || op_hub_send(r->sub, frame) != 0) {
    r->failed = 1;
  } else {
    r->sent++;
    r->bytes += frame->len;
  }
  if (frame)
    op_frame_release(frame);
  return r->failed;
}

static void send_resync(op_live_t *live, op_hub_sub_t *sub, const char *reason) {
  char data[256];
  snprintf(data, sizeof data, "{\"reason\":\"%s\",\"snapshot_url\":\"%s\"}", reason, SNAPSHOT_URL);
  op_frame_t *frame = op_frame_event(0, "resync", data, strlen(data));
  if (frame) {
    op_hub_send(sub, frame);
    op_frame_release(frame);
  }
  op_counter_add(live->m_resyncs, 1);
}

/* The tenant's newest position: the ring's, or the durable log's. */
static int64_t newest_position(op_live_t *live, op_store_t *store, const char *tenant) {
  int64_t ring_last = 0, db_last = 0;
  if (op_ring_last_position(live->ring, tenant, &ring_last) == 0 && ring_last > 0)
    return ring_last;
  if (op_events_last_position(store, tenant, &db_last) == 0) {
    /* The ring may have moved past the log's answer meanwhile (over Redis, the
     * bus thread appends concurrently): start from whichever is newer, so
     * that every frame the hub sends next follows the start without a gap. */
    op_ring_note_position(live->ring, tenant, db_last);
    if (op_ring_last_position(live->ring, tenant, &ring_last) == 0 && ring_last > db_last)
      return ring_last;
    return db_last;
  }
  return ring_last;
}

/*
 * One step of bringing sub from its position up to the tenant's newest, in
 * order: from the ring where it reaches, else from the tenant log within the
 * replay window. A step sends at most REPLAY_STEP frames, so that a long
 * replay never meets the subscriber's queue bound; the next step starts when
 * those left (op_hub_sub_on_drain). Sets *caught_up when there is nothing
 * more to send. Returns NULL, or a resync reason.
 */
static const char *replay_step(op_live_t *live, op_store_t *store, op_hub_sub_t *sub,
                               const char *tenant, int *caught_up) {
  int64_t now = op_now_ms();
  size_t sent = 0, bytes = 0;
  const char *resync = NULL;
  *caught_up = 0;
  while (sent < REPLAY_STEP && bytes < REPLAY_STEP_BYTES) {
    op_frame_t *frames[REPLAY_CHUNK];
    size_t n = 0, failed = 0;
    int64_t last = 0, from = op_hub_sub_position(sub);
    int rc = op_ring_read(live->ring, tenant, from, now, frames, REPLAY_CHUNK, &n, &last);
    for (size_t i = 0; i < n; i++) {
      if (!failed && op_hub_send(sub, frames[i]) == 0) {
        sent++;
        bytes += frames[i]->len;
      } else {
        failed++;
      }
      op_frame_release(frames[i]);
    }
    if (failed || rc == 0) {
      *caught_up = 1; /* done, or the stream is going away */
      break;
    }
    if (rc == OP_EAGAIN)
      continue;
    /* Not in memory (or ahead of it): the durable log decides. */
    int64_t db_last = 0;
    if (op_events_last_position(store, tenant, &db_last) != 0) {
      resync = "unavailable";
      break;
    }
    if (from > db_last) {
      resync = "ahead";
      break;
    }
    if (from == db_last) {
      *caught_up = 1;
      break;
    }
    if (db_last - from > live->cfg->sse_replay_buffer_size) {
      resync = "outside_window";
      break;
    }
    replay_t r = {live, sub, now - live->cfg->sse_replay_buffer_ttl_seconds * 1000, 0, 0, 0, 0};
    int rc_log = op_events_read_log(store, tenant, from, REPLAY_CHUNK, replay_entry, &r);
    sent += r.sent;
    bytes += r.bytes;
    if (r.expired) {
      resync = "outside_window";
      break;
    }
    if (rc_log != 0 || r.failed) {
      resync = "unavailable";
      break;
    }
    if (r.sent == 0) {
      *caught_up = 1;
      break;
    }
  }
  op_counter_add(live->m_replayed, sent);
  return resync;
}

/* A replay in progress: held by the subscription until it ends. */
typedef struct replay_ctx_s {
  op_live_t *live;
  op_store_t *store;
  char tenant[OP_AUTH_ID_MAX + 1];
} replay_ctx_t;

static void replay_continue(op_hub_sub_t *sub, void *ud);

/* Ends the replay (live from now on, after a resync if one is due) or waits
 * for the frames in flight to leave before the next step. */
static void replay_next(op_hub_sub_t *sub, replay_ctx_t *ctx, const char *resync, int caught_up) {
  if (resync) {
    /* Continue live from the newest position; the snapshot fills the gap. */
    int64_t newest = newest_position(ctx->live, ctx->store, ctx->tenant);
    send_resync(ctx->live, sub, resync);
    op_hub_sub_set_position(sub, newest);
    caught_up = 1;
  }
  if (!caught_up) {
    op_hub_sub_on_drain(sub, replay_continue, ctx);
    return;
  }
  op_hub_sub_hold(sub, 0);
  op_hub_sub_set_data(sub, NULL);
  free(ctx);
}

static void replay_continue(op_hub_sub_t *sub, void *ud) {
  replay_ctx_t *ctx = ud;
  int caught_up;
  const char *resync = replay_step(ctx->live, ctx->store, sub, ctx->tenant, &caught_up);
  replay_next(sub, ctx, resync, caught_up);
}

/* ud is the connection's data: the subscription, once there is one. */
static void on_stream_close(op_http_conn_t *conn, void *ud) {
  op_hub_sub_t *sub = ud;
  if (sub == NULL)
    return;
  op_hub_t *hub = op_hub_sub_hub(sub);
  free(op_hub_sub_data(sub)); /* a replay cut short */
  op_hub_unsubscribe(sub);
  op_health_set_number("sse", "connections", op_hub_count(hub));
}

static void sse_handler(op_http_req_t *req, void *ud) {
  op_live_t *live = ud;
  if (op_hub_count(live->hub) >= live->cfg->sse_max_clients_per_instance) {
    op_http_resp_header(req, "Retry-After", "5");
    op_http_respond_error(req, 503, "too_many_connections",
                          "this instance holds its maximum of SSE connections; retry later");
    return;
  }
  op_auth_claims_t claims;
  if (authenticate(live, req, &claims) != 0)
    return;
  /* Copied: the request is consumed by op_http_stream_start. */
  char last_buf[32];
  const char *last_id = NULL;
  const char *header = op_http_req_header(req, "last-event-id");
  int qrc = op_http_req_query(req, "last_event_id", last_buf, sizeof last_buf);
  if (header) {
    snprintf(last_buf, sizeof last_buf, "%s", strlen(header) < sizeof last_buf ? header : "x");
    last_id = last_buf;
  } else if (qrc >= 0) {
    last_id = last_buf;
  } else if (qrc == OP_ERANGE) {
    last_id = "invalid"; /* too long to be a position */
  }

  add_cors(live, req);
  op_http_conn_t *conn =
      op_http_stream_start(req, 200,
                           "Content-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
                           "Connection: keep-alive\r\nX-Accel-Buffering: no\r\n",
                           on_stream_close, NULL);
  if (conn == NULL) {
    op_http_respond_error(req, 500, "internal", "could not start the stream");
    return;
  }
  op_store_t *store = live->loops[op_http_loop_index(op_http_conn_loop(conn))].store;
  const char *tenant = claims.tenant_id;
  int64_t position = 0;
  const char *resync = NULL;
  if (last_id && parse_position(last_id, &position) != 0)
    resync = "invalid_last_event_id";
  int64_t start = last_id && !resync ? position : newest_position(live, store, tenant);
  op_hub_sub_t *sub = op_hub_subscribe(live->hub, conn, tenant, claims.sub, start);
  if (sub == NULL) {
    op_http_stream_close(conn);
    return;
  }
  op_http_conn_set_data(conn, sub);
  op_http_stream_set_sndbuf(conn, STREAM_SNDBUF);
  op_health_set_number("sse", "connections", op_hub_count(live->hub));

  char hello[512], ts[OP_ISO8601_LEN];
  json_t *doc = json_pack("{s:s, s:s, s:s, s:s}", "type", "connection", "message",
                          "Connected to notifications stream", "timestamp",
                          op_iso8601(op_now_ms(), ts), "tenant_id", tenant);
  char *data = doc ? json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
  json_decref(doc);
  snprintf(hello, sizeof hello, "retry: 3000\n\nevent: connection\ndata: %s\n\n",
           data ? data : "{}");
  free(data);
  op_frame_t *first = op_frame_raw(hello, strlen(hello));
  if (first) {
    op_hub_send(sub, first);
    op_frame_release(first);
  }
  if (resync) {
    int64_t newest = newest_position(live, store, tenant);
    send_resync(live, sub, resync);
    op_hub_sub_set_position(sub, newest);
  } else if (last_id) {
    replay_ctx_t *ctx = calloc(1, sizeof *ctx);
    if (ctx == NULL) {
      op_http_stream_close(conn);
      return;
    }
    *ctx = (replay_ctx_t){.live = live, .store = store};
    snprintf(ctx->tenant, sizeof ctx->tenant, "%s", tenant);
    op_hub_sub_set_data(sub, ctx);
    op_hub_sub_hold(sub, 1);
    replay_continue(sub, ctx);
  }
}

/* ---- snapshot ----------------------------------------------------------- */

static int add_order(const op_order_state_t *o, void *arg) {
  json_t *orders = arg;
  char ts[OP_ISO8601_LEN];
  json_t *row = json_pack("{s:s, s:s, s:o, s:o, s:o, s:s}", "order_id", o->order_id, "status",
                          o->status ? o->status : "", "reference", str_or_null(o->reference),
                          "total_amount", str_or_null(o->total_amount), "currency",
                          str_or_null(o->currency), "updated_at", op_iso8601(o->updated_at, ts));
  return row ? json_array_append_new(orders, row) : -1;
}

static void snapshot_handler(op_http_req_t *req, void *ud) {
  op_live_t *live = ud;
  op_auth_claims_t claims;
  if (authenticate(live, req, &claims) != 0)
    return;
  add_cors(live, req);
  int64_t since = 0;
  char buf[32];
  int qrc = op_http_req_query(req, "since", buf, sizeof buf);
  if (qrc != OP_ENOENT && (qrc < 0 || parse_position(buf, &since) != 0)) {
    op_http_respond_error(req, 400, "invalid_since", "since must be a position (an SSE id)");
    return;
  }
  json_t *orders = json_array();
  int64_t last = 0;
  int rc = op_events_snapshot(loop_state(live, req)->store, claims.tenant_id, since, add_order,
                              orders, &last);
  if (rc != 0) {
    json_decref(orders);
    op_http_respond_error(req, 503, "unavailable", "the order view cannot be read right now");
    return;
  }
  char marker[32];
  snprintf(marker, sizeof marker, "%lld", (long long)last);
  op_http_respond_json(req, 200,
                       json_pack("{s:s, s:s, s:o}", "tenant_id", claims.tenant_id, "last_event_id",
                                 marker, "orders", orders));
}

/* ---- lifecycle ---------------------------------------------------------- */

static int loop_init(op_http_loop_t *loop, void *ud) {
  op_live_t *live = ud;
  loop_state_t *ls = &live->loops[op_http_loop_index(loop)];
  char err[256];
  ls->store = op_store_open(live->cfg->database_url, err, sizeof err);
  if (ls->store == NULL) {
    op_log_error("notify", "HTTP loop %u: %s", op_http_loop_index(loop), err);
    return OP_EDBDOWN;
  }
  return op_hub_loop_start(live->hub, loop);
}

static void loop_done(op_http_loop_t *loop, void *ud) {
  op_live_t *live = ud;
  loop_state_t *ls = &live->loops[op_http_loop_index(loop)];
  op_hub_loop_stop(live->hub, loop);
  if (ls->store)
    op_store_close(ls->store);
  ls->store = NULL;
}

op_live_t *op_live_new(const op_config_t *cfg, op_http_router_t *router, char *errbuf,
                       size_t errlen) {
  op_live_t *live = calloc(1, sizeof *live);
  if (live == NULL)
    goto oom;
  live->cfg = cfg;
  live->ring = op_ring_set_new((size_t)cfg->sse_replay_buffer_size,
                               cfg->sse_replay_buffer_ttl_seconds * 1000);
  if (live->ring == NULL)
    goto oom;
  if (cfg->redis_url[0] &&
      (live->scale = op_scale_new(cfg, live->ring, frame_event, errbuf, errlen)) == NULL) {
    op_live_free(live);
    return NULL;
  }
  if (op_http_route(router, "GET", "/api/sse/notifications", sse_handler, live) ||
      op_http_route(router, "GET", "/events/stream", sse_handler, live) ||
      op_http_route(router, "GET", SNAPSHOT_URL, snapshot_handler, live))
    goto oom;
  for (size_t i = 0; i < op_auth_reasons_len; i++)
    auth_failures(op_auth_reasons[i]);
  live->m_replayed = op_counter("orderpulse_sse_replayed_events_total",
                                "Events sent again to reconnecting clients", NULL);
  live->m_resyncs =
      op_counter("orderpulse_sse_resyncs_total", "Reconnections answered with event: resync", NULL);
  return live;
oom:
  snprintf(errbuf, errlen, "out of memory");
  op_live_free(live);
  return NULL;
}

int op_live_attach(op_live_t *live, op_http_server_t *server) {
  unsigned n = op_http_server_loop_count(server);
  op_hub_opts_t opts = {.nloops = n,
                        .max_queued_bytes = (size_t)live->cfg->sse_client_queue_bytes,
                        .max_queued_frames = (size_t)live->cfg->sse_client_queue_frames,
                        .heartbeat_ms = live->cfg->sse_heartbeat_seconds * 1000};
  if (n > MAX_LOOPS || (live->hub = op_hub_new(&opts)) == NULL)
    return OP_ENOMEM;
  op_health_register("sse", 0);
  op_health_set("sse", OP_HEALTH_OK, "serving");
  op_health_set_number("sse", "connections", 0);
  op_http_server_set_loop_init(server, loop_init, live);
  op_http_server_set_loop_done(server, loop_done, live);
  return live->scale ? op_scale_start(live->scale, live->hub) : 0;
}

void op_live_free(op_live_t *live) {
  if (live == NULL)
    return;
  op_scale_free(live->scale); /* stops the bus thread, which feeds the hub */
  op_hub_free(live->hub);
  op_ring_set_free(live->ring);
  free(live);
}
