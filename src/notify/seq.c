#include "notify/seq.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/strmap.h"

typedef struct pending_s {
  char *tenant;        /* the map's key lives as long as the map; a copy for calls */
  op_frame_t **frames; /* held, ascending positions, no duplicates */
  size_t n, cap;
  int64_t due_ms;   /* resolve the gap at this time; 0: nothing held */
  int64_t since_ms; /* holding since (reset by progress) */
} pending_t;

struct op_seq_s {
  op_seq_ops_t ops;
  int64_t hold_ms, max_wait_ms;
  size_t max_held;
  size_t held;
  op_strmap_t tenants; /* tenant -> pending_t * (owned); only tenants that held frames */
};

op_seq_t *op_seq_new(const op_seq_ops_t *ops, int64_t hold_ms, int64_t max_wait_ms,
                     size_t max_held) {
  op_seq_t *seq = calloc(1, sizeof *seq);
  if (seq == NULL)
    return NULL;
  seq->ops = *ops;
  seq->hold_ms = hold_ms;
  seq->max_wait_ms = max_wait_ms;
  seq->max_held = max_held;
  return seq;
}

static void free_pending(const char *key, void *value, void *ud) {
  pending_t *p = value;
  (void)key;
  (void)ud;
  for (size_t i = 0; i < p->n; i++)
    op_frame_release(p->frames[i]);
  free(p->frames);
  free(p->tenant);
  free(p);
}

void op_seq_free(op_seq_t *seq) {
  if (seq == NULL)
    return;
  op_strmap_each(&seq->tenants, free_pending, NULL);
  op_strmap_free(&seq->tenants);
  free(seq);
}

size_t op_seq_held(const op_seq_t *seq) {
  return seq->held;
}

/* Delivers the held frames that follow the tenant's last position, drops
 * those at or below it. Returns 1 when anything was delivered. */
static int drain(op_seq_t *seq, pending_t *p, int64_t now_ms) {
  size_t i = 0;
  int progress = 0;
  int64_t last = seq->ops.last(p->tenant, seq->ops.ud);
  for (; i < p->n; i++) {
    op_frame_t *f = p->frames[i];
    if (last >= 0 && f->pos > last + 1)
      break;
    if (last < 0 || f->pos == last + 1) {
      seq->ops.deliver(p->tenant, f, seq->ops.ud);
      last = f->pos;
      progress = 1;
    }
    op_frame_release(f);
  }
  memmove(p->frames, p->frames + i, (p->n - i) * sizeof *p->frames);
  p->n -= i;
  seq->held -= i;
  if (p->n == 0)
    p->due_ms = 0;
  else if (progress)
    p->since_ms = now_ms, p->due_ms = now_ms + seq->hold_ms;
  return progress;
}

/* Gives up on the gap: resync, then the held frames as a new run. */
static void skip_gap(op_seq_t *seq, pending_t *p) {
  seq->ops.resync(p->tenant, seq->ops.ud);
  for (size_t i = 0; i < p->n; i++) {
    seq->ops.deliver(p->tenant, p->frames[i], seq->ops.ud);
    op_frame_release(p->frames[i]);
  }
  seq->held -= p->n;
  p->n = 0;
  p->due_ms = 0;
}

static void resolve(op_seq_t *seq, pending_t *p, int64_t now_ms) {
  int64_t last = seq->ops.last(p->tenant, seq->ops.ud);
  int rc = 0;
  if (last >= 0 && p->n && p->frames[0]->pos > last + 1)
    rc = seq->ops.fill(p->tenant, last, p->frames[0]->pos - 1, seq->ops.ud);
  if (rc == 0) {
    drain(seq, p, now_ms);
    /* Filled yet still a gap: the log lacks it after all. */
    if (p->n && seq->ops.last(p->tenant, seq->ops.ud) + 1 < p->frames[0]->pos)
      rc = OP_ERANGE;
  }
  if (rc == OP_ERANGE ||
      (rc != 0 && (p->n > seq->max_held || now_ms - p->since_ms >= seq->max_wait_ms))) {
    skip_gap(seq, p);
    return;
  }
  if (p->n)
    p->due_ms = now_ms + seq->hold_ms;
}

static pending_t *pending_of(op_seq_t *seq, const char *tenant, int create) {
  pending_t *p = op_strmap_get(&seq->tenants, tenant);
  if (p || !create)
    return p;
  p = calloc(1, sizeof *p);
  if (p == NULL || (p->tenant = strdup(tenant)) == NULL ||
      op_strmap_put(&seq->tenants, tenant, p) != 0) {
    if (p)
      free(p->tenant);
    free(p);
    return NULL;
  }
  return p;
}

/* Inserts frame in p's ascending list (a position already held is ignored). */
static int hold(op_seq_t *seq, pending_t *p, op_frame_t *frame) {
  size_t i = p->n;
  while (i > 0 && p->frames[i - 1]->pos > frame->pos)
    i--;
  if (i > 0 && p->frames[i - 1]->pos == frame->pos)
    return 0;
  if (p->n == p->cap) {
    size_t cap = p->cap ? p->cap * 2 : 16;
    op_frame_t **grown = realloc(p->frames, cap * sizeof *grown);
    if (grown == NULL)
      return OP_ENOMEM;
    p->frames = grown;
    p->cap = cap;
  }
  memmove(p->frames + i + 1, p->frames + i, (p->n - i) * sizeof *p->frames);
  p->frames[i] = op_frame_reserve(frame);
  p->n++;
  seq->held++;
  return 0;
}

void op_seq_offer(op_seq_t *seq, const char *tenant, op_frame_t *frame, int64_t now_ms) {
  pending_t *p = pending_of(seq, tenant, 0);
  int64_t last = seq->ops.last(tenant, seq->ops.ud);
  if ((p == NULL || p->n == 0) && (last < 0 || frame->pos == last + 1)) {
    seq->ops.deliver(tenant, frame, seq->ops.ud);
    return;
  }
  if (last >= 0 && frame->pos <= last)
    return; /* delivered already (a re-publish, or filled from the log) */
  p = p ? p : pending_of(seq, tenant, 1);
  if (p == NULL || hold(seq, p, frame) != 0) {
    /* Out of memory: deliver rather than lose it; the gap becomes a resync. */
    if (p)
      skip_gap(seq, p);
    seq->ops.resync(tenant, seq->ops.ud);
    seq->ops.deliver(tenant, frame, seq->ops.ud);
    return;
  }
  if (p->due_ms == 0) {
    p->since_ms = now_ms;
    p->due_ms = now_ms + seq->hold_ms;
  }
  if (drain(seq, p, now_ms) == 0 && p->n > seq->max_held)
    resolve(seq, p, now_ms);
}

typedef struct tick_s {
  op_seq_t *seq;
  int64_t now_ms;
} tick_t;

static void tick_one(const char *key, void *value, void *ud) {
  tick_t *t = ud;
  pending_t *p = value;
  (void)key;
  if (p->n && p->due_ms && t->now_ms >= p->due_ms)
    resolve(t->seq, p, t->now_ms);
}

void op_seq_tick(op_seq_t *seq, int64_t now_ms) {
  if (seq->held == 0)
    return;
  tick_t t = {seq, now_ms};
  op_strmap_each(&seq->tenants, tick_one, &t);
}

int op_seq_catch_up(op_seq_t *seq, const char *tenant, int64_t now_ms) {
  int64_t last = seq->ops.last(tenant, seq->ops.ud);
  if (last < 0)
    return 0;
  int rc = seq->ops.fill(tenant, last, INT64_MAX, seq->ops.ud);
  pending_t *p = pending_of(seq, tenant, 0);
  if (rc == OP_ERANGE) {
    seq->ops.resync(tenant, seq->ops.ud);
    if (p)
      skip_gap(seq, p);
    return 0;
  }
  if (p)
    drain(seq, p, now_ms);
  return rc;
}
