/*
 * Benchmark of op_events_apply alone: batches of order events over a set of
 * tenants, each order getting created/paid/status_updated events, as the
 * notify consumer would hand them to the store. Only the apply calls are
 * timed; building the events is not.
 *
 *   bench_store_apply [URL] [EVENTS] [BATCH] [TENANTS] [IDS]
 *     URL      default: sqlite:// in a new temporary directory (removed after)
 *     EVENTS   total events (default 200000), BATCH per apply (500),
 *     TENANTS  distinct tenants (50)
 *     IDS      "random" (default: like UUIDv4) or "ordered" (time-ordered,
 *              like UUIDv7: new ids sort after old ones)
 *
 * Tenant ids carry a per-run prefix, so a run never collides with data
 * already in the database; nothing is deleted. Prints one line of results.
 */
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/err.h"
#include "store/events.h"
#include "store/store.h"

typedef struct {
  char event_id[48], tenant_id[48], order_id[48], reference[16], amount[16], user_id[16];
  char body[512];
} bench_event_t;

static const char *const types[] = {"order_created", "order_paid", "order_status_updated"};
static const char *const statuses[] = {"created", "paid", "shipped"};

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path);
}

/* splitmix64: a cheap, well-mixed hash of a counter. */
static uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Fills evs[0..n) with events first..first+n of the run: event k is the
 * (k / tenants / 3 % 3)-th step of an order of tenant k % tenants. */
static void make_batch(bench_event_t *be, op_order_event_t *evs, size_t n, size_t first,
                       size_t tenants, const char *run, int ordered, int64_t now) {
  for (size_t i = 0; i < n; i++) {
    size_t k = first + i;
    size_t tenant = k % tenants;
    size_t step = (k / tenants) % 3;
    size_t order = (k / tenants) / 3;
    bench_event_t *b = &be[i];
    /* Random-looking ids, as UUIDv4 event ids are: inserts land anywhere in
     * the event_id index. */
    uint64_t h1 = ordered ? (uint64_t)k << 32 : mix64(k * 2 + 1), h2 = mix64(k * 2 + 2);
    snprintf(b->event_id, sizeof b->event_id, "%08" PRIx64 "-%04" PRIx64 "-4%03" PRIx64 "-%s",
             h1 >> 32, h1 & 0xffff, h2 & 0xfff, run);
    snprintf(b->tenant_id, sizeof b->tenant_id, "t_%s_%03zu", run, tenant);
    snprintf(b->order_id, sizeof b->order_id, "ord_%zu", order);
    snprintf(b->reference, sizeof b->reference, "A-%zu", order % 100000);
    snprintf(b->amount, sizeof b->amount, "%zu.%02zu", 10 + order % 500, order % 100);
    snprintf(b->user_id, sizeof b->user_id, "u_%zu", order % 977);
    char ts[OP_ISO8601_LEN];
    op_iso8601(now, ts);
    int len = snprintf(b->body, sizeof b->body,
                       "{\"event_id\":\"%s\",\"event_type\":\"%s\",\"order_id\":\"%s\","
                       "\"tenant_id\":\"%s\",\"timestamp\":\"%s\",\"payload\":{\"status\":\"%s\","
                       "\"reference\":\"%s\",\"total_amount\":\"%s\",\"currency\":\"EUR\","
                       "\"user_id\":\"%s\"}}",
                       b->event_id, types[step], b->order_id, b->tenant_id, ts, statuses[step],
                       b->reference, b->amount, b->user_id);
    evs[i] = (op_order_event_t){
        .event_id = b->event_id,
        .event_type = types[step],
        .order_id = b->order_id,
        .tenant_id = b->tenant_id,
        .timestamp = NULL,
        .timestamp_ms = now,
        .schema_version = 1,
        .status = statuses[step],
        .reference = b->reference,
        .total_amount = b->amount,
        .currency = "EUR",
        .user_id = b->user_id,
        .trace_id = "4bf92f3577b34da6a3ce929d0e0e4736",
        .raw = b->body,
        .raw_len = (size_t)len,
        .partition = (int32_t)(tenant % 24),
        .offset = (int64_t)k,
    };
  }
}

int main(int argc, char **argv) {
  char tmpdir[] = "/tmp/op-bench-store-XXXXXX";
  char url_buf[256];
  const char *url = argc > 1 ? argv[1] : NULL;
  size_t total = argc > 2 ? strtoul(argv[2], NULL, 10) : 200000;
  size_t batch = argc > 3 ? strtoul(argv[3], NULL, 10) : 500;
  size_t tenants = argc > 4 ? strtoul(argv[4], NULL, 10) : 50;
  int ordered = argc > 5 && strcmp(argv[5], "ordered") == 0;
  if (batch == 0 || tenants == 0 || total == 0) {
    fprintf(stderr, "usage: %s [URL] [EVENTS] [BATCH] [TENANTS]\n", argv[0]);
    return 2;
  }
  if (url == NULL || *url == '\0') {
    if (mkdtemp(tmpdir) == NULL) {
      perror("mkdtemp");
      return 1;
    }
    snprintf(url_buf, sizeof url_buf, "sqlite://%s/bench.db", tmpdir);
    url = url_buf;
  } else {
    tmpdir[0] = '\0';
  }

  char err[512];
  op_store_t *store = op_store_open(url, err, sizeof err);
  if (store == NULL || op_store_migrate(store, err, sizeof err)) {
    fprintf(stderr, "bench: %s\n", err);
    op_store_close(store);
    return 1;
  }
  char run[16];
  snprintf(run, sizeof run, "%08x", (unsigned)(op_mono_ns() ^ (uint64_t)getpid()));

  bench_event_t *be = calloc(batch, sizeof *be);
  op_order_event_t *evs = calloc(batch, sizeof *evs);
  op_event_result_t *results = calloc(batch, sizeof *results);
  size_t nbatches = (total + batch - 1) / batch;
  double *lat = calloc(nbatches, sizeof *lat);
  if (!be || !evs || !results || !lat) {
    fprintf(stderr, "bench: out of memory\n");
    return 1;
  }
  uint64_t busy_ns = 0;
  int rc = 0;
  size_t done = 0, b = 0;
  while (done < total && rc == 0) {
    size_t n = total - done < batch ? total - done : batch;
    make_batch(be, evs, n, done, tenants, run, ordered, op_now_ms());
    uint64_t t0 = op_mono_ns();
    rc = op_events_apply(store, evs, n, results, op_now_ms());
    uint64_t dt = op_mono_ns() - t0;
    busy_ns += dt;
    lat[b++] = (double)dt / 1e6;
    done += n;
  }
  if (rc) {
    fprintf(stderr, "bench: apply failed: %s: %s\n", op_err_name(rc), op_store_errmsg(store));
  } else {
    qsort(lat, b, sizeof *lat, cmp_double);
    int64_t last = 0;
    char tenant0[64];
    snprintf(tenant0, sizeof tenant0, "t_%s_000", run);
    op_events_last_position(store, tenant0, &last);
    printf("backend=%s ids=%s events=%zu batch=%zu tenants=%zu events_per_s=%.0f "
           "batch_ms_p50=%.2f batch_ms_p99=%.2f last_pos_t0=%" PRId64 "\n",
           op_store_backend(store), ordered ? "ordered" : "random", done, batch, tenants,
           (double)done / ((double)busy_ns / 1e9), lat[b / 2], lat[(size_t)((double)b * 0.99)],
           last);
  }
  free(be);
  free(evs);
  free(results);
  free(lat);
  op_store_close(store);
  if (tmpdir[0])
    nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  return rc ? 1 : 0;
}
