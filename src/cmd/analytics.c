/* orderpulse analytics: the analytics service. */
#include <stdio.h>

#include "analytics/analytics.h"
#include "cmd/cmd.h"
#include "cmd/host.h"

static int run(int argc, char **argv) {
  if (op_cmd_wants_help(argc, argv)) {
    printf("usage: orderpulse analytics [--setting VALUE ...]\n\n"
           "Consumes orders.created, orders.events, orders.audit, payments.completed,\n"
           "inventory.updated and notifications.events in group " OP_ANALYTICS_GROUP ",\n"
           "validates each message against its contract (invalid ones go to <topic>.dlq),\n"
           "applies it once per message identity to per-tenant aggregates, serves\n"
           "GET /api/analytics/summary (JWT) and publishes each tenant's figures of every\n"
           "closed window (ANALYTICS_WINDOW_SECONDS) to " OP_ANALYTICS_OUT_TOPIC ". Serves\n"
           "/health and /metrics. Stops gracefully on SIGTERM.\n\n");
    op_config_usage(stdout);
    return 0;
  }
  op_host_t host;
  int rc = op_host_init(&host, "analytics", &argc, argv);
  if (rc == 0) {
    static const op_service_t *const services[] = {&op_analytics_service};
    rc = op_host_run(&host, services, sizeof services / sizeof services[0], 0);
  }
  op_host_close(&host);
  return rc;
}

const op_cmd_t op_cmd_analytics = {"analytics", "analytics service (every topic -> aggregates)",
                                   run};
