/* The subcommands of the orderpulse binary; one file each in src/cmd/. */
#ifndef OP_CMD_CMD_H
#define OP_CMD_CMD_H

#include <stdio.h>

#include "core/config.h"

typedef struct op_cmd_s {
  const char *name;
  const char *summary;
  /* argv[0] is the command's name. Returns the process exit code:
   * 0 success, 1 runtime failure, 2 bad usage or configuration. */
  int (*run)(int argc, char **argv);
} op_cmd_t;

extern const op_cmd_t op_cmd_broker;
extern const op_cmd_t op_cmd_notify;
extern const op_cmd_t op_cmd_migrate;
extern const op_cmd_t op_cmd_config;
extern const op_cmd_t op_cmd_dev;
extern const op_cmd_t op_cmd_validate;
extern const op_cmd_t op_cmd_order;
extern const op_cmd_t op_cmd_payment;
extern const op_cmd_t op_cmd_analytics;
extern const op_cmd_t op_cmd_inventory;

/* True if argv holds --help or -h. */
int op_cmd_wants_help(int argc, char **argv);

/* Loads the configuration from env and flags; on error prints one line on
 * stderr and returns 2 (the exit code), else 0. Unknown flags remain in argv. */
int op_cmd_load_config(op_config_t *cfg, int *argc, char **argv);

/* Fails with one stderr line and exit code 2 if argv has leftover arguments. */
int op_cmd_no_extra_args(const char *cmd, int argc, char **argv);

/* Blocks SIGINT and SIGTERM in the calling thread (and so in every thread it
 * starts afterwards) and ignores SIGPIPE; call first in a long-running command. */
void op_cmd_block_signals(void);

/* Waits up to timeout_ms for SIGINT or SIGTERM. Returns the signal, or 0. */
int op_cmd_wait_signal(int timeout_ms);

/* Parses a non-negative integer flag value; prints the error and returns 2 on
 * failure, else 0. */
int op_cmd_parse_int(const char *cmd, const char *flag, const char *value, long min, long max,
                     long *out);

#endif
