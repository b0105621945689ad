/*
 * A process-wide metrics registry rendered in the Prometheus text format.
 *
 * Registration (op_counter, op_gauge, op_histogram) takes a lock and returns
 * the existing series when the same name and labels were registered before;
 * callers keep the pointer and update it lock-free from any thread. Series
 * live until op_metrics_reset() (tests) or process exit.
 *
 * labels is the inside of the braces, already formatted and escaped, e.g.
 * "event_type=\"order_paid\"", or NULL for none.
 */
#ifndef OP_CORE_METRICS_H
#define OP_CORE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

typedef struct op_metric_s op_metric_t;

op_metric_t *op_counter(const char *name, const char *help, const char *labels);
op_metric_t *op_gauge(const char *name, const char *help, const char *labels);
/* bounds: ascending upper bounds, copied; +Inf is implicit. */
op_metric_t *op_histogram(const char *name, const char *help, const char *labels,
                          const double *bounds, size_t nbounds);

void op_counter_add(op_metric_t *m, uint64_t n);
void op_gauge_set(op_metric_t *m, int64_t v);
void op_gauge_add(op_metric_t *m, int64_t delta);
void op_histogram_observe(op_metric_t *m, double v);

uint64_t op_counter_value(const op_metric_t *m);
int64_t op_gauge_value(const op_metric_t *m);
uint64_t op_histogram_count(const op_metric_t *m);

/* Standard latency buckets in seconds, from 0.5 ms to 10 s. */
extern const double op_latency_buckets[];
extern const size_t op_latency_buckets_len;

/* Appends every registered series in the text exposition format 0.0.4. */
int op_metrics_render(op_buf_t *out);

/* Frees every series; only for tests and orderly exit. */
void op_metrics_reset(void);

#endif
