#include "analytics/agg.h"

#include <stdlib.h>

#include "core/err.h"

int op_an_percentile(const int64_t *sorted, size_t n, int p, int64_t *out) {
  if (p <= 0 || p > 100)
    return OP_EINVAL;
  if (n == 0)
    return OP_ENOENT;
  /* ceil(p * n / 100) in integers: no floating point, so the rank is exact. */
  size_t rank = ((size_t)p * n + 99) / 100;
  if (rank < 1)
    rank = 1;
  *out = sorted[rank - 1];
  return 0;
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

void op_an_sort(int64_t *v, size_t n) {
  if (n > 1)
    qsort(v, n, sizeof *v, cmp_i64);
}

void op_an_money_split(op_dec_t v, int64_t *whole, int64_t *frac) {
  /* C division truncates toward zero, so both parts carry the sign of v. */
  *whole = (int64_t)(v / OP_DEC_SCALE);
  *frac = (int64_t)(v % OP_DEC_SCALE);
}

op_dec_t op_an_money_join(int64_t whole, int64_t frac) {
  return (op_dec_t)whole * OP_DEC_SCALE + (op_dec_t)frac;
}

int64_t op_an_window_start(int64_t t_ms, int64_t window_ms) {
  int64_t r = t_ms % window_ms;
  if (r < 0)
    r += window_ms;
  return t_ms - r;
}

double op_an_success_rate(int64_t succeeded, int64_t failed) {
  int64_t total = succeeded + failed;
  return total > 0 ? (double)succeeded / (double)total : -1.0;
}
