/* Migrations: embedded, applied once, idempotent, safe when several
 * connections migrate the same database at once. */
#include "store/fixture.h"

#include <pthread.h>

static const char *const notify_tables[] = {"event_records", "tenant_seq", "tenant_log",
                                            "order_view"};

static void assert_tables_usable(op_store_t *store) {
  char sql[128];
  for (size_t i = 0; i < sizeof notify_tables / sizeof notify_tables[0]; i++) {
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM %s", notify_tables[i]);
    assert_int_equal(fx_int(store, sql), 0);
  }
}

static void test_migrate_creates_schema(void **state) {
  fixture_t *fx = *state;
  /* Nothing exists before. */
  assert_int_equal(op_store_exec(fx->store, "SELECT 1 FROM event_records", 0, NULL, NULL), OP_EDB);
  char err[256] = "";
  assert_int_equal(op_store_migrate(fx->store, err, sizeof err), 0);
  assert_string_equal(err, "");
  assert_tables_usable(fx->store);
  int64_t version = op_store_schema_version(fx->store);
  assert_true(version >= 1);
  assert_int_equal(fx_int(fx->store, "SELECT MAX(version) FROM schema_migrations"), version);
  op_rows_t *rows = NULL;
  assert_int_equal(op_store_exec(fx->store,
                                 "SELECT name, applied_at FROM schema_migrations WHERE version = 1",
                                 0, NULL, &rows),
                   0);
  assert_int_equal(op_rows_count(rows), 1);
  assert_string_equal(op_rows_get(rows, 0, 0), "notify_events");
  int64_t applied_at = 0;
  assert_int_equal(op_rows_get_int64(rows, 0, 1, &applied_at), 0);
  assert_true(applied_at > 1700000000000LL); /* ms since the epoch */
  op_rows_free(rows);
}

static void test_migrate_twice(void **state) {
  fixture_t *fx = *state;
  char err[256];
  assert_int_equal(op_store_migrate(fx->store, err, sizeof err), 0);
  int64_t count = fx_int(fx->store, "SELECT COUNT(*) FROM schema_migrations");
  /* Data survives a second run; nothing is applied again. */
  assert_int_equal(op_store_exec(fx->store,
                                 "INSERT INTO tenant_seq (tenant_id, last_pos) VALUES ('t', 7)", 0,
                                 NULL, NULL),
                   0);
  assert_int_equal(op_store_migrate(fx->store, err, sizeof err), 0);
  assert_int_equal(fx_int(fx->store, "SELECT COUNT(*) FROM schema_migrations"), count);
  assert_int_equal(fx_int(fx->store, "SELECT last_pos FROM tenant_seq"), 7);
  /* A new connection (a restarted process) migrates to the same state. */
  op_store_t *other = fx_open(fx);
  assert_non_null(other);
  assert_int_equal(op_store_migrate(other, err, sizeof err), 0);
  assert_int_equal(fx_int(other, "SELECT COUNT(*) FROM schema_migrations"), count);
  op_store_close(other);
}

static void test_migrate_in_tx(void **state) {
  fixture_t *fx = *state;
  char err[256];
  assert_int_equal(op_store_begin(fx->store), 0);
  assert_int_equal(op_store_migrate(fx->store, err, sizeof err), OP_EINVAL);
  assert_non_null(strstr(err, "transaction"));
  assert_int_equal(op_store_rollback(fx->store), 0);
}

#define NTHREADS 4

typedef struct {
  const fixture_t *fx;
  pthread_barrier_t *barrier;
  int rc;
  char err[256];
} migrator_t;

static void *migrate_thread(void *arg) {
  migrator_t *m = arg;
  op_store_t *store = fx_open(m->fx);
  pthread_barrier_wait(m->barrier);
  m->rc = store ? op_store_migrate(store, m->err, sizeof m->err) : OP_EDBDOWN;
  op_store_close(store);
  return NULL;
}

/* Several processes starting at once: every one succeeds, each migration is
 * applied exactly once. */
static void test_migrate_concurrent(void **state) {
  fixture_t *fx = *state;
  pthread_barrier_t barrier;
  pthread_barrier_init(&barrier, NULL, NTHREADS);
  migrator_t m[NTHREADS];
  pthread_t threads[NTHREADS];
  for (int i = 0; i < NTHREADS; i++) {
    m[i] = (migrator_t){.fx = fx, .barrier = &barrier};
    assert_int_equal(pthread_create(&threads[i], NULL, migrate_thread, &m[i]), 0);
  }
  for (int i = 0; i < NTHREADS; i++) {
    pthread_join(threads[i], NULL);
    if (m[i].rc)
      fprintf(stderr, "migrator %d: %s\n", i, m[i].err);
    assert_int_equal(m[i].rc, 0);
  }
  pthread_barrier_destroy(&barrier);
  assert_int_equal(fx_int(fx->store, "SELECT COUNT(*) FROM schema_migrations"),
                   fx_int(fx->store, "SELECT COUNT(DISTINCT version) FROM schema_migrations"));
  assert_int_equal(fx_int(fx->store, "SELECT MAX(version) FROM schema_migrations"),
                   op_store_schema_version(fx->store));
  assert_tables_usable(fx->store);
}

int main(void) {
  struct CMUnitTest tests[] = {
      FX_TEST(test_migrate_creates_schema, fx_setup),
      FX_TEST(test_migrate_twice, fx_setup),
      FX_TEST(test_migrate_in_tx, fx_setup),
      FX_TEST(test_migrate_concurrent, fx_setup),
  };
  return fx_run("migrate", tests, sizeof tests / sizeof tests[0]);
}
