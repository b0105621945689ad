/* orderpulse order: the order service. */
#include <stdio.h>

#include "cmd/cmd.h"
#include "cmd/host.h"
#include "order/order.h"

static int run(int argc, char **argv) {
  if (op_cmd_wants_help(argc, argv)) {
    printf("usage: orderpulse order [--setting VALUE ...]\n\n"
           "The order REST API (JWT required): POST /api/orders (Idempotency-Key),\n"
           "GET /api/orders/{id}, GET /api/orders?status=&limit=&cursor=,\n"
           "POST /api/orders/{id}/cancel, POST /api/orders/{id}/fulfill. Each change is\n"
           "stored with its messages in one transaction (the outbox); a relay publishes\n"
           "them to orders.created, orders.events and orders.audit. Consumes\n"
           "payments.completed and inventory.updated in group " OP_ORDER_GROUP " (unreadable\n"
           "messages go to <topic>.dlq). Serves /health and /metrics. Stops gracefully on\n"
           "SIGTERM.\n\n");
    op_config_usage(stdout);
    return 0;
  }
  op_host_t host;
  int rc = op_host_init(&host, "order", &argc, argv);
  if (rc == 0) {
    static const op_service_t *const services[] = {&op_order_service};
    rc = op_host_run(&host, services, sizeof services / sizeof services[0], 0);
  }
  op_host_close(&host);
  return rc;
}

const op_cmd_t op_cmd_order = {"order", "order service (REST API, outbox, payment/stock states)",
                               run};
