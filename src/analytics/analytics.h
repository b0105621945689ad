/*
 * The analytics service: reads every topic (group analytics-service),
 * validates each message against its contract (invalid ones go to
 * <topic>.dlq), applies it once per message identity to per-tenant
 * aggregates in the transaction that records the identity, serves
 * GET /api/analytics/summary, and publishes each tenant's figures of every
 * closed window to analytics.aggregates. See docs/services/analytics.md.
 */
#ifndef OP_ANALYTICS_ANALYTICS_H
#define OP_ANALYTICS_ANALYTICS_H

#include "core/service.h"

#define OP_ANALYTICS_GROUP "analytics-service"
#define OP_ANALYTICS_OUT_TOPIC "analytics.aggregates"

/* The service table for the host (core/service.h). */
extern const op_service_t op_analytics_service;

#endif
