/*
 * Shared fixture for the store's unit tests: every test runs once per
 * backend. SQLite gets a fresh temporary directory (the database file sits in
 * a subdirectory the store must create); PostgreSQL, when OP_TEST_PG_URL is
 * set, gets a fresh schema selected through the URL's search_path and
 * dropped afterwards. Tests are therefore independent and can run alone:
 *   OP_TEST_FILTER='sqlite/apply*' ./build-store/store_test_events
 */
#ifndef OP_TEST_STORE_FIXTURE_H
#define OP_TEST_STORE_FIXTURE_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "store/store.h"

typedef struct fixture_s {
  const char *backend; /* "sqlite" or "postgres" */
  char url[1024];      /* opens a connection to this test's database */
  char dir[256];       /* sqlite: the temporary directory */
  char schema[64];     /* postgres: the schema */
  op_store_t *store;   /* opened on url; migrated by fx_setup_migrated */
} fixture_t;

/* Runs one command on the PostgreSQL server of OP_TEST_PG_URL (outside any
 * test schema). Returns 0 on success. */
static inline int fx_pg_admin(const char *sql) {
  PGconn *pg = PQconnectdb(getenv("OP_TEST_PG_URL"));
  int ok = PQstatus(pg) == CONNECTION_OK;
  if (ok) {
    PQclear(PQexec(pg, "SET client_min_messages = warning"));
    PGresult *res = PQexec(pg, sql);
    ok = PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK;
    if (!ok)
      fprintf(stderr, "fixture: %s: %s", sql, PQerrorMessage(pg));
    PQclear(res);
  } else {
    fprintf(stderr, "fixture: cannot connect: %s", PQerrorMessage(pg));
  }
  PQfinish(pg);
  return ok ? 0 : -1;
}

static inline int fx_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path);
}

/* Creates the test's database and opens fx->store on it (not migrated). */
static inline int fx_setup(void **state) {
  static unsigned counter;
  fixture_t *fx = calloc(1, sizeof *fx);
  if (fx == NULL)
    return -1;
  fx->backend = *state;
  if (strcmp(fx->backend, "sqlite") == 0) {
    snprintf(fx->dir, sizeof fx->dir, "/tmp/op-store-test-XXXXXX");
    if (mkdtemp(fx->dir) == NULL) {
      free(fx);
      return -1;
    }
    snprintf(fx->url, sizeof fx->url, "sqlite://%s/sub/test.db", fx->dir);
  } else {
    const char *base = getenv("OP_TEST_PG_URL");
    snprintf(fx->schema, sizeof fx->schema, "op_test_%d_%u", (int)getpid(), counter++);
    char sql[256];
    snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s", fx->schema,
             fx->schema);
    if (base == NULL || fx_pg_admin(sql)) {
      free(fx);
      return -1;
    }
    snprintf(fx->url, sizeof fx->url, "%s%soptions=-csearch_path%%3D%s", base,
             strchr(base, '?') ? "&" : "?", fx->schema);
  }
  char err[256];
  fx->store = op_store_open(fx->url, err, sizeof err);
  if (fx->store == NULL) {
    fprintf(stderr, "fixture: open %s: %s\n", fx->url, err);
    free(fx);
    return -1;
  }
  *state = fx;
  return 0;
}

static inline int fx_teardown(void **state) {
  fixture_t *fx = *state;
  op_store_close(fx->store);
  if (fx->dir[0])
    nftw(fx->dir, fx_rm, 16, FTW_DEPTH | FTW_PHYS);
  if (fx->schema[0]) {
    char sql[256];
    snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE", fx->schema);
    fx_pg_admin(sql);
  }
  free(fx);
  return 0;
}

/* fx_setup, then applies the migrations. */
static inline int fx_setup_migrated(void **state) {
  if (fx_setup(state))
    return -1;
  fixture_t *fx = *state;
  char err[256];
  if (op_store_migrate(fx->store, err, sizeof err)) {
    fprintf(stderr, "fixture: migrate: %s\n", err);
    fx_teardown(state);
    return -1;
  }
  return 0;
}

/* Opens one more connection to the test's database. */
static inline op_store_t *fx_open(const fixture_t *fx) {
  char err[256];
  op_store_t *store = op_store_open(fx->url, err, sizeof err);
  if (store == NULL)
    fprintf(stderr, "fixture: open: %s\n", err);
  return store;
}

/* Runs sql (no parameters) and returns the first cell as an integer, or -1. */
static inline int64_t fx_int(op_store_t *store, const char *sql) {
  op_rows_t *rows = NULL;
  int64_t v = -1;
  if (op_store_exec(store, sql, 0, NULL, &rows) == 0 && op_rows_get_int64(rows, 0, 0, &v))
    v = -1;
  op_rows_free(rows);
  return v;
}

/* Registers test f on both backends, with the given setup. */
#define FX_TEST(f, setup)                                                                          \
  {"sqlite/" #f, f, setup, fx_teardown, (void *)"sqlite"}, {                                       \
    "postgres/" #f, f, setup, fx_teardown, (void *)"postgres"                                      \
  }

/* Registers a PostgreSQL-only test. */
#define FX_PG_TEST(f, setup)                                                                       \
  { "postgres/" #f, f, setup, fx_teardown, (void *)"postgres" }

/*
 * Runs the tests of tests[0..n): the postgres/ ones only when OP_TEST_PG_URL
 * is set, and only those matching OP_TEST_FILTER (a cmocka pattern) if set.
 */
static inline int fx_run(const char *group, struct CMUnitTest *tests, size_t n) {
  int pg = getenv("OP_TEST_PG_URL") && *getenv("OP_TEST_PG_URL");
  size_t kept = 0;
  for (size_t i = 0; i < n; i++)
    if (pg || strncmp(tests[i].name, "postgres/", 9) != 0)
      tests[kept++] = tests[i];
  if (!pg)
    fprintf(stderr, "%s: OP_TEST_PG_URL not set, PostgreSQL tests skipped\n", group);
  op_log_set_level(OP_LOG_WARN);
  if (getenv("OP_TEST_FILTER"))
    cmocka_set_test_filter(getenv("OP_TEST_FILTER"));
  return _cmocka_run_group_tests(group, tests, kept, NULL, NULL);
}

#endif
