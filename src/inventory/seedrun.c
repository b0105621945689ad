/* `orderpulse inventory seed FILE`: parse the whole file, then set every row
 * in one transaction; any bad line or refused row applies nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "inventory/apply.h"
#include "inventory/inventory.h"
#include "inventory/parse.h"
#include "store/store.h"

#define SEED_MAX_BYTES (64L * 1024 * 1024)

static char *read_file(const char *path, size_t *len, char *errbuf, size_t errlen) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    snprintf(errbuf, errlen, "%s: cannot open the file", path);
    return NULL;
  }
  char *data = NULL;
  long size = -1;
  if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 && size <= SEED_MAX_BYTES &&
      fseek(f, 0, SEEK_SET) == 0 && (data = malloc((size_t)size + 1)) != NULL &&
      fread(data, 1, (size_t)size, f) == (size_t)size) {
    data[size] = '\0';
    *len = (size_t)size;
  } else {
    snprintf(errbuf, errlen, "%s: cannot read the file (at most %ld bytes)", path, SEED_MAX_BYTES);
    free(data);
    data = NULL;
  }
  fclose(f);
  return data;
}

static int apply_rows(op_store_t *store, const op_inv_seed_row_t *rows, size_t n, const char *what,
                      char *errbuf, size_t errlen) {
  int rc = op_store_begin(store);
  int64_t now = op_now_ms();
  for (size_t i = 0; rc == 0 && i < n; i++) {
    int64_t reserved = 0;
    rc = op_inv_stock_set(store, rows[i].tenant_id, rows[i].sku, rows[i].quantity, now, &reserved);
    if (rc == OP_ECONFLICT)
      snprintf(errbuf, errlen,
               "%s %d: tenant_id %s, sku %s: quantity %lld is below the %lld units reserved for "
               "paid orders (on_hand cannot go below reserved); nothing applied",
               what, rows[i].line, rows[i].tenant_id, rows[i].sku, (long long)rows[i].quantity,
               (long long)reserved);
    else if (rc)
      snprintf(errbuf, errlen, "database: %s: %s", op_strerror(rc), op_store_errmsg(store));
  }
  if (rc == 0) {
    rc = op_store_commit(store);
    if (rc)
      snprintf(errbuf, errlen, "database: commit failed: %s", op_store_errmsg(store));
  } else {
    op_store_rollback(store);
  }
  return rc;
}

int op_inventory_seed(const char *database_url, const char *path) {
  char err[512] = "";
  size_t len = 0, n = 0;
  char *data = read_file(path, &len, err, sizeof err);
  if (data == NULL) {
    fprintf(stderr, "orderpulse inventory seed: %s\n", err);
    return 2;
  }
  op_inv_seed_format_t format = op_inv_seed_detect(path, data, len);
  op_inv_seed_row_t *rows = NULL;
  int rc = op_inv_seed_parse(format, data, len, &rows, &n, err, sizeof err);
  free(data);
  if (rc) {
    fprintf(stderr, "orderpulse inventory seed: %s: %s; nothing applied\n", path, err);
    return 2;
  }
  op_store_t *store = op_store_open(database_url, err, sizeof err);
  if (store == NULL || op_store_migrate(store, err, sizeof err) != 0) {
    fprintf(stderr, "orderpulse inventory seed: %s\n", err);
    op_store_close(store);
    free(rows);
    return 1;
  }
  const char *what = format == OP_INV_SEED_JSON ? "entry" : "line";
  rc = apply_rows(store, rows, n, what, err, sizeof err);
  op_store_close(store);
  free(rows);
  if (rc) {
    fprintf(stderr, "orderpulse inventory seed: %s: %s\n", path, err);
    return rc == OP_ECONFLICT ? 2 : 1;
  }
  printf("seeded %zu skus from %s\n", n, path);
  return 0;
}
