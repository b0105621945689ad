/* orderpulse notify: the notification service. */
#include <stdio.h>

#include "cmd/cmd.h"
#include "cmd/host.h"
#include "notify/notify.h"

static int failed(void *ud) {
  return op_notify_failed(ud);
}

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
  op_notify_t *nt = NULL;
  if (rc == 0) {
    char err[512];
    nt = op_notify_new(&host.cfg, host.brokers, err, sizeof err);
    if (nt == NULL) {
      fprintf(stderr, "orderpulse notify: %s\n", err);
      rc = 1;
    }
  }
  if (rc == 0)
    rc = op_host_listen(&host);
  if (rc == 0 && op_notify_start(nt) != 0)
    rc = 1;
  if (rc == 0)
    rc = op_host_wait(&host, failed, nt);
  op_host_stop_http(&host);
  op_notify_free(nt);
  op_host_close(&host);
  return rc;
}

const op_cmd_t op_cmd_notify = {"notify", "notification service (orders.events -> store)", run};
