/* Helpers shared by the subcommands. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd/cmd.h"

int op_cmd_wants_help(int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
      return 1;
  return 0;
}

int op_cmd_load_config(op_config_t *cfg, int *argc, char **argv) {
  char err[512];
  if (op_config_load(cfg, argc, argv, err, sizeof err) != 0) {
    fprintf(stderr, "orderpulse %s: %s\n", argv[0], err);
    op_config_free(cfg);
    return 2;
  }
  return 0;
}

int op_cmd_no_extra_args(const char *cmd, int argc, char **argv) {
  if (argc > 1) {
    fprintf(stderr, "orderpulse %s: unknown argument '%s' (see 'orderpulse %s --help')\n", cmd,
            argv[1], cmd);
    return 2;
  }
  return 0;
}

int op_cmd_parse_int(const char *cmd, const char *flag, const char *value, long min, long max,
                     long *out) {
  char *end;
  errno = 0;
  long v = value ? strtol(value, &end, 10) : 0;
  if (value == NULL || errno || end == value || *end || v < min || v > max) {
    fprintf(stderr, "orderpulse %s: %s needs an integer in [%ld, %ld]\n", cmd, flag, min, max);
    return 2;
  }
  *out = v;
  return 0;
}

void op_cmd_block_signals(void) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);
}

int op_cmd_wait_signal(int timeout_ms) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  struct timespec ts = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L};
  int sig = sigtimedwait(&set, NULL, &ts);
  return sig > 0 ? sig : 0;
}
