/*
 * The frame every long-running service command shares: configuration,
 * signals, the Kafka brokers (an embedded dev broker when KAFKA_BROKERS is
 * unset), one HTTP server with /health and /metrics, and a graceful stop.
 */
#ifndef OP_CMD_HOST_H
#define OP_CMD_HOST_H

#include "core/config.h"
#include "core/service.h"
#include "http/http.h"
#include "kafka/kafka.h"

typedef struct op_host_s {
  const char *name;
  op_config_t cfg;
  op_devbroker_t *devbroker; /* NULL with a real cluster */
  const char *brokers;
  op_http_router_t *router;
  op_http_server_t *server;
  /* Optional: called once every service runs and the ready line is out
   * (port: where HTTP listens), and once when the host starts stopping,
   * before the HTTP server stops. */
  void (*on_ready)(struct op_host_s *host, int port);
  void (*on_stop)(struct op_host_s *host);
  void *ud;
  /* Optional: the configuration service i is created with (NULL: cfg). */
  const op_config_t *service_cfg[16];
} op_host_t;

/* Loads the configuration and rejects leftover arguments (exit code 2, one
 * line printed), blocks signals and creates the router with the built-in
 * routes. Returns 0 or the exit code. */
int op_host_init(op_host_t *host, const char *name, int *argc, char **argv);

/* Runs the services' configuration checks: 0, or 2 with one line printed on
 * stderr. A command that does more set-up before op_host_run (the dashboard)
 * calls it first, so that a configuration error stays one line. */
int op_host_check(op_host_t *host, const op_service_t *const *services, size_t n);

/*
 * Runs the services' configuration checks (exit code 2), starts the embedded
 * broker when KAFKA_BROKERS is unset, creates the services (each adds its routes), starts the HTTP
 * server, starts the services, prints a ready line on stdout if asked, and waits for SIGTERM or
 * SIGINT (exit code 0) or a service's fatal error (1). Then stops the HTTP server first (clients
 * see clean ends), and the services in reverse order. Returns the exit code.
 */
int op_host_run(op_host_t *host, const op_service_t *const *services, size_t n, int print_ready);

/* Frees everything op_host_init created. */
void op_host_close(op_host_t *host);

#endif
