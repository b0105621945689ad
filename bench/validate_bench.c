/*
 * Benchmark of op_contract_parse_order_event alone, the work the consumer
 * thread does for every orders.events message before it touches the store:
 * one jansson parse, the rule table, and op_order_event_clear.
 *
 *   bench_validate [ITERATIONS] [ROUNDS]
 *     ITERATIONS  parses per case and round (default 200000)
 *     ROUNDS      rounds per case (default 5); the median round is reported
 *
 * Prints one JSON line per case: {"case","bytes","ns_per_event","events_per_s"}.
 * Cases: the DESIGN.md §3 example, a minimal order_created, an event with
 * unknown extra fields, and two invalid events (a bad amount, found after
 * every other field was checked, and broken JSON). Build it without
 * sanitizers for meaningful figures (CMAKE_BUILD_TYPE=Release, OP_SANITIZE=OFF).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contracts/validate.h"
#include "core/clock.h"

typedef struct {
  const char *name;
  const char *text;
  int valid;
} bench_case_t;

static const bench_case_t cases[] = {
    {"design_example",
     "{\"event_id\":\"5f0c6c1e-8a2b-4c1d-9e3f-0a1b2c3d4e5f\",\"event_type\":\"order_paid\","
     "\"order_id\":\"ord_123\",\"tenant_id\":\"t_acme\",\"timestamp\":\"2026-11-23T10:00:00.000Z\","
     "\"payload\":{\"status\":\"paid\",\"reference\":\"A-1001\",\"total_amount\":\"129.90\","
     "\"currency\":\"EUR\",\"user_id\":\"u_7\"}}",
     1},
    {"minimal_created",
     "{\"event_id\":\"0b9d2f0e-7a52-4e4c-9a55-3f7f4b0f2b11\",\"event_type\":\"order_created\","
     "\"order_id\":\"ord_1\",\"tenant_id\":\"t_acme\",\"timestamp\":\"2026-11-23T10:00:00Z\","
     "\"payload\":{\"status\":\"created\"}}",
     1},
    {"with_unknown_fields",
     "{\"event_id\":\"5f0c6c1e-8a2b-4c1d-9e3f-0a1b2c3d4e5f\",\"event_type\":\"order_status_"
     "updated\","
     "\"order_id\":\"ord_123\",\"tenant_id\":\"t_acme\",\"timestamp\":\"2026-11-23T10:00:00.000Z\","
     "\"schema_version\":1,\"source\":\"web\",\"meta\":{\"attempt\":2,\"tags\":[\"a\",\"b\"]},"
     "\"payload\":{\"status\":\"shipped\",\"reference\":\"A-1001\",\"total_amount\":\"129.90\","
     "\"currency\":\"EUR\",\"user_id\":\"u_7\",\"carrier\":\"DHL\",\"tracking\":\"00340434\"}}",
     1},
    {"invalid_amount",
     "{\"event_id\":\"5f0c6c1e-8a2b-4c1d-9e3f-0a1b2c3d4e5f\",\"event_type\":\"order_paid\","
     "\"order_id\":\"ord_123\",\"tenant_id\":\"t_acme\",\"timestamp\":\"2026-11-23T10:00:00.000Z\","
     "\"payload\":{\"status\":\"paid\",\"reference\":\"A-1001\",\"total_amount\":\"12.3.4\","
     "\"currency\":\"EUR\",\"user_id\":\"u_7\"}}",
     0},
    {"invalid_json", "{\"event_id\":\"5f0c6c1e-8a2b-4c1d-9e3f-0a1b2c3d4e5f\",\"event_type\":", 0},
};

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* Times iterations parses of one case; returns the elapsed nanoseconds, or 0
 * if the validator's verdict is not the expected one. */
static uint64_t time_case(const bench_case_t *c, size_t len, long iterations) {
  op_order_event_t ev;
  op_contract_error_t err;
  uint64_t start = op_mono_ns();
  for (long i = 0; i < iterations; i++) {
    int rc = op_contract_parse_order_event(c->text, len, &ev, &err);
    if ((rc == 0) != c->valid)
      return 0;
    if (rc == 0)
      op_order_event_clear(&ev);
  }
  return op_mono_ns() - start;
}

int main(int argc, char **argv) {
  long iterations = argc > 1 ? atol(argv[1]) : 200000;
  long rounds = argc > 2 ? atol(argv[2]) : 5;
  if (iterations <= 0 || rounds <= 0 || rounds > 99) {
    fprintf(stderr, "usage: bench_validate [ITERATIONS] [ROUNDS<100]\n");
    return 2;
  }
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const bench_case_t *c = &cases[i];
    size_t len = strlen(c->text);
    uint64_t ns[99];
    time_case(c, len, iterations / 10 + 1); /* warm the allocator and caches */
    for (long r = 0; r < rounds; r++) {
      ns[r] = time_case(c, len, iterations);
      if (ns[r] == 0) {
        fprintf(stderr, "bench_validate: %s: unexpected verdict\n", c->name);
        return 1;
      }
    }
    qsort(ns, (size_t)rounds, sizeof ns[0], cmp_u64);
    double per = (double)ns[rounds / 2] / (double)iterations;
    printf("{\"case\":\"%s\",\"bytes\":%zu,\"ns_per_event\":%.0f,\"events_per_s\":%.0f}\n", c->name,
           len, per, 1e9 / per);
  }
  return 0;
}
