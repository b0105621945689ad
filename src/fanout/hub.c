#include "fanout/hub.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/strmap.h"

#define MAX_LOOPS 64

typedef struct tenant_s {
  op_hub_sub_t *subs[MAX_LOOPS]; /* per loop; each list touched by its loop only */
} tenant_t;

typedef struct item_s {
  tenant_t *tenant;
  op_frame_t *frame;
  char *user_id; /* NULL: every subscriber of the tenant; else only this user's */
} item_t;

typedef struct hub_loop_s {
  op_hub_t *hub;
  op_http_loop_t *loop;
  uv_async_t async;
  int started;
  pthread_mutex_t lock; /* guards inbox */
  item_t *inbox, *work;
  size_t ninbox, capinbox, capwork;
  op_hub_sub_t *all; /* every subscriber of this loop, for heartbeats */
  uint64_t last_heartbeat_ms;
  /* counters summed locally and added to the shared metrics once per drain */
  uint64_t frames, bytes;
} hub_loop_t;

struct op_hub_sub_s {
  op_hub_sub_t *next, *prev;         /* tenant list on this loop */
  op_hub_sub_t *all_next, *all_prev; /* loop list */
  hub_loop_t *hl;
  tenant_t *tenant;
  op_http_conn_t *conn;
  char *user_id;
  int64_t last_pos;
  int closing;
  int held;
  op_hub_drain_cb drain_cb;
  void *drain_ud;
  void *data;
  /* frames written and not yet done, in write order (done_cb comes in order) */
  op_frame_t **fifo;
  uint32_t head, count, cap;
};

struct op_hub_s {
  op_hub_opts_t opts;
  pthread_mutex_t lock; /* guards tenants */
  op_strmap_t tenants;
  hub_loop_t loops[MAX_LOOPS];
  atomic_llong nsubs;
  op_frame_t *heartbeat;
  op_metric_t *m_frames, *m_bytes, *m_drops, *m_delivery, *m_connections;
};

op_hub_t *op_hub_new(const op_hub_opts_t *opts) {
  if (opts->nloops == 0 || opts->nloops > MAX_LOOPS)
    return NULL;
  op_hub_t *hub = calloc(1, sizeof *hub);
  if (hub == NULL || (hub->heartbeat = op_frame_comment("heartbeat")) == NULL) {
    free(hub);
    return NULL;
  }
  hub->opts = *opts;
  pthread_mutex_init(&hub->lock, NULL);
  for (unsigned i = 0; i < opts->nloops; i++) {
    hub->loops[i].hub = hub;
    pthread_mutex_init(&hub->loops[i].lock, NULL);
  }
  hub->m_frames = op_counter("orderpulse_sse_frames_sent_total", "SSE frames written", NULL);
  hub->m_bytes = op_counter("orderpulse_sse_bytes_sent_total", "SSE bytes written", NULL);
  hub->m_drops = op_counter("orderpulse_sse_slow_client_drops_total",
                            "SSE clients closed for falling behind", NULL);
  hub->m_delivery =
      op_histogram("orderpulse_delivery_seconds", "Event timestamp to SSE frame written", NULL,
                   op_latency_buckets, op_latency_buckets_len);
  hub->m_connections = op_gauge("orderpulse_sse_connections", "Open SSE connections", NULL);
  return hub;
}

static void free_tenant(const char *key, void *value, void *ud) {
  free(value);
}

void op_hub_free(op_hub_t *hub) {
  if (hub == NULL)
    return;
  op_strmap_each(&hub->tenants, free_tenant, NULL);
  op_strmap_free(&hub->tenants);
  for (unsigned i = 0; i < hub->opts.nloops; i++) {
    free(hub->loops[i].inbox);
    free(hub->loops[i].work);
    pthread_mutex_destroy(&hub->loops[i].lock);
  }
  op_frame_release(hub->heartbeat);
  pthread_mutex_destroy(&hub->lock);
  free(hub);
}

static tenant_t *get_tenant(op_hub_t *hub, const char *tenant_id) {
  pthread_mutex_lock(&hub->lock);
  tenant_t *t = op_strmap_get(&hub->tenants, tenant_id);
  if (t == NULL && (t = calloc(1, sizeof *t)) != NULL &&
      op_strmap_put(&hub->tenants, tenant_id, t) != 0) {
    free(t);
    t = NULL;
  }
  pthread_mutex_unlock(&hub->lock);
  return t;
}

/* ---- writing to one subscriber (its loop) ----------------------------- */

static void write_done(void *ud, int status) {
  op_hub_sub_t *sub = ud;
  op_frame_t *frame = sub->fifo[sub->head];
  sub->head = (sub->head + 1) % sub->cap;
  sub->count--;
  op_frame_release(frame);
  if (sub->count == 0 && sub->drain_cb && status == 0 && !sub->closing) {
    op_hub_drain_cb cb = sub->drain_cb;
    sub->drain_cb = NULL;
    cb(sub, sub->drain_ud);
  }
}

static int fifo_push(op_hub_sub_t *sub, op_frame_t *frame) {
  if (sub->count == sub->cap) {
    uint32_t cap = sub->cap ? sub->cap * 2 : 4;
    op_frame_t **fifo = malloc(sizeof *fifo * cap);
    if (fifo == NULL)
      return OP_ENOMEM;
    for (uint32_t i = 0; i < sub->count; i++)
      fifo[i] = sub->fifo[(sub->head + i) % sub->cap];
    free(sub->fifo);
    sub->fifo = fifo;
    sub->head = 0;
    sub->cap = cap;
  }
  sub->fifo[(sub->head + sub->count) % sub->cap] = frame;
  sub->count++;
  return 0;
}

static void drop_slow(op_hub_sub_t *sub) {
  sub->closing = 1;
  op_counter_add(sub->hl->hub->m_drops, 1);
  op_http_stream_close(sub->conn);
}

/* Writes one frame; the common path of live delivery, replay and heartbeats. */
static int send_frame(op_hub_sub_t *sub, op_frame_t *frame) {
  if (sub->closing)
    return OP_ECLOSED;
  op_hub_t *hub = sub->hl->hub;
  if (sub->count >= hub->opts.max_queued_frames ||
      op_http_stream_queued_bytes(sub->conn) > hub->opts.max_queued_bytes) {
    drop_slow(sub);
    return OP_EFULL;
  }
  if (fifo_push(sub, frame) != 0) {
    drop_slow(sub);
    return OP_ENOMEM;
  }
  op_frame_reserve(frame);
  uv_buf_t buf = uv_buf_init(frame->data, (unsigned)frame->len);
  int rc = op_http_stream_write(sub->conn, &buf, 1, write_done, sub);
  if (rc != 0) {
    /* not queued: undo the push */
    sub->count--;
    op_frame_release(frame);
    sub->closing = 1;
    return OP_ECLOSED;
  }
  if (frame->pos > 0)
    sub->last_pos = frame->pos;
  sub->hl->frames++;
  sub->hl->bytes += frame->len;
  return 0;
}

int op_hub_send(op_hub_sub_t *sub, op_frame_t *frame) {
  if (frame->pos > 0 && frame->pos <= sub->last_pos)
    return 0;
  int rc = send_frame(sub, frame);
  op_counter_add(sub->hl->hub->m_frames, sub->hl->frames);
  op_counter_add(sub->hl->hub->m_bytes, sub->hl->bytes);
  sub->hl->frames = sub->hl->bytes = 0;
  return rc;
}

void op_hub_sub_set_position(op_hub_sub_t *sub, int64_t pos) {
  sub->last_pos = pos;
}

void op_hub_sub_hold(op_hub_sub_t *sub, int hold) {
  sub->held = hold;
}

void op_hub_sub_on_drain(op_hub_sub_t *sub, op_hub_drain_cb cb, void *ud) {
  sub->drain_cb = cb;
  sub->drain_ud = ud;
}

void op_hub_sub_set_data(op_hub_sub_t *sub, void *data) {
  sub->data = data;
}

void *op_hub_sub_data(const op_hub_sub_t *sub) {
  return sub->data;
}

op_hub_t *op_hub_sub_hub(const op_hub_sub_t *sub) {
  return sub->hl->hub;
}

int64_t op_hub_sub_position(const op_hub_sub_t *sub) {
  return sub->last_pos;
}

/* ---- the loop side ---------------------------------------------------- */

static void flush_counters(hub_loop_t *hl) {
  if (hl->frames) {
    op_counter_add(hl->hub->m_frames, hl->frames);
    op_counter_add(hl->hub->m_bytes, hl->bytes);
    hl->frames = hl->bytes = 0;
  }
}

/* Drains the inbox: every frame to every subscriber of its tenant here. */
static void on_async(uv_async_t *async) {
  hub_loop_t *hl = async->data;
  unsigned idx = op_http_loop_index(hl->loop);
  pthread_mutex_lock(&hl->lock);
  item_t *items = hl->inbox;
  size_t n = hl->ninbox, cap = hl->capinbox;
  hl->inbox = hl->work;
  hl->capinbox = hl->capwork;
  hl->ninbox = 0;
  hl->work = items;
  hl->capwork = cap;
  pthread_mutex_unlock(&hl->lock);

  double now_s = (double)op_now_ms() / 1000.0;
  for (size_t i = 0; i < n; i++) {
    op_frame_t *frame = items[i].frame;
    const char *user = items[i].user_id;
    int delivered = 0;
    for (op_hub_sub_t *sub = items[i].tenant->subs[idx], *next; sub; sub = next) {
      next = sub->next; /* a slow subscriber may be closed, not freed, here */
      if (user) {
        /* A user's frame has no position, so it may go between replay
         * frames: a held subscriber gets it too. */
        if (sub->user_id && strcmp(sub->user_id, user) == 0)
          send_frame(sub, frame);
        continue;
      }
      if (sub->held || (frame->pos > 0 && frame->pos <= sub->last_pos))
        continue;
      delivered += send_frame(sub, frame) == 0;
    }
    free(items[i].user_id);
    if (delivered && frame->event_ms > 0) {
      double latency = now_s - (double)frame->event_ms / 1000.0;
      op_histogram_observe(hl->hub->m_delivery, latency > 0 ? latency : 0);
    }
    op_frame_release(frame);
  }
  flush_counters(hl);
}

static void on_tick(op_http_loop_t *loop, uint64_t now_ms, void *ud) {
  hub_loop_t *hl = ud;
  if (now_ms - hl->last_heartbeat_ms < (uint64_t)hl->hub->opts.heartbeat_ms)
    return;
  hl->last_heartbeat_ms = now_ms;
  for (op_hub_sub_t *sub = hl->all, *next; sub; sub = next) {
    next = sub->all_next;
    send_frame(sub, hl->hub->heartbeat);
  }
  flush_counters(hl);
}

int op_hub_loop_start(op_hub_t *hub, op_http_loop_t *loop) {
  hub_loop_t *hl = &hub->loops[op_http_loop_index(loop)];
  hl->loop = loop;
  hl->async.data = hl;
  int rc = uv_async_init(op_http_loop_uv(loop), &hl->async, on_async);
  if (rc != 0)
    return OP_EIO;
  hl->last_heartbeat_ms = uv_now(op_http_loop_uv(loop));
  if (op_http_loop_add_tick(loop, on_tick, hl) != 0) {
    uv_close((uv_handle_t *)&hl->async, NULL);
    return OP_ENOMEM;
  }
  pthread_mutex_lock(&hl->lock);
  hl->started = 1;
  pthread_mutex_unlock(&hl->lock);
  return 0;
}

void op_hub_loop_stop(op_hub_t *hub, op_http_loop_t *loop) {
  hub_loop_t *hl = &hub->loops[op_http_loop_index(loop)];
  pthread_mutex_lock(&hl->lock);
  hl->started = 0;
  for (size_t i = 0; i < hl->ninbox; i++) {
    op_frame_release(hl->inbox[i].frame);
    free(hl->inbox[i].user_id);
  }
  hl->ninbox = 0;
  pthread_mutex_unlock(&hl->lock);
  op_http_loop_remove_tick(loop, on_tick, hl);
  uv_close((uv_handle_t *)&hl->async, NULL);
}

static int publish(op_hub_t *hub, const char *tenant_id, const char *user_id, op_frame_t *frame) {
  tenant_t *tenant = get_tenant(hub, tenant_id);
  if (tenant == NULL)
    return OP_ENOMEM;
  int rc = 0;
  for (unsigned i = 0; i < hub->opts.nloops; i++) {
    hub_loop_t *hl = &hub->loops[i];
    pthread_mutex_lock(&hl->lock);
    if (!hl->started) {
      pthread_mutex_unlock(&hl->lock);
      continue;
    }
    if (hl->ninbox == hl->capinbox) {
      size_t cap = hl->capinbox ? hl->capinbox * 2 : 64;
      item_t *grown = realloc(hl->inbox, cap * sizeof *grown);
      if (grown == NULL) {
        pthread_mutex_unlock(&hl->lock);
        rc = OP_ENOMEM;
        continue;
      }
      hl->inbox = grown;
      hl->capinbox = cap;
    }
    char *user = NULL;
    if (user_id && (user = strdup(user_id)) == NULL) {
      pthread_mutex_unlock(&hl->lock);
      rc = OP_ENOMEM;
      continue;
    }
    op_frame_reserve(frame);
    hl->inbox[hl->ninbox++] = (item_t){tenant, frame, user};
    pthread_mutex_unlock(&hl->lock);
    uv_async_send(&hl->async); /* coalesces: one wake-up drains many frames */
  }
  return rc;
}

int op_hub_publish(op_hub_t *hub, const char *tenant_id, op_frame_t *frame) {
  return publish(hub, tenant_id, NULL, frame);
}

int op_hub_publish_user(op_hub_t *hub, const char *tenant_id, const char *user_id,
                        op_frame_t *frame) {
  if (user_id == NULL || frame->pos != 0)
    return OP_EINVAL;
  return publish(hub, tenant_id, user_id, frame);
}

op_hub_sub_t *op_hub_subscribe(op_hub_t *hub, op_http_conn_t *conn, const char *tenant_id,
                               const char *user_id, int64_t last_pos) {
  tenant_t *tenant = get_tenant(hub, tenant_id);
  op_hub_sub_t *sub = tenant ? calloc(1, sizeof *sub) : NULL;
  if (sub == NULL)
    return NULL;
  if (user_id && (sub->user_id = strdup(user_id)) == NULL) {
    free(sub);
    return NULL;
  }
  hub_loop_t *hl = &hub->loops[op_http_loop_index(op_http_conn_loop(conn))];
  sub->hl = hl;
  sub->tenant = tenant;
  sub->conn = conn;
  sub->last_pos = last_pos;
  unsigned idx = op_http_loop_index(hl->loop);
  sub->next = tenant->subs[idx];
  if (sub->next)
    sub->next->prev = sub;
  tenant->subs[idx] = sub;
  sub->all_next = hl->all;
  if (sub->all_next)
    sub->all_next->all_prev = sub;
  hl->all = sub;
  atomic_fetch_add(&hub->nsubs, 1);
  op_gauge_add(hub->m_connections, 1);
  return sub;
}

void op_hub_unsubscribe(op_hub_sub_t *sub) {
  hub_loop_t *hl = sub->hl;
  unsigned idx = op_http_loop_index(hl->loop);
  if (sub->prev)
    sub->prev->next = sub->next;
  else
    sub->tenant->subs[idx] = sub->next;
  if (sub->next)
    sub->next->prev = sub->prev;
  if (sub->all_prev)
    sub->all_prev->all_next = sub->all_next;
  else
    hl->all = sub->all_next;
  if (sub->all_next)
    sub->all_next->all_prev = sub->all_prev;
  /* The server calls every write's done callback before on_close, so the
   * fifo is empty here; release defensively all the same. */
  while (sub->count)
    write_done(sub, OP_ECLOSED);
  atomic_fetch_sub(&hl->hub->nsubs, 1);
  op_gauge_add(hl->hub->m_connections, -1);
  free(sub->fifo);
  free(sub->user_id);
  free(sub);
}

int64_t op_hub_count(const op_hub_t *hub) {
  return atomic_load(&((op_hub_t *)hub)->nsubs);
}
