/* orderpulse dev: everything in one process with embedded defaults. */
#include <stdio.h>

#include "cmd/cmd.h"
#include "cmd/host.h"
#include "notify/notify.h"

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
  if (rc == 0) {
    static const op_service_t *const services[] = {&op_notify_service};
    rc = op_host_run(&host, services, sizeof services / sizeof services[0], 1);
  }
  op_host_close(&host);
  return rc;
}

const op_cmd_t op_cmd_dev = {"dev", "everything in one process: broker, services, one port", run};
