#include "notify/scale.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contracts/validate.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/metrics.h"
#include "notify/bus.h"
#include "notify/seq.h"

/* A frame waits this long for its predecessor before the log is asked: long
 * enough that the usual reordering (two instances publishing a few ms apart)
 * resolves itself without a database read. */
#define HOLD_MS 100
/* Past either bound a gap the log cannot fill (the database is down) becomes
 * a resync instead of held memory. */
#define MAX_WAIT_MS 30000
#define MAX_HELD 100000
#define FILL_CHUNK 256
#define CATCH_UP_RETRY_MS 500
#define SNAPSHOT_URL "/api/orders/snapshot"

struct op_scale_s {
  const op_config_t *cfg;
  op_ring_set_t *ring;
  op_hub_t *hub;
  op_scale_frame_fn frame;
  op_bus_t *bus;
  op_seq_t *seq;
  op_store_t *store; /* the bus thread's, opened on first use */
  int catch_up;      /* bus thread: the subscription was (re)established */
  int64_t catch_up_at_ms;
  op_metric_t *m_filled, *m_resyncs, *m_published;
};

/* ---- the receiving side (bus thread) -------------------------------------- */

static int64_t seq_last(const char *tenant, void *ud) {
  op_scale_t *sc = ud;
  int64_t pos = 0;
  return op_ring_last_position(sc->ring, tenant, &pos) == 0 ? pos : -1;
}

static void seq_deliver(const char *tenant, op_frame_t *frame, void *ud) {
  op_scale_t *sc = ud;
  /* OP_EEXIST: not newer than what the ring knows; every subscriber is past
   * it too (they start at the ring's or the log's newest position). */
  if (op_ring_append(sc->ring, tenant, frame) != OP_EEXIST)
    op_hub_publish(sc->hub, tenant, frame);
}

static void seq_resync(const char *tenant, void *ud) {
  op_scale_t *sc = ud;
  char data[160];
  snprintf(data, sizeof data, "{\"reason\":\"gap\",\"snapshot_url\":\"%s\"}", SNAPSHOT_URL);
  op_frame_t *frame = op_frame_event(0, "resync", data, strlen(data));
  if (frame) {
    op_hub_publish(sc->hub, tenant, frame);
    op_frame_release(frame);
  }
  op_counter_add(sc->m_resyncs, 1);
  op_log_warn("notify", "tenant %s: positions missing from the bus and the log; subscribers resync",
              tenant);
}

static op_store_t *bus_store(op_scale_t *sc) {
  if (sc->store == NULL) {
    char err[256];
    sc->store = op_store_open(sc->cfg->database_url, err, sizeof err);
    if (sc->store == NULL)
      op_log_warn("notify", "bus thread: cannot open the store: %s", err);
  }
  return sc->store;
}

typedef struct fill_s {
  op_scale_t *sc;
  const char *tenant;
  int64_t next, upto;
  int gap, failed;
} fill_t;

static int fill_entry(const op_log_entry_t *entry, void *arg) {
  fill_t *f = arg;
  if (entry->pos != f->next) {
    f->gap = 1; /* purged: the log does not hold the range any more */
    return 1;
  }
  op_order_event_t ev;
  op_contract_error_t err;
  if (op_contract_parse_order_event(entry->body, entry->body_len, &ev, &err) != 0) {
    f->gap = 1;
    return 1;
  }
  ev.trace_id = entry->trace_id;
  op_frame_t *frame = f->sc->frame(&ev, entry->pos);
  op_order_event_clear(&ev);
  if (frame == NULL) {
    f->failed = 1;
    return 1;
  }
  frame->created_ms = entry->created_at; /* ages in the ring from when it was stored */
  seq_deliver(f->tenant, frame, f->sc);
  op_frame_release(frame);
  op_counter_add(f->sc->m_filled, 1);
  f->next++;
  return f->next > f->upto;
}

/* See op_seq_ops_t.fill. On OP_ERANGE the ring jumps to upto, so that the
 * held frames after it continue a new run instead of waiting again. */
static int seq_fill(const char *tenant, int64_t after, int64_t upto, void *ud) {
  op_scale_t *sc = ud;
  op_store_t *store = bus_store(sc);
  if (store == NULL)
    return OP_EDBDOWN;
  if (upto == INT64_MAX) {
    int rc = op_events_last_position(store, tenant, &upto);
    if (rc)
      return rc;
  }
  if (upto <= after)
    return 0;
  int rc = 0;
  if (upto - after > sc->cfg->sse_replay_buffer_size) {
    rc = OP_ERANGE;
  } else {
    fill_t f = {sc, tenant, after + 1, upto, 0, 0};
    while (rc == 0 && f.next <= upto && !f.gap && !f.failed) {
      int64_t before = f.next;
      int64_t left = upto - f.next + 1;
      rc = op_events_read_log(store, tenant, f.next - 1,
                              (size_t)(left < FILL_CHUNK ? left : FILL_CHUNK), fill_entry, &f);
      if (rc == 1)
        rc = 0;
      if (rc == 0 && f.next == before)
        f.gap = 1; /* nothing there */
    }
    if (rc == 0 && f.gap)
      rc = OP_ERANGE;
    else if (rc == 0 && f.failed)
      rc = OP_ENOMEM;
  }
  if (rc == OP_ERANGE)
    op_ring_note_position(sc->ring, tenant, upto);
  return rc;
}

static void on_event(const char *tenant, op_frame_t *frame, void *ud) {
  op_scale_t *sc = ud;
  /* A tenant seen for the first time: the positions before this frame exist
   * (in the log), so the ring knows the tenant from here on and the sequencer
   * orders what follows. Delivering frames of an unknown tenant as they come
   * could put p+1 in the ring before p just as a first subscriber of the
   * tenant reads its start position from the log (p-1): it would miss p. */
  int64_t last;
  if (op_ring_last_position(sc->ring, tenant, &last) == OP_ENOENT)
    op_ring_note_position(sc->ring, tenant, frame->pos - 1);
  op_seq_offer(sc->seq, tenant, frame, op_now_ms());
}

/* A per-user frame (an in-app notification): to that user's subscribers of
 * this instance. No position, so no ordering: it may pass an order event. */
static void on_user(const char *tenant, const char *user, op_frame_t *frame, void *ud) {
  op_scale_t *sc = ud;
  if (sc->hub && op_hub_publish_user(sc->hub, tenant, user, frame) != 0)
    op_log_warn("notify", "a notification for %s not pushed: out of memory", user);
}

static void on_subscribed(void *ud) {
  op_scale_t *sc = ud;
  sc->catch_up = 1;
  sc->catch_up_at_ms = 0;
}

/* After a (re)subscription: what was published while no subscription
 * existed is in the log only. Every tenant this instance knows (a superset
 * of those with subscribers) is brought up to the log's newest position. */
static void catch_up(op_scale_t *sc, int64_t now_ms) {
  char **ids;
  size_t n;
  if (op_ring_tenants(sc->ring, &ids, &n) != 0)
    return;
  int failed = 0;
  for (size_t i = 0; i < n; i++) {
    if (!failed && op_seq_catch_up(sc->seq, ids[i], now_ms) != 0)
      failed = 1;
    free(ids[i]);
  }
  free(ids);
  sc->catch_up = failed;
  sc->catch_up_at_ms = now_ms + CATCH_UP_RETRY_MS;
  if (failed)
    op_log_warn("notify", "catching up after the Redis subscription failed; retrying");
}

static void on_tick(int64_t now_ms, void *ud) {
  op_scale_t *sc = ud;
  if (sc->catch_up && now_ms >= sc->catch_up_at_ms)
    catch_up(sc, now_ms);
  op_seq_tick(sc->seq, now_ms);
}

/* ---- the publishing side (consumer thread) -------------------------------- */

/*
 * The position a duplicate was stored at, from the tenant log (0: not found).
 * Only duplicates are looked up, i.e. on redelivery. tenant_log has no index
 * on event_id, so the search is bounded to the tenant's newest
 * SSE_REPLAY_BUFFER_SIZE positions (a range of its primary key): an older
 * event is outside every replay window and subscribers that lack it resync
 * anyway; not publishing it loses nothing more.
 */
static int stored_position(op_scale_t *sc, op_store_t *store, const op_order_event_t *ev,
                           int64_t *pos) {
  char window[24];
  snprintf(window, sizeof window, "%lld", (long long)sc->cfg->sse_replay_buffer_size);
  const char *params[] = {ev->tenant_id, ev->event_id, window};
  op_rows_t *rows = NULL;
  int rc = op_store_exec(store,
                         "SELECT pos FROM tenant_log WHERE tenant_id = $1 AND event_id = $2 "
                         "AND pos > (SELECT last_pos FROM tenant_seq WHERE tenant_id = $1) - $3",
                         3, params, &rows);
  *pos = 0;
  if (rc == 0 && op_rows_count(rows) > 0)
    rc = op_rows_get_int64(rows, 0, 0, pos);
  op_rows_free(rows);
  return rc;
}

int op_scale_publish(op_scale_t *sc, op_store_t *store, const op_order_event_t *evs,
                     const op_event_result_t *results, size_t n) {
  int rc = 0;
  size_t sent = 0;
  for (size_t i = 0; i < n && rc == 0; i++) {
    int64_t pos = results[i].position;
    if (results[i].duplicate && (rc = stored_position(sc, store, &evs[i], &pos)) != 0)
      break;
    if (pos <= 0)
      continue;
    op_frame_t *frame = sc->frame(&evs[i], pos);
    if (frame == NULL) {
      rc = OP_ENOMEM;
      break;
    }
    rc = op_bus_publish(sc->bus, evs[i].tenant_id, frame);
    if (rc == OP_EINVAL) {
      op_log_error("notify", "event %s: tenant id cannot travel on the bus", evs[i].event_id);
      rc = 0;
    } else {
      sent += rc == 0;
    }
    op_frame_release(frame);
  }
  int frc = op_bus_flush(sc->bus);
  rc = rc ? rc : frc;
  if (rc == 0)
    op_counter_add(sc->m_published, sent);
  else
    op_log_warn("notify", "publishing %zu events to Redis failed (%s); the batch will be retried",
                n, op_strerror(rc));
  return rc;
}

int op_scale_publish_user(op_scale_t *sc, const char *tenant, const char *user,
                          const op_frame_t *frame) {
  return op_bus_publish_user(sc->bus, tenant, user, frame);
}

int op_scale_flush(op_scale_t *sc) {
  return op_bus_flush(sc->bus);
}

/* ---- lifecycle -------------------------------------------------------------- */

op_scale_t *op_scale_new(const op_config_t *cfg, op_ring_set_t *ring, op_scale_frame_fn frame,
                         char *errbuf, size_t errlen) {
  op_scale_t *sc = calloc(1, sizeof *sc);
  if (sc == NULL) {
    snprintf(errbuf, errlen, "out of memory");
    return NULL;
  }
  sc->cfg = cfg;
  sc->ring = ring;
  sc->frame = frame;
  op_seq_ops_t ops = {seq_last, seq_deliver, seq_fill, seq_resync, sc};
  sc->seq = op_seq_new(&ops, HOLD_MS, MAX_WAIT_MS, MAX_HELD);
  op_bus_sink_t sink = {on_event, on_user, on_subscribed, on_tick, sc};
  if (sc->seq == NULL || (sc->bus = op_bus_new(cfg->redis_url, &sink, errbuf, errlen)) == NULL) {
    if (sc->seq == NULL)
      snprintf(errbuf, errlen, "out of memory");
    op_scale_free(sc);
    return NULL;
  }
  sc->m_filled = op_counter("orderpulse_sse_bus_filled_total",
                            "Events read from the tenant log to close a gap in the bus", NULL);
  sc->m_resyncs =
      op_counter("orderpulse_sse_bus_resyncs_total",
                 "Tenants told to resync: a gap neither the bus nor the log filled", NULL);
  sc->m_published =
      op_counter("orderpulse_sse_bus_published_total", "Event frames published to Redis", NULL);
  return sc;
}

int op_scale_start(op_scale_t *sc, op_hub_t *hub) {
  sc->hub = hub;
  return op_bus_start(sc->bus);
}

void op_scale_free(op_scale_t *sc) {
  if (sc == NULL)
    return;
  op_bus_free(sc->bus); /* joins the bus thread first */
  op_seq_free(sc->seq);
  if (sc->store)
    op_store_close(sc->store);
  free(sc);
}
