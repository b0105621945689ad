/*
 * The frame every long-running service command shares: configuration,
 * signals, the Kafka brokers (an embedded dev broker when KAFKA_BROKERS is
 * unset), one HTTP server with /health and /metrics, and a graceful stop.
 */
#ifndef OP_CMD_HOST_H
#define OP_CMD_HOST_H

#include "core/config.h"
#include "http/http.h"
#include "kafka/kafka.h"

typedef struct op_host_s {
  const char *name;
  op_config_t cfg;
  op_devbroker_t *devbroker; /* NULL with a real cluster */
  const char *brokers;
  op_http_router_t *router;
  op_http_server_t *server;
} op_host_t;

/* Loads the configuration and rejects leftover arguments (exit code 2, one
 * line printed), blocks signals, starts the embedded broker if needed and creates the router with
 * the built-in routes. Returns 0 or the exit code. */
int op_host_init(op_host_t *host, const char *name, int *argc, char **argv);

/* Starts the HTTP server on cfg.port. Returns 0 or the exit code (1). */
int op_host_listen(op_host_t *host);

/* Waits for SIGTERM/SIGINT, or until failed(ud) turns true (checked every
 * 200 ms). Returns 0 after a signal, 1 after a failure. */
int op_host_wait(op_host_t *host, int (*failed)(void *ud), void *ud);

/* Stops the HTTP server gracefully (call before stopping the services). */
void op_host_stop_http(op_host_t *host);

/* Frees everything op_host_init created. */
void op_host_close(op_host_t *host);

#endif
