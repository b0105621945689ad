/*
 * The inventory HTTP API (routes in inventory.h). Handlers run on the HTTP
 * loops and share one store connection of their own behind a mutex: these
 * are short single-statement reads and writes, rare next to the consumer's
 * work, and one connection keeps the service from owning a connection per
 * loop (the per-loop init hook is the server's single slot, which notify
 * uses in `orderpulse dev`).
 */
#ifndef OP_INVENTORY_API_H
#define OP_INVENTORY_API_H

#include <stddef.h>

#include "core/config.h"
#include "http/http.h"

typedef struct op_inv_api_s op_inv_api_t;

/* Opens the API's store connection and adds the routes. NULL + errbuf. */
op_inv_api_t *op_inv_api_new(const op_config_t *cfg, op_http_router_t *router, char *errbuf,
                             size_t errlen);
/* After the HTTP server stopped (no handler runs any more). NULL is a no-op. */
void op_inv_api_free(op_inv_api_t *api);

#endif
