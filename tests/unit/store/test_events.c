/* Notify's event store: apply (positions, dedupe, order_view, atomicity),
 * read_log, last_position, snapshot and purge, on both backends. */
#include "store/fixture.h"

#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#include "store/events.h"

#define TS0 1795000000000LL /* event timestamps, ms */

/* A batch of test events with the storage for their strings. */
typedef struct {
  size_t n, cap;
  op_order_event_t *evs;
  char (*strs)[4][48];
  char (*raw)[256];
  op_event_result_t *results;
} batch_t;

static batch_t *batch_new(size_t cap) {
  batch_t *b = calloc(1, sizeof *b);
  assert_non_null(b);
  b->cap = cap;
  b->evs = calloc(cap, sizeof *b->evs);
  b->strs = calloc(cap, sizeof *b->strs);
  b->raw = calloc(cap, sizeof *b->raw);
  b->results = calloc(cap, sizeof *b->results);
  assert_true(b->evs && b->strs && b->raw && b->results);
  return b;
}

static void batch_free(batch_t *b) {
  free(b->evs);
  free(b->strs);
  free(b->raw);
  free(b->results);
  free(b);
}

/* Appends an event. Its raw body is a JSON object followed by bytes that are
 * not part of the message (raw is not NUL-terminated). */
static op_order_event_t *add(batch_t *b, const char *id, const char *tenant, const char *order,
                             const char *type, const char *status) {
  assert_true(b->n < b->cap);
  size_t i = b->n++;
  snprintf(b->strs[i][0], 48, "%s", id);
  snprintf(b->strs[i][1], 48, "%s", tenant);
  snprintf(b->strs[i][2], 48, "%s", order);
  int len = snprintf(b->raw[i], sizeof b->raw[i],
                     "{\"event_id\":\"%s\",\"tenant_id\":\"%s\",\"order_id\":\"%s\"}#not-the-body",
                     id, tenant, order);
  assert_true(len > 0);
  b->evs[i] = (op_order_event_t){
      .event_id = b->strs[i][0],
      .event_type = type,
      .order_id = b->strs[i][2],
      .tenant_id = b->strs[i][1],
      .timestamp_ms = TS0 + (int64_t)i,
      .schema_version = 1,
      .status = status,
      .raw = b->raw[i],
      .raw_len = strlen(b->raw[i]) - strlen("#not-the-body"),
  };
  return &b->evs[i];
}

static int apply(op_store_t *store, batch_t *b, int64_t now) {
  return op_events_apply(store, b->evs, b->n, b->results, now);
}

static int64_t last_pos(op_store_t *store, const char *tenant) {
  int64_t pos = -1;
  assert_int_equal(op_events_last_position(store, tenant, &pos), 0);
  return pos;
}

/* ---- apply ---- */

static void test_apply_positions(void **state) {
  fixture_t *fx = *state;
  batch_t *b = batch_new(8);
  add(b, "e1", "tA", "o1", "order_created", "created");
  add(b, "e2", "tB", "o2", "order_created", "created");
  add(b, "e3", "tA", "o1", "order_paid", "paid");
  add(b, "e4", "tA", "o3", "order_created", "created");
  add(b, "e5", "tB", "o2", "order_paid", "paid");
  add(b, "e6", "tA", "o3", "order_paid", "paid");
  assert_int_equal(apply(fx->store, b, 1000), 0);
  const int64_t want[] = {1, 1, 2, 3, 2, 4};
  for (size_t i = 0; i < b->n; i++) {
    assert_int_equal(b->results[i].duplicate, 0);
    assert_int_equal(b->results[i].position, want[i]);
  }
  assert_int_equal(last_pos(fx->store, "tA"), 4);
  assert_int_equal(last_pos(fx->store, "tB"), 2);
  assert_int_equal(last_pos(fx->store, "tC"), 0);
  assert_int_equal(op_store_in_tx(fx->store), 0);

  /* The next batch continues each tenant's sequence. */
  b->n = 0;
  add(b, "e7", "tB", "o2", "order_status_updated", "shipped");
  add(b, "e8", "tA", "o1", "order_status_updated", "shipped");
  add(b, "e9", "tC", "o9", "order_created", "created");
  assert_int_equal(apply(fx->store, b, 2000), 0);
  assert_int_equal(b->results[0].position, 3);
  assert_int_equal(b->results[1].position, 5);
  assert_int_equal(b->results[2].position, 1);
  assert_int_equal(fx_int(fx->store, "SELECT COUNT(*) FROM event_records"), 9);
  assert_int_equal(fx_int(fx->store, "SELECT COUNT(*) FROM tenant_log"), 9);
  assert_int_equal(fx_int(fx->store, "SELECT received_at FROM event_records WHERE event_id = 'e9'"),
                   2000);

  /* An empty batch is a no-op. */
  assert_int_equal(op_events_apply(fx->store, b->evs, 0, b->results, 0), 0);
  batch_free(b);
}

static void test_apply_duplicates(void **state) {
  fixture_t *fx = *state;
  batch_t *b = batch_new(8);
  add(b, "e1", "tA", "o1", "order_created", "created");
  add(b, "e2", "tA", "o1", "order_paid", "paid");
  add(b, "e1", "tA", "o1", "order_created", "created"); /* redelivered in the same batch */
  add(b, "e3", "tA", "o2", "order_created", "created");
  assert_int_equal(apply(fx->store, b, 1000), 0);
  assert_int_equal(b->results[2].duplicate, 1);
  assert_int_equal(b->results[2].position, 0);
  assert_int_equal(b->results[0].position, 1);
  assert_int_equal(b->results[1].position, 2);
  assert_int_equal(b->results[3].position, 3);
  assert_int_equal(fx_int(fx->store, "SELECT COUNT(*) FROM tenant_log"), 3);

  /* The whole batch again: all duplicates, nothing changes. */
  assert_int_equal(apply(fx->store, b, 2000), 0);
  for (size_t i = 0; i < b->n; i++) {
    assert_int_equal(b->results[i].duplicate, 1);
    assert_int_equal(b->results[i].position, 0);
  }
  assert_int_equal(last_pos(fx->store, "tA"), 3);
  assert_int_equal(fx_int(fx->store, "SELECT COUNT(*) FROM tenant_log"), 3);
  assert_int_equal(fx_int(fx->store, "SELECT COUNT(*) FROM event_records"), 3);
  assert_int_equal(fx_int(fx->store, "SELECT MAX(received_at) FROM event_records"), 1000);
  assert_int_equal(
      fx_int(fx->store,
             "SELECT last_pos FROM order_view WHERE tenant_id = 'tA' AND order_id = 'o1'"),
      2);

  /* Old and new mixed: only the new ones are stored. */
  b->n = 0;
  add(b, "e2", "tA", "o1", "order_paid", "paid");
  add(b, "e4", "tA", "o1", "order_status_updated", "shipped");
  add(b, "e3", "tA", "o2", "order_created", "created");
  assert_int_equal(apply(fx->store, b, 3000), 0);
  assert_int_equal(b->results[0].duplicate, 1);
  assert_int_equal(b->results[1].duplicate, 0);
  assert_int_equal(b->results[1].position, 4);
  assert_int_equal(b->results[2].duplicate, 1);
  assert_int_equal(fx_int(fx->store, "SELECT COUNT(*) FROM tenant_log"), 4);
  batch_free(b);
}

static void test_apply_order_view(void **state) {
  fixture_t *fx = *state;
  batch_t *b = batch_new(8);
  op_order_event_t *ev = add(b, "e1", "tA", "o1", "order_created", "created");
  ev->reference = "A-1001";
  ev->total_amount = "129.90";
  ev->currency = "EUR";
  ev->user_id = "u_7";
  add(b, "e2", "tA", "o2", "order_created", "created");
  ev = add(b, "e3", "tA", "o1", "order_paid", "paid"); /* carries only a status */
  assert_int_equal(apply(fx->store, b, 1000), 0);

  op_rows_t *rows = NULL;
  const char *sql = "SELECT status, reference, total_amount, currency, user_id, updated_at,"
                    " last_pos, last_event_id FROM order_view"
                    " WHERE tenant_id = 'tA' AND order_id = 'o1'";
  assert_int_equal(op_store_exec(fx->store, sql, 0, NULL, &rows), 0);
  assert_int_equal(op_rows_count(rows), 1);
  assert_string_equal(op_rows_get(rows, 0, 0), "paid"); /* the last event's state */
  assert_string_equal(op_rows_get(rows, 0, 1), "A-1001");
  assert_string_equal(op_rows_get(rows, 0, 2), "129.90");
  assert_string_equal(op_rows_get(rows, 0, 3), "EUR");
  assert_string_equal(op_rows_get(rows, 0, 4), "u_7");
  int64_t v;
  assert_int_equal(op_rows_get_int64(rows, 0, 5, &v), 0);
  assert_int_equal(v, ev->timestamp_ms);
  assert_int_equal(op_rows_get_int64(rows, 0, 6, &v), 0);
  assert_int_equal(v, 3);
  assert_string_equal(op_rows_get(rows, 0, 7), "e3");
  op_rows_free(rows);

  /* A later batch: the new status and amount, the rest kept. */
  b->n = 0;
  ev = add(b, "e4", "tA", "o1", "order_status_updated", "shipped");
  ev->total_amount = "99.00";
  ev = add(b, "e5", "tA", "o1", "order_status_updated", "delivered");
  assert_int_equal(apply(fx->store, b, 2000), 0);
  assert_int_equal(op_store_exec(fx->store, sql, 0, NULL, &rows), 0);
  assert_string_equal(op_rows_get(rows, 0, 0), "delivered");
  assert_string_equal(op_rows_get(rows, 0, 1), "A-1001");
  assert_string_equal(op_rows_get(rows, 0, 2), "99.00");
  assert_int_equal(op_rows_get_int64(rows, 0, 6, &v), 0);
  assert_int_equal(v, 5);
  assert_string_equal(op_rows_get(rows, 0, 7), "e5");
  op_rows_free(rows);
  assert_int_equal(fx_int(fx->store, "SELECT COUNT(*) FROM order_view"), 2);
  batch_free(b);
}

/* A batch that fails half-way stores nothing: here tenant_log already holds
 * the position tB's first event gets, so its insert violates the key. */
static void test_apply_failure_stores_nothing(void **state) {
  fixture_t *fx = *state;
  assert_int_equal(op_store_exec(fx->store,
                                 "INSERT INTO tenant_log (tenant_id, pos, event_id, event_type,"
                                 " order_id, created_at, body) VALUES"
                                 " ('tB', 1, 'x', 'order_created', 'o', 0, '{}')",
                                 0, NULL, NULL),
                   0);
  batch_t *b = batch_new(4);
  add(b, "e1", "tA", "o1", "order_created", "created");
  add(b, "e2", "tB", "o2", "order_created", "created");
  add(b, "e3", "tA", "o1", "order_paid", "paid");
  assert_int_equal(apply(fx->store, b, 1000), OP_EEXIST);
  assert_true(strlen(op_store_errmsg(fx->store)) > 0);
  assert_int_equal(op_store_in_tx(fx->store), 0);
  for (size_t i = 0; i < b->n; i++) {
    assert_int_equal(b->results[i].position, 0);
    assert_int_equal(b->results[i].duplicate, 0);
  }
  assert_int_equal(fx_int(fx->store, "SELECT COUNT(*) FROM event_records"), 0);
  assert_int_equal(fx_int(fx->store, "SELECT COUNT(*) FROM tenant_seq"), 0);
  assert_int_equal(fx_int(fx->store, "SELECT COUNT(*) FROM tenant_log"), 1);
  assert_int_equal(fx_int(fx->store, "SELECT COUNT(*) FROM order_view"), 0);

  /* Once the obstacle is gone the same batch goes through. */
  assert_int_equal(op_store_exec(fx->store, "DELETE FROM tenant_log", 0, NULL, NULL), 0);
  assert_int_equal(apply(fx->store, b, 1000), 0);
  assert_int_equal(b->results[1].position, 1);
  assert_int_equal(b->results[2].position, 2);
  batch_free(b);
}

static void test_apply_invalid(void **state) {
  fixture_t *fx = *state;
  batch_t *b = batch_new(2);
  add(b, "e1", "tA", "o1", "order_created", "created");
  op_order_event_t *ev = add(b, "e2", "tA", "o1", "order_paid", "paid");
  ev->tenant_id = NULL;
  assert_int_equal(apply(fx->store, b, 1000), OP_EINVAL);
  ev->tenant_id = "tA";
  ev->raw = NULL;
  assert_int_equal(apply(fx->store, b, 1000), OP_EINVAL);
  assert_int_equal(op_events_apply(fx->store, b->evs, 2, NULL, 0), OP_EINVAL);
  assert_int_equal(fx_int(fx->store, "SELECT COUNT(*) FROM event_records"), 0);
  batch_free(b);
}

/* Inside the caller's transaction apply neither commits nor rolls back. */
static void test_apply_in_caller_tx(void **state) {
  fixture_t *fx = *state;
  batch_t *b = batch_new(2);
  add(b, "e1", "tA", "o1", "order_created", "created");
  assert_int_equal(op_store_begin(fx->store), 0);
  assert_int_equal(apply(fx->store, b, 1000), 0);
  assert_int_equal(op_store_in_tx(fx->store), 1);
  assert_int_equal(op_store_rollback(fx->store), 0);
  assert_int_equal(last_pos(fx->store, "tA"), 0);
  assert_int_equal(op_store_begin(fx->store), 0);
  assert_int_equal(apply(fx->store, b, 1000), 0);
  assert_int_equal(op_store_commit(fx->store), 0);
  assert_int_equal(last_pos(fx->store, "tA"), 1);
  batch_free(b);
}

/* More rows than one statement takes (chunks of 256, 16, 4), and a second
 * run where every id is a duplicate. */
static void test_apply_large_batch(void **state) {
  fixture_t *fx = *state;
  enum { N = 1300 };
  batch_t *b = batch_new(N);
  const char *tenants[] = {"t1", "t2", "t3"};
  for (int i = 0; i < N; i++) {
    char id[32], order[32];
    snprintf(id, sizeof id, "ev-%05d", (i * 7919) % 100003);
    snprintf(order, sizeof order, "o%d", i % 97);
    add(b, id, tenants[i % 3], order, "order_status_updated", "paid");
  }
  assert_int_equal(apply(fx->store, b, 1000), 0);
  int64_t next[3] = {1, 1, 1};
  for (int i = 0; i < N; i++)
    assert_int_equal(b->results[i].position, next[i % 3]++);
  assert_int_equal(fx_int(fx->store, "SELECT COUNT(*) FROM tenant_log"), N);
  assert_int_equal(fx_int(fx->store, "SELECT COUNT(*) FROM order_view"), 97 * 3);
  assert_int_equal(apply(fx->store, b, 2000), 0);
  for (int i = 0; i < N; i++)
    assert_int_equal(b->results[i].duplicate, 1);
  assert_int_equal(fx_int(fx->store, "SELECT COUNT(*) FROM tenant_log"), N);
  batch_free(b);
}

#define WRITERS 2
#define WRITER_BATCHES 15
#define WRITER_BATCH 40

typedef struct {
  const fixture_t *fx;
  int id;
  int rc;
  char err[256];
} writer_t;

static void *writer_thread(void *arg) {
  writer_t *w = arg;
  op_store_t *store = fx_open(w->fx);
  batch_t *b = batch_new(WRITER_BATCH);
  const char *tenants[] = {"tX", "tY", "tZ"};
  w->rc = store ? 0 : OP_EDBDOWN;
  for (int k = 0; k < WRITER_BATCHES && w->rc == 0; k++) {
    b->n = 0;
    for (int i = 0; i < WRITER_BATCH; i++) {
      char id[48], order[16];
      snprintf(id, sizeof id, "w%d-b%d-e%d", w->id, k, i);
      snprintf(order, sizeof order, "o%d", i % 5);
      add(b, id, tenants[(i + w->id) % 3], order, "order_paid", "paid");
    }
    w->rc = op_events_apply(store, b->evs, b->n, b->results, 1000);
    if (w->rc)
      snprintf(w->err, sizeof w->err, "%s", op_store_errmsg(store));
  }
  batch_free(b);
  op_store_close(store);
  return NULL;
}

/* Writers on several connections: per tenant, positions stay 1..N with no
 * gap and no repeat. */
static void test_apply_concurrent_writers(void **state) {
  fixture_t *fx = *state;
  writer_t w[WRITERS];
  pthread_t threads[WRITERS];
  for (int i = 0; i < WRITERS; i++) {
    w[i] = (writer_t){.fx = fx, .id = i};
    assert_int_equal(pthread_create(&threads[i], NULL, writer_thread, &w[i]), 0);
  }
  for (int i = 0; i < WRITERS; i++) {
    pthread_join(threads[i], NULL);
    if (w[i].rc)
      fprintf(stderr, "writer %d: %s\n", i, w[i].err);
    assert_int_equal(w[i].rc, 0);
  }
  int64_t total = 0;
  const char *tenants[] = {"tX", "tY", "tZ"};
  for (int t = 0; t < 3; t++) {
    char sql[160];
    snprintf(sql, sizeof sql,
             "SELECT COUNT(*) * 1000000 + COUNT(DISTINCT pos) * 1000 + MAX(pos)"
             " FROM tenant_log WHERE tenant_id = '%s'",
             tenants[t]);
    int64_t v = fx_int(fx->store, sql);
    int64_t count = v / 1000000, distinct = v / 1000 % 1000, max = v % 1000;
    assert_int_equal(count, distinct);
    assert_int_equal(count, max);
    assert_int_equal(last_pos(fx->store, tenants[t]), max);
    total += count;
  }
  assert_int_equal(total, WRITERS * WRITER_BATCHES * WRITER_BATCH);
}

/* A process killed right after apply returned keeps the batch: that is what
 * lets the consumer commit Kafka offsets once apply has returned. */
static void test_apply_survives_kill(void **state) {
  fixture_t *fx = *state;
  /* No connection may cross fork (SQLite keeps per-process lock state). */
  op_store_close(fx->store);
  fx->store = NULL;
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    op_store_t *store = fx_open(fx);
    batch_t *b = batch_new(4);
    add(b, "k1", "tK", "o1", "order_created", "created");
    add(b, "k2", "tK", "o1", "order_paid", "paid");
    int rc = store ? op_events_apply(store, b->evs, b->n, b->results, 1000) : -1;
    if (rc == 0)
      kill(getpid(), SIGKILL); /* no close, no exit handlers */
    _exit(1);
  }
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  fx->store = fx_open(fx);
  assert_non_null(fx->store);
  assert_int_equal(last_pos(fx->store, "tK"), 2);
  assert_int_equal(fx_int(fx->store, "SELECT COUNT(*) FROM tenant_log WHERE tenant_id = 'tK'"), 2);
}

/* ---- reads ---- */

typedef struct {
  int64_t pos[64];
  char body[64][256];
  char trace[64][48];
  size_t n;
  size_t stop_after; /* 0: never */
} collected_t;

static int collect_log(const op_log_entry_t *entry, void *arg) {
  collected_t *c = arg;
  assert_true(c->n < 64);
  c->pos[c->n] = entry->pos;
  assert_int_equal(strlen(entry->body), entry->body_len);
  snprintf(c->body[c->n], sizeof c->body[c->n], "%s", entry->body);
  snprintf(c->trace[c->n], sizeof c->trace[c->n], "%s", entry->trace_id ? entry->trace_id : "-");
  c->n++;
  return c->stop_after && c->n == c->stop_after ? 42 : 0;
}

static void test_read_log(void **state) {
  fixture_t *fx = *state;
  batch_t *b = batch_new(16);
  for (int i = 1; i <= 10; i++) {
    char id[16];
    snprintf(id, sizeof id, "a%d", i);
    op_order_event_t *ev = add(b, id, "tA", "o1", "order_status_updated", "paid");
    if (i == 2)
      ev->trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    if (i <= 3) {
      snprintf(id, sizeof id, "b%d", i);
      add(b, id, "tB", "o2", "order_created", "created");
    }
  }
  assert_int_equal(apply(fx->store, b, 1000), 0);

  collected_t *c = calloc(1, sizeof *c);
  assert_int_equal(op_events_read_log(fx->store, "tA", 0, 0, collect_log, c), 0);
  assert_int_equal(c->n, 10);
  for (size_t i = 0; i < c->n; i++)
    assert_int_equal(c->pos[i], (int64_t)i + 1);
  assert_string_equal(c->body[0], "{\"event_id\":\"a1\",\"tenant_id\":\"tA\",\"order_id\":\"o1\"}");
  assert_string_equal(c->trace[1], "4bf92f3577b34da6a3ce929d0e0e4736");
  assert_string_equal(c->trace[0], "-");

  memset(c, 0, sizeof *c);
  assert_int_equal(op_events_read_log(fx->store, "tA", 4, 3, collect_log, c), 0);
  assert_int_equal(c->n, 3);
  assert_int_equal(c->pos[0], 5);
  assert_int_equal(c->pos[2], 7);

  memset(c, 0, sizeof *c);
  assert_int_equal(op_events_read_log(fx->store, "tB", 0, 100, collect_log, c), 0);
  assert_int_equal(c->n, 3); /* only its own tenant */
  assert_string_equal(c->body[2], "{\"event_id\":\"b3\",\"tenant_id\":\"tB\",\"order_id\":\"o2\"}");

  memset(c, 0, sizeof *c);
  assert_int_equal(op_events_read_log(fx->store, "tA", 10, 0, collect_log, c), 0);
  assert_int_equal(c->n, 0);
  assert_int_equal(op_events_read_log(fx->store, "nobody", 0, 0, collect_log, c), 0);
  assert_int_equal(c->n, 0);

  /* A callback's non-zero return stops the iteration and is returned. */
  c->stop_after = 2;
  assert_int_equal(op_events_read_log(fx->store, "tA", 0, 0, collect_log, c), 42);
  assert_int_equal(c->n, 2);
  free(c);
  batch_free(b);
}

typedef struct {
  char order[8][16];
  char status[8][16];
  int64_t pos[8];
  size_t n;
} orders_t;

static int collect_order(const op_order_state_t *order, void *arg) {
  orders_t *o = arg;
  assert_true(o->n < 8);
  snprintf(o->order[o->n], 16, "%s", order->order_id);
  snprintf(o->status[o->n], 16, "%s", order->status ? order->status : "-");
  o->pos[o->n] = order->last_pos;
  o->n++;
  return 0;
}

static void test_snapshot(void **state) {
  fixture_t *fx = *state;
  batch_t *b = batch_new(8);
  add(b, "e1", "tA", "o1", "order_created", "created"); /* pos 1 */
  add(b, "e2", "tA", "o2", "order_created", "created"); /* pos 2 */
  add(b, "e3", "tB", "o9", "order_created", "created"); /* tB pos 1 */
  add(b, "e4", "tA", "o1", "order_paid", "paid");       /* pos 3 */
  add(b, "e5", "tA", "o3", "order_created", "created"); /* pos 4 */
  assert_int_equal(apply(fx->store, b, 1000), 0);

  orders_t o = {0};
  int64_t last = -1;
  assert_int_equal(op_events_snapshot(fx->store, "tA", 0, collect_order, &o, &last), 0);
  assert_int_equal(last, 4);
  assert_int_equal(o.n, 3);
  assert_string_equal(o.order[0], "o2");
  assert_int_equal(o.pos[0], 2);
  assert_string_equal(o.order[1], "o1");
  assert_string_equal(o.status[1], "paid");
  assert_int_equal(o.pos[1], 3);
  assert_string_equal(o.order[2], "o3");

  memset(&o, 0, sizeof o);
  assert_int_equal(op_events_snapshot(fx->store, "tA", 3, collect_order, &o, &last), 0);
  assert_int_equal(last, 4);
  assert_int_equal(o.n, 1);
  assert_string_equal(o.order[0], "o3");

  memset(&o, 0, sizeof o);
  assert_int_equal(op_events_snapshot(fx->store, "tA", 4, collect_order, &o, &last), 0);
  assert_int_equal(last, 4);
  assert_int_equal(o.n, 0);

  memset(&o, 0, sizeof o);
  assert_int_equal(op_events_snapshot(fx->store, "tB", 0, collect_order, &o, &last), 0);
  assert_int_equal(last, 1);
  assert_int_equal(o.n, 1);
  assert_string_equal(o.order[0], "o9");

  memset(&o, 0, sizeof o);
  assert_int_equal(op_events_snapshot(fx->store, "nobody", 0, collect_order, &o, &last), 0);
  assert_int_equal(last, 0);
  assert_int_equal(o.n, 0);
  batch_free(b);
}

/* ---- retention ---- */

static void test_purge(void **state) {
  fixture_t *fx = *state;
  batch_t *b = batch_new(8);
  add(b, "old1", "tA", "o1", "order_created", "created");
  add(b, "old2", "tA", "o1", "order_paid", "paid");
  add(b, "old3", "tB", "o2", "order_created", "created");
  assert_int_equal(apply(fx->store, b, 1000), 0);
  b->n = 0;
  add(b, "new1", "tA", "o1", "order_status_updated", "shipped");
  assert_int_equal(apply(fx->store, b, 5000), 0);

  size_t nevents = 99, nlog = 99;
  assert_int_equal(op_events_purge(fx->store, 3000, &nevents, &nlog), 0);
  assert_int_equal(nevents, 3);
  assert_int_equal(nlog, 3);
  assert_int_equal(fx_int(fx->store, "SELECT COUNT(*) FROM event_records"), 1);
  /* Positions never restart; the log now starts after a gap. */
  assert_int_equal(last_pos(fx->store, "tA"), 3);
  assert_int_equal(last_pos(fx->store, "tB"), 1);
  collected_t *c = calloc(1, sizeof *c);
  assert_int_equal(op_events_read_log(fx->store, "tA", 0, 0, collect_log, c), 0);
  assert_int_equal(c->n, 1);
  assert_int_equal(c->pos[0], 3);
  free(c);
  /* order_view is current state, not history: kept. */
  assert_int_equal(fx_int(fx->store, "SELECT COUNT(*) FROM order_view"), 2);

  b->n = 0;
  add(b, "new2", "tB", "o2", "order_paid", "paid");
  assert_int_equal(apply(fx->store, b, 6000), 0);
  assert_int_equal(b->results[0].position, 2);

  /* Nothing old left: a no-op; counts are optional. */
  assert_int_equal(op_events_purge(fx->store, 3000, &nevents, NULL), 0);
  assert_int_equal(nevents, 0);
  assert_int_equal(op_events_purge(fx->store, 3000, NULL, NULL), 0);
  assert_int_equal(op_store_begin(fx->store), 0);
  assert_int_equal(op_events_purge(fx->store, 3000, NULL, NULL), OP_EINVAL);
  assert_int_equal(op_store_rollback(fx->store), 0);
  batch_free(b);
}

/* More rows than one purge statement deletes. */
static void test_purge_many(void **state) {
  fixture_t *fx = *state;
  enum { N = 1300, ROUNDS = 4 };
  batch_t *b = batch_new(N);
  for (int r = 0; r < ROUNDS; r++) {
    b->n = 0;
    for (int i = 0; i < N; i++) {
      char id[32];
      snprintf(id, sizeof id, "r%d-%d", r, i);
      add(b, id, i % 2 ? "t1" : "t2", "o1", "order_paid", "paid");
    }
    assert_int_equal(apply(fx->store, b, 1000 + r), 0);
  }
  size_t nevents = 0, nlog = 0;
  assert_int_equal(op_events_purge(fx->store, 2000, &nevents, &nlog), 0);
  assert_int_equal(nevents, N * ROUNDS);
  assert_int_equal(nlog, N * ROUNDS);
  assert_int_equal(fx_int(fx->store, "SELECT COUNT(*) FROM tenant_log"), 0);
  assert_int_equal(last_pos(fx->store, "t1"), N * ROUNDS / 2);
  batch_free(b);
}

int main(void) {
  struct CMUnitTest tests[] = {
      FX_TEST(test_apply_positions, fx_setup_migrated),
      FX_TEST(test_apply_duplicates, fx_setup_migrated),
      FX_TEST(test_apply_order_view, fx_setup_migrated),
      FX_TEST(test_apply_failure_stores_nothing, fx_setup_migrated),
      FX_TEST(test_apply_invalid, fx_setup_migrated),
      FX_TEST(test_apply_in_caller_tx, fx_setup_migrated),
      FX_TEST(test_apply_large_batch, fx_setup_migrated),
      FX_TEST(test_apply_concurrent_writers, fx_setup_migrated),
      FX_TEST(test_apply_survives_kill, fx_setup_migrated),
      FX_TEST(test_read_log, fx_setup_migrated),
      FX_TEST(test_snapshot, fx_setup_migrated),
      FX_TEST(test_purge, fx_setup_migrated),
      FX_TEST(test_purge_many, fx_setup_migrated),
  };
  return fx_run("events", tests, sizeof tests / sizeof tests[0]);
}
