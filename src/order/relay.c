/*
 * The outbox relay: one thread that publishes committed order_outbox rows in
 * id order with the idempotent producer, waits for every acknowledgement
 * (flush), and only then deletes the rows it published. A crash between the
 * publish and the delete publishes those rows again after the restart: the
 * same bytes with the same event ids, which consumers dedupe. Nothing is
 * deleted before Kafka acknowledged it, so nothing is lost.
 *
 * Order: rows are read in id order and each message is keyed by order_id, so
 * one order's messages land on one partition in the order of their changes
 * (emit.c explains why ids follow the changes of one order). One relay per
 * process; several instances on one PostgreSQL database would each publish
 * the rows they see (duplicates with the same ids, not losses) — see
 * docs/services/order.md.
 *
 * Wake-ups: each commit that wrote outbox rows signals a condition variable;
 * the relay also polls every POLL_MS so that rows left by a crash, or written
 * by another process, are published without a signal.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/health.h"
#include "core/log.h"
#include "order/internal.h"

#define POLL_MS 1000
#define RETRY_MS 500
#define BATCH 500
#define FLUSH_TIMEOUT_MS 30000

struct op_order_relay_s {
  const op_config_t *cfg;
  op_store_t *store;
  op_producer_t *producer;
  pthread_t thread;
  int started;
  pthread_mutex_t mu;
  pthread_cond_t cv; /* CLOCK_MONOTONIC */
  int wake, stop;
  op_metric_t *m_pending, *m_published;
};

op_order_relay_t *op_order_relay_new(const op_config_t *cfg, const char *brokers, char *errbuf,
                                     size_t errlen) {
  op_order_relay_t *r = calloc(1, sizeof *r);
  if (r == NULL) {
    snprintf(errbuf, errlen, "out of memory");
    return NULL;
  }
  r->cfg = cfg;
  pthread_mutex_init(&r->mu, NULL);
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&r->cv, &attr);
  pthread_condattr_destroy(&attr);
  r->m_pending = op_gauge("orderpulse_outbox_pending", "Order outbox rows not yet published", NULL);
  r->m_published = op_counter("orderpulse_outbox_published_total",
                              "Order outbox messages published and acknowledged", NULL);
  if ((r->store = op_store_open(cfg->database_url, errbuf, errlen)) == NULL ||
      (r->producer = op_producer_new(cfg, brokers, errbuf, errlen)) == NULL) {
    op_order_relay_free(r);
    return NULL;
  }
  return r;
}

/* Deletes the published rows, by id: on PostgreSQL a row with a smaller id
 * may commit after a larger one was read, so "id <= last" could delete a row
 * never published. */
static int delete_rows(op_order_relay_t *r, const op_rows_t *rows) {
  int rc = op_store_begin(r->store);
  for (size_t i = 0; rc == 0 && i < op_rows_count(rows); i++) {
    const char *params[] = {op_rows_get(rows, i, 0)};
    rc = op_store_exec(r->store, "DELETE FROM order_outbox WHERE id = $1", 1, params, NULL);
  }
  if (rc == 0)
    return op_store_commit(r->store);
  op_store_rollback(r->store);
  return rc;
}

static void update_pending(op_order_relay_t *r) {
  op_rows_t *rows = NULL;
  int64_t n = 0;
  if (op_store_exec(r->store, "SELECT COUNT(*) FROM order_outbox", 0, NULL, &rows) == 0 &&
      op_rows_get_int64(rows, 0, 0, &n) == 0)
    op_gauge_set(r->m_pending, n);
  op_rows_free(rows);
}

/* Publishes one batch of rows. Returns the number published (0: the outbox
 * is empty), or a negative OP_E* (nothing deleted; the rows are tried again). */
static int relay_batch(op_order_relay_t *r) {
  op_rows_t *rows = NULL;
  int rc = op_store_exec(r->store,
                         "SELECT id, topic, msg_key, payload, traceparent FROM order_outbox"
                         " ORDER BY id LIMIT 500",
                         0, NULL, &rows);
  if (rc != 0) {
    op_log_error("order", "outbox: reading failed: %s: %s", op_strerror(rc),
                 op_store_errmsg(r->store));
    return rc;
  }
  size_t n = op_rows_count(rows);
  for (size_t i = 0; rc == 0 && i < n; i++) {
    const char *topic = op_rows_get(rows, i, 1), *key = op_rows_get(rows, i, 2),
               *payload = op_rows_get(rows, i, 3), *tp = op_rows_get(rows, i, 4);
    const char *headers[] = {tp ? "traceparent" : NULL, tp, NULL};
    rc = op_producer_send(r->producer, topic, RD_KAFKA_PARTITION_UA, key, strlen(key), payload,
                          strlen(payload), tp ? headers : NULL);
  }
  if (rc == 0 && n)
    rc = op_producer_flush(r->producer, FLUSH_TIMEOUT_MS);
  if (rc == 0 && n)
    rc = delete_rows(r, rows);
  if (rc == 0) {
    op_counter_add(r->m_published, n);
  } else {
    op_log_error("order", "outbox: publishing %zu rows failed: %s (retrying)", n, op_strerror(rc));
    /* Anything produced but not acknowledged must not stay queued behind the
     * next attempt's copies: wait for it here. */
    op_producer_flush(r->producer, FLUSH_TIMEOUT_MS);
  }
  op_rows_free(rows);
  return rc == 0 ? (int)n : rc;
}

/* Publishes until the outbox is empty or a step fails. */
static int relay_pass(op_order_relay_t *r) {
  int rc;
  while ((rc = relay_batch(r)) == BATCH)
    ;
  update_pending(r);
  return rc < 0 ? rc : 0;
}

static void wait_for_work(op_order_relay_t *r, int64_t ms) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  ts.tv_sec += ms / 1000;
  ts.tv_nsec += (ms % 1000) * 1000000L;
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&r->mu);
  while (!r->wake && !r->stop)
    if (pthread_cond_timedwait(&r->cv, &r->mu, &ts) == ETIMEDOUT)
      break;
  r->wake = 0;
  pthread_mutex_unlock(&r->mu);
}

static void *relay_main(void *arg) {
  op_order_relay_t *r = arg;
  pthread_setname_np(pthread_self(), "op-order-relay");
  for (;;) {
    pthread_mutex_lock(&r->mu);
    int stop = r->stop;
    pthread_mutex_unlock(&r->mu);
    int rc = relay_pass(r);
    if (stop)
      break; /* the pass after the stop request was the last */
    wait_for_work(r, rc == 0 ? POLL_MS : RETRY_MS);
  }
  return NULL;
}

int op_order_relay_start(op_order_relay_t *r) {
  if (pthread_create(&r->thread, NULL, relay_main, r) != 0)
    return OP_ENOMEM;
  r->started = 1;
  return 0;
}

void op_order_relay_wake(op_order_relay_t *r) {
  pthread_mutex_lock(&r->mu);
  r->wake = 1;
  pthread_cond_signal(&r->cv);
  pthread_mutex_unlock(&r->mu);
}

void op_order_relay_free(op_order_relay_t *r) {
  if (r == NULL)
    return;
  if (r->started) {
    pthread_mutex_lock(&r->mu);
    r->stop = 1;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->thread, NULL);
  }
  op_producer_free(r->producer);
  if (r->store)
    op_store_close(r->store);
  pthread_cond_destroy(&r->cv);
  pthread_mutex_destroy(&r->mu);
  free(r);
}
