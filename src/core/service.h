/*
 * The face every long-running service shows the process that hosts it, so
 * that one command can run one service (orderpulse notify) or all of them
 * (orderpulse dev) the same way.
 */
#ifndef OP_CORE_SERVICE_H
#define OP_CORE_SERVICE_H

#include <stddef.h>

#include "core/config.h"

typedef struct op_http_router_s op_http_router_t;
typedef struct op_http_server_s op_http_server_t;

typedef struct op_service_s {
  const char *name;
  /* Optional: rejects a configuration the service cannot run with, before
   * anything starts (one line in errbuf; the process exits with code 2). */
  int (*check)(const op_config_t *cfg, char *errbuf, size_t errlen);
  /* Creates the service: opens its store, Kafka clients, and adds its routes to
   * router (borrowed; routes must be added before the HTTP server starts). cfg
   * and brokers are borrowed and outlive the service. NULL + errbuf on error.
   * Runs on: the main thread. */
  void *(*create)(const op_config_t *cfg, const char *brokers, op_http_router_t *router,
                  char *errbuf, size_t errlen);
  /* Optional: called with the HTTP server before it starts (loop hooks). */
  int (*attach)(void *svc, op_http_server_t *server);
  /* Starts its threads once the HTTP server listens. Returns 0 or OP_E*. */
  int (*start)(void *svc);
  /* True once the service stopped on its own after a fatal error. */
  int (*failed)(void *svc);
  /* Stops (gracefully) and frees; safe on a service that never started. */
  void (*destroy)(void *svc);
} op_service_t;

#endif
