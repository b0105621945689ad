/*
 * The PostgreSQL driver (libpq): the production backend (DESIGN.md §8).
 *
 * Statements are prepared once per connection (PQprepare, named op_<n>) and
 * cached by SQL text; results come back as text. Transactions run at READ
 * COMMITTED, synchronous_commit as the server says (on by default), so COMMIT
 * returns once the transaction is durable.
 *
 * Reconnection: a lost connection makes the current call fail with
 * OP_EDBDOWN. The next call made outside a transaction re-opens it with the
 * same parameters (PQreset) and starts again with an empty statement cache,
 * since prepared statements live in the server session. A statement is never
 * silently re-sent after a failure, because it may have taken effect; BEGIN
 * and PREPARE have no effect of their own, so those two are retried once on
 * a fresh connection.
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "store/driver.h"

#define CONNECT_TIMEOUT_S "10"
/* Key of the session-level advisory lock that serializes migrations. */
#define MIGRATE_LOCK_KEY "7957850447427847525"

typedef struct {
  char name[24];
  int nparams;
} pg_stmt_t;

typedef struct {
  PGconn *pg;
  op_stmt_cache_t cache; /* SQL text -> pg_stmt_t */
  unsigned next_id;
} pg_conn_t;

static pg_conn_t *conn_of(op_store_t *store) {
  return store->conn;
}

/* SQLSTATEs that mean the server is gone or refuses work for now. */
static int sqlstate_down(const char *state) {
  static const char *const down[] = {"08000", "08001", "08003", "08004", "08006",
                                     "57P01", "57P02", "57P03", "53300"};
  for (size_t i = 0; i < sizeof down / sizeof down[0]; i++)
    if (strcmp(state, down[i]) == 0)
      return 1;
  return 0;
}

/* Translates a failed result (res may be NULL) into an OP_E* code. */
static int map_result(PGconn *pg, const PGresult *res) {
  if (PQstatus(pg) == CONNECTION_BAD)
    return OP_EDBDOWN;
  const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
  if (state == NULL)
    return res ? OP_EDB : OP_EDBDOWN; /* no result: out of memory or a dead socket */
  if (strcmp(state, "23505") == 0)
    return OP_EEXIST;
  if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 || strcmp(state, "55P03") == 0)
    return OP_ECONFLICT;
  if (sqlstate_down(state))
    return OP_EDBDOWN;
  return OP_EDB;
}

/* Records a failure of what, frees res, returns the OP_E* code. Server and
 * libpq messages never carry the password. */
static int fail_result(op_store_t *store, PGresult *res, const char *what) {
  PGconn *pg = conn_of(store)->pg;
  int err = map_result(pg, res);
  const char *msg = res ? PQresultErrorMessage(res) : "";
  if (*msg == '\0')
    msg = PQerrorMessage(pg);
  const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
  op_store_fail(store, err, "postgres: %s: %s%s%s%s", what, msg, state ? " (SQLSTATE " : "",
                state ? state : "", state ? ")" : "");
  PQclear(res);
  return err;
}

static int result_ok(const PGresult *res) {
  ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
  return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

static void free_stmt(void *stmt, void *ctx) {
  (void)ctx;
  free(stmt);
}

static void quiet_notices(void *arg, const char *message) {
  (void)arg;
  op_log_debug("store", "postgres: %s", message);
}

/* Re-opens a lost connection when no transaction is open. Returns 0 when the
 * connection is usable, else OP_EDBDOWN. */
static int ensure_connected(op_store_t *store) {
  pg_conn_t *conn = conn_of(store);
  if (PQstatus(conn->pg) == CONNECTION_OK)
    return 0;
  if (store->in_tx)
    return op_store_fail(store, OP_EDBDOWN,
                         "postgres: connection lost inside a transaction; roll back and retry");
  op_stmt_cache_clear(&conn->cache);
  PQreset(conn->pg);
  if (PQstatus(conn->pg) != CONNECTION_OK)
    return op_store_fail(store, OP_EDBDOWN, "postgres: reconnect failed: %s",
                         PQerrorMessage(conn->pg));
  op_log_warn("store", "postgres: connection re-established");
  return 0;
}

/* Prepares sql under a new name and learns its parameter count. */
static int prepare(op_store_t *store, const char *sql, pg_stmt_t **out) {
  pg_conn_t *conn = conn_of(store);
  pg_stmt_t *stmt = calloc(1, sizeof *stmt);
  if (stmt == NULL)
    return op_store_fail(store, OP_ENOMEM, "postgres: out of memory");
  snprintf(stmt->name, sizeof stmt->name, "op_%u", conn->next_id++);
  PGresult *res = PQprepare(conn->pg, stmt->name, sql, 0, NULL);
  if (!result_ok(res)) {
    free(stmt);
    return fail_result(store, res, "prepare");
  }
  PQclear(res);
  res = PQdescribePrepared(conn->pg, stmt->name);
  if (!result_ok(res)) {
    free(stmt);
    return fail_result(store, res, "describe");
  }
  stmt->nparams = PQnparams(res);
  PQclear(res);
  *out = stmt;
  return 0;
}

/* Returns the cached prepared statement for sql, preparing it on first use. */
static int get_stmt(op_store_t *store, const char *sql, pg_stmt_t **out) {
  pg_conn_t *conn = conn_of(store);
  pg_stmt_t *stmt = op_stmt_cache_get(&conn->cache, sql);
  if (stmt) {
    *out = stmt;
    return 0;
  }
  if (conn->cache.count >= OP_STMT_CACHE_MAX && !store->in_tx) {
    PQclear(PQexec(conn->pg, "DEALLOCATE ALL"));
    op_stmt_cache_clear(&conn->cache);
  }
  int rc = prepare(store, sql, &stmt);
  if (rc == OP_EDBDOWN && !store->in_tx && ensure_connected(store) == 0)
    rc = prepare(store, sql, &stmt);
  if (rc)
    return rc;
  if (op_stmt_cache_put(&conn->cache, sql, stmt))
    return op_store_fail(store, OP_ENOMEM, "postgres: out of memory");
  *out = stmt;
  return 0;
}

static void clear_result(void *res) {
  PQclear(res);
}

/* Wraps a tuples result as rows without copying: cells point into res. */
static int wrap_rows(op_store_t *store, PGresult *res, op_rows_t **rows_out) {
  op_rows_t *rows = op_rows_new(PQnfields(res));
  size_t nrows = (size_t)PQntuples(res);
  size_t ncells = nrows * (size_t)PQnfields(res);
  if (rows && ncells && (rows->cells = malloc(ncells * sizeof *rows->cells)) == NULL) {
    op_rows_free(rows);
    rows = NULL;
  }
  if (rows == NULL) {
    PQclear(res);
    return op_store_fail(store, OP_ENOMEM, "postgres: out of memory");
  }
  rows->nrows = nrows;
  for (size_t r = 0; r < nrows; r++)
    for (int c = 0; c < rows->ncols; c++)
      rows->cells[r * (size_t)rows->ncols + (size_t)c] =
          PQgetisnull(res, (int)r, c) ? NULL : PQgetvalue(res, (int)r, c);
  rows->owner = res;
  rows->owner_free = clear_result;
  *rows_out = rows;
  return 0;
}

static int pg_exec(op_store_t *store, const char *sql, int nparams, const char *const *params,
                   op_rows_t **rows_out) {
  int rc = ensure_connected(store);
  if (rc)
    return rc;
  pg_stmt_t *stmt = NULL;
  rc = get_stmt(store, sql, &stmt);
  if (rc)
    return rc;
  if (stmt->nparams != nparams)
    return op_store_fail(store, OP_EINVAL, "postgres: statement has %d parameters, %d given",
                         stmt->nparams, nparams);
  PGresult *res = PQexecPrepared(conn_of(store)->pg, stmt->name, nparams, params, NULL, NULL, 0);
  if (!result_ok(res))
    return fail_result(store, res, "exec");
  /* PQcmdTuples also counts the rows a SELECT returned; changes are only
   * rows written. */
  const char *tuples = PQcmdTuples(res);
  store->changes =
      *tuples && strncmp(PQcmdStatus(res), "SELECT", 6) != 0 ? strtoll(tuples, NULL, 10) : 0;
  if (rows_out)
    return wrap_rows(store, res, rows_out);
  PQclear(res);
  return 0;
}

/* Runs a parameterless command (or several, ';'-separated). */
static int simple(op_store_t *store, const char *sql, const char *what) {
  PGresult *res = PQexec(conn_of(store)->pg, sql);
  if (!result_ok(res))
    return fail_result(store, res, what);
  PQclear(res);
  return 0;
}

static int pg_begin(op_store_t *store) {
  int rc = ensure_connected(store);
  if (rc == 0)
    rc = simple(store, "BEGIN", "begin");
  /* A connection that died while idle shows it only now; BEGIN is safe to
   * send again on a new one. */
  if (rc == OP_EDBDOWN && ensure_connected(store) == 0)
    rc = simple(store, "BEGIN", "begin");
  return rc;
}

static int pg_commit(op_store_t *store) {
  /* COMMIT of a transaction the server has aborted "succeeds" with the tag
   * ROLLBACK; that must not pass for a commit. */
  PGresult *res = PQexec(conn_of(store)->pg, "COMMIT");
  if (!result_ok(res))
    return fail_result(store, res, "commit");
  int rolled_back = strcmp(PQcmdStatus(res), "ROLLBACK") == 0;
  PQclear(res);
  if (rolled_back)
    return op_store_fail(store, OP_ECONFLICT, "postgres: commit: the transaction was aborted");
  return 0;
}

static int pg_rollback(op_store_t *store) {
  if (PQstatus(conn_of(store)->pg) != CONNECTION_OK)
    return 0; /* the server dropped the transaction with the connection */
  int rc = simple(store, "ROLLBACK", "rollback");
  return rc == OP_EDBDOWN ? 0 : rc;
}

static int pg_exec_script(op_store_t *store, const char *sql) {
  int rc = ensure_connected(store);
  return rc ? rc : simple(store, sql, "script");
}

static int pg_migrate_lock(op_store_t *store) {
  const char *key = MIGRATE_LOCK_KEY;
  return pg_exec(store, "SELECT pg_advisory_lock($1)", 1, &key, NULL);
}

static int pg_migrate_unlock(op_store_t *store) {
  const char *key = MIGRATE_LOCK_KEY;
  return pg_exec(store, "SELECT pg_advisory_unlock($1)", 1, &key, NULL);
}

static void pg_close(op_store_t *store) {
  pg_conn_t *conn = conn_of(store);
  if (conn == NULL)
    return;
  op_stmt_cache_free(&conn->cache);
  PQfinish(conn->pg);
  free(conn);
  store->conn = NULL;
}

/* Copies a libpq message into errbuf as one line. */
static void one_line(char *errbuf, size_t errlen, const char *prefix, const char *msg) {
  snprintf(errbuf, errlen, "%s%s", prefix, msg);
  size_t len = strlen(errbuf);
  while (len && (errbuf[len - 1] == '\n' || errbuf[len - 1] == ' '))
    errbuf[--len] = '\0';
  for (char *p = errbuf; *p; p++)
    if (*p == '\n' || *p == '\t')
      *p = ' ';
}

static int pg_open(op_store_t *store, const char *url, char *errbuf, size_t errlen) {
  char *perr = NULL;
  PQconninfoOption *opts = PQconninfoParse(url, &perr);
  if (opts == NULL) {
    one_line(errbuf, errlen, "store: invalid postgres URL: ", perr ? perr : "out of memory");
    PQfreemem(perr);
    return perr ? OP_EINVAL : OP_ENOMEM;
  }
  PQconninfoFree(opts);

  pg_conn_t *conn = calloc(1, sizeof *conn);
  if (conn == NULL) {
    snprintf(errbuf, errlen, "store: out of memory");
    return OP_ENOMEM;
  }
  op_stmt_cache_init(&conn->cache, free_stmt, NULL);
  /* Defaults first: settings in the URL override them. */
  const char *const keys[] = {"connect_timeout", "application_name", "dbname", NULL};
  const char *const values[] = {CONNECT_TIMEOUT_S, "orderpulse", url, NULL};
  conn->pg = PQconnectdbParams(keys, values, 1);
  if (conn->pg == NULL || PQstatus(conn->pg) != CONNECTION_OK) {
    one_line(errbuf, errlen, "store: cannot connect to postgres: ",
             conn->pg ? PQerrorMessage(conn->pg) : "out of memory");
    PQfinish(conn->pg);
    free(conn);
    return OP_EDBDOWN;
  }
  PQsetNoticeProcessor(conn->pg, quiet_notices, NULL);
  store->conn = conn;
  return 0;
}

const op_store_driver_t op_store_postgres_driver = {
    .name = "postgres",
    .open = pg_open,
    .close = pg_close,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .exec = pg_exec,
    .exec_script = pg_exec_script,
    .migrate_lock = pg_migrate_lock,
    .migrate_unlock = pg_migrate_unlock,
};
