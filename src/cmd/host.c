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
  host->router = op_http_router_new();
  if (host->router == NULL || op_http_add_builtin_routes(host->router) != 0) {
    fprintf(stderr, "orderpulse %s: out of memory\n", name);
    return 1;
  }
  return 0;
}

static int listen_http(op_host_t *host, const op_service_t *const *services, void **svcs,
                       size_t n) {
  op_http_config_t hc;
  op_http_config_from(&host->cfg, &hc);
  char err[512];
  host->server = op_http_server_new(&hc, host->router, err, sizeof err);
  if (host->server == NULL) {
    fprintf(stderr, "orderpulse %s: %s\n", host->name, err);
    return 1;
  }
  for (size_t i = 0; i < n; i++) {
    int rc = services[i]->attach ? services[i]->attach(svcs[i], host->server) : 0;
    if (rc != 0) {
      fprintf(stderr, "orderpulse %s: %s: %s\n", host->name, services[i]->name, op_strerror(rc));
      return 1;
    }
  }
  if (op_http_server_start(host->server) != 0) {
    fprintf(stderr, "orderpulse %s: cannot listen on %s:%lld: %s\n", host->name,
            host->cfg.http_host, (long long)host->cfg.port, op_http_server_error(host->server));
    return 1;
  }
  op_log_info(host->name, "listening on http://%s:%d", host->cfg.http_host,
              op_http_server_port(host->server));
  return 0;
}

/* Waits for a signal (returns 0) or a service's fatal error (returns 1). */
static int wait_for_end(op_host_t *host, const op_service_t *const *services, void **svcs,
                        size_t n) {
  for (;;) {
    int sig = op_cmd_wait_signal(200);
    if (sig) {
      op_log_info(host->name, "stopping on %s", strsignal(sig));
      return 0;
    }
    for (size_t i = 0; i < n; i++) {
      if (services[i]->failed(svcs[i])) {
        op_log_error(host->name, "service %s stopped on a fatal error; shutting down",
                     services[i]->name);
        return 1;
      }
    }
  }
}

static const op_config_t *service_cfg(const op_host_t *host, size_t i) {
  return i < 16 && host->service_cfg[i] ? host->service_cfg[i] : &host->cfg;
}

/* Starts the embedded dev broker when no real cluster is configured. */
static int start_brokers(op_host_t *host) {
  if (!op_config_embedded_kafka(&host->cfg)) {
    host->brokers = host->cfg.kafka_brokers;
    return 0;
  }
  char err[512];
  host->devbroker =
      op_devbroker_start((int)host->cfg.kafka_dev_brokers,
                         (int)host->cfg.kafka_topic_partitions_scale, err, sizeof err);
  if (host->devbroker == NULL) {
    fprintf(stderr, "orderpulse %s: %s\n", host->name, err);
    return 1;
  }
  host->brokers = op_devbroker_bootstraps(host->devbroker);
  op_log_warn(host->name, "KAFKA_BROKERS is not set: using the embedded in-memory dev broker at %s",
              host->brokers);
  return 0;
}

int op_host_check(op_host_t *host, const op_service_t *const *services, size_t n) {
  char err[512];
  for (size_t i = 0; i < n && i < 16; i++) {
    if (services[i]->check && services[i]->check(service_cfg(host, i), err, sizeof err) != 0) {
      fprintf(stderr, "orderpulse %s: %s\n", host->name, err);
      return 2;
    }
  }
  return 0;
}

int op_host_run(op_host_t *host, const op_service_t *const *services, size_t n, int print_ready) {
  void *svcs[16] = {0};
  size_t created = 0;
  int rc = n <= 16 ? 0 : 1;
  char err[512];
  if (rc == 0 && op_host_check(host, services, n) != 0)
    return 2;
  if (rc == 0)
    rc = start_brokers(host);
  for (; rc == 0 && created < n; created++) {
    svcs[created] = services[created]->create(service_cfg(host, created), host->brokers,
                                              host->router, err, sizeof err);
    if (svcs[created] == NULL) {
      fprintf(stderr, "orderpulse %s: %s: %s\n", host->name, services[created]->name, err);
      rc = 1;
      break;
    }
  }
  if (rc == 0)
    rc = listen_http(host, services, svcs, n);
  for (size_t i = 0; rc == 0 && i < n; i++)
    if (services[i]->start(svcs[i]) != 0)
      rc = 1;
  if (rc == 0) {
    if (print_ready) {
      printf("orderpulse %s ready: http://localhost:%d (kafka %s)\n", host->name,
             op_http_server_port(host->server), host->brokers);
      fflush(stdout);
    }
    if (host->on_ready)
      host->on_ready(host, op_http_server_port(host->server));
    rc = wait_for_end(host, services, svcs, n);
    if (host->on_stop)
      host->on_stop(host);
  }
  if (host->server)
    op_http_server_stop(host->server);
  while (created > 0) {
    created--;
    if (svcs[created])
      services[created]->destroy(svcs[created]);
  }
  return rc;
}

void op_host_close(op_host_t *host) {
  if (host->server)
    op_http_server_free(host->server);
  if (host->router)
    op_http_router_free(host->router);
  op_devbroker_stop(host->devbroker);
  op_config_free(&host->cfg);
}
