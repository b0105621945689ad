/* orderpulse dev: everything in one process with embedded defaults. */
#include <stdio.h>

#include "cmd/cmd.h"
#include "cmd/host.h"
#include "notify/notify.h"

static int failed(void *ud) {
  return op_notify_failed(ud);
}

static int run(int argc, char **argv) {
  if (op_cmd_wants_help(argc, argv)) {
    printf("usage: orderpulse dev [--setting VALUE ...]\n\n"
           "Starts the embedded dev broker (unless KAFKA_BROKERS is set) and every service\n"
           "in one process, served on one port (PORT, default 8080), with SQLite in data/\n"
           "unless DATABASE_URL says otherwise. Prints a ready line with the URL.\n\n");
    op_config_usage(stdout);
    return 0;
  }
  op_host_t host;
  int rc = op_host_init(&host, "dev", &argc, argv);
  op_notify_t *nt = NULL;
  if (rc == 0) {
    char err[512];
    nt = op_notify_new(&host.cfg, host.brokers, err, sizeof err);
    if (nt == NULL) {
      fprintf(stderr, "orderpulse dev: %s\n", err);
      rc = 1;
    }
  }
  if (rc == 0)
    rc = op_host_listen(&host);
  if (rc == 0 && op_notify_start(nt) != 0)
    rc = 1;
  if (rc == 0) {
    printf("orderpulse dev ready: http://localhost:%d (kafka %s)\n",
           op_http_server_port(host.server), host.brokers);
    fflush(stdout);
    rc = op_host_wait(&host, failed, nt);
  }
  op_host_stop_http(&host);
  op_notify_free(nt);
  op_host_close(&host);
  return rc;
}

const op_cmd_t op_cmd_dev = {"dev", "everything in one process: broker, services, one port", run};
