/* orderpulse notify: the notification service. */
#include <stdio.h>

#include "cmd/cmd.h"
#include "cmd/host.h"
#include "notify/notify.h"

static int run(int argc, char **argv) {
  if (op_cmd_wants_help(argc, argv)) {
    printf("usage: orderpulse notify [--setting VALUE ...]\n\n"
           "Consumes orders.events in group " OP_NOTIFY_GROUP ", validates each event (invalid\n"
           "ones go to orders.events.dlq), stores it once per event_id in the tenant's log\n"
           "and the order view, and commits offsets only after that. Serves /health and\n"
           "/metrics. Stops gracefully on SIGTERM.\n\n");
    op_config_usage(stdout);
    return 0;
  }
  op_host_t host;
  int rc = op_host_init(&host, "notify", &argc, argv);
  if (rc == 0) {
    static const op_service_t *const services[] = {&op_notify_service};
    rc = op_host_run(&host, services, sizeof services / sizeof services[0], 0);
  }
  op_host_close(&host);
  return rc;
}

const op_cmd_t op_cmd_notify = {"notify", "notification service (orders.events -> store)", run};
