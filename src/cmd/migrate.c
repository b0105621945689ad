/* orderpulse migrate: applies the database migrations and exits. */
#include <stdio.h>

#include "cmd/cmd.h"
#include "store/store.h"

static int run(int argc, char **argv) {
  if (op_cmd_wants_help(argc, argv)) {
    printf("usage: orderpulse migrate [--database-url URL]\n\n"
           "Applies the missing schema migrations to DATABASE_URL (SQLite or PostgreSQL)\n"
           "and prints the resulting schema version. Safe to run while services start;\n"
           "every service also migrates at start-up.\n");
    return 0;
  }
  op_config_t cfg;
  int rc = op_cmd_load_config(&cfg, &argc, argv);
  if (rc)
    return rc;
  if ((rc = op_cmd_no_extra_args("migrate", argc, argv)) != 0) {
    op_config_free(&cfg);
    return rc;
  }
  char err[512];
  op_store_t *store = op_store_open(cfg.database_url, err, sizeof err);
  if (store == NULL || op_store_migrate(store, err, sizeof err) != 0) {
    fprintf(stderr, "orderpulse migrate: %s\n", err);
    rc = 1;
  } else {
    printf("schema version %lld (%s)\n", (long long)op_store_schema_version(store),
           op_store_backend(store));
  }
  if (store)
    op_store_close(store);
  op_config_free(&cfg);
  return rc;
}

const op_cmd_t op_cmd_migrate = {"migrate", "apply database migrations", run};
