/*
 * Inside the storage layer: the driver table every backend fills in, the
 * handle they share, the result rows they build, and a statement cache keyed
 * by SQL text. Only src/store/ includes this header.
 */
#ifndef OP_STORE_DRIVER_H
#define OP_STORE_DRIVER_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

#define OP_STORE_ERRMSG_LEN 512

typedef struct op_store_driver_s op_store_driver_t;

struct op_store_s {
  const op_store_driver_t *drv;
  void *conn; /* the driver's connection state */
  int in_tx;
  int tx_failed; /* a statement failed inside the open transaction */
  int64_t changes;
  char errmsg[OP_STORE_ERRMSG_LEN];
};

/*
 * One backend. open receives the whole URL and sets store->conn; on failure
 * it returns an OP_E* code with one line in errbuf and leaves nothing
 * allocated. The other entries are called only on an open handle and report
 * failures through op_store_fail(). The transaction entries are called by
 * store.c, which keeps store->in_tx; begin/commit/rollback just run the
 * backend's statements. exec_script runs several ';'-separated statements
 * without parameters (migrations). migrate_lock/unlock serialize migrations
 * across processes where begin alone does not; NULL when not needed.
 */
struct op_store_driver_s {
  const char *name;
  int (*open)(op_store_t *store, const char *url, char *errbuf, size_t errlen);
  void (*close)(op_store_t *store);
  int (*begin)(op_store_t *store);
  int (*commit)(op_store_t *store);
  int (*rollback)(op_store_t *store);
  int (*exec)(op_store_t *store, const char *sql, int nparams, const char *const *params,
              op_rows_t **rows_out);
  int (*exec_script)(op_store_t *store, const char *sql);
  int (*migrate_lock)(op_store_t *store);
  int (*migrate_unlock)(op_store_t *store);
};

extern const op_store_driver_t op_store_sqlite_driver;
extern const op_store_driver_t op_store_postgres_driver;

/* Records err with a formatted detail as the handle's last error and returns
 * err, so drivers can write `return op_store_fail(store, OP_EDB, …)`. */
int op_store_fail(op_store_t *store, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Result rows: a grid of NUL-terminated cells (NULL for SQL NULL) that point
 * either into an arena the rows own or into a driver object released by
 * owner_free (a PGresult). */
struct op_rows_s {
  size_t nrows;
  int ncols;
  const char **cells; /* nrows * ncols, row-major */
  char *arena;
  size_t arena_len, arena_cap;
  size_t cells_len, cells_cap;
  void *owner;
  void (*owner_free)(void *owner);
};

/* Builder for arena-backed rows: new, then add_cell ncols times per row, then
 * finish. add_cell copies len bytes of s (NULL: SQL NULL). Between add_cell
 * and finish, cells hold arena offsets; finish turns them into pointers.
 * Returns NULL / OP_ENOMEM on allocation failure. */
op_rows_t *op_rows_new(int ncols);
int op_rows_add_cell(op_rows_t *rows, const char *s, size_t len);
void op_rows_finish(op_rows_t *rows);

/*
 * A map from SQL text to a prepared statement (an opaque pointer), owned by a
 * connection. destroy releases one statement when the cache is cleared.
 */
typedef struct op_stmt_cache_s {
  struct op_stmt_entry_s *slots;
  size_t cap, count;
  void (*destroy)(void *stmt, void *ctx);
  void *ctx;
} op_stmt_cache_t;

void op_stmt_cache_init(op_stmt_cache_t *cache, void (*destroy)(void *stmt, void *ctx), void *ctx);
void *op_stmt_cache_get(const op_stmt_cache_t *cache, const char *sql);
/* Copies sql as the key; stmt is owned by the cache from now on, even on
 * failure (then destroyed). Returns 0 or OP_ENOMEM. */
int op_stmt_cache_put(op_stmt_cache_t *cache, const char *sql, void *stmt);
/* Destroys every statement; the cache stays usable. */
void op_stmt_cache_clear(op_stmt_cache_t *cache);
void op_stmt_cache_free(op_stmt_cache_t *cache);

/* Above this many cached statements a driver clears its cache (outside a
 * transaction) rather than grow without bound. */
#define OP_STMT_CACHE_MAX 512

/* Migrations embedded at build time (generated store_migrations.c). */
typedef struct op_migration_s {
  int64_t version;
  const char *name;
  const char *sql;
} op_migration_t;

typedef struct op_migration_set_s {
  const char *backend;
  const op_migration_t *migrations;
  size_t count;
} op_migration_set_t;

extern const op_migration_set_t op_store_migration_sets[];
extern const size_t op_store_migration_sets_len;

#endif
