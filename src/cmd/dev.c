/* orderpulse dev: everything in one process with embedded defaults. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "cmd/cmd.h"
#include "cmd/host.h"
#include "core/log.h"
#include "notify/notify.h"

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
  if (rc == 0 && ensure_secret(&host.cfg) != 0)
    rc = 1;
  if (rc == 0) {
    static const op_service_t *const services[] = {&op_notify_service};
    rc = op_host_run(&host, services, sizeof services / sizeof services[0], 1);
  }
  op_host_close(&host);
  return rc;
}

const op_cmd_t op_cmd_dev = {"dev", "everything in one process: broker, services, one port", run};
