/* The store's face: opening, URLs, statements, parameters, rows, errors and
 * transactions, on SQLite and (with OP_TEST_PG_URL) PostgreSQL. */
#include "store/fixture.h"

#include <sys/stat.h>

/* ---- open and URLs (backend-independent) ---- */

static void test_bad_urls(void **state) {
  (void)state;
  char err[256];
  op_store_t *store = (op_store_t *)1;
  assert_int_equal(op_store_connect("", &store, err, sizeof err), OP_EINVAL);
  assert_null(store);
  assert_int_equal(op_store_connect("mysql://u:pw@h/db", &store, err, sizeof err), OP_EINVAL);
  assert_non_null(strstr(err, "scheme"));
  assert_null(strstr(err, "pw@")); /* the URL is not echoed */
  assert_int_equal(op_store_connect("sqlite://", &store, err, sizeof err), OP_EINVAL);
  assert_int_equal(op_store_connect("postgres://h/db?no_such_option=1", &store, err, sizeof err),
                   OP_EINVAL);
  assert_null(op_store_open("nope", err, sizeof err));
  assert_true(strlen(err) > 0);
}

static void test_unreachable_postgres(void **state) {
  (void)state;
  char err[512];
  op_store_t *store = NULL;
  int rc = op_store_connect("postgres://u:s3cretpw@127.0.0.1:1/db?connect_timeout=2", &store, err,
                            sizeof err);
  assert_int_equal(rc, OP_EDBDOWN);
  assert_null(store);
  assert_non_null(strstr(err, "cannot connect to postgres"));
  assert_null(strstr(err, "s3cretpw"));
  assert_null(strchr(err, '\n'));
}

static void test_sqlite_memory(void **state) {
  (void)state;
  char err[256];
  op_store_t *store = op_store_open("sqlite://:memory:", err, sizeof err);
  assert_non_null(store);
  assert_string_equal(op_store_backend(store), "sqlite");
  assert_int_equal(fx_int(store, "SELECT 40 + 2"), 42);
  op_store_close(store);
  op_store_close(NULL);
}

static void test_sqlite_unopenable(void **state) {
  (void)state;
  char dir[] = "/tmp/op-store-test-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char file[300], url[400], err[512];
  snprintf(file, sizeof file, "%s/plain", dir);
  FILE *f = fopen(file, "w");
  assert_non_null(f);
  fputs("not a database, and not a directory either\n", f);
  fclose(f);
  op_store_t *store;
  /* The parent "directory" is a regular file. */
  snprintf(url, sizeof url, "sqlite://%s/db.sqlite", file);
  assert_int_equal(op_store_connect(url, &store, err, sizeof err), OP_EDBDOWN);
  /* The file is not a database. */
  snprintf(url, sizeof url, "sqlite://%s", file);
  assert_int_equal(op_store_connect(url, &store, err, sizeof err), OP_EDBDOWN);
  assert_non_null(strstr(err, "plain"));
  remove(file);
  rmdir(dir);
}

/* A relative path is relative to the working directory; its missing
 * directories are created. */
static void test_sqlite_relative_path(void **state) {
  (void)state;
  char dir[] = "/tmp/op-store-test-XXXXXX", cwd[512], err[256];
  assert_non_null(mkdtemp(dir));
  assert_non_null(getcwd(cwd, sizeof cwd));
  assert_int_equal(chdir(dir), 0);
  op_store_t *store = op_store_open("sqlite://data/nested/op.db", err, sizeof err);
  assert_int_equal(chdir(cwd), 0);
  assert_non_null(store);
  assert_int_equal(fx_int(store, "SELECT 1"), 1);
  op_store_close(store);
  char path[600];
  struct stat st;
  snprintf(path, sizeof path, "%s/data/nested/op.db", dir);
  assert_int_equal(stat(path, &st), 0);
  nftw(dir, fx_rm, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- both backends ---- */

static void test_open_close(void **state) {
  fixture_t *fx = *state;
  assert_string_equal(op_store_backend(fx->store), fx->backend);
  assert_string_equal(op_store_errmsg(fx->store), "");
  assert_int_equal(op_store_in_tx(fx->store), 0);
  if (fx->dir[0]) { /* the missing parent directory was created */
    char path[400];
    struct stat st;
    snprintf(path, sizeof path, "%s/sub/test.db", fx->dir);
    assert_int_equal(stat(path, &st), 0);
  }
  if (fx->dir[0]) { /* durability settings (see sqlite.c) */
    op_rows_t *rows = NULL;
    assert_int_equal(op_store_exec(fx->store, "PRAGMA journal_mode", 0, NULL, &rows), 0);
    assert_string_equal(op_rows_get(rows, 0, 0), "wal");
    op_rows_free(rows);
    assert_int_equal(fx_int(fx->store, "PRAGMA synchronous"), 1); /* NORMAL */
    /* the write-lock wait is sqlite.c's own busy handler, not busy_timeout */
    assert_int_equal(fx_int(fx->store, "PRAGMA busy_timeout"), 0);
    assert_int_equal(fx_int(fx->store, "PRAGMA foreign_keys"), 1);
  }
  /* A second connection to the same database. */
  op_store_t *other = fx_open(fx);
  assert_non_null(other);
  op_store_close(other);
}

static void create_kv(op_store_t *store) {
  assert_int_equal(
      op_store_exec(store, "CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT, n BIGINT)", 0, NULL, NULL),
      0);
}

static void test_exec_params_rows(void **state) {
  fixture_t *fx = *state;
  create_kv(fx->store);
  const char *ins = "INSERT INTO kv (k, v, n) VALUES ($1, $2, $3)";
  const char *a[] = {"a", "alpha", "1"};
  const char *b[] = {"b", NULL, "9007199254740993"};
  const char *c[] = {"c", "it's \"quoted\" $1 ünïcode", NULL};
  assert_int_equal(op_store_exec(fx->store, ins, 3, a, NULL), 0);
  assert_int_equal(op_store_changes(fx->store), 1);
  assert_int_equal(op_store_exec(fx->store, ins, 3, b, NULL), 0);
  assert_int_equal(op_store_exec(fx->store, ins, 3, c, NULL), 0);

  op_rows_t *rows = NULL;
  assert_int_equal(op_store_exec(fx->store, "SELECT k, v, n FROM kv ORDER BY k", 0, NULL, &rows),
                   0);
  assert_int_equal(op_rows_count(rows), 3);
  assert_int_equal(op_rows_columns(rows), 3);
  assert_string_equal(op_rows_get(rows, 0, 1), "alpha");
  assert_null(op_rows_get(rows, 1, 1)); /* SQL NULL */
  assert_string_equal(op_rows_get(rows, 2, 1), c[1]);
  int64_t n = 0;
  assert_int_equal(op_rows_get_int64(rows, 0, 2, &n), 0);
  assert_int_equal(n, 1);
  assert_int_equal(op_rows_get_int64(rows, 1, 2, &n), 0);
  assert_int_equal(n, 9007199254740993LL);
  assert_int_equal(op_rows_get_int64(rows, 2, 2, &n), OP_ENOENT);
  assert_int_equal(op_rows_get_int64(rows, 0, 1, &n), OP_EINVAL);
  assert_null(op_rows_get(rows, 3, 0)); /* out of range */
  assert_null(op_rows_get(rows, 0, 3));
  assert_int_equal(op_rows_get_int64(rows, 9, 0, &n), OP_ENOENT);
  op_rows_free(rows);

  /* An empty result is rows with zero rows. */
  const char *k[] = {"zz"};
  assert_int_equal(op_store_exec(fx->store, "SELECT v FROM kv WHERE k = $1", 1, k, &rows), 0);
  assert_non_null(rows);
  assert_int_equal(op_rows_count(rows), 0);
  op_rows_free(rows);

  /* Many runs of one cached statement. */
  for (int i = 0; i < 200; i++) {
    char key[16];
    snprintf(key, sizeof key, "k%03d", i);
    const char *p[] = {key, "x", "0"};
    assert_int_equal(op_store_exec(fx->store, ins, 3, p, NULL), 0);
  }
  assert_int_equal(fx_int(fx->store, "SELECT COUNT(*) FROM kv"), 203);
  assert_int_equal(op_store_exec(fx->store, "UPDATE kv SET n = 5 WHERE v = 'x'", 0, NULL, NULL), 0);
  assert_int_equal(op_store_changes(fx->store), 200);
  /* Reads change nothing. */
  assert_int_equal(fx_int(fx->store, "SELECT COUNT(*) FROM kv"), 203);
  assert_int_equal(op_store_changes(fx->store), 0);
  /* Rows written and returned count once. */
  const char *d[] = {"x"};
  assert_int_equal(op_store_exec(fx->store, "DELETE FROM kv WHERE v = $1 RETURNING k", 1, d, &rows),
                   0);
  assert_int_equal(op_rows_count(rows), 200);
  assert_int_equal(op_store_changes(fx->store), 200);
  op_rows_free(rows);
}

static void test_placeholders(void **state) {
  fixture_t *fx = *state;
  op_rows_t *rows = NULL;
  /* $N inside literals, quoted identifiers and comments is text, not a
   * parameter; parameters may appear out of order and more than once. */
  const char *sql = "SELECT '$1 costs $2' AS \"col$1\", $2 || '-' || $1, /* $3 */ $1 -- $9\n";
  const char *p[] = {"one", "two"};
  assert_int_equal(op_store_exec(fx->store, sql, 2, p, &rows), 0);
  assert_string_equal(op_rows_get(rows, 0, 0), "$1 costs $2");
  assert_string_equal(op_rows_get(rows, 0, 1), "two-one");
  assert_string_equal(op_rows_get(rows, 0, 2), "one");
  op_rows_free(rows);
  /* An escaped quote does not end the literal. */
  const char *q[] = {"x"};
  assert_int_equal(op_store_exec(fx->store, "SELECT 'it''s $1', $1", 1, q, &rows), 0);
  assert_string_equal(op_rows_get(rows, 0, 0), "it's $1");
  assert_string_equal(op_rows_get(rows, 0, 1), "x");
  op_rows_free(rows);
  /* Parameter count mismatch is the caller's error. */
  assert_int_equal(op_store_exec(fx->store, "SELECT $1, $2", 1, q, NULL), OP_EINVAL);
  assert_int_equal(op_store_exec(fx->store, "SELECT 1", 1, q, NULL), OP_EINVAL);
  assert_true(strlen(op_store_errmsg(fx->store)) > 0);
}

static void test_errors(void **state) {
  fixture_t *fx = *state;
  create_kv(fx->store);
  const char *ins = "INSERT INTO kv (k, v) VALUES ($1, $2)";
  const char *a[] = {"a", "1"};
  assert_int_equal(op_store_exec(fx->store, ins, 2, a, NULL), 0);
  assert_int_equal(op_store_exec(fx->store, ins, 2, a, NULL), OP_EEXIST);
  assert_true(strlen(op_store_errmsg(fx->store)) > 0);
  op_rows_t *rows = (op_rows_t *)1;
  assert_int_equal(op_store_exec(fx->store, "SELEC nonsense", 0, NULL, &rows), OP_EDB);
  assert_null(rows);
  assert_null(strchr(op_store_errmsg(fx->store), '\n'));
  assert_int_equal(op_store_exec(fx->store, "SELECT * FROM no_such_table", 0, NULL, NULL), OP_EDB);
  assert_int_equal(op_store_exec(fx->store, NULL, 0, NULL, NULL), OP_EINVAL);
  /* The connection is still usable. */
  assert_int_equal(fx_int(fx->store, "SELECT COUNT(*) FROM kv"), 1);
}

static void test_transactions(void **state) {
  fixture_t *fx = *state;
  create_kv(fx->store);
  const char *ins = "INSERT INTO kv (k, v) VALUES ($1, $2)";
  const char *a[] = {"a", "1"}, *b[] = {"b", "2"};

  assert_int_equal(op_store_begin(fx->store), 0);
  assert_int_equal(op_store_in_tx(fx->store), 1);
  assert_int_equal(op_store_begin(fx->store), OP_EINVAL); /* no nesting */
  assert_int_equal(op_store_exec(fx->store, ins, 2, a, NULL), 0);
  assert_int_equal(op_store_rollback(fx->store), 0);
  assert_int_equal(op_store_in_tx(fx->store), 0);
  assert_int_equal(fx_int(fx->store, "SELECT COUNT(*) FROM kv"), 0);

  assert_int_equal(op_store_begin(fx->store), 0);
  assert_int_equal(op_store_exec(fx->store, ins, 2, a, NULL), 0);
  assert_int_equal(op_store_exec(fx->store, ins, 2, b, NULL), 0);
  assert_int_equal(op_store_commit(fx->store), 0);
  assert_int_equal(op_store_in_tx(fx->store), 0);

  /* Another connection sees committed rows. */
  op_store_t *other = fx_open(fx);
  assert_non_null(other);
  assert_int_equal(fx_int(other, "SELECT COUNT(*) FROM kv"), 2);

  /* A failed statement inside a transaction: roll back, nothing kept. */
  const char *c[] = {"c", "3"};
  assert_int_equal(op_store_begin(fx->store), 0);
  assert_int_equal(op_store_exec(fx->store, ins, 2, c, NULL), 0);
  assert_int_equal(op_store_exec(fx->store, ins, 2, a, NULL), OP_EEXIST);
  assert_int_equal(op_store_rollback(fx->store), 0);
  assert_int_equal(fx_int(other, "SELECT COUNT(*) FROM kv"), 2);

  /* After a failed statement the transaction is doomed on both backends:
   * further statements and commit are refused, nothing is kept. */
  assert_int_equal(op_store_begin(fx->store), 0);
  assert_int_equal(op_store_exec(fx->store, ins, 2, c, NULL), 0);
  assert_int_equal(op_store_exec(fx->store, ins, 2, a, NULL), OP_EEXIST);
  const char *d[] = {"d", "4"};
  assert_int_equal(op_store_exec(fx->store, ins, 2, d, NULL), OP_EINVAL);
  assert_int_equal(op_store_commit(fx->store), OP_EINVAL);
  assert_int_equal(op_store_in_tx(fx->store), 0);
  assert_int_equal(fx_int(other, "SELECT COUNT(*) FROM kv"), 2);
  /* The next transaction is fine. */
  assert_int_equal(op_store_begin(fx->store), 0);
  assert_int_equal(op_store_exec(fx->store, ins, 2, d, NULL), 0);
  assert_int_equal(op_store_commit(fx->store), 0);
  assert_int_equal(fx_int(other, "SELECT COUNT(*) FROM kv"), 3);
  assert_int_equal(op_store_exec(fx->store, "DELETE FROM kv WHERE k = 'd'", 0, NULL, NULL), 0);

  assert_int_equal(op_store_commit(fx->store), OP_EINVAL); /* none open */
  assert_int_equal(op_store_rollback(fx->store), 0);       /* no-op */

  /* Closing with an open transaction rolls it back. */
  assert_int_equal(op_store_begin(other), 0);
  assert_int_equal(op_store_exec(other, ins, 2, c, NULL), 0);
  op_store_close(other);
  assert_int_equal(fx_int(fx->store, "SELECT COUNT(*) FROM kv"), 2);
}

/* PostgreSQL: a connection killed by the server is re-opened at the next
 * call outside a transaction; inside one the caller must roll back. */
static void test_reconnect(void **state) {
  fixture_t *fx = *state;
  create_kv(fx->store);
  char sql[128];
  int64_t pid = fx_int(fx->store, "SELECT pg_backend_pid()");
  assert_true(pid > 0);
  snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%lld)", (long long)pid);
  assert_int_equal(fx_pg_admin(sql), 0);
  usleep(100 * 1000);
  /* BEGIN is retried on a fresh connection transparently. */
  assert_int_equal(op_store_begin(fx->store), 0);
  const char *a[] = {"a", "1"};
  assert_int_equal(op_store_exec(fx->store, "INSERT INTO kv (k, v) VALUES ($1, $2)", 2, a, NULL),
                   0);
  assert_int_equal(op_store_commit(fx->store), 0);
  assert_int_equal(fx_int(fx->store, "SELECT COUNT(*) FROM kv"), 1);

  /* Killed inside a transaction: the statement fails, rollback succeeds,
   * the next call reconnects. */
  pid = fx_int(fx->store, "SELECT pg_backend_pid()");
  assert_int_equal(op_store_begin(fx->store), 0);
  snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%lld)", (long long)pid);
  assert_int_equal(fx_pg_admin(sql), 0);
  usleep(100 * 1000);
  const char *b[] = {"b", "2"};
  assert_int_equal(op_store_exec(fx->store, "INSERT INTO kv (k, v) VALUES ($1, $2)", 2, b, NULL),
                   OP_EDBDOWN);
  /* The transaction is doomed: later statements are refused until rollback. */
  assert_int_equal(op_store_exec(fx->store, "SELECT 1", 0, NULL, NULL), OP_EINVAL);
  assert_int_equal(op_store_rollback(fx->store), 0);
  assert_int_equal(fx_int(fx->store, "SELECT COUNT(*) FROM kv"), 1);

  /* Killed while idle, then a statement already prepared: it fails once
   * (it may have run), the next call reconnects. */
  pid = fx_int(fx->store, "SELECT pg_backend_pid()");
  snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%lld)", (long long)pid);
  assert_int_equal(fx_pg_admin(sql), 0);
  usleep(100 * 1000);
  assert_int_equal(op_store_exec(fx->store, "SELECT pg_backend_pid()", 0, NULL, NULL), OP_EDBDOWN);
  assert_int_equal(fx_int(fx->store, "SELECT COUNT(*) FROM kv"), 1);

  /* Killed while idle, then a statement not prepared yet: preparing has no
   * effect, so it is retried on a new connection and succeeds. */
  pid = fx_int(fx->store, "SELECT pg_backend_pid()");
  snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%lld)", (long long)pid);
  assert_int_equal(fx_pg_admin(sql), 0);
  usleep(100 * 1000);
  assert_int_equal(fx_int(fx->store, "SELECT 7"), 7);
}

/* PostgreSQL: a password in the URL never reaches an error message. */
static void test_password_not_echoed(void **state) {
  fixture_t *fx = *state;
  char url[1200], err[512];
  const char *at = strstr(fx->url, "@");
  const char *scheme = strstr(fx->url, "://");
  assert_non_null(at);
  /* user:password@ — the test server trusts every connection. */
  snprintf(url, sizeof url, "%.*s:pw_s3cret%s", (int)(at - fx->url), fx->url, at);
  assert_non_null(scheme);
  op_store_t *store = op_store_open(url, err, sizeof err);
  assert_non_null(store);
  assert_int_equal(op_store_exec(store, "SELECT * FROM no_such_table", 0, NULL, NULL), OP_EDB);
  assert_null(strstr(op_store_errmsg(store), "pw_s3cret"));
  op_store_close(store);
}

int main(void) {
  struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bad_urls),
      cmocka_unit_test(test_unreachable_postgres),
      cmocka_unit_test(test_sqlite_memory),
      cmocka_unit_test(test_sqlite_unopenable),
      cmocka_unit_test(test_sqlite_relative_path),
      FX_TEST(test_open_close, fx_setup),
      FX_TEST(test_exec_params_rows, fx_setup),
      FX_TEST(test_placeholders, fx_setup),
      FX_TEST(test_errors, fx_setup),
      FX_TEST(test_transactions, fx_setup),
      FX_PG_TEST(test_reconnect, fx_setup),
      FX_PG_TEST(test_password_not_echoed, fx_setup),
  };
  return fx_run("store", tests, sizeof tests / sizeof tests[0]);
}
