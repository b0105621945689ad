/*
 * Component health for GET /health. Each component (kafka, database, redis,
 * ...) reports its state from whatever thread observes it; the HTTP loops
 * read a consistent snapshot. A component that is down and marked critical
 * makes the whole service down (503); a non-critical one makes it degraded.
 */
#ifndef OP_CORE_HEALTH_H
#define OP_CORE_HEALTH_H

#include "core/buf.h"

typedef enum { OP_HEALTH_OK = 0, OP_HEALTH_DEGRADED, OP_HEALTH_DOWN } op_health_state_t;

/* Registers a component (idempotent). critical: down means the service is down. */
void op_health_register(const char *component, int critical);

/* Sets a component's state and a short human-readable detail (copied). */
void op_health_set(const char *component, op_health_state_t state, const char *detail);

/* Sets an extra numeric field shown in the component's object, e.g. "lag". */
void op_health_set_number(const char *component, const char *key, long long value);

/* Overall state: the worst of the components, critical ones counting as down. */
op_health_state_t op_health_overall(void);

/* Appends {"status":…,"<component>":{"status":…,"detail":…,…},…} to out.
 * Returns the overall state. */
op_health_state_t op_health_render(op_buf_t *out);

const char *op_health_state_name(op_health_state_t state);

/* Forgets every component; for tests. */
void op_health_reset(void);

#endif
