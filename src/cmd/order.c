/* orderpulse order: the order service. */
#include <stdio.h>

#include "cmd/cmd.h"
#include "cmd/host.h"
#include "cmd/webhost.h"
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
    printf("Serves the web dashboard at / when WEB_DIR (default web) is found, with its\n"
           "token sign-in POST /api/session {\"token\"} (see docs/WEB.md).\n\n");
    op_config_usage(stdout);
    return 0;
  }
  op_host_t host;
  int rc = op_host_init(&host, "order", &argc, argv);
  op_web_static_t *web = NULL; /* the dashboard's files: the router borrows them */
  static const op_service_t *const services[] = {&op_order_service};
  if (rc == 0)
    rc = op_host_check(&host, services, sizeof services / sizeof services[0]);
  if (rc == 0)
    web = op_webhost_setup(&host, argv[0], 0, &rc);
  if (rc == 0) {
    rc = op_host_run(&host, services, sizeof services / sizeof services[0], 0);
  }
  op_host_close(&host);
  op_web_static_free(web);
  return rc;
}

const op_cmd_t op_cmd_order = {"order", "order service (REST API, outbox, payment/stock states)",
                               run};
