/* orderpulse inventory: the inventory service, and `inventory seed FILE`. */
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "cmd/host.h"
#include "inventory/inventory.h"

static int seed(int argc, char **argv) {
  /* argv[0] is "seed"; settings flags (--database-url) come first. */
  op_config_t cfg;
  int rc = op_cmd_load_config(&cfg, &argc, argv);
  if (rc)
    return rc;
  if (argc != 2 || argv[1][0] == '-') {
    fprintf(stderr, "usage: orderpulse inventory seed FILE (.csv or .json)\n");
    op_config_free(&cfg);
    return 2;
  }
  rc = op_inventory_seed(cfg.database_url, argv[1]);
  op_config_free(&cfg);
  return rc;
}

static int run(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "seed") == 0 && !op_cmd_wants_help(argc, argv))
    return seed(argc - 1, argv + 1);
  if (op_cmd_wants_help(argc, argv)) {
    printf("usage: orderpulse inventory [--setting VALUE ...]\n"
           "       orderpulse inventory seed FILE\n\n"
           "Keeps stock per (tenant, sku). Consumes orders.created, payments.completed and\n"
           "orders.events in group " OP_INVENTORY_GROUP ": a succeeded payment reserves all\n"
           "of its order's skus or none (out_of_stock), a cancellation releases them; each\n"
           "change is published on inventory.updated (key sku). Unreadable messages go to\n"
           "<topic>.dlq. Serves GET/PUT /api/inventory/{sku} (PUT needs the Owner role),\n"
           "GET /api/inventory[?low_stock=1&threshold=N], /health and /metrics.\n\n"
           "seed FILE sets on_hand from a CSV (header tenant_id,sku,quantity) or a JSON\n"
           "array of {\"tenant_id\",\"sku\",\"quantity\"} in one transaction on DATABASE_URL;\n"
           "a bad line exits with code 2 and applies nothing.\n\n");
    op_config_usage(stdout);
    return 0;
  }
  op_host_t host;
  int rc = op_host_init(&host, "inventory", &argc, argv);
  if (rc == 0) {
    static const op_service_t *const services[] = {&op_inventory_service};
    rc = op_host_run(&host, services, sizeof services / sizeof services[0], 0);
  }
  op_host_close(&host);
  return rc;
}

const op_cmd_t op_cmd_inventory = {"inventory", "inventory service (stock reservations)", run};
