/*
 * The inventory service: stock per (tenant, sku), reserved for paid orders.
 *
 * Consumes orders.created, payments.completed and orders.events in group
 * inventory-service; each message's effect, its dedupe record and the
 * inventory.updated records it causes commit in one transaction
 * (inventory/apply.h), the records are produced after the commit (keyed by
 * sku, traceparent of the cause), and only then are the offsets committed.
 * Unreadable messages go to <topic>.dlq with an `error` header.
 *
 * HTTP (tenant from the verified JWT only): GET /api/inventory/{sku},
 * PUT /api/inventory/{sku} {"quantity":N} (role Owner), GET /api/inventory
 * (every sku; ?low_stock=1 only those whose available stock is at most
 * ?threshold=N, default 10). See inventory/api.c.
 */
#ifndef OP_INVENTORY_INVENTORY_H
#define OP_INVENTORY_INVENTORY_H

#include <stddef.h>

#include "core/config.h"
#include "core/service.h"
#include "http/http.h"

#define OP_INVENTORY_GROUP "inventory-service"

typedef struct op_inventory_s op_inventory_t;

/* Opens the store (applying migrations), the consumer and the producer, and
 * adds the routes to router. cfg is borrowed and outlives the service.
 * NULL + errbuf on error. Runs on: the main thread. */
op_inventory_t *op_inventory_new(const op_config_t *cfg, const char *brokers,
                                 op_http_router_t *router, char *errbuf, size_t errlen);
int op_inventory_start(op_inventory_t *inv);
int op_inventory_failed(op_inventory_t *inv);
/* Stops the consumer after the batch in hand, flushes, frees. */
void op_inventory_free(op_inventory_t *inv);

/*
 * `orderpulse inventory seed FILE`: sets on_hand from a CSV or JSON file in
 * one transaction on database_url (migrating first). Returns the exit code:
 * 0 applied; 2 a bad line or an on_hand below what is reserved (one line on
 * stderr, nothing applied); 1 a database failure.
 */
int op_inventory_seed(const char *database_url, const char *path);

extern const op_service_t op_inventory_service;

#endif
