/* orderpulse dev: everything in one process with embedded defaults. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <curl/curl.h>

#include "cmd/cmd.h"
#include "cmd/demo.h"
#include "cmd/devweb.h"
#include "cmd/host.h"
#include "core/log.h"
#include "analytics/analytics.h"
#include "inventory/inventory.h"
#include "notify/notify.h"
#include "order/order.h"
#include "payment/payment.h"

/* Without JWT_SECRET, dev signs and verifies with a random secret of this run
 * (tokens then last as long as the process); production must set one. */
static int ensure_secret(op_config_t *cfg) {
  if (cfg->jwt_secret[0])
    return 0;
  unsigned char raw[32];
  if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
    return -1;
  char *hex = malloc(2 * sizeof raw + 1);
  if (hex == NULL)
    return -1;
  for (size_t i = 0; i < sizeof raw; i++)
    snprintf(hex + 2 * i, 3, "%02x", raw[i]);
  free(cfg->jwt_secret);
  cfg->jwt_secret = hex;
  op_log_warn("dev", "JWT_SECRET is not set: tokens are signed with a random secret of this run");
  return 0;
}

/* Takes --simulate RATE (orders per second) out of argv. Returns 0, or the
 * exit code 2 with one line printed. */
static int take_simulate(int *argc, char **argv, double *rate) {
  *rate = 0;
  for (int i = 1; i < *argc; i++) {
    if (strcmp(argv[i], "--simulate") != 0)
      continue;
    char *end = NULL;
    double v = i + 1 < *argc ? strtod(argv[i + 1], &end) : -1;
    if (end == NULL || end == argv[i + 1] || *end != '\0' || !(v > 0 && v <= 10000)) {
      fprintf(stderr, "orderpulse dev: --simulate takes a rate of orders per second in "
                      "(0, 10000], e.g. --simulate 5\n");
      return 2;
    }
    *rate = v;
    memmove(argv + i, argv + i + 2, (size_t)(*argc - i - 2) * sizeof *argv);
    *argc -= 2;
    return 0;
  }
  return 0;
}

typedef struct dev_state_s {
  double rate;
  op_demo_t *demo;
  op_config_t cfgs[8]; /* shallow copies of the host's, each with its own database_url */
  char *urls[8];
} dev_state_t;

/*
 * With SQLite, each service gets a file of its own beside DATABASE_URL's
 * (data/orderpulse.db -> data/orderpulse-order.db, …): every service owns its
 * tables and nothing joins across them, and one file would make all of them
 * queue for its single write lock. PostgreSQL is shared as configured.
 */
static int split_sqlite(op_host_t *host, dev_state_t *dev, const op_service_t *const *services,
                        size_t n) {
  const char *url = host->cfg.database_url;
  if (strncmp(url, "sqlite://", 9) != 0 || strstr(url, ":memory:") != NULL)
    return 0;
  size_t stem = strlen(url);
  if (stem > 3 && strcmp(url + stem - 3, ".db") == 0)
    stem -= 3;
  for (size_t i = 0; i < n && i < 8; i++) {
    size_t len = stem + strlen(services[i]->name) + 5;
    if ((dev->urls[i] = malloc(len)) == NULL)
      return -1;
    snprintf(dev->urls[i], len, "%.*s-%s.db", (int)stem, url, services[i]->name);
    dev->cfgs[i] = host->cfg;
    dev->cfgs[i].database_url = dev->urls[i];
    host->service_cfg[i] = &dev->cfgs[i];
  }
  return 0;
}

static void on_ready(op_host_t *host, int port) {
  dev_state_t *dev = host->ud;
  if (op_demo_print_users(&host->cfg, stdout) != 0)
    op_log_error("dev", "cannot sign the demo users' tokens");
  dev->demo = op_demo_start(&host->cfg, port, dev->rate);
}

static void on_stop(op_host_t *host) {
  dev_state_t *dev = host->ud;
  op_demo_stop(dev->demo);
  dev->demo = NULL;
}

static int run(int argc, char **argv) {
  if (op_cmd_wants_help(argc, argv)) {
    printf("usage: orderpulse dev [--simulate RATE] [--setting VALUE ...]\n\n"
           "Starts the embedded dev broker (unless KAFKA_BROKERS is set) and every service\n"
           "in one process, served on one port (PORT, default 8080), with SQLite in data/\n"
           "(one file per service beside DATABASE_URL's: data/orderpulse-order.db, ...)\n"
           "unless DATABASE_URL names a PostgreSQL database. Prints a ready line with the URL, "
           "then one\n"
           "line per demo user (two tenants, an Owner and a Cashier each) with a signed\n"
           "token, and gives the demo catalogue its stock.\n\n"
           "  --simulate RATE   place RATE random orders per second through the API\n\n");
    printf("Serves the web dashboard (WEB_DIR) at / with dev-only sign-in endpoints for the\n"
           "demo users (/api/dev/users, /api/dev/session); see docs/WEB.md.\n\n");
    op_config_usage(stdout);
    return 0;
  }
  dev_state_t dev = {0};
  int rc = take_simulate(&argc, argv, &dev.rate);
  if (rc)
    return rc;
  op_host_t host;
  rc = op_host_init(&host, "dev", &argc, argv);
  if (rc == 0 && ensure_secret(&host.cfg) != 0)
    rc = 1;
  op_web_static_t *web = NULL; /* the dashboard's files: the router borrows them */
  static const op_service_t *const services[] = {&op_notify_service, &op_order_service,
                                                 &op_payment_service, &op_inventory_service,
                                                 &op_analytics_service};
  size_t n = sizeof services / sizeof services[0];
  if (rc == 0)
    rc = op_host_check(&host, services, n);
  if (rc == 0)
    web = op_devweb_setup(&host, argv[0], &rc);
  if (rc == 0 && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
    rc = 1;
  if (rc == 0) {
    host.on_ready = on_ready;
    host.on_stop = on_stop;
    host.ud = &dev;
    rc = split_sqlite(&host, &dev, services, n) == 0 ? op_host_run(&host, services, n, 1) : 1;
    curl_global_cleanup();
  }
  op_host_close(&host);
  op_web_static_free(web);
  for (size_t i = 0; i < 8; i++)
    free(dev.urls[i]);
  return rc;
}

const op_cmd_t op_cmd_dev = {"dev", "everything in one process: broker, services, one port", run};
