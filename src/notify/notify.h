/*
 * The notification service's consumer half: orders.events → validate →
 * deduplicate and store (one transaction per polled batch) → commit offsets.
 * Invalid events go to orders.events.dlq; nothing is dropped silently.
 *
 * The HTTP server is not owned here: the command that runs the service creates
 * it and passes the router, so that `orderpulse dev` can serve every service on
 * one port.
 */
#ifndef OP_NOTIFY_NOTIFY_H
#define OP_NOTIFY_NOTIFY_H

#include <stddef.h>

#include "core/config.h"
#include "core/service.h"
#include "http/http.h"

#define OP_NOTIFY_GROUP "notification-service"

typedef struct op_notify_s op_notify_t;

/* Opens the store (applying migrations), creates the consumer and the
 * dead-letter producer, and adds the SSE and snapshot routes to router. cfg
 * is borrowed and must outlive the service. NULL + errbuf on error.
 * Runs on: the main thread. */
op_notify_t *op_notify_new(const op_config_t *cfg, const char *brokers, op_http_router_t *router,
                           char *errbuf, size_t errlen);

/* Starts the consumer thread. Returns 0 or OP_E*. */
int op_notify_start(op_notify_t *nt);

/* True once the consumer thread has ended on its own (a fatal error). */
int op_notify_failed(op_notify_t *nt);

/* Stops the consumer after the batch in hand, commits, leaves the group and
 * joins the thread. Runs on: the main thread. */
void op_notify_stop(op_notify_t *nt);

void op_notify_free(op_notify_t *nt);

/* The service table for the host (core/service.h). */
extern const op_service_t op_notify_service;

#endif
