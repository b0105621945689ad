/*
 * The storage layer's dispatch: picks a driver from the URL scheme once, keeps
 * the transaction flag and the last error, and holds the pieces both drivers
 * share (result rows, the statement cache).
 */
#include "store/driver.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

static const struct {
  const char *scheme;
  const op_store_driver_t *drv;
} schemes[] = {
    {"sqlite://", &op_store_sqlite_driver},
    {"postgres://", &op_store_postgres_driver},
    {"postgresql://", &op_store_postgres_driver},
};

static void set_err(char *errbuf, size_t errlen, const char *msg) {
  if (errbuf && errlen)
    snprintf(errbuf, errlen, "%s", msg);
}

int op_store_connect(const char *url, op_store_t **out, char *errbuf, size_t errlen) {
  *out = NULL;
  if (url == NULL || *url == '\0') {
    set_err(errbuf, errlen, "store: empty database URL");
    return OP_EINVAL;
  }
  const op_store_driver_t *drv = NULL;
  for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
    if (strncmp(url, schemes[i].scheme, strlen(schemes[i].scheme)) == 0) {
      drv = schemes[i].drv;
      break;
    }
  }
  if (drv == NULL) {
    /* The URL is not echoed: an unknown scheme may still carry a password. */
    set_err(errbuf, errlen,
            "store: unsupported database URL scheme (use sqlite://, postgres:// or "
            "postgresql://)");
    return OP_EINVAL;
  }
  op_store_t *store = calloc(1, sizeof *store);
  if (store == NULL) {
    set_err(errbuf, errlen, "store: out of memory");
    return OP_ENOMEM;
  }
  store->drv = drv;
  int rc = drv->open(store, url, errbuf, errlen);
  if (rc) {
    free(store);
    return rc;
  }
  *out = store;
  return 0;
}

op_store_t *op_store_open(const char *url, char *errbuf, size_t errlen) {
  op_store_t *store;
  return op_store_connect(url, &store, errbuf, errlen) ? NULL : store;
}

void op_store_close(op_store_t *store) {
  if (store == NULL)
    return;
  if (store->in_tx)
    store->drv->rollback(store);
  store->drv->close(store);
  free(store);
}

const char *op_store_backend(const op_store_t *store) {
  return store->drv->name;
}

const char *op_store_errmsg(const op_store_t *store) {
  return store->errmsg;
}

int op_store_fail(op_store_t *store, int err, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(store->errmsg, sizeof store->errmsg, fmt, ap);
  va_end(ap);
  /* Server messages end with a newline; the detail is one line. */
  size_t len = strlen(store->errmsg);
  while (len && (store->errmsg[len - 1] == '\n' || store->errmsg[len - 1] == ' '))
    store->errmsg[--len] = '\0';
  for (char *p = store->errmsg; *p; p++)
    if (*p == '\n' || *p == '\t')
      *p = ' ';
  return err;
}

int op_store_begin(op_store_t *store) {
  if (store->in_tx)
    return op_store_fail(store, OP_EINVAL, "begin: a transaction is already open");
  int rc = store->drv->begin(store);
  if (rc == 0) {
    store->in_tx = 1;
    store->tx_failed = 0;
  }
  return rc;
}

int op_store_commit(op_store_t *store) {
  if (!store->in_tx)
    return op_store_fail(store, OP_EINVAL, "commit: no transaction is open");
  if (store->tx_failed) {
    store->drv->rollback(store);
    store->in_tx = 0;
    store->tx_failed = 0;
    return op_store_fail(store, OP_EINVAL,
                         "commit: a statement of this transaction failed; rolled back");
  }
  int rc = store->drv->commit(store);
  if (rc) {
    /* Keep the commit's error detail; the rollback only tidies up. */
    char detail[OP_STORE_ERRMSG_LEN];
    memcpy(detail, store->errmsg, sizeof detail);
    store->drv->rollback(store);
    memcpy(store->errmsg, detail, sizeof detail);
  }
  store->in_tx = 0;
  return rc;
}

int op_store_rollback(op_store_t *store) {
  if (!store->in_tx)
    return 0;
  int rc = store->drv->rollback(store);
  store->in_tx = 0;
  store->tx_failed = 0;
  return rc;
}

int op_store_in_tx(const op_store_t *store) {
  return store->in_tx;
}

int op_store_exec(op_store_t *store, const char *sql, int nparams, const char *const *params,
                  op_rows_t **rows_out) {
  if (rows_out)
    *rows_out = NULL;
  if (sql == NULL || nparams < 0 || (nparams > 0 && params == NULL))
    return op_store_fail(store, OP_EINVAL, "exec: invalid arguments");
  store->changes = 0;
  /* PostgreSQL refuses every statement of a transaction after a failed one;
   * SQLite would go on and could commit half the work. Both behave like
   * PostgreSQL here, so that code written against one is right on both. */
  if (store->in_tx && store->tx_failed)
    return op_store_fail(store, OP_EINVAL,
                         "exec: a statement of this transaction failed; roll back first");
  int rc = store->drv->exec(store, sql, nparams, params, rows_out);
  if (rc && store->in_tx)
    store->tx_failed = 1;
  return rc;
}

int64_t op_store_changes(const op_store_t *store) {
  return store->changes;
}

/* ---- result rows ---- */

op_rows_t *op_rows_new(int ncols) {
  op_rows_t *rows = calloc(1, sizeof *rows);
  if (rows)
    rows->ncols = ncols;
  return rows;
}

/* While building, a cell holds its arena offset plus one, so that 0 can mean
 * SQL NULL; op_rows_finish turns offsets into pointers once the arena stops
 * moving. */
int op_rows_add_cell(op_rows_t *rows, const char *s, size_t len) {
  if (rows->cells_len == rows->cells_cap) {
    size_t cap = rows->cells_cap ? rows->cells_cap * 2 : 64;
    const char **cells = realloc(rows->cells, cap * sizeof *cells);
    if (cells == NULL)
      return OP_ENOMEM;
    rows->cells = cells;
    rows->cells_cap = cap;
  }
  uintptr_t off = 0;
  if (s) {
    if (rows->arena_len + len + 1 > rows->arena_cap) {
      size_t cap = rows->arena_cap ? rows->arena_cap : 1024;
      while (cap < rows->arena_len + len + 1)
        cap *= 2;
      char *arena = realloc(rows->arena, cap);
      if (arena == NULL)
        return OP_ENOMEM;
      rows->arena = arena;
      rows->arena_cap = cap;
    }
    if (len)
      memcpy(rows->arena + rows->arena_len, s, len);
    rows->arena[rows->arena_len + len] = '\0';
    off = (uintptr_t)rows->arena_len + 1;
    rows->arena_len += len + 1;
  }
  rows->cells[rows->cells_len++] = (const char *)off;
  return 0;
}

void op_rows_finish(op_rows_t *rows) {
  for (size_t i = 0; i < rows->cells_len; i++) {
    uintptr_t off = (uintptr_t)rows->cells[i];
    rows->cells[i] = off ? rows->arena + (off - 1) : NULL;
  }
  rows->nrows = rows->ncols ? rows->cells_len / (size_t)rows->ncols : 0;
}

size_t op_rows_count(const op_rows_t *rows) {
  return rows ? rows->nrows : 0;
}

int op_rows_columns(const op_rows_t *rows) {
  return rows ? rows->ncols : 0;
}

const char *op_rows_get(const op_rows_t *rows, size_t row, int col) {
  if (rows == NULL || row >= rows->nrows || col < 0 || col >= rows->ncols)
    return NULL;
  return rows->cells[row * (size_t)rows->ncols + (size_t)col];
}

int op_rows_get_int64(const op_rows_t *rows, size_t row, int col, int64_t *out) {
  const char *s = op_rows_get(rows, row, col);
  if (s == NULL)
    return OP_ENOENT;
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (end == s || *end != '\0')
    return OP_EINVAL;
  if (errno == ERANGE)
    return OP_ERANGE;
  *out = (int64_t)v;
  return 0;
}

void op_rows_free(op_rows_t *rows) {
  if (rows == NULL)
    return;
  if (rows->owner_free)
    rows->owner_free(rows->owner);
  free(rows->cells);
  free(rows->arena);
  free(rows);
}

/* ---- statement cache: open addressing with linear probing ---- */

struct op_stmt_entry_s {
  char *sql; /* NULL: empty slot */
  uint64_t hash;
  void *stmt;
};

static uint64_t hash_sql(const char *sql) {
  uint64_t h = 1469598103934665603ULL; /* FNV-1a */
  for (const unsigned char *p = (const unsigned char *)sql; *p; p++) {
    h ^= *p;
    h *= 1099511628211ULL;
  }
  return h;
}

void op_stmt_cache_init(op_stmt_cache_t *cache, void (*destroy)(void *stmt, void *ctx), void *ctx) {
  memset(cache, 0, sizeof *cache);
  cache->destroy = destroy;
  cache->ctx = ctx;
}

void *op_stmt_cache_get(const op_stmt_cache_t *cache, const char *sql) {
  if (cache->count == 0)
    return NULL;
  uint64_t h = hash_sql(sql);
  size_t mask = cache->cap - 1;
  for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
    const struct op_stmt_entry_s *e = &cache->slots[i];
    if (e->sql == NULL)
      return NULL;
    if (e->hash == h && strcmp(e->sql, sql) == 0)
      return e->stmt;
  }
}

static void insert_slot(struct op_stmt_entry_s *slots, size_t cap, struct op_stmt_entry_s entry) {
  size_t mask = cap - 1;
  size_t i = (size_t)entry.hash & mask;
  while (slots[i].sql)
    i = (i + 1) & mask;
  slots[i] = entry;
}

int op_stmt_cache_put(op_stmt_cache_t *cache, const char *sql, void *stmt) {
  if ((cache->count + 1) * 2 > cache->cap) {
    size_t cap = cache->cap ? cache->cap * 2 : 64;
    struct op_stmt_entry_s *slots = calloc(cap, sizeof *slots);
    if (slots == NULL) {
      cache->destroy(stmt, cache->ctx);
      return OP_ENOMEM;
    }
    for (size_t i = 0; i < cache->cap; i++)
      if (cache->slots[i].sql)
        insert_slot(slots, cap, cache->slots[i]);
    free(cache->slots);
    cache->slots = slots;
    cache->cap = cap;
  }
  struct op_stmt_entry_s entry = {strdup(sql), hash_sql(sql), stmt};
  if (entry.sql == NULL) {
    cache->destroy(stmt, cache->ctx);
    return OP_ENOMEM;
  }
  insert_slot(cache->slots, cache->cap, entry);
  cache->count++;
  return 0;
}

void op_stmt_cache_clear(op_stmt_cache_t *cache) {
  for (size_t i = 0; i < cache->cap; i++) {
    struct op_stmt_entry_s *e = &cache->slots[i];
    if (e->sql) {
      cache->destroy(e->stmt, cache->ctx);
      free(e->sql);
      e->sql = NULL;
    }
  }
  cache->count = 0;
}

void op_stmt_cache_free(op_stmt_cache_t *cache) {
  op_stmt_cache_clear(cache);
  free(cache->slots);
  cache->slots = NULL;
  cache->cap = 0;
}
