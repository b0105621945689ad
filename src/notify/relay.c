#include "notify/relay.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/trace.h"
#include "core/waiter.h"
#include "kafka/kafka.h"
#include "notify/notice.h"
#include "store/store.h"

/* Notices should reach analytics promptly; one indexed read 5 times a second
 * is cheap, and a poll is needed anyway for rows written by other threads. */
#define POLL_MS 200
#define RETRY_MS 500
#define BATCH 500
#define FLUSH_TIMEOUT_MS 30000

struct op_notify_relay_s {
  op_store_t *store;
  op_producer_t *producer;
  pthread_t thread;
  int started;
  op_waiter_t waiter;
  op_metric_t *m_published;
};

op_notify_relay_t *op_notify_relay_new(const op_config_t *cfg, const char *brokers, char *errbuf,
                                       size_t errlen) {
  op_notify_relay_t *r = calloc(1, sizeof *r);
  if (r == NULL) {
    snprintf(errbuf, errlen, "out of memory");
    return NULL;
  }
  op_waiter_init(&r->waiter);
  r->m_published = op_counter("orderpulse_notices_published_total",
                              "notifications.events messages published and acknowledged", NULL);
  if ((r->store = op_store_open(cfg->database_url, errbuf, errlen)) == NULL ||
      (r->producer = op_producer_new(cfg, brokers, errbuf, errlen)) == NULL) {
    op_notify_relay_free(r);
    return NULL;
  }
  return r;
}

/* By id, not "id <= last": on PostgreSQL a smaller id may commit later. */
static int delete_rows(op_notify_relay_t *r, const op_rows_t *rows) {
  int rc = op_store_begin(r->store);
  for (size_t i = 0; rc == 0 && i < op_rows_count(rows); i++) {
    const char *params[] = {op_rows_get(rows, i, 0)};
    rc =
        op_store_exec(r->store, "DELETE FROM notify_publish_outbox WHERE id = $1", 1, params, NULL);
  }
  if (rc == 0)
    return op_store_commit(r->store);
  op_store_rollback(r->store);
  return rc;
}

/* One batch: the number published (0: empty) or a negative OP_E*. */
static int relay_batch(op_notify_relay_t *r) {
  op_rows_t *rows = NULL;
  int rc = op_store_exec(r->store,
                         "SELECT id, msg_key, payload, trace_id FROM notify_publish_outbox"
                         " ORDER BY id LIMIT 500",
                         0, NULL, &rows);
  if (rc != 0) {
    op_log_error("notify", "notice relay: reading failed: %s: %s", op_strerror(rc),
                 op_store_errmsg(r->store));
    return rc;
  }
  size_t n = op_rows_count(rows);
  for (size_t i = 0; rc == 0 && i < n; i++) {
    const char *key = op_rows_get(rows, i, 1), *payload = op_rows_get(rows, i, 2);
    char tp[OP_TRACEPARENT_LEN + 1];
    const char *headers[] = {"traceparent", op_traceparent(op_rows_get(rows, i, 3), tp), NULL};
    rc = op_producer_send(r->producer, OP_NOTICE_TOPIC, RD_KAFKA_PARTITION_UA, key, strlen(key),
                          payload, strlen(payload), headers);
  }
  if (rc == 0 && n)
    rc = op_producer_flush(r->producer, FLUSH_TIMEOUT_MS);
  if (rc == 0 && n)
    rc = delete_rows(r, rows);
  if (rc == 0) {
    op_counter_add(r->m_published, n);
  } else {
    op_log_error("notify", "notice relay: publishing %zu rows failed: %s (retrying)", n,
                 op_strerror(rc));
    op_producer_flush(r->producer, FLUSH_TIMEOUT_MS); /* no stale copies behind the retry */
  }
  op_rows_free(rows);
  return rc == 0 ? (int)n : rc;
}

static void *relay_main(void *arg) {
  op_notify_relay_t *r = arg;
  for (;;) {
    int stop = op_waiter_stopping(&r->waiter);
    int rc;
    while ((rc = relay_batch(r)) == BATCH)
      ;
    if (stop)
      break; /* the pass after the stop request was the last */
    op_waiter_wait(&r->waiter, rc >= 0 ? POLL_MS : RETRY_MS);
  }
  return NULL;
}

int op_notify_relay_start(op_notify_relay_t *r) {
  if (pthread_create(&r->thread, NULL, relay_main, r) != 0)
    return OP_ENOMEM;
  r->started = 1;
  return 0;
}

void op_notify_relay_wake(op_notify_relay_t *r) {
  if (r == NULL)
    return;
  op_waiter_wake(&r->waiter);
}

void op_notify_relay_free(op_notify_relay_t *r) {
  if (r == NULL)
    return;
  if (r->started) {
    op_waiter_stop(&r->waiter);
    pthread_join(r->thread, NULL);
  }
  op_producer_free(r->producer);
  if (r->store)
    op_store_close(r->store);
  op_waiter_destroy(&r->waiter);
  free(r);
}
