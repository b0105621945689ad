/*
 * The demo of `orderpulse dev`: two tenants with an owner and a staff user
 * each (printed with signed tokens), a small catalogue with stock, and
 * `--simulate RATE`, a client placing random orders over the public API.
 */
#ifndef OP_CMD_DEMO_H
#define OP_CMD_DEMO_H

#include <stdio.h>

#include "core/config.h"

typedef struct op_demo_s op_demo_t;

/* Prints one line per demo user: tenant, user, roles and a JWT signed with
 * cfg's secret, valid for 24 hours. Returns 0, or -1 if signing failed. */
int op_demo_print_users(const op_config_t *cfg, FILE *out);

/*
 * Starts the demo client against http://127.0.0.1:port: it sets the stock of
 * the catalogue where none is set yet, then (rate > 0) places rate random
 * orders per second for random demo users until op_demo_stop. NULL on error
 * (logged). Runs its own thread.
 */
op_demo_t *op_demo_start(const op_config_t *cfg, int port, double rate);

/* Stops the client and frees it; NULL is a no-op. */
void op_demo_stop(op_demo_t *demo);

/* The demo users, for the dev sign-in page: how many, and the i-th one's
 * tenant, user id and role (static strings). */
size_t op_demo_user_count(void);
void op_demo_user(size_t i, const char **tenant, const char **user, const char **role);

/* A token for the i-th demo user, valid OP_DEMO_TOKEN_TTL_S seconds, signed
 * with cfg's secret; the caller frees it. NULL on failure. */
#define OP_DEMO_TOKEN_TTL_S (24 * 3600)
char *op_demo_sign(const op_config_t *cfg, size_t i);

#endif
