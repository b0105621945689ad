/*
 * Analytics' tables (migrations/<backend>/005_analytics.sql): applying one
 * valid message, reading a tenant's summary and building a window's
 * analytics.aggregates message.
 *
 * Every function takes a store handle owned by the caller (one per thread,
 * store.h) and returns 0 or an OP_E* code of the store.
 */
#ifndef OP_ANALYTICS_DB_H
#define OP_ANALYTICS_DB_H

#include <jansson.h>
#include <stdint.h>

#include "analytics/msg.h"
#include "store/store.h"

/*
 * Applies msg inside the caller's open transaction: records its identity in
 * analytics_seen and, only when it was not there, adds its effects to the
 * tenant's totals and to the window [window_start, +window) of now_ms.
 * *fresh is 1 when applied, 0 for a message seen before (nothing changed).
 */
int op_an_db_apply(op_store_t *store, const op_an_msg_t *msg, int64_t now_ms, int64_t window_ms,
                   int *fresh);

/*
 * The body of GET /api/analytics/summary for tenant (see
 * docs/services/analytics.md). low_stock: skus whose available stock is below
 * it. Returns 0 with *out a new JSON object the caller owns, or an OP_E*.
 */
int op_an_db_summary(op_store_t *store, const char *tenant, int64_t low_stock, json_t **out);

/* One tenant's window not yet marked published. */
typedef struct op_an_window_s {
  char tenant_id[OP_ID_MAX + 1];
  int64_t start;
  int64_t orders, succeeded, failed;
} op_an_window_t;

/* Up to max windows that closed before open_start and are not published,
 * oldest first. Returns 0 and sets *n. */
int op_an_db_pending(op_store_t *store, int64_t open_start, op_an_window_t *out, size_t max,
                     size_t *n);

/*
 * The analytics.aggregates message of window w: built once and stored in the
 * window's row (so a second publication, after a crash between sending and
 * marking, sends the very same bytes), then read back. Returns 0 with *out a
 * malloc'd NUL-terminated JSON text the caller frees, or an OP_E*.
 */
int op_an_db_window_payload(op_store_t *store, const op_an_window_t *w, int64_t window_ms,
                            int64_t low_stock, char **out);

/* Marks the window published. */
int op_an_db_mark_published(op_store_t *store, const op_an_window_t *w);

/* Keeps the newest OP_AN_LATENCY_KEEP latencies of tenant, deleting older
 * ones only from windows before open_start (those are published). */
int op_an_db_trim_latencies(op_store_t *store, const char *tenant, int64_t open_start);

/* Forgets dedupe keys received before horizon_ms and published windows that
 * started before it. */
int op_an_db_purge(op_store_t *store, int64_t horizon_ms);

#endif
