#include "core/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

typedef enum { KIND_COUNTER, KIND_GAUGE, KIND_HISTOGRAM } kind_t;

struct op_metric_s {
  struct op_metric_s *next; /* next series of the same family */
  char *labels;
  atomic_uint_fast64_t counter;
  atomic_int_fast64_t gauge;
  /* histogram */
  double *bounds;
  size_t nbounds;
  atomic_uint_fast64_t *buckets; /* nbounds + 1, not cumulative */
  atomic_uint_fast64_t sum_bits; /* a double's bits, updated by CAS */
};

typedef struct family_s {
  struct family_s *next;
  char *name;
  char *help;
  kind_t kind;
  op_metric_t *series;
} family_t;

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static family_t *families;
static family_t **families_tail = &families;

const double op_latency_buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                     0.1,    0.25,  0.5,    1,     2.5,  5,     10};
const size_t op_latency_buckets_len = sizeof op_latency_buckets / sizeof op_latency_buckets[0];

static int same_labels(const char *a, const char *b) {
  return strcmp(a ? a : "", b ? b : "") == 0;
}

static op_metric_t *get_series(const char *name, const char *help, const char *labels, kind_t kind,
                               const double *bounds, size_t nbounds) {
  pthread_mutex_lock(&registry_lock);
  family_t *fam;
  for (fam = families; fam; fam = fam->next)
    if (strcmp(fam->name, name) == 0)
      break;
  if (fam == NULL) {
    fam = calloc(1, sizeof *fam);
    if (fam == NULL)
      goto fail;
    fam->name = strdup(name);
    fam->help = strdup(help ? help : "");
    fam->kind = kind;
    *families_tail = fam;
    families_tail = &fam->next;
  }
  op_metric_t **tail = &fam->series;
  for (op_metric_t *m = fam->series; m; m = m->next) {
    if (same_labels(m->labels, labels)) {
      pthread_mutex_unlock(&registry_lock);
      return m;
    }
    tail = &m->next;
  }
  op_metric_t *m = calloc(1, sizeof *m);
  if (m == NULL)
    goto fail;
  m->labels = labels && *labels ? strdup(labels) : NULL;
  if (kind == KIND_HISTOGRAM) {
    m->bounds = malloc(sizeof(double) * (nbounds ? nbounds : 1));
    m->buckets = calloc(nbounds + 1, sizeof *m->buckets);
    if (m->bounds == NULL || m->buckets == NULL) {
      free(m->bounds);
      free(m->buckets);
      free(m->labels);
      free(m);
      goto fail;
    }
    memcpy(m->bounds, bounds, sizeof(double) * nbounds);
    m->nbounds = nbounds;
  }
  *tail = m;
  pthread_mutex_unlock(&registry_lock);
  return m;
fail:
  pthread_mutex_unlock(&registry_lock);
  abort(); /* registration happens at start-up; running without metrics is not an option */
}

op_metric_t *op_counter(const char *name, const char *help, const char *labels) {
  return get_series(name, help, labels, KIND_COUNTER, NULL, 0);
}

op_metric_t *op_gauge(const char *name, const char *help, const char *labels) {
  return get_series(name, help, labels, KIND_GAUGE, NULL, 0);
}

op_metric_t *op_histogram(const char *name, const char *help, const char *labels,
                          const double *bounds, size_t nbounds) {
  return get_series(name, help, labels, KIND_HISTOGRAM, bounds, nbounds);
}

void op_counter_add(op_metric_t *m, uint64_t n) {
  atomic_fetch_add_explicit(&m->counter, n, memory_order_relaxed);
}

void op_gauge_set(op_metric_t *m, int64_t v) {
  atomic_store_explicit(&m->gauge, v, memory_order_relaxed);
}

void op_gauge_add(op_metric_t *m, int64_t delta) {
  atomic_fetch_add_explicit(&m->gauge, delta, memory_order_relaxed);
}

static double bits_to_double(uint64_t bits) {
  double d;
  memcpy(&d, &bits, sizeof d);
  return d;
}

static uint64_t double_to_bits(double d) {
  uint64_t bits;
  memcpy(&bits, &d, sizeof bits);
  return bits;
}

void op_histogram_observe(op_metric_t *m, double v) {
  size_t i = 0;
  while (i < m->nbounds && v > m->bounds[i])
    i++;
  atomic_fetch_add_explicit(&m->buckets[i], 1, memory_order_relaxed);
  uint64_t old = atomic_load_explicit(&m->sum_bits, memory_order_relaxed);
  while (!atomic_compare_exchange_weak_explicit(&m->sum_bits, &old,
                                                double_to_bits(bits_to_double(old) + v),
                                                memory_order_relaxed, memory_order_relaxed))
    ;
}

uint64_t op_counter_value(const op_metric_t *m) {
  return atomic_load_explicit(&m->counter, memory_order_relaxed);
}

int64_t op_gauge_value(const op_metric_t *m) {
  return atomic_load_explicit(&m->gauge, memory_order_relaxed);
}

uint64_t op_histogram_count(const op_metric_t *m) {
  uint64_t n = 0;
  for (size_t i = 0; i <= m->nbounds; i++)
    n += atomic_load_explicit(&m->buckets[i], memory_order_relaxed);
  return n;
}

static void render_histogram(op_buf_t *out, const family_t *fam, const op_metric_t *m) {
  const char *sep = m->labels ? "," : "";
  const char *labels = m->labels ? m->labels : "";
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= m->nbounds; i++) {
    cumulative += atomic_load_explicit(&m->buckets[i], memory_order_relaxed);
    if (i < m->nbounds)
      op_buf_printf(out, "%s_bucket{%s%sle=\"%g\"} %llu\n", fam->name, labels, sep, m->bounds[i],
                    (unsigned long long)cumulative);
    else
      op_buf_printf(out, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", fam->name, labels, sep,
                    (unsigned long long)cumulative);
  }
  double sum = bits_to_double(atomic_load_explicit(&m->sum_bits, memory_order_relaxed));
  op_buf_printf(out, "%s_sum%s%s%s %.6f\n", fam->name, m->labels ? "{" : "", labels,
                m->labels ? "}" : "", sum);
  op_buf_printf(out, "%s_count%s%s%s %llu\n", fam->name, m->labels ? "{" : "", labels,
                m->labels ? "}" : "", (unsigned long long)cumulative);
}

int op_metrics_render(op_buf_t *out) {
  static const char *type_names[] = {"counter", "gauge", "histogram"};
  pthread_mutex_lock(&registry_lock);
  for (family_t *fam = families; fam; fam = fam->next) {
    op_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", fam->name, fam->help, fam->name,
                  type_names[fam->kind]);
    for (op_metric_t *m = fam->series; m; m = m->next) {
      const char *open = m->labels ? "{" : "", *close = m->labels ? "}" : "";
      const char *labels = m->labels ? m->labels : "";
      switch (fam->kind) {
        case KIND_COUNTER:
          op_buf_printf(out, "%s%s%s%s %llu\n", fam->name, open, labels, close,
                        (unsigned long long)op_counter_value(m));
          break;
        case KIND_GAUGE:
          op_buf_printf(out, "%s%s%s%s %lld\n", fam->name, open, labels, close,
                        (long long)op_gauge_value(m));
          break;
        case KIND_HISTOGRAM:
          render_histogram(out, fam, m);
          break;
      }
    }
  }
  pthread_mutex_unlock(&registry_lock);
  return out->data ? 0 : OP_ENOMEM;
}

void op_metrics_reset(void) {
  pthread_mutex_lock(&registry_lock);
  family_t *fam = families;
  while (fam) {
    family_t *next_fam = fam->next;
    op_metric_t *m = fam->series;
    while (m) {
      op_metric_t *next = m->next;
      free(m->labels);
      free(m->bounds);
      free(m->buckets);
      free(m);
      m = next;
    }
    free(fam->name);
    free(fam->help);
    free(fam);
    fam = next_fam;
  }
  families = NULL;
  families_tail = &families;
  pthread_mutex_unlock(&registry_lock);
}
