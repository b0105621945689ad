/* orderpulse: one binary, one subcommand per service or tool. */
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"

static const op_cmd_t *commands[] = {
    &op_cmd_broker,   &op_cmd_notify, &op_cmd_migrate, &op_cmd_config,    &op_cmd_dev,
    &op_cmd_validate, &op_cmd_order,  &op_cmd_payment, &op_cmd_analytics, &op_cmd_inventory,
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *out) {
  fprintf(out, "usage: orderpulse <command> [--help] [options]\n\ncommands:\n");
  for (size_t i = 0; i < NCOMMANDS; i++)
    fprintf(out, "  %-10s %s\n", commands[i]->name, commands[i]->summary);
  fprintf(out, "  %-10s %s\n", "help", "list the commands");
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
      strcmp(argv[1], "-h") == 0) {
    usage(stdout);
    return 0;
  }
  if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
    printf("orderpulse %s\n", OP_VERSION);
    return 0;
  }
  for (size_t i = 0; i < NCOMMANDS; i++)
    if (strcmp(argv[1], commands[i]->name) == 0)
      return commands[i]->run(argc - 1, argv + 1);
  fprintf(stderr, "orderpulse: unknown command '%s' (see 'orderpulse help')\n", argv[1]);
  return 2;
}
