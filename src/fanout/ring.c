/*
 * The replay window: a table of tenants, each with a circular array of frame
 * pointers.
 *
 * Tenants live in STRIPES string maps (core/strmap.h), each behind its own
 * mutex, chosen by a hash of the tenant id. The mutex guards the stripe's map
 * and the windows of its tenants. Appends of one tenant and reads of others
 * in the same stripe wait only for short critical sections: a read copies
 * and reserves at most max_out pointers and releases no frame; an append
 * releases at most one frame except when a gap or expiry drops a run.
 * Striping instead of a lock per tenant keeps the lookup and the window under
 * one lock, with no table-wide lock on the path of every call.
 *
 * Tenants are never removed before op_ring_set_free, so a tenant_t found under
 * its stripe's lock stays valid; growing a map moves pointers, not tenants.
 */
#include "fanout/ring.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/strmap.h"

#define STRIPE_BITS 6
#define STRIPES (1u << STRIPE_BITS)
#define MIN_SLOTS 8 /* first window allocation, in frames */

typedef struct tenant_s {
  int64_t last_pos;    /* newest position known; 0 when none */
  op_frame_t **frames; /* circular: count frames from head, cap slots */
  size_t cap;
  size_t head;
  size_t count;
} tenant_t;

typedef struct stripe_s {
  pthread_mutex_t lock;
  op_strmap_t tenants; /* tenant id -> tenant_t * (owned) */
} stripe_t;

struct op_ring_set_s {
  size_t max_frames;
  int64_t ttl_ms;
  stripe_t stripes[STRIPES];
};

/*
 * The stripe of a tenant id: the top bits of its FNV-1a hash. The map inside
 * indexes by the low bits of a hash of the same family, whose low bits depend
 * only on the low bits of the key's bytes; striping by low bits as well would
 * give every key of a stripe the same low slot bits and crowd the map.
 */
static stripe_t *stripe_of(op_ring_set_t *set, const char *id) {
  uint64_t h = 14695981039346656037ull;
  for (const unsigned char *p = (const unsigned char *)id; *p; p++)
    h = (h ^ *p) * 1099511628211ull;
  return &set->stripes[h >> (64 - STRIPE_BITS)];
}

/* Finds or adds a tenant (with no position). Returns NULL when out of memory
 * (nothing added). Runs with the stripe's lock held. */
static tenant_t *find_or_add(stripe_t *stripe, const char *id, int *added) {
  tenant_t *tenant = op_strmap_get(&stripe->tenants, id);
  *added = 0;
  if (tenant)
    return tenant;
  tenant = calloc(1, sizeof *tenant);
  if (tenant == NULL)
    return NULL;
  if (op_strmap_put(&stripe->tenants, id, tenant) != 0) {
    free(tenant);
    return NULL;
  }
  *added = 1;
  return tenant;
}

/* The i-th oldest frame of the window. */
static op_frame_t *frame_at(const tenant_t *tenant, size_t i) {
  return tenant->frames[(tenant->head + i) % tenant->cap];
}

static void drop_oldest(tenant_t *tenant) {
  op_frame_release(tenant->frames[tenant->head]);
  tenant->frames[tenant->head] = NULL;
  tenant->head = (tenant->head + 1) % tenant->cap;
  tenant->count--;
}

static size_t drop_all(tenant_t *tenant) {
  size_t n = tenant->count;
  while (tenant->count)
    drop_oldest(tenant);
  tenant->head = 0;
  return n;
}

/* True when a frame created at created_ms is more than ttl_ms old at now_ms.
 * A frame from the future (a clock stepped back) is not expired. Computed in
 * unsigned arithmetic, exact for any int64 pair. */
static int expired(int64_t created_ms, int64_t now_ms, int64_t ttl_ms) {
  return now_ms > created_ms && (uint64_t)now_ms - (uint64_t)created_ms > (uint64_t)ttl_ms;
}

/* Releases the expired frames at the old end of the window. Frames are built
 * in position order, so created_ms does not decrease along the window and
 * the expired ones come first. Returns how many were released. */
static size_t prune(tenant_t *tenant, int64_t now_ms, int64_t ttl_ms) {
  size_t n = 0;
  while (tenant->count && expired(frame_at(tenant, 0)->created_ms, now_ms, ttl_ms)) {
    drop_oldest(tenant);
    n++;
  }
  return n;
}

/* Doubles the window's slots, up to max_frames, keeping the frames in order.
 * Returns 0 or OP_ENOMEM (the window unchanged). */
static int grow(tenant_t *tenant, size_t max_frames) {
  size_t cap = tenant->cap ? tenant->cap * 2 : MIN_SLOTS;
  if (cap > max_frames || cap < tenant->cap)
    cap = max_frames;
  op_frame_t **frames = malloc(cap * sizeof *frames);
  if (frames == NULL)
    return OP_ENOMEM;
  for (size_t i = 0; i < tenant->count; i++)
    frames[i] = frame_at(tenant, i);
  free(tenant->frames);
  tenant->frames = frames;
  tenant->cap = cap;
  tenant->head = 0;
  return 0;
}

op_ring_set_t *op_ring_set_new(size_t max_frames, int64_t ttl_ms) {
  if (ttl_ms < 0)
    return NULL;
  op_ring_set_t *set = calloc(1, sizeof *set);
  if (set == NULL)
    return NULL;
  set->max_frames = max_frames;
  set->ttl_ms = ttl_ms;
  for (size_t i = 0; i < STRIPES; i++) {
    if (pthread_mutex_init(&set->stripes[i].lock, NULL) != 0) {
      while (i--)
        pthread_mutex_destroy(&set->stripes[i].lock);
      free(set);
      return NULL;
    }
  }
  return set;
}

static void free_tenant(const char *id, void *value, void *ud) {
  tenant_t *tenant = value;
  drop_all(tenant);
  free(tenant->frames);
  free(tenant);
}

void op_ring_set_free(op_ring_set_t *set) {
  if (set == NULL)
    return;
  for (size_t i = 0; i < STRIPES; i++) {
    stripe_t *stripe = &set->stripes[i];
    op_strmap_each(&stripe->tenants, free_tenant, NULL);
    op_strmap_free(&stripe->tenants);
    pthread_mutex_destroy(&stripe->lock);
  }
  free(set);
}

int op_ring_append(op_ring_set_t *set, const char *tenant_id, op_frame_t *frame) {
  if (set == NULL || tenant_id == NULL || tenant_id[0] == '\0' || frame == NULL || frame->pos <= 0)
    return OP_EINVAL;
  stripe_t *stripe = stripe_of(set, tenant_id);
  int added;
  int rc = 0;

  pthread_mutex_lock(&stripe->lock);
  tenant_t *tenant = find_or_add(stripe, tenant_id, &added);
  if (tenant == NULL) {
    rc = OP_ENOMEM;
    goto done;
  }
  if (frame->pos <= tenant->last_pos) {
    rc = OP_EEXIST;
    goto done;
  }
  /* A skipped position ends the run: no replay can cross the gap, so the
   * frames before it would never be read again. */
  if (frame->pos != tenant->last_pos + 1)
    drop_all(tenant);
  tenant->last_pos = frame->pos;
  if (set->max_frames == 0)
    goto done;
  prune(tenant, frame->created_ms, set->ttl_ms);
  if (tenant->count == tenant->cap) {
    /* Full: grow while below max_frames; at max_frames, or when the slots
     * cannot grow, the oldest frame makes room. */
    if (tenant->cap == set->max_frames || grow(tenant, set->max_frames) != 0) {
      if (tenant->count == 0) {
        rc = OP_ENOMEM; /* last_pos advanced: reads fall back to the log */
        goto done;
      }
      drop_oldest(tenant);
    }
  }
  tenant->frames[(tenant->head + tenant->count) % tenant->cap] = op_frame_reserve(frame);
  tenant->count++;
done:
  pthread_mutex_unlock(&stripe->lock);
  return rc;
}

int op_ring_read(op_ring_set_t *set, const char *tenant_id, int64_t after_pos, int64_t now_ms,
                 op_frame_t **out, size_t max_out, size_t *nout, int64_t *last_pos) {
  if (nout)
    *nout = 0;
  if (last_pos)
    *last_pos = 0;
  if (set == NULL || tenant_id == NULL || nout == NULL || last_pos == NULL ||
      (out == NULL && max_out > 0) || after_pos < 0)
    return OP_EINVAL;
  stripe_t *stripe = stripe_of(set, tenant_id);
  int rc = 0;

  pthread_mutex_lock(&stripe->lock);
  const tenant_t *tenant = op_strmap_get(&stripe->tenants, tenant_id);
  if (tenant == NULL) {
    rc = OP_ENOENT;
    goto done;
  }
  int64_t last = tenant->last_pos;
  *last_pos = last;
  if (after_pos > last) {
    rc = OP_EINVAL;
    goto done;
  }
  if (after_pos == last)
    goto done;
  /* The window holds positions first … last, contiguous. */
  int64_t first = last - (int64_t)tenant->count + 1;
  if (after_pos + 1 < first) {
    rc = OP_ERANGE;
    goto done;
  }
  size_t due = (size_t)(last - after_pos);
  size_t take = due < max_out ? due : max_out;
  size_t offset = (size_t)(after_pos + 1 - first);
  /* Judge every frame handed out (and the first due, even when none is),
   * before taking any reference. */
  for (size_t i = 0; i < (take ? take : 1); i++) {
    if (expired(frame_at(tenant, offset + i)->created_ms, now_ms, set->ttl_ms)) {
      rc = OP_ERANGE;
      goto done;
    }
  }
  for (size_t i = 0; i < take; i++)
    out[i] = op_frame_reserve(frame_at(tenant, offset + i));
  *nout = take;
  rc = take < due ? OP_EAGAIN : 0;
done:
  pthread_mutex_unlock(&stripe->lock);
  return rc;
}

int op_ring_note_position(op_ring_set_t *set, const char *tenant_id, int64_t pos) {
  if (set == NULL || tenant_id == NULL || tenant_id[0] == '\0' || pos < 0)
    return OP_EINVAL;
  stripe_t *stripe = stripe_of(set, tenant_id);
  int added;
  int rc = OP_ENOMEM;

  pthread_mutex_lock(&stripe->lock);
  tenant_t *tenant = find_or_add(stripe, tenant_id, &added);
  if (tenant) {
    rc = added ? 0 : OP_EEXIST;
    if (pos > tenant->last_pos) {
      drop_all(tenant);
      tenant->last_pos = pos;
      rc = 0;
    }
  }
  pthread_mutex_unlock(&stripe->lock);
  return rc;
}

int op_ring_last_position(op_ring_set_t *set, const char *tenant_id, int64_t *pos) {
  if (pos)
    *pos = 0;
  if (set == NULL || tenant_id == NULL || pos == NULL)
    return OP_EINVAL;
  stripe_t *stripe = stripe_of(set, tenant_id);
  pthread_mutex_lock(&stripe->lock);
  const tenant_t *tenant = op_strmap_get(&stripe->tenants, tenant_id);
  if (tenant)
    *pos = tenant->last_pos;
  pthread_mutex_unlock(&stripe->lock);
  return tenant ? 0 : OP_ENOENT;
}

typedef struct sweep_s {
  int64_t now_ms;
  int64_t ttl_ms;
  size_t released; /* op_ring_expire */
  size_t frames;   /* op_ring_stats */
} sweep_t;

static void expire_tenant(const char *id, void *value, void *ud) {
  tenant_t *tenant = value;
  sweep_t *sweep = ud;
  sweep->released += prune(tenant, sweep->now_ms, sweep->ttl_ms);
  if (tenant->count == 0 && tenant->cap > 0) {
    free(tenant->frames);
    tenant->frames = NULL;
    tenant->cap = 0;
    tenant->head = 0;
  }
}

size_t op_ring_expire(op_ring_set_t *set, int64_t now_ms) {
  if (set == NULL)
    return 0;
  sweep_t sweep = {.now_ms = now_ms, .ttl_ms = set->ttl_ms};
  for (size_t i = 0; i < STRIPES; i++) {
    stripe_t *stripe = &set->stripes[i];
    pthread_mutex_lock(&stripe->lock);
    op_strmap_each(&stripe->tenants, expire_tenant, &sweep);
    pthread_mutex_unlock(&stripe->lock);
  }
  return sweep.released;
}

static void count_frames(const char *id, void *value, void *ud) {
  ((sweep_t *)ud)->frames += ((const tenant_t *)value)->count;
}

void op_ring_stats(op_ring_set_t *set, size_t *tenants, size_t *frames) {
  sweep_t sweep = {0};
  size_t nt = 0;
  for (size_t i = 0; set && i < STRIPES; i++) {
    stripe_t *stripe = &set->stripes[i];
    pthread_mutex_lock(&stripe->lock);
    nt += stripe->tenants.len;
    op_strmap_each(&stripe->tenants, count_frames, &sweep);
    pthread_mutex_unlock(&stripe->lock);
  }
  if (tenants)
    *tenants = nt;
  if (frames)
    *frames = sweep.frames;
}

typedef struct names_s {
  char **ids;
  size_t n, cap;
  int failed;
} names_t;

static void add_name(const char *key, void *value, void *ud) {
  names_t *nm = ud;
  (void)value;
  if (nm->failed)
    return;
  if (nm->n == nm->cap) {
    size_t cap = nm->cap ? nm->cap * 2 : 64;
    char **grown = realloc(nm->ids, cap * sizeof *grown);
    if (grown == NULL) {
      nm->failed = 1;
      return;
    }
    nm->ids = grown;
    nm->cap = cap;
  }
  if ((nm->ids[nm->n] = strdup(key)) == NULL)
    nm->failed = 1;
  else
    nm->n++;
}

int op_ring_tenants(op_ring_set_t *set, char ***out, size_t *n) {
  names_t nm = {0};
  for (size_t i = 0; i < STRIPES; i++) {
    pthread_mutex_lock(&set->stripes[i].lock);
    op_strmap_each(&set->stripes[i].tenants, add_name, &nm);
    pthread_mutex_unlock(&set->stripes[i].lock);
  }
  if (nm.failed) {
    for (size_t i = 0; i < nm.n; i++)
      free(nm.ids[i]);
    free(nm.ids);
    *out = NULL;
    *n = 0;
    return OP_ENOMEM;
  }
  *out = nm.ids;
  *n = nm.n;
  return 0;
}
