/* orderpulse config: prints the effective configuration, secrets masked. */
#include <stdio.h>

#include "cmd/cmd.h"

static int run(int argc, char **argv) {
  if (op_cmd_wants_help(argc, argv)) {
    printf("usage: orderpulse config [--setting VALUE ...]\n\n"
           "Prints the effective configuration (defaults, then environment, then flags)\n"
           "with secrets and URL passwords masked. An invalid value exits with code 2.\n\n");
    op_config_usage(stdout);
    return 0;
  }
  op_config_t cfg;
  int rc = op_cmd_load_config(&cfg, &argc, argv);
  if (rc)
    return rc;
  if ((rc = op_cmd_no_extra_args("config", argc, argv)) == 0)
    op_config_print(&cfg, stdout);
  op_config_free(&cfg);
  return rc;
}

const op_cmd_t op_cmd_config = {"config", "print the effective configuration (secrets masked)",
                                run};
