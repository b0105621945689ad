/*
 * Schema migrations: the SQL files under migrations/<backend>/ are embedded
 * at build time (embed_migrations.cmake) and applied here in version order,
 * each in its own transaction together with its row in schema_migrations.
 *
 * Concurrency: several processes may start against one database at once.
 * Each step checks schema_migrations and applies inside one write
 * transaction, so on SQLite (BEGIN IMMEDIATE: one writer at a time) the second
 * process sees the first one's work and skips it. On PostgreSQL two READ
 * COMMITTED transactions could both see a version missing, so the whole run
 * holds a session-level advisory lock (the driver's migrate_lock).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "store/driver.h"

static const char create_table_sql[] = "CREATE TABLE IF NOT EXISTS schema_migrations ("
                                       "version BIGINT PRIMARY KEY, "
                                       "name TEXT NOT NULL, "
                                       "applied_at BIGINT NOT NULL)";

static const op_migration_set_t *migrations_for(const op_store_t *store) {
  for (size_t i = 0; i < op_store_migration_sets_len; i++)
    if (strcmp(op_store_migration_sets[i].backend, store->drv->name) == 0)
      return &op_store_migration_sets[i];
  return NULL;
}

int64_t op_store_schema_version(const op_store_t *store) {
  const op_migration_set_t *set = migrations_for(store);
  return set && set->count ? set->migrations[set->count - 1].version : 0;
}

/*
 * Applies m unless schema_migrations already lists it, in one transaction.
 * Sets *applied to 1 when it ran. Returns 0 or an OP_E* code (rolled back).
 */
static int apply_one(op_store_t *store, const op_migration_t *m, int *applied) {
  char version[24], now[24];
  snprintf(version, sizeof version, "%" PRId64, m->version);
  snprintf(now, sizeof now, "%" PRId64, op_now_ms());
  *applied = 0;
  int rc = op_store_begin(store);
  if (rc)
    return rc;
  rc = store->drv->exec_script(store, create_table_sql);
  op_rows_t *rows = NULL;
  if (rc == 0) {
    const char *params[] = {version};
    rc = op_store_exec(store, "SELECT 1 FROM schema_migrations WHERE version = $1", 1, params,
                       &rows);
  }
  if (rc == 0 && op_rows_count(rows) == 0) {
    rc = store->drv->exec_script(store, m->sql);
    if (rc == 0) {
      const char *params[] = {version, m->name, now};
      rc = op_store_exec(store,
                         "INSERT INTO schema_migrations (version, name, applied_at) "
                         "VALUES ($1, $2, $3)",
                         3, params, NULL);
    }
    *applied = rc == 0;
  }
  op_rows_free(rows);
  if (rc == 0)
    rc = op_store_commit(store);
  else
    op_store_rollback(store);
  if (rc)
    *applied = 0;
  return rc;
}

int op_store_migrate(op_store_t *store, char *errbuf, size_t errlen) {
  if (store->in_tx) {
    snprintf(errbuf, errlen, "store: migrate called inside a transaction");
    return OP_EINVAL;
  }
  const op_migration_set_t *set = migrations_for(store);
  if (set == NULL) {
    snprintf(errbuf, errlen, "store: no migrations embedded for %s", store->drv->name);
    return OP_ENOENT;
  }
  if (store->drv->migrate_lock) {
    int rc = store->drv->migrate_lock(store);
    if (rc) {
      snprintf(errbuf, errlen, "store: cannot take the migration lock: %s", store->errmsg);
      return rc;
    }
  }
  int rc = 0;
  for (size_t i = 0; i < set->count && rc == 0; i++) {
    const op_migration_t *m = &set->migrations[i];
    int applied;
    rc = apply_one(store, m, &applied);
    if (rc)
      snprintf(errbuf, errlen, "store: migration %03" PRId64 "_%s failed: %s", m->version, m->name,
               store->errmsg);
    else if (applied)
      op_log_info("store", "applied migration %03" PRId64 "_%s (%s)", m->version, m->name,
                  store->drv->name);
  }
  /* On a lost connection the server has released the lock already. */
  if (store->drv->migrate_unlock && rc != OP_EDBDOWN) {
    char detail[OP_STORE_ERRMSG_LEN];
    memcpy(detail, store->errmsg, sizeof detail);
    int urc = store->drv->migrate_unlock(store);
    if (rc == 0 && urc) {
      snprintf(errbuf, errlen, "store: cannot release the migration lock: %s", store->errmsg);
      rc = urc;
    } else {
      memcpy(store->errmsg, detail, sizeof detail);
    }
  }
  return rc;
}
