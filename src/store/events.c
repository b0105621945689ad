/*
 * Notify's event store (see events.h), written once in portable SQL.
 *
 * op_events_apply does a whole Kafka batch in a handful of statements rather
 * than a handful per event:
 *   1. dedupe: duplicates inside the batch by sorting on event_id, then one
 *      SELECT … WHERE event_id IN (…) for the ids already stored;
 *   2. reserve positions: one multi-row upsert of tenant_seq adding each
 *      tenant's count and RETURNING the new last_pos. Tenants are sorted by
 *      id, so every writer takes the tenant_seq row locks in the same order
 *      (no deadlock between instances), and the lock is held to commit, so a
 *      tenant's positions commit in order;
 *   3. multi-row inserts into event_records and tenant_log;
 *   4. one multi-row upsert of order_view with one row per order (the
 *      batch's events for an order merged in batch order: PostgreSQL refuses
 *      to update one row twice in a statement, and only the result matters).
 *
 * Multi-row statements are cut into chunks whose row counts are powers of
 * two up to CHUNK_MAX, so each statement has at most nine shapes and the
 * per-connection statement cache stays small. The IN list is padded to a
 * power of two by repeating its last id.
 */
#include "store/events.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "store/driver.h" /* op_store_fail */

#define CHUNK_MAX 256
#define MAX_COLS 10
#define NUM_LEN 24
#define PURGE_BATCH 5000
#define PURGE_BATCH_TEXT "5000"

typedef struct {
  const op_order_event_t *ev;
  size_t idx;
} item_t;

typedef struct {
  const char *tenant_id;
  size_t count;
  int64_t first_pos; /* 0 until tenant_seq answered */
  char count_text[NUM_LEN];
} tenant_t;

typedef struct {
  size_t first_idx, last_idx; /* batch indexes of the order's first/last events */
  const char *status, *reference, *total_amount, *currency, *user_id;
  char updated_at[NUM_LEN];
} order_row_t;

typedef struct apply_s {
  op_store_t *store;
  const op_order_event_t *evs;
  size_t n;
  op_event_result_t *results;
  item_t *items;
  size_t *fresh; /* batch indexes of the non-duplicates, in batch order */
  size_t nfresh;
  tenant_t *tenants;
  size_t ntenants;
  order_row_t *orders;
  size_t norders;
  char (*pos_text)[NUM_LEN]; /* per batch index */
  const char **body;         /* per batch index, NUL-terminated copies */
  char *body_arena;
  int64_t now_ms;
  char now_text[NUM_LEN];
  const char *params[CHUNK_MAX * MAX_COLS];
  op_buf_t sql;
} apply_t;

/* Fills the ncols parameters of row r of a multi-row statement. */
typedef void (*fill_row_fn)(apply_t *ap, size_t r, const char **out);
/* Consumes the rows a chunk returned. */
typedef int (*chunk_rows_fn)(apply_t *ap, op_rows_t *rows);

/* ---- SQL text ---- */

static void put_uint(op_buf_t *buf, unsigned v) {
  char digits[12];
  int n = 0;
  do {
    digits[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  while (n)
    buf->data[buf->len++] = digits[--n];
}

/* head + "($1,…,$ncols),(…)" for nrows rows + tail. Returns 0 or OP_ENOMEM. */
static int build_values(op_buf_t *sql, const char *head, int ncols, size_t nrows,
                        const char *tail) {
  op_buf_reset(sql);
  if (op_buf_puts(sql, head) || op_buf_reserve(sql, nrows * (size_t)ncols * 8 + 8))
    return OP_ENOMEM;
  unsigned p = 1;
  for (size_t r = 0; r < nrows; r++) {
    if (r)
      sql->data[sql->len++] = ',';
    sql->data[sql->len++] = '(';
    for (int c = 0; c < ncols; c++) {
      if (c)
        sql->data[sql->len++] = ',';
      sql->data[sql->len++] = '$';
      put_uint(sql, p++);
    }
    sql->data[sql->len++] = ')';
  }
  sql->data[sql->len] = '\0';
  return op_buf_puts(sql, tail);
}

/* The largest power of two <= remaining, at most CHUNK_MAX. */
static size_t chunk_floor(size_t remaining) {
  size_t k = CHUNK_MAX;
  while (k > remaining)
    k >>= 1;
  return k;
}

/* Runs head VALUES(…) tail for nrows rows, chunked; on_rows (optional) gets
 * each chunk's result rows. */
static int insert_rows(apply_t *ap, const char *head, int ncols, const char *tail, size_t nrows,
                       fill_row_fn fill, chunk_rows_fn on_rows) {
  for (size_t done = 0; done < nrows;) {
    size_t k = chunk_floor(nrows - done);
    if (build_values(&ap->sql, head, ncols, k, tail))
      return op_store_fail(ap->store, OP_ENOMEM, "events: out of memory");
    for (size_t r = 0; r < k; r++)
      fill(ap, done + r, &ap->params[r * (size_t)ncols]);
    op_rows_t *rows = NULL;
    int rc = op_store_exec(ap->store, ap->sql.data, (int)(k * (size_t)ncols), ap->params,
                           on_rows ? &rows : NULL);
    if (rc == 0 && on_rows)
      rc = on_rows(ap, rows);
    op_rows_free(rows);
    if (rc)
      return rc;
    done += k;
  }
  return 0;
}

/* ---- sorting ---- */

static int cmp_event_id(const void *a, const void *b) {
  const item_t *x = a, *y = b;
  int c = strcmp(x->ev->event_id, y->ev->event_id);
  return c ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

static int cmp_tenant(const void *a, const void *b) {
  const item_t *x = a, *y = b;
  int c = strcmp(x->ev->tenant_id, y->ev->tenant_id);
  return c ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

static int cmp_order(const void *a, const void *b) {
  const item_t *x = a, *y = b;
  int c = strcmp(x->ev->tenant_id, y->ev->tenant_id);
  if (c == 0)
    c = strcmp(x->ev->order_id, y->ev->order_id);
  return c ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

/* ---- step 1: dedupe ---- */

/* Marks every item of the id-sorted ap->items whose event_id is id. */
static void mark_stored(apply_t *ap, const char *id) {
  size_t lo = 0, hi = ap->n;
  while (lo < hi) { /* first item with event_id >= id */
    size_t mid = lo + (hi - lo) / 2;
    if (strcmp(ap->items[mid].ev->event_id, id) < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  for (; lo < ap->n && strcmp(ap->items[lo].ev->event_id, id) == 0; lo++)
    ap->results[ap->items[lo].idx].duplicate = 1;
}

/* Looks up nids (1..CHUNK_MAX) ids in event_records and marks the stored
 * ones. The IN list is padded to a power of two by repeating the last id;
 * ids must have room for CHUNK_MAX entries. */
static int query_stored(apply_t *ap, const char **ids, size_t nids) {
  size_t k = 1;
  while (k < nids)
    k <<= 1;
  for (size_t j = nids; j < k; j++)
    ids[j] = ids[nids - 1];
  /* An IN list is one row of k columns. */
  if (build_values(&ap->sql, "SELECT event_id FROM event_records WHERE event_id IN ", (int)k, 1,
                   ""))
    return op_store_fail(ap->store, OP_ENOMEM, "events: out of memory");
  op_rows_t *rows = NULL;
  int rc = op_store_exec(ap->store, ap->sql.data, (int)k, ids, &rows);
  for (size_t r = 0; rc == 0 && r < op_rows_count(rows); r++)
    mark_stored(ap, op_rows_get(rows, r, 0));
  op_rows_free(rows);
  return rc;
}

/* Sets results[].duplicate and ap->fresh. Leaves ap->items sorted by id. */
static int dedupe(apply_t *ap) {
  for (size_t i = 0; i < ap->n; i++)
    ap->items[i] = (item_t){&ap->evs[i], i};
  qsort(ap->items, ap->n, sizeof *ap->items, cmp_event_id);
  const char **ids = ap->params; /* the params scratch is free during this step */
  size_t nids = 0;
  for (size_t i = 0; i < ap->n; i++) {
    /* Of equal ids, the lowest batch index sorts first and is the candidate. */
    if (i > 0 && strcmp(ap->items[i].ev->event_id, ap->items[i - 1].ev->event_id) == 0) {
      ap->results[ap->items[i].idx].duplicate = 1;
      continue;
    }
    ids[nids++] = ap->items[i].ev->event_id;
    if (nids == CHUNK_MAX) {
      int rc = query_stored(ap, ids, nids);
      if (rc)
        return rc;
      nids = 0;
    }
  }
  if (nids) {
    int rc = query_stored(ap, ids, nids);
    if (rc)
      return rc;
  }
  ap->nfresh = 0;
  for (size_t i = 0; i < ap->n; i++)
    if (!ap->results[i].duplicate)
      ap->fresh[ap->nfresh++] = i;
  return 0;
}

/* ---- step 2: positions ---- */

static void fill_tenant_seq(apply_t *ap, size_t r, const char **out) {
  out[0] = ap->tenants[r].tenant_id;
  out[1] = ap->tenants[r].count_text;
}

static tenant_t *find_tenant(apply_t *ap, const char *tenant_id) {
  size_t lo = 0, hi = ap->ntenants;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(ap->tenants[mid].tenant_id, tenant_id);
    if (c == 0)
      return &ap->tenants[mid];
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

static int on_tenant_seq(apply_t *ap, op_rows_t *rows) {
  for (size_t r = 0; r < op_rows_count(rows); r++) {
    tenant_t *tenant = find_tenant(ap, op_rows_get(rows, r, 0));
    int64_t last_pos;
    if (tenant == NULL || op_rows_get_int64(rows, r, 1, &last_pos))
      return op_store_fail(ap->store, OP_EDB, "events: unexpected row from tenant_seq");
    tenant->first_pos = last_pos - (int64_t)tenant->count + 1;
  }
  return 0;
}

/* Groups the fresh events by tenant, reserves each tenant's positions and
 * assigns them in batch order. */
static int reserve_positions(apply_t *ap) {
  for (size_t i = 0; i < ap->nfresh; i++)
    ap->items[i] = (item_t){&ap->evs[ap->fresh[i]], ap->fresh[i]};
  qsort(ap->items, ap->nfresh, sizeof *ap->items, cmp_tenant);
  ap->ntenants = 0;
  for (size_t i = 0; i < ap->nfresh; i++) {
    const char *tenant_id = ap->items[i].ev->tenant_id;
    if (ap->ntenants == 0 || strcmp(ap->tenants[ap->ntenants - 1].tenant_id, tenant_id) != 0)
      ap->tenants[ap->ntenants++] = (tenant_t){.tenant_id = tenant_id};
    ap->tenants[ap->ntenants - 1].count++;
  }
  for (size_t t = 0; t < ap->ntenants; t++)
    snprintf(ap->tenants[t].count_text, NUM_LEN, "%zu", ap->tenants[t].count);
  int rc = insert_rows(ap, "INSERT INTO tenant_seq (tenant_id, last_pos) VALUES ", 2,
                       " ON CONFLICT (tenant_id) DO UPDATE"
                       " SET last_pos = tenant_seq.last_pos + excluded.last_pos"
                       " RETURNING tenant_id, last_pos",
                       ap->ntenants, fill_tenant_seq, on_tenant_seq);
  if (rc)
    return rc;
  size_t i = 0;
  for (size_t t = 0; t < ap->ntenants; t++) {
    if (ap->tenants[t].first_pos <= 0)
      return op_store_fail(ap->store, OP_EDB, "events: tenant_seq returned no position");
    for (size_t k = 0; k < ap->tenants[t].count; k++, i++) {
      size_t idx = ap->items[i].idx;
      ap->results[idx].position = ap->tenants[t].first_pos + (int64_t)k;
      snprintf(ap->pos_text[idx], NUM_LEN, "%" PRId64, ap->results[idx].position);
    }
  }
  return 0;
}

/* ---- step 3: event_records and tenant_log ---- */

static void fill_event_record(apply_t *ap, size_t r, const char **out) {
  const op_order_event_t *ev = &ap->evs[ap->fresh[r]];
  out[0] = ev->event_id;
  out[1] = ev->tenant_id;
  out[2] = ev->event_type;
  out[3] = ap->now_text;
}

static void fill_tenant_log(apply_t *ap, size_t r, const char **out) {
  size_t idx = ap->fresh[r];
  const op_order_event_t *ev = &ap->evs[idx];
  out[0] = ev->tenant_id;
  out[1] = ap->pos_text[idx];
  out[2] = ev->event_id;
  out[3] = ev->event_type;
  out[4] = ev->order_id;
  out[5] = ap->now_text;
  out[6] = ap->body[idx];
  out[7] = ev->trace_id;
}

/* Copies the fresh events' bodies into NUL-terminated strings: the raw
 * message value is not terminated, and text parameters must be. */
static int copy_bodies(apply_t *ap) {
  size_t total = 0;
  for (size_t i = 0; i < ap->nfresh; i++)
    total += ap->evs[ap->fresh[i]].raw_len + 1;
  ap->body_arena = malloc(total ? total : 1);
  if (ap->body_arena == NULL)
    return op_store_fail(ap->store, OP_ENOMEM, "events: out of memory");
  char *p = ap->body_arena;
  for (size_t i = 0; i < ap->nfresh; i++) {
    const op_order_event_t *ev = &ap->evs[ap->fresh[i]];
    if (ev->raw_len)
      memcpy(p, ev->raw, ev->raw_len);
    p[ev->raw_len] = '\0';
    ap->body[ap->fresh[i]] = p;
    p += ev->raw_len + 1;
  }
  return 0;
}

/* ---- step 4: order_view ---- */

static void fill_order_view(apply_t *ap, size_t r, const char **out) {
  const order_row_t *o = &ap->orders[r];
  const op_order_event_t *last = &ap->evs[o->last_idx];
  out[0] = last->tenant_id;
  out[1] = last->order_id;
  out[2] = o->status;
  out[3] = o->reference;
  out[4] = o->total_amount;
  out[5] = o->currency;
  out[6] = o->user_id;
  out[7] = o->updated_at;
  out[8] = ap->pos_text[o->last_idx];
  out[9] = last->event_id;
}

/* Merges the fresh events per order, in batch order: a later event's fields
 * replace earlier ones where it carries them. */
static void merge_orders(apply_t *ap) {
  for (size_t i = 0; i < ap->nfresh; i++)
    ap->items[i] = (item_t){&ap->evs[ap->fresh[i]], ap->fresh[i]};
  qsort(ap->items, ap->nfresh, sizeof *ap->items, cmp_order);
  ap->norders = 0;
  for (size_t i = 0; i < ap->nfresh; i++) {
    const op_order_event_t *ev = ap->items[i].ev;
    order_row_t *o = ap->norders ? &ap->orders[ap->norders - 1] : NULL;
    if (o == NULL || strcmp(ap->evs[o->first_idx].tenant_id, ev->tenant_id) != 0 ||
        strcmp(ap->evs[o->first_idx].order_id, ev->order_id) != 0) {
      o = &ap->orders[ap->norders++];
      memset(o, 0, sizeof *o);
      o->first_idx = ap->items[i].idx;
    }
    o->last_idx = ap->items[i].idx;
    if (ev->status)
      o->status = ev->status;
    if (ev->reference)
      o->reference = ev->reference;
    if (ev->total_amount)
      o->total_amount = ev->total_amount;
    if (ev->currency)
      o->currency = ev->currency;
    if (ev->user_id)
      o->user_id = ev->user_id;
  }
  for (size_t k = 0; k < ap->norders; k++) {
    const op_order_event_t *last = &ap->evs[ap->orders[k].last_idx];
    snprintf(ap->orders[k].updated_at, NUM_LEN, "%" PRId64,
             last->timestamp_ms ? last->timestamp_ms : ap->now_ms);
  }
}

/* ---- apply ---- */

static int check_events(const op_order_event_t *evs, size_t n) {
  for (size_t i = 0; i < n; i++) {
    const op_order_event_t *ev = &evs[i];
    if (!ev->event_id || !ev->event_type || !ev->order_id || !ev->tenant_id || !ev->raw)
      return OP_EINVAL;
  }
  return 0;
}

static void apply_free(apply_t *ap) {
  free(ap->items);
  free(ap->fresh);
  free(ap->tenants);
  free(ap->orders);
  free(ap->pos_text);
  free(ap->body);
  free(ap->body_arena);
  op_buf_free(&ap->sql);
  free(ap);
}

/* The statements of one batch, inside a transaction. */
static int apply_steps(apply_t *ap) {
  int rc = dedupe(ap);
  if (rc || ap->nfresh == 0)
    return rc;
  if ((rc = reserve_positions(ap)) || (rc = copy_bodies(ap)))
    return rc;
  rc = insert_rows(ap,
                   "INSERT INTO event_records (event_id, tenant_id, event_type, received_at)"
                   " VALUES ",
                   4, "", ap->nfresh, fill_event_record, NULL);
  if (rc)
    return rc;
  rc = insert_rows(ap,
                   "INSERT INTO tenant_log (tenant_id, pos, event_id, event_type, order_id,"
                   " created_at, body, trace_id) VALUES ",
                   8, "", ap->nfresh, fill_tenant_log, NULL);
  if (rc)
    return rc;
  merge_orders(ap);
  return insert_rows(ap,
                     "INSERT INTO order_view (tenant_id, order_id, status, reference,"
                     " total_amount, currency, user_id, updated_at, last_pos, last_event_id)"
                     " VALUES ",
                     10,
                     " ON CONFLICT (tenant_id, order_id) DO UPDATE SET"
                     " status = COALESCE(excluded.status, order_view.status),"
                     " reference = COALESCE(excluded.reference, order_view.reference),"
                     " total_amount = COALESCE(excluded.total_amount, order_view.total_amount),"
                     " currency = COALESCE(excluded.currency, order_view.currency),"
                     " user_id = COALESCE(excluded.user_id, order_view.user_id),"
                     " updated_at = excluded.updated_at,"
                     " last_pos = excluded.last_pos,"
                     " last_event_id = excluded.last_event_id",
                     ap->norders, fill_order_view, NULL);
}

int op_events_apply(op_store_t *store, const op_order_event_t *evs, size_t n,
                    op_event_result_t *results, int64_t now_ms) {
  if (n == 0)
    return 0;
  if (evs == NULL || results == NULL || check_events(evs, n))
    return op_store_fail(store, OP_EINVAL, "events: an event lacks a required field");
  memset(results, 0, n * sizeof *results);
  apply_t *ap = calloc(1, sizeof *ap);
  if (ap == NULL)
    return op_store_fail(store, OP_ENOMEM, "events: out of memory");
  ap->store = store;
  ap->evs = evs;
  ap->n = n;
  ap->results = results;
  ap->now_ms = now_ms;
  snprintf(ap->now_text, NUM_LEN, "%" PRId64, now_ms);
  ap->items = malloc(n * sizeof *ap->items);
  ap->fresh = malloc(n * sizeof *ap->fresh);
  ap->tenants = malloc(n * sizeof *ap->tenants);
  ap->orders = malloc(n * sizeof *ap->orders);
  ap->pos_text = malloc(n * sizeof *ap->pos_text);
  ap->body = calloc(n, sizeof *ap->body);
  if (!ap->items || !ap->fresh || !ap->tenants || !ap->orders || !ap->pos_text || !ap->body) {
    apply_free(ap);
    return op_store_fail(store, OP_ENOMEM, "events: out of memory");
  }

  int own_tx = !op_store_in_tx(store);
  int rc = own_tx ? op_store_begin(store) : 0;
  if (rc == 0)
    rc = apply_steps(ap);
  if (own_tx && rc == 0)
    rc = op_store_commit(store);
  else if (own_tx && rc)
    op_store_rollback(store); /* keeps the failing statement's errmsg */
  if (rc)
    memset(results, 0, n * sizeof *results);
  apply_free(ap);
  return rc;
}

/* ---- reads ---- */

int op_events_read_log(op_store_t *store, const char *tenant_id, int64_t after_pos, size_t limit,
                       op_log_entry_cb cb, void *arg) {
  if (tenant_id == NULL || cb == NULL)
    return op_store_fail(store, OP_EINVAL, "events: read_log needs a tenant and a callback");
  char after[NUM_LEN], lim[NUM_LEN];
  snprintf(after, sizeof after, "%" PRId64, after_pos);
  snprintf(lim, sizeof lim, "%" PRId64, limit ? (int64_t)limit : INT64_MAX);
  const char *params[] = {tenant_id, after, lim};
  op_rows_t *rows = NULL;
  int rc = op_store_exec(store,
                         "SELECT pos, event_id, event_type, order_id, created_at, body, trace_id"
                         " FROM tenant_log WHERE tenant_id = $1 AND pos > $2"
                         " ORDER BY pos LIMIT $3",
                         3, params, &rows);
  for (size_t r = 0; rc == 0 && r < op_rows_count(rows); r++) {
    op_log_entry_t entry = {
        .event_id = op_rows_get(rows, r, 1),
        .event_type = op_rows_get(rows, r, 2),
        .order_id = op_rows_get(rows, r, 3),
        .body = op_rows_get(rows, r, 5),
        .trace_id = op_rows_get(rows, r, 6),
    };
    if (op_rows_get_int64(rows, r, 0, &entry.pos) ||
        op_rows_get_int64(rows, r, 4, &entry.created_at) || entry.body == NULL) {
      rc = op_store_fail(store, OP_EDB, "events: malformed tenant_log row");
      break;
    }
    entry.body_len = strlen(entry.body);
    rc = cb(&entry, arg);
  }
  op_rows_free(rows);
  return rc;
}

int op_events_last_position(op_store_t *store, const char *tenant_id, int64_t *pos) {
  *pos = 0;
  const char *params[] = {tenant_id};
  op_rows_t *rows = NULL;
  int rc = op_store_exec(store, "SELECT last_pos FROM tenant_seq WHERE tenant_id = $1", 1, params,
                         &rows);
  if (rc == 0 && op_rows_count(rows) == 1 && op_rows_get_int64(rows, 0, 0, pos))
    rc = op_store_fail(store, OP_EDB, "events: malformed tenant_seq row");
  op_rows_free(rows);
  return rc;
}

/*
 * One statement, so one snapshot on both backends (PostgreSQL takes one per
 * statement under READ COMMITTED; SQLite reads one WAL snapshot): the
 * tenant's last position and the orders changed after since_pos agree.
 */
int op_events_snapshot(op_store_t *store, const char *tenant_id, int64_t since_pos,
                       op_order_state_cb cb, void *arg, int64_t *last_pos) {
  *last_pos = 0;
  if (tenant_id == NULL || cb == NULL)
    return op_store_fail(store, OP_EINVAL, "events: snapshot needs a tenant and a callback");
  char since[NUM_LEN];
  snprintf(since, sizeof since, "%" PRId64, since_pos);
  const char *params[] = {tenant_id, since};
  op_rows_t *rows = NULL;
  int rc = op_store_exec(store,
                         "SELECT s.last_pos, o.order_id, o.status, o.reference, o.total_amount,"
                         " o.currency, o.user_id, o.updated_at, o.last_pos, o.last_event_id"
                         " FROM tenant_seq s LEFT JOIN order_view o"
                         " ON o.tenant_id = s.tenant_id AND o.last_pos > $2"
                         " WHERE s.tenant_id = $1 ORDER BY o.last_pos",
                         2, params, &rows);
  if (rc == 0 && op_rows_count(rows) > 0 && op_rows_get_int64(rows, 0, 0, last_pos))
    rc = op_store_fail(store, OP_EDB, "events: malformed tenant_seq row");
  for (size_t r = 0; rc == 0 && r < op_rows_count(rows); r++) {
    op_order_state_t order = {
        .order_id = op_rows_get(rows, r, 1),
        .status = op_rows_get(rows, r, 2),
        .reference = op_rows_get(rows, r, 3),
        .total_amount = op_rows_get(rows, r, 4),
        .currency = op_rows_get(rows, r, 5),
        .user_id = op_rows_get(rows, r, 6),
        .last_event_id = op_rows_get(rows, r, 9),
    };
    if (order.order_id == NULL) /* the tenant has no order changed since since_pos */
      continue;
    if (op_rows_get_int64(rows, r, 7, &order.updated_at) ||
        op_rows_get_int64(rows, r, 8, &order.last_pos)) {
      rc = op_store_fail(store, OP_EDB, "events: malformed order_view row");
      break;
    }
    rc = cb(&order, arg);
  }
  op_rows_free(rows);
  return rc;
}

/* ---- retention ---- */

/* Runs a bounded DELETE until it deletes less than a full batch. */
static int purge_batches(op_store_t *store, const char *sql, const char *cutoff, size_t *total) {
  const char *params[] = {cutoff};
  for (;;) {
    int rc = op_store_exec(store, sql, 1, params, NULL);
    if (rc)
      return rc;
    int64_t n = op_store_changes(store);
    *total += (size_t)n;
    if (n < PURGE_BATCH)
      return 0;
  }
}

int op_events_purge(op_store_t *store, int64_t older_than_ms, size_t *events_deleted,
                    size_t *log_deleted) {
  size_t nevents = 0, nlog = 0;
  if (events_deleted)
    *events_deleted = 0;
  if (log_deleted)
    *log_deleted = 0;
  if (op_store_in_tx(store))
    return op_store_fail(store, OP_EINVAL, "events: purge runs its own transactions");
  char cutoff[NUM_LEN];
  snprintf(cutoff, sizeof cutoff, "%" PRId64, older_than_ms);
  int rc = purge_batches(store,
                         "DELETE FROM event_records WHERE event_id IN"
                         " (SELECT event_id FROM event_records WHERE received_at < $1"
                         " LIMIT " PURGE_BATCH_TEXT ")",
                         cutoff, &nevents);
  if (rc == 0)
    rc = purge_batches(store,
                       "DELETE FROM tenant_log WHERE (tenant_id, pos) IN"
                       " (SELECT tenant_id, pos FROM tenant_log WHERE created_at < $1"
                       " LIMIT " PURGE_BATCH_TEXT ")",
                       cutoff, &nlog);
  if (events_deleted)
    *events_deleted = nevents;
  if (log_deleted)
    *log_deleted = nlog;
  return rc;
}
