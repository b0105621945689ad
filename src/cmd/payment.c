/* orderpulse payment: the payment service. */
#include <stdio.h>

#include "cmd/cmd.h"
#include "cmd/host.h"
#include "payment/payment.h"

static int run(int argc, char **argv) {
  if (op_cmd_wants_help(argc, argv)) {
    printf("usage: orderpulse payment [--setting VALUE ...]\n\n"
           "Consumes orders.created in group " OP_PAYMENT_GROUP ", validates each order (invalid\n"
           "ones go to orders.created.dlq), charges it once through the simulated payment\n"
           "gateway (PAYMENT_LATENCY_MS, PAYMENT_FAILURE_RATE; transient failures retried\n"
           "with backoff up to PAYMENT_MAX_ATTEMPTS), stores one outcome per order_id and\n"
           "emits payments.completed; a redelivered order gets its stored outcome again.\n"
           "Serves /health and /metrics. Stops gracefully on SIGTERM.\n\n");
    op_config_usage(stdout);
    return 0;
  }
  op_host_t host;
  int rc = op_host_init(&host, "payment", &argc, argv);
  if (rc == 0) {
    static const op_service_t *const services[] = {&op_payment_service};
    rc = op_host_run(&host, services, sizeof services / sizeof services[0], 0);
  }
  op_host_close(&host);
  return rc;
}

const op_cmd_t op_cmd_payment = {"payment", "payment service (orders.created -> payments)", run};
