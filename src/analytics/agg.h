/*
 * The pure arithmetic of analytics, kept apart from storage so that it is
 * unit-tested on its own (tests/unit/analytics/test_agg.c): percentiles,
 * money split into two integer sums, windows and rates.
 *
 * Thread-safety: every function may run on any thread; nothing is shared.
 */
#ifndef OP_ANALYTICS_AGG_H
#define OP_ANALYTICS_AGG_H

#include <stddef.h>
#include <stdint.h>

#include "core/decimal.h"

/* Latencies kept per tenant for the summary's percentiles (the newest ones). */
#define OP_AN_LATENCY_KEEP 10000
#define OP_AN_LATENCY_KEEP_TEXT "10000" /* the same, for SQL text */

/*
 * The nearest-rank percentile p (0 < p <= 100) of sorted[0..n) (ascending):
 * the value at 1-based rank ceil(p/100 * n). Exact, no interpolation: the
 * result is always one of the observed values. Returns 0 and sets *out, or
 * OP_ENOENT when n is 0, OP_EINVAL for p outside (0, 100].
 */
int op_an_percentile(const int64_t *sorted, size_t n, int p, int64_t *out);

/* Sorts v[0..n) ascending in place. */
void op_an_sort(int64_t *v, size_t n);

/*
 * Money as two integer sums (see migrations/…/005_analytics.sql): v is split
 * into whole currency units and the remaining ten-thousandths, both with the
 * sign of v, so that sums of the parts recombine to the sum of the values.
 */
void op_an_money_split(op_dec_t v, int64_t *whole, int64_t *frac);

/* whole * 10^4 + frac, the inverse of op_an_money_split for sums. */
op_dec_t op_an_money_join(int64_t whole, int64_t frac);

/* The start (ms) of the window of length window_ms that holds t_ms. */
int64_t op_an_window_start(int64_t t_ms, int64_t window_ms);

/* succeeded / (succeeded + failed), or -1 when there were none. */
double op_an_success_rate(int64_t succeeded, int64_t failed);

#endif
