#include "cmd/host.h"

#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "core/err.h"
#include "core/log.h"

int op_host_init(op_host_t *host, const char *name, int *argc, char **argv) {
  memset(host, 0, sizeof *host);
  host->name = name;
  int rc = op_cmd_load_config(&host->cfg, argc, argv);
  if (rc)
    return rc;
  if ((rc = op_cmd_no_extra_args(name, *argc, argv)) != 0)
    return rc;
  op_cmd_block_signals();
  char err[512];
  if (op_config_embedded_kafka(&host->cfg)) {
    host->devbroker =
        op_devbroker_start(3, (int)host->cfg.kafka_topic_partitions_scale, err, sizeof err);
    if (host->devbroker == NULL) {
      fprintf(stderr, "orderpulse %s: %s\n", name, err);
      return 1;
    }
    host->brokers = op_devbroker_bootstraps(host->devbroker);
    op_log_warn(name, "KAFKA_BROKERS is not set: using the embedded in-memory dev broker at %s",
                host->brokers);
  } else {
    host->brokers = host->cfg.kafka_brokers;
  }
  host->router = op_http_router_new();
  if (host->router == NULL || op_http_add_builtin_routes(host->router) != 0) {
    fprintf(stderr, "orderpulse %s: out of memory\n", name);
    return 1;
  }
  return 0;
}

int op_host_listen(op_host_t *host) {
  op_http_config_t hc;
  op_http_config_from(&host->cfg, &hc);
  char err[512];
  host->server = op_http_server_new(&hc, host->router, err, sizeof err);
  if (host->server == NULL) {
    fprintf(stderr, "orderpulse %s: %s\n", host->name, err);
    return 1;
  }
  int rc = op_http_server_start(host->server);
  if (rc) {
    fprintf(stderr, "orderpulse %s: cannot listen on %s:%lld: %s\n", host->name,
            host->cfg.http_host, (long long)host->cfg.port, op_http_server_error(host->server));
    return 1;
  }
  op_log_info(host->name, "listening on http://%s:%d", host->cfg.http_host,
              op_http_server_port(host->server));
  return 0;
}

int op_host_wait(op_host_t *host, int (*failed)(void *ud), void *ud) {
  for (;;) {
    int sig = op_cmd_wait_signal(200);
    if (sig) {
      op_log_info(host->name, "stopping on %s", strsignal(sig));
      return 0;
    }
    if (failed && failed(ud)) {
      op_log_error(host->name, "a service stopped on a fatal error; shutting down");
      return 1;
    }
  }
}

void op_host_stop_http(op_host_t *host) {
  if (host->server)
    op_http_server_stop(host->server);
}

void op_host_close(op_host_t *host) {
  if (host->server)
    op_http_server_free(host->server);
  if (host->router)
    op_http_router_free(host->router);
  op_devbroker_stop(host->devbroker);
  op_config_free(&host->cfg);
}
