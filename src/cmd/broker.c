/* orderpulse broker: the embedded Kafka-protocol broker for development and tests. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "core/log.h"
#include "kafka/kafka.h"

static void usage(FILE *out) {
  fprintf(out,
          "usage: orderpulse broker [--brokers N] [--partitions-scale N] [--bootstrap-file F]\n"
          "\n"
          "Runs an in-memory Kafka-protocol cluster (librdkafka's mock cluster) on loopback\n"
          "with every topic of the platform, and prints its bootstrap list as the first line\n"
          "of stdout. Data lives in memory only: this broker is for development and tests;\n"
          "production points KAFKA_BROKERS at a real Kafka cluster. Stops on SIGTERM/SIGINT.\n"
          "\n"
          "  --brokers N           brokers in the cluster (default 3)\n"
          "  --partitions-scale N  divide every topic's partition count by N (default 1)\n"
          "  --bootstrap-file F    also write the bootstrap list to F\n");
}

static int write_bootstrap_file(const char *path, const char *bootstraps) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "w");
  if (f == NULL || fprintf(f, "%s\n", bootstraps) < 0 || fclose(f) != 0 || rename(tmp, path)) {
    fprintf(stderr, "orderpulse broker: cannot write %s\n", path);
    return -1;
  }
  return 0;
}

static int run(int argc, char **argv) {
  if (op_cmd_wants_help(argc, argv)) {
    usage(stdout);
    return 0;
  }
  long nbrokers = 3, scale = 1;
  const char *bootstrap_file = NULL;
  for (int i = 1; i < argc; i++) {
    const char *value = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(argv[i], "--brokers") == 0) {
      if (op_cmd_parse_int("broker", "--brokers", value, 1, 16, &nbrokers))
        return 2;
      i++;
    } else if (strcmp(argv[i], "--partitions-scale") == 0) {
      if (op_cmd_parse_int("broker", "--partitions-scale", value, 1, 48, &scale))
        return 2;
      i++;
    } else if (strcmp(argv[i], "--bootstrap-file") == 0 && value) {
      bootstrap_file = value;
      i++;
    } else {
      fprintf(stderr, "orderpulse broker: unknown argument '%s' (see --help)\n", argv[i]);
      return 2;
    }
  }
  op_cmd_block_signals();
  char err[512];
  op_devbroker_t *broker = op_devbroker_start((int)nbrokers, (int)scale, err, sizeof err);
  if (broker == NULL) {
    fprintf(stderr, "orderpulse broker: %s\n", err);
    return 1;
  }
  const char *bootstraps = op_devbroker_bootstraps(broker);
  printf("%s\n", bootstraps);
  fflush(stdout);
  if (bootstrap_file && write_bootstrap_file(bootstrap_file, bootstraps)) {
    op_devbroker_stop(broker);
    return 1;
  }
  int sig;
  while ((sig = op_cmd_wait_signal(1000)) == 0)
    ;
  op_log_info("broker", "stopping on %s", strsignal(sig));
  op_devbroker_stop(broker);
  return 0;
}

const op_cmd_t op_cmd_broker = {"broker", "embedded Kafka-protocol broker (development, tests)",
                                run};
