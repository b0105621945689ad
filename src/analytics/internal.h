/* The analytics service's state, shared by analytics.c (consumer thread) and
 * api.c (HTTP loops). Not a public header. */
#ifndef OP_ANALYTICS_INTERNAL_H
#define OP_ANALYTICS_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "analytics/msg.h"
#include "core/config.h"
#include "core/metrics.h"
#include "http/http.h"
#include "kafka/kafka.h"
#include "store/store.h"

typedef struct op_analytics_s {
  const op_config_t *cfg;
  int64_t window_ms;

  /* Consumer thread only. */
  op_store_t *store;
  op_consumer_t *consumer;
  op_producer_t *producer; /* dead letters and analytics.aggregates */
  op_an_msg_t *msgs;       /* per-batch scratch, batch-size entries */
  size_t *invalid;
  op_contract_error_t *errors;
  int stored; /* the batch in hand is durable; only its dead letters are left */
  uint64_t last_probe_ns, last_publish_ns, last_purge_ns;

  /* HTTP loops: one connection for the summaries, one request at a time.
   * A summary is a few indexed reads; sharing one connection keeps the
   * number of database connections fixed whatever HTTP_THREADS is. */
  pthread_mutex_t http_lock;
  op_store_t *http_store;

  pthread_t thread;
  int started;
  atomic_int failed;

  op_metric_t *m_messages[OP_AN_KINDS];
  op_metric_t *m_duplicates;
  op_metric_t *m_published;
} op_analytics_t;

/* Adds GET /api/analytics/summary to router. Returns 0 or OP_ENOMEM. */
int op_an_api_routes(op_analytics_t *an, op_http_router_t *router);

#endif
