/* The order service's wiring: store, routes, consumer, relay, lifecycle. */
#include "order/order.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/health.h"
#include "core/log.h"
#include "order/internal.h"

#define HEALTH_PROBE_NS (2ull * 1000000000ull)

static void order_free(op_order_t *svc);

static void on_idle(void *ud) {
  op_order_t *svc = ud;
  uint64_t now = op_mono_ns();
  if (now - svc->last_probe_ns < HEALTH_PROBE_NS)
    return;
  svc->last_probe_ns = now;
  int rc = op_store_exec(svc->store, "SELECT 1", 0, NULL, NULL);
  if (rc == 0)
    op_health_set("database", OP_HEALTH_OK, op_store_backend(svc->store));
  else
    op_health_set("database", OP_HEALTH_DOWN, op_strerror(rc));
}

static void *service_create(const op_config_t *cfg, const char *brokers, op_http_router_t *router,
                            char *errbuf, size_t errlen) {
  op_order_t *svc = calloc(1, sizeof *svc);
  if (svc == NULL) {
    snprintf(errbuf, errlen, "out of memory");
    return NULL;
  }
  svc->cfg = cfg;
  svc->stores.url = cfg->database_url;
  op_health_register("database", 1);
  svc->store = op_store_open(cfg->database_url, errbuf, errlen);
  if (svc->store == NULL || op_store_migrate(svc->store, errbuf, errlen) != 0)
    goto fail;
  op_health_set("database", OP_HEALTH_OK, op_store_backend(svc->store));
  if ((svc->relay = op_order_relay_new(cfg, brokers, errbuf, errlen)) == NULL ||
      (svc->dlq = op_producer_new(cfg, brokers, errbuf, errlen)) == NULL)
    goto fail;
  static const char *const topics[] = {"payments.completed", "inventory.updated", NULL};
  op_consumer_opts_t opts = {.group_id = OP_ORDER_GROUP,
                             .topics = topics,
                             .batch_size = (size_t)cfg->consumer_batch_size,
                             .on_batch = op_order_on_batch,
                             .on_idle = on_idle,
                             .ud = svc};
  if ((svc->consumer = op_consumer_new(cfg, brokers, &opts, errbuf, errlen)) == NULL)
    goto fail;
  if (op_order_api_routes(svc, router) != 0) {
    snprintf(errbuf, errlen, "out of memory");
    goto fail;
  }
  svc->m_created = op_counter("orderpulse_orders_created_total", "Orders stored", NULL);
  svc->m_consumed_invalid = op_counter("orderpulse_order_messages_dead_lettered_total",
                                       "Consumed messages the order service dead-lettered", NULL);
  svc->m_duplicates = op_counter("orderpulse_order_messages_duplicate_total",
                                 "Redelivered payment or inventory records skipped", NULL);
  return svc;
fail:
  order_free(svc);
  return NULL;
}

static void *consumer_main(void *arg) {
  op_order_t *svc = arg;
  if (op_consumer_run(svc->consumer) != 0)
    atomic_store(&svc->failed, 1);
  return NULL;
}

static int service_start(void *ud) {
  op_order_t *svc = ud;
  int rc = op_order_relay_start(svc->relay);
  if (rc != 0)
    return rc;
  if (pthread_create(&svc->thread, NULL, consumer_main, svc) != 0)
    return OP_ENOMEM;
  svc->started = 1;
  return 0;
}

static int service_failed(void *ud) {
  return atomic_load(&((op_order_t *)ud)->failed);
}

/* Stops the consumer after its batch, then the relay after a last pass, and
 * closes the loops' connections (the HTTP server is stopped by then). */
static void order_free(op_order_t *svc) {
  if (svc == NULL)
    return;
  if (svc->started) {
    op_consumer_stop(svc->consumer);
    pthread_join(svc->thread, NULL);
  }
  op_consumer_free(svc->consumer);
  op_order_relay_free(svc->relay);
  op_producer_free(svc->dlq);
  op_store_loops_close(&svc->stores);
  if (svc->store)
    op_store_close(svc->store);
  free(svc);
}

static void service_destroy(void *ud) {
  order_free(ud);
}

static int service_check(const op_config_t *cfg, char *errbuf, size_t errlen) {
  if (strlen(cfg->jwt_secret) < 16) {
    snprintf(errbuf, errlen, "JWT_SECRET: must be set, at least 16 bytes (it verifies tokens)");
    return OP_ECONFIG;
  }
  return 0;
}

const op_service_t op_order_service = {"order",       service_check,  service_create, NULL,
                                       service_start, service_failed, service_destroy};
