/*
 * The order service: the client-facing REST API for orders (POST/GET
 * /api/orders, cancel, fulfill), the owner of order state and the only writer
 * of orders.created, orders.events and orders.audit, all through a
 * transactional outbox (docs/services/order.md). It consumes
 * payments.completed and inventory.updated in group OP_ORDER_GROUP and moves
 * orders through the agreed states.
 */
#ifndef OP_ORDER_ORDER_H
#define OP_ORDER_ORDER_H

#include "core/service.h"

#define OP_ORDER_GROUP "order-service"

/* The service table for the host (core/service.h). */
extern const op_service_t op_order_service;

#endif
