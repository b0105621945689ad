/* orderpulse notify: the notification service. */
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "cmd/host.h"
#include "cmd/webhost.h"
#include "notify/notify.h"

static int run(int argc, char **argv) {
  if (op_cmd_wants_help(argc, argv)) {
    printf("usage: orderpulse notify [--no-consume] [--setting VALUE ...]\n\n"
           "Consumes orders.events in group " OP_NOTIFY_GROUP ", validates each event (invalid\n"
           "ones go to orders.events.dlq), stores it once per event_id in the tenant's log\n"
           "and the order view, and commits offsets only after that. Serves /health and\n"
           "/metrics. Stops gracefully on SIGTERM.\n\n"
           "With REDIS_URL, instances share live delivery over Redis: each publishes the\n"
           "events it stored, every one delivers them to its own SSE clients.\n"
           "--no-consume serves SSE from Redis without joining the consumer group\n"
           "(needs REDIS_URL).\n\n");
    printf("Serves the web dashboard at / when WEB_DIR (default web) is found, with its\n"
           "token sign-in POST /api/session {\"token\"} (see docs/WEB.md).\n\n");
    op_config_usage(stdout);
    return 0;
  }
  /* --no-consume: NOTIFY_CONSUME=0 (a flag without a value reads better). */
  int no_consume = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--no-consume") == 0) {
      no_consume = 1;
      memmove(&argv[i], &argv[i + 1], (size_t)(argc - i) * sizeof *argv);
      argc--;
      i--;
    }
  }
  op_host_t host;
  int rc = op_host_init(&host, "notify", &argc, argv);
  if (rc == 0 && no_consume)
    host.cfg.notify_consume = 0;
  op_web_static_t *web = NULL; /* the dashboard's files: the router borrows them */
  static const op_service_t *const services[] = {&op_notify_service};
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

const op_cmd_t op_cmd_notify = {"notify", "notification service (orders.events -> store)", run};
